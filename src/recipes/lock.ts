// A distributed mutex, mirroring Curator's InterProcessMutex: `lock(zk, '/locks/job').acquire()` / `.release()`;
// and a read-write lock, mirroring InterProcessReadWriteLock: `readWriteLock(zk, path)` gives a `readLock` and a
// `writeLock`, two Locks queueing on the same path.
//
// Design: each acquisition creates a protected ephemeral-sequential child `_c_<uuid>-lock-NNNNNNNNNN` of the lock
// path (see contenders.ts; `__READ__` / `__WRITE__` for a read-write lock); the lowest sequence holds the lock,
// every other contender watches only its predecessor and re-checks when it goes (no herd). A reader waits only for
// the nearest writer before it, so readers hold together while no writer is ahead of them. A create whose reply
// was lost is found again by its uuid.
//
// Invariants:
//  - `held` is true only between an acquire() that resolved and the first of: release(), or the session leaving
//    the Connected state. A Disconnected session may be expired on the server (and the node gone) before the
//    client can know, so the holder stops believing at once, as Curator's standard ConnectionStateErrorPolicy
//    treats SUSPENDED: the 'lost' event fires and the signal acquire() resolved to aborts. The node is then
//    deleted as soon as the session is back (or goes with the session), so a lost lock is a released one.
//  - A waiter keeps its place across Disconnected (its node lives as long as the session) and re-checks on
//    reconnect; it stops only at its timeout/abort (its node is withdrawn) or when the session is final
//    (SessionExpiredError). It never waits forever on a watch that cannot fire.
//  - One acquisition at a time per Lock object (not reentrant, unlike Curator's per-thread reentrancy): a second
//    acquire() while acquiring or holding rejects.

import { EventEmitter } from 'node:events';
import { validatePath, type ZooKeeper } from '../client/zookeeper.ts';
import { changeOf, contenders, createProtected, Hold, protectionTag, waitSignal, whenConnected, withdraw } from './contenders.ts';

/** How a lock queues: the names of its nodes, and which node one at `at` of the sorted `queue` waits for (none: it holds). */
export interface Queueing {
  prefix: string;
  /** every prefix of the queue's nodes (a read-write lock's readers and writers queue together) */
  queue: string[];
  blocker(queue: string[], at: number): string | undefined;
}

const predecessor = (queue: string[], at: number): string | undefined => queue[at - 1];
const MUTEX: Queueing = { prefix: 'lock-', queue: ['lock-'], blocker: predecessor };
const READ = '__READ__';
const WRITE = '__WRITE__';
const WRITER: Queueing = { prefix: WRITE, queue: [READ, WRITE], blocker: predecessor };
const READER: Queueing = {
  prefix: READ,
  queue: [READ, WRITE],
  blocker: (queue, at) => queue.slice(0, at).findLast((name) => name.slice(0, -10).endsWith(WRITE)),
};

export interface AcquireOptions {
  /** give up (rejecting with the signal's reason) when it aborts */
  signal?: AbortSignal;
  /** give up after this many ms, rejecting with a TimeoutError (DOMException) */
  timeoutMs?: number;
}

interface LockEvents {
  /** the lock is no longer held, though release() was not called: the connection was lost or the session ended */
  lost: [Error];
}

export class Lock extends EventEmitter<LockEvents> {
  private acquiring = false;
  /** the current or last hold */
  private hold: Hold | undefined;
  /** the withdrawal of the node of the last acquire given up (timeout, abort, error) */
  private abandoned: Promise<void> = Promise.resolve();

  constructor(
    readonly zk: ZooKeeper,
    readonly path: string,
    /** a mutex by default; readWriteLock() passes its reader's and writer's */
    private readonly queueing: Queueing = MUTEX,
    /** stored in this object's nodes (a leader selector's participant id) */
    private readonly nodeData?: Buffer,
  ) {
    super();
    validatePath(path);
  }

  /** true while this object holds the lock (see the invariants above) */
  get held(): boolean {
    return this.hold?.held ?? false;
  }

  /**
   * Wait until this client holds the lock. Resolves to a signal that aborts when the hold ends (release, or the
   * lock is lost; the reason says which), to pass to the work done under the lock.
   */
  async acquire(options: AcquireOptions = {}): Promise<AbortSignal> {
    if (this.acquiring || this.held) throw new Error(`lock ${this.path} is already ${this.held ? 'held' : 'being acquired'} by this object`);
    const signal = waitSignal(options);
    const tag = protectionTag();
    this.acquiring = true;
    try {
      const mine = await createProtected(this.zk, this.path, tag, this.queueing.prefix, this.nodeData, signal);
      for (;;) {
        const queue = await contenders(this.zk, this.path, this.queueing.queue, signal);
        const at = queue.indexOf(mine);
        if (at < 0) throw new Error(`lock ${this.path}: node ${mine} disappeared while waiting (deleted by someone else?)`);
        const blocker = this.queueing.blocker(queue, at);
        if (blocker === undefined) {
          if (this.zk.state !== 'Connected') {
            await whenConnected(this.zk, signal);
            continue;
          }
          this.hold = new Hold(this.zk, this.path, tag, `lock ${this.path}`, (reason) => this.emit('lost', reason));
          return this.hold.signal;
        }
        await changeOf(this.zk, `${this.path}/${blocker}`, signal);
      }
    } catch (e) {
      this.abandoned = withdraw(this.zk, this.path, tag);
      throw e;
    } finally {
      this.acquiring = false;
    }
  }

  /**
   * Give the lock up: resolves once its node is deleted, and that of an acquire given up (or the session is final).
   * A no-op when not held (after a loss too).
   */
  async release(): Promise<void> {
    if (this.acquiring) throw new Error(`lock ${this.path} is being acquired, not held: abort the acquire instead`);
    await Promise.all([this.hold?.end(new Error(`lock ${this.path} released`)), this.abandoned]);
  }
}

/** A mutex at `path` (created as a container if missing) for this session: `await lock(zk, '/locks/a').acquire()`. */
export const lock = (zk: ZooKeeper, path: string): Lock => new Lock(zk, path);

/**
 * A read-write lock at `path`: any number of `readLock` holders together, or one `writeLock` holder, in queue
 * order (a reader behind a waiting writer waits for it, so writers are not starved). Not reentrant, so no
 * downgrade as Curator allows: a write holder asking for the read lock would wait for itself until its timeout.
 */
export const readWriteLock = (zk: ZooKeeper, path: string): { readLock: Lock; writeLock: Lock } => ({
  readLock: new Lock(zk, path, READER),
  writeLock: new Lock(zk, path, WRITER),
});
