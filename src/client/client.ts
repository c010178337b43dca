// Paddock's wire-level ZooKeeper client (the part of Java's ClientCnxn for one
// connection): one TCP connection, one session, promise-based.
//
// Two layers:
//  - request()/send(): the raw layer. Resolves with the exact reply (xid, zxid,
//    err, decoded body, raw body bytes) whatever the error code; rejects only when
//    there is no reply (connection lost, undecodable body).
//  - typed methods (create, getData, multi, ...): throw ZkError on a non-zero code.
//
// Requests are pipelined: each is written as soon as it is issued and replies are
// matched to requests by xid, in order. Notifications (xid -1) are emitted as
// 'watch' events in the order they arrive relative to replies. The connection is
// kept alive with pings at a third of the negotiated session timeout, and with
// readTimeout 'auto' dropped when nothing arrives for two thirds of it.
// There is no reconnection here: when the connection drops, pending requests
// reject with ZkError(connectionLoss) and 'close' is emitted; to reattach to the
// session, connect() again with { sessionId, password } — which is what the
// session-level ZooKeeper (zookeeper.ts) does, one ZooKeeperClient per connection.

import { EventEmitter } from 'node:events';
import net from 'node:net';
import { JuteError, JuteReader, JuteWriter } from '../jute/archive.ts';
import { Err, OpCode, OpName, Xid, ZkError } from '../proto/constants.ts';
import { readConnectResponse, writeConnectRequest, writeRequest, type ACL, type Request, type Stat } from '../proto/records.ts';
import { readResponse, readWatcherEvent, type ClientInfo, type MultiResult, type Response } from '../proto/responses.ts';
import { errorName } from './acl.ts';
import { FrameDecoder } from './frames.ts';
import { createRequest, toBuffer, type CreateOptions, type Data } from './ops.ts';

export interface ConnectOptions {
  /** requested session timeout in ms (the server clamps it); default 30 000 */
  sessionTimeout?: number;
  /** reattach to this session (with its password) instead of creating one */
  sessionId?: bigint;
  password?: Buffer;
  /** value of the optional readOnly byte of ConnectRequest; default false */
  readOnly?: boolean;
  /** lastZxidSeen of ConnectRequest; default 0 */
  lastZxidSeen?: number;
  /** give up on TCP connect + handshake after this many ms; default 10 000 */
  connectTimeout?: number;
  /** largest reply frame accepted; default 4 MiB */
  maxPacketLength?: number;
  /** ping interval in ms; default a third of the negotiated timeout, 0 disables */
  pingInterval?: number;
  /** drop the connection (connectionLoss) when nothing arrives for this many ms after the handshake;
   *  'auto': two thirds of the negotiated session timeout, as ZooKeeper's client does; default: never */
  readTimeout?: number | 'auto';
}

export interface RawReply {
  xid: number;
  zxid: number;
  err: number;
  /** decoded body; {} when err != 0 (except multi, whose results carry the errors) */
  body: Response;
  /** the reply bytes after the ReplyHeader, undecoded */
  raw: Buffer;
  /** position of this frame among all frames received on the connection (see ZooKeeperClient.received) */
  seq: number;
}

export interface WatchEvent {
  type: number;
  state: number;
  path: string;
  /** ReplyHeader.zxid of the notification (-1 on ZooKeeper 3.8) */
  zxid: number;
}

export class MultiError extends ZkError {
  constructor(
    code: number,
    readonly results: MultiResult[],
  ) {
    super(code, `multi failed: ${errorName(code)} (${code})`);
  }
}

interface Pending {
  xid: number;
  type: number;
  /** called as the reply is read, before any later frame (a watch the reply arms must see the events behind it) */
  onReply?: (r: RawReply) => void;
  resolve: (r: RawReply) => void;
  reject: (e: Error) => void;
}

type State = 'connecting' | 'connected' | 'closing' | 'closed';

const XID_MAX = 0x7fffffff;

