// The session-level client applications use, mirroring ZooKeeper's Java
// `ZooKeeper` with its ClientCnxn: one session carried over a list of servers.
//
// Connection: the connect string's servers are shuffled and tried in turn, each
// with a connect timeout of sessionTimeout / number of servers; a connection
// pings at a third of the negotiated timeout and is dropped when nothing arrives
// for two thirds of it (ZooKeeperClient does both). When a connection drops the
// session reconnects to the next server with the same session id and password,
// sends the highest zxid it has seen (a server behind it refuses the session, so
// a client never reads the past), replays its addAuth credentials and re-arms
// every watch with setWatches (setWatches2 for persistent ones) relative to that
// zxid, so a watch whose node changed meanwhile fires once. All of that is sent
// before any request issued while disconnected.
//
// Read-only: with canBeReadOnly a server cut off from its quorum may take the
// session read-only (ConnectedReadOnly). Meanwhile the client asks the other
// servers `isro`, pausing 100 ms, then twice as long each time up to 60 s (the
// Java client's pingRwServer), and moves to the first that answers "rw".
//
// States are events ('state' with the name, and the name itself): Connected,
// ConnectedReadOnly, Disconnected, then Connected again, or Expired /
// AuthFailed / Closed, which are final for this object.
//
// Requests: a request that was sent when its connection drops fails with
// ConnectionLossError (it may or may not have been applied, as in Java); one
// issued while disconnected waits for the next connection and fails with
// ConnectionLossError if that attempt fails. After the session is final every
// request fails with SessionExpiredError (AuthFailedError after AuthFailed).
// Every method takes an AbortSignal: abort rejects with the signal's reason (a
// request already written may still be applied).
//
// Chroot: "h1:2181,h2:2181/app" roots every path at /app; paths are translated
// both ways (requests, created paths, watch events, ephemerals).

import { EventEmitter } from 'node:events';
import net from 'node:net';
import { Err, OpCode, WatcherType, ZkError } from '../proto/constants.ts';
import type { ACL, Request, Stat } from '../proto/records.ts';
import type { ClientInfo, MultiResult, Response } from '../proto/responses.ts';
import { ZooKeeperClient, formatAddress, parseConnectString, type RawReply, type ServerAddress } from './client.ts';
import { EventStream } from './event-stream.ts';
import { AuthFailedError, ConnectionLossError, SessionExpiredError, ZooKeeperError, errorFor } from './errors.ts';
import { createRequest, toBuffer, type CreateOptions, type Data } from './ops.ts';
import { Transaction, opResult, type OpResult } from './transaction.ts';
import { WatchRegistry, eventTypeName, type WatchEvent, type WatchKind, type Watcher, type WatcherTypeName } from './watches.ts';

export type SessionState = 'Connecting' | 'Connected' | 'ConnectedReadOnly' | 'Disconnected' | 'Expired' | 'AuthFailed' | 'Closed';

