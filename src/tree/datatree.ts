// The replicated state: znodes, the session table and the watches on them.
// apply() is the only way state changes. The request pipeline calls it for new
// txns, log replay calls it on start-up and followers call it for commits, so
// all of them reach the same state from the same txns.
//
// The tree digest (ZooKeeper's DataTree.getTreeDigest, see digest.ts) is kept
// as nodes change, O(1) per node: each node caches its own digest, taken out
// of the sum before the node changes and put back after. So a node's digested
// fields change only here (apply, snapshot loading); /zookeeper/config, which
// the digest leaves out, is the one node set from outside.

import { Renewal } from '../churn.ts';
import { Err, EventType, OpCode, ZkError } from '../proto/constants.ts';
import type { ACL, Stat } from '../proto/records.ts';
import type { TxnBody, TxnHeader } from '../proto/txn.ts';
import { ANYONE, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE } from './acl.ts';
import { DigestSum, nodeDigest } from './digest.ts';
import { nameOf, parentOf } from './path.ts';
import { WatchMode, WatchTable, type Watcher } from './watches.ts';

/** ephemeralOwner of a container node */
export const CONTAINER_OWNER = -0x8000000000000000n;
const TTL_TAG = 0xffn;

export const ttlOwner = (ttl: number): bigint => BigInt.asIntN(64, (TTL_TAG << 56n) | BigInt(ttl));

export type NodeKind = 'persistent' | 'ephemeral' | 'container' | 'ttl';

export function kindOf(owner: bigint): NodeKind {
  if (owner === 0n) return 'persistent';
  if (owner === CONTAINER_OWNER) return 'container';
  if (BigInt.asUintN(64, owner) >> 56n === TTL_TAG) return 'ttl';
  return 'ephemeral';
}

export const ttlOf = (owner: bigint): number => Number(BigInt.asUintN(40, owner));

/**
 * The ACL of a node read from a fuzzy snapshot that refers to a list its ACL
 * table lacks (the list was new while the nodes were written). The log after
 * the snapshot holds the txn that gave the node its list, and replaying it
 * replaces this; recovery refuses a snapshot where it survives the replay.
 * Compared by identity; it grants nothing, should it ever be checked.
 */
export const UNRESOLVED_ACL: ACL[] = Object.freeze([Object.freeze({ perms: 0, id: ANYONE })]) as ACL[];

const NO_CHILDREN: ReadonlySet<string> = new Set();
/** ZooKeeper's DataTree keeps the digest of every 128th zxid (0x80, easy to line up across servers), the newest 1024 */
const DIGEST_LOG_INTERVAL = 128;
const DIGEST_LOG_LIMIT = 1024;

export class ZNode {
  /** child names; most nodes are leaves, so the set is made on the first child */
  private kids: Set<string> | null = null;
  /** this node's digest as its tree's digest counts it */
  digest = 0;

  constructor(
    public data: Buffer | null,
    public acl: ACL[],
    public czxid: number,
    public mzxid: number,
    public ctime: number,
    public mtime: number,
    public version: number,
    /** persisted cversion: creates of children; clients see 2*cversion - numChildren */
    public cversion: number,
    public aversion: number,
    public ephemeralOwner: bigint,
    public pzxid: number,
  ) {}

  get children(): ReadonlySet<string> {
    return this.kids ?? NO_CHILDREN;
  }

  addChild(name: string): void {
    (this.kids ??= new Set()).add(name);
  }

  removeChild(name: string): void {
    this.kids?.delete(name);
  }

  /** Copy the child set into a new one (see src/churn.ts). */
  renewChildren(): void {
    if (this.kids) this.kids = new Set(this.kids);
  }

  stat(): Stat {
    const owner = this.ephemeralOwner;
    return {
      czxid: this.czxid,
      mzxid: this.mzxid,
      ctime: this.ctime,
      mtime: this.mtime,
      version: this.version,
      cversion: this.cversion * 2 - this.children.size,
      aversion: this.aversion,
      ephemeralOwner: owner === 0n || kindOf(owner) === 'ephemeral' ? owner : 0n,
      dataLength: this.data ? this.data.length : 0,
      numChildren: this.children.size,
      pzxid: this.pzxid,
    };
  }
}

/** What applying one txn produced, for the reply. */
export interface ApplyResult {
  type: number;
  err: number;
  path?: string;
  stat?: Stat;
  results?: ApplyResult[];
}

