// Mixed ensembles of `paddock server` and Apache ZooKeeper 3.8 QuorumPeerMain
// processes on loopback: (ZooKeeper, Paddock, ZooKeeper) with a Paddock
// observer, and (Paddock, ZooKeeper, Paddock) with a ZooKeeper observer. One
// scenario runs on both, with X the kind of members 1 and 3 and Y the kind of
// member 2 and the observer:
//   - 1 and 3 start alone (equal zxids: 3, the higher id, leads); 2 and the
//     observer join: X leads, X and Y follow, Y observes;
//   - 2 stops, writes go on, 2 restarts: the X leader syncs it by DIFF;
//   - kill -9 of leader 3: 1 and 2 hold the same history, 2 leads (Y leads,
//     X follows), and syncs the restarted 3 by DIFF;
//   - 1 and 3 are paused (SIGSTOP) while leader 2 logs a write it cannot
//     commit; 2 is killed, and so are 1 and 3 while paused (the proposal may
//     sit unread in their sockets' buffers: resumed, they would take it and
//     the next leader commit it); 1 and 3 restart and elect 3 (X leads
//     again), which truncates the restarted 2 (TRUNC); the uncommitted write
//     is nowhere;
//   - 2 stops, 600 writes go on, leader 3 restarts (its history then starts
//     after 2's last zxid), 2 restarts: 3 syncs it by SNAP.
// After each step every member, the observer included, holds every
// acknowledged write (read after sync) and writes go through every member;
// at the end the ZooKeeper members report zk_digest_mismatches_count 0. Run
// on both ensembles, each kind leads, follows, observes, and syncs the other
// by DIFF, TRUNC and SNAP. ZooKeeper members log at INFO: their leader's
// "Sending DIFF"/"Sending snapshot" lines (and the learner's "Truncating
// log") show how it synced a learner.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Err, ZkError } from '../src/client/index.ts';
import { Acknowledged, bounded, TestEnsemble, type ServerKind } from './support/ensemble.ts';
import { waitFor } from './support/wait.ts';

const WAIT_MS = 60_000;
/**
 * Txns a learner misses to need a SNAP from either kind of leader: ZooKeeper's
 * leader keeps the last 500 committed txns in memory (commitLogCount) and the
 * ZooKeeper members do no DIFF from the txn log on disk (snapshotSizeFactor
 * -1: whether it is allowed depends on file sizes); the Paddock members
 * snapshot every 50–100 txns, and a restarted Paddock leader's history starts
 * at its newest snapshot.
 */
const FAR_BEHIND = 600;