export interface ZooKeeperOptions {
  /** requested session timeout in ms (the server clamps it to 2–20 ticks); default 30 000 */
  sessionTimeout?: number;
  /** accept a read-only server (one cut off from its quorum) when no other answers */
  canBeReadOnly?: boolean;
  /** join this existing session (with its password) instead of creating one */
  sessionId?: bigint;
  password?: Buffer;
  /** largest reply accepted, bytes; default 4 MiB */
  maxPacketLength?: number;
  /** connect(): give up if no session is established within this many ms (default: the session timeout) */
  establishTimeout?: number;
  /** connect(): abort establishing */
  signal?: AbortSignal;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface VersionOptions extends CallOptions {
  /** expected version; -1 (default) matches any */
  version?: number;
}

export interface WatchOptions extends CallOptions {
  /** one-shot watcher, armed when the call succeeds */
  watch?: Watcher;
}

export interface RemoveWatchesOptions extends CallOptions {
  /** remove only this watcher (default: every watcher of the type) */
  watcher?: Watcher;
  /** remove on the client even when the server cannot be reached */
  local?: boolean;
}

interface ZooKeeperEvents {
  /** every change of `state`; each state is also an event of its own name */
  state: [SessionState];
  Connected: [];
  ConnectedReadOnly: [];
  Disconnected: [];
  Expired: [];
  AuthFailed: [];
  Closed: [];
  /** a watcher threw; the session carries on */
  watcherError: [unknown, WatchEvent];
}

interface Waiter {
  resolve: (conn: ZooKeeperClient) => void;
  reject: (e: Error) => void;
}

const FINAL: ReadonlySet<SessionState> = new Set(['Expired', 'AuthFailed', 'Closed']);
/** ZooKeeper's client waits up to this long before a reconnect attempt, and this long after every server failed in a row. */
const RECONNECT_PAUSE_MS = 1000;
/** the read-write probe's first and longest pause, and how long one server has to answer (ClientCnxn's values) */
const RW_PROBE_FIRST_MS = 100;
const RW_PROBE_MAX_MS = 60_000;
const RW_PROBE_TIMEOUT_MS = 1000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
/** a pause that does not keep the process alive */
const idle = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/** Whether the server at `address` answers the four-letter word `isro` with "rw" (within RW_PROBE_TIMEOUT_MS). */
function answersReadWrite(address: ServerAddress): Promise<boolean> {
  return new Promise((resolve) => {
    let answer = '';
    const socket = net.connect({ host: address.host, port: address.port });
    const done = (rw: boolean) => {
      socket.destroy();
      resolve(rw);
    };
    socket.setTimeout(RW_PROBE_TIMEOUT_MS, () => done(false));
    socket.on('connect', () => socket.write('isro')); // no half-close: the server closes once it has answered
    socket.on('data', (d) => (answer += d.toString('latin1')));
    socket.on('end', () => done(answer === 'rw'));
    socket.on('error', () => done(false));
  });
}

function shuffled<T>(items: T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** `p`, or the signal's reason once it aborts; `p`'s own outcome is never left unhandled. */
function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => (signal.removeEventListener('abort', onAbort), resolve(v)),
      (e) => (signal.removeEventListener('abort', onAbort), reject(e)),
    );
  });
}

/** ZooKeeper's PathUtils rules: absolute, no empty, "." or ".." segments, no trailing slash (but sequential nodes), no NUL. */
export function validatePath(path: string, sequential = false): void {
  const bad = (why: string) => new TypeError(`Invalid path string ${JSON.stringify(path)} caused by ${why}`);
  if (typeof path !== 'string' || path.length === 0) throw bad('empty path');
  if (path[0] !== '/') throw bad('path must start with / character');
  if (path === '/') return;
  if (path.endsWith('/') && !sequential) throw bad('path must not end with / character');
  if (path.includes('\0')) throw bad('null character not allowed');
  const segments = path.slice(1).split('/');
  if (segments.slice(0, sequential ? -1 : undefined).some((s) => s === '')) throw bad('empty node name specified');
  if (segments.some((s) => s === '.' || s === '..')) throw bad('relative paths not allowed');
}

const versionOf = (o: number | VersionOptions | undefined): number => (typeof o === 'number' ? o : (o?.version ?? -1));
const signalOf = (o: number | CallOptions | undefined): AbortSignal | undefined => (typeof o === 'number' ? undefined : o?.signal);

export class ZooKeeper extends EventEmitter<ZooKeeperEvents> {
  state: SessionState = 'Connecting';
  sessionId: bigint;
  password: Buffer;
  /** negotiated session timeout in ms (0 until the first connection) */
  sessionTimeout = 0;
  /** highest zxid seen in a reply: sent on reconnect so no server behind it takes the session */
  lastZxid = 0;
  /** the server the session is connected to ("host:port"), '' while disconnected */
  server = '';
  /** the chroot every path is under ('' for none) */
  readonly chroot: string;

  private readonly servers: ServerAddress[];
  private cursor = 0;
  private conn: ZooKeeperClient | undefined;
  private waiters: Waiter[] = [];
  private readonly auths: { scheme: string; auth: Buffer }[] = [];
  private readonly watches = new WatchRegistry((e, event) => this.emit('watcherError', e, event));
  /** a read-write server has answered this session: until then a reconnect asks for a new session, as ZooKeeper's client does */
  private seenRwServer = false;

