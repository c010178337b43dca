// The fault suite's checkers against hand-made histories: each checker passes
// valid histories (including the ambiguous ones: concurrent ops, ops without
// an answer) and fails violating ones, so a green fault run means something.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pair, parseHistory, type Event, type Fn, type Op } from './faults/history.ts';
import { checkEphemerals } from './faults/ephemerals.ts';
import { checkRegister, windowFails } from './faults/linearizable.ts';
import { Rand } from './support/random.ts';
import { checkLocks, LOCK_PATH } from './faults/locks.ts';
import { checkSets } from './faults/sets.ts';
import { checkWatches } from './faults/watches.ts';

/**
 * Ops from compact rows: [process, f, input, invoke, complete, status, output].
 * complete null: no answer (info). Events go through pair(), as a run's do.
 */
type Row = [number, Fn, unknown, number, number | null, 'ok' | 'fail' | 'info', unknown?];
function ops(key: string, rows: Row[]): Op[] {
  const events: Event[] = [];
  for (const [process, f, input, invoke, complete, status, output] of rows) {
    events.push({ type: 'invoke', process, time: invoke, f, key, value: input });
    if (complete !== null) events.push({ type: status, process, time: complete, f, key, value: status === 'ok' ? output : undefined, error: status === 'fail' ? String(output) : undefined });
  }
  events.sort((a, b) => a.time - b.time);
  return pair(parseHistory(events.map((e) => JSON.stringify(e)).join('\n')));
}
const v = (value: string, version: number) => ({ value, version });

