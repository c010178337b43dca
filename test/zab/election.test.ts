// Fast leader election, scripted: exchanges among 3 and 5 in-memory Election instances on a
// virtual clock (test/zab/sim-net.ts), checked step by step, in the manner of etcd raft's
// interaction tests. The seeded randomized runs are in election-random.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Election, NO_VOTE, PeerState } from '../../src/zab/election.ts';
import { hierarchicalQuorum, majorityQuorum } from '../../src/zab/quorum.ts';
import { SimNet, addresses, zxid } from './sim-net.ts';

const fresh = { zxid: 0, epoch: 0 };

test('three fresh peers elect the highest id in round 1, at once: every voter agrees, so no better vote can come', () => {
  const net = SimNet.majority([1, 2, 3]);
  for (const id of [1, 2, 3]) net.start(id, fresh);
  // Everyone's first proposal goes to every other voter (ours is handled locally).
  assert.deepEqual(
    net.inFlight.map((m) => `${m.from}->${m.to}:${m.n.vote.leader}`),
    ['1->2:1', '1->3:1', '2->1:2', '2->3:2', '3->1:3', '3->2:3'],
  );
  net.flush();
  assert.equal(net.now, 0);
  assert.ok(net.allDecided());
  for (const id of [1, 2, 3]) {
    assert.deepEqual(net.peers.get(id)!.decision, {
      vote: { leader: 3, zxid: 0, peerEpoch: 0 },
      round: 1,
      state: id === 3 ? PeerState.leading : PeerState.following,
    });
  }
});

test('a quorum that agrees waits finalizeWait for a silent voter, unless it knows that voter cannot be reached', () => {
  for (const known of [false, true]) {
    const net = SimNet.majority([1, 2, 3]);
    net.isolated.add(3);
    if (known) for (const id of [1, 2]) net.start(id, fresh).reachability(new Set([3]), net.now);
    else for (const id of [1, 2]) net.start(id, fresh);
    net.flush();
    assert.equal(net.peers.get(1)!.proposedVote.leader, 2);
    if (known) {
      assert.ok(net.allDecided([1, 2]), 'decided at once: the only voter that could vote better is unreachable');
      assert.equal(net.now, 0);
    } else {
      assert.equal(net.allDecided([1, 2]), false);
      net.advance(190);
      assert.equal(net.allDecided([1, 2]), false, 'no decision before finalizeWait has passed');
      net.advance(20);
      assert.ok(net.allDecided([1, 2]));
      // Word that 3 is unreachable changes nothing once decided.
      net.peers.get(1)!.reachability(new Set([3]), net.now);
    }
    assert.equal(net.leaderOf(1), 2);
    assert.equal(net.stateOf(2), PeerState.leading);
  }
});

test('votes are ordered by epoch, then zxid, then id', () => {
  const cases: { data: Record<number, { zxid: number; epoch: number }>; leader: number }[] = [
    { data: { 1: { zxid: zxid(1, 9), epoch: 1 }, 2: { zxid: zxid(1, 8), epoch: 1 }, 3: { zxid: zxid(1, 8), epoch: 1 } }, leader: 1 },
    // A newer epoch wins over a longer log of an older one.
    { data: { 1: { zxid: zxid(1, 99), epoch: 1 }, 2: { zxid: zxid(1, 5), epoch: 2 }, 3: { zxid: zxid(1, 50), epoch: 1 } }, leader: 2 },
    { data: { 1: { zxid: zxid(2, 1), epoch: 2 }, 2: { zxid: zxid(2, 1), epoch: 2 }, 3: { zxid: zxid(2, 0), epoch: 2 } }, leader: 2 },
  ];
  for (const { data, leader } of cases) {
    const net = SimNet.majority([1, 2, 3]);
    for (const id of [1, 2, 3]) net.start(id, data[id]);
    assert.ok(net.runUntil(() => net.allDecided(), 1000));
    for (const id of [1, 2, 3]) {
      assert.equal(net.leaderOf(id), leader);
      assert.deepEqual(net.peers.get(id)!.decision!.vote, net.voteOf(leader));
    }
  }
});

