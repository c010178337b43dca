// Back-pressure across the server's connections, so that no client can take
// memory or service from the others (ZooKeeper's globalOutstandingLimit and
// ServerCnxn.incr/decrOutstandingAndCheckThrottle, plus a bound on each
// connection's unsent bytes that ZooKeeper does not have).
//
// Rules checked by a connection before it takes its next request:
//  - while the server has `outstandingLimit` or more requests in flight, a
//    connection that has some of them stops being read until the count drops
//    (counted in `throttled`);
//  - while a connection has `pauseAt` or more bytes of replies and
//    notifications not yet taken by the socket, it stops being read until its
//    socket drains (counted in `throttled`);
//  - while a connection has requests in flight, it takes only writes, up to
//    `pauseAt` bytes of them: a read would wait in the pipeline for the
//    session's writes anyway, and then all such reads would answer at once,
//    past the output bound (connection.ts, mustWait).
// Requests not taken stay in the socket (the kernel's buffers, then the peer's),
// never in the server's memory as replies. Notifications cannot wait: a
// connection whose unsent bytes would pass `disconnectAt` is dropped (its
// session lives on, and the client re-registers its watches on reconnect), as
// is one whose output stays blocked for its whole session timeout.

/** Unsent bytes at which a connection stops being read. */
export const PAUSE_AT = 1 << 20;
/** Replies are written to the socket in batches of about this many bytes. */
export const WRITE_BATCH = 64 << 10;

export class FlowControl {
  /** requests handed to the pipeline and not answered yet, over all connections */
  outstanding = 0;
  /** how many times a connection stopped being read for the server's limit or its own unsent output */
  throttled = 0;
  /** connections dropped because their unsent output passed the bound or stayed blocked */
  backpressureDisconnects = 0;
  readonly pauseAt = PAUSE_AT;
  /** room for a reply of maxBuffer on top of pauseAt, and as much again for notifications */
  readonly disconnectAt: number;
  private readonly waiting = new Set<() => void>();

  constructor(
    readonly outstandingLimit: number,
    maxBuffer: number,
  ) {
    this.disconnectAt = PAUSE_AT + 2 * maxBuffer;
  }

  get overLimit(): boolean {
    return this.outstanding >= this.outstandingLimit;
  }

  /** A request was handed to the pipeline. */
  issued(): void {
    this.outstanding++;
  }

  /** `n` requests were answered (or dropped with their connection); wake throttled connections once under the limit. */
  answered(n = 1): void {
    this.outstanding -= n;
    if (this.waiting.size === 0 || this.overLimit) return;
    const resume = [...this.waiting];
    this.waiting.clear();
    for (const f of resume) f();
  }

  /** Run `resume` once the server is under its outstanding limit again. */
  waitForRoom(resume: () => void): void {
    this.waiting.add(resume);
  }

  forget(resume: () => void): void {
    this.waiting.delete(resume);
  }
}