describe('register linearizability checker', () => {
  it('passes a sequential history of reads, writes and compare-and-sets', () => {
    const h = ops('r', [
      [1, 'read-sync', null, 0, 1, 'ok', v('init', 0)],
      [1, 'write', { value: 'a' }, 2, 3, 'ok', v('a', 1)],
      [2, 'cas', { expected: 1, value: 'b' }, 4, 5, 'ok', v('b', 2)],
      [2, 'cas', { expected: 1, value: 'c' }, 6, 7, 'fail', 'badVersion'],
      [1, 'read-quorum', null, 8, 9, 'ok', v('b', 2)],
    ]);
    assert.deepEqual(checkRegister('r', h).verdict, { valid: true });
  });

  it('passes concurrent reads that see the old or the new value, and an unanswered write seen later', () => {
    const h = ops('r', [
      [1, 'write', { value: 'a' }, 0, 10, 'ok', v('a', 1)],
      [2, 'read-sync', null, 1, 2, 'ok', v('a', 1)],
      [3, 'read-sync', null, 3, 4, 'ok', v('init', 0)],
      [4, 'write', { value: 'b' }, 11, null, 'info'],
      [5, 'read-quorum', null, 12, 13, 'ok', v('a', 1)],
      [6, 'read-quorum', null, 30, 31, 'ok', v('b', 2)],
    ]);
    // 3 reads "init" after 2 read "a": impossible unless the write took effect between
    // them — it did not (one value at a time): this history is NOT linearizable.
    assert.equal(checkRegister('r', h).verdict.valid, false);
    const fixed = h.filter((op) => op.process !== 3);
    assert.deepEqual(checkRegister('r', fixed).verdict, { valid: true });
  });

  it('fails a stale read after an acknowledged write, and names the window', () => {
    const h = ops('r', [
      [1, 'write', { value: 'a' }, 0, 5, 'ok', v('a', 1)],
      [2, 'read-quorum', null, 6, 7, 'ok', v('a', 1)],
      [2, 'write', { value: 'b' }, 8, 9, 'ok', v('b', 2)],
      [3, 'read-sync', null, 20, 21, 'ok', v('a', 1)],
      [1, 'read-sync', null, 30, 31, 'ok', v('b', 2)],
    ]);
    const report = checkRegister('r', h);
    assert.equal(report.verdict.valid, false);
    assert.equal(report.window!.until, 21 + 1e-6, 'the shortest failing prefix ends with the stale read');
    assert.equal(report.window!.from, 8, 'the window starts at the write the stale read missed');
    assert.equal(report.window!.ops.length, 2, `the write of b and the stale read: ${report.window!.ops.join('\n')}`);
    assert.match(report.window!.ops[0]!, /write r \{"value":"b"\} ok/);
    assert.match(report.window!.ops[1]!, /read-sync r .* ok → \{"value":"a","version":1\}.*the prefix fails here/);
  });

  it('never finds a failing window in a linearizable history (a window only relaxes it), whatever its start', () => {
    // Random concurrent histories made linearizable by construction: each op takes effect at a point inside its
    // interval, in that order, on a real register; some get no answer (taking effect or not) and retire their process.
    for (let seed = 1; seed <= 30; seed++) {
      const rand = new Rand(seed);
      const planned: { process: number; f: Fn; invoke: number; at: number; complete: number; info: boolean; expected: number }[] = [];
      for (let lane = 0; lane < 4; lane++) {
        let process = lane * 1000;
        for (let t = rand.int(0, 5); t < 300; ) {
          const at = t + rand.int(0, 20);
          const info = rand.chance(0.15);
          planned.push({ process, f: rand.pick<Fn>(['read-sync', 'read-quorum', 'write', 'cas']), invoke: t, at, complete: at + rand.int(0, 20), info, expected: 0 });
          if (info) process++;
          t = planned.at(-1)!.complete + rand.int(1, 5);
        }
      }
      let state = { value: 'init', version: 0 };
      const rows: Row[] = [];
      for (const op of [...planned].sort((a, b) => a.at - b.at)) {
        const expected = Math.max(0, state.version - rand.int(0, 1));
        const value = `p${op.process}t${op.invoke}`;
        const applies = !op.info || rand.chance(0.5);
        if (op.f === 'read-sync' || op.f === 'read-quorum') rows.push([op.process, op.f, null, op.invoke, op.info ? null : op.complete, op.info ? 'info' : 'ok', { ...state }]);
        else if (op.f === 'write') {
          if (applies) state = { value, version: state.version + 1 };
          rows.push([op.process, 'write', { value }, op.invoke, op.info ? null : op.complete, op.info ? 'info' : 'ok', { ...state }]);
        } else {
          const matches = expected === state.version;
          if (matches && applies) state = { value, version: state.version + 1 };
          rows.push([op.process, 'cas', { expected, value }, op.invoke, op.info ? null : op.complete, op.info ? 'info' : matches ? 'ok' : 'fail', matches ? { ...state } : 'badVersion']);
        }
      }
      const h = ops('r', rows);
      assert.deepEqual(checkRegister('r', h).verdict, { valid: true }, `seed ${seed}: linearizable by construction`);
      for (const from of [...new Set(h.map((op) => op.invoke))]) assert.equal(windowFails(h, from, Infinity), false, `seed ${seed}: the window from ${from} does not fail`);
    }
  });

  it('minimises the failing window of a long history to the ops that fail on their own', () => {
    // 200 rounds of write-then-read, a concurrent unanswered write, noise reads; then a read of a version
    // overwritten long ago while another process reads the current one.
    const rows: Row[] = [];
    let t = 0;
    for (let i = 1; i <= 200; i++, t += 10) {
      rows.push([1, 'write', { value: `w${i}` }, t, t + 2, 'ok', v(`w${i}`, i)]);
      rows.push([2, 'read-quorum', null, t + 3, t + 4, 'ok', v(`w${i}`, i)]);
      rows.push([3, 'read-sync', null, t + 5, t + 6, 'ok', v(`w${i}`, i)]);
    }
    rows.push([4, 'write', { value: 'lost' }, 500, null, 'info']);
    rows.push([5, 'read-sync', null, t, t + 1, 'ok', v('w200', 200)]);
    rows.push([6, 'read-sync', null, t + 2, t + 3, 'ok', v('w199', 199)]);
    const report = checkRegister('r', ops('r', rows));
    assert.equal(report.verdict.valid, false);
    assert.match(report.window!.ops.at(-1)!, /p6 read-sync .*"w199".*the prefix fails here/);
    assert.ok(report.window!.ops.length <= 4, `a handful of ops, not the 600 before: ${report.window!.ops.join('\n')}`);
    assert.ok(report.window!.ops.some((l) => /p1 write r \{"value":"w200"\}/.test(l)) || report.window!.ops.some((l) => /p5 read-sync .*"w200"/.test(l)), 'the window holds what shows w200 came first');
    assert.ok(report.window!.from! > 1900, `the window starts near the end: ${report.window!.from}`);
  });

  it('fails a lost acknowledged write, a value never written, a wrong version, and a BadVersion that was not', () => {
    const lost = ops('r', [
      [1, 'write', { value: 'a' }, 0, 1, 'ok', v('a', 1)],
      [2, 'read-sync', null, 2, 3, 'ok', v('init', 0)],
    ]);
    assert.equal(checkRegister('r', lost).verdict.valid, false);
    const invented = ops('r', [[1, 'read-quorum', null, 0, 1, 'ok', v('ghost', 1)]]);
    assert.equal(checkRegister('r', invented).verdict.valid, false);
    const version = ops('r', [[1, 'write', { value: 'a' }, 0, 1, 'ok', v('a', 2)]]);
    assert.equal(checkRegister('r', version).verdict.valid, false);
    const badVersion = ops('r', [
      [1, 'write', { value: 'a' }, 0, 1, 'ok', v('a', 1)],
      [1, 'cas', { expected: 1, value: 'b' }, 2, 3, 'fail', 'badVersion'],
    ]);
    assert.equal(checkRegister('r', badVersion).verdict.valid, false);
  });

  it('lets an unanswered write or cas take effect or not, and ignores failed writes', () => {
    const h = ops('r', [
      [1, 'cas', { expected: 0, value: 'a' }, 0, null, 'info'],
      [2, 'write', { value: 'x' }, 1, 2, 'fail', 'connection refused by the server'],
      [3, 'read-sync', null, 5, 6, 'ok', v('init', 0)],
      [3, 'read-sync', null, 7, 8, 'ok', v('a', 1)],
      [3, 'read-sync', null, 9, 10, 'ok', v('a', 1)],
    ]);
    assert.deepEqual(checkRegister('r', h).verdict, { valid: true });
    const never = ops('r', [
      [1, 'write', { value: 'a' }, 0, null, 'info'],
      [3, 'read-sync', null, 50, 51, 'ok', v('init', 0)],
    ]);
    assert.deepEqual(checkRegister('r', never).verdict, { valid: true });
  });

  it('decides a history of many concurrent unanswered writes (memoisation keeps it small)', () => {
    const rows: Row[] = [];
    for (let p = 0; p < 14; p++) rows.push([p, 'write', { value: `w${p}` }, p, null, 'info']);
    rows.push([100, 'read-sync', null, 100, 101, 'ok', v('w13', 14)]);
    rows.push([100, 'read-sync', null, 102, 103, 'ok', v('w3', 13)]);
    assert.equal(checkRegister('r', ops('r', rows)).verdict.valid, false, 'versions only go up');
    rows.pop();
    assert.deepEqual(checkRegister('r', ops('r', rows)).verdict, { valid: true });
  });
});

