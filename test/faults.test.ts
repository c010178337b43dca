// The fault suite's short schedule (issue 9), every time the tests run: three
// `paddock server` peers, each in its own network namespace (on loopback
// without partitions when namespaces are not available: the suite says so),
// clients pinned to every peer recording reads, writes, compare-and-sets and
// creates (named, sequential, ephemeral) while a seeded nemesis kills, pauses
// and partitions peers for 40 s; then every fault healed and every checker's
// verdict. Longer runs, other seeds, five peers and ZooKeeper:
// `npm run faults -- --help` (test/faults/run.ts).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FAULT_KINDS } from './faults/nemesis.ts';
import { runFaults } from './faults/run.ts';

const SEED = 9;

describe('fault suite, short schedule (Paddock, three peers)', { timeout: 600_000 }, () => {
  it('every checker passes while peers are killed, paused and partitioned', async () => {
    const report = await runFaults({ durationMs: 40_000, seed: SEED, peers: 3, faults: FAULT_KINDS, servers: 'paddock', log: (line) => console.log(`# ${line}`) });
    assert.ok(report.faults.length >= 3, `faults were injected: ${report.faults.map((f) => f.kind).join(', ')}`);
    for (const f of report.faults) assert.notEqual(f.settledMs, null, `the ensemble settled again after ${f.kind} (${f.what}) was healed`);
    for (const f of ['read-sync', 'read-quorum', 'write', 'cas', 'create', 'create-seq']) assert.ok((report.ops.byFn[f] ?? 0) > 50, `clients ran ${f} operations: ${report.ops.byFn[f]}`);
    assert.deepEqual(
      report.registers.keys.filter((k) => k.verdict.valid !== true),
      [],
      'every register is linearizable, with both kinds of reads',
    );
    assert.deepEqual(report.sets.problems, [], 'every acknowledged create is on every peer, nothing failed is, sequence numbers are unique and increasing');
    assert.ok(report.sets.acknowledged > 50, `creates were acknowledged: ${report.sets.acknowledged}`);
    assert.deepEqual(report.ephemerals.problems, [], 'live sessions keep their ephemerals, closed and abandoned ones lose them');
    assert.ok(report.ephemerals.acknowledged > 10 && report.ephemerals.closedSessions > 0, `ephemerals were acknowledged (${report.ephemerals.acknowledged}) and sessions closed (${report.ephemerals.closedSessions})`);
    assert.deepEqual(report.watches.problems, [], "each session's watch events match the versions its replies show, once each, never late or early");
    assert.ok(report.watches.replies > 100, `replies were checked against watch events: ${report.watches.replies}`);
    assert.equal(report.valid, true);
  });
});
