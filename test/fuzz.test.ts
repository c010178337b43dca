// Fuzzing the decoders, the request pipeline and a real server.
//
//  1. Decoders (in process): random and mutated bytes make JuteReader,
//     readConnectRequest, readRequest, readTxnBody and readResponse either return
//     or throw JuteError, never read outside the bytes they were given, and
//     encode → decode round-trips every generated valid record.
//  2. Pipeline (in process): random sequences of valid and invalid requests from
//     several sessions, clock ticks, reconnects and container reaping go through
//     Processor with fake clients (and, byte-wise, through Connection with a fake
//     socket). Nothing throws, every request gets exactly one reply or a close,
//     replies come in request order, failed requests change nothing, and the
//     DataTree invariants hold after every step.
//  3. Network: a few hundred random and mutated frames over several connections
//     to a real Paddock process; afterwards the server is alive, a healthy session
//     works, and the tree it shows is consistent.
//
// Seeds are fixed (FUZZ_SEED overrides); fast-check prints seed and path of a failure.

import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { JuteError, JuteReader, JuteWriter } from '../src/jute/archive.ts';
import { Err, OpCode, Xid } from '../src/proto/constants.ts';
import {
  readConnectRequest,
  readRequest,
  writeConnectRequest,
  writeRequest,
  type ACL,
  type ConnectRequest,
  type ConnectResponse,
  type Id,
  type Request,
  type Stat,
} from '../src/proto/records.ts';
import { readResponse, writeReplyHeader, writeResponse, type MultiResult, type Response } from '../src/proto/responses.ts';
import { readTxnBody, writeTxnBody, type TxnBody } from '../src/proto/txn.ts';
import { FlowControl } from '../src/server/backpressure.ts';
import { Connection, type ConnectionHost } from '../src/server/connection.ts';
import { Processor, type Client } from '../src/server/processor.ts';
import { sessionPassword } from '../src/server/sessions.ts';
import { CONTAINER_OWNER, kindOf, type DataTree, type ZNode } from '../src/tree/datatree.ts';
import { childPath, nameOf, parentOf, pathProblem } from '../src/tree/path.ts';
import { fourLetterWord, startServer, type RunningServer } from './support/servers.ts';
import { FakeSocket } from './support/fakesocket.ts';
import { HealthyClient, RawConn, connectPayload, frame, parseReply, requestPayload, sleep } from './support/rawclient.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20240611);
const runs = (n: number): fc.Parameters<unknown> => ({ seed: SEED, numRuns: n });

// ---------------------------------------------------------------------------
// generators
// ---------------------------------------------------------------------------

const int32 = fc.integer({ min: -0x80000000, max: 0x7fffffff });
const safeLong = fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER });
const bytes = (max = 24) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));
const text = fc.fullUnicodeString({ maxLength: 12 });
const interestingInt = fc.constantFrom(-0x80000000, -2, -1, 0, 1, 2, 3, 4, 7, 16, 255, 0xfffff, 0x100000, 0x7fffffff);

const VALID_PATHS = ['/', '/a', '/a/b', '/a/b/c', '/b', '/b/x', '/c', '/zookeeper', '/zookeeper/quota', '/zookeeper/config'];
const BAD_PATHS = ['/a/', '//', '/a/./b', '/a/../b', '', 'a', '/a\0b', '/\u0001', '/\ud800x', '/.', '/a//b'];
const anyPath = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...VALID_PATHS) },
  { weight: 2, arbitrary: fc.constantFrom(...BAD_PATHS) },
  { weight: 1, arbitrary: text.map((s) => `/${s}`) },
);
const data = fc.oneof(fc.constant(null), bytes(16));
const id: fc.Arbitrary<Id> = fc.oneof(
  fc.constant({ scheme: 'world', id: 'anyone' }),
  fc.constant({ scheme: 'auth', id: '' }),
  fc.constant({ scheme: 'digest', id: 'u:Jq7wMyA/w2Vd5WIDAKdu4OIIFEQ=' }),
  fc.constant({ scheme: 'ip', id: '127.0.0.1' }),
  fc.constant({ scheme: 'ip', id: '10.0.0.0/8' }),
  fc.constant({ scheme: 'world', id: 'bogus' }),
  fc.constant({ scheme: 'bogus', id: 'x' }),
  fc.record({ scheme: text, id: text }),
);
const acl: fc.Arbitrary<ACL[]> = fc.oneof(
  { weight: 6, arbitrary: fc.constant([{ perms: 31, id: { scheme: 'world', id: 'anyone' } }]) },
  { weight: 4, arbitrary: fc.array(fc.record({ perms: fc.oneof(fc.constantFrom(0, 1, 31), fc.integer({ min: 0, max: 31 })), id }), { maxLength: 3 }) },
);
const version = fc.oneof(fc.constant(-1), fc.constant(-1), fc.integer({ min: -2, max: 3 }), int32);
const watch = fc.boolean();
const pathList = fc.array(anyPath, { maxLength: 3 });

const createReq = fc.record({
  type: fc.constantFrom(OpCode.create, OpCode.create2, OpCode.createContainer),
  path: anyPath,
  data,
  acl,
  flags: fc.oneof(fc.integer({ min: 0, max: 6 }), fc.constantFrom(-1, 7, 9)),
}) as fc.Arbitrary<Request>;
const createTTLReq = fc.record({
  type: fc.constant(OpCode.createTTL),
  path: anyPath,
  data,
  acl,
  flags: fc.oneof(fc.constantFrom(5, 6), fc.integer({ min: -1, max: 7 })),
  ttl: fc.oneof(fc.constantFrom(-1, 0, 1, 1000, 0xffffffffff, 0x10000000000), fc.integer({ min: -5, max: 100_000 })),
}) as fc.Arbitrary<Request>;
const deleteReq = fc.record({ type: fc.constant(OpCode.delete), path: anyPath, version }) as fc.Arbitrary<Request>;
const setDataReq = fc.record({ type: fc.constant(OpCode.setData), path: anyPath, data, version }) as fc.Arbitrary<Request>;
const checkReq = fc.record({ type: fc.constant(OpCode.check), path: anyPath, version }) as fc.Arbitrary<Request>;
const setACLReq = fc.record({ type: fc.constant(OpCode.setACL), path: anyPath, acl, version }) as fc.Arbitrary<Request>;
const readReq = fc.record({
  type: fc.constantFrom(OpCode.exists, OpCode.getData, OpCode.getChildren, OpCode.getChildren2),
  path: anyPath,
  watch,
}) as fc.Arbitrary<Request>;
const pathOnlyReq = fc.record({
  type: fc.constantFrom(OpCode.getACL, OpCode.sync, OpCode.getAllChildrenNumber, OpCode.getEphemerals),
  path: anyPath,
}) as fc.Arbitrary<Request>;
const multiOp = fc.oneof(
  { weight: 3, arbitrary: createReq },
  { weight: 1, arbitrary: createTTLReq },
  { weight: 3, arbitrary: deleteReq },
  { weight: 3, arbitrary: setDataReq },
  { weight: 2, arbitrary: checkReq },
);
const multiReq = fc.record({
  type: fc.constant(OpCode.multi),
  ops: fc.array(multiOp, { maxLength: 4 }),
}) as fc.Arbitrary<Request>;
const multiReadReq = fc.record({
  type: fc.constant(OpCode.multiRead),
  ops: fc.array(fc.record({ type: fc.constantFrom(OpCode.getData, OpCode.getChildren), path: anyPath, watch: fc.constant(false) }) as fc.Arbitrary<Request>, { maxLength: 3 }),
}) as fc.Arbitrary<Request>;
const watchesReq = fc.record({
  type: fc.constantFrom(OpCode.checkWatches, OpCode.removeWatches),
  path: anyPath,
  watcherType: fc.constantFrom(1, 2, 3),
}) as fc.Arbitrary<Request>;
const addWatchReq = fc.record({ type: fc.constant(OpCode.addWatch), path: anyPath, mode: fc.constantFrom(0, 1) }) as fc.Arbitrary<Request>;
const authReq = fc.record({
  type: fc.constant(OpCode.auth),
  authType: fc.constant(0),
  scheme: fc.oneof({ weight: 5, arbitrary: fc.constant('digest') }, { weight: 1, arbitrary: fc.constantFrom('ip', 'bogus') }),
  auth: fc.constantFrom('u:p', 'v:q', 'nocolon').map((s) => Buffer.from(s)),
}) as fc.Arbitrary<Request>;
const setWatchesReq = fc.record({
  type: fc.constantFrom(OpCode.setWatches, OpCode.setWatches2),
  relativeZxid: fc.integer({ min: 0, max: 50 }),
  dataWatches: pathList,
  existWatches: pathList,
  childWatches: pathList,
  persistentWatches: pathList,
  persistentRecursiveWatches: pathList,
}).map((r) => (r.type === OpCode.setWatches ? { ...r, persistentWatches: [], persistentRecursiveWatches: [] } : r)) as fc.Arbitrary<Request>;
const noBodyReq = fc.constantFrom(OpCode.ping, OpCode.whoAmI, OpCode.reconfig, OpCode.closeSession).map((type) => ({ type }) as Request);
const saslReq = fc.record({ type: fc.constant(OpCode.sasl), token: fc.option(bytes(40)) }) as fc.Arbitrary<Request>;