describe('set-of-creates checker', () => {
  const creates = () => [
    ...ops('/set', [
      [1, 'create', { name: 'n1' }, 0, 1, 'ok', { path: '/set/n1' }],
      [2, 'create', { name: 'n2' }, 0, 2, 'fail', 'nodeExists'],
      [3, 'create', { name: 'n3' }, 0, null, 'info'],
    ]),
    ...ops('/seq', [
      [4, 'create-seq', { prefix: 'c4-' }, 10, 11, 'ok', { path: '/seq/c4-0000000000' }],
      [5, 'create-seq', { prefix: 'c5-' }, 12, 13, 'ok', { path: '/seq/c5-0000000002' }],
      [6, 'create-seq', { prefix: 'c6-' }, 12, null, 'info'],
    ]),
  ];
  const final = (set: string[], seq: string[], peers = [1, 2, 3]) =>
    new Map(
      peers.map((p) => [
        p,
        new Map([
          ['/set', set],
          ['/seq', seq],
        ]),
      ]),
    );

  it('passes when every acknowledged create is everywhere and unanswered ones may be', () => {
    const r = checkSets(creates(), final(['n1', 'n3'], ['c4-0000000000', 'c6-0000000001', 'c5-0000000002']));
    assert.deepEqual(r.problems, []);
    assert.equal(r.valid, true);
    assert.deepEqual([r.acknowledged, r.failed, r.indeterminate, r.indeterminatePresent], [3, 1, 2, 2]);
  });

  it('fails a missing acknowledged create, a failed create present, an unknown node, peers that differ', () => {
    assert.match(checkSets(creates(), final(['n3'], ['c4-0000000000', 'c5-0000000002'])).problems.join('\n'), /acknowledged \/set\/n1 is missing/);
    assert.match(checkSets(creates(), final(['n1', 'n2'], ['c4-0000000000', 'c5-0000000002'])).problems.join('\n'), /n2 is present but its create definitely failed/);
    assert.match(checkSets(creates(), final(['n1', 'zz'], ['c4-0000000000', 'c5-0000000002'])).problems.join('\n'), /zz is present but no client created it/);
    const differ = final(['n1'], ['c4-0000000000', 'c5-0000000002']);
    differ.get(3)!.set('/set', ['n1', 'n3']);
    assert.match(checkSets(creates(), differ).problems.join('\n'), /peers 1 and 3 hold different children of \/set/);
  });

  it('fails a duplicate sequence number and a number below one acknowledged before', () => {
    assert.match(checkSets(creates(), final(['n1'], ['c4-0000000002', 'c5-0000000002'])).problems.join('\n'), /sequence number 2 taken by both/);
    assert.match(checkSets(creates(), final(['n1'], ['c4-0000000005', 'c5-0000000002'])).problems.join('\n'), /c5-0000000002 .* was invoked after c4-0000000005 was acknowledged, yet numbers below it/);
  });
});