  private constructor(
    connectString: string,
    private readonly options: ZooKeeperOptions,
  ) {
    super();
    const { servers, chroot } = parseConnectString(connectString);
    this.servers = shuffled(servers);
    this.chroot = chroot;
    this.sessionId = options.sessionId ?? 0n;
    this.password = options.password ?? Buffer.alloc(16);
    this.seenRwServer = options.sessionId !== undefined;
  }

  /** Connect to one of the servers of `connectString` ("h1:2181,h2:2181[/chroot]"); resolves once the session is established. */
  static async connect(connectString: string, options: ZooKeeperOptions = {}): Promise<ZooKeeper> {
    const zk = new ZooKeeper(connectString, options);
    const deadline = Date.now() + (options.establishTimeout ?? options.sessionTimeout ?? 30_000);
    const established = new Promise<ZooKeeperClient>((resolve, reject) => zk.waiters.push({ resolve, reject }));
    void zk.run(deadline, options.signal);
    try {
      await abortable(established, options.signal);
    } catch (e) {
      zk.end('Closed');
      throw e;
    }
    return zk;
  }

  get connected(): boolean {
    return this.state === 'Connected' || this.state === 'ConnectedReadOnly';
  }

  // ---- connection loop ----

  /** Connect, serve until the connection drops, reconnect; until the session is final. Before the first session, stop at `deadline`. */
  private async run(deadline: number, signal: AbortSignal | undefined): Promise<void> {
    let failedInRow = 0;
    let attempt = 0;
    while (!FINAL.has(this.state)) {
      if (attempt++ > 0) await sleep(Math.random() * RECONNECT_PAUSE_MS + (failedInRow > 0 && failedInRow % this.servers.length === 0 ? RECONNECT_PAUSE_MS : 0));
      if (FINAL.has(this.state)) return;
      const address = formatAddress(this.servers[this.cursor++ % this.servers.length]!);
      let conn: ZooKeeperClient;
      try {
        conn = await ZooKeeperClient.connect(address, {
          sessionTimeout: this.options.sessionTimeout ?? 30_000,
          sessionId: this.seenRwServer ? this.sessionId : 0n,
          password: this.seenRwServer ? this.password : Buffer.alloc(16),
          lastZxidSeen: this.lastZxid,
          readOnly: this.options.canBeReadOnly ?? false,
          connectTimeout: Math.max(1, Math.floor((this.sessionTimeout || (this.options.sessionTimeout ?? 30_000)) / this.servers.length)),
          readTimeout: 'auto',
          maxPacketLength: this.options.maxPacketLength,
        });
      } catch (e) {
        if (FINAL.has(this.state)) return;
        if (e instanceof ZkError && e.code === Err.sessionExpired) return this.end('Expired');
        failedInRow++;
        if (this.sessionTimeout === 0 && (Date.now() > deadline || signal?.aborted) && failedInRow >= this.servers.length) {
          return this.end('Closed', Object.assign(new ConnectionLossError(undefined), { cause: e }));
        }
        if (this.sessionTimeout > 0) this.failWaiters(new ConnectionLossError(undefined));
        continue;
      }
      if (FINAL.has(this.state)) {
        conn.disconnect();
        return;
      }
      failedInRow = 0;
      const closed = new Promise<void>((resolve) => conn.once('close', () => resolve()));
      if (!conn.connected) continue;
      this.attach(conn);
      await closed;
      this.detach(conn);
    }
  }

  private attach(conn: ZooKeeperClient): void {
    this.conn = conn;
    this.server = `${conn.host}:${conn.port}`;
    this.sessionId = conn.sessionId;
    this.password = conn.password;
    this.sessionTimeout = conn.sessionTimeout;
    if (!conn.readOnly) this.seenRwServer = true;
    conn.on('watch', (ev) => this.watches.deliver({ type: eventTypeName(ev.type), state: 'SyncConnected', path: this.toClient(ev.path) }));
    // Credentials and watches first, then whatever was issued while disconnected.
    for (const { scheme, auth } of this.auths) {
      conn.request({ type: OpCode.auth, authType: 0, scheme, auth }).then((r) => r.err === Err.authFailed && this.end('AuthFailed'), () => undefined);
    }
    for (const req of this.watches.setWatchesRequests(this.lastZxid, (p) => this.toServer(p))) conn.request(req).catch(() => undefined);
    this.setState(conn.readOnly ? 'ConnectedReadOnly' : 'Connected');
    for (const w of this.waiters.splice(0)) w.resolve(conn);
    if (conn.readOnly) void this.probeForReadWrite(conn);
  }

