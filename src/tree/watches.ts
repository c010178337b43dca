// Watch tables (ZooKeeper's WatchManager): which connection watches which path,
// and in which mode. A tree keeps two: data watches (getData/exists, persistent,
// persistent-recursive) and child watches (getChildren, persistent).
// An event reaches only watchers whose session may READ the node it is about,
// judged by that node's ACL and the session's ids as they are when it fires
// (the CVE-2024-23944 rule, as ServerCnxn.process(event, acl) in 3.8.4); a
// one-shot watch that matched is used up whether or not it was told.

import type { ACL, Id } from '../proto/records.ts';
import { Perm } from '../proto/constants.ts';
import { permits } from './acl.ts';

export interface Watcher {
  /** The session's authenticated ids; read when an event fires, so auth added later counts. */
  readonly authIds: readonly Id[];
  /** Deliver a notification; called synchronously while a txn is applied. */
  notify(type: number, path: string): void;
}

export const enum WatchMode {
  standard = 0,
  persistent = 1,
  persistentRecursive = 2,
}

const EVENT_CHILDREN_CHANGED = 4;

/** What most triggers fire: every write triggers, and most paths are watched by nobody. */
const NONE_FIRED: ReadonlySet<Watcher> = new Set();

export class WatchTable {
  private readonly byPath = new Map<string, Map<Watcher, WatchMode>>();
  private readonly byWatcher = new Map<Watcher, Set<string>>();
  private recursiveCount = 0;

  /** Adds or replaces the watcher's mode on path (in 3.8 the latest registration wins). */
  add(path: string, watcher: Watcher, mode: WatchMode = WatchMode.standard): void {
    let watchers = this.byPath.get(path);
    if (!watchers) this.byPath.set(path, (watchers = new Map()));
    const previous = watchers.get(watcher);
    if (previous === WatchMode.persistentRecursive) this.recursiveCount--;
    if (mode === WatchMode.persistentRecursive) this.recursiveCount++;
    watchers.set(watcher, mode);
    let paths = this.byWatcher.get(watcher);
    if (!paths) this.byWatcher.set(watcher, (paths = new Set()));
    paths.add(path);
  }

  /**
   * Fire `type` for `path`: watchers on path itself (one-shot ones are removed)
   * and recursive watchers on its ancestors. Each watcher is told once, and not
   * at all if it is in `suppress` or may not read `acl` (null: no ACL check).
   * Returns the watchers that matched, told or not.
   */
  trigger(path: string, type: number, acl: readonly ACL[] | null, suppress?: ReadonlySet<Watcher>): ReadonlySet<Watcher> {
    let fired: Set<Watcher> | null = null;
    let at = path;
    for (let onPath = true; ; onPath = false) {
      const watchers = this.byPath.get(at);
      if (watchers) {
        for (const [watcher, mode] of watchers) {
          if (mode === WatchMode.persistentRecursive) {
            if (type !== EVENT_CHILDREN_CHANGED) (fired ??= new Set()).add(watcher);
          } else if (onPath) {
            (fired ??= new Set()).add(watcher);
            if (mode === WatchMode.standard) this.forget(at, watcher, watchers);
          }
        }
      }
      if (this.recursiveCount === 0 || at === '/') break;
      const slash = at.lastIndexOf('/');
      at = slash === 0 ? '/' : at.slice(0, slash);
    }
    if (!fired) return NONE_FIRED;
    for (const w of fired) {
      if (!suppress?.has(w) && (acl === null || permits(acl, Perm.read, w.authIds))) w.notify(type, path);
    }
    return fired;
  }

  private forget(path: string, watcher: Watcher, watchers: Map<Watcher, WatchMode>): void {
    if (watchers.get(watcher) === WatchMode.persistentRecursive) this.recursiveCount--;
    watchers.delete(watcher);
    if (watchers.size === 0) this.byPath.delete(path);
    const paths = this.byWatcher.get(watcher);
    if (paths) {
      paths.delete(path);
      if (paths.size === 0) this.byWatcher.delete(watcher);
    }
  }

  /**
   * Whether path is watched. ZooKeeper 3.8's checkWatches answers yes when
   * anyone watches the path, not only the asking connection; so does this.
   */
  isWatched(path: string): boolean {
    return this.byPath.has(path);
  }

  /** Remove watcher's watch on path, in whatever mode; returns whether there was one. */
  remove(path: string, watcher: Watcher): boolean {
    const watchers = this.byPath.get(path);
    if (!watchers?.has(watcher)) return false;
    this.forget(path, watcher, watchers);
    return true;
  }

  /** Drop every watch of a connection that went away. */
  removeWatcher(watcher: Watcher): void {
    const paths = this.byWatcher.get(watcher);
    if (!paths) return;
    for (const path of [...paths]) this.forget(path, watcher, this.byPath.get(path)!);
  }

  get watchCount(): number {
    let n = 0;
    for (const w of this.byPath.values()) n += w.size;
    return n;
  }

  get pathCount(): number {
    return this.byPath.size;
  }

  /** path → watchers, for the wchc/wchp/wchs four-letter words */
  entries(): IterableIterator<[string, Map<Watcher, WatchMode>]> {
    return this.byPath.entries();
  }
}