/** Requests a client can send (well-formed records; the values may be invalid). */
const anyRequest: fc.Arbitrary<Request> = fc.oneof(
  { weight: 10, arbitrary: createReq },
  { weight: 2, arbitrary: createTTLReq },
  { weight: 5, arbitrary: deleteReq },
  { weight: 5, arbitrary: setDataReq },
  { weight: 2, arbitrary: setACLReq },
  { weight: 1, arbitrary: checkReq },
  { weight: 8, arbitrary: readReq },
  { weight: 3, arbitrary: pathOnlyReq },
  { weight: 5, arbitrary: multiReq },
  { weight: 2, arbitrary: multiReadReq },
  { weight: 2, arbitrary: watchesReq },
  { weight: 1, arbitrary: addWatchReq },
  { weight: 2, arbitrary: authReq },
  { weight: 1, arbitrary: setWatchesReq },
  { weight: 1, arbitrary: noBodyReq },
  { weight: 1, arbitrary: saslReq },
);

/** Requests whose records survive encode → decode unchanged (non-null strings; setWatches lists as the op carries them). */
const roundTripRequest: fc.Arbitrary<Request> = anyRequest.filter((r) => r.type !== OpCode.reconfig);

const stat: fc.Arbitrary<Stat> = fc.record({
  czxid: safeLong,
  mzxid: safeLong,
  ctime: safeLong,
  mtime: safeLong,
  version: int32,
  cversion: int32,
  aversion: int32,
  ephemeralOwner: fc.bigIntN(64),
  dataLength: int32,
  numChildren: int32,
  pzxid: safeLong,
});

// ---- mutation of valid encodings ----

type Mutation = { k: 'flip' | 'set' | 'int' | 'truncate' | 'insert' | 'delete' | 'dup'; at: number; v: number; n: number };
const mutation: fc.Arbitrary<Mutation> = fc.record({
  k: fc.constantFrom('flip', 'set', 'int', 'int', 'truncate', 'insert', 'delete', 'dup'),
  at: fc.nat(),
  v: fc.oneof(fc.nat(255), interestingInt),
  n: fc.integer({ min: 1, max: 8 }),
});

function mutate(input: Buffer, ms: readonly Mutation[], from = 0): Buffer {
  let b = Buffer.from(input);
  for (const m of ms) {
    const span = b.length - from;
    const at = from + (span > 0 ? m.at % span : 0);
    switch (m.k) {
      case 'flip':
        if (at < b.length) b[at]! ^= 1 << (m.v & 7);
        break;
      case 'set':
        if (at < b.length) b[at] = m.v & 0xff;
        break;
      case 'int':
        if (at + 4 <= b.length) b.writeInt32BE(m.v | 0, at);
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), Buffer.alloc(m.n, m.v & 0xff), b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.n)]);
        break;
      case 'dup':
        b = Buffer.concat([b.subarray(0, at + m.n), b.subarray(at)]);
        break;
    }
  }
  return b;
}