  /** While `conn` serves read-only, ask the other servers in turn whether they are read-write; move to the first that is. */
  private async probeForReadWrite(conn: ZooKeeperClient): Promise<void> {
    for (let pause = RW_PROBE_FIRST_MS; ; pause = Math.min(pause * 2, RW_PROBE_MAX_MS)) {
      await idle(pause);
      if (this.conn !== conn || !conn.connected) return;
      const next = this.cursor % this.servers.length;
      const address = this.servers[next]!;
      if (address.host === conn.host && address.port === conn.port) {
        this.cursor++;
        continue;
      }
      if (!(await answersReadWrite(address))) {
        this.cursor++;
        continue;
      }
      if (this.conn !== conn) return;
      this.cursor = next; // the reconnect goes there first
      conn.disconnect();
      return;
    }
  }

  private detach(conn: ZooKeeperClient): void {
    if (this.conn !== conn) return;
    this.conn = undefined;
    this.server = '';
    if (!FINAL.has(this.state)) this.setState('Disconnected');
  }

  private setState(state: Exclude<SessionState, 'Connecting'>): void {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', state);
    this.emit(state);
  }

  /** Make the session final: the connection goes, waiters and pending requests fail, watchers of an expired session hear it. */
  private end(state: 'Expired' | 'AuthFailed' | 'Closed', reason: Error = this.finalError(state)): void {
    if (FINAL.has(this.state)) return;
    const announce = this.state !== 'Connecting'; // before connect() resolves, its rejection says it all
    this.state = state;
    this.conn?.disconnect();
    this.conn = undefined;
    this.server = '';
    this.failWaiters(reason);
    if (state === 'Expired') this.watches.expire();
    if (announce) {
      this.emit('state', state);
      this.emit(state);
    }
  }

  private finalError(state: SessionState = this.state): Error {
    return state === 'AuthFailed' ? new AuthFailedError(undefined) : new SessionExpiredError(undefined);
  }

  private failWaiters(e: Error): void {
    for (const w of this.waiters.splice(0)) w.reject(e);
  }

  /** The live connection, or the next one. */
  private connection(signal: AbortSignal | undefined): ZooKeeperClient | Promise<ZooKeeperClient> {
    if (this.conn?.connected) return this.conn;
    if (FINAL.has(this.state)) throw this.finalError();
    return abortable(new Promise<ZooKeeperClient>((resolve, reject) => this.waiters.push({ resolve, reject })), signal);
  }

  // ---- requests ----

  /**
   * Send `req` on the session and return its reply, whatever its code; connection errors come back as the typed
   * errors, with `path`. `onReply` runs as the reply is read, before the frames behind it (see armOnReply).
   */
  private async submit(req: Request, path: string | undefined, signal: AbortSignal | undefined, onReply?: (r: RawReply) => void): Promise<RawReply> {
    signal?.throwIfAborted();
    try {
      const conn = await this.connection(signal);
      const reply = await abortable(conn.request(req, onReply), signal);
      if (reply.zxid > this.lastZxid && reply.xid > 0) this.lastZxid = reply.zxid;
      return reply;
    } catch (e) {
      if (e instanceof ZkError && !(e instanceof ZooKeeperError)) throw errorFor(e.code, path);
      if (e instanceof ZooKeeperError && e.path === undefined && path !== undefined) throw errorFor(e.code, path);
      throw e;
    }
  }

  /**
   * What registers `watcher` as `kind` (the kind may depend on the reply) when a reply with one of the codes `armed`
   * is read: at once, before the frames behind it, since the event of a change made just after the reply may come in
   * the same read (ClientCnxn registers it as it finishes the reply's packet). Nothing without a watcher, or once the
   * caller gave up (`signal` aborted).
   */
  private armOnReply(kind: WatchKind | ((r: RawReply) => WatchKind), path: string, watcher: Watcher | undefined, signal: AbortSignal | undefined, armed: number[] = [Err.ok]) {
    if (!watcher) return undefined;
    return (r: RawReply) => {
      if (armed.includes(r.err) && !signal?.aborted) this.watches.add(typeof kind === 'function' ? kind(r) : kind, path, watcher);
    };
  }

