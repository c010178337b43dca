// The client's side of watches, mirroring ZooKeeper's ZKWatchManager: which
// callbacks wait on which path for which kind of event, which of them a
// notification triggers (one-shot ones are removed as they fire, persistent ones
// stay), and the setWatches requests that re-arm all of them on the server after
// a reconnect. Paths here are the caller's (chroot removed); the session maps
// them to server paths. A callback registered twice for the same path and kind
// fires once per event, as a Java Watcher in a Set does.

import { EventType, OpCode } from '../proto/constants.ts';
import type { Request } from '../proto/records.ts';

export type WatchEventType =
  | 'None'
  | 'NodeCreated'
  | 'NodeDeleted'
  | 'NodeDataChanged'
  | 'NodeChildrenChanged'
  | 'DataWatchRemoved'
  | 'ChildWatchRemoved'
  | 'PersistentWatchRemoved';

export interface WatchEvent {
  type: WatchEventType;
  /** 'SyncConnected' for node events; 'Expired' when the session ended and the watch will never fire */
  state: 'SyncConnected' | 'Expired';
  path: string;
}

export type Watcher = (event: WatchEvent) => void;

/** What a watch waits for: data/exist/child are one-shot (getData, exists on a missing node, getChildren); the others persist (addWatch). */
export type WatchKind = 'data' | 'exist' | 'child' | 'persistent' | 'persistentRecursive';

/** WatcherType of removeWatches, by Java's names. */
export type WatcherTypeName = 'children' | 'data' | 'any' | 'persistent' | 'persistentRecursive';

const kindsOf: Record<WatcherTypeName, WatchKind[]> = {
  children: ['child'],
  data: ['data', 'exist'],
  any: ['data', 'exist', 'child', 'persistent', 'persistentRecursive'],
  persistent: ['persistent'],
  persistentRecursive: ['persistentRecursive'],
};

const eventNames: Record<number, WatchEventType> = {
  [EventType.none]: 'None',
  [EventType.nodeCreated]: 'NodeCreated',
  [EventType.nodeDeleted]: 'NodeDeleted',
  [EventType.nodeDataChanged]: 'NodeDataChanged',
  [EventType.nodeChildrenChanged]: 'NodeChildrenChanged',
};

export const eventTypeName = (type: number): WatchEventType => eventNames[type] ?? 'None';

/** Largest total of path characters in one setWatches request (ZooKeeper's client splits at 128 KiB too). */
const SET_WATCHES_MAX_CHARS = 128 * 1024;

const ancestorsAndSelf = (path: string): string[] => {
  const out = [path];
  for (let p = path; p !== '/'; ) {
    p = p.slice(0, p.lastIndexOf('/')) || '/';
    out.push(p);
  }
  return out;
};

export class WatchRegistry {
  private readonly byKind: Record<WatchKind, Map<string, Set<Watcher>>> = {
    data: new Map(),
    exist: new Map(),
    child: new Map(),
    persistent: new Map(),
    persistentRecursive: new Map(),
  };

  constructor(private readonly onWatcherError: (e: unknown, event: WatchEvent) => void) {}

  add(kind: WatchKind, path: string, watcher: Watcher): void {
    const paths = this.byKind[kind];
    const set = paths.get(path) ?? new Set();
    set.add(watcher);
    paths.set(path, set);
  }

  has(kind: WatchKind, path: string): boolean {
    return (this.byKind[kind].get(path)?.size ?? 0) > 0;
  }

  /** Deliver a node event to every watcher it triggers; one-shot watchers are removed first. */
  deliver(event: WatchEvent): void {
    const fired = new Set<Watcher>();
    const take = (kind: WatchKind, path = event.path) => {
      const set = this.byKind[kind].get(path);
      if (!set) return;
      for (const w of set) fired.add(w);
      if (kind !== 'persistent' && kind !== 'persistentRecursive') this.byKind[kind].delete(path);
    };
    switch (event.type) {
      case 'NodeCreated':
      case 'NodeDataChanged':
        take('data');
        take('exist');
        break;
      case 'NodeChildrenChanged':
        take('child');
        break;
      case 'NodeDeleted':
        take('data');
        take('exist');
        take('child');
        break;
      default:
        return;
    }
    take('persistent');
    // A recursive watch sees every node event below it except children changes (it sees the creates and deletes themselves).
    if (event.type !== 'NodeChildrenChanged') for (const p of ancestorsAndSelf(event.path)) take('persistentRecursive', p);
    this.call(fired, event);
  }