/** Run `fn`; it may return or throw JuteError, nothing else. */
function onlyJuteError(what: string, fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (e instanceof JuteError) return;
    throw new Error(`${what} threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
  }
}

const KNOWN_OPS = Object.values(OpCode) as number[];
const opType = fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...KNOWN_OPS) }, { weight: 1, arbitrary: int32 });

/** `v` with every string as it comes back from UTF-8 (lone surrogates become U+FFFD). */
function utf8Normalized<T>(v: T): T {
  if (typeof v === 'string') return Buffer.from(v, 'utf8').toString('utf8') as T;
  if (Array.isArray(v)) return v.map(utf8Normalized) as T;
  if (v && typeof v === 'object' && !Buffer.isBuffer(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, utf8Normalized(x)])) as T;
  return v;
}

function encodeRequest(req: Request): Buffer {
  const w = new JuteWriter(64);
  writeRequest(w, req);
  return w.toBuffer();
}

// ---------------------------------------------------------------------------
// 1. decoders
// ---------------------------------------------------------------------------

describe('decoders', () => {
  type ReadOp = 'bool' | 'byte' | 'int' | 'long' | 'bigLong' | 'buffer' | 'ustring' | 'string' | 'vecInt' | 'vecStr';
  const readOps = fc.array(fc.constantFrom<ReadOp>('bool', 'byte', 'int', 'long', 'bigLong', 'buffer', 'ustring', 'string', 'vecInt', 'vecStr'), { maxLength: 16 });

  function runReads(r: JuteReader, ops: readonly ReadOp[], start: number, end: number): unknown[] {
    const out: unknown[] = [];
    let last = r.offset;
    for (const op of ops) {
      try {
        switch (op) {
          case 'vecInt':
            out.push(r.vector((x) => x.int()));
            break;
          case 'vecStr':
            out.push(r.vector((x) => x.ustring()));
            break;
          default:
            out.push((r as unknown as Record<string, () => unknown>)[op]!.call(r));
        }
      } catch (e) {
        if (!(e instanceof JuteError)) throw new Error(`JuteReader.${op} threw ${(e as Error).constructor.name}: ${(e as Error).message}`);
        out.push(`JuteError: ${e.message}`);
      }
      assert.ok(r.offset >= last && r.offset >= start && r.offset <= end, `offset ${r.offset} left [${start}, ${end}] after ${op}`);
      assert.equal(r.remaining, end - r.offset);
      last = r.offset;
    }
    return out;
  }

  test('JuteReader: random reads of random bytes throw only JuteError and never look outside their window', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 48 }),
        fc.nat(8),
        fc.nat(8),
        fc.constantFrom(0x7fffffff, 16, 3, 0),
        readOps,
        (win, padL, padR, maxLength, ops) => {
          // the same window inside two different surroundings must read identically
          const results = [0x00, 0xff].map((fill) => {
            const buf = Buffer.concat([Buffer.alloc(padL, fill), Buffer.from(win), Buffer.alloc(padR, fill)]);
            return runReads(new JuteReader(buf, padL, padL + win.length, maxLength), ops, padL, padL + win.length);
          });
          assert.deepEqual(results[0], results[1]);
        },
      ),
      runs(1500),
    );
  });

  test('JuteReader: a vector count larger than the bytes left is refused before allocating', () => {
    const buf = Buffer.concat([Buffer.from([0x7f, 0xff, 0xff, 0xff]), Buffer.alloc(8)]);
    assert.throws(() => new JuteReader(buf).vector((x) => x.int()), JuteError);
    assert.throws(() => new JuteReader(Buffer.from([0xff, 0xff, 0xff, 0xfe])).ustring(), JuteError);
    assert.throws(() => new JuteReader(Buffer.from([0, 0, 0, 9, 1]), 0, 5, 8).buffer(), JuteError);
  });

  type Prim =
    | { t: 'bool'; v: boolean }
    | { t: 'byte'; v: number }
    | { t: 'int'; v: number }
    | { t: 'long'; v: number }
    | { t: 'bigLong'; v: bigint }
    | { t: 'buffer'; v: Buffer | null }
    | { t: 'ustring'; v: string | null }
    | { t: 'vector'; v: string[] | null };
  const prim: fc.Arbitrary<Prim> = fc.oneof(
    fc.record({ t: fc.constant('bool' as const), v: fc.boolean() }),
    fc.record({ t: fc.constant('byte' as const), v: fc.integer({ min: -128, max: 127 }) }),
    fc.record({ t: fc.constant('int' as const), v: int32 }),
    fc.record({ t: fc.constant('long' as const), v: safeLong }),
    fc.record({ t: fc.constant('bigLong' as const), v: fc.bigIntN(64) }),
    fc.record({ t: fc.constant('buffer' as const), v: fc.option(bytes(40), { nil: null }) }),
    fc.record({ t: fc.constant('ustring' as const), v: fc.option(fc.fullUnicodeString({ maxLength: 20 }), { nil: null }) }),
    fc.record({ t: fc.constant('vector' as const), v: fc.option(fc.array(fc.fullUnicodeString({ maxLength: 6 }), { maxLength: 5 }), { nil: null }) }),
  );

  test('JuteWriter → JuteReader round-trips every primitive', () => {
    fc.assert(
      fc.property(fc.array(prim, { maxLength: 20 }), fc.integer({ min: 1, max: 64 }), (values, initial) => {
        const w = new JuteWriter(initial);
        for (const p of values) {
          if (p.t === 'vector') w.vector(p.v, (x, s) => x.ustring(s));
          else (w as unknown as Record<string, (v: unknown) => JuteWriter>)[p.t]!.call(w, p.v);
        }
        const r = new JuteReader(w.toBuffer());
        for (const p of values) {
          const got = p.t === 'vector' ? r.vector((x) => x.ustring()) : (r as unknown as Record<string, () => unknown>)[p.t]!.call(r);
          assert.deepEqual(got, p.v, `${p.t}`);
        }
        assert.equal(r.remaining, 0);
      }),
      runs(1000),
    );
  });

  const connectRequest: fc.Arbitrary<ConnectRequest> = fc.record({
    protocolVersion: int32,
    lastZxidSeen: safeLong,
    timeOut: int32,
    sessionId: fc.bigIntN(64),
    passwd: bytes(16),
    readOnly: fc.option(fc.boolean(), { nil: undefined }),
  });

  test('readConnectRequest: round-trip, and random or mutated bytes throw only JuteError', () => {
    fc.assert(
      fc.property(connectRequest, fc.array(mutation, { maxLength: 4 }), bytes(60), (req, ms, junk) => {
        const w = new JuteWriter();
        writeConnectRequest(w, req);
        const enc = w.toBuffer();
        const r = new JuteReader(enc);
        assert.deepEqual(readConnectRequest(r), req);
        assert.equal(r.remaining, 0);
        onlyJuteError('readConnectRequest(mutated)', () => readConnectRequest(new JuteReader(mutate(enc, ms))));
        onlyJuteError('readConnectRequest(random)', () => readConnectRequest(new JuteReader(junk)));
      }),
      runs(1000),
    );
  });

  test('readRequest: every generated request round-trips', () => {
    fc.assert(
      fc.property(roundTripRequest, (req) => {
        const r = new JuteReader(encodeRequest(req));
        assert.deepEqual(readRequest(req.type, r), utf8Normalized(req));
        assert.equal(r.remaining, 0);
      }),
      runs(2000),
    );
  });

  test('readRequest: mutated records, random bytes and unknown opcodes throw only JuteError', () => {
    fc.assert(
      fc.property(anyRequest, fc.array(mutation, { minLength: 1, maxLength: 5 }), opType, bytes(64), (req, ms, type, junk) => {
        const enc = encodeRequest(req);
        onlyJuteError('readRequest(mutated)', () => readRequest(req.type, new JuteReader(mutate(enc, ms), 0, undefined, 0xfffff)));
        onlyJuteError('readRequest(other type)', () => readRequest(type, new JuteReader(enc)));
        onlyJuteError('readRequest(random)', () => readRequest(type, new JuteReader(junk)));
      }),
      runs(3000),
    );
  });

  // ---- txns ----

  const txnPath = fc.oneof(fc.constantFrom(...VALID_PATHS), text.map((s) => `/${s}`));
  const simpleTxn: fc.Arbitrary<TxnBody> = fc.oneof(
    fc.record({ type: fc.constant(OpCode.createSession), timeOut: int32 }),
    fc.record({ type: fc.constant(OpCode.closeSession), paths: fc.array(txnPath, { maxLength: 3 }) }),
    fc.record({ type: fc.constantFrom(OpCode.create, OpCode.create2), path: txnPath, data, acl, ephemeral: fc.boolean(), parentCVersion: int32 }),
    fc.record({ type: fc.constant(OpCode.createContainer), path: txnPath, data, acl, parentCVersion: int32 }),
    fc.record({ type: fc.constant(OpCode.createTTL), path: txnPath, data, acl, parentCVersion: int32, ttl: safeLong }),
    fc.record({ type: fc.constantFrom(OpCode.delete, OpCode.deleteContainer), path: txnPath }),
    fc.record({ type: fc.constant(OpCode.setData), path: txnPath, data, version: int32 }),
    fc.record({ type: fc.constant(OpCode.setACL), path: txnPath, acl, version: int32 }),
    fc.record({ type: fc.constant(OpCode.check), path: txnPath, version: int32 }),
    fc.record({ type: fc.constant(OpCode.error), err: int32 }),
  ) as fc.Arbitrary<TxnBody>;
  const anyTxn: fc.Arbitrary<TxnBody> = fc.oneof(
    { weight: 4, arbitrary: simpleTxn },
    { weight: 1, arbitrary: fc.record({ type: fc.constant(OpCode.multi), txns: fc.array(simpleTxn, { maxLength: 4 }) }) as fc.Arbitrary<TxnBody> },
  );
  const TXN_TYPES = [OpCode.createSession, OpCode.closeSession, OpCode.create, OpCode.create2, OpCode.createContainer, OpCode.createTTL, OpCode.delete, OpCode.deleteContainer, OpCode.setData, OpCode.setACL, OpCode.check, OpCode.multi, OpCode.error];

  /** readTxnBody documents no error type; an unknown type is reported with a plain Error('unknown txn type'). */
  function onlyTxnErrors(what: string, fn: () => unknown): void {
    try {
      fn();
    } catch (e) {
      if (e instanceof JuteError) return;
      if (e instanceof Error && /^unknown txn type/.test(e.message)) return;
      throw new Error(`${what} threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    }
  }

  test('readTxnBody: every generated txn round-trips', () => {
    fc.assert(
      fc.property(anyTxn, (txn) => {
        const w = new JuteWriter();
        writeTxnBody(w, txn);
        const r = new JuteReader(w.toBuffer());
        assert.deepEqual(readTxnBody(txn.type, r), txn);
        assert.equal(r.remaining, 0);
      }),
      runs(2000),
    );
  });

  test('readTxnBody: mutated and random bytes throw only JuteError (or "unknown txn type")', () => {
    fc.assert(
      fc.property(anyTxn, fc.array(mutation, { minLength: 1, maxLength: 5 }), fc.constantFrom(...TXN_TYPES), bytes(64), (txn, ms, type, junk) => {
        const w = new JuteWriter();
        writeTxnBody(w, txn);
        const enc = w.toBuffer();
        onlyTxnErrors('readTxnBody(mutated)', () => readTxnBody(txn.type, new JuteReader(mutate(enc, ms))));
        onlyTxnErrors('readTxnBody(other type)', () => readTxnBody(type, new JuteReader(enc)));
        onlyTxnErrors('readTxnBody(random)', () => readTxnBody(type, new JuteReader(junk)));
      }),
      runs(3000),
    );
  });

  test('readTxnBody: an unknown txn type, also inside a multi, is a JuteError like any other undecodable txn', () => {
    const inner = Buffer.concat([Buffer.from([0, 0, 0, 1]), Buffer.from([0, 0, 0, 99]), Buffer.from([0, 0, 0, 0])]); // one part: type 99, empty buffer
    assert.throws(() => readTxnBody(99, new JuteReader(Buffer.alloc(8))), JuteError);
    assert.throws(() => readTxnBody(OpCode.multi, new JuteReader(inner)), JuteError);
  });

  test('readTxnBody: a deeply nested multi txn is refused with JuteError, not a stack overflow', () => {
    // multi { multi { multi { ... error(0) } } }: 12 bytes a level, 50 000 levels (600 kB)
    let enc = Buffer.alloc(4); // ErrorTxn err 0
    let type: number = OpCode.error;
    for (let i = 0; i < 50_000; i++) {
      const b = Buffer.alloc(12 + enc.length);
      b.writeInt32BE(1, 0);
      b.writeInt32BE(type, 4);
      b.writeInt32BE(enc.length, 8);
      enc.copy(b, 12);
      enc = b;
      type = OpCode.multi;
    }
    onlyJuteError('readTxnBody(nested multi)', () => readTxnBody(OpCode.multi, new JuteReader(enc)));
  });

  // ---- responses ----

  const children = fc.array(fc.fullUnicodeString({ maxLength: 8 }), { maxLength: 4 });
  const plainResponse = (type: number): fc.Arbitrary<Response> => {
    switch (type) {
      case OpCode.create:
      case OpCode.sync:
        return fc.record({ path: text });
      case OpCode.create2:
      case OpCode.createContainer:
      case OpCode.createTTL:
        return fc.record({ path: text, stat });
      case OpCode.exists:
      case OpCode.setData:
      case OpCode.setACL:
        return fc.record({ stat });
      case OpCode.getData:
        return fc.record({ data, stat });
      case OpCode.getACL:
        return fc.record({ acl: fc.array(fc.record({ perms: int32, id: fc.record({ scheme: text, id: text }) }), { maxLength: 3 }), stat });
      case OpCode.getChildren:
      case OpCode.getEphemerals:
        return fc.record({ children });
      case OpCode.getChildren2:
        return fc.record({ children, stat });
      case OpCode.getAllChildrenNumber:
        return fc.record({ count: int32 });
      case OpCode.whoAmI:
        return fc.record({ clientInfo: fc.array(fc.record({ authScheme: text, user: text }), { maxLength: 3 }) });
      default:
        return fc.constant({});
    }
  };
  const RESPONSE_TYPES = [
    OpCode.create, OpCode.sync, OpCode.create2, OpCode.createContainer, OpCode.createTTL, OpCode.exists, OpCode.setData, OpCode.setACL, OpCode.getData, OpCode.getACL,
    OpCode.getChildren, OpCode.getEphemerals, OpCode.getChildren2, OpCode.getAllChildrenNumber, OpCode.whoAmI, OpCode.delete, OpCode.check, OpCode.ping,
  ];
  const multiResult: fc.Arbitrary<MultiResult> = fc.oneof(
    fc.record({ type: fc.constant(OpCode.error), err: int32 }) as fc.Arbitrary<MultiResult>,
    fc.constantFrom(OpCode.create, OpCode.create2, OpCode.delete, OpCode.setData, OpCode.check, OpCode.getData, OpCode.getChildren).chain((t) =>
      plainResponse(t).map((res) => ({ type: t, err: 0, ...res }) as MultiResult),
    ),
  );
  const typedResponse: fc.Arbitrary<[number, Response]> = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...RESPONSE_TYPES).chain((t) => plainResponse(t).map((res) => [t, res] as [number, Response])) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom(OpCode.multi, OpCode.multiRead), fc.array(multiResult, { maxLength: 4 }).map((results) => ({ results }) as Response)) },
  );

  test('readResponse: every generated reply body round-trips', () => {
    fc.assert(
      fc.property(typedResponse, ([type, res]) => {
        const w = new JuteWriter();
        writeResponse(w, type, res);
        const r = new JuteReader(w.toBuffer());
        assert.deepEqual(readResponse(type, r), res);
        assert.equal(r.remaining, 0);
      }),
      runs(2000),
    );
  });

  test('readResponse: mutated and random bytes throw only JuteError', () => {
    fc.assert(
      fc.property(typedResponse, fc.array(mutation, { minLength: 1, maxLength: 5 }), opType, bytes(96), ([type, res], ms, other, junk) => {
        const w = new JuteWriter();
        writeResponse(w, type, res);
        const enc = w.toBuffer();
        onlyJuteError('readResponse(mutated)', () => readResponse(type, new JuteReader(mutate(enc, ms))));
        onlyJuteError('readResponse(other type)', () => readResponse(other, new JuteReader(enc)));
        onlyJuteError('readResponse(random)', () => readResponse(other, new JuteReader(junk)));
      }),
      runs(3000),
    );
  });

  test('readResponse: a multi reply nesting multi results 100 000 deep is refused with JuteError, not a stack overflow', () => {
    const level = Buffer.alloc(9);
    level.writeInt32BE(OpCode.multi, 0); // MultiHeader(type multi, done false, err 0)
    const enc = Buffer.concat(Array.from({ length: 100_000 }, () => level)); // 900 kB: under a client's 4 MiB frame limit
    onlyJuteError('readResponse(nested multi)', () => readResponse(OpCode.multi, new JuteReader(enc)));
  });
});

