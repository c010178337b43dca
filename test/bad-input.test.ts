// Bad input against a real server process. For every malformed, truncated,
// oversized or nonsensical input a raw client sends, these tests check that
//  - the bad client gets exactly what Apache ZooKeeper 3.8.0 gives it: an error
//    reply with ZooKeeper's code (the connection staying open or being closed, as
//    ZooKeeper does), or a clean disconnect; never a hang (every wait is bounded);
//  - a healthy session opened beforehand keeps being served (a read and a write
//    succeed after each case) and keeps its ephemeral node;
//  - the tree is unchanged: a dump of every node's path, data, stat and ACL
//    taken through the healthy session is identical before and after.
//
// The expected outcomes were observed on ZooKeeper 3.8.0 with raw-socket probes;
// to re-check them, run this file against ZooKeeper itself:
//   BAD_INPUT_SERVER=zookeeper node --import tsx --test test/bad-input.test.ts

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { JuteReader } from '../src/jute/archive.ts';
import { OpCode } from '../src/proto/constants.ts';
import { readConnectResponse, type Request } from '../src/proto/records.ts';
import { readResponse } from '../src/proto/responses.ts';
import { startServer, fourLetterWord, type RunningServer } from './support/servers.ts';
import {
  HealthyClient,
  OPEN_ACL,
  RawConn,
  connectPayload,
  dumpToJSON,
  frame,
  openSession,
  parseReply,
  rawRequestPayload,
  requestPayload,
  sleep,
  waitForSessions,
} from './support/rawclient.ts';

const KIND = (process.env.BAD_INPUT_SERVER ?? 'paddock') as RunningServer['kind'];
const MAX = 0xfffff; // default jute.maxbuffer
const SENTINEL = 0x5e5e; // xid of the probe request that shows a connection still serves
const WAIT_MS = 4000; // bound on every wait for a reply or a close
const QUIET_MS = 1000; // a server that should close but is silent this long is probed

// ---- byte helpers ----

const i32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n | 0);
  return b;
};
const i64 = (n: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(n));
  return b;
};
const str = (s: string): Buffer => Buffer.concat([i32(Buffer.byteLength(s)), Buffer.from(s)]);
const bool = (v: boolean): Buffer => Buffer.from([v ? 1 : 0]);
const cat = (...parts: Buffer[]): Buffer => Buffer.concat(parts);
const WORLD_ACL = cat(i32(1), i32(31), str('world'), str('anyone'));
/** a complete request frame: RequestHeader(xid, type) + raw record bytes */
const R = (xid: number, type: number, record: Buffer = Buffer.alloc(0)): Buffer => frame(rawRequestPayload(xid, type, record));
const Q = (xid: number, req: Request): Buffer => frame(requestPayload(xid, req));

// ---- observing what a bad client gets ----

/**
 * An outcome, as a string:
 *   "close"            the server closed the connection without replying
 *   "-5 open"          error reply -5, and the connection still serves (a later request is answered)
 *   "-6 close"         error reply -6, then the server closed the connection
 *   "connected open"   (before the handshake) a ConnectResponse with a session, connection serves
 *   "refused close"    a ConnectResponse with session 0, then close
 *   "... timeout"      nothing more within WAIT_MS: the server neither answered nor closed
 * Notifications (xid -1) are ignored.
 */
type Outcome = string;

async function observe(conn: RawConn, opts: { handshaken: boolean; probe: boolean }): Promise<Outcome> {
  const toks: string[] = [];
  const deadline = Date.now() + WAIT_MS;
  let handshaken = opts.handshaken;
  const sendProbe = () => conn.write(Q(SENTINEL, { type: OpCode.exists, path: '/', watch: false }));
  if (handshaken && opts.probe) await sendProbe();
  let probed = handshaken && opts.probe;
  for (;;) {
    // Expecting a close: if the server goes quiet instead, probe after QUIET_MS to tell "open" from a hang quickly.
    const o = await conn.next(Math.max(0, Math.min(deadline - Date.now(), probed ? Infinity : QUIET_MS)));
    if (o.kind === 'timeout' && !probed && handshaken && Date.now() < deadline) {
      probed = true;
      await sendProbe();
      continue;
    }
    if (o.kind === 'closed') {
      toks.push('close');
      break;
    }
    if (o.kind === 'timeout') {
      toks.push('timeout');
      break;
    }
    if (!handshaken) {
      handshaken = true;
      let res;
      try {
        res = readConnectResponse(new JuteReader(o.frame));
      } catch {
        toks.push(`badConnectResponse(${o.frame.toString('hex')})`);
        continue;
      }
      toks.push(res.sessionId === 0n ? 'refused' : 'connected');
      if (res.sessionId !== 0n && opts.probe) {
        probed = true;
        await sendProbe();
      }
      continue;
    }
    const r = parseReply(o.frame);
    if (r.xid === -1) continue;
    if (r.xid === SENTINEL) {
      toks.push('open');
      break;
    }
    toks.push(String(r.err));
  }
  return toks.join(' ');
}

interface BadInput {
  name: string;
  /** true: send the bytes on a fresh connection, before any ConnectRequest */
  pre?: boolean;
  send: Buffer | Buffer[] | ((c: RawConn) => Promise<void>);
  /** acceptable outcomes (see Outcome); the first is what ZooKeeper 3.8.0 does */
  expect: Outcome | Outcome[];
  /** why an alternative to ZooKeeper's outcome is accepted */
  note?: string;
}

// ---- the server under test, a healthy session, and the per-case checks ----

let server: RunningServer;
let healthy: HealthyClient;
let writes = 0;

async function startTarget(opts: Parameters<typeof startServer>[1] = {}): Promise<RunningServer> {
  const s = await startServer(KIND, opts);
  try {
    await waitForSessions(s);
  } catch (e) {
    await s.stop();
    throw e;
  }
  return s;
}

/** The healthy session still reads and writes, and the server process is alive. */
async function assertHealthy(h: HealthyClient = healthy, srv: RunningServer = server): Promise<void> {
  assert.equal(srv.proc.exitCode, null, `${srv.kind} exited:\n${srv.output().slice(-3000)}`);
  const { data } = await h.getData('/fixture/a');
  assert.equal(data?.toString(), 'x');
  const n = ++writes;
  const stat = await h.setData('/scratch', Buffer.from(String(n)));
  assert.equal((await h.getData('/scratch')).data?.toString(), String(n));
  assert.ok(stat.version > 0);
  assert.ok(await h.exists('/eph'), 'the healthy session lost its ephemeral node');
}