/** xid a request type travels with: special ones are fixed by the protocol. */
function xidFor(type: number): number | undefined {
  switch (type) {
    case OpCode.ping:
      return Xid.ping;
    case OpCode.auth:
      return Xid.auth;
    case OpCode.setWatches:
    case OpCode.setWatches2:
      return Xid.setWatches;
    default:
      return undefined;
  }
}

export interface ServerAddress {
  host: string;
  port: number;
}

/**
 * Split a connect string "host:port[,host:port...][/chroot]" into its servers
 * and its chroot ('' when there is none or it is "/"), as ZooKeeper's
 * ConnectStringParser does; the port defaults to 2181, IPv6 hosts are bracketed.
 */
export function parseConnectString(cs: string): { servers: ServerAddress[]; chroot: string } {
  const slash = cs.indexOf('/');
  const chroot = slash === -1 ? '' : cs.slice(slash).replace(/^\/$/, '');
  if (chroot && !/^(\/[^/\0]+)+$/.test(chroot)) throw new TypeError(`bad chroot ${JSON.stringify(chroot)} in connect string ${JSON.stringify(cs)}`);
  const servers = (slash === -1 ? cs : cs.slice(0, slash)).split(',').map((hp) => {
    const m = /^\s*(\[[^\]]+\]|[^:\s]+)(?::(\d+))?\s*$/.exec(hp);
    if (!m) throw new TypeError(`bad connect string element ${JSON.stringify(hp)}`);
    return { host: m[1].replace(/^\[|\]$/g, ''), port: m[2] ? Number(m[2]) : 2181 };
  });
  return { servers, chroot };
}

/** "host:port" of a server, IPv6 hosts in brackets. */
export const formatAddress = ({ host, port }: ServerAddress): string => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

export class ZooKeeperClient extends EventEmitter {
  /** negotiated session timeout (ms) */
  sessionTimeout = 0;
  sessionId = 0n;
  password: Buffer = Buffer.alloc(16);
  /** the server's readOnly flag (undefined if it did not send one) */
  readOnly: boolean | undefined;
  /** highest zxid seen in a reply */
  lastZxid = 0;
  /** frames received since the handshake (replies and notifications); read it in a 'watch' listener to order events against replies' seq */
  received = 0;
  /** remote address actually connected to */
  host = '';
  port = 0;

  private state: State = 'connecting';
  private nextXid = 1;
  private readonly inflight: Pending[] = [];
  private readonly special = new Map<number, Pending[]>();
  private readonly decoder: FrameDecoder;
  private pingTimer: NodeJS.Timeout | undefined;
  private readTimer: NodeJS.Timeout | undefined;
  private closeReason: Error | undefined;
  private handshake!: { resolve: () => void; reject: (e: Error) => void };

  private constructor(
    private readonly socket: net.Socket,
    private readonly opts: ConnectOptions,
  ) {
    super();
    this.decoder = new FrameDecoder(opts.maxPacketLength ?? 4 * 1024 * 1024);
  }

  /** Connect to the first reachable server of `connectString` ("host:port[,host:port...]") and establish a session. */
  static async connect(connectString: string, opts: ConnectOptions = {}): Promise<ZooKeeperClient> {
    const { servers, chroot } = parseConnectString(connectString);
    if (chroot) throw new TypeError(`ZooKeeperClient takes no chroot (the session-level ZooKeeper does): ${connectString}`);
    let lastError: unknown;
    for (const { host, port } of servers) {
      try {
        return await ZooKeeperClient.connectOne(host, port, opts);
      } catch (e) {
        // a definitive answer from a server (expired session) is not retried elsewhere
        if (e instanceof ZkError && e.code === Err.sessionExpired) throw e;
        lastError = e;
      }
    }
    throw lastError;
  }