// ---------------------------------------------------------------------------
// 2. the request pipeline, in process
// ---------------------------------------------------------------------------

const WRITE_TYPES = new Set<number>([OpCode.create, OpCode.create2, OpCode.createContainer, OpCode.createTTL, OpCode.delete, OpCode.setData, OpCode.setACL, OpCode.check, OpCode.multi, OpCode.reconfig]);
const KNOWN_ERRS = new Set<number>(Object.values(Err));

interface Recorded {
  xid: number;
  zxid: number;
  err: number;
  type: number;
  body?: Response;
}

class FakeClient implements Client {
  readonly remoteAddress = '127.0.0.1';
  sessionId = 0n;
  readonly authIds: Id[] = [{ scheme: 'ip', id: '127.0.0.1' }];
  readonly replies: Recorded[] = [];
  readonly events: { type: number; path: string }[] = [];
  closed: string | null = null;
  problems: string[] = [];
  xid = 0;

  reply(xid: number, zxid: number, err: number, type: number, body?: Response): void {
    // what Connection does with it: encode the header and, for err 0, the body
    const w = new JuteWriter();
    writeReplyHeader(w, xid, zxid, err);
    try {
      if (err === 0 && body) writeResponse(w, type, body);
    } catch (e) {
      this.problems.push(`reply body for op ${type} does not encode: ${(e as Error).message}`);
    }
    this.replies.push({ xid, zxid, err, type, body });
  }

