// Prep: turn a write request into a transaction, checking it against the tree as
// it will be once every txn already prepared has been applied. Those pending
// effects are kept per path (ZooKeeper's "outstanding changes"), so a multi's
// later ops see its earlier ones, and a txn waiting for its fsync is seen by the
// next request's checks.
//
// The pending effects also carry the tree digest (digest.ts) as it will be:
// each recorded change adds its node's new digest less its old one, so the
// digest after the txn just prepared — the TxnDigest ZooKeeper's
// PrepRequestProcessor gives a proposal — is the applied tree's digest plus
// the changes still pending. O(1) per changed node, like the rest.

import { Renewal } from '../churn.ts';
import { Err, OpCode, Perm, ZkError } from '../proto/constants.ts';
import type { ACL, Id, Request, RequestOf } from '../proto/records.ts';
import type { TxnBody } from '../proto/txn.ts';
import { checkACL, fixupACL } from '../tree/acl.ts';
import { CONTAINER_OWNER, kindOf, ttlOwner, type DataTree } from '../tree/datatree.ts';
import { nodeDigest, type DigestedFields } from '../tree/digest.ts';
import { parentOf, pathProblem } from '../tree/path.ts';

/** What prep needs to know of a node: what it checks, and what the node digest covers. */
interface NodeView extends DigestedFields {
  acl: ACL[];
  childCount: number;
  /** the node digest of this view (set when the view is recorded) */
  digest: number;
}

interface Change {
  zxid: number;
  /** null: deleted */
  view: NodeView | null;
  /** what this change adds to the tree digest */
  digestDelta: number;
}

export interface PrepContext {
  sessionId: bigint;
  authIds: readonly Id[];
  zxid: number;
  time: number;
}

export interface PrepOptions {
  extendedTypesEnabled: boolean;
  reconfigEnabled: boolean;
  skipACL: boolean;
  /** auth schemes registered beyond the built-in ones (authProvider.N) */
  authProviders?: ReadonlySet<string>;
}

const SPECIAL_PATHS = new Set(['/', '/zookeeper', '/zookeeper/quota', '/zookeeper/config']);
const MAX_TTL = 0xffffffffff;

// CreateMode flags
const isEphemeralMode = (f: number) => f === 1 || f === 3;
const isSequentialMode = (f: number) => f === 2 || f === 3 || f === 6;
const isTTLMode = (f: number) => f === 5 || f === 6;

const badArgs = (why: string) => new ZkError(Err.badArguments, why);

/** Does this request create an ephemeral node? (ZooKeeper's session upgrade looks at create, create2 and multi.) */
export function createsEphemeral(req: Request): boolean {
  if (req.type === OpCode.create || req.type === OpCode.create2) return isEphemeralMode(req.flags);
  if (req.type !== OpCode.multi) return false;
  const parsed = parseMultiOps(req.ops);
  return parsed?.kind === 'write' && parsed.ops.some(createsEphemeral);
}

export interface MultiOps {
  kind: 'write' | 'read' | 'empty';
  ops: Request[];
}

/**
 * The ops of a multi or multiRead as ZooKeeper's MultiOperationRecord reads
 * them: a create takes its opcode from its flags (create2 becomes create, so
 * its result carries no Stat), reads lose their watch flag, and ops of other
 * types, or a mix of writes and reads, do not parse (null: MarshallingError).
 */
export function parseMultiOps(ops: Request[]): MultiOps | null {
  const out: Request[] = [];
  let kind: MultiOps['kind'] = 'empty';
  for (const op of ops) {
    let parsed: Request;
    let opKind: 'write' | 'read' = 'write';
    switch (op.type) {
      case OpCode.create:
      case OpCode.create2:
      case OpCode.createContainer:
      case OpCode.createTTL: {
        const { path, data, acl, flags } = op;
        if (isTTLMode(flags)) {
          if (op.type !== OpCode.createTTL) return null; // a TTL mode without a ttl field
          parsed = { type: OpCode.createTTL, path, data, acl, flags, ttl: op.ttl };
        } else {
          parsed = { type: flags === 4 ? OpCode.createContainer : OpCode.create, path, data, acl, flags };
        }
        break;
      }
      case OpCode.delete:
      case OpCode.setData:
      case OpCode.check:
        parsed = op;
        break;
      case OpCode.getData:
      case OpCode.getChildren:
        parsed = { type: op.type, path: op.path, watch: false };
        opKind = 'read';
        break;
      default:
        return null;
    }
    if (kind !== 'empty' && kind !== opKind) return null;
    kind = opKind;
    out.push(parsed);
  }
  return { kind, ops: out };
}

