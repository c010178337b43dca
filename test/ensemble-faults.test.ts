// Faults in a five-member `paddock server` ensemble with one observer, all
// real processes on loopback:
//   - kill -9 of the leader, then of a follower: the three left elect and keep
//     taking writes; kill -9 of a third: the two left and the observer stop
//     serving (an observer does not count for the quorum), a client's session
//     there ends in connection loss and new sessions are refused, so no stale
//     read is served; the three restarted, every member holds every
//     acknowledged write;
//   - TRUNC: the followers are paused (SIGSTOP) while the leader logs a write
//     it cannot commit; the leader is killed, and so are the paused followers
//     (the proposal may sit unread in their sockets' buffers: resumed, they
//     would take it and the next leader commit it); restarted, they elect a
//     new leader and take new writes; the old leader restarted is truncated
//     and the uncommitted write is nowhere;
//   - the same, but the followers resumed (SIGCONT): the unanswered write
//     (its client saw connection loss) is then on every member or on none;
//     both happen, depending on whether the proposal left the leader;
//   - a rolling restart (each member in turn SIGTERM + start) while a client
//     writes keeps every acknowledged write.
// Clients here never move a session between members: a client that loses its
// member opens a new session elsewhere.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Err, ZkError, ZooKeeperClient } from '../src/client/index.ts';
import { Acknowledged, bounded, TestEnsemble } from './support/ensemble.ts';
import { waitFor } from './support/wait.ts';

const WAIT_MS = 60_000;
const PARTICIPANTS = [1, 2, 3, 4, 5];
const OBSERVER = 6;
/** Bound of the rolling restart's writer loop. */
const MAX_ROLLING_WRITES = 20_000;

const isConnectionLoss = (e: unknown) => e instanceof ZkError && e.code === Err.connectionLoss;