  close(reason: string): void {
    this.closed ??= reason;
  }

  notify(type: number, path: string): void {
    this.events.push({ type, path });
  }
}

type Action =
  | { k: 'req'; c: number; req: Request }
  | { k: 'tick'; ms: number }
  | { k: 'reap' }
  | { k: 'reconnect'; c: number; how: 'new' | 'reattach' | 'badPassword' };

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 30, arbitrary: fc.record({ k: fc.constant('req' as const), c: fc.nat(2), req: anyRequest }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('tick' as const), ms: fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.constantFrom(12_000, 45_000)) }) },
  { weight: 1, arbitrary: fc.constant({ k: 'reap' as const }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('reconnect' as const), c: fc.nat(2), how: fc.constantFrom('new' as const, 'reattach' as const, 'badPassword' as const) }) },
);

type Internals = { nodes: Map<string, ZNode>; ephemerals: Map<bigint, Set<string>> };

/** Everything a client can observe of the tree: paths, data, stats, ACLs. */
function snapshot(tree: DataTree): string {
  const nodes = (tree as unknown as Internals).nodes;
  const out: string[] = [];
  for (const path of [...nodes.keys()].sort()) {
    const n = nodes.get(path)!;
    out.push(`${path} ${n.data?.toString('hex') ?? 'null'} ${JSON.stringify(n.stat(), (_k, v) => (typeof v === 'bigint' ? String(v) : v))} ${JSON.stringify(n.acl)}`);
  }
  return out.join('\n');
}

/** DataTree / Processor invariants; `history` remembers monotone counters per node incarnation. */
function checkInvariants(p: Processor, history: Map<string, { cversion: number; pzxid: number; mzxid: number; version: number; aversion: number }>, lastZxid: { v: number }): void {
  const tree = p.tree;
  const { nodes, ephemerals } = tree as unknown as Internals;
  const childCount = new Map<string, number>();
  assert.ok(nodes.has('/'), 'root missing');
  for (const path of nodes.keys()) {
    if (path === '/') continue;
    assert.equal(pathProblem(path), null, `invalid path in the tree: ${JSON.stringify(path)}`);
    const parentPath = parentOf(path);
    const parent = nodes.get(parentPath);
    assert.ok(parent, `${path}: parent ${parentPath} missing`);
    assert.ok(parent.children.has(nameOf(path)), `${path}: not listed by its parent`);
    assert.notEqual(kindOf(parent.ephemeralOwner), 'ephemeral', `${path}: child of an ephemeral node`);
    childCount.set(parentPath, (childCount.get(parentPath) ?? 0) + 1);
  }
  for (const [path, node] of nodes) {
    for (const name of node.children) assert.ok(nodes.has(childPath(path, name)), `${path} lists missing child ${name}`);
    const st = node.stat();
    assert.equal(st.numChildren, childCount.get(path) ?? 0, `${path}: numChildren`);
    assert.ok(st.czxid <= tree.lastProcessedZxid && st.mzxid <= tree.lastProcessedZxid && st.pzxid <= tree.lastProcessedZxid, `${path}: zxid from the future`);
    const owner = node.ephemeralOwner;
    const kind = kindOf(owner);
    if (kind === 'ephemeral') {
      assert.ok(tree.sessions.has(owner), `${path}: ephemeral of dead session ${owner}`);
      assert.ok(p.sessions.isAlive(owner) || p.sessions.timeoutOf(owner) !== undefined, `${path}: owner ${owner} unknown to the session tracker`);
      assert.ok(ephemerals.get(owner)?.has(path), `${path}: missing from its session's ephemeral list`);
    }
    assert.equal(tree.containers.has(path), owner === CONTAINER_OWNER, `${path}: container index`);
    assert.equal(tree.ttls.has(path), kind === 'ttl', `${path}: ttl index`);
    const key = `${path}@${node.czxid}`;
    const prev = history.get(key);
    const now = { cversion: node.cversion, pzxid: node.pzxid, mzxid: node.mzxid, version: node.version, aversion: node.aversion };
    if (prev) {
      for (const f of ['cversion', 'pzxid', 'mzxid', 'version', 'aversion'] as const) assert.ok(now[f] >= prev[f], `${path}: ${f} went down from ${prev[f]} to ${now[f]}`);
    }
    history.set(key, now);
  }
  for (const [owner, paths] of ephemerals) {
    for (const path of paths) assert.equal(nodes.get(path)?.ephemeralOwner, owner, `ephemeral index lists ${path} for ${owner}`);
  }
  for (const path of tree.containers) assert.ok(nodes.has(path), `container index lists missing ${path}`);
  for (const path of tree.ttls) assert.ok(nodes.has(path), `ttl index lists missing ${path}`);
  const tracked = new Set([...p.sessions.entries()].map(([id]) => id));
  assert.deepEqual(new Set(tree.sessions.keys()), tracked, 'session table and tracker disagree');
  assert.ok(tree.lastProcessedZxid >= lastZxid.v, 'lastProcessedZxid went down');
  lastZxid.v = tree.lastProcessedZxid;
  const pending = (p as unknown as { prep: { changes: Map<string, unknown> } }).prep.changes;
  assert.equal(pending.size, 0, `outstanding changes left after a step: ${[...pending.keys()].join(', ')}`);
}

