// One peer's view of its transaction log, as the Zab core needs it: how far the
// log reaches (appended, durable, applied), the zxids it holds since `logStart`
// (to choose DIFF, TRUNC or SNAP for a learner and to tell whether a learner's
// last zxid is in this history), and the txns appended but not yet applied.
// ZooKeeper keeps the same facts in ZKDatabase (committedLog, minCommittedLog,
// maxCommittedLog) and FileTxnSnapLog.
//
// Invariants (asserted):
// - lastApplied <= lastPersisted <= lastAppended is NOT required: a learner may
//   apply a txn the quorum committed before its own fsync finishes. What holds:
//   lastApplied <= lastAppended and lastPersisted <= lastAppended.
// - zxids strictly increase; `pending` holds exactly the logged txns with
//   lastApplied < zxid <= lastAppended that this process knows the body of.
// - the zxid window is bounded: past `maxWindow` zxids the oldest are forgotten
//   and `logStart` moves up (a learner older than that gets a SNAP); so it
//   does when the runtime purged the log files before a snapshot (forgetBefore).

import type { Txn } from '../proto/txn.ts';
import { zxidHex } from '../zxid.ts';
import { ZxidQueue } from './zxid-queue.ts';

export interface HistoryInit {
  /** the zxid the log continues from: the snapshot's, or 0 */
  logStart: number;
  /** zxids of the logged txns after logStart, ascending (all applied at load) */
  logged: readonly number[];
  maxWindow?: number;
}

export class History {
  logStart: number;
  lastAppended: number;
  lastPersisted: number;
  lastApplied: number;
  /** appended, not yet applied, in zxid order */
  readonly pending = new ZxidQueue<Txn>();
  private zxids: number[];
  private head = 0;
  private readonly maxWindow: number;

  constructor(init: HistoryInit) {
    this.maxWindow = init.maxWindow ?? 1_000_000;
    this.logStart = init.logStart;
    this.zxids = [];
    for (const z of init.logged) this.remember(z);
    this.lastAppended = this.lastPersisted = this.lastApplied = this.last();
  }

  private last(): number {
    return this.head < this.zxids.length ? this.zxids[this.zxids.length - 1]! : this.logStart;
  }

  private remember(zxid: number): void {
    if (!(zxid > this.last())) throw new Error(`zab: zxid ${zxidHex(zxid)} does not follow ${zxidHex(this.last())}`);
    this.zxids.push(zxid);
    if (this.zxids.length - this.head > this.maxWindow) {
      this.logStart = this.zxids[this.head++]!;
      if (this.head > this.maxWindow) {
        this.zxids = this.zxids.slice(this.head);
        this.head = 0;
      }
    }
  }

  append(txn: Txn): void {
    this.remember(txn.hdr.zxid);
    this.lastAppended = txn.hdr.zxid;
    this.pending.push(txn.hdr.zxid, txn);
  }

  persisted(zxid: number): void {
    if (zxid > this.lastAppended) throw new Error(`zab: persisted ${zxidHex(zxid)} beyond the last appended ${zxidHex(this.lastAppended)}`);
    if (zxid > this.lastPersisted) this.lastPersisted = zxid;
  }

  /** Take the pending txns with zxid <= upTo for applying, in order. */
  takeForApply(upTo: number): Txn[] {
    const out: Txn[] = [];
    while (this.pending.size > 0 && this.pending.firstZxid() <= upTo) {
      this.lastApplied = this.pending.firstZxid();
      out.push(this.pending.shift());
    }
    return out;
  }

  /** Take the next pending txn for applying if it is `zxid`'s; null when the next one is another, or none is pending. */
  takeNext(zxid: number): Txn | null {
    if (this.pending.size === 0 || this.pending.firstZxid() !== zxid) return null;
    this.lastApplied = zxid;
    return this.pending.shift();
  }

  /** Whether `zxid` is a point of this history: a logged zxid in the window, or logStart itself. */
  contains(zxid: number): boolean {
    if (zxid === this.logStart) return true;
    const i = this.search(zxid);
    return i < this.zxids.length && this.zxids[i] === zxid;
  }

  /** The largest point of this history below `zxid`, or null when it is older than the window. */
  below(zxid: number): number | null {
    if (zxid <= this.logStart) return null;
    const i = this.search(zxid);
    return i > this.head ? this.zxids[i - 1]! : this.logStart;
  }

  /** index of the first zxid >= z in the window */
  private search(z: number): number {
    let lo = this.head;
    let hi = this.zxids.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.zxids[mid]! < z) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Forget every txn after `zxid` (TRUNC); the runtime cuts the log and, if it had applied beyond, rebuilds. */
  truncate(zxid: number): void {
    while (this.zxids.length > this.head && this.zxids[this.zxids.length - 1]! > zxid) this.zxids.pop();
    this.pending.dropAfter(zxid);
    const last = this.last();
    this.lastAppended = last;
    this.lastPersisted = Math.min(this.lastPersisted, last);
    this.lastApplied = Math.min(this.lastApplied, last);
  }

  /**
   * The log files before a snapshot at `zxid` were purged: the history now
   * starts at its last point at or before `zxid` (every logged txn after that
   * point is still on disk), and an older learner gets a SNAP.
   */
  forgetBefore(zxid: number): void {
    if (zxid > this.lastApplied) throw new Error(`zab: forgetting the log before ${zxidHex(zxid)}, beyond the last applied ${zxidHex(this.lastApplied)}`);
    while (this.head < this.zxids.length && this.zxids[this.head]! <= zxid) this.logStart = this.zxids[this.head++]!;
    this.zxids = this.zxids.slice(this.head);
    this.head = 0;
  }

  /** The state was replaced by a snapshot at `zxid` (SNAP): nothing before it is known any more. */
  restore(zxid: number): void {
    this.zxids = [];
    this.head = 0;
    this.pending.clear();
    this.logStart = this.lastAppended = this.lastPersisted = this.lastApplied = zxid;
  }
}