test('a better vote during finalizeWait reopens the election; others restart the wait', () => {
  const net = SimNet.majority([1, 2, 3]);
  net.isolated.add(3);
  for (const id of [1, 2, 3]) net.start(id, fresh);
  net.flush();
  // 1 and 2 agree on 2 (a quorum) and wait.
  assert.equal(net.peers.get(1)!.proposedVote.leader, 2);
  net.advance(100);
  // A vote that is not better (a resend of the agreed one) restarts the 200 ms wait at t=100.
  const agreed = { state: PeerState.looking, vote: { leader: 2, zxid: 0, peerEpoch: 0 }, round: 1, version: 2 };
  net.peers.get(2)!.receive({ from: 1, ...agreed }, net.now);
  net.peers.get(1)!.receive({ from: 2, ...agreed }, net.now);
  net.advance(150);
  assert.equal(net.peers.get(1)!.decision, null, 'the wait restarted');
  assert.equal(net.peers.get(2)!.decision, null, 'the wait restarted');
  // 3's better vote arrives at 2 while it waits: it takes it and tells the others.
  net.isolated.delete(3);
  net.peers.get(2)!.receive({ from: 3, state: PeerState.looking, vote: { leader: 3, zxid: 0, peerEpoch: 0 }, round: 1, version: 2 }, net.now);
  net.collect(2);
  assert.equal(net.peers.get(2)!.proposedVote.leader, 3);
  assert.ok(net.runUntil(() => net.allDecided(), 5000));
  for (const id of [1, 2, 3]) assert.equal(net.leaderOf(id), 3);
});

test('higher rounds are adopted and reset the tally; lower rounds are answered with our proposal', () => {
  const net = SimNet.majority([1, 2, 3]);
  net.start(3, fresh);
  net.start(3, fresh); // a second election: round 2
  net.start(3, fresh); // round 3
  net.inFlight = net.inFlight.filter((m) => m.n.round === 3);
  net.start(1, { zxid: zxid(1, 1), epoch: 1 });
  // 1 (round 1) hears 3 in round 3: it moves to round 3 and proposes the better vote, its own.
  net.deliver(net.inFlight.find((m) => m.from === 3 && m.to === 1)!);
  const e1 = net.peers.get(1)!;
  assert.equal(e1.electionRound, 3);
  assert.equal(e1.proposedVote.leader, 1);
  // 3 hears 1's stale round-1 notice and answers it with its own round-3 proposal.
  const stale = net.inFlight.find((m) => m.from === 1 && m.to === 3 && m.n.round === 1)!;
  net.deliver(stale);
  const answer = net.inFlight.find((m) => m.from === 3 && m.to === 1)!;
  assert.equal(answer.n.round, 3);
  net.start(2, fresh);
  assert.ok(net.runUntil(() => net.allDecided(), 5000));
  for (const id of [1, 2, 3]) assert.deepEqual(net.peers.get(id)!.decision!.round, 3);
  assert.equal(net.leaderOf(2), 1);
});

test('an observer proposes no vote, is answered at once, and observes the leader', () => {
  const net = SimNet.majority([1, 2, 3], [4]);
  net.start(4, { zxid: zxid(5, 5), epoch: 5 }); // the best log, but an observer never leads
  const first = net.inFlight.filter((m) => m.from === 4);
  assert.deepEqual(first.map((m) => m.to), [1, 2, 3], 'observers notify voters only');
  assert.deepEqual(first[0].n.vote, { leader: NO_VOTE, zxid: NO_VOTE, peerEpoch: NO_VOTE });
  for (const id of [1, 2, 3]) net.start(id, { zxid: zxid(1, id), epoch: 1 });
  net.flush();
  // Each voter answered the observer right away with its current vote and state.
  assert.ok([1, 2, 3].every((id) => net.sent.some((m) => m.from === id && m.to === 4)));
  assert.ok(net.runUntil(() => net.allDecided(), 5000));
  assert.equal(net.leaderOf(4), 3);
  assert.equal(net.stateOf(4), PeerState.observing);
  assert.equal(net.stateOf(3), PeerState.leading);
  // The observer's notices never counted: its id is no voter.
  assert.equal(net.quorum.containsQuorum([3, 4]), false);
});

test('hierarchical quorum: a weight-0 server never wins, and quorums are per group', () => {
  const servers = addresses([1, 2, 3, 4, 5]);
  const qv = hierarchicalQuorum(servers, new Map([[1, [1, 2, 3]], [2, [4, 5]]]), new Map([[5, 0]]));
  const net = new SimNet(qv);
  for (const id of [1, 2, 3, 4]) net.start(id, fresh);
  net.start(5, { zxid: zxid(9, 9), epoch: 9 }); // best log, weight 0
  assert.ok(net.runUntil(() => net.allDecided(), 5000));
  for (const id of [1, 2, 3, 4, 5]) assert.equal(net.leaderOf(id), 4);
  assert.equal(net.stateOf(5), PeerState.following);

  // Group 2 alone (4 and 5) is not a quorum of groups: they never decide without group 1.
  const split = new SimNet(qv);
  for (const id of [1, 2, 3]) split.isolated.add(id);
  for (const id of [4, 5]) split.start(id, fresh);
  assert.equal(split.runUntil(() => split.allDecided([4, 5]), 3000), false);
});

