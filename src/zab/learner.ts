// The learner's side of Zab — follower or observer (ZooKeeper's Learner,
// Follower and Observer) — as a pure state machine driven by Peer.
//
// Phases: connecting (LEARNERINFO sent) → sync (LEADERINFO answered with
// ACKEPOCH; DIFF/TRUNC/SNAP and PROPOSAL/COMMIT pairs arrive) → newLeader
// (NEWLEADER seen; once everything received before it is durable, currentEpoch
// is written and NEWLEADER acked) → serving (UPTODATE: the history is applied,
// clients are served).
//
// Rules from ZooKeeper's data-loss bugs (see shared/ensemble-notes.md), held here:
// - NEWLEADER is acked only after every txn of the sync and the new
//   currentEpoch are durable (ZOOKEEPER-3911, -3642: a SNAP is installed and
//   made durable by the runtime before the core sees it);
// - currentEpoch is written only once every txn of the sync is durable: a
//   peer that crashed between the two would otherwise vote with the new
//   epoch and a log that lacks committed txns, win, and truncate them away
//   on the others (ZOOKEEPER-4646); and the new epoch's txns that arrive
//   meanwhile go to the log only after it, since a log holding a txn newer
//   than currentEpoch does not load;
// - proposals and commits that arrive between NEWLEADER and UPTODATE are all
//   logged and applied in order (ZOOKEEPER-4785, -4394);
// - nothing received during sync is applied before UPTODATE, and after a TRUNC
//   the applied state is what the log replays to (ZOOKEEPER-2845);
// - a proposal is acked only once durable and only after the NEWLEADER ack,
//   when currentEpoch already names its epoch.

import { epochOf, makeZxid, zxidHex } from '../zxid.ts';
import { setEpochs, type PeerContext } from './context.ts';
import type { ForwardedRequest, ZabMessage } from './messages.ts';
import type { Txn } from '../proto/txn.ts';
import { OpCode } from '../proto/constants.ts';

type Phase = 'connecting' | 'sync' | 'newLeader' | 'serving' | 'stopped';

export class Learner {
  phase: Phase = 'connecting';
  epoch = -1;
  private lastHeard: number;
  /** the leader's committed point named by DIFF, TRUNC or SNAP: our log up to it is history */
  private committedPoint = -1;
  /** last zxid received before NEWLEADER */
  private syncEnd = -1;
  private newLeaderAcked = false;
  /** COMMITs (or INFORMs) received before UPTODATE */
  private readonly committedInSync: number[] = [];
  /** proposals to ack once durable (and NEWLEADER is acked) */
  private readonly toAck: number[] = [];
  /** txns received after NEWLEADER, logged once currentEpoch is written */
  private held: Txn[] = [];
  /** this peer's clients' syncs, answered by the leader in order */
  private readonly syncs: unknown[] = [];
  /** sessions reattaching here, asked of the leader and not answered yet (how many asks each) */
  private readonly revalidating = new Map<bigint, number>();

  constructor(
    private readonly ctx: PeerContext,
    readonly leader: number,
    readonly observer: boolean,
  ) {
    this.lastHeard = ctx.tick;
    ctx.out.send(leader, { type: 'learnerInfo', acceptedEpoch: ctx.epochs.accepted, observer });
  }

  get serving(): boolean {
    return this.phase === 'serving';
  }

  private fail(why: string): void {
    this.ctx.stepDown(why);
  }

  /** The role is over: later calls do nothing. */
  stop(): void {
    // Txns held for currentEpoch never went to the log: the history ends where the log does.
    if (this.held.length > 0) this.ctx.history.truncate(this.syncEnd);
    this.held = [];
    this.phase = 'stopped';
  }

