// A tree cache, mirroring Curator's CuratorCache: every node of the subtree at `path` (the root included) with
// its data and Stat, kept up to date by ONE persistent recursive watch on the root (addWatch
// PERSISTENT_RECURSIVE), with 'change' events (created / changed / deleted, carrying the old and the new node).
//
// How it stays right: the watch is armed before anything is read, so every change made after that point sends
// an event for the changed node itself (a recursive watch sees each create, setData and delete below it). An
// event only marks its path dirty; one worker reads dirty paths in batches, pipelined on the session's one
// connection, and applies the replies in the order it sent the requests (the server answers them in that order).
// So a node's cached value always comes from the latest read of it, and that read was sent after the latest
// event for it: once events stop, the cache equals the tree. A read finding no node removes the node and
// everything cached below it (no node can outlive its parent).
//
// Reconnects: the client re-arms the watch with setWatches2, but ZooKeeper (3.8's DataTree.setWatches, and
// Paddock alike) sends no events for persistent watches about what changed while disconnected. So after every
// reconnect the cache walks the whole subtree again, level by level (data and children of each node), and emits
// the differences, as Curator's CuratorCache rebuilds when its PersistentWatcher is reset. The walk's reads go
// after setWatches2 on the new connection, so nothing falls between them.
//
// Session end: Expired (or Closed, AuthFailed) is final for a ZooKeeper object and its watch, so the cache stops
// following the tree ('stopped' with the reason) and keeps its last contents; `resume(newSession)` follows the
// tree again through another session: it arms the watch there, walks the tree and emits what changed meanwhile.
//
// The Stat of a node is the one read with its data: the children fields (cversion, numChildren, pzxid) are as of
// that read, since a recursive watch sends no NodeChildrenChanged (Curator's cache is the same). Nodes the
// session may not read (NoAuth) are left out, with a 'readError'.

import { EventEmitter } from 'node:events';
import { AuthFailedError, ConnectionLossError, NoNodeError, SessionExpiredError, ZooKeeperError } from '../client/errors.ts';
import { EventStream } from '../client/event-stream.ts';
import type { WatchEvent } from '../client/watches.ts';
import { validatePath, type SessionState, type ZooKeeper } from '../client/zookeeper.ts';
import type { Stat } from '../proto/records.ts';

export interface CachedNode {
  path: string;
  data: Buffer;
  stat: Stat;
}

export type CacheEvent =
  | { type: 'created'; path: string; node: CachedNode }
  | { type: 'changed'; path: string; old: CachedNode; node: CachedNode }
  | { type: 'deleted'; path: string; old: CachedNode };

interface TreeCacheEvents {
  change: [CacheEvent];
  /** the first full load is done (every node present then has had its 'created') */
  initialized: [];
  /** the cache no longer follows the tree: its session ended (SessionExpiredError, AuthFailedError) or its root cannot be watched; resume() follows it again */
  stopped: [Error];
  /** a node could not be read (NoAuth, say) and is left out */
  readError: [Error, string];
  closed: [];
}

export type CacheState = 'LATENT' | 'STARTED' | 'STOPPED' | 'CLOSED';

/** Reads issued at once, at most (a level of a walk is read in slices of this many nodes). */
const BATCH = 500;
const FINAL: ReadonlySet<SessionState> = new Set(['Expired', 'Closed', 'AuthFailed']);

const childPath = (parent: string, name: string): string => (parent === '/' ? `/${name}` : `${parent}/${name}`);
const parentOf = (path: string): string => path.slice(0, path.lastIndexOf('/')) || '/';

type Outcome<T> = { value: T } | { error: unknown };
const outcome = <T>(p: Promise<T>): Promise<Outcome<T>> => p.then((value) => ({ value }), (error: unknown) => ({ error }));

/** One session the cache follows the tree through; `stop` ends it (a resume, close, or the session's end). */
interface Follower {
  zk: ZooKeeper;
  stop: AbortController;
  /** the whole subtree must be walked again (first load, reconnect) */
  walkPending: boolean;
  /** paths whose events arrived and are not yet read again, in arrival order */
  dirty: Set<string>;
  wake: () => void;
}

export class TreeCache extends EventEmitter<TreeCacheEvents> implements Iterable<CachedNode> {
  state: CacheState = 'LATENT';
  /** resolves once the first full load is done; rejects if the cache stops or closes before */
  readonly initialized: Promise<void>;
  private markInitialized!: (e?: Error) => void;
  private isInitialized = false;
  private readonly nodes = new Map<string, CachedNode>();
  /** child names by parent path, for every cached node (also one whose parent is, for a moment, not cached) */
  private readonly childrenOf = new Map<string, Set<string>>();
  private follower: Follower | undefined;

  constructor(
    private zk: ZooKeeper,
    readonly path: string,
  ) {
    super();
    validatePath(path);
    this.initialized = new Promise<void>((resolve, reject) => (this.markInitialized = (e) => (e ? reject(e) : resolve())));
    this.initialized.catch(() => undefined); // a caller that never awaits it must not see an unhandled rejection
  }