for (const [x, y] of [['zookeeper', 'paddock'], ['paddock', 'zookeeper']] as [ServerKind, ServerKind][]) {
  describe(`mixed ensemble (${x}, ${y}, ${x}) with a ${y} observer`, { timeout: 400_000 }, () => {
    let ens: TestEnsemble;
    let written: Acknowledged;

    /** Start member `id` (with its kind's settings for FAR_BEHIND). */
    const start = (id: number) => ens.start(id, { noWait: true, cfg: ens.kind(id) === 'paddock' ? { snapCount: 100 } : { snapshotSizeFactor: -1 } });

    before(async () => {
      ens = await TestEnsemble.create(`ensemble-mixed-${x}`, [{ id: 1, kind: x }, { id: 2, kind: y }, { id: 3, kind: x }, { id: 4, kind: y, observer: true }], {
        tickTime: 300,
        cfg: { maxSessionTimeout: 60_000 },
        waitMs: WAIT_MS,
        zkLog: true,
      });
      written = new Acknowledged(ens, '/mixed');
    });
    after(() => ens.close());

    it(`a ${x} leader, ${x} and ${y} followers, a ${y} observer: writes through each are read on each`, async () => {
      await Promise.all([start(1), start(3)]);
      assert.deepEqual(await ens.settled(), { leader: 3, followers: [1], observers: [] }, 'of equal histories the higher id leads');
      await Promise.all([start(2), start(4)]);
      const s = await ens.settled();
      assert.equal(s.leader, 3);
      assert.deepEqual(s.followers.sort(), [1, 2]);
      assert.deepEqual(s.observers, [4]);
      const c = await ens.connect(3);
      await bounded('create /mixed', WAIT_MS, c.create('/mixed'));
      await c.close();
      await written.throughEach('first');
      await written.everywhere();
    });

    it(`a restarted ${y} follower is synced by the ${x} leader by DIFF`, async () => {
      await ens.stop(2);
      const c = await ens.connect(1);
      for (let i = 0; i < 5; i++) {
        const path = `/mixed/while-2-was-down-${i}`;
        await bounded(`create ${path}`, WAIT_MS, c.create(path, `value ${i}`));
        written.writes.set(path, `value ${i}`);
      }
      await c.close();
      const since = ens.server(3).output().length;
      await start(2);
      assert.deepEqual((await ens.settled()).followers.sort(), [1, 2]);
      assert.equal(ens.syncedBy(3, 2, since), 'DIFF', `the ${x} leader's log says it sent a DIFF to member 2`);
      await written.throughEach('after-diff');
      await written.everywhere();
    });

    it(`kill -9 of the ${x} leader: the ${y} member leads the ${x} follower and observer, and syncs the restarted ${x} by DIFF`, async () => {
      // A client of the observer loses its connection when the leader goes.
      const bystander = await ens.connect(4);
      await ens.kill(3);
      await waitFor('the observer to drop its client when its leader went away', WAIT_MS, () => !bystander.connected);
      assert.deepEqual(await ens.settled(), { leader: 2, followers: [1], observers: [4] }, 'of equal histories the higher id leads');
      await written.throughEach('after-failover');
      await written.everywhere();
      const since = ens.server(2).output().length;
      await start(3);
      assert.deepEqual((await ens.settled()).followers.sort(), [1, 3]);
      assert.equal(ens.syncedBy(2, 3, since), 'DIFF', `the ${y} leader's log says it sent a DIFF to member 3`);
      await written.throughEach('after-restart');
      await written.everywhere();
    });

    it(`a write the ${y} leader logged but could not commit is truncated by the next, ${x}, leader and is nowhere`, async () => {
      // A session that outlives this step: its expiry would be a txn of the new epoch (see below).
      const c = await ens.connect(2, { sessionTimeout: 60_000 });
      await ens.pause(1);
      await ens.pause(3);
      const lost = '/mixed/never-committed';
      const answer = c.create(lost, 'lost');
      answer.catch(() => undefined);
      await waitFor('leader 2 to log the write it cannot commit', WAIT_MS, () => ens.logHolds(2, lost));
      await ens.kill(2);
      await assert.rejects(bounded('the uncommitted create', WAIT_MS, answer), (e) => e instanceof ZkError && e.code === Err.connectionLoss, 'the client gets no answer but connection loss');
      // The paused followers have not read the proposal, if it reached them; killed now, they never will.
      await ens.kill(1);
      await ens.kill(3);
      assert.ok(!ens.logHolds(1, lost) && !ens.logHolds(3, lost), 'the followers did not log it');
      await Promise.all([start(1), start(3)]);
      assert.equal((await ens.settled()).leader, 3);
      // Before the new epoch commits anything: ZooKeeper's leader TRUNCs a
      // learner only back to a zxid of the learner's epoch, and falls back to
      // SNAP when the next committed txn is of a later epoch.
      const since = ens.server(3).output().length;
      await start(2);
      assert.deepEqual(await ens.settled(), { leader: 3, followers: [1, 2], observers: [4] });
      assert.ok(ens.truncated(2), `member 2 (${y}) says it truncated its log`);
      if (x === 'paddock') assert.equal(ens.syncedBy(3, 2, since), 'TRUNC', `the ${x} leader's log says it sent a TRUNC to member 2`);
      await written.throughEach('after-trunc');
      await written.everywhere();
      for (const id of ens.runningIds) assert.equal(await ens.readAfterSync(id, lost), null, `the uncommitted write is not on member ${id}`);
    });

    it(`a ${y} follower far behind the restarted ${x} leader is synced by SNAP`, async () => {
      await ens.stop(2);
      const c = await ens.connect(1);
      const paths = Array.from({ length: FAR_BEHIND }, (_, i) => `/mixed/while-2-was-away-${i}`);
      for (let i = 0; i < paths.length; i += 100) {
        await bounded('a batch of creates', WAIT_MS, Promise.all(paths.slice(i, i + 100).map((p) => c.create(p, p))));
      }
      for (const p of paths) written.writes.set(p, p);
      await c.close();
      // The leader restarts: its history now starts after member 2's last zxid.
      await ens.stop(3);
      await start(3);
      assert.deepEqual(await ens.settled(), { leader: 3, followers: [1], observers: [4] });
      const since = ens.server(3).output().length;
      await start(2);
      assert.deepEqual((await ens.settled()).followers.sort(), [1, 2]);
      assert.equal(ens.syncedBy(3, 2, since), 'SNAP', `the ${x} leader's log says it sent a SNAP to member 2`);
      await written.throughEach('after-snap');
      await written.everywhere();
    });

    it('the ZooKeeper members report no digest mismatch', async () => {
      const zks = ens.runningIds.filter((id) => ens.kind(id) === 'zookeeper');
      assert.ok(zks.length > 0);
      for (const id of zks) assert.equal((await ens.mntr(id)).get('zk_digest_mismatches_count'), '0', `member ${id}`);
    });
  });
}