function specialXid(req: Request): number | null {
  if (req.type === OpCode.ping) return Xid.ping;
  if (req.type === OpCode.auth) return Xid.auth;
  return null;
}

/** What the pipeline runs exercised, so that a vacuous fuzz (everything failing early) is noticed. */
const coverage = { okWrites: 0, okMultis: 0, failedMultis: 0, okReads: 0, errors: 0, ephemerals: 0, expiredOrClosed: 0, containersReaped: 0, notifications: 0 };

/** Run a sequence of actions through a fresh Processor; throws on the first broken property. */
function runPipeline(actions: readonly Action[], opts: { extended: boolean; checkShape: boolean }): void {
  let now = 1_700_000_000_000;
  const p = new Processor(
    { serverId: 1, tickTime: 2000, minSessionTimeout: 4000, maxSessionTimeout: 40_000, extendedTypesEnabled: opts.extended, skipACL: false, superDigest: null, containerMaxNeverUsedIntervalMs: 5000 },
    () => now,
  );
  const connect = (c: FakeClient, sessionId = 0n, passwd: Buffer = Buffer.alloc(16)): boolean => {
    // Without a log the processor answers at once.
    let res: ConnectResponse | null | undefined;
    p.connect(c, { protocolVersion: 0, lastZxidSeen: 0, timeOut: 10_000, sessionId, passwd, readOnly: false }, (r) => (res = r));
    assert.ok(res, 'connect refused');
    if (res.sessionId === 0n) return false;
    assert.equal(res.sessionId, c.sessionId);
    assert.ok(res.passwd.equals(sessionPassword(res.sessionId)));
    return true;
  };
  const clients = [0, 1, 2].map(() => {
    const c = new FakeClient();
    connect(c);
    return c;
  });
  const history = new Map<string, { cversion: number; pzxid: number; mzxid: number; version: number; aversion: number }>();
  const lastZxid = { v: 0 };
  const lastReplyZxid = new Map<FakeClient, number>();
  checkInvariants(p, history, lastZxid);

  const fresh = (i: number, how: 'new' | 'reattach' | 'badPassword') => {
    const old = clients[i]!;
    p.disconnected(old);
    const c = new FakeClient();
    if (how === 'reattach' && old.sessionId !== 0n && p.sessions.isAlive(old.sessionId)) {
      assert.ok(connect(c, old.sessionId, sessionPassword(old.sessionId)), 'reattach with the right password refused');
    } else if (how === 'badPassword' && old.sessionId !== 0n) {
      const bad = Buffer.from(sessionPassword(old.sessionId));
      bad[0]! ^= 1;
      assert.equal(connect(c, old.sessionId, bad), false, 'reattach with a wrong password accepted');
      c.sessionId = 0n;
      connect(c);
    } else connect(c);
    clients[i] = c;
  };

  // a starting tree, so that later ops find nodes to work on: persistent, ephemeral, container and TTL nodes
  const OPEN: ACL[] = [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }];
  const prelude: Action[] = [
    { k: 'req', c: 0, req: { type: OpCode.create, path: '/a', data: Buffer.from('a'), acl: OPEN, flags: 0 } },
    { k: 'req', c: 0, req: { type: OpCode.create, path: '/a/b', data: null, acl: OPEN, flags: 0 } },
    { k: 'req', c: 1, req: { type: OpCode.create, path: '/b', data: Buffer.from('b'), acl: OPEN, flags: 1 } },
    { k: 'req', c: 2, req: { type: OpCode.createContainer, path: '/c', data: null, acl: OPEN, flags: 4 } },
    { k: 'req', c: 2, req: { type: OpCode.createTTL, path: '/zookeeper/t', data: null, acl: OPEN, flags: 5, ttl: 3000 } },
  ];

  for (const [step, a] of [...prelude, ...actions].entries()) {
    const where = `step ${step} ${JSON.stringify(a, (_k, v) => (typeof v === 'bigint' ? String(v) : v?.type === 'Buffer' ? Buffer.from(v.data).toString() : v))}`;
    try {
      switch (a.k) {
        case 'tick': {
          now += a.ms;
          const n = p.sessions.size;
          p.expireSessions();
          coverage.expiredOrClosed += n - p.sessions.size;
          break;
        }
        case 'reap':
          now += 1000;
          coverage.containersReaped += p.reapContainers(10);
          break;
        case 'reconnect':
          fresh(a.c, a.how);
          break;
        case 'req': {
          if (clients[a.c]!.closed) fresh(a.c, 'new');
          const c = clients[a.c]!;
          const req = a.req;
          const xid = specialXid(req) ?? ++c.xid;
          const before = snapshot(p.tree);
          const n = c.replies.length;
          p.handle(c, req.type === OpCode.setWatches || req.type === OpCode.setWatches2 ? Xid.setWatches : xid, req, now);
          const got = c.replies.slice(n);
          assert.deepEqual(c.problems, []);
          // exactly one reply, or none and a close
          assert.ok(got.length === 1 || (got.length === 0 && c.closed !== null), `${got.length} replies${c.closed ? ` (closed: ${c.closed})` : ''}`);
          const r = got[0];
          if (r) {
            const wantXid = req.type === OpCode.setWatches || req.type === OpCode.setWatches2 ? Xid.setWatches : xid;
            assert.equal(r.xid, wantXid, 'reply xid');
            assert.ok(KNOWN_ERRS.has(r.err), `unknown error code ${r.err}`);
            // auth and sasl replies carry zxid 0, as ZooKeeper's do
            if (req.type !== OpCode.auth && req.type !== OpCode.sasl) {
              assert.ok(r.zxid >= (lastReplyZxid.get(c) ?? 0), 'reply zxid went down');
              lastReplyZxid.set(c, r.zxid);
            }
          }
          const isWrite = WRITE_TYPES.has(req.type);
          const multiFailed = req.type === OpCode.multi && r?.err === 0 && (r.body?.results ?? []).some((x) => x.err !== 0);
          if (!isWrite && req.type !== OpCode.closeSession) assert.equal(snapshot(p.tree), before, 'a read changed the tree');
          if (isWrite && r && (r.err !== 0 || multiFailed)) assert.equal(snapshot(p.tree), before, `a failed write (err ${r.err}) changed the tree`);
          if (r) {
            if (r.err !== 0) coverage.errors++;
            else if (req.type === OpCode.multi) coverage[multiFailed ? 'failedMultis' : 'okMultis']++;
            else if (isWrite) coverage.okWrites++;
            else coverage.okReads++;
          }
          if (req.type === OpCode.closeSession) coverage.expiredOrClosed++;
          coverage.ephemerals = Math.max(coverage.ephemerals, p.tree.ephemeralCount());
          coverage.notifications += clients.reduce((n, x) => n + x.events.length, 0) > 0 ? 1 : 0;
          if (opts.checkShape && r?.err === 0 && (req.type === OpCode.multi || req.type === OpCode.multiRead)) {
            assert.equal(r.body?.results?.length, req.ops.length, `${req.type === OpCode.multi ? 'multi' : 'multiRead'} of ${req.ops.length} ops answered OK with ${r.body?.results?.length} results`);
          }
          break;
        }
      }
      checkInvariants(p, history, lastZxid);
    } catch (e) {
      throw new Error(`${where}: ${(e as Error).message}`, { cause: e });
    }
  }
}