  /** submit() that throws the error of a non-zero code and returns the body. */
  private async call(req: Request, path: string | undefined, signal: AbortSignal | undefined, onReply?: (r: RawReply) => void): Promise<Response> {
    const r = await this.submit(req, path, signal, onReply);
    if (r.err !== Err.ok) throw errorFor(r.err, path);
    return r.body;
  }

  private toServer(path: string): string {
    return this.chroot ? (path === '/' ? this.chroot : this.chroot + path) : path;
  }

  private toClient(serverPath: string): string {
    if (!this.chroot) return serverPath;
    if (serverPath === this.chroot) return '/';
    return serverPath.startsWith(this.chroot + '/') ? serverPath.slice(this.chroot.length) : serverPath;
  }

  /** Validate `path` and map it to the server's. */
  private serverPath(path: string, sequential = false): string {
    validatePath(path, sequential);
    return this.toServer(path);
  }

  /** Create a node; resolves to its path (with the sequence suffix of a sequential mode). */
  async create(path: string, data?: Data, options: CreateOptions & CallOptions = {}): Promise<string> {
    const sequential = ((options.mode ?? 0) & 2) === 2;
    const req = createRequest(this.serverPath(path, sequential), data, options, false);
    return this.toClient((await this.call(req, path, options.signal)).path!);
  }

  async delete(path: string, versionOrOptions?: number | VersionOptions): Promise<void> {
    await this.call({ type: OpCode.delete, path: this.serverPath(path), version: versionOf(versionOrOptions) }, path, signalOf(versionOrOptions));
  }

  /** The node's Stat, or null when it does not exist; `watch` fires on its creation, change or deletion. */
  async exists(path: string, options: WatchOptions = {}): Promise<Stat | null> {
    const arm = this.armOnReply((r) => (r.err === Err.noNode ? 'exist' : 'data'), path, options.watch, options.signal, [Err.ok, Err.noNode]);
    const r = await this.submit({ type: OpCode.exists, path: this.serverPath(path), watch: !!options.watch }, path, options.signal, arm);
    if (r.err !== Err.ok && r.err !== Err.noNode) throw errorFor(r.err, path);
    return r.err === Err.noNode ? null : r.body.stat!;
  }

  /** The node's data (empty when it holds none) and Stat; `watch` fires on its change or deletion. */
  async getData(path: string, options: WatchOptions = {}): Promise<{ data: Buffer; stat: Stat }> {
    const body = await this.call({ type: OpCode.getData, path: this.serverPath(path), watch: !!options.watch }, path, options.signal, this.armOnReply('data', path, options.watch, options.signal));
    return { data: body.data ?? Buffer.alloc(0), stat: body.stat! };
  }

  async setData(path: string, data: Data, versionOrOptions?: number | VersionOptions): Promise<Stat> {
    const req: Request = { type: OpCode.setData, path: this.serverPath(path), data: toBuffer(data), version: versionOf(versionOrOptions) };
    return (await this.call(req, path, signalOf(versionOrOptions))).stat!;
  }

  /** The children's names, unsorted as the server keeps them; `watch` fires when children come or go or the node is deleted. */
  async getChildren(path: string, options: WatchOptions = {}): Promise<string[]> {
    return (await this.getChildren2(path, options)).children;
  }

  /** getChildren with the node's Stat. */
  async getChildren2(path: string, options: WatchOptions = {}): Promise<{ children: string[]; stat: Stat }> {
    const body = await this.call({ type: OpCode.getChildren2, path: this.serverPath(path), watch: !!options.watch }, path, options.signal, this.armOnReply('child', path, options.watch, options.signal));
    return { children: body.children!, stat: body.stat! };
  }

  async getACL(path: string, options: CallOptions = {}): Promise<{ acl: ACL[]; stat: Stat }> {
    const body = await this.call({ type: OpCode.getACL, path: this.serverPath(path) }, path, options.signal);
    return { acl: body.acl!, stat: body.stat! };
  }

