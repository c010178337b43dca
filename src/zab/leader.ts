// The leader's side of Zab (ZooKeeper's Leader and LearnerHandler), as a pure
// state machine driven by Peer.
//
// Phases: discovery (a quorum of LEARNERINFO fixes the new epoch: one past every
// acceptedEpoch) → epoch acks (a quorum of ACKEPOCH; the leader gives up if a
// learner's history is ahead of its own) → sync (each learner gets DIFF, TRUNC
// or SNAP, then NEWLEADER; a quorum of NEWLEADER acks establishes the epoch and
// commits the leader's whole log) → broadcast (proposals in zxid order, COMMIT
// once a quorum of voters has them durable, strictly in order).
//
// Invariants (asserted where they can break):
// - the new epoch is larger than every acceptedEpoch of the quorum that chose it;
// - nothing is proposed before the epoch is established, and every proposal's
//   zxid is in the new epoch and follows the last one;
// - commits go out in zxid order, each only with a quorum of durable acks;
// - a learner's stream is: sync payload, the outstanding proposals, NEWLEADER,
//   then the broadcast as it happens (UPTODATE once the epoch is established).
//
// Beyond ZooKeeper 3.8: a sync is completed only after a quorum of voters has
// answered a PING sent after the sync arrived (Raft's ReadIndex), so a deposed
// leader that was paused cannot complete a sync from stale state.

import { OpCode } from '../proto/constants.ts';
import type { Txn } from '../proto/txn.ts';
import { counterOf, epochOf, makeZxid, MAX_COUNTER, zxidHex } from '../zxid.ts';
import { setEpochs, type PeerContext } from './context.ts';
import type { ForwardedRequest, MessageOf, ZabMessage } from './messages.ts';
import type { QuorumVerifier } from './quorum.ts';
import { ZxidQueue } from './zxid-queue.ts';

interface LearnerHandle {
  readonly id: number;
  readonly observer: boolean;
  readonly voter: boolean;
  acceptedEpoch: number;
  /** set by ACKEPOCH */
  lastZxid: number | null;
  /** sync payload and NEWLEADER queued; proposals and commits now flow to it */
  forwarding: boolean;
  /** acked NEWLEADER */
  synced: boolean;
  upToDate: boolean;
  lastHeard: number;
  pingsSent: number;
  pingsAnswered: number;
}

interface PendingSync {
  /** -1: this peer's own client */
  origin: number;
  token: unknown;
  /** pings each voter must have answered; null until the round is sent */
  marks: Map<number, number> | null;
}

type Phase = 'discovery' | 'epochAck' | 'sync' | 'broadcast' | 'stopped';

export class Leader {
  phase: Phase = 'discovery';
  /** the epoch being established (known once discovery is done) */
  epoch = -1;
  private readonly learners = new Map<number, LearnerHandle>();
  private readonly epochAcks = new Set<number>();
  private readonly newLeaderAcks = new Set<number>();
  /** proposals not committed yet: zxid → voters that have it durable */
  private readonly outstanding = new ZxidQueue<Set<number>>();
  private lastProposed: number;
  /** the end of the history this epoch starts from */
  private historyEnd = -1;
  private readonly started: number;
  private readonly syncs: PendingSync[] = [];
  private pingRoundWanted = false;
  private readonly maxCounter: number;

  constructor(private readonly ctx: PeerContext) {
    this.started = ctx.tick;
    this.lastProposed = ctx.history.lastAppended;
    this.maxCounter = ctx.settings.maxCounter ?? MAX_COUNTER;
    this.tryFixEpoch();
  }

  get established(): boolean {
    return this.phase === 'broadcast';
  }

  get lastCommitted(): number {
    return this.ctx.history.lastApplied;
  }