test('a late joiner follows the established leader once a quorum and the leader confirm it', () => {
  const net = SimNet.majority([1, 2, 3, 4, 5]);
  for (const id of [2, 3, 4, 5]) net.start(id, { zxid: zxid(1, 3), epoch: 1 });
  assert.ok(net.runUntil(() => net.allDecided([2, 3, 4, 5]), 5000));
  assert.equal(net.leaderOf(2), 5);
  // 1 has the best log, but arrives late: the established leader stands.
  const leader = 5;
  net.isolated.add(leader);
  const late = net.start(1, { zxid: zxid(1, 9), epoch: 1 });
  assert.equal(net.runUntil(() => late.decision !== null, 2000), false, 'three followers without the leader do not suffice');
  net.isolated.delete(leader);
  assert.ok(net.runUntil(() => late.decision !== null, 70_000), 'the resent notice reaches the leader, which answers LEADING');
  assert.deepEqual(late.decision, { vote: net.peers.get(2)!.decision!.vote, round: 1, state: PeerState.following });
});

test('a late joiner in a higher round still learns the leader from FOLLOWING/LEADING answers', () => {
  const net = SimNet.majority([1, 2, 3]);
  for (const id of [1, 2]) net.start(id, fresh);
  assert.ok(net.runUntil(() => net.allDecided([1, 2]), 5000));
  const late = new Election({ myId: 3, quorum: net.quorum, lastZxid: 0, currentEpoch: 0, now: net.now });
  for (let i = 0; i < 6; i++) late.restart({ lastZxid: 0, currentEpoch: 0, now: net.now }); // round 7
  late.takeOutbox();
  net.peers.set(3, late);
  net.data.set(3, fresh);
  late.restart({ lastZxid: 0, currentEpoch: 0, now: net.now }); // round 8
  net.collect(3);
  net.flush();
  // The decided peers answered with their vote from round 1, which 3 follows (outofelection).
  assert.deepEqual(late.decision, { vote: { leader: 2, zxid: 0, peerEpoch: 0 }, round: 1, state: PeerState.following });
  assert.equal(late.electionRound, 1);
});

test('a restarted peer with an older log follows the leader; after the leader dies the best log wins', () => {
  const net = SimNet.majority([1, 2, 3]);
  for (const id of [1, 2, 3]) net.start(id, { zxid: zxid(1, 10), epoch: 1 });
  assert.ok(net.runUntil(() => net.allDecided(), 5000));
  assert.equal(net.leaderOf(1), 3);
  net.peers.get(3)!.updateElectionVote(2); // the leader established epoch 2
  net.peers.get(2)!.updateElectionVote(2);
  // 1 crashes, loses some of its log, and comes back in a fresh round 1.
  net.crash(1);
  const one = net.start(1, { zxid: zxid(1, 4), epoch: 1 });
  assert.ok(net.runUntil(() => one.decision !== null, 5000));
  assert.deepEqual(one.decision!.vote, { leader: 3, zxid: zxid(1, 10), peerEpoch: 2 });
  // The leader dies; the others look again, 2 with the longer log.
  net.crash(3);
  net.start(2, { zxid: zxid(2, 7), epoch: 2 });
  net.start(1, { zxid: zxid(1, 4), epoch: 1 });
  assert.ok(net.runUntil(() => net.allDecided(), 5000));
  assert.equal(net.leaderOf(1), 2);
  assert.equal(net.stateOf(2), PeerState.leading);
});

test('a partition: the minority never decides, the majority does, and the minority joins on healing', () => {
  const net = SimNet.majority([1, 2, 3, 4, 5]);
  net.isolated.add(4).add(5);
  for (const id of [1, 2, 3, 4, 5]) net.start(id, { zxid: zxid(1, id), epoch: 1 });
  assert.ok(net.runUntil(() => net.allDecided([1, 2, 3]), 5000));
  assert.equal(net.leaderOf(1), 3);
  net.advance(10_000);
  assert.equal(net.peers.get(4)!.decision, null);
  assert.equal(net.peers.get(5)!.decision, null);
  net.isolated.clear();
  // 4 and 5 resend at their doubled interval (at most 60 s) and learn the leader.
  assert.ok(net.runUntil(() => net.allDecided(), 70_000));
  for (const id of [4, 5]) assert.equal(net.leaderOf(id), 3);
});