  step(from: number, msg: ZabMessage): void {
    if (from !== this.leader || this.phase === 'stopped') return;
    this.lastHeard = this.ctx.tick;
    const h = this.ctx.history;
    const out = this.ctx.out;
    switch (msg.type) {
      case 'leaderInfo':
        return this.leaderInfo(msg.epoch);
      case 'diff':
      case 'trunc':
      case 'snap':
        if (this.phase !== 'sync' || this.committedPoint >= 0) return this.fail(`${msg.type} out of turn`);
        if (msg.type === 'trunc') {
          h.truncate(msg.zxid);
          out.truncate(msg.zxid);
        } else if (msg.type === 'snap') {
          h.restore(msg.zxid);
        }
        this.committedPoint = msg.zxid;
        out.note(`syncing with leader ${this.leader} by ${msg.type.toUpperCase()} at ${zxidHex(msg.zxid)}`);
        return;
      case 'proposal':
        if (this.beforeSync()) return this.fail('proposal before the sync began');
        if (msg.txn.hdr.zxid <= h.lastAppended) return this.fail(`proposal ${zxidHex(msg.txn.hdr.zxid)} does not follow ${zxidHex(h.lastAppended)}`);
        this.log(msg.txn);
        if (!this.observer) this.toAck.push(msg.txn.hdr.zxid);
        if (this.newLeaderAcked) this.ackDurable();
        return;
      case 'commit':
        return this.commit(msg.zxid);
      case 'inform':
        if (!this.observer) return this.fail('INFORM sent to a follower');
        if (this.beforeSync()) return this.fail('INFORM before the sync began');
        if (msg.txn.hdr.zxid <= h.lastAppended) return; // already had it from the sync
        this.log(msg.txn);
        return this.commit(msg.txn.hdr.zxid);
      case 'newLeader':
        if (this.phase !== 'sync' || this.committedPoint < 0 || epochOf(msg.zxid) !== this.epoch) return this.fail('NEWLEADER out of turn');
        this.syncEnd = h.lastAppended;
        this.phase = 'newLeader';
        return this.persisted();
      case 'upToDate':
        return this.upToDate();
      case 'ping':
        // Not while syncing: a ZooKeeper leader takes anything but the ACK after NEWLEADER as an error.
        if (this.phase === 'serving') out.send(this.leader, { type: 'ping', zxid: msg.zxid, sessions: [...this.ctx.touches()] });
        return;
      case 'sync': {
        if (this.syncs.length === 0) return this.fail('SYNC with no sync pending');
        out.syncDone(this.syncs.shift());
        return;
      }
      case 'revalidated': {
        // ZooKeeper's learner only warns of an answer it did not ask for; so does this one.
        const asked = this.revalidating.get(msg.sessionId);
        if (asked === undefined) return out.note(`REVALIDATE answer for session 0x${BigInt.asUintN(64, msg.sessionId).toString(16)}, which was not asked about`);
        if (asked > 1) this.revalidating.set(msg.sessionId, asked - 1);
        else this.revalidating.delete(msg.sessionId);
        out.revalidated(msg.sessionId, msg.valid);
        return;
      }
      default:
        return this.fail(`unexpected ${msg.type} from the leader`);
    }
  }

  /** A txn from the leader into the history, and to the log unless it must wait for currentEpoch. */
  private log(txn: Txn): void {
    this.ctx.history.append(txn);
    if (this.phase === 'newLeader' && !this.newLeaderAcked) this.held.push(txn);
    else this.ctx.out.append(txn);
  }

  /** No DIFF, TRUNC or SNAP yet on this connection: a txn now is out of turn (a stale packet, or a broken leader). */
  private beforeSync(): boolean {
    return this.phase === 'connecting' || (this.phase === 'sync' && this.committedPoint < 0);
  }

  private leaderInfo(epoch: number): void {
    if (this.phase !== 'connecting') return this.fail('LEADERINFO out of turn');
    const { accepted, current } = this.ctx.epochs;
    if (epoch < accepted) return this.fail(`leader ${this.leader} proposes epoch ${epoch}, older than our accepted epoch ${accepted}`);
    if (epoch > accepted) setEpochs(this.ctx, { accepted: epoch });
    this.epoch = epoch;
    this.phase = 'sync';
    this.ctx.out.send(this.leader, { type: 'ackEpoch', currentEpoch: epoch > accepted ? current : -1, lastZxid: this.ctx.history.lastAppended });
  }

  private commit(zxid: number): void {
    if (this.phase !== 'serving') {
      // Part of the sync: applied at UPTODATE. A PROPOSAL+COMMIT pair needs no ack.
      this.committedInSync.push(zxid);
      const i = this.toAck.indexOf(zxid);
      if (i >= 0) this.toAck.splice(i, 1);
      return;
    }
    this.applyCommitted(zxid);
  }