  async setACL(path: string, acl: ACL[], versionOrOptions?: number | VersionOptions): Promise<Stat> {
    const req: Request = { type: OpCode.setACL, path: this.serverPath(path), acl, version: versionOf(versionOrOptions) };
    return (await this.call(req, path, signalOf(versionOrOptions))).stat!;
  }

  /** Resolves once the server this session is connected to has caught up with the leader (as of the call). */
  async sync(path: string, options: CallOptions = {}): Promise<void> {
    await this.call({ type: OpCode.sync, path: this.serverPath(path) }, path, options.signal);
  }

  /** A transaction builder: `zk.transaction().create('/a').setData('/b', 'x').check('/c', 2).commit()`. */
  transaction(): Transaction {
    return new Transaction((ops, options) => this.multi(ops, options));
  }

  /**
   * Apply `ops` (built with `op.*` or a transaction) atomically. Resolves to one typed result per op; if any op
   * fails, nothing is applied and the error of the failing op is thrown, with `path` and every op's `results`.
   */
  async multi(ops: Request[], options: CallOptions = {}): Promise<OpResult[]> {
    const mapped = ops.map((o) => ('path' in o ? { ...o, path: this.serverPath(o.path, o.type !== OpCode.check && 'flags' in o && (o.flags & 2) === 2) } : o));
    const results = (await this.call({ type: OpCode.multi, ops: mapped }, undefined, options.signal)).results!;
    const failedAt = results.findIndex((r) => r.err !== Err.ok && r.err !== Err.runtimeInconsistency);
    const at = failedAt >= 0 ? failedAt : results.findIndex((r) => r.err !== Err.ok);
    const clientResults: MultiResult[] = results.map((r) => (r.path === undefined ? r : { ...r, path: this.toClient(r.path) }));
    if (at >= 0) {
      const failed = ops[at];
      throw errorFor(results[at]!.err, failed && 'path' in failed ? failed.path : undefined, clientResults);
    }
    return clientResults.map(opResult);
  }

  /**
   * Add credentials to the session (kept and sent again after every reconnect). Resolves when the server accepted
   * them; a rejected credential rejects with AuthFailedError and the session goes AuthFailed (final), as in ZooKeeper.
   */
  async addAuth(scheme: string, auth: Data, options: CallOptions = {}): Promise<void> {
    const entry = { scheme, auth: toBuffer(auth) ?? Buffer.alloc(0) };
    const r = await this.submit({ type: OpCode.auth, authType: 0, ...entry }, undefined, options.signal);
    if (r.err === Err.authFailed) this.end('AuthFailed');
    if (r.err !== Err.ok) throw errorFor(r.err);
    this.auths.push(entry);
  }

  /**
   * A persistent watch on `path` (mode 'persistentRecursive': on every node below it too) calling `watcher` for every
   * event until removeWatches; it survives reconnects. Recursive watches see no NodeChildrenChanged. The server keeps one
   * persistent mode per path for a session (ZooKeeper's WatchManager does), so the later of the two modes on a path wins.
   */
  async addWatch(path: string, watcher: Watcher, mode: 'persistent' | 'persistentRecursive' = 'persistent', options: CallOptions = {}): Promise<void> {
    await this.call({ type: OpCode.addWatch, path: this.serverPath(path), mode: mode === 'persistent' ? 0 : 1 }, path, options.signal, this.armOnReply(mode, path, watcher, options.signal));
  }