test('decided peers answer LOOKING peers with their vote, round and state; others get nothing', () => {
  const net = SimNet.majority([1, 2, 3]);
  for (const id of [1, 2, 3]) net.start(id, fresh);
  assert.ok(net.runUntil(() => net.allDecided(), 5000));
  const leader = net.peers.get(3)!;
  leader.updateElectionVote(1);
  const looking = { from: 1, state: PeerState.looking, vote: { leader: 1, zxid: 0, peerEpoch: 0 }, round: 5, version: 2 };
  leader.receive(looking, net.now);
  assert.deepEqual(leader.takeOutbox(), [
    { to: 1, n: { from: 3, state: PeerState.leading, vote: { leader: 3, zxid: 0, peerEpoch: 1 }, round: 1, version: 2, config: net.quorum.configText } },
  ]);
  leader.receive({ ...looking, state: PeerState.following }, net.now);
  assert.deepEqual(leader.takeOutbox(), []);
});

test('a peer whose log could not be read (zxid -1) is ignored, and ignores LOOKING notices', () => {
  const net = SimNet.majority([1, 2, 3]);
  net.start(1, { zxid: -1, epoch: 0 });
  net.start(2, fresh);
  net.start(3, fresh);
  assert.ok(net.runUntil(() => net.allDecided([2, 3]), 5000));
  assert.equal(net.leaderOf(2), 3);
  // 1 learns the leader only from the established peers' answers.
  assert.ok(net.runUntil(() => net.allDecided(), 5000));
  assert.equal(net.leaderOf(1), 3);
});

test('resends double from finalizeWait up to the maximum interval while nothing arrives', () => {
  const quorum = majorityQuorum(addresses([1, 2, 3]));
  const e = new Election({ myId: 1, quorum, lastZxid: 0, currentEpoch: 0, now: 0, maxNotificationIntervalMs: 1000 });
  e.takeOutbox();
  const resends: number[] = [];
  for (let t = 0; t <= 5000; t += 10) {
    e.tick(t);
    if (e.takeOutbox().length > 0) resends.push(t);
  }
  assert.deepEqual(resends, [200, 600, 1400, 2400, 3400, 4400]);
});

test('a vote slower than finalizeWait splits a round, as in ZooKeeper; looking again settles it', () => {
  const net = SimNet.majority([1, 2, 3]);
  net.isolated.add(3);
  for (const id of [1, 2, 3]) net.start(id, fresh);
  net.flush();
  net.advance(150);
  // 3's vote reaches 2 while it waits; 2's news is slow to reach 1, which decides 2 meanwhile.
  net.isolated.delete(3);
  net.delay = (m) => (m.from === 2 && m.to === 1 ? 100 : 0);
  net.peers.get(2)!.receive({ from: 3, state: PeerState.looking, vote: { leader: 3, zxid: 0, peerEpoch: 0 }, round: 1, version: 2 }, net.now);
  net.advance(60);
  assert.equal(net.leaderOf(1), 2);
  assert.ok(net.runUntil(() => net.allDecided(), 5000));
  assert.equal(net.leaderOf(2), 3);
  assert.equal(net.leaderOf(3), 3);
  // 1 cannot follow 2 (it does not lead), looks again, and follows the leader of the quorum.
  const one = net.start(1, fresh);
  assert.ok(net.runUntil(() => one.decision !== null, 5000));
  assert.equal(net.leaderOf(1), 3);
});

test("a survivor that learns of the leader's death after the other one voted gets that vote back at once, not a resend later", () => {
  const net = SimNet.majority([1, 2, 3]);
  for (const id of [1, 2, 3]) net.start(id, fresh);
  assert.ok(net.runUntil(() => net.allDecided(), 1000));
  assert.equal(net.leaderOf(1), 3);
  // Leader 3 dies. 2 notices first: its round-2 notice reaches 1 while 1 still follows 3
  // (1 answers with its old vote and forgets the notice), and only then does 1 look too.
  net.crash(3);
  net.isolated.add(3);
  net.start(2, fresh);
  net.flush();
  const t0 = net.now;
  net.start(1, fresh);
  // 1 proposes itself to 2; 2's vote is better and 2 says so right away, so the two agree
  // within finalizeWait (200 ms) and a tick, well before the first resend (200 ms) could help.
  assert.ok(net.runUntil(() => net.allDecided([1, 2]), 1000));
  assert.ok(net.now - t0 <= 220, `decided ${net.now - t0} ms after 1 began to look`);
  assert.equal(net.leaderOf(1), 2);
  assert.equal(net.stateOf(2), PeerState.leading);
});
