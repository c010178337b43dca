// Seeded simulation of the Zab core (test/sim): many schedules of crashes,
// partitions and broken connections, invariants checked at every step and
// linearizability of the clients' history at the end. A failure prints the
// seed and the command that replays it.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Cluster, type SimOptions } from './sim/cluster.ts';

const SEEDS = Number(process.env.SIM_SEEDS ?? 200);
const FIRST = Number(process.env.SIM_SEED ?? 1);

function runSeed(opts: SimOptions): Cluster {
  const c = new Cluster(opts);
  try {
    c.run();
    c.check();
  } catch (e) {
    const err = e as Error;
    err.message = `seed ${opts.seed} (${opts.peers} peers${opts.sabotage ? `, sabotage ${opts.sabotage}` : ''}): ${err.message}\n` +
      `replay: SIM_SEED=${opts.seed} SIM_SEEDS=1 node --import tsx --test test/zab-sim.test.ts\nlast events:\n${c.log.slice(-40).join('\n')}`;
    throw err;
  }
  return c;
}

const faults = { crash: 0.3, partition: 0.3, breakConn: 0.3 };

describe('Zab core in the simulator', () => {
  test(`${SEEDS} seeds, 3 and 5 peers, crashes, partitions and broken connections`, () => {
    let writes = 0;
    for (let seed = FIRST; seed < FIRST + SEEDS; seed++) {
      const c = runSeed({ seed, peers: seed % 2 ? 3 : 5, duration: 20_000, faults });
      writes += c.history.ops.filter((o) => o.kind === 'write' && o.outcome === 'ok').length;
    }
    assert.ok(writes > SEEDS * 10, `the workload made progress (${writes} acknowledged writes)`);
  });

  for (const sabotage of ['ackBeforeFsync', 'commitShortOfQuorum'] as const) {
    test(`the checkers catch a core that breaks the rules: ${sabotage}`, () => {
      let caught: string | null = null;
      for (let seed = 1; seed <= 400 && !caught; seed++) {
        try {
          runSeed({ seed, peers: 3, duration: 20_000, faults: { crash: 0.6, partition: 0.2, breakConn: 0.2 }, sabotage });
        } catch (e) {
          caught = (e as Error).message.split('\n')[0]!;
        }
      }
      assert.ok(caught, `no seed caught ${sabotage}`);
    });
  }
});