export class Prep {
  /** copied now and then, as every write churns it (see src/churn.ts) */
  private changes = new Map<string, Change[]>();
  private readonly renewal = new Renewal();
  /** every recorded change's path, in zxid order (ZooKeeper's outstandingChanges queue) */
  private order: string[] = [];
  private orderHead = 0;
  /** the sum of digestDelta over the changes not applied yet */
  private pendingDigestDelta = 0;

  constructor(
    private readonly tree: DataTree,
    private readonly opts: PrepOptions,
  ) {}

  /** The txn for a write request: its own record, or an error txn when a check fails. */
  prepare(req: Request, ctx: PrepContext): TxnBody {
    if (req.type === OpCode.multi) return this.prepareMulti(req.ops, ctx);
    try {
      const txn = this.toTxn(req, ctx);
      // ZooKeeper's log readers refuse a top-level check txn (ZooKeeper itself
      // writes one and then cannot restart); a one-op multi is the form they read.
      return txn.type === OpCode.check ? { type: OpCode.multi, txns: [txn] } : txn;
    } catch (e) {
      if (!(e instanceof ZkError)) throw e;
      this.rollback(ctx.zxid);
      return { type: OpCode.error, err: e.code };
    }
  }

  /**
   * The tree digest once every txn prepared so far is applied: the TxnDigest
   * of the txn prepared last (ZooKeeper's PrepRequestProcessor.getCurrentTreeDigest).
   */
  get digest(): bigint {
    return BigInt.asIntN(64, this.tree.digest + BigInt(this.pendingDigestDelta));
  }

  /** Forget pending effects of txns up to and including zxid: they are in the tree now. */
  applied(zxid: number): void {
    // Changes were recorded in zxid order, so the ones now applied are at the front of `order`.
    while (this.orderHead < this.order.length) {
      const path = this.order[this.orderHead]!;
      const list = this.changes.get(path)!;
      if (list[0]!.zxid > zxid) break;
      this.pendingDigestDelta -= list.shift()!.digestDelta;
      if (list.length === 0) this.forget(path);
      this.orderHead++;
    }
    if (this.orderHead === this.order.length) {
      this.order = [];
      this.orderHead = 0;
      this.pendingDigestDelta = 0;
    } else if (this.orderHead > 1024 && this.orderHead * 2 > this.order.length) {
      this.order = this.order.slice(this.orderHead);
      this.orderHead = 0;
    }
  }

  /** Drop the changes a failed request recorded: the last ones, all at `zxid`. */
  private rollback(zxid: number): void {
    while (this.order.length > this.orderHead) {
      const path = this.order[this.order.length - 1]!;
      const list = this.changes.get(path)!;
      if (list[list.length - 1]!.zxid !== zxid) break;
      this.pendingDigestDelta -= list.pop()!.digestDelta;
      if (list.length === 0) this.forget(path);
      this.order.pop();
    }
  }

  private forget(path: string): void {
    this.changes.delete(path);
    if (this.renewal.due(this.changes.size)) this.changes = new Map(this.changes);
  }

  /** Note that txn `zxid` leaves the node at `path` as `view` (null: gone). */
  private record(path: string, zxid: number, view: NodeView | null): void {
    let list = this.changes.get(path);
    const before = list ? (list[list.length - 1]!.view?.digest ?? 0) : (this.tree.get(path)?.digest ?? 0);
    if (view) view.digest = nodeDigest(path, view);
    const digestDelta = (view?.digest ?? 0) - before;
    this.pendingDigestDelta += digestDelta;
    const change = { zxid, view, digestDelta };
    if (list) list.push(change);
    else this.changes.set(path, [change]); // room for one: push onto an empty array makes room for 17
    this.order.push(path);
  }

