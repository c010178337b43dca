// No client can hurt the others (issue 7). Each case runs one kind of hostile
// client against a real `paddock server` process while a well-behaved session
// keeps working, and asserts bounds: server RSS under a fixed ceiling, every
// request of the good client answered, its session kept, and the case's own
// outcome (expired connections closed, a never-reading watcher dropped while
// its session lives on, ...). Apache ZooKeeper 3.8 runs the same cases as the
// control; both sets of figures are printed (bench/hostile.ts turns them into
// ratios). Latencies are printed, never asserted.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Err, OpCode, Xid } from '../src/proto/constants.ts';
import { allScenarios, describeOutcome, measure, type Outcome, type Scenario } from './support/hostile.ts';
import { frame, openSession, requestPayload, sleep } from './support/rawclient.ts';
import { startPaddock } from './support/servers.ts';

/** RSS no Paddock case may reach; before back-pressure the 1 MB slow consumer alone took Paddock past 3 GiB. */
const RSS_CEILING_MIB = 256;
/** 10,000 idle sessions at up to 24 KiB each on top of an idle server. */
const IDLE_RSS_CEILING_MIB = 384;
const TICK_MS = 2000;

/** The case's own outcome, for Paddock. */
const checks: Record<Scenario['id'], (o: Outcome) => void> = {
  'slow-1mb': (o) => assert.ok(Number(o.extra.throttled) >= 1, 'the slow consumer was never throttled'),
  'slow-100kib': (o) => assert.ok(Number(o.extra.throttled) >= 1, 'the slow consumer was never throttled'),
  silent: (o) => {
    assert.equal(o.extra.allClosed, true, 'a silent session\'s connection stayed open');
    assert.ok(Number(o.extra.closedWithinMs) <= 4000 + TICK_MS + 1000, `closed after ${o.extra.closedWithinMs} ms, more than timeout + a tick (+1 s for the close on a loaded machine)`);
    assert.equal(o.extra.watchesBefore, 50);
    assert.equal(o.extra.watchesAfter, 0, 'the expired sessions\' watches are still registered');
    assert.equal(o.extra.expiryLogged, true, 'no "Expiring session 0x…, timeout of 4000ms exceeded" line for every session');
  },
  watcher: (o) => {
    assert.equal(o.extra.dropped, true, 'the never-reading watcher was not disconnected');
    assert.ok(Number(o.extra.disconnects) >= 1, 'mntr counts no back-pressure disconnect');
    assert.equal(o.extra.sessionReattached, true, 'the dropped watcher\'s session did not survive its connection');
  },
  drip: () => undefined, // the bounds are the point: memory, and the good client served
  idle: (o) => {
    assert.equal(o.extra.opened, 10_000);
    assert.ok(Number(o.extra.connections) >= 10_000, `only ${o.extra.connections} connections alive`);
    assert.ok(Number(o.extra.perConnKiB) <= 24, `${o.extra.perConnKiB} KiB per idle connection`);
  },
  flood: (o) => assert.ok(Number(o.extra.created) > 100, `only ${o.extra.created} sessions created`),
  fuzz: (o) => {
    assert.equal(o.extra.alive, true, 'the server does not answer ruok after the storm');
    assert.ok(Number(o.extra.checked) > 0, 'the checked client made no round trip');
  },
};

describe('hostile clients cannot hurt the others (ZooKeeper 3.8 as the control)', () => {
  for (const scenario of allScenarios()) {
    test(scenario.name, async (t) => {
      const zk = await measure('zookeeper', scenario);
      const pd = await measure('paddock', scenario);
      t.diagnostic(describeOutcome(pd));
      t.diagnostic(describeOutcome(zk));
      assert.ok(pd.answered > 0, 'the good client made no request');
      assert.equal(pd.failed, 0, 'a request of the good client failed or went unanswered');
      assert.equal(pd.sessionKept, true, 'the good client lost its session');
      const ceiling = scenario.id === 'idle' ? IDLE_RSS_CEILING_MIB : RSS_CEILING_MIB;
      assert.ok(pd.rssPeak < ceiling, `server RSS peaked at ${pd.rssPeak.toFixed(0)} MiB, ceiling ${ceiling} MiB`);
      checks[scenario.id](pd);
    });
  }
});

describe('client-supplied strings in the server log', () => {
  test('an auth scheme with line breaks and control characters cannot forge a log line', async () => {
    const server = await startPaddock();
    try {
      const forged = '2026-01-01T00:00:00.000Z [WARN] FORGED line';
      const { conn } = await openSession(server.host, server.port);
      await conn.write(frame(requestPayload(Xid.auth, { type: OpCode.auth, authType: 0, scheme: `x\n${forged}\r\u2028\u001b[2J`, auth: Buffer.from('a') })));
      assert.equal((await conn.reply()).err, Err.authFailed);
      await conn.drain();
      await sleep(100);
      const lines = server.output().split('\n');
      const logged = lines.filter((l) => l.includes('FORGED'));
      assert.equal(logged.length, 1, `expected the scheme logged on one line:\n${logged.join('\n')}`);
      assert.match(logged[0]!, /^\S+ \[INFO\] closing client .*authentication failed for scheme "x\\n2026-01-01T00:00:00\.000Z \[WARN\] FORGED line\\r\\u2028\\u001b\[2J"$/);
      assert.ok(!lines.some((l) => l.startsWith(forged)), 'a forged line reached the log');
    } finally {
      await server.stop();
    }
  });
});
