// A raw-socket ZooKeeper client for robustness tests: it writes whatever bytes
// it is given (valid frames, garbage, half frames, bytes one at a time) and
// reports exactly what came back: reply frames, and whether and when the
// server closed the connection. Every wait is bounded.
//
// On top of it, HealthyClient is a minimal well-behaved session (pipelined
// requests, replies matched in order, pings) used to check that a server keeps
// serving, and to dump the whole tree (paths, data, stats, ACLs).
//
// Deliberately independent of src/client/: this helper must keep working while
// the client library changes, and it must be able to send what a real client never would.

import net from 'node:net';
import { JuteReader, JuteWriter } from '../../src/jute/archive.ts';
import { OpCode, Xid } from '../../src/proto/constants.ts';
import { readConnectResponse, writeConnectRequest, writeRequest, type ACL, type ConnectResponse, type Request, type Stat } from '../../src/proto/records.ts';
import { readResponse, type Response } from '../../src/proto/responses.ts';
import { fourLetterWord, type RunningServer } from './servers.ts';

export const OPEN_ACL: ACL[] = [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }];

// ---- encoders ----

/** `int32 len` + payload */
export function frame(payload: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeInt32BE(payload.length);
  return Buffer.concat([len, payload]);
}

export interface ConnectOpts {
  timeOut?: number;
  sessionId?: bigint;
  passwd?: Buffer;
  lastZxidSeen?: number;
  /** undefined: omit the optional byte */
  readOnly?: boolean;
}

/** ConnectRequest body (unframed) */
export function connectPayload(o: ConnectOpts = {}): Buffer {
  const w = new JuteWriter();
  writeConnectRequest(w, {
    protocolVersion: 0,
    lastZxidSeen: o.lastZxidSeen ?? 0,
    timeOut: o.timeOut ?? 30_000,
    sessionId: o.sessionId ?? 0n,
    passwd: o.passwd ?? Buffer.alloc(16),
    readOnly: 'readOnly' in o ? o.readOnly : false,
  });
  return w.toBuffer();
}

/** RequestHeader(xid, type) + the request record (unframed) */
export function requestPayload(xid: number, req: Request): Buffer {
  const w = new JuteWriter();
  w.int(xid).int(req.type);
  writeRequest(w, req);
  return w.toBuffer();
}

/** RequestHeader(xid, type) + arbitrary record bytes (unframed) */
export function rawRequestPayload(xid: number, type: number, record: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(8);
  h.writeInt32BE(xid, 0);
  h.writeInt32BE(type, 4);
  return Buffer.concat([h, record]);
}

export interface Reply {
  xid: number;
  zxid: number;
  err: number;
  /** bytes after the ReplyHeader */
  body: Buffer;
}

export function parseReply(f: Buffer): Reply {
  const r = new JuteReader(f);
  const xid = r.int();
  const zxid = r.long();
  const err = r.int();
  return { xid, zxid, err, body: f.subarray(16) };
}

// ---- the raw connection ----

export type Outcome = { kind: 'frame'; frame: Buffer } | { kind: 'closed' } | { kind: 'timeout' };

export class RawConn {
  private buf: Buffer = Buffer.alloc(0);
  private frames: Buffer[] = [];
  private waiters: (() => void)[] = [];
  closed = false;
  /** set when the socket errored (e.g. ECONNRESET) */
  error: Error | null = null;
  /** bytes received that do not form whole frames (left when closed) */
  get leftover(): Buffer {
    return this.buf;
  }