export class DataTree {
  /** copied now and then, as creates and deletes churn it (see src/churn.ts) */
  private nodes = new Map<string, ZNode>();
  private readonly renewal = new Renewal();
  /** session id → ephemeral paths */
  private readonly ephemerals = new Map<bigint, Set<string>>();
  readonly containers = new Set<string>();
  readonly ttls = new Set<string>();
  /** live sessions and their timeouts (part of a snapshot) */
  readonly sessions = new Map<bigint, number>();
  readonly dataWatches = new WatchTable();
  readonly childWatches = new WatchTable();
  /** zookeeper.skipACL: watch events then reach their watchers whatever the ACLs say */
  skipACL = false;
  lastProcessedZxid = 0;
  private digestSum = new DigestSum();
  /** the tree digest after each txn whose zxid is a multiple of 128, the newest 1024 (ZooKeeper's digest log; the `hash` admin command) */
  readonly digestLog: { zxid: number; digest: bigint }[] = [];

  constructor() {
    const zero = () => new ZNode(Buffer.alloc(0), OPEN_ACL_UNSAFE, 0, 0, 0, 0, 0, 0, 0, 0n, 0);
    this.nodes.set('/', zero());
    this.count('/', this.nodes.get('/')!);
    this.attach('/zookeeper', zero());
    this.attach('/zookeeper/quota', zero());
    const config = zero();
    config.acl = READ_ACL_UNSAFE;
    config.aversion = -1;
    this.attach('/zookeeper/config', config);
  }

  /**
   * A tree rebuilt from a snapshot: nodes in pre-order (every parent before its
   * children, "/" first), with the sessions live at the snapshot's zxid.
   */
  static fromSnapshot(nodes: Iterable<[string, ZNode]>, sessions: ReadonlyMap<bigint, number>, zxid: number): DataTree {
    const loading = DataTree.loadingSnapshot();
    for (const [path, node] of nodes) loading.add(path, node);
    return loading.finish(sessions, zxid);
  }

  /** fromSnapshot a node at a time, for a snapshot that arrives in pieces. */
  static loadingSnapshot(): { add(path: string, node: ZNode): void; finish(sessions: ReadonlyMap<bigint, number>, zxid: number): DataTree } {
    const tree = new DataTree();
    tree.nodes.clear();
    tree.digestSum = new DigestSum();
    return {
      add(path, node) {
        if (path === '/') {
          tree.nodes.set(path, node);
          tree.count(path, node);
          return;
        }
        const parent = tree.nodes.get(parentOf(path));
        if (!parent) throw new Error(`snapshot holds ${path} before its parent`);
        parent.addChild(nameOf(path));
        tree.nodes.set(path, node);
        tree.count(path, node);
        tree.index(path, node.ephemeralOwner);
      },
      finish(sessions, zxid) {
        if (!tree.nodes.has('/')) throw new Error('snapshot has no root node');
        for (const [id, timeout] of sessions) tree.sessions.set(id, timeout);
        tree.lastProcessedZxid = zxid;
        return tree;
      },
    };
  }

  private attach(path: string, node: ZNode): void {
    this.nodes.get(parentOf(path))!.addChild(nameOf(path));
    this.nodes.set(path, node);
    this.count(path, node);
  }

  /** The tree digest now: the AdHash sum of every node's digest (a signed 64-bit value). */
  get digest(): bigint {
    return this.digestSum.value;
  }

  /** Count a node that is new or has just changed in the tree digest. */
  private count(path: string, node: ZNode): void {
    node.digest = nodeDigest(path, node);
    this.digestSum.add(node.digest);
  }

  /** Take a node out of the tree digest: it is about to change or go. */
  private uncount(node: ZNode): void {
    this.digestSum.subtract(node.digest);
  }

  get(path: string): ZNode | undefined {
    // ZooKeeper also files the root under "", so "" reads as "/".
    return this.nodes.get(path === '' ? '/' : path);
  }

  get nodeCount(): number {
    return this.nodes.size;
  }

  /** Number of descendants of path (not counting path itself). */
  descendantCount(path: string): number {
    const node = this.nodes.get(path);
    if (!node) return 0;
    let n = 0;
    const stack: string[] = [path];
    while (stack.length) {
      const p = stack.pop()!;
      for (const c of this.nodes.get(p)!.children) {
        n++;
        stack.push(p === '/' ? `/${c}` : `${p}/${c}`);
      }
    }
    return n;
  }

  ephemeralsOf(session: bigint): ReadonlySet<string> {
    return this.ephemerals.get(session) ?? new Set();
  }

  ephemeralCount(): number {
    let n = 0;
    for (const s of this.ephemerals.values()) n += s.size;
    return n;
  }

  approximateDataSize(): number {
    let n = 0;
    for (const [path, node] of this.nodes) n += path.length + (node.data ? node.data.length : 0);
    return n;
  }

  // ---- watches ----

  addDataWatch(path: string, w: Watcher): void {
    this.dataWatches.add(path, w);
  }

