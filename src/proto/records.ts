// Jute records of the client protocol (zookeeper.jute, module org.apache.zookeeper.proto
// and .data): their shapes and their codecs. Shared by the server and the client library.

import { JuteError, type JuteReader, type JuteWriter } from '../jute/archive.ts';
import { OpCode } from './constants.ts';

export interface Id {
  scheme: string;
  id: string;
}

export interface ACL {
  perms: number;
  id: Id;
}

export interface Stat {
  czxid: number;
  mzxid: number;
  ctime: number;
  mtime: number;
  version: number;
  cversion: number;
  aversion: number;
  ephemeralOwner: bigint;
  dataLength: number;
  numChildren: number;
  pzxid: number;
}

export const readId = (r: JuteReader): Id => ({ scheme: r.string(), id: r.string() });
export const writeId = (w: JuteWriter, id: Id): void => void w.ustring(id.scheme).ustring(id.id);
export const readACL = (r: JuteReader): ACL => ({ perms: r.int(), id: readId(r) });
export const writeACL = (w: JuteWriter, a: ACL): void => {
  w.int(a.perms);
  writeId(w, a.id);
};

export function readStat(r: JuteReader): Stat {
  return {
    czxid: r.long(),
    mzxid: r.long(),
    ctime: r.long(),
    mtime: r.long(),
    version: r.int(),
    cversion: r.int(),
    aversion: r.int(),
    ephemeralOwner: r.bigLong(),
    dataLength: r.int(),
    numChildren: r.int(),
    pzxid: r.long(),
  };
}

export function writeStat(w: JuteWriter, s: Stat): void {
  w.long(s.czxid).long(s.mzxid).long(s.ctime).long(s.mtime);
  w.int(s.version).int(s.cversion).int(s.aversion).bigLong(s.ephemeralOwner);
  w.int(s.dataLength).int(s.numChildren).long(s.pzxid);
}

// ---- handshake ----

export interface ConnectRequest {
  protocolVersion: number;
  lastZxidSeen: number;
  timeOut: number;
  sessionId: bigint;
  passwd: Buffer;
  /** undefined when the client did not send the optional byte (old clients) */
  readOnly: boolean | undefined;
}

export function readConnectRequest(r: JuteReader): ConnectRequest {
  const req = {
    protocolVersion: r.int(),
    lastZxidSeen: r.long(),
    timeOut: r.int(),
    sessionId: r.bigLong(),
    passwd: r.buffer() ?? Buffer.alloc(0),
    readOnly: undefined as boolean | undefined,
  };
  if (r.remaining > 0) req.readOnly = r.bool();
  return req;
}

export interface ConnectResponse {
  protocolVersion: number;
  timeOut: number;
  sessionId: bigint;
  passwd: Buffer;
  readOnly: boolean | undefined;
}

export function writeConnectResponse(w: JuteWriter, c: ConnectResponse): void {
  w.int(c.protocolVersion).int(c.timeOut).bigLong(c.sessionId).buffer(c.passwd);
  if (c.readOnly !== undefined) w.bool(c.readOnly);
}

export function writeConnectRequest(w: JuteWriter, c: ConnectRequest): void {
  w.int(c.protocolVersion).long(c.lastZxidSeen).int(c.timeOut).bigLong(c.sessionId).buffer(c.passwd);
  if (c.readOnly !== undefined) w.bool(c.readOnly);
}

export function readConnectResponse(r: JuteReader): ConnectResponse {
  return {
    protocolVersion: r.int(),
    timeOut: r.int(),
    sessionId: r.bigLong(),
    passwd: r.buffer() ?? Buffer.alloc(0),
    readOnly: r.remaining > 0 ? r.bool() : undefined,
  };
}

// ---- requests ----

export type Request =
  | { type: typeof OpCode.create | typeof OpCode.create2 | typeof OpCode.createContainer; path: string; data: Buffer | null; acl: ACL[]; flags: number }
  | { type: typeof OpCode.createTTL; path: string; data: Buffer | null; acl: ACL[]; flags: number; ttl: number }
  | { type: typeof OpCode.delete; path: string; version: number }
  | { type: typeof OpCode.deleteContainer; path: string }
  | { type: typeof OpCode.setData; path: string; data: Buffer | null; version: number }
  | { type: typeof OpCode.setACL; path: string; acl: ACL[]; version: number }
  | { type: typeof OpCode.check; path: string; version: number }
  | { type: typeof OpCode.exists | typeof OpCode.getData | typeof OpCode.getChildren | typeof OpCode.getChildren2; path: string; watch: boolean }
  | { type: typeof OpCode.getACL | typeof OpCode.sync | typeof OpCode.getAllChildrenNumber | typeof OpCode.getEphemerals; path: string }
  | { type: typeof OpCode.multi | typeof OpCode.multiRead; ops: Request[] }
  | { type: typeof OpCode.checkWatches | typeof OpCode.removeWatches; path: string; watcherType: number }
  | { type: typeof OpCode.addWatch; path: string; mode: number }
  | { type: typeof OpCode.auth; authType: number; scheme: string; auth: Buffer }
  | { type: typeof OpCode.sasl; token: Buffer | null }
  | {
      type: typeof OpCode.setWatches | typeof OpCode.setWatches2;
      relativeZxid: number;
      dataWatches: string[];
      existWatches: string[];
      childWatches: string[];
      persistentWatches: string[];
      persistentRecursiveWatches: string[];
    }
  | { type: typeof OpCode.ping | typeof OpCode.closeSession | typeof OpCode.whoAmI | typeof OpCode.reconfig };

export type RequestOf<T extends Request['type']> = Request & { type: T };

const acls = (r: JuteReader): ACL[] => r.vector(readACL) ?? [];