describe('a five-member Paddock ensemble with an observer, under faults', { timeout: 400_000 }, () => {
  let ens: TestEnsemble;
  let written: Acknowledged;

  before(async () => {
    ens = await TestEnsemble.create('ensemble-faults', [...PARTICIPANTS.map((id) => ({ id })), { id: OBSERVER, observer: true }], { tickTime: 300, waitMs: WAIT_MS });
    written = new Acknowledged(ens, '/faults');
  });
  after(() => ens.close());

  it('five participants and an observer elect one leader; writes through each are read on each', async () => {
    const s = await ens.startAll();
    assert.equal(s.followers.length, 4);
    assert.deepEqual(s.observers, [OBSERVER]);
    const lead = await ens.mntr(s.leader);
    assert.equal(lead.get('zk_synced_followers'), '4');
    assert.equal(lead.get('zk_synced_observers'), '1');
    assert.equal(lead.get('zk_quorum_size'), '5', 'the observer is not in the quorum');
    const c = await ens.connect(s.leader);
    await bounded('create /faults', WAIT_MS, c.create('/faults'));
    await c.close();
    await written.throughEach('first');
    await written.everywhere();
  });

  const killed: number[] = [];

  /**
   * Start `ids` and restart the observer with them. An observer looking for
   * a leader while there is none resends its vote less and less often (up to
   * every 60 s, as ZooKeeper's FastLeaderElection), and the voters, once they
   * elect, do not call it: restarted, it asks at once.
   */
  async function restartObserverWith(ids: number[]): Promise<void> {
    if (ens.runningIds.includes(OBSERVER)) await ens.stop(OBSERVER);
    await Promise.all([...ids, OBSERVER].map((id) => ens.start(id, { noWait: true })));
  }

  it('kill -9 of the leader and then of a follower: the three left elect and keep taking writes', async () => {
    const first = await ens.settled();
    await ens.kill(first.leader);
    killed.push(first.leader);
    const second = await ens.settled();
    assert.equal(second.followers.length, 3);
    await written.throughEach('without-one');
    await ens.kill(second.followers[0]!);
    killed.push(second.followers[0]!);
    const third = await ens.settled();
    assert.equal(third.followers.length, 2);
    await written.throughEach('without-two');
    await written.everywhere();
  });

  it('kill -9 of a third participant: the two left and the observer stop serving; nothing is read or written there', async () => {
    const { leader, followers } = await ens.settled();
    const held = await ens.connect(followers[0]!);
    await ens.kill(followers[1]!);
    killed.push(followers[1]!);
    const left = ens.runningIds;
    assert.deepEqual(left.sort(), [leader, followers[0]!, OBSERVER].sort());
    for (const id of left) await waitFor(`member ${id} to stop serving`, WAIT_MS, async () => (await ens.mode(id)) === null);
    // The session there ended with its member's serving role, before any write was sent.
    await waitFor('the held client to lose its connection', WAIT_MS, () => !held.connected);
    await assert.rejects(held.create('/faults/minority', 'x'), isConnectionLoss, 'a write in the minority: connection loss');
    await assert.rejects(held.getData('/faults/first-via-1'), isConnectionLoss, 'a read in the minority: connection loss');
    for (const id of left) {
      await assert.rejects(ZooKeeperClient.connect(ens.connectString([id]), { connectTimeout: 10_000 }), /closed by server/, `member ${id} refuses a new session`);
    }
  });

  it('the three killed members restarted: every member holds every acknowledged write', async () => {
    await restartObserverWith(killed.splice(0));
    const s = await ens.settled();
    assert.equal(s.followers.length, 4);
    await written.everywhere();
    for (const id of ens.runningIds) assert.equal(await ens.readAfterSync(id, '/faults/minority'), null, `member ${id}: the write refused in the minority is nowhere`);
  });

  it('a write the isolated leader logged but could not commit is truncated when it rejoins, and is nowhere', async () => {
    const { leader, followers } = await ens.settled();
    const c = await ens.connect(leader);
    for (const id of followers) await ens.pause(id);
    const lost = '/faults/never-committed';
    const answer = c.create(lost, 'lost');
    answer.catch(() => undefined);
    await waitFor(`leader ${leader} to log the write it cannot commit`, WAIT_MS, () => ens.logHolds(leader, lost));
    await ens.kill(leader);
    await assert.rejects(bounded('the uncommitted create', WAIT_MS, answer), isConnectionLoss, 'the client gets no answer but connection loss');
    // The paused followers have not read the proposal, if it reached them; killed now, they never will.
    for (const id of followers) await ens.kill(id);
    for (const id of followers) assert.ok(!ens.logHolds(id, lost), `follower ${id} did not log it`);
    await restartObserverWith(followers);
    const next = await ens.settled();
    assert.notEqual(next.leader, leader);
    await written.throughEach('new-epoch');
    const since = ens.server(next.leader).output().length;
    await ens.start(leader, { noWait: true });
    assert.ok((await ens.settled()).followers.includes(leader));
    assert.equal(ens.syncedBy(next.leader, leader, since), 'TRUNC', 'the new leader truncated the old one');
    assert.ok(ens.truncated(leader), 'the old leader says it truncated its log');
    await written.throughEach('after-trunc');
    await written.everywhere();
    for (const id of ens.runningIds) assert.equal(await ens.readAfterSync(id, lost), null, `the uncommitted write is not on member ${id}`);
  });

  it('followers resumed after their leader died: a write its client saw no answer for is then on every member or on none', async () => {
    const { leader, followers } = await ens.settled();
    const c = await ens.connect(leader);
    for (const id of followers) await ens.pause(id);
    const unanswered = '/faults/unanswered';
    const answer = c.create(unanswered, 'committed later');
    answer.catch(() => undefined);
    await waitFor(`leader ${leader} to log the write`, WAIT_MS, () => ens.logHolds(leader, unanswered));
    await ens.kill(leader);
    await assert.rejects(bounded('the create', WAIT_MS, answer), isConnectionLoss, 'the client gets connection loss');
    for (const id of followers) ens.resume(id);
    assert.notEqual((await ens.settled()).leader, leader);
    await ens.start(leader, { noWait: true });
    await ens.settled();
    // Whether a follower had the proposal in its socket's buffer when the leader died decides.
    const seen = new Set<string | null>();
    for (const id of ens.runningIds) seen.add(await ens.readAfterSync(id, unanswered));
    assert.equal(seen.size, 1, `every member agrees on the unanswered write (seen: ${[...seen].join(', ')})`);
    const outcome = [...seen][0]!;
    assert.ok(outcome === null || outcome === 'committed later');
    if (outcome !== null) written.writes.set(unanswered, outcome);
    await written.everywhere();
  });

  it('a rolling restart (each member in turn SIGTERM + start) while a client writes keeps every acknowledged write', async () => {
    let stop = false;
    const acked: string[] = [];
    const connectSomewhere = async (): Promise<ZooKeeperClient> => {
      // Each new session starts from a different member; any serving one will do.
      const order = ens.ids.map((_, i, ids) => ids[(acked.length + i) % ids.length]!);
      return waitFor('a session on some member', WAIT_MS, () => ens.connect(ens.connectString(order)).catch(() => null));
    };
    const writer = (async () => {
      let c = await connectSomewhere();
      for (let i = 0; i < MAX_ROLLING_WRITES && !stop; i++) {
        const path = `/faults/rolling-${i}`;
        // Until acknowledged: created, or (after a connection loss hid the answer) found to exist.
        for (;;) {
          try {
            await bounded(`create ${path}`, WAIT_MS, c.create(path, path));
            break;
          } catch (e) {
            if (e instanceof ZkError && e.code === Err.nodeExists) break;
            if (!isConnectionLoss(e)) throw e;
            c.disconnect();
            c = await connectSomewhere();
          }
        }
        acked.push(path);
      }
      await c.close().catch(() => undefined);
    })();
    try {
      for (const id of ens.ids) {
        await ens.stop(id);
        await ens.start(id, { noWait: true });
        await ens.settled();
        const before = acked.length;
        await waitFor(`writes acknowledged after member ${id} restarted`, WAIT_MS, () => acked.length >= before + 5 || stop);
      }
    } finally {
      stop = true;
      await writer;
    }
    assert.ok(acked.length < MAX_ROLLING_WRITES, 'the writer ran until the restarts were done');
    for (const p of acked) written.writes.set(p, p);
    await written.everywhere();
  });
});
