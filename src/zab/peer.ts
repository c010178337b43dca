// One member of an ensemble as a deterministic state machine (ZooKeeper's
// QuorumPeer without its threads): inputs are election notifications (and
// which voters the election port cannot reach), peer messages, the time (a
// monotonic millisecond clock the caller reads), "persisted up to zxid" and
// client writes; outputs are Readies (see ready.ts). No
// sockets, files, timers, clock or randomness in here or below: the runtime and
// the simulator drive the very same code.
//
// Roles: looking → leading | following | observing → looking … While looking,
// fast leader election (election.ts) runs; its decision starts the role. A role
// ends by itself (silence, lost quorum, a protocol error) and the peer is
// looking again, in a new election round. Ticks of tickTime drive Zab's limits;
// the election's own timers (finalizeWait, resends) run on the same clock.

import type { Txn } from '../proto/txn.ts';
import { zxidHex } from '../zxid.ts';
import type { PeerContext, ZabSettings } from './context.ts';
import { Election, PeerState, type Notification } from './election.ts';
import { History, type HistoryInit } from './history.ts';
import { Leader } from './leader.ts';
import { Learner } from './learner.ts';
import type { ForwardedRequest, ZabMessage } from './messages.ts';
import { Outbox, type Ready, type Role } from './ready.ts';
import type { Orderer } from './solo.ts';

export interface PeerInit {
  settings: ZabSettings;
  /** durable epochs as read from acceptedEpoch / currentEpoch */
  epochs: { accepted: number; current: number };
  history: HistoryInit;
  /** the clock's reading at start */
  now: number;
  /** learner: the sessions its clients kept alive since the last call, for the leader (PING replies) */
  touches?: () => Iterable<[bigint, number]>;
  /** election timing (ZooKeeper: 200 ms, 60 s) */
  finalizeWaitMs?: number;
  maxNotificationIntervalMs?: number;
}

export class Peer implements Orderer {
  readonly history: History;
  private readonly out = new Outbox();
  private readonly ctx: PeerContext;
  private leader: Leader | null = null;
  private learner: Learner | null = null;
  private ticks = 0;
  private readonly election: Election;
  private now: number;
  private nextTickAt: number;
  private announcedEpoch = -1;

  constructor(init: PeerInit) {
    this.history = new History(init.history);
    const epochs = { ...init.epochs };
    if (epochs.current > epochs.accepted) throw new Error(`zab: currentEpoch ${epochs.current} is newer than acceptedEpoch ${epochs.accepted}`);
    const peer = this;
    this.ctx = {
      settings: init.settings,
      history: this.history,
      out: this.out,
      epochs,
      get tick() {
        return peer.ticks;
      },
      stepDown: (reason) => this.look(reason),
      touches: init.touches ?? (() => []),
    };
    this.now = init.now;
    this.nextTickAt = init.now + init.settings.tickTime;
    this.election = new Election({
      myId: init.settings.id,
      quorum: init.settings.quorum,
      lastZxid: this.history.lastAppended,
      currentEpoch: epochs.current,
      now: init.now,
      finalizeWaitMs: init.finalizeWaitMs,
      maxNotificationIntervalMs: init.maxNotificationIntervalMs,
    });
    this.afterElection();
  }

  get id(): number {
    return this.ctx.settings.id;
  }

  get role(): Role {
    if (this.leader) return 'leading';
    if (this.learner) return this.learner.observer ? 'observing' : 'following';
    return 'looking';
  }

  /** Does this peer order writes itself (an established leader)? */
  get leads(): boolean {
    return this.leader?.established ?? false;
  }

  /** The leader's learner counts (null unless leading). */
  get learnerCounts(): Leader['learnerCounts'] | null {
    return this.leader?.learnerCounts ?? null;
  }

  /** The leader's last proposed zxid (null unless leading). */
  get lastProposedZxid(): number | null {
    return this.leader?.lastProposedZxid ?? null;
  }

  /** The leader's synced observers (null unless leading). */
  get syncedObservers(): Leader['syncedObservers'] | null {
    return this.leader?.syncedObservers ?? null;
  }

  /** The voters of the configuration (mntr's zk_quorum_size). */
  get quorumSize(): number {
    return this.ctx.settings.quorum.voters.size;
  }

  /** May this peer serve clients now (established leader, or learner past UPTODATE)? */
  get serving(): boolean {
    return (this.leader?.established ?? false) || (this.learner?.serving ?? false);
  }

  get epochs(): Readonly<{ accepted: number; current: number }> {
    return this.ctx.epochs;
  }

  /** The vote this peer brings to an election: its last logged zxid and current epoch. */
  get lastZxid(): number {
    return this.history.lastAppended;
  }


  // ---- role changes ----

  /** The election chose this peer. */
  lead(): void {
    this.assertLooking('lead');
    this.leader = new Leader(this.ctx);
    this.out.role({ role: 'leading', leader: this.id, epoch: this.ctx.epochs.current, serving: false });
  }