  /**
   * The events of a persistent watch on `path` as an async iterator (recursive: on every node below it too). It ends
   * when `return()` is called (a `for await` loop left by break), the watch is removed or the session is closed;
   * it throws the signal's reason on abort and SessionExpiredError when the session expires.
   */
  watch(path: string, options: { recursive?: boolean; signal?: AbortSignal } = {}): AsyncIterableIterator<WatchEvent> {
    const mode = options.recursive ? 'persistentRecursive' : 'persistent';
    const { signal } = options;
    let cleaned = false;
    const cleanUp = async () => {
      if (cleaned) return;
      cleaned = true;
      this.off('Closed', onClosed).off('AuthFailed', onClosed);
      signal?.removeEventListener('abort', onAbort);
      if (this.watches.matching(path, mode, watcher).size > 0) await this.removeWatches(path, mode, { watcher, local: true }).catch(() => undefined);
    };
    const stream = new EventStream<WatchEvent>(cleanUp);
    const watcher: Watcher = (event) => {
      if (event.state === 'Expired') stream.end(new SessionExpiredError(path));
      else if (event.type === 'PersistentWatchRemoved') stream.end();
      else stream.push(event);
    };
    const onClosed = () => stream.end();
    const onAbort = () => stream.end(signal!.reason);
    this.on('Closed', onClosed).on('AuthFailed', onClosed);
    signal?.addEventListener('abort', onAbort, { once: true });
    this.addWatch(path, watcher, mode, { signal }).catch((e: unknown) => stream.end(e));
    return stream;
  }

  /**
   * Remove watches on `path` of `type` ('data' removes getData/exists watches, 'children' getChildren ones, 'persistent'
   * and 'persistentRecursive' addWatch ones, 'any' all): only `options.watcher` if given (the server is asked with
   * checkWatches, since its watch may serve other watchers), else every one (removeWatches). Throws NoWatcherError
   * when there is none. Removed watchers hear DataWatchRemoved / ChildWatchRemoved / PersistentWatchRemoved.
   */
  async removeWatches(path: string, type: WatcherTypeName, options: RemoveWatchesOptions = {}): Promise<void> {
    const serverPath = this.serverPath(path);
    const found = this.watches.matching(path, type, options.watcher);
    if (found.size === 0) throw errorFor(Err.noWatcher, path);
    if (!(options.local && !this.connected)) {
      const request = this.serverRemoval(serverPath, type, options.watcher !== undefined, this.watches.countOnPath(path, found) > 0);
      if (request) await this.call(request, path, options.signal);
    }
    this.watches.remove(path, found);
  }

  /**
   * What to ask the server when removing watches: checkWatches for one watcher (its watch may serve others),
   * removeWatches for all. ZooKeeper 3.8 takes neither for the persistent types (they came in 3.9): a persistent
   * watch goes with type 'any', and only when no other watcher on the path needs the server's watch.
   */
  private serverRemoval(path: string, type: WatcherTypeName, one: boolean, othersRemain: boolean): Request | undefined {
    if (type === 'persistent' || type === 'persistentRecursive') {
      return othersRemain ? undefined : { type: OpCode.removeWatches, path, watcherType: WatcherType.any };
    }
    return { type: one ? OpCode.checkWatches : OpCode.removeWatches, path, watcherType: WatcherType[type] };
  }

  /** The ephemeral nodes this session owns under `prefix` ('/' for all). */
  async getEphemerals(prefix = '/', options: CallOptions = {}): Promise<string[]> {
    const body = await this.call({ type: OpCode.getEphemerals, path: this.serverPath(prefix) }, prefix, options.signal);
    return body.children!.map((p) => this.toClient(p));
  }

  /** Number of nodes below `path` (all descendants). */
  async getAllChildrenNumber(path: string, options: CallOptions = {}): Promise<number> {
    return (await this.call({ type: OpCode.getAllChildrenNumber, path: this.serverPath(path) }, path, options.signal)).count!;
  }

  /** The identities this connection is authenticated as. */
  async whoAmI(options: CallOptions = {}): Promise<ClientInfo[]> {
    return (await this.call({ type: OpCode.whoAmI }, undefined, options.signal)).clientInfo!;
  }

  /** Close the session (its ephemeral nodes go) and the connection; the object is final ('Closed'). Idempotent. */
  async close(options: CallOptions = {}): Promise<void> {
    const conn = this.conn;
    this.conn = undefined; // end() leaves it to send closeSession, after the requests already on it
    this.end('Closed');
    if (conn?.connected) await abortable(conn.close(), options.signal).catch(() => undefined);
    conn?.disconnect();
  }
}

/** connect(connectString, options?): a ZooKeeper session, resolved once established. */
export const connect = (connectString: string, options?: ZooKeeperOptions): Promise<ZooKeeper> => ZooKeeper.connect(connectString, options);

