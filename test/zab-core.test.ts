// Interaction tests of the Zab core (src/zab), in the style of etcd raft's:
// scripted exchanges between in-memory peers, checked message by message. Each
// case pins down one rule of the protocol, most of them rules ZooKeeper learnt
// from data-loss bugs (shared/ensemble-notes.md).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { OpCode } from '../src/proto/constants.ts';
import type { Txn } from '../src/proto/txn.ts';
import type { ZabMessage } from '../src/zab/messages.ts';
import { Peer } from '../src/zab/peer.ts';
import type { Ready } from '../src/zab/ready.ts';
import { Solo } from '../src/zab/solo.ts';
import { makeZxid } from '../src/zxid.ts';
import { majority } from './sim/cluster.ts';

/** tickTime of the peers here (ms) */
const TICK = 100;

const setTxn = (zxid: number, value: string): Txn => ({
  hdr: { clientId: 1n, cxid: zxid, zxid, time: 0, type: OpCode.setData },
  body: { type: OpCode.setData, path: '/x', data: Buffer.from(value), version: 0 },
});

/** One peer with an in-memory disk; readies are carried as the runtime would. */
class Node {
  readonly peer: Peer;
  log: number[];
  durable: number;
  applied: number[] = [];
  epochs: { accepted: number; current: number };
  /** messages this peer sent, not yet delivered */
  outbox: { to: number; msg: ZabMessage }[] = [];
  readies: Ready[] = [];
  autoPersist = true;
  syncsDone: unknown[] = [];
  now = 0;

  constructor(id: number, n: number, opts: { log?: number[]; logStart?: number; epochs?: { accepted: number; current: number }; observers?: number[] } = {}) {
    this.log = [...(opts.log ?? [])];
    this.durable = this.log.length;
    this.epochs = opts.epochs ?? { accepted: 0, current: 0 };
    this.applied = [...this.log];
    this.peer = new Peer({
      settings: { id, quorum: majority(n, opts.observers), tickTime: TICK, initLimit: 5, syncLimit: 2 },
      now: 0,
      epochs: this.epochs,
      history: { logStart: opts.logStart ?? 0, logged: this.log },
    });
  }

  carry(): void {
    for (let r: Ready | null; (r = this.peer.ready()); ) {
      this.readies.push(r);
      if (r.truncate !== null) {
        const t = r.truncate;
        this.log = this.log.filter((z) => z <= t);
        this.durable = Math.min(this.durable, this.log.length);
        this.applied = this.applied.filter((z) => z <= t);
      }
      if (r.epochs) this.epochs = { ...this.epochs, ...r.epochs };
      for (const t of r.commit) {
        assert.ok(this.applied.length === 0 || t.hdr.zxid > this.applied[this.applied.length - 1]!, 'commits in zxid order');
        this.applied.push(t.hdr.zxid);
      }
      for (const t of r.append) this.log.push(t.hdr.zxid);
      for (const m of r.messages) this.outbox.push(m);
      for (const s of r.syncs) this.syncsDone.push(s);
      if (r.append.length > 0 && this.autoPersist) this.persist();
    }
  }

  /** One tickTime passes. */
  tick(): void {
    this.now += TICK;
    this.peer.clock(this.now);
    this.carry();
  }

  persist(): void {
    this.durable = this.log.length;
    if (this.log.length > 0) this.peer.persisted(this.log[this.log.length - 1]!);
    this.carry();
  }

  sent(): string[] {
    return this.readies.flatMap((r) => r.messages.map((m) => `${m.to}:${m.msg.type}`));
  }
}

class Ensemble {
  readonly nodes = new Map<number, Node>();
  /** the leader's committed txns, for expanding 'replay' */
  readonly txns = new Map<number, Txn>();
  /** links that deliver nothing until healed (TCP holds what is sent meanwhile) */
  cut = new Set<string>();
  private held: { from: number; to: number; msg: ZabMessage }[] = [];

  heal(): void {
    this.cut.clear();
    const held = this.held;
    this.held = [];
    for (const h of held) this.get(h.from).outbox.unshift({ to: h.to, msg: h.msg });
  }

  add(node: Node): Node {
    this.nodes.set(node.peer.id, node);
    return node;
  }