/** Run one bad input on a fresh connection; return what the bad client saw. */
async function runBadInput(c: BadInput, srv: RunningServer = server): Promise<Outcome> {
  const conn = await RawConn.open(srv.host, srv.port);
  try {
    if (!c.pre) await conn.handshake();
    const sends = typeof c.send === 'function' ? null : Array.isArray(c.send) ? c.send : [c.send];
    if (sends) for (const b of sends) await conn.write(b);
    else await (c.send as (c: RawConn) => Promise<void>)(conn);
    const expected = Array.isArray(c.expect) ? c.expect : [c.expect];
    return await observe(conn, { handshaken: !c.pre, probe: expected.some((e) => e.endsWith('open')) });
  } finally {
    conn.destroy();
  }
}

/** A test: dump the tree, run `body`, require the same tree, then a read and a write on the healthy session. */
function scenario(name: string, body: () => Promise<void>): void {
  test(name, { timeout: 30_000 }, async () => {
    const before = dumpToJSON(await healthy.dump());
    await body();
    assert.deepEqual(dumpToJSON(await healthy.dump()), before, 'the tree changed');
    await assertHealthy();
  });
}

function check(c: BadInput, outcome: Outcome): void {
  const expected = Array.isArray(c.expect) ? c.expect : [c.expect];
  const also = expected.length > 1 ? ` (also accepted: ${expected.slice(1).map((e) => `"${e}"`).join(', ')})` : '';
  assert.ok(expected.includes(outcome), `${c.name}: got "${outcome}", ZooKeeper 3.8.0 gives "${expected[0]}"${also}${c.note ? ` (${c.note})` : ''}`);
}

/** A test case: the bad client sees what ZooKeeper shows, the tree is unchanged, the healthy session works. */
function badInputCase(c: BadInput): void {
  scenario(c.name, async () => check(c, await runBadInput(c)));
}

