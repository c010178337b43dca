// Group commit: txns are handed to a log as they come, and one flush (one
// fsync) makes every txn appended before it durable. The first append after a
// flush schedules the next flush for the end of the current I/O turn, so the
// rest of that turn's txns join it. ZooKeeper's SyncRequestProcessor batches
// the same way (it flushes when its queue runs dry).
//
// Invariants: `durable(zxid)` is reported in increasing zxid order, only for
// zxids whose flush completed, and never for a log that was replaced since
// (reset()); after a failed flush nothing more is reported.

import type { Txn } from '../proto/txn.ts';

/** What group commit writes to: a transaction log. */
export interface AppendLog {
  append(txn: Txn): void;
  /** Make everything appended so far durable. */
  flush(): Promise<void>;
}

export class GroupCommit {
  private appended: number;
  private flushed: number;
  private flushing = false;
  /** bumped by reset(): a flush of a replaced log reports nothing */
  private generation = 0;

  constructor(
    private log: AppendLog,
    /** the last zxid already durable in `log` */
    at: number,
    private readonly durable: (zxid: number) => void,
    private readonly failed: (e: Error) => void,
  ) {
    this.appended = this.flushed = at;
  }

  get lastAppended(): number {
    return this.appended;
  }

  append(txn: Txn): void {
    this.log.append(txn);
    this.appended = txn.hdr.zxid;
    if (this.flushing) return;
    this.flushing = true;
    const generation = this.generation;
    setImmediate(() => void this.flushLoop(generation));
  }

  private async flushLoop(generation: number): Promise<void> {
    while (this.appended > this.flushed && generation === this.generation) {
      const upTo = this.appended;
      try {
        await this.log.flush();
      } catch (e) {
        if (generation === this.generation) this.failed(e as Error);
        return; // nothing in this batch or after it is reported durable
      }
      if (generation !== this.generation) return;
      this.flushed = upTo;
      this.durable(upTo);
    }
    if (generation === this.generation) this.flushing = false;
  }

  /** The log was cut or replaced (TRUNC, SNAP): continue on `log`, durable up to `at`. */
  reset(log: AppendLog, at: number): void {
    this.generation++;
    this.log = log;
    this.flushing = false;
    this.appended = this.flushed = at;
  }
}