  /** Learners connected now, those synced (followers, observers), and syncs waiting for a quorum's confirmation: mntr's leader keys. */
  get learnerCounts(): { learners: number; syncedFollowers: number; syncedObservers: number; pendingSyncs: number } {
    let syncedFollowers = 0;
    let syncedObservers = 0;
    for (const l of this.learners.values()) if (l.synced) l.observer ? syncedObservers++ : syncedFollowers++;
    return { learners: this.learners.size, syncedFollowers, syncedObservers, pendingSyncs: this.syncs.length };
  }

  /** The last zxid proposed, or the new epoch's zxid 0 once established (ZooKeeper's hzxid: srvr's Zxid on a leader). */
  get lastProposedZxid(): number {
    return this.lastProposed;
  }

  /** The synced observers and the last zxid each reported (the `observers` admin command). */
  get syncedObservers(): { id: number; lastZxid: number | null }[] {
    return [...this.learners.values()].filter((l) => l.observer && l.synced).map((l) => ({ id: l.id, lastZxid: l.lastZxid }));
  }

  private send(l: LearnerHandle, msg: ZabMessage): void {
    this.ctx.out.send(l.id, msg);
  }

  /** The role is over: later calls do nothing. */
  stop(): void {
    this.phase = 'stopped';
  }

  // ---- inputs ----

  step(from: number, msg: ZabMessage): void {
    if (this.phase === 'stopped') return;
    const l = this.learners.get(from);
    if (l) l.lastHeard = this.ctx.tick;
    switch (msg.type) {
      case 'learnerInfo':
        return this.learnerInfo(from, msg);
      case 'ackEpoch':
        if (l) this.ackEpoch(l, msg);
        return;
      case 'ack':
        if (l) this.ack(l, msg.zxid);
        return;
      case 'ping':
        if (!l) return;
        if (msg.sessions && msg.sessions.length > 0 && this.ctx.settings.sabotage !== 'ignoreSessionReports') this.ctx.out.touch(msg.sessions);
        this.pingAnswered(l);
        return;
      case 'request':
        if (l && l.synced) this.request(l, msg.request);
        return;
      case 'revalidate':
        // The session tracker (the pipeline's) decides; revalidated() sends its answer.
        if (l && l.synced) this.ctx.out.revalidation(l.id, msg.sessionId, msg.timeout);
        return;
      default:
        // A learner sent what only a leader sends: drop that learner.
        if (l) this.drop(l, `unexpected ${msg.type}`);
    }
  }

  disconnected(peer: number): void {
    const l = this.learners.get(peer);
    if (l) this.forget(l);
  }

  tick(): void {
    if (this.phase === 'stopped') return;
    const { tick, settings } = this.ctx;
    if (!this.established && tick - this.started > settings.initLimit) {
      return this.ctx.stepDown(`no quorum ${this.phase === 'sync' ? 'synced' : 'joined'} within initLimit (${settings.initLimit} ticks) in phase ${this.phase}`);
    }
    for (const l of [...this.learners.values()]) {
      const limit = l.synced ? settings.syncLimit : settings.initLimit;
      if (tick - l.lastHeard > limit) this.drop(l, `silent for ${tick - l.lastHeard} ticks`);
    }
    if (this.established) {
      const synced = new Set([this.ctx.settings.id]);
      for (const l of this.learners.values()) if (l.synced && l.voter) synced.add(l.id);
      if (!settings.quorum.containsQuorum(synced)) return this.ctx.stepDown('not enough followers synced');
    }
    // Learners answer pings only once up to date (as ZooKeeper's do), so only those are pinged.
    for (const l of this.learners.values()) if (l.upToDate) this.ping(l);
  }

  persisted(): void {
    if (this.phase === 'stopped') return;
    this.tryEstablish();
    this.tryCommit();
    this.trySyncLearners();
  }

  // ---- client writes and syncs ----

