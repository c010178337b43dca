// Fast leader election as a pure state machine: ZooKeeper's FastLeaderElection (lookForLeader
// and the Messenger's WorkerReceiver replies) with time passed in and messages passed out.
//
// Drive it with receive(notification, now) and tick(now) (a monotonic millisecond clock of the
// caller's choosing); after each call send what takeOutbox() returns. While looking, `decision`
// is null; once it is set the peer leads, follows or observes, and the instance keeps answering
// LOOKING peers with that vote until restart() begins the next election (the peer calls it
// whenever it is LOOKING again, with its log's last zxid and its current epoch; and
// updateElectionVote(epoch) once a new epoch is established). No I/O, timers, clock or
// randomness in here.
//
// Rules (the same as ZooKeeper 3.8's):
// - The first proposal is (own id, last logged zxid, current epoch); an observer proposes
//   NO_VOTE. Votes are ordered by (peer epoch, zxid, id); a server of weight 0 never wins.
// - A LOOKING notice of a higher round: take the round, forget the tally, propose the better of
//   it and our first proposal. A lower round is answered with our proposal and otherwise ignored.
// - A voter answers a LOOKING notice of its round whose vote is worse than its own with its
//   proposal (an observer does not: voters answer each of its notices, and they would loop).
//   ZooKeeper stays silent there, so a peer that missed our notice (it came while that peer
//   still followed the leader that just died) waits out a resend interval before it learns
//   the better vote: a failover that took ~200 ms longer, one time in three.
// - When a quorum of the current round's votes equals ours, wait finalizeWait for a better vote;
//   notices that are not better are dropped, each restarting the wait (as in ZooKeeper).
// - Unless every voter we can reach votes as we do: then no better vote can come but from one
//   we cannot reach, and we decide at once (ZooKeeper always waits). The runtime says which
//   voters it cannot reach (reachability: no election connection, and its last dial failed);
//   a leader killed outright is one, so its survivors elect in one round trip, not 200 ms.
//   Safety never rests on it: a vote names the best log among those who agree, as after the wait.
// - FOLLOWING/LEADING notices: of our round, they count with the tally; of any round, a quorum
//   naming one leader and epoch that itself says LEADING (outofelection) is followed.
// - Silence for the resend interval (finalizeWait, doubling up to 60 s) resends our proposal.
// - Notices from non-voters (observers) are answered at once with our vote and state.
// Notifications go to every voter, ourselves included; ours are handled after the current step.
//
// As in ZooKeeper, the election alone does not guarantee agreement: a vote slower than
// finalizeWait can leave two peers with different leaders in one round. Zab settles it: a
// follower that cannot reach its leader looks again, and learns the leader a quorum follows.

import type { QuorumVerifier } from './quorum.ts';

export enum PeerState {
  looking = 0,
  following = 1,
  leading = 2,
  observing = 3,
}

/** Long.MIN_VALUE: the leader, zxid and epoch a non-voter proposes. Exactly representable. */
export const NO_VOTE = -(2 ** 63);

/** A proposed leader with its last zxid and current epoch (zxid's epoch is in its high 32 bits). */
export interface Vote {
  leader: number;
  zxid: number;
  peerEpoch: number;
}

export interface Notification {
  /** the sender's server id, as its connection said */
  from: number;
  state: PeerState;
  vote: Vote;
  /** the sender's election round (ZooKeeper's electionEpoch / logicalclock) */
  round: number;
  /** message format: 0 for the old 28- and 40-byte messages, 1 without config, 2 with config */
  version: number;
  /** the sender's quorum configuration text (version 2); carried, not acted on */
  config?: string;
}

export interface Decision {
  vote: Vote;
  round: number;
  state: PeerState.leading | PeerState.following | PeerState.observing;
}

export interface Outgoing {
  to: number;
  n: Notification;
}

const NOTHING_TO_SEND: readonly Outgoing[] = [];

export interface ElectionOptions {
  myId: number;
  quorum: QuorumVerifier;
  /** the last zxid in our log and our current epoch: the first proposal */
  lastZxid: number;
  currentEpoch: number;
  now: number;
  finalizeWaitMs?: number;
  maxNotificationIntervalMs?: number;
}

/** A vote as tallied: ZooKeeper's Vote with its round, sender state and format flag. */
interface Ballot extends Vote {
  round: number;
  state: PeerState;
  /** sent with a message format version > 0 */
  versioned: boolean;
}

/** A LOOKING vote of `round`, as tallied. */
function lookingBallot(vote: Vote, round: number): Ballot {
  return { ...vote, round, state: PeerState.looking, versioned: false };
}

/** Vote.equals of ZooKeeper: LOOKING votes match in full, others on leader and epoch. */
function sameVote(a: Ballot, b: Ballot): boolean {
  if (a.state === PeerState.looking || b.state === PeerState.looking) {
    return a.leader === b.leader && a.zxid === b.zxid && a.round === b.round && a.peerEpoch === b.peerEpoch;
  }
  // Peers from before ZOOKEEPER-1732 report another epoch: then only the leader is compared.
  return a.leader === b.leader && (a.versioned !== b.versioned || a.peerEpoch === b.peerEpoch);
}