  /** Apply the txn the leader committed: it must be the next one we hold. */
  private applyCommitted(zxid: number): void {
    const h = this.ctx.history;
    const txn = h.takeNext(zxid);
    if (!txn) {
      return this.fail(`commit of ${zxidHex(zxid)}, but the next pending txn is ${h.pending.size > 0 ? zxidHex(h.pending.firstZxid()) : 'none'}`);
    }
    this.ctx.out.commit(txn);
  }

  private upToDate(): void {
    if (this.phase !== 'newLeader' || !this.newLeaderAcked) return this.fail('UPTODATE out of turn');
    const h = this.ctx.history;
    for (const txn of h.takeForApply(this.committedPoint)) this.ctx.out.commit(txn);
    this.phase = 'serving';
    for (const zxid of this.committedInSync) {
      if (zxid > h.lastApplied) this.applyCommitted(zxid);
      if (this.phase !== 'serving') return; // that commit failed the role
    }
    this.committedInSync.length = 0;
    this.ctx.out.role({ role: this.observer ? 'observing' : 'following', leader: this.leader, epoch: this.epoch, serving: true });
    // ZooKeeper's learners ack UPTODATE; its leader ignores that ack, as ours does.
    this.ctx.out.send(this.leader, { type: 'ack', zxid: makeZxid(this.epoch, 0) });
  }

  persisted(): void {
    if (this.phase === 'stopped') return;
    const h = this.ctx.history;
    if (this.phase === 'newLeader' && !this.newLeaderAcked && h.lastPersisted >= this.syncEnd) {
      // In one Ready: currentEpoch is durable before the held txns are logged and before the ack leaves.
      setEpochs(this.ctx, { current: this.epoch });
      this.newLeaderAcked = true;
      for (const txn of this.held) this.ctx.out.append(txn);
      this.held = [];
      this.ctx.out.send(this.leader, { type: 'ack', zxid: makeZxid(this.epoch, 0) });
    }
    if (this.newLeaderAcked) this.ackDurable();
  }

  private ackDurable(): void {
    const h = this.ctx.history;
    const durable = this.ctx.settings.sabotage === 'ackBeforeFsync' ? h.lastAppended : h.lastPersisted;
    while (this.toAck.length > 0 && this.toAck[0]! <= durable) this.ctx.out.send(this.leader, { type: 'ack', zxid: this.toAck.shift()! });
  }

  tick(): void {
    if (this.phase === 'stopped') return;
    const { tick, settings } = this.ctx;
    const limit = this.newLeaderAcked ? settings.syncLimit : settings.initLimit;
    if (tick - this.lastHeard > limit) this.fail(`leader ${this.leader} silent for ${tick - this.lastHeard} ticks (limit ${limit})`);
  }

  disconnected(peer: number): void {
    if (peer === this.leader) this.fail(`connection to leader ${this.leader} lost`);
  }

  /** Hand a client's write to the leader; false until this learner serves. */
  forward(request: ForwardedRequest): boolean {
    if (!this.serving) return false;
    this.ctx.out.send(this.leader, { type: 'request', request });
    return true;
  }

  /**
   * A client reattaches its session here: ask the leader, which owns the
   * sessions, whether it is alive (Ready.revalidated brings the answer).
   * False until this learner serves. An ask the leader never answers ends with
   * the role: the leader falls silent and the learner stops serving.
   */
  revalidate(sessionId: bigint, timeout: number): boolean {
    if (!this.serving) return false;
    this.revalidating.set(sessionId, (this.revalidating.get(sessionId) ?? 0) + 1);
    this.ctx.out.send(this.leader, { type: 'revalidate', sessionId, timeout });
    return true;
  }

  /** A client's sync: done once the leader's SYNC comes back, after every commit before it. */
  sync(token: unknown, request: ForwardedRequest): boolean {
    if (!this.serving || request.op !== OpCode.sync) return false;
    this.syncs.push(token);
    this.ctx.out.send(this.leader, { type: 'request', request });
    return true;
  }
}