  addChildWatch(path: string, w: Watcher): void {
    this.childWatches.add(path, w);
  }

  /** ZooKeeper 3.8 files both kinds in both tables; a recursive watch never sees NodeChildrenChanged. */
  addPersistentWatch(path: string, w: Watcher, recursive: boolean): void {
    const mode = recursive ? WatchMode.persistentRecursive : WatchMode.persistent;
    this.dataWatches.add(path, w, mode);
    this.childWatches.add(path, w, mode);
  }

  removeWatcher(w: Watcher): void {
    this.dataWatches.removeWatcher(w);
    this.childWatches.removeWatcher(w);
  }

  /**
   * Re-arm watches a client held before reconnecting; fire those whose condition
   * already changed. ZooKeeper 3.8 tells these without an ACL check, and so does this.
   */
  setWatches(relativeZxid: number, data: string[], exist: string[], child: string[], persistent: string[], recursive: string[], w: Watcher): void {
    for (const path of data) {
      const node = this.nodes.get(path);
      if (!node) w.notify(EventType.nodeDeleted, path);
      else if (node.mzxid > relativeZxid) w.notify(EventType.nodeDataChanged, path);
      else this.dataWatches.add(path, w);
    }
    for (const path of exist) {
      if (this.nodes.has(path)) w.notify(EventType.nodeCreated, path);
      else this.dataWatches.add(path, w);
    }
    for (const path of child) {
      const node = this.nodes.get(path);
      if (!node) w.notify(EventType.nodeDeleted, path);
      else if (node.pzxid > relativeZxid) w.notify(EventType.nodeChildrenChanged, path);
      else this.childWatches.add(path, w);
    }
    for (const path of persistent) this.addPersistentWatch(path, w, false);
    for (const path of recursive) this.addPersistentWatch(path, w, true);
  }

  /** The ACL a watcher must be able to READ to hear about `node`; null when ACLs are skipped. */
  private readACL(node: ZNode): ACL[] | null {
    return this.skipACL ? null : node.acl;
  }

  // ---- applying transactions ----

  /** Apply one txn. Never throws for a txn that cannot apply (possible on replay): the result carries the error. */
  apply(hdr: TxnHeader, body: TxnBody): ApplyResult {
    const result = this.applyBody(hdr, body);
    if (hdr.zxid > this.lastProcessedZxid) this.lastProcessedZxid = hdr.zxid;
    if (hdr.zxid % DIGEST_LOG_INTERVAL === 0 && this.digestLog.push({ zxid: hdr.zxid, digest: this.digest }) > DIGEST_LOG_LIMIT) this.digestLog.shift();
    return result;
  }

  private applyBody(hdr: TxnHeader, body: TxnBody): ApplyResult {
    const type = body.type;
    try {
      switch (body.type) {
        case OpCode.createSession:
          this.sessions.set(hdr.clientId, body.timeOut);
          return { type, err: Err.ok };
        case OpCode.closeSession:
          this.closeSession(hdr.clientId, body.paths, hdr.zxid);
          return { type, err: Err.ok };
        case OpCode.create:
        case OpCode.create2:
          return this.create(body.path, body.data, body.acl, body.ephemeral ? hdr.clientId : 0n, body.parentCVersion, hdr, type);
        case OpCode.createContainer:
          return this.create(body.path, body.data, body.acl, CONTAINER_OWNER, body.parentCVersion, hdr, type);
        case OpCode.createTTL:
          return this.create(body.path, body.data, body.acl, ttlOwner(body.ttl), body.parentCVersion, hdr, type);
        case OpCode.delete:
        case OpCode.deleteContainer:
          this.deleteNode(body.path, hdr.zxid);
          return { type, err: Err.ok, path: body.path };
        case OpCode.setData: {
          const node = this.mustGet(body.path);
          this.uncount(node);
          node.data = body.data;
          node.version = body.version;
          node.mzxid = hdr.zxid;
          node.mtime = hdr.time;
          this.count(body.path, node);
          this.dataWatches.trigger(body.path, EventType.nodeDataChanged, this.readACL(node));
          return { type, err: Err.ok, path: body.path, stat: node.stat() };
        }
        case OpCode.setACL: {
          const node = this.mustGet(body.path);
          this.uncount(node);
          node.acl = body.acl;
          node.aversion = body.version;
          this.count(body.path, node);
          return { type, err: Err.ok, path: body.path, stat: node.stat() };
        }
        case OpCode.check:
          return { type, err: Err.ok, path: body.path };
        case OpCode.error:
          return { type, err: body.err };
        case OpCode.multi: {
          // A multi holding an error applies nothing: its other ops report OK.
          const failed = body.txns.some((t) => t.type === OpCode.error);
          const results = body.txns.map((t) => {
            const sub: TxnBody = failed && t.type !== OpCode.error ? { type: OpCode.error, err: Err.ok } : t;
            return this.applyBody({ ...hdr, type: sub.type }, sub);
          });
          return { type, err: results.find((r) => r.err !== Err.ok)?.err ?? Err.ok, results };
        }
      }
    } catch (e) {
      if (e instanceof ZkError) return { type, err: e.code };
      throw e;
    }
  }

