// Differential test: the same scripted session traffic against Apache ZooKeeper
// 3.8 and against Paddock (each a fresh standalone server), every reply and
// notification recorded, normalised (see normalize.ts), and compared step by step.
//
//   node --import tsx --test test/differential/differential.test.ts
//   DIFF_AGAINST=zookeeper ...   compare ZooKeeper with itself (harness determinism)
//   DIFF_SEED=123 ...            another random walk
//   DIFF_DUMP=/tmp/diff ...      write both normalised runs as JSON there

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import type { RunningServer } from '../support/servers.ts';
import { runAgainst } from './harness.ts';
import { buildScript } from './script.ts';

const AGAINST = (process.env.DIFF_AGAINST ?? 'paddock') as RunningServer['kind'];
const SEED = Number(process.env.DIFF_SEED ?? 20240601);
/** failing steps reported individually; the rest are only counted */
const MAX_REPORTED = 25;

type StepRecord = Awaited<ReturnType<typeof runAgainst>>['steps'][number];

/**
 * Where Paddock differs from ZooKeeper on purpose. A check sent outside a multi
 * takes a zxid in both, but ZooKeeper 3.8 never answers it (the client waits
 * forever); Paddock answers it with the check's outcome.
 */
function deliberateDifference(e: StepRecord, a: StepRecord): boolean {
  const lone = AGAINST === 'paddock' && e.op.startsWith('check ') && (e.out as { noReply?: string }).noReply === 'noReply';
  return lone && (a.out as { err?: number }).err === 0;
}

test(`differential: ZooKeeper 3.8 vs ${AGAINST} (seed ${SEED})`, { timeout: 180_000 }, async (t) => {
  const { steps } = buildScript(SEED);
  const expected = await runAgainst('zookeeper', steps);
  const actual = await runAgainst(AGAINST, steps);
  if (process.env.DIFF_DUMP) {
    mkdirSync(process.env.DIFF_DUMP, { recursive: true });
    writeFileSync(join(process.env.DIFF_DUMP, 'zookeeper.json'), JSON.stringify(expected, null, 1));
    writeFileSync(join(process.env.DIFF_DUMP, `${AGAINST}-actual.json`), JSON.stringify(actual, null, 1));
  }

  // the reference run itself must be sane, or the comparison means nothing
  assert.ok(expected.summary.zxidBaseFound, 'ZooKeeper run produced no reply');
  const refTimeouts = expected.steps.filter((s) => JSON.stringify(s.out).includes('"timeout"') || JSON.stringify(s.out).includes('aborted'));
  assert.deepEqual(refTimeouts, [], 'ZooKeeper left requests unanswered');

  const failing = expected.steps.filter((e, k) => !isDeepStrictEqual(actual.steps[k], e) && !deliberateDifference(e, actual.steps[k]!)).map((e) => e.i);
  for (const i of failing.slice(0, MAX_REPORTED)) {
    const e = expected.steps[i];
    await t.test(`step ${i} [${e.s}] ${e.op.slice(0, 160)}`, () => {
      // actual = the server under test, expected = ZooKeeper
      assert.deepStrictEqual(actual.steps[i], e);
    });
  }
  await t.test('run summary', () => assert.deepStrictEqual(actual.summary, expected.summary));
  assert.equal(failing.length, 0, `${failing.length} of ${steps.length} steps differ (first ${Math.min(failing.length, MAX_REPORTED)} reported above): steps ${failing.slice(0, 60).join(', ')}`);
});