  /** Order a txn built for the next zxid; null when not established, or when the epoch is used up (the leader steps down). */
  propose(build: (zxid: number) => Txn): Txn | null {
    if (!this.established) return null;
    const zxid = this.lastProposed + 1;
    if (counterOf(zxid) >= this.maxCounter) {
      this.ctx.stepDown(`zxid counter of epoch ${this.epoch} exhausted; a new epoch is needed`);
      return null;
    }
    const txn = build(zxid);
    if (txn.hdr.zxid !== zxid) throw new Error(`zab: proposal built with zxid ${zxidHex(txn.hdr.zxid)}, expected ${zxidHex(zxid)}`);
    this.lastProposed = zxid;
    this.ctx.history.append(txn);
    this.ctx.out.append(txn);
    this.outstanding.push(zxid, new Set());
    const proposal: ZabMessage = { type: 'proposal', txn };
    for (const l of this.learners.values()) if (l.forwarding && !l.observer) this.send(l, proposal);
    return txn;
  }

  /** A sync from this peer's client (origin -1) or forwarded by learner `origin`. */
  sync(origin: number, token: unknown): void {
    this.syncs.push({ origin, token, marks: null });
    this.pingRoundWanted = true;
  }

  /** End of a batch of inputs: send the ping round pending syncs wait for. */
  flush(): void {
    if (!this.pingRoundWanted || this.phase === 'stopped') return;
    this.pingRoundWanted = false;
    const marks = new Map<number, number>();
    for (const l of this.learners.values()) {
      if (!l.voter || !l.upToDate) continue;
      this.ping(l);
      marks.set(l.id, l.pingsSent);
    }
    for (const s of this.syncs) s.marks ??= marks;
    this.completeSyncs();
  }

  private ping(l: LearnerHandle): void {
    l.pingsSent++;
    this.send(l, { type: 'ping', zxid: this.lastProposed });
  }

  private pingAnswered(l: LearnerHandle): void {
    l.pingsAnswered++;
    this.completeSyncs();
  }

  private completeSyncs(): void {
    while (this.syncs.length > 0) {
      const s = this.syncs[0]!;
      if (!s.marks || !this.established) return;
      const confirmed = new Set([this.ctx.settings.id]);
      for (const [id, mark] of s.marks) {
        const l = this.learners.get(id);
        if (l && l.pingsAnswered >= mark) confirmed.add(id);
      }
      if (!this.ctx.settings.quorum.containsQuorum(confirmed) && this.ctx.settings.sabotage !== 'unconfirmedSync') return;
      this.syncs.shift();
      if (s.origin === -1) this.ctx.out.syncDone(s.token);
      else {
        const l = this.learners.get(s.origin);
        if (l) this.send(l, { type: 'sync' });
      }
    }
  }

  /** The session tracker's answer to learner `learner`'s REVALIDATE (dropped if that learner has gone). */
  revalidated(learner: number, sessionId: bigint, valid: boolean): void {
    const l = this.learners.get(learner);
    if (l && this.phase !== 'stopped') this.send(l, { type: 'revalidated', sessionId, valid });
  }

  private request(l: LearnerHandle, request: ForwardedRequest): void {
    if (request.op === OpCode.sync) this.sync(l.id, null);
    else this.ctx.out.request(l.id, request);
  }

  // ---- discovery ----

  private learnerInfo(from: number, msg: MessageOf<'learnerInfo'>): void {
    const old = this.learners.get(from);
    if (old) this.forget(old);
    const { voters, observers } = this.ctx.settings.quorum;
    if (!voters.has(from) && !observers.has(from)) {
      this.ctx.out.disconnect(from);
      return this.ctx.out.note(`refused learner ${from}: not a member of the ensemble`);
    }
    const voter = !msg.observer && voters.has(from);
    const l: LearnerHandle = {
      id: from,
      observer: msg.observer,
      voter,
      acceptedEpoch: msg.acceptedEpoch,
      lastZxid: null,
      forwarding: false,
      synced: false,
      upToDate: false,
      lastHeard: this.ctx.tick,
      pingsSent: 0,
      pingsAnswered: 0,
    };
    this.learners.set(from, l);
    if (this.epoch >= 0) this.send(l, { type: 'leaderInfo', epoch: this.epoch });
    else this.tryFixEpoch();
  }