  get(id: number): Node {
    return this.nodes.get(id)!;
  }

  /** Deliver messages until none is left (or only `max` rounds). */
  deliver(max = 100): void {
    for (let round = 0; round < max; round++) {
      let moved = false;
      for (const [from, node] of this.nodes) {
        node.carry();
        const out = node.outbox;
        node.outbox = [];
        for (const { to, msg } of out) {
          if (this.cut.has(`${from}-${to}`) || this.cut.has(`${to}-${from}`)) {
            this.held.push({ from, to, msg });
            continue;
          }
          const target = this.nodes.get(to);
          if (!target) continue;
          moved = true;
          if (msg.type === 'replay') {
            for (const z of node.log) {
              if (z <= msg.from || z > msg.to) continue;
              target.peer.step(from, { type: 'proposal', txn: this.txns.get(z) ?? setTxn(z, `v${z}`) });
              target.peer.step(from, { type: 'commit', zxid: z });
            }
          } else {
            if (msg.type === 'snap') target.applied = node.applied.filter((z) => z <= msg.zxid);
            target.peer.step(from, msg);
          }
          target.carry();
        }
      }
      if (!moved) return;
    }
  }

  propose(leader: number, value: string): Txn {
    const txn = this.get(leader).peer.propose((zxid) => setTxn(zxid, value));
    assert.ok(txn, `peer ${leader} can propose`);
    this.txns.set(txn.hdr.zxid, txn);
    this.get(leader).carry();
    return txn;
  }
}

function establish(ens: Ensemble, leader: number, followers: number[]): void {
  ens.get(leader).peer.lead();
  for (const f of followers) ens.get(f).peer.follow(leader);
  ens.deliver();
}