  private mustGet(path: string): ZNode {
    const node = this.nodes.get(path);
    if (!node) throw new ZkError(Err.noNode);
    return node;
  }

  private create(path: string, data: Buffer | null, acl: ACL[], owner: bigint, parentCVersion: number, hdr: TxnHeader, type: number): ApplyResult {
    const parentPath = parentOf(path);
    const parent = this.mustGet(parentPath);
    const name = nameOf(path);
    const cversion = parentCVersion === -1 ? parent.cversion + 1 : parentCVersion;
    // Also when the node exists: replaying a log over a fuzzy snapshot can meet a
    // node the snapshot already holds, and the parent must still catch up.
    if (cversion > parent.cversion) {
      this.uncount(parent);
      parent.cversion = cversion;
      parent.pzxid = hdr.zxid;
      this.count(parentPath, parent);
    }
    if (parent.children.has(name)) {
      // The same create, replayed over a fuzzy snapshot that holds the node with
      // an ACL it could not resolve: the create's list is the node's.
      const existing = this.nodes.get(path)!;
      if (existing.acl === UNRESOLVED_ACL && existing.czxid === hdr.zxid) existing.acl = acl;
      throw new ZkError(Err.nodeExists);
    }
    const node = new ZNode(data, acl, hdr.zxid, hdr.zxid, hdr.time, hdr.time, 0, 0, 0, owner, hdr.zxid);
    parent.addChild(name);
    this.nodes.set(path, node);
    this.count(path, node);
    this.index(path, owner);
    this.dataWatches.trigger(path, EventType.nodeCreated, this.readACL(node));
    this.childWatches.trigger(parentPath, EventType.nodeChildrenChanged, this.readACL(parent));
    return { type, err: Err.ok, path, stat: node.stat() };
  }

  /** File a new node under its kind: container, TTL, or its session's ephemerals. */
  private index(path: string, owner: bigint): void {
    switch (kindOf(owner)) {
      case 'container':
        this.containers.add(path);
        break;
      case 'ttl':
        this.ttls.add(path);
        break;
      case 'ephemeral': {
        let set = this.ephemerals.get(owner);
        if (!set) this.ephemerals.set(owner, (set = new Set()));
        set.add(path);
        break;
      }
      default:
    }
  }

  private deleteNode(path: string, zxid: number): void {
    const parentPath = parentOf(path);
    const parent = this.mustGet(parentPath);
    // The parent first, even when the node is gone already: a fuzzy snapshot
    // may hold the parent from before this delete and the node not at all.
    parent.removeChild(nameOf(path));
    if (zxid > parent.pzxid) {
      this.uncount(parent);
      parent.pzxid = zxid;
      this.count(parentPath, parent);
    }
    const node = this.mustGet(path);
    this.nodes.delete(path);
    if (this.renewal.due(this.nodes.size)) {
      // The parent of a node deleted now is the likeliest to churn too.
      this.nodes = new Map(this.nodes);
      parent.renewChildren();
    }
    this.uncount(node);
    switch (kindOf(node.ephemeralOwner)) {
      case 'container':
        this.containers.delete(path);
        break;
      case 'ttl':
        this.ttls.delete(path);
        break;
      case 'ephemeral': {
        const set = this.ephemerals.get(node.ephemeralOwner);
        set?.delete(path);
        if (set?.size === 0) this.ephemerals.delete(node.ephemeralOwner);
        break;
      }
      default:
    }
    // NodeDeleted is judged by the ACL the node had.
    const fired = this.dataWatches.trigger(path, EventType.nodeDeleted, this.readACL(node));
    this.childWatches.trigger(path, EventType.nodeDeleted, this.readACL(node), fired);
    this.childWatches.trigger(parentPath, EventType.nodeChildrenChanged, this.readACL(parent));
  }

  private closeSession(session: bigint, paths: string[], zxid: number): void {
    this.sessions.delete(session);
    const owned = this.ephemerals.get(session);
    // The txn names the ephemerals to delete; anything the session still owns goes too.
    for (const path of new Set([...paths, ...(owned ?? [])])) {
      if (this.nodes.has(path)) this.deleteNode(path, zxid);
    }
    this.ephemerals.delete(session);
  }
}