  /** Once a quorum has said which epochs it accepted, the new one is past them all. */
  private tryFixEpoch(): void {
    if (this.phase !== 'discovery') return;
    const joined = new Set([this.ctx.settings.id]);
    let max = this.ctx.epochs.accepted;
    for (const l of this.learners.values()) {
      if (!l.voter) continue;
      joined.add(l.id);
      max = Math.max(max, l.acceptedEpoch);
    }
    if (!this.ctx.settings.quorum.containsQuorum(joined)) return;
    this.epoch = max + 1;
    setEpochs(this.ctx, { accepted: this.epoch });
    this.phase = 'epochAck';
    this.epochAcks.add(this.ctx.settings.id);
    for (const l of this.learners.values()) this.send(l, { type: 'leaderInfo', epoch: this.epoch });
    this.tryEpochQuorum();
  }

  private ackEpoch(l: LearnerHandle, msg: MessageOf<'ackEpoch'>): void {
    if (this.epoch < 0 || l.lastZxid !== null) return this.drop(l, 'ACKEPOCH out of turn');
    const { current } = this.ctx.epochs;
    const mine = this.ctx.history.lastAppended;
    if (this.phase !== 'broadcast' && msg.currentEpoch !== -1 && (msg.currentEpoch > current || (msg.currentEpoch === current && msg.lastZxid > mine))) {
      // ZooKeeper's "Follower is ahead of the leader": this election chose wrongly.
      return this.ctx.stepDown(`learner ${l.id} is ahead (epoch ${msg.currentEpoch}, zxid ${zxidHex(msg.lastZxid)}; ours ${current}, ${zxidHex(mine)})`);
    }
    l.lastZxid = msg.lastZxid;
    if (l.voter) this.epochAcks.add(l.id);
    this.tryEpochQuorum();
    this.trySyncLearners();
  }

  private tryEpochQuorum(): void {
    if (this.phase !== 'epochAck' || !this.ctx.settings.quorum.containsQuorum(this.epochAcks)) return;
    setEpochs(this.ctx, { current: this.epoch });
    this.phase = 'sync';
    this.historyEnd = this.ctx.history.lastAppended;
    this.newLeaderAcks.add(this.ctx.settings.id);
    this.trySyncLearners();
    this.tryEstablish();
  }

  // ---- sync ----

  /** Queue sync payloads for learners that have acked the epoch, once our own log is durable. */
  private trySyncLearners(): void {
    if (this.phase === 'discovery' || this.phase === 'epochAck') return;
    const h = this.ctx.history;
    if (h.lastPersisted < h.lastAppended && !this.established) return;
    for (const l of this.learners.values()) if (l.lastZxid !== null && !l.forwarding) this.syncLearner(l);
  }

  /**
   * Bring learner `l` (last zxid P) to our history, as ZooKeeper's
   * LearnerHandler.syncFollower chooses: nothing to send, TRUNC when P is past
   * what we commit, DIFF when P is a point of our history, TRUNC back to the
   * last shared point then DIFF when P is an old epoch's tail we never had, and
   * SNAP when P is older than the history we hold.
   */
  private syncLearner(l: LearnerHandle): void {
    const h = this.ctx.history;
    const p = l.lastZxid!;
    // Committed history: everything up to here is (or becomes, at establishment) committed.
    const end = this.established ? this.lastCommitted : this.historyEnd;
    if (p === end) {
      this.send(l, { type: 'diff', zxid: end });
    } else if (p > end) {
      this.send(l, { type: 'trunc', zxid: end });
    } else if (h.contains(p)) {
      this.send(l, { type: 'diff', zxid: end });
      this.send(l, { type: 'replay', from: p, to: end });
    } else {
      const shared = h.below(p);
      if (shared !== null) {
        this.send(l, { type: 'trunc', zxid: shared });
        this.send(l, { type: 'replay', from: shared, to: end });
      } else {
        // The snapshot is our applied state; the rest of the history follows it.
        this.send(l, { type: 'snap', zxid: h.lastApplied });
        if (h.lastApplied < end) this.send(l, { type: 'replay', from: h.lastApplied, to: end });
      }
    }
    if (!l.observer) for (const [zxid, txn] of h.pending) if (zxid > end) this.send(l, { type: 'proposal', txn });
    this.send(l, { type: 'newLeader', zxid: makeZxid(this.epoch, 0) });
    l.forwarding = true;
  }