describe(`bad input against ${KIND}`, { timeout: 170_000 }, () => {
  before(async () => {
    server = await startTarget();
    healthy = await HealthyClient.connect(server.host, server.port);
    await healthy.create('/fixture', Buffer.from('f'));
    await healthy.create('/fixture/a', Buffer.from('x'));
    await healthy.create('/fixture/a/b', null);
    await healthy.create('/scratch', Buffer.from('0'));
    await healthy.create('/eph', Buffer.from('e'), 1);
  });
  after(async () => {
    await healthy?.close().catch(() => undefined);
    await server?.stop();
  });

  // ---------------------------------------------------------------------------
  describe('garbage and malformed ConnectRequests (before the handshake)', () => {
    const cp = connectPayload(); // 45 bytes: with the readOnly byte
    const cases: BadInput[] = [
      { name: 'plain-text garbage ("hello world")', pre: true, send: Buffer.from('hello world!!\r\n'), expect: 'close' },
      { name: 'an HTTP request', pre: true, send: Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'), expect: 'close' },
      { name: 'a TLS ClientHello', pre: true, send: Buffer.from('16030100a5010000a103035f', 'hex'), expect: 'close' },
      { name: 'an unknown four-letter word', pre: true, send: Buffer.from('abcd'), expect: 'close' },
      { name: 'a small frame of junk as ConnectRequest', pre: true, send: frame(Buffer.from('abcde')), expect: 'close' },
      { name: 'an empty frame as ConnectRequest', pre: true, send: frame(Buffer.alloc(0)), expect: 'close' },
      { name: 'frame length -1', pre: true, send: i32(-1), expect: 'close' },
      { name: 'frame length INT_MIN', pre: true, send: cat(i32(-0x80000000), cp), expect: 'close' },
      { name: 'frame length jute.maxbuffer+1', pre: true, send: cat(i32(MAX + 1), cp), expect: 'close' },
      { name: 'ConnectRequest padded to exactly jute.maxbuffer', pre: true, send: frame(cat(cp, Buffer.alloc(MAX - cp.length))), expect: 'connected open' },
      { name: 'ConnectRequest padded to jute.maxbuffer+1', pre: true, send: frame(cat(cp, Buffer.alloc(MAX + 1 - cp.length))), expect: 'close' },
      { name: '3 zero bytes, then a ConnectRequest (misaligned)', pre: true, send: cat(Buffer.alloc(3), frame(cp)), expect: 'close' },
      { name: 'ConnectRequest truncated to 20 bytes', pre: true, send: frame(cp.subarray(0, 20)), expect: 'close' },
      { name: 'ConnectRequest truncated inside passwd', pre: true, send: frame(cp.subarray(0, 35)), expect: 'close' },
      { name: 'ConnectRequest without the optional readOnly byte', pre: true, send: frame(cp.subarray(0, 44)), expect: 'connected open' },
      { name: 'ConnectRequest with trailing junk', pre: true, send: frame(cat(cp, Buffer.from('junkjunk'))), expect: 'connected open' },
      { name: 'ConnectRequest passwd length -5', pre: true, send: frame(cat(cp.subarray(0, 24), i32(-5), cp.subarray(44))), expect: 'close' },
      { name: 'ConnectRequest passwd length 0x7fffffff', pre: true, send: frame(cat(cp.subarray(0, 24), i32(0x7fffffff), cp.subarray(28))), expect: 'close' },
      { name: 'ConnectRequest passwd null (-1)', pre: true, send: frame(cat(cp.subarray(0, 24), i32(-1), bool(false))), expect: 'connected open' },
      { name: 'ConnectRequest protocolVersion 7', pre: true, send: frame(cat(i32(7), cp.subarray(4))), expect: 'connected open' },
      { name: 'ConnectRequest timeout -1', pre: true, send: frame(cat(cp.subarray(0, 12), i32(-1), cp.subarray(16))), expect: 'connected open' },
      { name: 'ConnectRequest lastZxidSeen beyond the server', pre: true, send: frame(connectPayload({ lastZxidSeen: 0x7fffffff })), expect: 'close' },
      { name: 'ConnectRequest reattaching an unknown session', pre: true, send: frame(connectPayload({ sessionId: 0x0100000000000001n, passwd: Buffer.alloc(16, 1) })), expect: 'refused close' },
      {
        name: 'ConnectRequest split into 1-byte writes',
        pre: true,
        send: (c) => c.writeSlowly(frame(cp), 1, 1),
        expect: 'connected open',
      },
    ];
    for (const c of cases) badInputCase(c);
  });

  // ---------------------------------------------------------------------------
  describe('bad frames and unknown opcodes (after the handshake)', () => {
    const cases: BadInput[] = [
      { name: 'frame length -1', send: i32(-1), expect: 'close' },
      { name: 'frame length INT_MIN', send: cat(i32(-0x80000000), Buffer.alloc(16)), expect: 'close' },
      { name: 'frame length jute.maxbuffer+1', send: cat(i32(MAX + 1), Buffer.alloc(100)), expect: 'close' },
      { name: 'frame length 0x7fffffff', send: cat(i32(0x7fffffff), Buffer.alloc(100)), expect: 'close' },
      { name: 'empty frame (no RequestHeader)', send: frame(Buffer.alloc(0)), expect: 'close' },
      { name: 'frame with only an xid', send: frame(i32(5)), expect: 'close' },
      { name: 'a second ConnectRequest on an open connection', send: frame(connectPayload()), expect: '-6 close' },
      ...[0, 10, 23, 99, 108, 999, -2, -12, 0x7fffffff, -0x80000000, OpCode.error].map(
        (op): BadInput => ({ name: `unknown opcode ${op}`, send: R(5, op), expect: '-6 close' }),
      ),
      {
        name: 'opcode -10 (createSession) from a client',
        send: R(5, OpCode.createSession),
        expect: ['-5 open', '-6 close'],
        note: 'ZooKeeper 3.8.0 mishandles it (with a body it even sends a garbage reply); Paddock treats it as unknown',
      },
      { name: 'opcode 20 (deleteContainer, server-internal) from a client', send: R(5, OpCode.deleteContainer, str('/fixture/a/b')), expect: '-8 open' },
      { name: 'opcode 20 (deleteContainer) without a record', send: R(5, OpCode.deleteContainer), expect: '-8 open' },
      { name: 'a lone check (op 13) with a truncated record', send: R(5, OpCode.check, str('/fixture/a')), expect: '-5 open' },
      { name: 'reconfig (op 16) without a record', send: R(5, OpCode.reconfig), expect: '-5 open' },
      { name: 'reconfig with a full record while disabled', send: R(5, OpCode.reconfig, cat(i32(-1), i32(-1), i32(-1), i64(0))), expect: '-123 open' },
      { name: 'sasl (op 102) without a record', send: R(5, OpCode.sasl), expect: 'close' },
      { name: 'sasl with a null token', send: R(5, OpCode.sasl, i32(-1)), expect: 'close' },
      { name: 'sasl with a token, no JAAS Server section', send: R(5, OpCode.sasl, str('token')), expect: '0 open' },
      { name: 'auth (op 100) with an unknown scheme', send: R(-4, OpCode.auth, cat(i32(0), str('bogus'), str('x'))), expect: '-115 close' },
      { name: 'auth with a null scheme', send: R(-4, OpCode.auth, cat(i32(0), i32(-1), str('x'))), expect: '-115 close' },
      {
        name: 'closeSession followed by more requests in the same write',
        send: cat(R(5, OpCode.closeSession), Q(6, { type: OpCode.exists, path: '/', watch: false })),
        expect: ['0 -112 close', '0 close'],
        note: 'ZooKeeper answers what follows with SessionExpired; Paddock stops reading',
      },
    ];
    for (const c of cases) badInputCase(c);
  });

  // ---------------------------------------------------------------------------
  describe('truncated request records, every opcode', () => {
    // One valid record per opcode; each case sends a complete frame holding the
    // RequestHeader and only the first `cut` bytes of the record.
    const valid: Request[] = [
      { type: OpCode.create, path: '/t', data: Buffer.from('d'), acl: OPEN_ACL, flags: 0 },
      { type: OpCode.create2, path: '/t', data: Buffer.from('d'), acl: OPEN_ACL, flags: 0 },
      { type: OpCode.createContainer, path: '/t', data: Buffer.from('d'), acl: OPEN_ACL, flags: 4 },
      { type: OpCode.createTTL, path: '/t', data: Buffer.from('d'), acl: OPEN_ACL, flags: 5, ttl: 1000 },
      { type: OpCode.delete, path: '/fixture/a/b', version: -1 },
      { type: OpCode.exists, path: '/fixture/a', watch: true },
      { type: OpCode.getData, path: '/fixture/a', watch: true },
      { type: OpCode.setData, path: '/fixture/a', data: Buffer.from('d'), version: -1 },
      { type: OpCode.getACL, path: '/fixture/a' },
      { type: OpCode.setACL, path: '/fixture/a', acl: OPEN_ACL, version: -1 },
      { type: OpCode.getChildren, path: '/fixture/a', watch: true },
      { type: OpCode.sync, path: '/fixture/a' },
      { type: OpCode.getChildren2, path: '/fixture/a', watch: true },
      { type: OpCode.check, path: '/fixture/a', version: -1 },
      {
        type: OpCode.multi,
        ops: [
          { type: OpCode.setData, path: '/fixture/a', data: null, version: -1 },
          { type: OpCode.check, path: '/fixture/a', version: -1 },
        ],
      },
      { type: OpCode.checkWatches, path: '/fixture/a', watcherType: 3 },
      { type: OpCode.removeWatches, path: '/fixture/a', watcherType: 3 },
      {
        type: OpCode.multiRead,
        ops: [
          { type: OpCode.getData, path: '/fixture/a', watch: false },
          { type: OpCode.getChildren, path: '/fixture/a', watch: false },
        ],
      },
      { type: OpCode.auth, authType: 0, scheme: 'digest', auth: Buffer.from('u:p') },
      { type: OpCode.setWatches, relativeZxid: 0, dataWatches: ['/fixture/a'], existWatches: ['/x'], childWatches: ['/fixture/a'], persistentWatches: [], persistentRecursiveWatches: [] },
      { type: OpCode.setWatches2, relativeZxid: 0, dataWatches: ['/fixture/a'], existWatches: ['/x'], childWatches: ['/fixture/a'], persistentWatches: ['/p'], persistentRecursiveWatches: ['/q'] },
      { type: OpCode.getEphemerals, path: '/fixture' },
      { type: OpCode.getAllChildrenNumber, path: '/fixture' },
      { type: OpCode.addWatch, path: '/fixture/a', mode: 1 },
    ];
    for (const req of valid) {
      const xid = req.type === OpCode.auth ? -4 : req.type === OpCode.setWatches || req.type === OpCode.setWatches2 ? -8 : 5;
      const full = requestPayload(xid, req);
      const len = full.length - 8;
      const cuts = [...new Set([0, 1, 3, 4, Math.floor(len / 2), len - 1])].filter((n) => n < len);
      // ZooKeeper answers MarshallingError (-5) and keeps serving; an auth packet it cannot decode closes the connection.
      const expect = req.type === OpCode.auth ? 'close' : '-5 open';
      scenario(`${opName(req.type)} record truncated to ${cuts.join('/')} of ${len} bytes`, async () => {
        const failures: string[] = [];
        let conn: RawConn | null = null;
        try {
          for (const cut of cuts) {
            if (!conn || conn.closed) {
              conn?.destroy();
              conn = (await openSession(server.host, server.port)).conn;
            }
            await conn.write(frame(full.subarray(0, 8 + cut)));
            const o = await observe(conn, { handshaken: true, probe: expect.endsWith('open') });
            if (o !== expect) failures.push(`cut at ${cut}: got "${o}", ZooKeeper 3.8.0 gives "${expect}"`);
          }
        } finally {
          conn?.destroy();
        }
        assert.deepEqual(failures, []);
      });
    }
  });

  // ---------------------------------------------------------------------------
  describe('absurd lengths and counts inside records', () => {
    const cases: BadInput[] = [
      // huge
      { name: 'create: path length 0x7fffffff', send: R(5, OpCode.create, cat(i32(0x7fffffff), i32(-1), WORLD_ACL, i32(0))), expect: '-5 open' },
      { name: 'getData: path length 0x7ffffff0', send: R(5, OpCode.getData, cat(i32(0x7ffffff0), bool(false))), expect: '-5 open' },
      { name: 'create: data length jute.maxbuffer+1', send: R(5, OpCode.create, cat(str('/t'), i32(MAX + 1), WORLD_ACL, i32(0))), expect: '-5 open' },
      { name: 'create: ACL count 0x7fffffff', send: R(5, OpCode.create, cat(str('/t'), i32(-1), i32(0x7fffffff), i32(0))), expect: '-5 open' },
      { name: 'create: ACL count one more than present', send: R(5, OpCode.create, cat(str('/t'), i32(-1), i32(2), i32(31), str('world'), str('anyone'), i32(0))), expect: '-5 open' },
      { name: 'setACL: ACL count 0x7fffffff', send: R(5, OpCode.setACL, cat(str('/fixture/a'), i32(0x7fffffff), i32(-1))), expect: '-5 open' },
      { name: 'setWatches: watch count 0x7fffffff', send: R(-8, OpCode.setWatches, cat(i64(0), i32(0x7fffffff))), expect: '-5 open' },
      { name: 'setWatches2: persistent watch count 0x7fffffff', send: R(-8, OpCode.setWatches2, cat(i64(0), i32(0), i32(0), i32(0), i32(0x7fffffff))), expect: '-5 open' },
      { name: 'create: ACL id length 0x7fffffff', send: R(5, OpCode.create, cat(str('/t'), i32(-1), i32(1), i32(31), i32(0x7fffffff), i32(0))), expect: '-5 open' },
      { name: 'multi: header claiming create, then nothing', send: R(5, OpCode.multi, cat(i32(OpCode.create), bool(false), i32(-1))), expect: '-5 open' },
      { name: 'multi: no end marker', send: R(5, OpCode.multi, cat(i32(OpCode.delete), bool(false), i32(-1), str('/fixture/a/b'), i32(-1))), expect: '-5 open' },
      // negative
      { name: 'create: path length -5', send: R(5, OpCode.create, cat(i32(-5), i32(-1), WORLD_ACL, i32(0))), expect: '-5 open' },
      { name: 'create: path length INT_MIN', send: R(5, OpCode.create, cat(i32(-0x80000000), i32(-1), WORLD_ACL, i32(0))), expect: '-5 open' },
      { name: 'create: data length -5', send: R(5, OpCode.create, cat(str('/t'), i32(-5), WORLD_ACL, i32(0))), expect: '-5 open' },
      { name: 'setData: data length -2', send: R(5, OpCode.setData, cat(str('/fixture/a'), i32(-2), i32(-1))), expect: '-5 open' },
      { name: 'getData: path length -5', send: R(5, OpCode.getData, cat(i32(-5), bool(false))), expect: '-5 open' },
      { name: 'create: ACL scheme length -7', send: R(5, OpCode.create, cat(str('/t'), i32(-1), i32(1), i32(31), i32(-7), str('anyone'), i32(0))), expect: '-5 open' },
      { name: 'auth: scheme length -5', send: R(-4, OpCode.auth, cat(i32(0), i32(-5), str('x'))), expect: 'close' },
      // ZooKeeper reads a vector count below -1 as an empty vector (BinaryIndex.done() is nelems <= 0)
      { name: 'create: ACL count -3 (ZooKeeper: empty ACL => InvalidACL)', send: R(5, OpCode.create, cat(str('/t'), i32(-1), i32(-3), i32(0))), expect: '-114 open' },
      { name: 'setACL: ACL count -3 (ZooKeeper: empty ACL => InvalidACL)', send: R(5, OpCode.setACL, cat(str('/fixture/a'), i32(-3), i32(-1))), expect: '-114 open' },
      { name: 'setWatches: watch counts -3 (ZooKeeper: empty lists)', send: R(-8, OpCode.setWatches, cat(i64(0), i32(-3), i32(-3), i32(-3))), expect: '0 open' },
      // null (-1) where ZooKeeper needs a value
      { name: 'create: ACL null (-1)', send: R(5, OpCode.create, cat(str('/t'), i32(-1), i32(-1), i32(0))), expect: '-114 open' },
      { name: 'create: null path (-1)', send: R(5, OpCode.create, cat(i32(-1), i32(-1), WORLD_ACL, i32(0))), expect: '-5 open' },
      { name: 'getData: null path (-1)', send: R(5, OpCode.getData, cat(i32(-1), bool(false))), expect: '-5 open' },
      { name: 'exists: null path (-1)', send: R(5, OpCode.exists, cat(i32(-1), bool(false))), expect: '-5 open' },
      { name: 'setWatches: null watch lists (-1)', send: R(-8, OpCode.setWatches, cat(i64(0), i32(-1), i32(-1), i32(-1))), expect: '-5 open' },
      // well-formed but meaningless values
      { name: 'addWatch: mode 9', send: R(5, OpCode.addWatch, cat(str('/fixture/a'), i32(9))), expect: '-5 open' },
      { name: 'checkWatches: watcher type 9', send: R(5, OpCode.checkWatches, cat(str('/fixture/a'), i32(9))), expect: '-5 open' },
      { name: 'removeWatches: watcher type 9', send: R(5, OpCode.removeWatches, cat(str('/fixture/a'), i32(9))), expect: '-5 open' },
      { name: 'create: flags 9', send: Q(5, { type: OpCode.create, path: '/t', data: null, acl: OPEN_ACL, flags: 9 }), expect: '-8 open' },
      { name: 'create: flags -1', send: Q(5, { type: OpCode.create, path: '/t', data: null, acl: OPEN_ACL, flags: -1 }), expect: '-8 open' },
      { name: 'createTTL without extendedTypesEnabled', send: Q(5, { type: OpCode.createTTL, path: '/t', data: null, acl: OPEN_ACL, flags: 5, ttl: 100 }), expect: '-6 open' },
      { name: 'create: ACL with an unknown scheme', send: Q(5, { type: OpCode.create, path: '/t', data: null, acl: [{ perms: 31, id: { scheme: 'bogus', id: 'x' } }], flags: 0 }), expect: '-114 open' },
      { name: 'create: ACL ip with /99 bits', send: Q(5, { type: OpCode.create, path: '/t', data: null, acl: [{ perms: 31, id: { scheme: 'ip', id: '1.2.3.4/99' } }], flags: 0 }), expect: '-114 open' },
      { name: 'create: ACL digest without a colon', send: Q(5, { type: OpCode.create, path: '/t', data: null, acl: [{ perms: 31, id: { scheme: 'digest', id: 'nocolon' } }], flags: 0 }), expect: '-114 open' },
      { name: 'create: ACL null scheme and id', send: R(5, OpCode.create, cat(str('/t'), i32(-1), i32(1), i32(31), i32(-1), i32(-1), i32(0))), expect: '-114 open' },
      { name: 'create: path with invalid UTF-8', send: R(5, OpCode.create, cat(i32(3), Buffer.from([0x2f, 0xc3, 0x28]), i32(-1), WORLD_ACL, i32(0))), expect: '-8 open' },
      { name: 'getChildren: path with invalid UTF-8', send: R(5, OpCode.getChildren, cat(i32(3), Buffer.from([0x2f, 0xff, 0xfe]), bool(false))), expect: '-101 open' },
      { name: 'delete: version -2', send: Q(5, { type: OpCode.delete, path: '/fixture/a/b', version: -2 }), expect: '-103 open' },
      { name: 'setData: version 0x7fffffff', send: Q(5, { type: OpCode.setData, path: '/fixture/a', data: null, version: 0x7fffffff }), expect: '-103 open' },
      // multis holding what a multi may not hold
      { name: 'multi holding a getData', send: Q(5, { type: OpCode.multi, ops: [{ type: OpCode.getData, path: '/fixture/a', watch: false }] }), expect: '-5 open' },
      { name: 'multi holding a ping', send: R(5, OpCode.multi, cat(i32(OpCode.ping), bool(false), i32(-1), i32(-1), bool(true), i32(-1))), expect: '-5 open' },
      { name: 'multi holding a nested multi', send: R(5, OpCode.multi, cat(i32(OpCode.multi), bool(false), i32(-1), i32(-1), bool(true), i32(-1), i32(-1), bool(true), i32(-1))), expect: '-5 open' },
      { name: 'multi holding an unknown opcode', send: R(5, OpCode.multi, cat(i32(999), bool(false), i32(-1), i32(-1), bool(true), i32(-1))), expect: '-5 open' },
      {
        name: 'multiRead holding a create',
        send: Q(5, { type: OpCode.multiRead, ops: [{ type: OpCode.create, path: '/t', data: null, acl: OPEN_ACL, flags: 0 }] }),
        expect: '-5 open',
      },
      // trailing bytes after a complete record are ignored
      { name: 'getData with trailing junk', send: R(5, OpCode.getData, cat(str('/fixture/a'), bool(false), Buffer.from('junk'))), expect: '0 open' },
      { name: 'getData with watch byte 7', send: R(5, OpCode.getData, cat(str('/fixture/a'), Buffer.from([7]))), expect: '0 open' },
    ];
    for (const c of cases) badInputCase(c);
  });

  // ---------------------------------------------------------------------------
  describe('bad paths', () => {
    const PATHS = ['/fixture/a/', '//', '/fixture/./b', '/fixture/../b', '/.', '/..', 'a', '', '/a\0b', '/\u0001', '/\u007f', '/\ud800', '/\uffff', '/\ue000', '/fixture//b', '/zookeeper/', '/fixture/.', '/x/', '/x/./y', '\0', '/\u0085'];
    // ZooKeeper 3.8.0's error code for each op on each path above, in order. Creates check
    // the parent before the full path, so a bad path under a missing parent is NoNode.
    // "m" = multi reply with err 0 whose single result carries the code.
    const TABLE: [string, (p: string) => Request, string][] = [
      ['create', (path) => ({ type: OpCode.create, path, data: null, acl: OPEN_ACL, flags: 0 }), '-8 -8 -101 -101 -8 -8 -8 -8 -8 -8 -8 -8 -8 -8 -101 -8 -8 -101 -101 -8 -8'],
      ['create2', (path) => ({ type: OpCode.create2, path, data: null, acl: OPEN_ACL, flags: 0 }), '-8 -8 -101 -101 -8 -8 -8 -8 -8 -8 -8 -8 -8 -8 -101 -8 -8 -101 -101 -8 -8'],
      ['createContainer', (path) => ({ type: OpCode.createContainer, path, data: null, acl: OPEN_ACL, flags: 4 }), '-8 -8 -101 -101 -8 -8 -8 -8 -8 -8 -8 -8 -8 -8 -101 -8 -8 -101 -101 -8 -8'],
      ['delete', (path) => ({ type: OpCode.delete, path, version: -1 }), '-101 -101 -101 -101 -101 -101 -8 -8 -8 -101 -101 -101 -101 -101 -101 -101 -101 -101 -101 -8 -101'],
      ['setData', (path) => ({ type: OpCode.setData, path, data: null, version: -1 }), '-8 -8 -8 -8 -8 -8 -8 -8 -8 -8 -8 -8 -8 -8 -8 -8 -8 -8 -8 -8 -8'],
      ['setACL', (path) => ({ type: OpCode.setACL, path, acl: OPEN_ACL, version: -1 }), '-8 -8 -8 -8 -8 -8 -8 -8 -8 -8 -8 -8 -8 -8 -8 -8 -8 -8 -8 -8 -8'],
      ['exists', (path) => ({ type: OpCode.exists, path, watch: false }), '-101 -101 -101 -101 -101 -101 -101 0 -8 -101 -101 -101 -101 -101 -101 -101 -101 -101 -101 -8 -101'],
      ['exists+watch', (path) => ({ type: OpCode.exists, path, watch: true }), '-101 -101 -101 -101 -101 -101 -101 0 -8 -101 -101 -101 -101 -101 -101 -101 -101 -101 -101 -8 -101'],
      ['getData', (path) => ({ type: OpCode.getData, path, watch: false }), '-101 -101 -101 -101 -101 -101 -101 0 -101 -101 -101 -101 -101 -101 -101 -101 -101 -101 -101 -101 -101'],
      ['getChildren', (path) => ({ type: OpCode.getChildren, path, watch: true }), '-101 -101 -101 -101 -101 -101 -101 0 -101 -101 -101 -101 -101 -101 -101 -101 -101 -101 -101 -101 -101'],
      ['getChildren2', (path) => ({ type: OpCode.getChildren2, path, watch: false }), '-101 -101 -101 -101 -101 -101 -101 0 -101 -101 -101 -101 -101 -101 -101 -101 -101 -101 -101 -101 -101'],
      ['getACL', (path) => ({ type: OpCode.getACL, path }), '-101 -101 -101 -101 -101 -101 -101 0 -101 -101 -101 -101 -101 -101 -101 -101 -101 -101 -101 -101 -101'],
      ['sync', (path) => ({ type: OpCode.sync, path }), '0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0'],
      ['getAllChildrenNumber', (path) => ({ type: OpCode.getAllChildrenNumber, path }), '-101 -101 -101 -101 -101 -101 -101 0 -101 -101 -101 -101 -101 -101 -101 -101 -101 -101 -101 -101 -101'],
      ['getEphemerals', (path) => ({ type: OpCode.getEphemerals, path }), '0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0'],
      ['checkWatches', (path) => ({ type: OpCode.checkWatches, path, watcherType: 3 }), '-121 -121 -121 -121 -121 -121 -5 -121 -121 -121 -121 -121 -121 -121 -121 -121 -121 -121 -121 -5 -121'],
      ['addWatch', (path) => ({ type: OpCode.addWatch, path, mode: 0 }), '0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0'],
      ['multi[create]', (path) => ({ type: OpCode.multi, ops: [{ type: OpCode.create, path, data: null, acl: OPEN_ACL, flags: 0 }] }), 'm-8 m-8 m-101 m-101 m-8 m-8 m-8 m-8 m-8 m-8 m-8 m-8 m-8 m-8 m-101 m-8 m-8 m-101 m-101 m-8 m-8'],
      ['multi[delete]', (path) => ({ type: OpCode.multi, ops: [{ type: OpCode.delete, path, version: -1 }] }), 'm-101 m-101 m-101 m-101 m-101 m-101 m-8 m-8 m-8 m-101 m-101 m-101 m-101 m-101 m-101 m-101 m-101 m-101 m-101 m-8 m-101'],
      ['multi[setData]', (path) => ({ type: OpCode.multi, ops: [{ type: OpCode.setData, path, data: null, version: -1 }] }), 'm-8 m-8 m-8 m-8 m-8 m-8 m-8 m-8 m-8 m-8 m-8 m-8 m-8 m-8 m-8 m-8 m-8 m-8 m-8 m-8 m-8'],
      ['multi[check]', (path) => ({ type: OpCode.multi, ops: [{ type: OpCode.check, path, version: -1 }] }), 'm-8 m-8 m-8 m-8 m-8 m-8 m-8 m-8 m-8 m-8 m-8 m-8 m-8 m-8 m-8 m-8 m-8 m-8 m-8 m-8 m-8'],
      ['multiRead[getData]', (path) => ({ type: OpCode.multiRead, ops: [{ type: OpCode.getData, path, watch: false }] }), 'm-101 m-101 m-101 m-101 m-101 m-101 m-101 m0 m-101 m-101 m-101 m-101 m-101 m-101 m-101 m-101 m-101 m-101 m-101 m-101 m-101'],
      [
        'setWatches',
        (path) => ({ type: OpCode.setWatches, relativeZxid: 0, dataWatches: [path], existWatches: [path], childWatches: [path], persistentWatches: [], persistentRecursiveWatches: [] }),
        '0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0',
      ],
    ];

    /** One connection per op; every path in turn; the code of each reply (connection reopened if closed). */
    async function codesFor(mk: (p: string) => Request): Promise<string[]> {
      let c = await openSession(server.host, server.port).then((s) => s.conn);
      const out: string[] = [];
      try {
        for (const path of PATHS) {
          const req = mk(path);
          await c.write(Q(7, req));
          for (;;) {
            const o = await c.next(WAIT_MS);
            if (o.kind !== 'frame') {
              out.push(o.kind);
              c.destroy();
              c = (await openSession(server.host, server.port)).conn;
              break;
            }
            const r = parseReply(o.frame);
            if (r.xid === -1) continue;
            if ((req.type === OpCode.multi || req.type === OpCode.multiRead) && r.err === 0) {
              const results = readResponse(req.type, new JuteReader(r.body)).results ?? [];
              out.push(results.length === 1 ? `m${results[0]!.err}` : `m[${results.map((x) => x.err).join(',')}]`);
            } else out.push(String(r.err));
            break;
          }
        }
      } finally {
        c.destroy();
      }
      return out;
    }

    for (const [name, mk, expected] of TABLE) {
      test(`${name} of ${PATHS.length} bad paths`, { timeout: 30_000 }, async () => {
        const before = dumpToJSON(await healthy.dump());
        const got = await codesFor(mk);
        const want = expected.split(' ');
        const diffs = PATHS.flatMap((p, i) => (got[i] === want[i] ? [] : [`${JSON.stringify(p)}: got ${got[i]}, ZooKeeper 3.8.0 gives ${want[i]}`]));
        assert.deepEqual(dumpToJSON(await healthy.dump()), before, 'the tree changed');
        assert.deepEqual(diffs, []);
        await assertHealthy();
      });
    }

    test('sequential create on paths ending in "/" or "." is valid (ZooKeeper appends the counter first)', { timeout: 30_000 }, async () => {
      const seqPaths = ['/fixture/a/', '/fixture/.', '//', '/x/', 'a', '/a\0b'];
      const want = ['0', '0', '-8', '-101', '-8', '-8'];
      const { conn } = await openSession(server.host, server.port);
      const created: string[] = [];
      const got: string[] = [];
      try {
        for (const path of seqPaths) {
          await conn.write(Q(7, { type: OpCode.create, path, data: null, acl: OPEN_ACL, flags: 2 }));
          const r = await conn.reply(WAIT_MS);
          got.push(String(r.err));
          if (r.err === 0) created.push(readResponse(OpCode.create, new JuteReader(r.body)).path!);
        }
      } finally {
        conn.destroy();
      }
      for (const p of created) await healthy.ok({ type: OpCode.delete, path: p, version: -1 });
      assert.deepEqual(got, want);
      assert.ok(created.every((p) => /\/\d{10}$|\.\d{10}$/.test(p)), `created ${created.join(', ')}`);
      await assertHealthy();
    });
  });

  // ---------------------------------------------------------------------------
  describe('disconnects mid-frame', () => {
    const cp = connectPayload();
    const half = (b: Buffer) => b.subarray(0, Math.floor(b.length / 2));
    const bigCreate = Q(9, { type: OpCode.create, path: '/midframe', data: Buffer.alloc(5000, 1), acl: OPEN_ACL, flags: 0 });
    const cases: [string, boolean, Buffer, 'end' | 'destroy'][] = [
      ['half a ConnectRequest, then FIN', true, half(frame(cp)), 'end'],
      ['half a ConnectRequest, then RST', true, half(frame(cp)), 'destroy'],
      ['two bytes of a frame length, then RST', true, Buffer.from([0, 0]), 'destroy'],
      ['garbage then a frame header promising 1000 bytes, then FIN', true, cat(i32(1000), Buffer.from('garbage garbage')), 'end'],
      ['half a create, then FIN', false, half(bigCreate), 'end'],
      ['half a create, then RST', false, half(bigCreate), 'destroy'],
      ['a create missing its last byte, then RST', false, bigCreate.subarray(0, bigCreate.length - 1), 'destroy'],
      ['a frame header promising jute.maxbuffer bytes and 10 of them, then FIN', false, cat(i32(MAX), Buffer.alloc(10)), 'end'],
    ];
    for (const [name, pre, bytes, how] of cases) {
      test(name, { timeout: 30_000 }, async () => {
        const before = dumpToJSON(await healthy.dump());
        const c = await RawConn.open(server.host, server.port);
        if (!pre) await c.handshake();
        await c.write(bytes);
        await sleep(20);
        if (how === 'end') {
          c.socket.end();
          // the server must notice and close its side too
          const r = await c.drain(WAIT_MS);
          assert.equal(r.timedOut, false, 'the server did not close its side after our FIN');
          assert.deepEqual(r.frames, []);
        } else c.destroy();
        await sleep(50);
        assert.deepEqual(dumpToJSON(await healthy.dump()), before, 'the tree changed');
        await assertHealthy();
      });
    }

    test('a burst of 20 clients sending garbage and vanishing mid-frame', { timeout: 30_000 }, async () => {
      const before = dumpToJSON(await healthy.dump());
      let seed = 0x1234567;
      const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0), seed >>> 16);
      await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const c = await RawConn.open(server.host, server.port);
          if (i % 2) await c.handshake();
          const junk = Buffer.from(Array.from({ length: 50 + (rnd() % 500) }, () => rnd() & 0xff));
          junk.writeInt32BE(100 + (rnd() % 1000), 0); // a plausible length: the server waits for more
          await c.write(junk.subarray(0, Math.min(junk.length, 60)));
          if (i % 3) c.destroy();
          else c.socket.end();
        }),
      );
      await sleep(100);
      assert.deepEqual(dumpToJSON(await healthy.dump()), before, 'the tree changed');
      await assertHealthy();
    });
  });

  // ---------------------------------------------------------------------------
  describe('framing that must work', () => {
    test('a session whose every frame is split into 1-byte TCP writes', { timeout: 30_000 }, async () => {
      const c = await RawConn.open(server.host, server.port);
      try {
        await c.writeSlowly(frame(connectPayload()), 1, 1);
        const o = await c.next(WAIT_MS);
        assert.equal(o.kind, 'frame');
        const session = readConnectResponse(new JuteReader((o as { frame: Buffer }).frame));
        assert.notEqual(session.sessionId, 0n);
        const reqs: [number, Request, number][] = [
          [1, { type: OpCode.create, path: '/split', data: Buffer.from('s'.repeat(40)), acl: OPEN_ACL, flags: 0 }, 0],
          [2, { type: OpCode.getData, path: '/split', watch: false }, 0],
          [3, { type: OpCode.create, path: '/split', data: null, acl: OPEN_ACL, flags: 0 }, -110],
          [4, { type: OpCode.delete, path: '/split', version: 0 }, 0],
          [5, { type: OpCode.exists, path: '/split', watch: false }, -101],
        ];
        for (const [xid, req, err] of reqs) {
          await c.writeSlowly(Q(xid, req), 1, 1);
          const r = await c.reply(WAIT_MS);
          assert.deepEqual([r.xid, r.err], [xid, err]);
          if (xid === 2) assert.equal(readResponse(OpCode.getData, new JuteReader(r.body)).data?.toString(), 's'.repeat(40));
        }
      } finally {
        c.destroy();
      }
      await assertHealthy();
    });

    test('a four-letter word split into 1-byte writes', { timeout: 15_000 }, async () => {
      const c = await RawConn.open(server.host, server.port);
      await c.writeSlowly(Buffer.from('ruok'), 1, 5);
      const t = Date.now();
      while (!c.closed && Date.now() - t < WAIT_MS) await sleep(10);
      assert.equal(c.leftover.toString(), 'imok');
      c.destroy();
    });

    test('ConnectRequest and 300 requests coalesced into one write', { timeout: 30_000 }, async () => {
      const c = await RawConn.open(server.host, server.port);
      const frames: Buffer[] = [frame(connectPayload())];
      const expected: [number, number][] = [];
      let xid = 0;
      const add = (req: Request, err: number) => {
        frames.push(Q(++xid, req));
        expected.push([xid, err]);
      };
      add({ type: OpCode.create, path: '/co', data: null, acl: OPEN_ACL, flags: 0 }, 0);
      for (let i = 0; i < 60; i++) {
        add({ type: OpCode.create, path: `/co/n${i}`, data: Buffer.from(String(i)), acl: OPEN_ACL, flags: 0 }, 0);
        add({ type: OpCode.getData, path: `/co/n${i}`, watch: false }, 0);
        add({ type: OpCode.create, path: `/co/n${i}/`, data: null, acl: OPEN_ACL, flags: 0 }, -8);
        add({ type: OpCode.setData, path: `/co/n${i}`, data: null, version: 7 }, -103);
        add({ type: OpCode.delete, path: `/co/n${i}`, version: -1 }, 0);
      }
      add({ type: OpCode.delete, path: '/co', version: -1 }, 0);
      try {
        await c.write(Buffer.concat(frames));
        const o = await c.next(WAIT_MS);
        assert.equal(o.kind, 'frame', 'no ConnectResponse');
        const got: [number, number][] = [];
        for (let i = 0; i < expected.length; i++) {
          const r = await c.reply(WAIT_MS);
          got.push([r.xid, r.err]);
        }
        assert.deepEqual(got, expected);
      } finally {
        c.destroy();
      }
      assert.equal(await healthy.exists('/co'), null);
      await assertHealthy();
    });

    test('good and bad requests coalesced into one write: each answered, in order', { timeout: 30_000 }, async () => {
      const before = dumpToJSON(await healthy.dump());
      const { conn } = await openSession(server.host, server.port);
      const frames = [
        Q(1, { type: OpCode.getData, path: '/fixture/a', watch: false }), // 0
        R(2, OpCode.create, cat(i32(-5), i32(-1), WORLD_ACL, i32(0))), // -5
        Q(3, { type: OpCode.create, path: '//', data: null, acl: OPEN_ACL, flags: 0 }), // -8
        R(4, OpCode.getData, str('/fixture/a')), // truncated: -5
        Q(5, { type: OpCode.delete, path: '/zookeeper', version: -1 }), // -8
        Q(6, { type: OpCode.multi, ops: [{ type: OpCode.delete, path: '/nope', version: -1 }] }), // multi: err 0, result -101
        Q(7, { type: OpCode.exists, path: '/fixture', watch: false }), // 0
        Q(8, { type: OpCode.getChildren, path: '/fixture', watch: false }), // 0
      ];
      try {
        await conn.write(Buffer.concat(frames));
        const got: string[] = [];
        while (got.length < frames.length) {
          const o = await conn.next(WAIT_MS);
          if (o.kind !== 'frame') {
            got.push(o.kind);
            break;
          }
          const r = parseReply(o.frame);
          got.push(`${r.xid}:${r.err}`);
        }
        assert.deepEqual(got, ['1:0', '2:-5', '3:-8', '4:-5', '5:-8', '6:0', '7:0', '8:0']);
      } finally {
        conn.destroy();
      }
      assert.deepEqual(dumpToJSON(await healthy.dump()), before, 'the tree changed');
      await assertHealthy();
    });
  });

  // ---------------------------------------------------------------------------
  describe('data larger than jute.maxbuffer', () => {
    badInputCase({
      name: 'create with 1 MiB of data: the connection is closed without a reply',
      send: Q(5, { type: OpCode.create, path: '/big', data: Buffer.alloc(1 << 20, 0x42), acl: OPEN_ACL, flags: 0 }),
      expect: 'close',
    });
    badInputCase({
      name: 'setData with jute.maxbuffer bytes of data',
      send: Q(5, { type: OpCode.setData, path: '/fixture/a', data: Buffer.alloc(MAX, 0x42), version: -1 }),
      expect: 'close',
    });
    badInputCase({
      name: 'a request answered, then an oversized frame, in one write',
      send: cat(Q(4, { type: OpCode.exists, path: '/fixture', watch: false }), Q(5, { type: OpCode.create, path: '/big', data: Buffer.alloc(1 << 20), acl: OPEN_ACL, flags: 0 })),
      expect: ['close', '0 close'],
      note: 'ZooKeeper drops the connection before the first reply is written; Paddock answers what came before',
    });

    test('a setData frame of exactly jute.maxbuffer bytes is accepted', { timeout: 30_000 }, async () => {
      await healthy.create('/edge', null);
      const dataLen = MAX - 8 - (4 + '/edge'.length) - 4 - 4; // header, path, data length, version
      const { conn } = await openSession(server.host, server.port);
      try {
        const f = Q(5, { type: OpCode.setData, path: '/edge', data: Buffer.alloc(dataLen, 0x43), version: -1 });
        assert.equal(f.length - 4, MAX);
        await conn.write(f);
        const r = await conn.reply(WAIT_MS);
        assert.deepEqual([r.xid, r.err], [5, 0]);
        // one byte more is refused
        await conn.write(Q(6, { type: OpCode.setData, path: '/edge', data: Buffer.alloc(dataLen + 1, 0x44), version: -1 }));
        assert.equal(await observe(conn, { handshaken: true, probe: false }), 'close');
      } finally {
        conn.destroy();
      }
      assert.equal((await healthy.exists('/edge'))?.dataLength, dataLen);
      await healthy.ok({ type: OpCode.delete, path: '/edge', version: -1 });
      await assertHealthy();
    });
  });

  // ---------------------------------------------------------------------------
  describe('jute.maxbuffer lowered with SERVER_JVMFLAGS -Djute.maxbuffer=4096', () => {
    const LOW = 4096;
    let low: RunningServer;
    let lowHealthy: HealthyClient;
    before(async () => {
      low = await startTarget({ jvmFlags: [`-Djute.maxbuffer=${LOW}`] });
      lowHealthy = await HealthyClient.connect(low.host, low.port);
      await lowHealthy.create('/fixture', null);
      await lowHealthy.create('/fixture/a', Buffer.from('x'));
      await lowHealthy.create('/scratch', null);
      await lowHealthy.create('/eph', null, 1);
    });
    after(async () => {
      await lowHealthy?.close().catch(() => undefined);
      await low?.stop();
    });

    const setDataFrame = (frameLen: number) => Q(5, { type: OpCode.setData, path: '/fixture/a', data: Buffer.alloc(frameLen - 8 - 14 - 4 - 4, 0x45), version: -1 });
    const cp = connectPayload();
    const cases: BadInput[] = [
      { name: `setData frame of ${LOW} bytes is accepted`, send: setDataFrame(LOW), expect: '0 open' },
      { name: `setData frame of ${LOW + 1} bytes closes the connection`, send: setDataFrame(LOW + 1), expect: 'close' },
      { name: 'create with 5000 bytes of data closes the connection', send: Q(5, { type: OpCode.create, path: '/t', data: Buffer.alloc(5000), acl: OPEN_ACL, flags: 0 }), expect: 'close' },
      { name: `ConnectRequest padded to ${LOW} bytes is accepted`, pre: true, send: frame(cat(cp, Buffer.alloc(LOW - cp.length))), expect: 'connected open' },
      { name: `ConnectRequest padded to ${LOW + 1} bytes closes the connection`, pre: true, send: frame(cat(cp, Buffer.alloc(LOW + 1 - cp.length))), expect: 'close' },
    ];
    for (const c of cases) {
      test(c.name, { timeout: 30_000 }, async () => {
        const before = dumpToJSON(await lowHealthy.dump());
        const outcome = await runBadInput(c, low);
        assert.equal(outcome, c.expect);
        const afterDump = dumpToJSON(await lowHealthy.dump());
        if (outcome === '0 open') {
          // the accepted setData changed /fixture/a: put it back before comparing
          await lowHealthy.setData('/fixture/a', Buffer.from('x'));
          const restored = dumpToJSON(await lowHealthy.dump()) as Record<string, { stat: object; data: string }>;
          assert.equal(restored['/fixture/a']!.data, Buffer.from('x').toString('hex'));
        } else assert.deepEqual(afterDump, before, 'the tree changed');
        await assertHealthy(lowHealthy, low);
      });
    }

    test('the default server still takes frames up to 1 MiB', { timeout: 30_000 }, async () => {
      const { conn } = await openSession(server.host, server.port);
      try {
        await conn.write(Q(5, { type: OpCode.create, path: '/mid', data: Buffer.alloc(100_000), acl: OPEN_ACL, flags: 0 }));
        assert.deepEqual(await observe(conn, { handshaken: true, probe: true }), '0 open');
      } finally {
        conn.destroy();
      }
      await healthy.ok({ type: OpCode.delete, path: '/mid', version: -1 });
      await assertHealthy();
    });
  });

  test('the server is still serving four-letter words and sessions at the end', { timeout: 15_000 }, async () => {
    assert.equal(await fourLetterWord(server.host, server.port, 'ruok'), 'imok');
    const h2 = await HealthyClient.connect(server.host, server.port);
    try {
      assert.deepEqual((await h2.children('/fixture')).sort(), ['a']);
    } finally {
      await h2.close();
    }
    await assertHealthy();
  });
});

function opName(type: number): string {
  return Object.entries(OpCode).find(([, v]) => v === type)?.[0] ?? String(type);
}