  /** The node as it will be; throws NoNode when it does not (or will not) exist. */
  private lookup(path: string): NodeView {
    if (path === '') path = '/';
    const list = this.changes.get(path);
    if (list) {
      const view = list[list.length - 1]!.view;
      if (!view) throw new ZkError(Err.noNode, path);
      return view;
    }
    const node = this.tree.get(path);
    if (!node) throw new ZkError(Err.noNode, path);
    return {
      acl: node.acl,
      data: node.data,
      czxid: node.czxid,
      mzxid: node.mzxid,
      pzxid: node.pzxid,
      ctime: node.ctime,
      mtime: node.mtime,
      version: node.version,
      cversion: node.cversion,
      aversion: node.aversion,
      ephemeralOwner: node.ephemeralOwner,
      childCount: node.children.size,
      digest: node.digest,
    };
  }

  private exists(path: string): boolean {
    try {
      this.lookup(path);
      return true;
    } catch {
      return false;
    }
  }

  private checkACL(acl: ACL[], perm: number, ctx: PrepContext): void {
    checkACL(acl, perm, ctx.authIds, this.opts.skipACL);
  }

  private prepareMulti(ops: Request[], ctx: PrepContext): TxnBody {
    const parsed = parseMultiOps(ops);
    if (!parsed || parsed.kind === 'read') return { type: OpCode.error, err: Err.marshallingError };
    const txns: TxnBody[] = [];
    let failed = false;
    for (const op of parsed.ops) {
      if (failed) {
        txns.push({ type: OpCode.error, err: Err.runtimeInconsistency });
        continue;
      }
      try {
        txns.push(this.toTxn(op, ctx));
      } catch (e) {
        if (!(e instanceof ZkError)) throw e;
        failed = true;
        this.rollback(ctx.zxid);
        // The ops before it stay in the txn as they are: applying a multi that
        // holds an error turns them into no-ops reporting OK.
        txns.push({ type: OpCode.error, err: e.code });
      }
    }
    return { type: OpCode.multi, txns };
  }

  private toTxn(req: Request, ctx: PrepContext): TxnBody {
    switch (req.type) {
      case OpCode.create:
      case OpCode.create2:
      case OpCode.createContainer:
      case OpCode.createTTL:
        return this.create(req, ctx);
      case OpCode.delete:
        return this.delete(req.path, req.version, ctx);
      case OpCode.setData: {
        const { path } = req;
        if (pathProblem(path)) throw badArgs(path);
        const node = this.lookup(path);
        this.checkACL(node.acl, Perm.write, ctx);
        const version = nextVersion(node.version, req.version);
        this.record(path, ctx.zxid, { ...node, data: req.data, version, mzxid: ctx.zxid, mtime: ctx.time });
        return { type: OpCode.setData, path, data: req.data, version };
      }
      case OpCode.setACL: {
        const { path } = req;
        if (pathProblem(path)) throw badArgs(path);
        const acl = fixupACL(req.acl, ctx.authIds, this.opts.authProviders);
        const node = this.lookup(path);
        this.checkACL(node.acl, Perm.admin, ctx);
        const version = nextVersion(node.aversion, req.version);
        this.record(path, ctx.zxid, { ...node, acl, aversion: version });
        return { type: OpCode.setACL, path, acl, version };
      }
      case OpCode.check: {
        const { path } = req;
        if (pathProblem(path)) throw badArgs(path);
        const node = this.lookup(path);
        this.checkACL(node.acl, Perm.read, ctx);
        return { type: OpCode.check, path, version: nextVersion(node.version, req.version) };
      }
      case OpCode.reconfig:
        // Enabled, it is still not implemented: ZooKeeper 3.8's standalone answer, one every client knows.
        throw new ZkError(this.opts.reconfigEnabled ? Err.unimplemented : Err.reconfigDisabled);
      case OpCode.deleteContainer:
        return this.deleteContainer(req.path, ctx);
      default:
        throw new Error(`prep: ${req.type} is not a write`);
    }
  }