  private constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      while (this.buf.length >= 4) {
        const len = this.buf.readInt32BE(0);
        if (len < 0 || this.buf.length - 4 < len) break;
        this.frames.push(Buffer.from(this.buf.subarray(4, 4 + len)));
        this.buf = this.buf.subarray(4 + len);
      }
      this.wake();
    });
    socket.on('error', (e) => {
      this.error = e;
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  static open(host: string, port: number, timeoutMs = 5000): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host, port });
      const t = setTimeout(() => {
        s.destroy();
        reject(new Error(`connect to ${host}:${port} timed out`));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(t);
        s.removeAllListeners('error');
        resolve(new RawConn(s));
      });
      s.once('error', (e) => {
        clearTimeout(t);
        reject(e);
      });
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Write bytes; resolves once handed to the kernel (or at once if the socket is gone). */
  write(bytes: Buffer): Promise<void> {
    if (this.closed || this.socket.destroyed || !this.socket.writable) return Promise.resolve();
    return new Promise((resolve) => this.socket.write(bytes, () => resolve()));
  }

  /** Write bytes in pieces of `size`, waiting `delayMs` between them (a frame split across many TCP segments). */
  async writeSlowly(bytes: Buffer, size = 1, delayMs = 1): Promise<void> {
    for (let i = 0; i < bytes.length; i += size) {
      await this.write(bytes.subarray(i, i + size));
      if (delayMs > 0) await sleep(delayMs);
    }
  }

  /** The next whole frame, 'closed' once the server closed with no frame left, or 'timeout'. */
  async next(timeoutMs = 3000): Promise<Outcome> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = this.frames.shift();
      if (f) return { kind: 'frame', frame: f };
      if (this.closed) return { kind: 'closed' };
      const left = deadline - Date.now();
      if (left <= 0) return { kind: 'timeout' };
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The next frame as a reply; throws on close or timeout. */
  async reply(timeoutMs = 3000): Promise<Reply> {
    const o = await this.next(timeoutMs);
    if (o.kind !== 'frame') throw new Error(`expected a reply, got ${o.kind}`);
    return parseReply(o.frame);
  }

  /** Every frame until the server closes; `timedOut` when it did not close within timeoutMs. */
  async drain(timeoutMs = 3000): Promise<{ frames: Buffer[]; timedOut: boolean }> {
    const frames: Buffer[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const o = await this.next(Math.max(0, deadline - Date.now()));
      if (o.kind === 'frame') frames.push(o.frame);
      else return { frames, timedOut: o.kind === 'timeout' };
    }
  }

  /** Send a ConnectRequest and read the ConnectResponse. */
  async handshake(o: ConnectOpts = {}, timeoutMs = 5000): Promise<ConnectResponse> {
    await this.write(frame(connectPayload(o)));
    const r = await this.next(timeoutMs);
    if (r.kind !== 'frame') throw new Error(`no ConnectResponse: ${r.kind}`);
    return readConnectResponse(new JuteReader(r.frame));
  }

  /** Close our side, wait (bounded) for the socket to be gone. */
  async close(timeoutMs = 2000): Promise<void> {
    if (this.closed) return;
    this.socket.end();
    const r = await this.drain(timeoutMs).catch(() => null);
    if (!r || r.timedOut) this.socket.destroy();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Open a connection and establish a new session on it. */
export async function openSession(host: string, port: number, o: ConnectOpts = {}): Promise<{ conn: RawConn; session: ConnectResponse }> {
  const conn = await RawConn.open(host, port);
  try {
    const session = await conn.handshake(o);
    if (session.sessionId === 0n) throw new Error('server refused the session');
    return { conn, session };
  } catch (e) {
    conn.destroy();
    throw e;
  }
}

// ---- a well-behaved session ----

export class ZkCallError extends Error {
  constructor(
    readonly code: number,
    what: string,
  ) {
    super(`${what}: error ${code}`);
  }
}

interface Pending {
  xid: number;
  type: number;
  resolve: (r: { reply: Reply; body: Response }) => void;
  reject: (e: Error) => void;
}

export interface NodeDump {
  data: string | null;
  stat: Stat;
  acl: ACL[];
}

/** A minimal correct client: pipelined requests, replies in order, pings, bounded waits. */
export class HealthyClient {
  private xid = 0;
  private readonly pending: Pending[] = [];
  private pinger: NodeJS.Timeout;
  private pump: Promise<void>;
  private dead: Error | null = null;

  private constructor(
    readonly conn: RawConn,
    readonly session: ConnectResponse,
    private readonly timeoutMs: number,
  ) {
    this.pinger = setInterval(() => void conn.write(frame(rawRequestPayload(Xid.ping, OpCode.ping))), 2000);
    this.pump = this.run();
  }

  static async connect(host: string, port: number, timeoutMs = 5000): Promise<HealthyClient> {
    const { conn, session } = await openSession(host, port, { timeOut: 30_000 });
    return new HealthyClient(conn, session, timeoutMs);
  }

  get sessionId(): bigint {
    return this.session.sessionId;
  }

  private async run(): Promise<void> {
    for (;;) {
      const o = await this.conn.next(3_600_000);
      if (o.kind !== 'frame') {
        this.fail(new Error(`healthy connection ${o.kind}`));
        return;
      }
      const reply = parseReply(o.frame);
      if (reply.xid === Xid.ping || reply.xid === Xid.notification) continue;
      const p = this.pending.shift();
      if (!p) {
        this.fail(new Error(`unexpected reply xid ${reply.xid}`));
        return;
      }
      if (p.xid !== reply.xid) {
        p.reject(new Error(`reply out of order: expected xid ${p.xid}, got ${reply.xid}`));
        this.fail(new Error('out of order'));
        return;
      }
      try {
        const body = reply.err === 0 ? readResponse(p.type, new JuteReader(reply.body)) : {};
        p.resolve({ reply, body });
      } catch (e) {
        p.reject(e as Error);
      }
    }
  }

  private fail(e: Error): void {
    this.dead = e;
    clearInterval(this.pinger);
    for (const p of this.pending.splice(0)) p.reject(e);
  }

  /** Send a request; resolves with the reply whatever its error code. */
  call(req: Request): Promise<{ reply: Reply; body: Response }> {
    if (this.dead) return Promise.reject(this.dead);
    // auth and setWatches travel with fixed xids; their replies come back in order like the others
    const xid = req.type === OpCode.auth ? Xid.auth : req.type === OpCode.setWatches || req.type === OpCode.setWatches2 ? Xid.setWatches : ++this.xid;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no reply to ${req.type} (xid ${xid}) within ${this.timeoutMs} ms`)), this.timeoutMs);
      this.pending.push({
        xid,
        type: req.type,
        resolve: (r) => {
          clearTimeout(t);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      });
      void this.conn.write(frame(requestPayload(xid, req)));
    });
  }

  /** call(), throwing ZkCallError on a non-zero code */
  async ok(req: Request): Promise<Response> {
    const { reply, body } = await this.call(req);
    if (reply.err !== 0) throw new ZkCallError(reply.err, `${req.type} ${'path' in req ? req.path : ''}`);
    return body;
  }

  async create(path: string, data: Buffer | null = null, flags = 0): Promise<string> {
    return (await this.ok({ type: OpCode.create, path, data, acl: OPEN_ACL, flags })).path!;
  }

  async getData(path: string): Promise<{ data: Buffer | null; stat: Stat }> {
    const b = await this.ok({ type: OpCode.getData, path, watch: false });
    return { data: b.data ?? null, stat: b.stat! };
  }

  async setData(path: string, data: Buffer | null, version = -1): Promise<Stat> {
    return (await this.ok({ type: OpCode.setData, path, data, version })).stat!;
  }

  async children(path: string): Promise<string[]> {
    return (await this.ok({ type: OpCode.getChildren, path, watch: false })).children!;
  }

  async exists(path: string): Promise<Stat | null> {
    const { reply, body } = await this.call({ type: OpCode.exists, path, watch: false });
    if (reply.err === -101) return null;
    if (reply.err !== 0) throw new ZkCallError(reply.err, `exists ${path}`);
    return body.stat!;
  }

  /** Every node under `root` (inclusive): data (hex), stat and ACL, keyed by path, in sorted order. */
  async dump(root = '/'): Promise<Map<string, NodeDump>> {
    const out = new Map<string, NodeDump>();
    const walk = async (path: string): Promise<void> => {
      const [{ data, stat }, acl] = await Promise.all([this.getData(path), this.ok({ type: OpCode.getACL, path })]);
      out.set(path, { data: data === null ? null : data.toString('hex'), stat, acl: acl.acl! });
      const kids = (await this.children(path)).sort();
      for (const k of kids) await walk(path === '/' ? `/${k}` : `${path}/${k}`);
    };
    await walk(root);
    return out;
  }

  async close(): Promise<void> {
    clearInterval(this.pinger);
    if (!this.dead) {
      await Promise.race([this.call({ type: OpCode.closeSession }).catch(() => undefined), sleep(2000)]);
    }
    await this.conn.close();
    await this.pump.catch(() => undefined);
  }
}

/** A dump as a plain, comparable object (bigints as strings). */
export function dumpToJSON(d: Map<string, NodeDump>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(Object.fromEntries(d), (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
}

/**
 * ZooKeeper 3.8 answers "ruok" before it serves sessions: wait for "srvr" to
 * report (Paddock answers at once).
 */
export async function waitForSessions(server: RunningServer, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reply = await fourLetterWord(server.host, server.port, 'srvr').catch(() => '');
    if (reply.startsWith('Zookeeper version')) return;
    if (Date.now() > deadline) throw new Error(`${server.kind} on ${server.connectString} not serving after ${timeoutMs} ms`);
    await sleep(25);
  }
}