export class Election {
  readonly myId: number;
  readonly quorum: QuorumVerifier;
  private readonly voter: boolean;
  private readonly finalizeWait: number;
  private readonly maxInterval: number;

  private round = 0;
  private state: PeerState = PeerState.looking;
  private firstProposal!: Vote;
  private proposal!: Vote;
  /** votes of this round */
  private recvset = new Map<number, Ballot>();
  /** FOLLOWING/LEADING votes of any round */
  private outOfElection = new Map<number, Ballot>();
  /** the vote we answer with once decided (ZooKeeper's QuorumPeer currentVote) */
  private current: { vote: Vote; round: number };
  private resendInterval = 0;
  private resendAt = 0;
  /** set while a quorum agrees and we wait finalizeWait for a better vote */
  private finalizeAt: number | null = null;
  /** voters the runtime cannot reach now */
  private unreachable: ReadonlySet<number> = new Set();
  private outbox: Outgoing[] = [];
  /** our own notifications, handled after the step that sent them */
  private toSelf: Notification[] = [];
  private decided: Decision | null = null;

  constructor(opts: ElectionOptions) {
    this.myId = opts.myId;
    this.quorum = opts.quorum;
    this.voter = opts.quorum.voters.has(opts.myId);
    this.finalizeWait = opts.finalizeWaitMs ?? 200;
    this.maxInterval = opts.maxNotificationIntervalMs ?? 60_000;
    this.current = { vote: { leader: opts.myId, zxid: opts.lastZxid, peerEpoch: opts.currentEpoch }, round: -1 };
    this.restart(opts);
  }

  /** null while looking; then who leads, in which round, and our role. */
  get decision(): Decision | null {
    return this.decided;
  }

  get peerState(): PeerState {
    return this.state;
  }

  /** our election round (logicalclock) */
  get electionRound(): number {
    return this.round;
  }

  /** what we propose now (while looking) */
  get proposedVote(): Vote {
    return this.proposal;
  }

  /** Begin a new election (ZooKeeper's lookForLeader): the peer is LOOKING again. */
  restart(view: { lastZxid: number; currentEpoch: number; now: number }): void {
    const observer = this.quorum.observers.has(this.myId);
    this.firstProposal = {
      leader: this.voter ? this.myId : NO_VOTE,
      zxid: observer ? NO_VOTE : view.lastZxid,
      peerEpoch: observer ? NO_VOTE : view.currentEpoch,
    };
    this.round++;
    this.proposal = this.firstProposal;
    this.state = PeerState.looking;
    this.decided = null;
    this.recvset = new Map();
    this.outOfElection = new Map();
    this.finalizeAt = null;
    this.toSelf = [];
    this.resendInterval = this.finalizeWait;
    this.resendAt = view.now + this.resendInterval;
    this.sendProposal();
    this.handleOwn(view.now);
  }

  /**
   * After the new epoch is established, the vote we answer with carries it
   * (QuorumPeer.updateElectionVote).
   */
  updateElectionVote(peerEpoch: number): void {
    this.current = { ...this.current, vote: { ...this.current.vote, peerEpoch } };
  }

  /**
   * The voters this peer cannot reach now, as its network knows it (a guess: a wrong one costs
   * time, never safety). While a quorum agrees with us, each reachable voter agreeing too ends
   * the wait for a better vote.
   */
  reachability(unreachable: ReadonlySet<number>, now: number): void {
    this.unreachable = unreachable;
    this.decideIfNoneAwaited();
    this.handleOwn(now);
  }

  /** What to send, in order; each call hands over what was queued since the last. */
  takeOutbox(): readonly Outgoing[] {
    if (this.outbox.length === 0) return NOTHING_TO_SEND; // the usual answer: the peer asks after every step
    const out = this.outbox;
    this.outbox = [];
    return out;
  }

  receive(n: Notification, now: number): void {
    this.handle(n, now);
    this.handleOwn(now);
  }

  tick(now: number): void {
    if (this.state !== PeerState.looking) return;
    if (this.finalizeAt !== null) {
      if (now >= this.finalizeAt) this.decide(this.proposal, this.round);
    } else if (now >= this.resendAt) {
      this.sendProposal();
      this.resendInterval = Math.min(this.resendInterval * 2, this.maxInterval);
      this.resendAt = now + this.resendInterval;
    }
    this.handleOwn(now);
  }

  private handleOwn(now: number): void {
    while (this.toSelf.length > 0) this.handle(this.toSelf.shift()!, now);
  }

  private send(to: number, state: PeerState, vote: Vote, round: number): void {
    const n: Notification = { from: this.myId, state, vote, round, version: 2, config: this.quorum.configText };
    if (to === this.myId) this.toSelf.push(n);
    else this.outbox.push({ to, n });
  }

  private sendProposal(): void {
    for (const id of this.quorum.voters) this.send(id, PeerState.looking, this.proposal, this.round);
  }