  private create(req: RequestOf<typeof OpCode.create | typeof OpCode.create2 | typeof OpCode.createContainer | typeof OpCode.createTTL>, ctx: PrepContext): TxnBody {
    const flags = req.flags;
    if (flags < 0 || flags > 6) throw badArgs(`invalid create flags ${flags}`);
    const ttl = req.type === OpCode.createTTL ? req.ttl : -1;
    if (isTTLMode(flags) && !this.opts.extendedTypesEnabled) throw new ZkError(Err.unimplemented);
    if (isTTLMode(flags) ? ttl <= 0 || ttl > MAX_TTL : ttl >= 0) throw badArgs(`ttl ${ttl} not valid for flags ${flags}`);

    let path = req.path;
    const slash = path.lastIndexOf('/');
    if (slash === -1 || path.includes('\0')) throw badArgs(path);
    const parentPath = slash === 0 ? '/' : path.slice(0, slash);
    const acl = fixupACL(req.acl, ctx.authIds, this.opts.authProviders);
    const parent = this.lookup(parentPath);
    this.checkACL(parent.acl, Perm.create, ctx);
    if (isSequentialMode(flags)) path += String(parent.cversion).padStart(10, '0');
    if (pathProblem(path)) throw badArgs(path);
    if (this.exists(path)) throw new ZkError(Err.nodeExists, path);
    if (kindOf(parent.ephemeralOwner) === 'ephemeral') throw new ZkError(Err.noChildrenForEphemerals, path);

    const parentCVersion = parent.cversion + 1;
    let owner = 0n;
    if (flags === 4) owner = CONTAINER_OWNER;
    else if (isTTLMode(flags)) owner = ttlOwner(ttl);
    else if (isEphemeralMode(flags)) owner = ctx.sessionId;
    const { data } = req;
    const { zxid, time } = ctx;
    this.record(parentPath, zxid, { ...parent, cversion: parentCVersion, pzxid: zxid, childCount: parent.childCount + 1 });
    this.record(path, zxid, { acl, data, czxid: zxid, mzxid: zxid, pzxid: zxid, ctime: time, mtime: time, version: 0, cversion: 0, aversion: 0, ephemeralOwner: owner, childCount: 0, digest: 0 });

    switch (req.type) {
      case OpCode.createContainer:
        return { type: req.type, path, data, acl, parentCVersion };
      case OpCode.createTTL:
        return { type: req.type, path, data, acl, parentCVersion, ttl };
      default:
        return { type: req.type, path, data, acl, ephemeral: isEphemeralMode(flags), parentCVersion };
    }
  }

  private parentForDelete(path: string): string {
    const slash = path.lastIndexOf('/');
    if (slash === -1 || path.includes('\0') || SPECIAL_PATHS.has(path)) throw badArgs(path);
    return slash === 0 ? '/' : path.slice(0, slash);
  }

  private delete(path: string, version: number, ctx: PrepContext): TxnBody {
    const parentPath = this.parentForDelete(path);
    const parent = this.lookup(parentPath);
    this.checkACL(parent.acl, Perm.delete, ctx);
    const node = this.lookup(path);
    nextVersion(node.version, version);
    if (node.childCount > 0) throw new ZkError(Err.notEmpty, path);
    this.removeChange(parentPath, parent, path, ctx.zxid);
    return { type: OpCode.delete, path };
  }

  private removeChange(parentPath: string, parent: NodeView, path: string, zxid: number): void {
    this.record(parentPath, zxid, { ...parent, pzxid: Math.max(parent.pzxid, zxid), childCount: parent.childCount - 1 });
    this.record(path, zxid, null);
  }

  /** Delete an empty container or expired TTL node (the reaper's op 20). */
  private deleteContainer(path: string, ctx: PrepContext): TxnBody {
    const parentPath = this.parentForDelete(path);
    const node = this.lookup(path);
    if (node.childCount > 0) throw new ZkError(Err.notEmpty, path);
    if (kindOf(node.ephemeralOwner) === 'ephemeral') throw new ZkError(Err.badVersion, path);
    this.removeChange(parentPath, this.lookup(parentPath), path, ctx.zxid);
    return { type: OpCode.deleteContainer, path };
  }

  /** A session's end: its ephemerals, as they will be once pending txns apply, are deleted. */
  prepareCloseSession(ctx: PrepContext): TxnBody {
    const paths = new Set(this.tree.ephemeralsOf(ctx.sessionId));
    for (const [path, list] of this.changes) {
      const view = list[list.length - 1]!.view;
      if (!view) paths.delete(path);
      else if (view.ephemeralOwner === ctx.sessionId) paths.add(path);
    }
    for (const path of paths) {
      const parentPath = parentOf(path);
      if (this.exists(parentPath)) this.removeChange(parentPath, this.lookup(parentPath), path, ctx.zxid);
      else this.record(path, ctx.zxid, null);
    }
    return { type: OpCode.closeSession, paths: [...paths] };
  }
}

function nextVersion(current: number, expected: number): number {
  if (expected !== -1 && expected !== current) throw new ZkError(Err.badVersion);
  return (current + 1) | 0;
}