/** A path, which ZooKeeper cannot process when null. */
function requiredPath(r: JuteReader): string {
  const s = r.ustring();
  if (s === null) throw new JuteError('null path');
  return s;
}

/** A watch list of setWatches, which ZooKeeper cannot process when null. */
function watchList(r: JuteReader): string[] {
  const l = r.vector((x) => x.string());
  if (l === null) throw new JuteError('null watch list');
  return l;
}

/** Decode the record that follows a RequestHeader of the given type. Throws JuteError for an opcode it does not know. */
export function readRequest(type: number, r: JuteReader): Request {
  switch (type) {
    case OpCode.create:
    case OpCode.create2:
    case OpCode.createContainer:
      return { type, path: requiredPath(r), data: r.buffer(), acl: acls(r), flags: r.int() };
    case OpCode.createTTL:
      return { type, path: requiredPath(r), data: r.buffer(), acl: acls(r), flags: r.int(), ttl: r.long() };
    case OpCode.delete:
    case OpCode.check:
      return { type, path: requiredPath(r), version: r.int() };
    case OpCode.setData:
      return { type, path: requiredPath(r), data: r.buffer(), version: r.int() };
    case OpCode.setACL:
      return { type, path: requiredPath(r), acl: acls(r), version: r.int() };
    case OpCode.exists:
    case OpCode.getData:
    case OpCode.getChildren:
    case OpCode.getChildren2:
      return { type, path: requiredPath(r), watch: r.bool() };
    case OpCode.getACL:
    case OpCode.sync:
    case OpCode.getAllChildrenNumber:
    case OpCode.getEphemerals:
      return { type, path: requiredPath(r) };
    case OpCode.multi:
    case OpCode.multiRead: {
      const ops: Request[] = [];
      for (;;) {
        const opType = r.int();
        const done = r.bool();
        r.int(); // err, unused in requests
        if (done) break;
        if (opType === OpCode.multi || opType === OpCode.multiRead) throw new JuteError('nested multi');
        ops.push(readRequest(opType, r));
      }
      return { type, ops };
    }
    case OpCode.checkWatches:
    case OpCode.removeWatches:
      return { type, path: requiredPath(r), watcherType: r.int() };
    case OpCode.addWatch:
      return { type, path: requiredPath(r), mode: r.int() };
    case OpCode.auth:
      return { type, authType: r.int(), scheme: r.string(), auth: r.buffer() ?? Buffer.alloc(0) };
    case OpCode.setWatches:
    case OpCode.setWatches2:
      return {
        type,
        relativeZxid: r.long(),
        dataWatches: watchList(r),
        existWatches: watchList(r),
        childWatches: watchList(r),
        persistentWatches: type === OpCode.setWatches2 ? watchList(r) : [],
        persistentRecursiveWatches: type === OpCode.setWatches2 ? watchList(r) : [],
      };
    case OpCode.deleteContainer:
      // Server-internal; ZooKeeper reads the whole body as the path.
      return { type, path: r.rest().toString('utf8') };
    case OpCode.reconfig:
      // Read (so a malformed one is refused) but not used: reconfig is disabled.
      r.ustring();
      r.ustring();
      r.ustring();
      r.long();
      return { type };
    case OpCode.ping:
    case OpCode.closeSession:
    case OpCode.whoAmI:
      return { type };
    case OpCode.sasl:
      return { type, token: r.buffer() };
    default:
      throw new JuteError(`unknown opcode ${type}`);
  }
}

/** Encode a request record (the client side of readRequest). */
export function writeRequest(w: JuteWriter, req: Request): void {
  switch (req.type) {
    case OpCode.create:
    case OpCode.create2:
    case OpCode.createContainer:
    case OpCode.createTTL:
      w.ustring(req.path).buffer(req.data).vector(req.acl, writeACL).int(req.flags);
      if (req.type === OpCode.createTTL) w.long(req.ttl);
      return;
    case OpCode.delete:
    case OpCode.check:
      w.ustring(req.path).int(req.version);
      return;
    case OpCode.setData:
      w.ustring(req.path).buffer(req.data).int(req.version);
      return;
    case OpCode.setACL:
      w.ustring(req.path).vector(req.acl, writeACL).int(req.version);
      return;
    case OpCode.exists:
    case OpCode.getData:
    case OpCode.getChildren:
    case OpCode.getChildren2:
      w.ustring(req.path).bool(req.watch);
      return;
    case OpCode.getACL:
    case OpCode.sync:
    case OpCode.getAllChildrenNumber:
    case OpCode.getEphemerals:
      w.ustring(req.path);
      return;
    case OpCode.deleteContainer:
      w.raw(Buffer.from(req.path));
      return;
    case OpCode.multi:
    case OpCode.multiRead:
      for (const op of req.ops) {
        w.int(op.type).bool(false).int(-1);
        writeRequest(w, op);
      }
      w.int(-1).bool(true).int(-1);
      return;
    case OpCode.checkWatches:
    case OpCode.removeWatches:
      w.ustring(req.path).int(req.watcherType);
      return;
    case OpCode.addWatch:
      w.ustring(req.path).int(req.mode);
      return;
    case OpCode.auth:
      w.int(req.authType).ustring(req.scheme).buffer(req.auth);
      return;
    case OpCode.sasl:
      w.buffer(req.token);
      return;
    case OpCode.setWatches:
    case OpCode.setWatches2: {
      const list = (l: string[]) => w.vector(l, (x, s) => x.ustring(s));
      w.long(req.relativeZxid);
      list(req.dataWatches);
      list(req.existWatches);
      list(req.childWatches);
      if (req.type === OpCode.setWatches2) {
        list(req.persistentWatches);
        list(req.persistentRecursiveWatches);
      }
      return;
    }
    default:
      return;
  }
}