describe('ephemerals-and-sessions checker', () => {
  // Session a stays live to the end and lists its own; session b is closed; session c was abandoned.
  const history = () =>
    ops('/eph', [
      [1, 'create-eph', { name: 'ea1', session: 'a' }, 0, 1, 'ok', { path: '/eph/ea1' }],
      [2, 'create-eph', { name: 'eb1', session: 'b' }, 0, 1, 'ok', { path: '/eph/eb1' }],
      [3, 'create-eph', { name: 'ec1', session: 'c' }, 0, 1, 'ok', { path: '/eph/ec1' }],
      [4, 'create-eph', { name: 'ec2', session: 'c' }, 2, null, 'info'],
      [1, 'own-ephemerals', { session: 'a' }, 10, 11, 'ok', { children: ['ea1', 'ec1'] }],
      [1, 'close', { session: 'a' }, 12, 13, 'ok', {}],
      [2, 'close', { session: 'b' }, 12, 13, 'ok', {}],
    ]);
  const peers = (children: string[]) => new Map([1, 2, 3].map((p) => [p, children]));

  it('passes when live sessions keep theirs, closed ones lose theirs at once, abandoned ones after their timeout', () => {
    const r = checkEphemerals(history(), { afterClose: peers(['ec1', 'ec2']), afterTimeout: peers([]) });
    assert.deepEqual(r.problems, []);
    assert.deepEqual([r.acknowledged, r.liveSessions, r.closedSessions], [3, 1, 2]);
  });

  it('fails a live session that lost its ephemeral, one of a closed session left behind, one that outlived every timeout', () => {
    const lost = history().map((op) => (op.f === 'own-ephemerals' ? { ...op, output: { children: ['ec1'] } } : op));
    assert.match(checkEphemerals(lost, { afterClose: peers([]), afterTimeout: peers([]) }).problems.join('\n'), /live session a lost its ephemeral ea1/);
    assert.match(checkEphemerals(history(), { afterClose: peers(['eb1']), afterTimeout: peers([]) }).problems.join('\n'), /eb1 of closed session b is still present/);
    assert.match(checkEphemerals(history(), { afterClose: peers([]), afterTimeout: new Map([[2, ['ec1']]]) }).problems.join('\n'), /peer 2: ephemerals outlived every session's timeout: ec1/);
    assert.match(checkEphemerals(history(), { afterClose: peers(['ex9']), afterTimeout: peers([]) }).problems.join('\n'), /ex9 is present but no client created it/);
  });
});

describe('watch checker', () => {
  // Replies on session s for key r: [version, events received before the reply].
  const stream = (...replies: [number, number][]) =>
    ops(
      'r',
      replies.map(([version, events], i): Row => [1, 'read-sync', null, i * 10, i * 10 + 1, 'ok', { value: `v${version}`, version, session: 's', events }]),
    );

  it('passes when every change shown was notified first, once', () => {
    const r = checkWatches(stream([3, 0], [3, 0], [5, 2], [9, 6]));
    assert.deepEqual(r.problems, []);
    assert.deepEqual([r.streams, r.replies], [1, 4]);
  });

  it('fails a change shown before its event, and an event delivered twice or early', () => {
    assert.match(checkWatches(stream([3, 0], [4, 0])).problems.join('\n'), /1 change\(s\) shown before their event arrived/);
    assert.match(checkWatches(stream([3, 0], [4, 2])).problems.join('\n'), /1 event\(s\) more than the changes shown/);
  });
});

describe('lock checker', () => {
  const s = { session: 'a' };
  const released = { end: 'released' };
  // p1 holds, releases; p2 (waiting meanwhile) holds until its connection drops; p1 holds again after that.
  const rounds = (): Row[] => [
    [1, 'acquire', s, 0, 10, 'ok', s],
    [1, 'hold', s, 10, 20, 'ok', released],
    [2, 'acquire', s, 5, 25, 'ok', s],
    [2, 'hold', s, 25, 40, 'ok', { end: 'lost', reason: 'session Disconnected' }],
    [1, 'acquire', s, 30, 41, 'ok', s],
    [1, 'hold', s, 41, 50, 'ok', released],
    [2, 'acquire', s, 45, 60, 'fail', 'timeout'],
    [2, 'acquire', s, 61, 70, 'ok', s],
    [2, 'hold', s, 70, 80, 'ok', released],
    [1, 'acquire', s, 51, 81, 'ok', s],
    [1, 'hold', s, 81, 90, 'ok', released],
  ];
  const none = new Map([1, 2, 3].map((p) => [p, []]));
  const problems = (rows: Row[], healedAt = 0, children: ReadonlyMap<number, string[]> = none) => checkLocks(ops(LOCK_PATH, rows), healedAt, children).problems.join('\n');

  it('passes holds one after another, a loss at Disconnected followed by the next holder, a timeout during the faults', () => {
    const r = checkLocks(ops(LOCK_PATH, rounds()), 50, none);
    assert.deepEqual(r.problems, []);
    assert.deepEqual([r.acquired, r.released, r.lost, r.timeouts, r.expired], [5, 4, 1, 1, 0]);
    assert.deepEqual(r.afterHealMs, [31, 20], 'each lock process acquired after the heal at 50 ms');
  });

  it('fails two holders at overlapping times, however the first belief ended', () => {
    const overlap = (at: number, end: unknown): Row[] => rounds().map((row) => (row[0] === 2 && row[1] === 'hold' && row[3] === 25 ? [2, 'hold', s, 25, at, 'ok', end] : row));
    // p2 still believed (its Disconnected not yet observed) when p1 acquired at 41.
    assert.match(problems(overlap(42, { end: 'lost', reason: 'session Disconnected' })), /two holders at once: #\d+ p2 hold .*\[25\.0\.\.42\.0 ms\] and #\d+ p1 hold .*\[41\.0\.\.50\.0 ms\]/);
    // p2 decided to release only after p1 acquired.
    assert.match(problems(overlap(45, released)), /two holders at once/);
    // p2's hold never ended in the history: it believes for ever.
    const unended = rounds().filter((row) => !(row[0] === 2 && row[1] === 'hold' && row[3] === 25));
    unended.push([2, 'hold', s, 25, null, 'info']);
    assert.match(problems(unended.filter((row) => !(row[0] === 2 && row[3] > 25))), /two holders at once: #\d+ p2 hold .*\[25\.0\.\.\? ms\]/);
    // A holder starting inside another's hold, not at its edge.
    assert.match(problems([...rounds(), [3, 'acquire', s, 0, 12, 'ok', s], [3, 'hold', s, 12, 13, 'ok', released]]), /two holders at once: .*p1 hold.* and .*p3 hold/);
  });

  it('fails a client that never acquires again after heal, a timeout after heal, an unexpected end, a node left behind', () => {
    assert.match(problems(rounds(), 85), /lock process 1 never acquired after the last heal \(85 ms\)/);
    assert.match(problems(rounds(), 44), /waited for the lock until its timeout after the last heal: .*p2 acquire/);
    assert.match(problems([...rounds(), [3, 'acquire', s, 81, 82, 'fail', 'unexpected: node disappeared']]), /ended neither holding nor by its timeout or session/);
    assert.match(problems(rounds(), 0, new Map([[2, ['_c_x-lock-0000000007']]])), /peer 2: \/lock still has _c_x-lock-0000000007 after every session ended/);
  });
});