  /** The election chose `leader`. */
  follow(leader: number, observer = false): void {
    this.assertLooking('follow');
    if (leader === this.id) throw new Error('zab: a peer cannot follow itself');
    this.out.role({ role: observer ? 'observing' : 'following', leader, epoch: this.ctx.epochs.current, serving: false });
    this.learner = new Learner(this.ctx, leader, observer);
  }

  private assertLooking(what: string): void {
    if (this.leader || this.learner) throw new Error(`zab: ${what}() while ${this.role}`);
  }

  /**
   * Leave the current role (its own failure, or the runtime's shutdown of it).
   * The runtime closes every quorum connection of the old role on this change.
   */
  look(reason: string): void {
    const was = this.role;
    this.leader?.stop();
    this.learner?.stop();
    this.leader = null;
    this.learner = null;
    this.election.restart({ lastZxid: this.history.lastAppended, currentEpoch: this.ctx.epochs.current, now: this.now });
    this.out.role({ role: 'looking', leader: null, epoch: this.ctx.epochs.current, serving: false, reason: `${was}: ${reason}` });
  }

  // ---- inputs ----

  step(from: number, msg: ZabMessage): void {
    if (this.leader) this.leader.step(from, msg);
    else if (this.learner) this.learner.step(from, msg);
    this.afterStep();
  }

  disconnected(peer: number): void {
    this.leader?.disconnected(peer);
    this.learner?.disconnected(peer);
    this.afterStep();
  }

  /** An election notification from peer n.from. */
  receiveVote(n: Notification): void {
    this.election.receive(n, this.now);
    this.afterElection();
  }

  /** The voters the election port cannot reach now (see Election.reachability). */
  reachability(unreachable: ReadonlySet<number>): void {
    this.election.reachability(unreachable, this.now);
    this.afterElection();
  }

  /** The clock moved on to `now` (ms, monotonic): election timers, and a Zab tick per tickTime. */
  clock(now: number): void {
    if (now < this.now) throw new Error(`zab: the clock went back from ${this.now} to ${now}`);
    this.now = now;
    this.election.tick(now);
    this.afterElection();
    while (now >= this.nextTickAt) {
      this.nextTickAt += this.ctx.settings.tickTime;
      this.ticks++;
      this.leader?.tick();
      this.learner?.tick();
    }
    this.afterStep();
  }

  /** Send what the election wants sent; act on its decision while looking. */
  private afterElection(): void {
    this.out.votes(this.election.takeOutbox());
    const d = this.election.decision;
    if (!d || this.leader || this.learner) return;
    if (d.state === PeerState.leading) this.lead();
    else this.follow(d.vote.leader, d.state === PeerState.observing);
  }

  /** The log is durable up to `zxid`. */
  persisted(zxid: number): void {
    this.history.persisted(zxid);
    this.leader?.persisted();
    this.learner?.persisted();
    this.afterStep();
  }

  private afterStep(): void {
    this.leader?.flush();
    // Once an epoch is established, LOOKING peers are answered with it (QuorumPeer.updateElectionVote).
    if (this.serving && this.announcedEpoch !== this.ctx.epochs.current) {
      this.announcedEpoch = this.ctx.epochs.current;
      this.election.updateElectionVote(this.announcedEpoch);
    }
    this.out.votes(this.election.takeOutbox());
  }

  // ---- client requests ----

  /** Leader: order a write; null when this peer cannot now. */
  propose(build: (zxid: number) => Txn): Txn | null {
    const txn = this.leader?.propose(build) ?? null;
    this.afterStep();
    return txn;
  }

  /** Learner: hand a client's request to the leader; false when not serving. */
  forward(request: ForwardedRequest): boolean {
    return this.learner?.forward(request) ?? false;
  }

  /** Learner: ask the leader whether a reattaching session is alive; false when not serving. */
  revalidate(sessionId: bigint, timeout: number): boolean {
    return this.learner?.revalidate(sessionId, timeout) ?? false;
  }

  /** Leader: the session tracker's answer to a learner's revalidation (Ready.revalidations). */
  revalidated(learner: number, sessionId: bigint, valid: boolean): void {
    this.leader?.revalidated(learner, sessionId, valid);
    this.afterStep();
  }

  /** A client's sync; `token` comes back in Ready.syncs once it is done. */
  sync(token: unknown, request: ForwardedRequest): boolean {
    if (this.leader?.established) {
      this.leader.sync(-1, token);
      this.afterStep();
      return true;
    }
    return this.learner?.sync(token, request) ?? false;
  }

  /** The next Ready to carry out, or null. */
  ready(): Ready | null {
    return this.out.take();
  }

  describe(): string {
    return `peer ${this.id} ${this.role}${this.serving ? ' serving' : ''}, epochs ${this.ctx.epochs.current}/${this.ctx.epochs.accepted} (current/accepted), last zxid ${zxidHex(this.lastZxid)}, applied ${zxidHex(this.history.lastApplied)}`;
  }
}