describe('Zab core: discovery, sync, broadcast', () => {
  test('three fresh peers establish epoch 1; a learner gets LEADERINFO, DIFF, NEWLEADER, UPTODATE in order', () => {
    const ens = new Ensemble();
    for (const id of [1, 2, 3]) ens.add(new Node(id, 3));
    establish(ens, 3, [1, 2]);
    const leader = ens.get(3);
    assert.equal(leader.peer.role, 'leading');
    assert.ok(leader.peer.serving, 'leader established');
    assert.deepEqual(leader.epochs, { accepted: 1, current: 1 });
    for (const id of [1, 2]) {
      const n = ens.get(id);
      assert.ok(n.peer.serving, `follower ${id} up to date`);
      assert.deepEqual(n.epochs, { accepted: 1, current: 1 });
      assert.deepEqual(n.sent(), ['3:learnerInfo', '3:ackEpoch', '3:ack', '3:ack'], 'learner: info, epoch ack, NEWLEADER ack, UPTODATE ack');
    }
    const toOne = leader.sent().filter((s) => s.startsWith('1:'));
    assert.deepEqual(toOne, ['1:leaderInfo', '1:diff', '1:newLeader', '1:upToDate']);
  });

  test('a write commits once a quorum has it durable, and every peer applies it in order', () => {
    const ens = new Ensemble();
    for (const id of [1, 2, 3]) ens.add(new Node(id, 3));
    establish(ens, 1, [2, 3]);
    ens.get(2).autoPersist = false;
    ens.get(3).autoPersist = false;
    const a = ens.propose(1, 'a');
    ens.deliver();
    assert.deepEqual(ens.get(1).applied, [], 'not committed with the leader alone');
    ens.get(2).persist();
    ens.deliver();
    assert.deepEqual(ens.get(1).applied, [a.hdr.zxid], 'committed with two of three');
    assert.deepEqual(ens.get(2).applied, [a.hdr.zxid]);
    assert.deepEqual(ens.get(3).applied, [a.hdr.zxid], 'a follower applies what the quorum committed before its own fsync');
    assert.equal(a.hdr.zxid, makeZxid(1, 1), 'the first txn of an epoch has counter 1');
  });

  test('proposals are pipelined: many in flight, commits in zxid order', () => {
    const ens = new Ensemble();
    for (const id of [1, 2, 3]) ens.add(new Node(id, 3));
    establish(ens, 1, [2, 3]);
    const zxids = Array.from({ length: 20 }, (_, i) => ens.propose(1, `v${i}`).hdr.zxid);
    ens.deliver();
    for (const id of [1, 2, 3]) assert.deepEqual(ens.get(id).applied, zxids);
  });

  test('NEWLEADER is acked only once the synced txns and the new epoch are durable (ZOOKEEPER-3911); currentEpoch only after the txns (ZOOKEEPER-4646)', () => {
    const ens = new Ensemble();
    const e1 = [makeZxid(1, 1), makeZxid(1, 2), makeZxid(1, 3)];
    ens.add(new Node(1, 3, { log: e1, epochs: { accepted: 1, current: 1 } }));
    ens.add(new Node(2, 3, { log: e1.slice(0, 1), epochs: { accepted: 1, current: 1 } }));
    ens.add(new Node(3, 3, { log: e1, epochs: { accepted: 1, current: 1 } }));
    const slow = ens.get(2);
    slow.autoPersist = false;
    ens.get(1).peer.lead();
    slow.peer.follow(1);
    ens.get(3).peer.follow(1); // with 3 the leader establishes its epoch and writes while 2 syncs
    ens.deliver();
    assert.deepEqual(slow.sent(), ['1:learnerInfo', '1:ackEpoch'], 'no NEWLEADER ack before the DIFF is durable');
    // Were currentEpoch written now, a crash would leave a peer voting with epoch 2 and a log without the DIFF's txns.
    assert.deepEqual(slow.epochs, { accepted: 2, current: 1 }, 'no currentEpoch before the DIFF is durable');
    assert.equal(slow.peer.serving, false);
    // The new epoch's first txn reaches the slow learner before its NEWLEADER ack: it waits for currentEpoch.
    const x = ens.propose(1, 'x').hdr.zxid;
    ens.deliver();
    const appendReady = () => slow.readies.findIndex((r) => r.append.some((t) => t.hdr.zxid === x));
    assert.equal(appendReady(), -1, 'not logged before currentEpoch names its epoch');
    slow.persist();
    ens.deliver();
    assert.deepEqual(slow.epochs, { accepted: 2, current: 2 });
    assert.deepEqual(slow.sent(), ['1:learnerInfo', '1:ackEpoch', '1:ack', '1:ack']);
    assert.ok(slow.peer.serving);
    assert.deepEqual(slow.applied, [...e1, x], 'the DIFF is applied at UPTODATE, then x as committed');
    const epochReady = slow.readies.findIndex((r) => r.epochs?.current === 2);
    const ackReady = slow.readies.findIndex((r) => r.messages.some((m) => m.msg.type === 'ack'));
    assert.ok(epochReady >= 0 && epochReady === appendReady() && epochReady === ackReady, 'one Ready: the epoch write, then x to the log, then the ack');
  });

  test('a learner with an old epoch\'s uncommitted tail is truncated to the shared history, then gets the rest', () => {
    const ens = new Ensemble();
    const shared = [makeZxid(1, 1), makeZxid(1, 2)];
    // Peer 2 led epoch 1 and logged 1:3 alone; peers 1 and 3 went on in epoch 2.
    const newer = [...shared, makeZxid(2, 1), makeZxid(2, 2)];
    ens.add(new Node(1, 3, { log: newer, epochs: { accepted: 2, current: 2 } }));
    ens.add(new Node(2, 3, { log: [...shared, makeZxid(1, 3)], epochs: { accepted: 1, current: 1 } }));
    ens.add(new Node(3, 3, { log: newer, epochs: { accepted: 2, current: 2 } }));
    establish(ens, 1, [2, 3]);
    const stale = ens.get(2);
    const toStale = ens.get(1).sent().filter((s) => s.startsWith('2:'));
    assert.deepEqual(toStale, ['2:leaderInfo', '2:trunc', '2:replay', '2:newLeader', '2:upToDate']);
    assert.ok(stale.readies.some((r) => r.truncate === makeZxid(1, 2)), 'TRUNC to the last shared zxid');
    assert.deepEqual(stale.log, newer);
    assert.deepEqual(stale.applied, newer, 'the uncommitted 1:3 is gone from log and state');
  });

  test('a learner past the leader\'s history is truncated to it', () => {
    const ens = new Ensemble();
    const h = [makeZxid(1, 1)];
    ens.add(new Node(1, 3, { log: h, epochs: { accepted: 1, current: 1 } }));
    ens.add(new Node(2, 3, { log: h, epochs: { accepted: 1, current: 1 } }));
    ens.add(new Node(3, 3, { log: [...h, makeZxid(1, 2)], epochs: { accepted: 1, current: 1 } }));
    // 3 is ahead but absent from the election: 1 leads with 2 and 3 joins later.
    establish(ens, 1, [2]);
    ens.get(3).peer.follow(1);
    ens.deliver();
    assert.ok(ens.get(3).readies.some((r) => r.truncate === makeZxid(1, 1)));
    assert.deepEqual(ens.get(3).log, h);
  });

  test('a learner older than the leader\'s log gets a SNAP, then the log after it', () => {
    const ens = new Ensemble();
    // The leader's log starts after a snapshot at 1:5.
    const log = [makeZxid(1, 6), makeZxid(1, 7)];
    const leader = ens.add(new Node(1, 3, { log, logStart: makeZxid(1, 5), epochs: { accepted: 1, current: 1 } }));
    leader.applied = [makeZxid(1, 5), ...log];
    ens.add(new Node(2, 3, { log: [makeZxid(1, 1)], epochs: { accepted: 1, current: 1 } }));
    ens.add(new Node(3, 3, { logStart: makeZxid(1, 5), log, epochs: { accepted: 1, current: 1 } }));
    establish(ens, 1, [2, 3]);
    const toOld = leader.sent().filter((s) => s.startsWith('2:'));
    assert.deepEqual(toOld, ['2:leaderInfo', '2:snap', '2:newLeader', '2:upToDate'], 'the snapshot holds the whole history');
    assert.equal(ens.get(2).peer.history.logStart, makeZxid(1, 7));
    assert.ok(ens.get(2).peer.serving);
  });

  test('after autopurge removed the log before a snapshot (forgetBefore), a learner older than it gets a SNAP, one at it a DIFF', () => {
    const ens = new Ensemble();
    for (const id of [1, 2, 3]) ens.add(new Node(id, 3));
    establish(ens, 1, [2, 3]);
    const [a, b, c] = ['a', 'b', 'c'].map((v) => ens.propose(1, v));
    ens.deliver();
    // 2 stopped at b, 3 at a; the leader's log files before a snapshot at b are purged.
    ens.get(1).peer.history.forgetBefore(b!.hdr.zxid);
    assert.equal(ens.get(1).peer.history.logStart, b!.hdr.zxid);
    assert.ok(!ens.get(1).peer.history.contains(a!.hdr.zxid));
    assert.throws(() => ens.get(1).peer.history.forgetBefore(c!.hdr.zxid + 1), /beyond the last applied/);
    const earlier = ens.get(1).sent().length;
    for (const [id, last] of [[2, b!], [3, a!]] as const) {
      const node = ens.add(new Node(id, 3, { log: ens.get(id).log.filter((z) => z <= last.hdr.zxid), epochs: { accepted: 1, current: 1 } }));
      ens.get(1).peer.disconnected(id);
      node.peer.follow(1);
    }
    ens.deliver();
    const sent = ens.get(1).sent().slice(earlier);
    assert.ok(sent.includes('2:diff') && !sent.includes('2:snap'), `2 is at the purge point: DIFF (${sent})`);
    assert.ok(sent.includes('3:snap'), `3 is older than the log kept: SNAP (${sent})`);
    for (const id of [2, 3]) assert.ok(ens.get(id).peer.serving, `learner ${id} synced`);
    assert.deepEqual(ens.get(3).applied, [a!, b!, c!].map((t) => t.hdr.zxid));
  });

  test('a late joiner gets the outstanding proposals before NEWLEADER, and commits between NEWLEADER and UPTODATE are applied in order (ZOOKEEPER-4394)', () => {
    const ens = new Ensemble();
    for (const id of [1, 2, 3]) ens.add(new Node(id, 3));
    establish(ens, 1, [2]);
    const a = ens.propose(1, 'a');
    ens.deliver();
    // b is in flight (not yet acked by 2) when 3 joins.
    ens.get(2).autoPersist = false;
    const b = ens.propose(1, 'b');
    ens.deliver();
    const late = ens.get(3);
    late.autoPersist = false;
    late.peer.follow(1);
    ens.deliver();
    // 3 has the sync (a, then proposal b), NEWLEADER; it acks nothing before its fsync.
    assert.equal(late.peer.serving, false);
    ens.get(2).persist();
    ens.deliver(); // b commits with 1+2; COMMIT b reaches 3 before UPTODATE
    assert.deepEqual(ens.get(1).applied, [a.hdr.zxid, b.hdr.zxid]);
    late.persist();
    ens.deliver();
    assert.ok(late.peer.serving);
    assert.deepEqual(late.applied, [a.hdr.zxid, b.hdr.zxid]);
    late.autoPersist = true;
    const c = ens.propose(1, 'c');
    ens.deliver();
    assert.deepEqual(late.applied, [a.hdr.zxid, b.hdr.zxid, c.hdr.zxid]);
  });

  test('an observer gets INFORM of committed txns and never counts toward a quorum', () => {
    const ens = new Ensemble();
    // Voters 1..3; 4 observes.
    for (const id of [1, 2, 3]) ens.add(new Node(id, 3, { observers: [4] }));
    const obs = ens.add(new Node(4, 3, { observers: [4] }));
    establish(ens, 1, [2]);
    obs.peer.follow(1, true);
    ens.deliver();
    assert.equal(obs.peer.role, 'observing');
    assert.ok(obs.peer.serving);
    ens.get(2).autoPersist = false;
    const a = ens.propose(1, 'a');
    ens.deliver();
    assert.deepEqual(ens.get(1).applied, [], 'the observer\'s copy does not make a quorum');
    ens.get(2).persist();
    ens.deliver();
    assert.deepEqual(obs.applied, [a.hdr.zxid]);
    assert.ok(ens.get(1).sent().includes('4:inform'));
    assert.ok(!ens.get(1).sent().includes('4:proposal'));
  });
});