describe('request pipeline (Processor, fake clients)', () => {
  test('random request sequences: no throw, one reply or a close each, failed requests change nothing, tree invariants hold', (t) => {
    fc.assert(
      fc.property(fc.array(action, { minLength: 5, maxLength: 60 }), fc.boolean(), (actions, extended) => runPipeline(actions, { extended, checkShape: false })),
      runs(400),
    );
    // not vacuous: successes, failures, multis both ways, ephemerals, session ends, reaping and watch events all happened
    t.diagnostic(`coverage: ${JSON.stringify(coverage)}`);
    for (const [k, v] of Object.entries(coverage)) assert.ok(v > 0, `the fuzz never produced ${k}: ${JSON.stringify(coverage)}`);
  });

  test('a multi or multiRead answered with err 0 carries one result per op', () => {
    fc.assert(
      fc.property(fc.array(action, { minLength: 1, maxLength: 40 }), (actions) => runPipeline(actions, { extended: true, checkShape: true })),
      runs(300),
    );
  });

  test('multis mixing in ops a multi may not hold still get a well-formed answer', () => {
    // ZooKeeper answers MarshallingError (-5) for a multi holding a read or a ping
    const odd = fc.record({
      type: fc.constant(OpCode.multi),
      ops: fc.array(fc.oneof(multiOp, readReq, pathOnlyReq, noBodyReq, watchesReq), { minLength: 1, maxLength: 4 }),
    }) as fc.Arbitrary<Request>;
    fc.assert(
      fc.property(fc.array(odd, { minLength: 1, maxLength: 5 }), (reqs) => runPipeline(reqs.map((req) => ({ k: 'req', c: 0, req })), { extended: true, checkShape: true })),
      runs(200),
    );
  });
});

// ---------------------------------------------------------------------------
// 2b. bytes through Connection (fake socket) and Processor
// ---------------------------------------------------------------------------

type Piece = { k: 'req'; req: Request; ms: Mutation[] } | { k: 'junk'; b: Buffer } | { k: 'len'; n: number };
const piece: fc.Arbitrary<Piece> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ k: fc.constant('req' as const), req: anyRequest, ms: fc.constant([] as Mutation[]) }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constant('req' as const), req: anyRequest, ms: fc.array(mutation, { minLength: 1, maxLength: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('junk' as const), b: bytes(40) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('len' as const), n: interestingInt }) },
);

/** For the network: mostly frames, so that most of them reach the server before a desync or a close. */
const netPiece: fc.Arbitrary<Piece> = fc.oneof(
  { weight: 24, arbitrary: fc.record({ k: fc.constant('req' as const), req: anyRequest, ms: fc.constant([] as Mutation[]) }) },
  { weight: 12, arbitrary: fc.record({ k: fc.constant('req' as const), req: anyRequest, ms: fc.array(mutation, { minLength: 1, maxLength: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('junk' as const), b: bytes(40) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('len' as const), n: interestingInt }) },
);

describe('byte streams through Connection and Processor (fake socket)', () => {
  test('random and mutated frames in random chunks: no throw, replies in request order, invariants hold', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(piece, { minLength: 1, maxLength: 25 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }),
        fc.boolean(),
        fc.constantFrom('end', 'midframe'),
        async (pieces, chunkSizes, handshake, ending) => {
          const processor = new Processor({ serverId: 1, tickTime: 2000, minSessionTimeout: 4000, maxSessionTimeout: 40_000, extendedTypesEnabled: true, skipACL: false, superDigest: null, containerMaxNeverUsedIntervalMs: 0 });
          const host: ConnectionHost = { processor, maxBuffer: 0xfffff, flow: new FlowControl(1000, 0xfffff), fourLetterWord: () => null, closed: (conn) => processor.disconnected(conn), log: () => undefined };
          const sock = new FakeSocket();
          new Connection(sock as unknown as Socket, host);
          // the stream: ConnectRequest (or not), then frames with distinct increasing xids
          const parts: Buffer[] = [];
          const sentXids: number[] = [];
          if (handshake) parts.push(frame(connectPayload()));
          let xid = 0;
          for (const pc of pieces) {
            if (pc.k === 'junk') parts.push(pc.b);
            else if (pc.k === 'len') parts.push(Buffer.from([(pc.n >>> 24) & 0xff, (pc.n >>> 16) & 0xff, (pc.n >>> 8) & 0xff, pc.n & 0xff]));
            else {
              const x = ++xid;
              const payload = requestPayload(x, pc.req);
              parts.push(frame(mutate(payload, pc.ms, 8))); // the record is mutated, the header kept
              sentXids.push(x);
            }
          }
          let stream = Buffer.concat(parts);
          if (ending === 'midframe') stream = stream.subarray(0, Math.max(0, stream.length - 3));
          try {
            for (let at = 0, i = 0; at < stream.length; i++) {
              const n = chunkSizes[i % chunkSizes.length]!;
              sock.emit('data', stream.subarray(at, at + n));
              at += n;
              if (i % 4 === 0) await new Promise((r) => setImmediate(r));
            }
            await new Promise((r) => setImmediate(r));
          } finally {
            sock.destroy(); // the peer goes away; Connection tears down
          }
          // replies: frames in what was written
          const out = Buffer.concat(sock.out);
          const frames: Buffer[] = [];
          let pos = 0;
          while (out.length - pos >= 4) {
            const len = out.readInt32BE(pos);
            assert.ok(len >= 0 && pos + 4 + len <= out.length, `torn reply frame at ${pos}`);
            frames.push(out.subarray(pos + 4, pos + 4 + len));
            pos += 4 + len;
          }
          assert.equal(pos, out.length, 'trailing bytes in the output');
          // junk, stray lengths or a missing handshake desynchronise the framing: then only no-throw and the invariants apply
          const desync = !handshake || pieces.some((pc) => pc.k !== 'req');
          if (!desync) {
            assert.ok(frames.length > 0, 'no ConnectResponse');
            frames.shift(); // ConnectResponse
            const replies = frames.map((f) => parseReply(f)).filter((r) => r.xid !== Xid.notification);
            const xids = replies.map((r) => r.xid).filter((x) => x > 0);
            for (let i = 1; i < xids.length; i++) assert.ok(xids[i]! > xids[i - 1]!, `replies out of order: ${xids.join(',')}`);
            for (const x of xids) assert.ok(sentXids.includes(x), `reply to xid ${x}, never sent`);
            assert.ok(replies.length <= sentXids.length, `${replies.length} replies to ${sentXids.length} requests`);
            if (!sock.ended) {
              // not closed by the server: every complete request was answered
              const complete = sentXids.length - (ending === 'midframe' ? 1 : 0);
              assert.equal(replies.length, complete, `${replies.length} replies to ${complete} requests`);
            }
          }
          checkInvariants(processor, new Map(), { v: 0 });
        },
      ),
      runs(300),
    );
  });
});

