// Transactions: what a write becomes once it has been checked and given a zxid.
// The same records go into the transaction log, into Zab proposals, and into
// DataTree.apply(), so every replica and every replay applies identical bytes.
//
// A txn payload (ZooKeeper's Util.marshallTxnEntry) is TxnHeader + txn record
// [+ TxnDigest]: the body of a log entry and the data of PROPOSAL, INFORM and
// the proposals of a DIFF. writePayload/decodePayload are its one codec.

import { JuteError, JuteReader, JuteWriter } from '../jute/archive.ts';
import { OpCode } from './constants.ts';
import { readACL, writeACL, type ACL } from './records.ts';

export interface TxnHeader {
  clientId: bigint;
  cxid: number;
  zxid: number;
  time: number;
  type: number;
}

export type TxnBody =
  | { type: typeof OpCode.createSession; timeOut: number }
  | { type: typeof OpCode.closeSession; paths: string[] }
  | { type: typeof OpCode.create | typeof OpCode.create2; path: string; data: Buffer | null; acl: ACL[]; ephemeral: boolean; parentCVersion: number }
  | { type: typeof OpCode.createContainer; path: string; data: Buffer | null; acl: ACL[]; parentCVersion: number }
  | { type: typeof OpCode.createTTL; path: string; data: Buffer | null; acl: ACL[]; parentCVersion: number; ttl: number }
  | { type: typeof OpCode.delete | typeof OpCode.deleteContainer; path: string }
  | { type: typeof OpCode.setData; path: string; data: Buffer | null; version: number }
  | { type: typeof OpCode.setACL; path: string; acl: ACL[]; version: number }
  | { type: typeof OpCode.check; path: string; version: number }
  | { type: typeof OpCode.multi; txns: TxnBody[] }
  | { type: typeof OpCode.error; err: number };

export interface Txn {
  hdr: TxnHeader;
  body: TxnBody;
}

export function writeTxnHeader(w: JuteWriter, h: TxnHeader): void {
  w.bigLong(h.clientId).int(h.cxid).long(h.zxid).long(h.time).int(h.type);
}

export function readTxnHeader(r: JuteReader): TxnHeader {
  return { clientId: r.bigLong(), cxid: r.int(), zxid: r.long(), time: r.long(), type: r.int() };
}

export function writeTxnBody(w: JuteWriter, b: TxnBody): void {
  switch (b.type) {
    case OpCode.createSession:
      w.int(b.timeOut);
      return;
    case OpCode.closeSession:
      w.vector(b.paths, (x, p) => x.ustring(p));
      return;
    case OpCode.create:
    case OpCode.create2:
      w.ustring(b.path).buffer(b.data).vector(b.acl, writeACL).bool(b.ephemeral).int(b.parentCVersion);
      return;
    case OpCode.createContainer:
      w.ustring(b.path).buffer(b.data).vector(b.acl, writeACL).int(b.parentCVersion);
      return;
    case OpCode.createTTL:
      w.ustring(b.path).buffer(b.data).vector(b.acl, writeACL).int(b.parentCVersion).long(b.ttl);
      return;
    case OpCode.delete:
    case OpCode.deleteContainer:
      w.ustring(b.path);
      return;
    case OpCode.setData:
      w.ustring(b.path).buffer(b.data).int(b.version);
      return;
    case OpCode.setACL:
      w.ustring(b.path).vector(b.acl, writeACL).int(b.version);
      return;
    case OpCode.check:
      w.ustring(b.path).int(b.version);
      return;
    case OpCode.multi:
      w.vector(b.txns, (x, t) => {
        const inner = new JuteWriter(64);
        writeTxnBody(inner, t);
        x.int(t.type).buffer(inner.toBuffer());
      });
      return;
    case OpCode.error:
      w.int(b.err);
      return;
  }
}