  /** Arm the watch and load the subtree; 'created' for every node, then 'initialized'. */
  start(): this {
    if (this.state !== 'LATENT') throw new Error(`tree cache ${this.path} cannot be started twice`);
    this.state = 'STARTED';
    this.follow(this.zk).catch(() => undefined); // its end is told by 'stopped' and `initialized`
    return this;
  }

  /**
   * Follow the tree through `zk` from now on (after 'stopped' when the session expired, or to switch sessions):
   * arm the watch there, walk the tree, emit what changed since. Resolves once that walk is done.
   */
  resume(zk: ZooKeeper): Promise<void> {
    if (this.state === 'LATENT' || this.state === 'CLOSED') throw new Error(`tree cache ${this.path} is ${this.state.toLowerCase()}: ${this.state === 'LATENT' ? 'start() it' : 'make a new one'}`);
    this.state = 'STARTED';
    this.zk = zk;
    return this.follow(zk);
  }

  /** Stop following the tree (the watch is removed) and forget it. Idempotent. */
  async close(): Promise<void> {
    if (this.state === 'CLOSED') return;
    const wasStarted = this.state !== 'LATENT';
    this.state = 'CLOSED';
    const f = this.follower;
    this.follower = undefined;
    if (f) this.unfollow(f);
    this.nodes.clear();
    this.childrenOf.clear();
    this.markInitialized(new Error(`tree cache ${this.path} closed`));
    if (wasStarted) this.emit('closed');
  }

  /** The cached node at `path`, or undefined. */
  get(path: string): CachedNode | undefined {
    return this.nodes.get(path);
  }

  /** Names of the cached children of `path` (unsorted). */
  children(path: string): string[] {
    return [...(this.childrenOf.get(path) ?? [])];
  }

  get size(): number {
    return this.nodes.size;
  }

  /** Every cached node, in no particular order. */
  [Symbol.iterator](): IterableIterator<CachedNode> {
    return this.nodes.values();
  }

  /**
   * The cache's 'change' events as an async iterator, from now on. It ends when the cache is closed or the loop is
   * left; it throws the signal's reason on abort and the reason the cache stopped ('stopped') when it stops.
   */
  events(options: { signal?: AbortSignal } = {}): AsyncIterableIterator<CacheEvent> {
    const { signal } = options;
    const stream = new EventStream<CacheEvent>(async () => {
      this.off('change', onChange).off('stopped', onStopped).off('closed', onClosed);
      signal?.removeEventListener('abort', onAbort);
    });
    const onChange = (e: CacheEvent) => stream.push(e);
    const onStopped = (reason: Error) => stream.end(reason);
    const onClosed = () => stream.end();
    const onAbort = () => stream.end(signal!.reason);
    this.on('change', onChange).on('stopped', onStopped).on('closed', onClosed);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort();
    else if (this.state === 'CLOSED') onClosed();
    return stream;
  }

  // ---- following the tree ----

  /** Follow through `zk` until stopped; resolves after the first walk on it (rejects if it stops before). */
  private follow(zk: ZooKeeper): Promise<void> {
    if (this.follower) this.unfollow(this.follower);
    const f: Follower = { zk, stop: new AbortController(), walkPending: true, dirty: new Set(), wake: () => undefined };
    this.follower = f;
    return new Promise<void>((resolve, reject) => void this.run(f, resolve, reject));
  }

  private unfollow(f: Follower): void {
    f.stop.abort();
    f.wake();
  }

  private async run(f: Follower, walked: () => void, failed: (e: Error) => void): Promise<void> {
    const { zk, stop } = f;
    const watcher = (event: WatchEvent) => {
      if (event.state !== 'SyncConnected') return; // the session's end comes as a state too
      f.dirty.add(event.path);
      f.wake();
    };
    const onState = (state: SessionState) => {
      if (state === 'Connected' || state === 'ConnectedReadOnly') f.walkPending = true;
      f.wake();
    };
    zk.on('state', onState);
    let armed = false;
    let reason: Error | undefined;
    try {
      while (!stop.signal.aborted) {
        if (FINAL.has(zk.state)) throw zk.state === 'AuthFailed' ? new AuthFailedError(this.path) : new SessionExpiredError(this.path);
        try {
          if (!armed) {
            await zk.addWatch(this.path, watcher, 'persistentRecursive');
            armed = true;
          } else if (f.walkPending) {
            f.walkPending = false;
            f.dirty.clear(); // the walk reads every node after these events arrived
            await this.walk(f);
            if (stop.signal.aborted) break;
            walked();
            if (!this.isInitialized) {
              this.isInitialized = true;
              this.markInitialized();
              this.emit('initialized');
            }
          } else if (f.dirty.size > 0) {
            const paths = [...f.dirty];
            f.dirty.clear();
            await this.refresh(f, paths);
          } else {
            await new Promise<void>((resolve) => (f.wake = resolve));
          }
        } catch (e) {
          if (!(e instanceof ConnectionLossError)) throw e;
          f.walkPending = true; // whatever changed meanwhile sent no event: read it all again once back
          if (!zk.connected) await new Promise<void>((resolve) => (f.wake = resolve));
        }
      }
    } catch (e) {
      reason = e instanceof Error ? e : new Error(String(e));
    } finally {
      zk.off('state', onState);
      if (armed && !FINAL.has(zk.state)) void zk.removeWatches(this.path, 'persistentRecursive', { watcher, local: true }).catch(() => undefined);
    }
    if (reason && this.follower === f) {
      // the session ended, or the root cannot be watched (NoAuth, say): keep the contents, say why
      this.follower = undefined;
      this.state = 'STOPPED';
      failed(reason);
      this.markInitialized(reason);
      this.emit('stopped', reason);
    } else failed(new Error(`tree cache ${this.path}: stopped following this session`));
  }