  private ack(l: LearnerHandle, zxid: number): void {
    if (counterOf(zxid) === 0) {
      // ACK of NEWLEADER (or, after UPTODATE, of UPTODATE: ignored).
      if (epochOf(zxid) !== this.epoch || !l.forwarding) return this.drop(l, `ack of epoch ${epochOf(zxid)} out of turn`);
      if (l.synced) return;
      l.synced = true;
      if (l.voter) this.newLeaderAcks.add(l.id);
      if (this.established) this.upToDate(l);
      else this.tryEstablish();
      return;
    }
    if (!l.voter || !l.synced) return;
    const acks = this.outstanding.get(zxid);
    if (!acks) return; // committed already, or never proposed in this epoch
    acks.add(l.id);
    this.tryCommit();
  }

  private tryEstablish(): void {
    if (this.phase !== 'sync') return;
    const h = this.ctx.history;
    if (h.lastPersisted < this.historyEnd || !this.ctx.settings.quorum.containsQuorum(this.newLeaderAcks)) return;
    this.phase = 'broadcast';
    this.lastProposed = makeZxid(this.epoch, 0);
    // Our whole log is the history of this epoch: apply what we had not.
    for (const txn of h.takeForApply(this.historyEnd)) this.ctx.out.commit(txn);
    this.ctx.out.role({ role: 'leading', leader: this.ctx.settings.id, epoch: this.epoch, serving: true });
    for (const l of this.learners.values()) if (l.synced) this.upToDate(l);
    this.completeSyncs();
  }

  private upToDate(l: LearnerHandle): void {
    l.upToDate = true;
    this.send(l, { type: 'upToDate' });
  }

  private tryCommit(): void {
    const h = this.ctx.history;
    const quorum = this.ctx.settings.quorum;
    const shortByOne = this.ctx.settings.sabotage === 'commitShortOfQuorum';
    while (this.outstanding.size > 0) {
      const zxid = this.outstanding.firstZxid();
      const acks = this.outstanding.first();
      if (h.lastPersisted >= zxid) acks.add(this.ctx.settings.id);
      if (!quorum.containsQuorum(acks) && !(shortByOne && acks.size > 0 && quorumWithOneMore(quorum, acks))) return;
      this.outstanding.shift();
      const txn = h.takeNext(zxid);
      if (!txn) throw new Error(`zab: commit of ${zxidHex(zxid)} out of order`);
      this.ctx.out.commit(txn);
      const commit: ZabMessage = { type: 'commit', zxid };
      for (const l of this.learners.values()) {
        if (!l.forwarding) continue;
        this.send(l, l.observer ? { type: 'inform', txn } : commit);
      }
    }
  }

  // ---- learners going away ----

  private drop(l: LearnerHandle, why: string): void {
    this.forget(l);
    this.ctx.out.disconnect(l.id);
    this.ctx.out.note(`dropped learner ${l.id}: ${why}`);
  }

  /**
   * A learner's connection is gone. What it acknowledged stays counted: its
   * epoch acks, NEWLEADER ack and proposal acks are durable facts on its disk.
   */
  private forget(l: LearnerHandle): void {
    this.learners.delete(l.id);
  }
}

/** Sabotage only: would one more voter's ack make a quorum? */
function quorumWithOneMore(quorum: QuorumVerifier, acks: ReadonlySet<number>): boolean {
  return [...quorum.voters].some((v) => !acks.has(v) && quorum.containsQuorum(new Set([...acks, v])));
}