export function readTxnBody(type: number, r: JuteReader): TxnBody {
  switch (type) {
    case OpCode.createSession:
      return { type, timeOut: r.int() };
    case OpCode.closeSession:
      // Pre-3.6 logs carry no path list.
      return { type, paths: r.remaining > 0 ? (r.vector((x) => x.string()) ?? []) : [] };
    case OpCode.create:
    case OpCode.create2: {
      const path = r.string();
      const data = r.buffer();
      const acl = r.vector(readACL) ?? [];
      const ephemeral = r.bool();
      // CreateTxnV0 (very old logs) lacks parentCVersion; -1 means "parent's + 1".
      const parentCVersion = r.remaining >= 4 ? r.int() : -1;
      return { type, path, data, acl, ephemeral, parentCVersion };
    }
    case OpCode.createContainer:
      return { type, path: r.string(), data: r.buffer(), acl: r.vector(readACL) ?? [], parentCVersion: r.int() };
    case OpCode.createTTL:
      return { type, path: r.string(), data: r.buffer(), acl: r.vector(readACL) ?? [], parentCVersion: r.int(), ttl: r.long() };
    case OpCode.delete:
    case OpCode.deleteContainer:
      return { type, path: r.string() };
    case OpCode.setData:
      return { type, path: r.string(), data: r.buffer(), version: r.int() };
    case OpCode.setACL:
      return { type, path: r.string(), acl: r.vector(readACL) ?? [], version: r.int() };
    case OpCode.check:
      return { type, path: r.string(), version: r.int() };
    case OpCode.multi: {
      const parts = r.vector((x) => ({ type: x.int(), data: x.buffer() ?? Buffer.alloc(0) })) ?? [];
      return {
        type,
        txns: parts.map((p) => {
          if (p.type === OpCode.multi) throw new JuteError('multi txn nested in a multi txn');
          return readTxnBody(p.type, new JuteReader(p.data));
        }),
      };
    }
    case OpCode.error:
      return { type, err: r.int() };
    default:
      throw new JuteError(`unknown txn type ${type}`);
  }
}

/** ZooKeeper 3.6+ appends the tree digest after applying the txn (digest.enabled, the default). */
export interface TxnDigest {
  version: number;
  treeDigest: bigint;
}

/** A txn as logged or proposed: ZooKeeper's record, plus the digest when the payload carries one. */
export type LoggedTxn = Txn & { digest?: TxnDigest };

/** TxnDigest is int version + long digest. */
const DIGEST_BYTES = 12;

/** TxnHeader + txn record [+ TxnDigest]. */
export function writePayload(w: JuteWriter, txn: LoggedTxn): void {
  w.raw(payloadBytes(txn));
}

/**
 * Each txn's payload, encoded once: a leader's log record and its PROPOSAL to
 * every follower share the bytes, and a follower logs the PROPOSAL's own
 * bytes. A txn is never changed once made, and these bytes are never written
 * to. They are kept on the txn, under this key, not enumerable: a copy
 * ({ ...txn }, which may change a field) does not inherit them, and a txn
 * compares by its fields alone. Not in a WeakMap: its table, holding every
 * txn since the last full GC, made each scavenge slower and carried young
 * txns into the old generation.
 */
const PAYLOAD = Symbol('payload');

type WithPayload = LoggedTxn & { [PAYLOAD]?: Buffer };

function keepPayload(txn: LoggedTxn, bytes: Buffer): void {
  Object.defineProperty(txn, PAYLOAD, { value: bytes });
}

/** The payload bytes of `txn` (TxnHeader + txn record [+ TxnDigest]), encoded on first use. */
export function payloadBytes(txn: LoggedTxn): Buffer {
  let bytes = (txn as WithPayload)[PAYLOAD];
  if (bytes === undefined) {
    const data = 'data' in txn.body ? txn.body.data : null;
    const w = new JuteWriter(128 + (data?.length ?? 0));
    writeTxnHeader(w, txn.hdr);
    writeTxnBody(w, txn.body);
    if (txn.digest) w.int(txn.digest.version).bigLong(txn.digest.treeDigest);
    bytes = w.take();
    keepPayload(txn, bytes);
  }
  return bytes;
}

/** Decode a whole txn payload. Throws JuteError on anything it cannot account for. */
export function decodePayload(payload: Buffer): LoggedTxn {
  let r = new JuteReader(payload);
  const hdr = readTxnHeader(r);
  const recordStart = r.offset;
  let body;
  try {
    body = readTxnBody(hdr.type, r);
    if (r.remaining !== 0 && r.remaining !== DIGEST_BYTES) throw new JuteError(`${r.remaining} unexpected bytes after the ${hdr.type} txn record (a TxnDigest is ${DIGEST_BYTES})`);
  } catch (e) {
    if (hdr.type === OpCode.closeSession && payload.length - recordStart === DIGEST_BYTES) {
      // zookeeper.closeSessionTxn.enabled=false: no record, only the digest.
      r = new JuteReader(payload, recordStart);
      body = { type: OpCode.closeSession, paths: [] as string[] };
    } else {
      if (e instanceof JuteError) throw e;
      throw new JuteError((e as Error).message);
    }
  }
  const txn: LoggedTxn = { hdr, body };
  if (r.remaining === DIGEST_BYTES) {
    txn.digest = { version: r.int(), treeDigest: r.bigLong() };
  }
  // Logged or proposed again as the very bytes it came from (so a replay decodes exactly what was applied).
  keepPayload(txn, payload);
  return txn;
}