  /** FastLeaderElection.totalOrderPredicate: is `a` a better vote than `b`? */
  private better(a: Vote, b: Vote): boolean {
    if (this.quorum.weight(a.leader) === 0) return false;
    if (a.peerEpoch !== b.peerEpoch) return a.peerEpoch > b.peerEpoch;
    if (a.zxid !== b.zxid) return a.zxid > b.zxid;
    return a.leader > b.leader;
  }

  private handle(n: Notification, now: number): void {
    // Non-voters (observers) are answered at once and take no part in the tally.
    if (!this.quorum.voters.has(n.from)) {
      this.send(n.from, this.state, this.current.vote, this.round);
      return;
    }
    if (this.state !== PeerState.looking) {
      if (n.state === PeerState.looking) this.send(n.from, this.state, this.current.vote, this.current.round);
      return;
    }
    if (n.state === PeerState.looking && (n.round < this.round || (n.round === this.round && this.voter && this.better(this.proposal, n.vote)))) {
      this.send(n.from, PeerState.looking, this.proposal, this.round);
    }
    this.resendAt = now + this.resendInterval;
    if (this.finalizeAt !== null) {
      if (!this.better(n.vote, this.proposal)) {
        this.finalizeAt = now + this.finalizeWait;
        // The wait goes on (as in ZooKeeper), but a voter that now votes as we do is no longer awaited.
        if (n.state === PeerState.looking && n.round === this.round) {
          this.recvset.set(n.from, lookingBallot(n.vote, n.round));
          this.decideIfNoneAwaited();
        }
        return;
      }
      this.finalizeAt = null;
    }
    if (!this.quorum.voters.has(n.vote.leader)) return;
    if (n.state === PeerState.looking) this.tallyLooking(n, now);
    else if (n.state !== PeerState.observing) this.tallyEstablished(n);
  }

  private tallyLooking(n: Notification, now: number): void {
    // A peer whose log could not be read (zxid -1) takes no part.
    if (this.firstProposal.zxid === -1 || n.vote.zxid === -1) return;
    if (n.round > this.round) {
      this.round = n.round;
      this.recvset.clear();
      this.proposal = this.better(n.vote, this.firstProposal) ? n.vote : this.firstProposal;
      this.sendProposal();
    } else if (n.round < this.round) {
      return;
    } else if (this.better(n.vote, this.proposal)) {
      this.proposal = n.vote;
      this.sendProposal();
    }
    this.recvset.set(n.from, lookingBallot(n.vote, n.round));
    const ours = lookingBallot(this.proposal, this.round);
    if (this.agreed(this.recvset, ours)) {
      this.finalizeAt = now + this.finalizeWait;
      this.decideIfNoneAwaited();
    }
  }

  /** While waiting for a better vote: decide now if every voter we can reach votes as we do. */
  private decideIfNoneAwaited(): void {
    if (this.state !== PeerState.looking || this.finalizeAt === null) return;
    const ours = lookingBallot(this.proposal, this.round);
    for (const id of this.quorum.voters) {
      if (id === this.myId || this.unreachable.has(id)) continue;
      const v = this.recvset.get(id);
      if (!v || !sameVote(ours, v)) return;
    }
    this.decide(this.proposal, this.round);
  }

  private tallyEstablished(n: Notification): void {
    const ballot: Ballot = { ...n.vote, round: n.round, state: n.state, versioned: n.version > 0 };
    if (n.round === this.round) {
      this.recvset.set(n.from, { ...ballot, versioned: false });
      if (this.agreed(this.recvset, ballot) && this.leaderConfirmed(this.recvset, n.vote.leader, n.round)) {
        this.decide(n.vote, n.round);
        return;
      }
    }
    // A late joiner follows a leader that a quorum follows and that says it leads.
    this.outOfElection.set(n.from, ballot);
    if (this.agreed(this.outOfElection, ballot) && this.leaderConfirmed(this.outOfElection, n.vote.leader, n.round)) {
      this.round = n.round;
      this.decide(n.vote, n.round);
    }
  }

  private agreed(votes: Map<number, Ballot>, vote: Ballot): boolean {
    const ids: number[] = [];
    for (const [id, v] of votes) if (sameVote(vote, v)) ids.push(id);
    return this.quorum.containsQuorum(ids);
  }

  /** FastLeaderElection.checkLeader: another leader must itself say LEADING; we must be in its round. */
  private leaderConfirmed(votes: Map<number, Ballot>, leader: number, round: number): boolean {
    if (leader !== this.myId) return votes.get(leader)?.state === PeerState.leading;
    return this.round === round;
  }

  private decide(vote: Vote, round: number): void {
    const state =
      vote.leader === this.myId ? PeerState.leading : this.quorum.observers.has(this.myId) ? PeerState.observing : PeerState.following;
    this.state = state;
    this.decided = { vote, round, state };
    this.current = { vote, round };
    this.finalizeAt = null;
    this.toSelf = [];
  }
}
