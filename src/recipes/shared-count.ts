// A shared integer, mirroring Curator's SharedCount: the node at `path` holds a 32-bit big-endian integer (the
// same bytes as Curator's, so both can share a counter). Every client keeps the last value it saw with the node's
// version (getCount, getVersionedValue), kept current by a persistent watch (set before the first read) and a
// re-read at every reconnect, and hears each change it sees as 'change' (or through changes()). trySetCount is a
// compare-and-set on the version, setCount a plain set, increment() a compare-and-set loop that retries on
// BadVersion until its own add lands.
//
// Invariants:
//  - Writes are applied exactly once across ConnectionLoss (commitOnce, receipt.ts): a compare-and-set whose reply
//    was lost says true when it was applied, where Curator's would say false or be retried into a BadVersion, so
//    concurrent increments sum exactly. Receipts are children of the counter's node, gone once a write is done.
//  - The cached value only moves forward (a higher version); 'change' is emitted once per version seen. A client
//    may skip versions that were overwritten before it read them, as with Curator.
//  - After an expired session the counter's requests reject with SessionExpiredError and changes() ends with it.

import { EventEmitter } from 'node:events';
import { BadVersionError, NodeExistsError, SessionExpiredError } from '../client/errors.ts';
import { EventStream } from '../client/event-stream.ts';
import { op } from '../client/ops.ts';
import type { WatchEvent } from '../client/watches.ts';
import { validatePath, type CallOptions, type ZooKeeper } from '../client/zookeeper.ts';
import { ensureContainers, retrying } from './contenders.ts';
import { commitOnce } from './receipt.ts';

export interface VersionedValue {
  value: number;
  /** the node's data version this value was read at (or written as) */
  version: number;
}

interface CountEvents {
  /** a newer value was seen (written here or elsewhere) */
  change: [number];
  /** no more changes will be seen: close() was called (no reason) or the session ended (the reason) */
  closed: [Error | undefined];
}

function encode(count: number): Buffer {
  if (!Number.isInteger(count) || count < -(2 ** 31) || count >= 2 ** 31) throw new RangeError(`shared count: ${count} is not a 32-bit integer`);
  const bytes = Buffer.alloc(4);
  bytes.writeInt32BE(count);
  return bytes;
}

export class SharedCount extends EventEmitter<CountEvents> {
  private current: VersionedValue | undefined;
  private readonly closing = new AbortController();
  private readonly onState: () => void;

  constructor(
    readonly zk: ZooKeeper,
    readonly path: string,
    /** the value the node is created with when it does not exist yet */
    readonly seed = 0,
  ) {
    super();
    validatePath(path);
    encode(seed);
    this.onState = () => {
      if (zk.state === 'Connected') void this.refresh().catch(() => undefined); // changes missed while away
    };
  }

  /** Create the node with the seed unless it exists, read it, and follow its changes until close(). */
  async start(options: CallOptions = {}): Promise<void> {
    if (this.current) throw new Error(`shared count ${this.path} cannot be started twice`);
    const { signal } = options;
    await ensureContainers(this.zk, this.path.slice(0, this.path.lastIndexOf('/')) || '/', signal);
    await retrying(this.zk, signal, () => this.zk.create(this.path, encode(this.seed), { signal })).catch((e: unknown) => {
      if (!(e instanceof NodeExistsError)) throw e;
    });
    // The watch first, then the read: a change between the two is then seen either way.
    await retrying(this.zk, signal, () => this.zk.addWatch(this.path, this.onEvent, 'persistent', { signal }));
    await this.refresh(signal);
    this.zk.on('state', this.onState);
  }

  /** the last value seen */
  getCount(): number {
    return this.seen().value;
  }

  /** the last value seen, with its version: what trySetCount compares with */
  getVersionedValue(): VersionedValue {
    return { ...this.seen() };
  }

  /** Set the value if the node is still at `previous.version`; false (nothing written) when it moved on. */
  async trySetCount(previous: VersionedValue, count: number, options: CallOptions = {}): Promise<boolean> {
    try {
      const results = await commitOnce(this.zk, this.path, [op.setData(this.path, encode(count), previous.version)], options.signal);
      const stat = results?.[0]?.type === 'setData' ? results[0].stat : undefined;
      this.saw({ value: count, version: stat?.version ?? previous.version + 1 });
      return true;
    } catch (e) {
      if (e instanceof BadVersionError) return false;
      throw e;
    }
  }

  /** Set the value whatever it is. */
  async setCount(count: number, options: CallOptions = {}): Promise<void> {
    const results = await commitOnce(this.zk, this.path, [op.setData(this.path, encode(count))], options.signal);
    if (results?.[0]?.type === 'setData') this.saw({ value: count, version: results[0].stat.version });
  }

  /** Add `delta` (compare-and-set, again on each BadVersion); resolves to the value this add produced. */
  async increment(delta = 1, options: CallOptions = {}): Promise<number> {
    for (;;) {
      const now = await this.read(options.signal);
      if (await this.trySetCount(now, now.value + delta, options)) return now.value + delta;
    }
  }

  /** The values seen from now on, as an async iterator; it ends at close() (or throws when the session expires). */
  changes(options: { signal?: AbortSignal } = {}): AsyncIterableIterator<number> {
    const { signal } = options;
    const push = (value: number) => stream.push(value);
    const onAbort = () => stream.end(signal!.reason);
    const onClosed = (reason?: Error) => stream.end(reason);
    const stream = new EventStream<number>(async () => {
      this.off('change', push).off('closed', onClosed);
      signal?.removeEventListener('abort', onAbort);
    });
    this.on('change', push).on('closed', onClosed);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (this.closing.signal.aborted) stream.end();
    return stream;
  }

  /** Stop following changes (the node stays). Idempotent. */
  close(): void {
    this.end(undefined);
  }

  private end(reason: Error | undefined): void {
    if (this.closing.signal.aborted) return;
    this.zk.off('state', this.onState);
    if (!reason) void this.zk.removeWatches(this.path, 'persistent', { watcher: this.onEvent, local: true }).catch(() => undefined);
    this.closing.abort();
    this.emit('closed', reason);
  }

  private seen(): VersionedValue {
    if (!this.current) throw new Error(`shared count ${this.path} is not started`);
    return this.current;
  }

  private saw(value: VersionedValue): void {
    if (this.current && value.version <= this.current.version) return;
    const first = !this.current;
    this.current = value;
    if (!first) this.emit('change', value.value);
  }

  private async read(signal?: AbortSignal): Promise<VersionedValue> {
    const { data, stat } = await retrying(this.zk, signal, () => this.zk.getData(this.path, { signal }));
    if (data.length < 4) throw new RangeError(`shared count ${this.path} holds ${data.length} bytes, not a 32-bit integer`);
    return { value: data.readInt32BE(0), version: stat.version };
  }

  private async refresh(signal?: AbortSignal): Promise<void> {
    this.saw(await this.read(signal));
  }

  /** The persistent watch's events: re-read on every change of the node's data; stop at the session's end. */
  private readonly onEvent = (event: WatchEvent): void => {
    if (event.state === 'Expired') this.end(new SessionExpiredError(this.path));
    // a failed read (ConnectionLoss) is made good by the re-read at the reconnect
    else if (event.type === 'NodeDataChanged' || event.type === 'NodeCreated') void this.refresh().catch(() => undefined);
  };
}

/** A shared count at `path` (created with `seed` if missing): `const c = sharedCount(zk, '/counters/jobs'); await c.start()`. */
export const sharedCount = (zk: ZooKeeper, path: string, seed?: number): SharedCount => new SharedCount(zk, path, seed);