  /** Read the whole subtree level by level and apply it; cached nodes not found are removed. */
  private async walk(f: Follower): Promise<void> {
    let level = [this.path];
    while (level.length > 0) {
      const next: string[] = [];
      for (let at = 0; at < level.length; at += BATCH) {
        const slice = level.slice(at, at + BATCH);
        const reads = slice.map((path) => [outcome(f.zk.getData(path)), outcome(f.zk.getChildren(path))] as const);
        for (const [i, path] of slice.entries()) {
          const data = await reads[i]![0];
          const children = await reads[i]![1];
          if (f.stop.signal.aborted) return;
          if (!this.applyRead(path, data)) continue;
          if ('error' in children) {
            if (!this.applyRead(path, children)) continue;
          } else {
            const present = new Set(children.value);
            for (const name of this.children(path)) if (!present.has(name)) this.removeTree(childPath(path, name));
            next.push(...children.value.map((name) => childPath(path, name)));
          }
        }
      }
      level = next;
    }
  }

  /** Read again the nodes whose events arrived (their data only: a recursive watch reports each node's own creation). */
  private async refresh(f: Follower, paths: string[]): Promise<void> {
    for (let at = 0; at < paths.length; at += BATCH) {
      const slice = paths.slice(at, at + BATCH);
      const reads = slice.map((path) => outcome(f.zk.getData(path)));
      for (const [i, path] of slice.entries()) {
        const read = await reads[i]!;
        if (f.stop.signal.aborted) return;
        this.applyRead(path, read);
      }
    }
  }

  /**
   * Apply the outcome of a read of `path`: a node read is stored; NoNode (or an unreadable node) removes it and
   * everything below it; connection loss and a session's end are thrown. Returns whether the node is present.
   */
  private applyRead(path: string, read: Outcome<{ data: Buffer; stat: Stat } | string[]>): boolean {
    if ('error' in read) {
      const e = read.error;
      if (e instanceof ConnectionLossError || e instanceof SessionExpiredError || e instanceof AuthFailedError || !(e instanceof ZooKeeperError)) throw e;
      if (!(e instanceof NoNodeError)) this.emit('readError', e, path);
      this.removeTree(path);
      return false;
    }
    if (!Array.isArray(read.value)) this.put({ path, ...read.value });
    return true;
  }

  private put(node: CachedNode): void {
    const old = this.nodes.get(node.path);
    this.nodes.set(node.path, node);
    if (!old) {
      if (node.path !== this.path) {
        const parent = parentOf(node.path);
        const siblings = this.childrenOf.get(parent) ?? new Set();
        siblings.add(node.path.slice(node.path.lastIndexOf('/') + 1));
        this.childrenOf.set(parent, siblings);
      }
      this.tell({ type: 'created', path: node.path, node });
    } else if (old.stat.mzxid !== node.stat.mzxid) {
      this.tell({ type: 'changed', path: node.path, old, node });
    }
  }

  /** Remove `path` and every cached node below it, deepest first ('deleted' for each). */
  private removeTree(path: string): void {
    for (const name of this.children(path)) this.removeTree(childPath(path, name));
    this.childrenOf.delete(path);
    const old = this.nodes.get(path);
    if (!old) return;
    this.nodes.delete(path);
    if (path !== this.path) {
      const siblings = this.childrenOf.get(parentOf(path));
      siblings?.delete(path.slice(path.lastIndexOf('/') + 1));
      if (siblings?.size === 0) this.childrenOf.delete(parentOf(path));
    }
    this.tell({ type: 'deleted', path, old });
  }

  /** Emit a change; a listener that throws does not stop the cache (its error is thrown on its own, as from any I/O callback). */
  private tell(event: CacheEvent): void {
    try {
      this.emit('change', event);
    } catch (e) {
      process.nextTick(() => {
        throw e;
      });
    }
  }
}

/** A cache of the subtree at `path` through `zk`: `const cache = treeCache(zk, '/config').start(); await cache.initialized;` */
export const treeCache = (zk: ZooKeeper, path: string): TreeCache => new TreeCache(zk, path);