describe('Zab core: failures', () => {
  test('the leader steps down when too few followers are heard from within syncLimit; a learner leaves a silent leader', () => {
    const ens = new Ensemble();
    for (const id of [1, 2, 3]) ens.add(new Node(id, 3));
    establish(ens, 1, [2, 3]);
    ens.cut.add('1-2').add('1-3');
    for (let i = 0; i < 4; i++) {
      for (const n of ens.nodes.values()) n.tick();
      ens.deliver();
    }
    for (const id of [1, 2, 3]) assert.equal(ens.get(id).peer.role, 'looking', `peer ${id} looking`);
    const why = ens.get(1).readies.map((r) => r.role?.reason).filter(Boolean);
    assert.match(why.join(), /not enough followers synced/);
  });

  test('a leader whose learner is ahead in epoch gives up ("follower is ahead")', () => {
    const ens = new Ensemble();
    ens.add(new Node(1, 3, { epochs: { accepted: 1, current: 1 } }));
    ens.add(new Node(2, 3, { log: [makeZxid(2, 1)], epochs: { accepted: 2, current: 2 } }));
    ens.add(new Node(3, 3));
    ens.get(1).peer.lead();
    ens.get(2).peer.follow(1);
    ens.deliver();
    assert.equal(ens.get(1).peer.role, 'looking');
  });

  test('a sync completes only after a quorum answers a ping sent after it (a deposed leader cannot answer from stale state)', () => {
    const ens = new Ensemble();
    for (const id of [1, 2, 3]) ens.add(new Node(id, 3));
    establish(ens, 1, [2, 3]);
    ens.cut.add('1-2').add('1-3');
    const leader = ens.get(1);
    assert.ok(leader.peer.sync('s1', { sessionId: 1n, cxid: 1, op: OpCode.sync, payload: null }));
    ens.deliver();
    assert.deepEqual(leader.syncsDone, [], 'no quorum answered: the sync waits');
    ens.heal();
    ens.deliver();
    assert.deepEqual(leader.syncsDone, ['s1'], 'once the followers answer, it completes');
  });

  test('a learner\'s sync is answered by the leader after the commits before it', () => {
    const ens = new Ensemble();
    for (const id of [1, 2, 3]) ens.add(new Node(id, 3));
    establish(ens, 1, [2, 3]);
    const f = ens.get(2);
    const a = ens.propose(1, 'a');
    assert.ok(f.peer.sync('t', { sessionId: 7n, cxid: 1, op: OpCode.sync, payload: null }));
    ens.deliver();
    assert.deepEqual(f.syncsDone, ['t']);
    assert.ok(f.applied.includes(a.hdr.zxid));
  });

  test('REVALIDATE: a serving learner asks, the leader hands the ask to its session tracker and sends back its answer', () => {
    const ens = new Ensemble();
    for (const id of [1, 2, 3]) ens.add(new Node(id, 3));
    const f = ens.get(2);
    assert.equal(f.peer.revalidate(7n, 4000), false, 'not before the learner serves');
    establish(ens, 1, [2, 3]);
    const leader = ens.get(1);
    assert.ok(f.peer.revalidate(7n, 4000));
    assert.ok(f.peer.revalidate(8n, 6000));
    f.carry();
    ens.deliver();
    const asks = leader.readies.flatMap((r) => r.revalidations);
    assert.deepEqual(asks, [
      { from: 2, sessionId: 7n, timeout: 4000 },
      { from: 2, sessionId: 8n, timeout: 6000 },
    ]);
    assert.deepEqual(f.readies.flatMap((r) => r.revalidated), [], 'no answer before the tracker gives one');
    leader.peer.revalidated(2, 8n, false);
    leader.peer.revalidated(2, 7n, true);
    leader.carry();
    ens.deliver();
    assert.deepEqual(f.readies.flatMap((r) => r.revalidated), [
      { sessionId: 8n, valid: false },
      { sessionId: 7n, valid: true },
    ]);
    // An answer nobody asked for is noted, not passed on; one for a learner that left is dropped.
    f.peer.step(1, { type: 'revalidated', sessionId: 9n, valid: true });
    f.carry();
    assert.deepEqual(f.readies.flatMap((r) => r.revalidated).length, 2);
    assert.ok(f.readies.some((r) => r.notes.some((n) => /not asked about/.test(n))));
    assert.equal(f.peer.role, 'following', 'and the learner keeps following');
    leader.peer.disconnected(3);
    leader.peer.revalidated(3, 7n, true);
    leader.carry();
    assert.ok(!leader.readies.some((r) => r.messages.some((m) => m.to === 3 && m.msg.type === 'revalidated')));
  });

  test('the leader gives way to a new epoch before the zxid counter runs out (ZOOKEEPER-1277)', () => {
    const ens = new Ensemble();
    const n1 = ens.add(new Node(1, 1));
    const peer = new Peer({ settings: { id: 1, quorum: majority(1), tickTime: TICK, initLimit: 5, syncLimit: 2, maxCounter: 3 }, epochs: { accepted: 0, current: 0 }, history: { logStart: 0, logged: [] }, now: 0 });
    void n1;
    assert.equal(peer.role, 'leading', 'a lone voter elects itself at once: no other vote can come');
    for (let r; (r = peer.ready()); ) if (r.append.length) peer.persisted(r.append[r.append.length - 1]!.hdr.zxid);
    assert.ok(peer.serving);
    assert.ok(peer.propose((z) => setTxn(z, 'a')));
    assert.ok(peer.propose((z) => setTxn(z, 'b')));
    assert.equal(peer.propose((z) => setTxn(z, 'c')), null, 'counter 3 is refused');
    assert.equal(peer.role, 'looking');
  });
});

describe('Solo: the standalone orderer', () => {
  test('numbers txns from the last zxid without a new epoch, commits on durability, syncs after earlier writes', () => {
    const solo = new Solo(makeZxid(4, 9));
    const t = solo.propose((z) => setTxn(z, 'a'));
    assert.equal(t.hdr.zxid, makeZxid(4, 10));
    solo.sync('after-a');
    let r = solo.ready()!;
    assert.deepEqual(r.append.map((x) => x.hdr.zxid), [makeZxid(4, 10)]);
    assert.deepEqual(r.commit, []);
    assert.deepEqual(r.syncs, []);
    solo.persisted(makeZxid(4, 10));
    r = solo.ready()!;
    assert.deepEqual(r.commit.map((x) => x.hdr.zxid), [makeZxid(4, 10)]);
    assert.deepEqual(r.syncs, ['after-a']);
  });
});