// ---------------------------------------------------------------------------
// 3. network fuzz against a real Paddock process
// ---------------------------------------------------------------------------

describe(`network fuzz against a Paddock process (seed ${SEED})`, { timeout: 60_000 }, () => {
  let server: RunningServer;
  let healthy: HealthyClient;
  before(async () => {
    server = await startServer('paddock');
    healthy = await HealthyClient.connect(server.host, server.port);
    // the healthy session's own subtree, writable only by it (digest h:secret)
    await healthy.ok({ type: OpCode.auth, authType: 0, scheme: 'digest', auth: Buffer.from('h:secret') });
    const mine = [{ perms: 31, id: { scheme: 'auth', id: '' } }];
    await healthy.ok({ type: OpCode.create, path: '/h', data: Buffer.from('h'), acl: mine, flags: 0 });
    await healthy.ok({ type: OpCode.create, path: '/h/data', data: Buffer.from('0'), acl: mine, flags: 0 });
    for (const p of ['/a', '/a/b', '/b', '/c']) await healthy.create(p, Buffer.from(p));
  });
  after(async () => {
    await healthy?.close().catch(() => undefined);
    await server?.stop();
  });

  test('a few hundred random and mutated frames over many connections; the server stays up and consistent', async (t) => {
    const conns = fc.sample(
      fc.record({
        handshake: fc.oneof({ weight: 6, arbitrary: fc.constant('ok' as const) }, { weight: 1, arbitrary: fc.constantFrom('garbage' as const, 'none' as const) }),
        pieces: fc.array(netPiece, { minLength: 20, maxLength: 50 }),
        chunk: fc.integer({ min: 1, max: 400 }),
        ending: fc.constantFrom('end', 'destroy', 'midframe'),
      }),
      { seed: SEED, numRuns: 10 },
    );
    let totalFrames = 0;
    const outcomes: string[] = [];
    const pieceBytes = (pc: Piece, xid: number): Buffer =>
      pc.k === 'junk'
        ? pc.b
        : pc.k === 'len'
          ? Buffer.from([(pc.n >>> 24) & 0xff, (pc.n >>> 16) & 0xff, (pc.n >>> 8) & 0xff, pc.n & 0xff])
          : frame(mutate(requestPayload(xid, pc.req), pc.ms, 8));
    /**
     * Send one spec's pieces. When the server closes the connection (as it should
     * after much of this), carry on with the pieces left on a new connection, so
     * that every generated frame reaches a server; at most 25 connections, 5 s.
     */
    const runSpec = async (spec: (typeof conns)[number], n: number): Promise<void> => {
      const deadline = Date.now() + 5000;
      let next = 0; // first piece not yet fully written
      let xid = 0;
      for (let attempt = 0; next < spec.pieces.length && attempt < 25 && Date.now() < deadline; attempt++) {
        const c = await RawConn.open(server.host, server.port);
        try {
          const head = attempt > 0 || spec.handshake === 'ok' ? frame(connectPayload()) : spec.handshake === 'garbage' ? Buffer.from('\x00\x00\x00\x10garbagegarbage!!') : Buffer.alloc(0);
          const parts = [head];
          const ends: number[] = []; // stream offset where each piece ends
          let size = head.length;
          for (const pc of spec.pieces.slice(next)) {
            const b = pieceBytes(pc, ++xid);
            parts.push(b);
            ends.push((size += b.length));
          }
          let stream = Buffer.concat(parts);
          const last = spec.ending === 'midframe';
          if (last) stream = stream.subarray(0, stream.length - 2);
          let written = 0;
          for (let at = 0; at < stream.length && !c.closed && Date.now() < deadline; at += spec.chunk) {
            await c.write(stream.subarray(at, at + spec.chunk));
            written = Math.min(stream.length, at + spec.chunk);
            if ((at / spec.chunk) % 8 === 0) await sleep(1);
          }
          await sleep(5);
          const done = ends.filter((e) => e <= written).length;
          totalFrames += spec.pieces.slice(next, next + done).filter((pc) => pc.k === 'req').length;
          next += Math.max(1, done); // a piece the server stopped in the middle of is not retried
          if (next >= spec.pieces.length || c.closed) {
            if (c.closed) outcomes.push(`spec ${n} conn ${attempt}: closed by server after ${done} pieces`);
            if (next >= spec.pieces.length && !c.closed) {
              if (spec.ending === 'end') {
                c.socket.end();
                const r = await c.drain(3000);
                assert.equal(r.timedOut, false, `spec ${n}: the server did not close after our FIN`);
                outcomes.push(`spec ${n} conn ${attempt}: ${r.frames.length} frames, then our FIN`);
              } else outcomes.push(`spec ${n} conn ${attempt}: dropped (${spec.ending})`);
            }
          }
        } finally {
          c.destroy();
        }
      }
    };
    // two specs at a time
    for (let i = 0; i < conns.length; i += 2) {
      await Promise.all(conns.slice(i, i + 2).map((spec, j) => runSpec(spec, i + j)));
      assert.equal(server.proc.exitCode, null, `server died after specs ${i}..${i + 1}:\n${server.output().slice(-3000)}`);
    }
    t.diagnostic(`${totalFrames} frames written over ${outcomes.length} connections`);
    assert.ok(totalFrames >= 200, `only ${totalFrames} frames sent:\n${outcomes.join('\n')}`);
    // the server is alive and serving
    assert.equal(await fourLetterWord(server.host, server.port, 'ruok'), 'imok');
    assert.equal((await healthy.getData('/h/data')).data?.toString(), '0');
    await healthy.setData('/h/data', Buffer.from('1'));
    assert.equal((await healthy.getData('/h/data')).data?.toString(), '1');
    const h2 = await HealthyClient.connect(server.host, server.port);
    try {
      assert.ok((await h2.children('/')).includes('h'));
      await h2.create('/after-fuzz', Buffer.from('z'));
      assert.equal((await healthy.getData('/after-fuzz')).data?.toString(), 'z');
    } finally {
      await h2.close();
    }
    // the tree as a client sees it is consistent
    const dump = await healthy.dump();
    for (const [path, node] of dump) {
      assert.equal(pathProblem(path), null, `invalid path ${JSON.stringify(path)}`);
      if (path !== '/') assert.ok(dump.has(parentOf(path)), `${path}: no parent`);
      const kids = [...dump.keys()].filter((p) => p !== '/' && parentOf(p) === path);
      assert.equal(node.stat.numChildren, kids.length, `${path}: numChildren`);
    }
    assert.ok(/Zookeeper version/.test(await fourLetterWord(server.host, server.port, 'srvr')));
    assert.doesNotMatch(server.output(), /TypeError|RangeError|ReferenceError|Uncaught|unhandled/i, 'the server logged an internal error');
  });
});