  private static connectOne(host: string, port: number, opts: ConnectOptions): Promise<ZooKeeperClient> {
    const socket = net.connect({ host, port, noDelay: true });
    const client = new ZooKeeperClient(socket, opts);
    client.host = host;
    client.port = port;
    const timeoutMs = opts.connectTimeout ?? 10_000;
    return new Promise<ZooKeeperClient>((resolve, reject) => {
      const timer = setTimeout(() => client.fail(new ZkError(Err.connectionLoss, `connect to ${host}:${port} timed out after ${timeoutMs} ms`)), timeoutMs);
      client.handshake = {
        resolve: () => {
          clearTimeout(timer);
          resolve(client);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      socket.on('connect', () => client.sendConnect());
      socket.on('data', (chunk: Buffer) => client.onData(chunk));
      socket.on('error', (e) => client.fail(e));
      socket.on('close', () => client.fail(new ZkError(Err.connectionLoss, 'connection closed by server')));
    });
  }

  get connected(): boolean {
    return this.state === 'connected';
  }

  // ---- raw layer ----

  /**
   * Send a request and resolve with the server's exact reply, whatever its error code. `onReply` runs as the reply
   * is read, before any frame after it is handled (the promise resolves only after them).
   */
  request(req: Request, onReply?: (r: RawReply) => void): Promise<RawReply> {
    const w = new JuteWriter();
    writeRequest(w, req);
    return this.send(req.type, w.toBuffer(), undefined, onReply);
  }

  /** Send an arbitrary opcode with a pre-encoded request record (for probing servers). */
  send(type: number, payload: Buffer = Buffer.alloc(0), xid?: number, onReply?: (r: RawReply) => void): Promise<RawReply> {
    if (this.state !== 'connected' && !(this.state === 'closing' && type === OpCode.closeSession)) {
      return Promise.reject(this.closeReason ?? new ZkError(Err.connectionLoss, 'not connected'));
    }
    const x = xid ?? xidFor(type) ?? this.allocXid();
    const w = new JuteWriter(payload.length + 16);
    const at = w.beginFrame();
    w.int(x).int(type).raw(payload);
    w.endFrame(at);
    return new Promise<RawReply>((resolve, reject) => {
      const p: Pending = { xid: x, type, onReply, resolve, reject };
      if (x > 0) this.inflight.push(p);
      else {
        const q = this.special.get(x) ?? [];
        q.push(p);
        this.special.set(x, q);
      }
      this.socket.write(w.toBuffer());
    });
  }

  private allocXid(): number {
    const x = this.nextXid;
    this.nextXid = x >= XID_MAX ? 1 : x + 1;
    return x;
  }

  /** request() that throws ZkError on a non-zero code and returns the body */
  private async call(req: Request): Promise<Response> {
    const r = await this.request(req);
    if (r.err !== Err.ok) {
      const what = 'path' in req ? `${OpName[req.type] ?? req.type} ${req.path}` : `${OpName[req.type] ?? req.type}`;
      throw new ZkError(r.err, `${what}: ${errorName(r.err)} (${r.err})`);
    }
    return r.body;
  }

  // ---- typed API ----

  /** Create a node; returns the actual path (sequential suffix included). */
  async create(path: string, data?: Data, opts?: CreateOptions): Promise<string> {
    return (await this.call(createRequest(path, data, opts, false))).path!;
  }

  /** Create a node; returns the actual path and its Stat. */
  async create2(path: string, data?: Data, opts?: CreateOptions): Promise<{ path: string; stat: Stat }> {
    const b = await this.call(createRequest(path, data, opts, true));
    return { path: b.path!, stat: b.stat! };
  }

  async delete(path: string, version = -1): Promise<void> {
    await this.call({ type: OpCode.delete, path, version });
  }

  /** Stat of the node, or null if it does not exist (the watch is armed either way). */
  async exists(path: string, watch = false): Promise<Stat | null> {
    const r = await this.request({ type: OpCode.exists, path, watch });
    if (r.err === Err.noNode) return null;
    if (r.err !== Err.ok) throw new ZkError(r.err, `exists ${path}: ${errorName(r.err)} (${r.err})`);
    return r.body.stat!;
  }

  async getData(path: string, watch = false): Promise<{ data: Buffer | null; stat: Stat }> {
    const b = await this.call({ type: OpCode.getData, path, watch });
    return { data: b.data ?? null, stat: b.stat! };
  }

  async setData(path: string, data: Data, version = -1): Promise<Stat> {
    return (await this.call({ type: OpCode.setData, path, data: toBuffer(data), version })).stat!;
  }

  async getACL(path: string): Promise<{ acl: ACL[]; stat: Stat }> {
    const b = await this.call({ type: OpCode.getACL, path });
    return { acl: b.acl!, stat: b.stat! };
  }

  async setACL(path: string, acl: ACL[], version = -1): Promise<Stat> {
    return (await this.call({ type: OpCode.setACL, path, acl, version })).stat!;
  }

  async getChildren(path: string, watch = false): Promise<string[]> {
    return (await this.call({ type: OpCode.getChildren, path, watch })).children!;
  }

  async getChildren2(path: string, watch = false): Promise<{ children: string[]; stat: Stat }> {
    const b = await this.call({ type: OpCode.getChildren2, path, watch });
    return { children: b.children!, stat: b.stat! };
  }

  async sync(path: string): Promise<string> {
    return (await this.call({ type: OpCode.sync, path })).path!;
  }

  /** Atomic multi; throws MultiError (code of the failing op, results attached) if it was rolled back. */
  async multi(ops: Request[]): Promise<MultiResult[]> {
    const results = (await this.call({ type: OpCode.multi, ops })).results!;
    const failed = results.find((r) => r.err !== Err.ok && r.err !== Err.runtimeInconsistency) ?? results.find((r) => r.err !== Err.ok);
    if (failed) throw new MultiError(failed.err, results);
    return results;
  }

  /** Read-only multi (getData / getChildren); errors are per result, never thrown. */
  async multiRead(ops: Request[]): Promise<MultiResult[]> {
    return (await this.call({ type: OpCode.multiRead, ops })).results!;
  }

  /** Add credentials to this connection. A rejected scheme/credential throws authFailed (the server then closes the connection). */
  async addAuth(scheme: string, auth: Data): Promise<void> {
    await this.call({ type: OpCode.auth, authType: 0, scheme, auth: toBuffer(auth) ?? Buffer.alloc(0) });
  }

  /** mode: AddWatchMode.persistent (0) or persistentRecursive (1) */
  async addWatch(path: string, mode: number): Promise<void> {
    await this.call({ type: OpCode.addWatch, path, mode });
  }

  /** watcherType: WatcherType; throws noWatcher (-121) if there was none */
  async removeWatches(path: string, watcherType: number): Promise<void> {
    await this.call({ type: OpCode.removeWatches, path, watcherType });
  }

  async checkWatches(path: string, watcherType: number): Promise<void> {
    await this.call({ type: OpCode.checkWatches, path, watcherType });
  }

  /** this session's ephemeral nodes under prefix ("/" = all) */
  async getEphemerals(prefix = '/'): Promise<string[]> {
    return (await this.call({ type: OpCode.getEphemerals, path: prefix })).children!;
  }

  async getAllChildrenNumber(path: string): Promise<number> {
    return (await this.call({ type: OpCode.getAllChildrenNumber, path })).count!;
  }

  async whoAmI(): Promise<ClientInfo[]> {
    return (await this.call({ type: OpCode.whoAmI })).clientInfo!;
  }

  /** Send a ping (xid -2); resolves with its reply. */
  ping(): Promise<RawReply> {
    return this.send(OpCode.ping);
  }

  /** Close the session (closeSession, which deletes its ephemerals) and the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    if (this.state === 'connected') {
      this.state = 'closing';
      this.stopPing();
      await this.send(OpCode.closeSession).catch(() => undefined);
    }
    this.fail(new ZkError(Err.sessionExpired, 'session closed'));
  }

  /** Drop the connection without closing the session (it stays alive until it times out). */
  disconnect(): void {
    this.fail(new ZkError(Err.connectionLoss, 'disconnected by client'));
  }

  // ---- wire ----

  private sendConnect(): void {
    const w = new JuteWriter();
    const at = w.beginFrame();
    writeConnectRequest(w, {
      protocolVersion: 0,
      lastZxidSeen: this.opts.lastZxidSeen ?? 0,
      timeOut: this.opts.sessionTimeout ?? 30_000,
      sessionId: this.opts.sessionId ?? 0n,
      passwd: this.opts.password ?? Buffer.alloc(16),
      readOnly: this.opts.readOnly ?? false,
    });
    w.endFrame(at);
    this.socket.write(w.toBuffer());
  }

  private onData(chunk: Buffer): void {
    this.readTimer?.refresh();
    let frames: Buffer[];
    try {
      frames = this.decoder.push(chunk);
    } catch (e) {
      this.fail(e as Error);
      return;
    }
    for (const f of frames) {
      if (this.state === 'closed') return;
      try {
        if (this.state === 'connecting') this.onConnectResponse(f);
        else this.onReply(f);
      } catch (e) {
        this.fail(e instanceof Error ? e : new Error(String(e)));
        return;
      }
    }
  }

  private onConnectResponse(frame: Buffer): void {
    const res = readConnectResponse(new JuteReader(frame));
    if (res.timeOut <= 0 || res.sessionId === 0n) {
      throw new ZkError(Err.sessionExpired, 'session expired or invalid (server answered with session 0)');
    }
    this.sessionTimeout = res.timeOut;
    this.sessionId = res.sessionId;
    this.password = Buffer.from(res.passwd);
    this.readOnly = res.readOnly;
    this.state = 'connected';
    const every = this.opts.pingInterval ?? Math.max(1, Math.floor(res.timeOut / 3));
    if (every > 0) {
      this.pingTimer = setInterval(() => void this.ping().catch(() => undefined), every);
      this.pingTimer.unref();
    }
    const silence = this.opts.readTimeout === 'auto' ? Math.floor((res.timeOut * 2) / 3) : this.opts.readTimeout;
    if (silence) {
      this.readTimer = setTimeout(() => this.fail(new ZkError(Err.connectionLoss, `nothing received from ${this.host}:${this.port} for ${silence} ms`)), silence);
      this.readTimer.unref();
    }
    this.handshake.resolve();
  }

  private onReply(frame: Buffer): void {
    const seq = ++this.received;
    const r = new JuteReader(frame);
    const xid = r.int();
    const zxid = r.long();
    const err = r.int();
    if (zxid > this.lastZxid) this.lastZxid = zxid;
    if (xid === Xid.notification) {
      const ev = readWatcherEvent(r);
      this.emit('watch', { ...ev, zxid } satisfies WatchEvent);
      return;
    }
    let p: Pending | undefined;
    if (xid > 0) {
      p = this.inflight.shift();
      if (!p || p.xid !== xid) throw new JuteError(`reply out of order: got xid ${xid}, expected ${p ? p.xid : 'none'}`);
    } else {
      p = this.special.get(xid)?.shift();
      if (!p) throw new JuteError(`unexpected reply with xid ${xid}`);
    }
    const raw = frame.subarray(r.offset);
    let body: Response = {};
    if (err === Err.ok) {
      try {
        body = readResponse(p.type, r);
      } catch (e) {
        p.reject(e as Error);
        return;
      }
    }
    const reply = { xid, zxid, err, body, raw, seq };
    p.onReply?.(reply);
    p.resolve(reply);
  }

  private stopPing(): void {
    clearInterval(this.pingTimer);
    clearTimeout(this.readTimer);
    this.pingTimer = this.readTimer = undefined;
  }

  /** Tear down: reject everything pending, destroy the socket, emit 'close' once. */
  private fail(reason: Error): void {
    if (this.state === 'closed') return;
    const wasConnecting = this.state === 'connecting';
    this.state = 'closed';
    this.closeReason = reason instanceof ZkError ? reason : new ZkError(Err.connectionLoss, `connection lost: ${reason.message}`);
    this.stopPing();
    this.socket.destroy();
    const pending = [...this.inflight.splice(0), ...[...this.special.values()].flatMap((q) => q.splice(0))];
    for (const p of pending) p.reject(this.closeReason);
    if (wasConnecting) this.handshake.reject(reason);
    else this.emit('close', reason);
  }
}