  /** Watchers removeWatches(path, type, watcher?) would remove; empty if none. */
  matching(path: string, type: WatcherTypeName, watcher?: Watcher): Map<WatchKind, Watcher[]> {
    const out = new Map<WatchKind, Watcher[]>();
    for (const kind of kindsOf[type]) {
      const set = this.byKind[kind].get(path);
      const ws = set ? [...set].filter((w) => watcher === undefined || w === watcher) : [];
      if (ws.length > 0) out.set(kind, ws);
    }
    return out;
  }

  /** How many watchers of any kind wait on `path`, not counting those in `except`. */
  countOnPath(path: string, except: Map<WatchKind, Watcher[]> = new Map()): number {
    let n = 0;
    for (const kind of kindsOf.any) n += (this.byKind[kind].get(path)?.size ?? 0) - (except.get(kind)?.length ?? 0);
    return n;
  }

  /** Remove what matching() found and tell each removed watcher (DataWatchRemoved, ChildWatchRemoved, PersistentWatchRemoved). */
  remove(path: string, found: Map<WatchKind, Watcher[]>): void {
    const told = new Map<Watcher, WatchEventType>();
    for (const [kind, ws] of found) {
      const set = this.byKind[kind].get(path);
      for (const w of ws) {
        set?.delete(w);
        told.set(w, kind === 'child' ? 'ChildWatchRemoved' : kind === 'data' || kind === 'exist' ? 'DataWatchRemoved' : 'PersistentWatchRemoved');
      }
      if (set?.size === 0) this.byKind[kind].delete(path);
    }
    for (const [w, type] of told) this.call([w], { type, state: 'SyncConnected', path });
  }

  /** The session ended: every watcher hears it once (None / Expired) and all are dropped. */
  expire(): void {
    const all = new Map<Watcher, string>();
    for (const paths of Object.values(this.byKind)) {
      for (const [path, set] of paths) for (const w of set) all.set(w, path);
      paths.clear();
    }
    for (const [w, path] of all) this.call([w], { type: 'None', state: 'Expired', path });
  }

  /** setWatches requests (setWatches2 when persistent watches exist) re-arming every watch, paths mapped by `toServer`. */
  setWatchesRequests(relativeZxid: number, toServer: (path: string) => string): Request[] {
    const persistent = this.byKind.persistent.size + this.byKind.persistentRecursive.size > 0;
    const type = persistent ? OpCode.setWatches2 : OpCode.setWatches;
    const lists = ['data', 'exist', 'child', 'persistent', 'persistentRecursive'] as const;
    const fresh = () => ({ type, relativeZxid, dataWatches: [] as string[], existWatches: [] as string[], childWatches: [] as string[], persistentWatches: [] as string[], persistentRecursiveWatches: [] as string[] });
    const field = { data: 'dataWatches', exist: 'existWatches', child: 'childWatches', persistent: 'persistentWatches', persistentRecursive: 'persistentRecursiveWatches' } as const;
    const requests: ReturnType<typeof fresh>[] = [];
    let current = fresh();
    let chars = 0;
    for (const kind of lists) {
      for (const path of this.byKind[kind].keys()) {
        const serverPath = toServer(path);
        if (chars > 0 && chars + serverPath.length > SET_WATCHES_MAX_CHARS) {
          requests.push(current);
          current = fresh();
          chars = 0;
        }
        current[field[kind]].push(serverPath);
        chars += serverPath.length;
      }
    }
    if (chars > 0) requests.push(current);
    return requests;
  }

  private call(watchers: Iterable<Watcher>, event: WatchEvent): void {
    for (const w of watchers) {
      try {
        w(event);
      } catch (e) {
        this.onWatcherError(e, event);
      }
    }
  }
}
