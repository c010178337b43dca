// Interop scenarios driven through node-zookeeper-client 1.1.3 (pure JS client).
//
//   node --import tsx test/interop/node/interop.ts <via> <direct> <scenario|all>
//
// <via> is a TCP proxy in front of the server that the harness can cut/block on
// request ("CTL cut|block|unblock" on stdout, answered "OK ..." on stdin);
// <direct> is the server itself. One JSON line per scenario on stdout. Every
// check compares a real outcome with the expected one.
//
// Not expressible with node-zookeeper-client 1.1.3's public API (reported as "skip"):
//   persistent_recursive  no addWatch
//   container, ttl        CreateMode only has 0-3 and requests always use opcode create (1)
//
// Client quirks worth knowing (seen in its source and exercised here):
//   - no create2: create() only returns the path, so stats come from exists()
//   - Transaction.check/setData/remove do `version = version || -1`, so version 0
//     silently becomes "any version" inside a multi; the scenarios use non-zero versions
//   - the handshake has no readOnly byte (legacy 44-byte ConnectRequest)
//   - after an expired session the handle first reports SESSION_EXPIRED, then once the
//     server closes the socket every call fails with CONNECTION_LOSS

import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

// ---- minimal typing of the parts of node-zookeeper-client we use ----------

interface ZkStat {
  czxid: Buffer;
  mzxid: Buffer;
  ctime: Buffer;
  mtime: Buffer;
  version: number;
  cversion: number;
  aversion: number;
  ephemeralOwner: Buffer;
  dataLength: number;
  numChildren: number;
  pzxid: Buffer;
}
interface ZkEvent {
  getType(): number;
  getPath(): string;
}
interface ZkError extends Error {
  getCode(): number;
}
interface ZkId {
  scheme: string;
  id: string;
}
interface ZkAcl {
  permission: number;
  id: ZkId;
}
type Cb<T extends unknown[]> = (error: ZkError | null, ...rest: T) => void;
type Watcher = (event: ZkEvent) => void;
interface ZkTransaction {
  create(path: string, data: Buffer, acls: ZkAcl[], mode: number): ZkTransaction;
  setData(path: string, data: Buffer, version: number): ZkTransaction;
  check(path: string, version: number): ZkTransaction;
  remove(path: string, version: number): ZkTransaction;
  commit(cb: Cb<[Array<{ type: number; err?: number; path?: string; stat?: ZkStat }>]>): void;
}
interface ZkClient {
  connect(): void;
  close(): void;
  on(event: string, fn: (...args: unknown[]) => void): void;
  once(event: string, fn: (...args: unknown[]) => void): void;
  getSessionId(): Buffer;
  getSessionPassword(): Buffer;
  addAuthInfo(scheme: string, auth: Buffer): void;
  create(path: string, data: Buffer, acls: ZkAcl[], mode: number, cb: Cb<[string]>): void;
  remove(path: string, version: number, cb: Cb<[]>): void;
  exists(path: string, watcher: Watcher | undefined, cb: Cb<[ZkStat | null]>): void;
  getData(path: string, watcher: Watcher | undefined, cb: Cb<[Buffer | null, ZkStat]>): void;
  setData(path: string, data: Buffer, version: number, cb: Cb<[ZkStat]>): void;
  getChildren(path: string, watcher: Watcher | undefined, cb: Cb<[string[], ZkStat]>): void;
  getACL(path: string, cb: Cb<[ZkAcl[], ZkStat]>): void;
  transaction(): ZkTransaction;
}
interface ZkModule {
  createClient(connectionString: string, options: { sessionTimeout: number; spinDelay: number; retries: number }): ZkClient;
  ACL: (new (perms: number, id: ZkId) => ZkAcl) & { OPEN_ACL_UNSAFE: ZkAcl[]; CREATOR_ALL_ACL: ZkAcl[]; READ_ACL_UNSAFE: ZkAcl[] };
  Id: new (scheme: string, id: string) => ZkId;
  Permission: { ALL: number };
  CreateMode: { PERSISTENT: number; EPHEMERAL: number; PERSISTENT_SEQUENTIAL: number; EPHEMERAL_SEQUENTIAL: number };
}

const require = createRequire(import.meta.url);
const zookeeper = require('node-zookeeper-client') as ZkModule;
const { ACL, Id, CreateMode, Permission } = zookeeper;
const OPEN = ACL.OPEN_ACL_UNSAFE;


const CLIENT = 'node';
const SCENARIOS = [
  'crud', 'sequential', 'ephemeral_close', 'ephemeral_expiry',
  'watch_data', 'watch_exists', 'watch_child', 'watch_delete',
  'persistent_recursive', 'multi_ok', 'multi_fail', 'acl_noauth',
  'digest_auth', 'session_expiry', 'reconnect', 'container', 'ttl',
];
const UNSUPPORTED: Record<string, string> = {
  persistent_recursive: 'node-zookeeper-client 1.1.3 has no addWatch',
  container: 'node-zookeeper-client 1.1.3 only knows CreateMode 0-3 and opcode create',
  ttl: 'node-zookeeper-client 1.1.3 only knows CreateMode 0-3 and opcode create',
};

const WAIT_MS = 10_000;
const EXPIRY_WAIT_MS = 20_000;
const SESSION_MS = 4000;
const SHORT_SESSION_MS = 1000;
const USER = 'interop';
const PASSWORD = 'secret';

// error codes (KeeperException.Code)
const E = {
  CONNECTION_LOSS: -4,
  NO_NODE: -101,
  NO_AUTH: -102,
  BAD_VERSION: -103,
  NO_CHILDREN_FOR_EPHEMERALS: -108,
  NODE_EXISTS: -110,
  NOT_EMPTY: -111,
  SESSION_EXPIRED: -112,
  INVALID_ACL: -114,
} as const;

const EVENT_NAMES: Record<number, string> = {
  1: 'NodeCreated',
  2: 'NodeDeleted',
  3: 'NodeDataChanged',
  4: 'NodeChildrenChanged',
};

class Failure extends Error {}

// ---- stdin lines (control replies) ------------------------------------------

const stdinLines: string[] = [];
const stdinWaiters: Array<(line: string | null) => void> = [];
let stdinClosed = false;
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const w = stdinWaiters.shift();
  if (w) w(line);
  else stdinLines.push(line);
});
rl.on('close', () => {
  stdinClosed = true;
  for (const w of stdinWaiters.splice(0)) w(null);
});
function readLine(): Promise<string | null> {
  const l = stdinLines.shift();
  if (l !== undefined) return Promise.resolve(l);
  if (stdinClosed) return Promise.resolve(null);
  return new Promise((resolve) => stdinWaiters.push(resolve));
}

// ---- helpers ---------------------------------------------------------------

const b = (s: string) => Buffer.from(s, 'utf8');
const s = (d: Buffer | null | undefined) => (d == null ? null : d.toString('utf8'));
const long = (buf: Buffer) => buf.readBigInt64BE(0);
const hex = (v: bigint) => '0x' + BigInt.asUintN(64, v).toString(16);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Failure(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function call<T extends unknown[]>(what: string, fn: (cb: Cb<T>) => void): Promise<T> {
  return withTimeout(
    new Promise<T>((resolve, reject) => {
      fn((err, ...rest) => (err ? reject(err) : resolve(rest)));
    }),
    WAIT_MS,
    what,
  );
}

/** Promise-returning wrapper around a connected client plus its state log. */
class Zk {
  states: string[] = [];
  /** true once close() was called or the session expired: nothing left to wait for */
  finished = false;
  private stateWaiters: Array<() => void> = [];
  constructor(readonly raw: ZkClient) {
    for (const st of ['connected', 'disconnected', 'expired', 'authenticationFailed']) {
      raw.on(st, () => {
        if (st === 'expired') this.finished = true;
        this.states.push(st);
        for (const w of this.stateWaiters.splice(0)) w();
      });
    }
  }
  /** Consume recorded states until `want` shows up. */
  async awaitState(c: Ctx, want: string, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    const seen: string[] = [];
    for (;;) {
      const st = this.states.shift();
      if (st === want) {
        c.checks++;
        return;
      }
      if (st !== undefined) {
        seen.push(st);
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Failure(`${what}: no '${want}' state within ${ms} ms (saw ${seen.join(',')})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.stateWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
  close(): void {
    this.finished = true;
    this.raw.close();
  }
  sessionId(): bigint {
    return long(this.raw.getSessionId());
  }
  create(path: string, data: Buffer, acls: ZkAcl[] = OPEN, mode = CreateMode.PERSISTENT): Promise<string> {
    return call<[string]>(`create ${path}`, (cb) => this.raw.create(path, data, acls, mode, cb)).then(([p]) => p);
  }
  remove(path: string, version = -1): Promise<void> {
    return call<[]>(`remove ${path}`, (cb) => this.raw.remove(path, version, cb)).then(() => undefined);
  }
  exists(path: string, watcher?: Watcher): Promise<ZkStat | null> {
    return call<[ZkStat | null]>(`exists ${path}`, (cb) => this.raw.exists(path, watcher, cb)).then(([st]) => st ?? null);
  }
  getData(path: string, watcher?: Watcher): Promise<[Buffer | null, ZkStat]> {
    return call<[Buffer | null, ZkStat]>(`getData ${path}`, (cb) => this.raw.getData(path, watcher, cb));
  }
  setData(path: string, data: Buffer, version = -1): Promise<ZkStat> {
    return call<[ZkStat]>(`setData ${path}`, (cb) => this.raw.setData(path, data, version, cb)).then(([st]) => st);
  }
  getChildren(path: string, watcher?: Watcher): Promise<[string[], ZkStat]> {
    return call<[string[], ZkStat]>(`getChildren ${path}`, (cb) => this.raw.getChildren(path, watcher, cb));
  }
  getACL(path: string): Promise<[ZkAcl[], ZkStat]> {
    return call<[ZkAcl[], ZkStat]>(`getACL ${path}`, (cb) => this.raw.getACL(path, cb));
  }
  /** Resolves with (error or null, results) — a failed multi still carries per-op results. */
  commit(t: ZkTransaction): Promise<{ error: ZkError | null; results: Array<{ type: number; err?: number; path?: string; stat?: ZkStat }> }> {
    return withTimeout(
      new Promise((resolve) => t.commit((error, results) => resolve({ error, results: results ?? [] }))),
      WAIT_MS,
      'multi',
    );
  }
}

/** One-shot watcher recording "Type path" strings. */
class Events {
  private q: string[] = [];
  private waiters: Array<() => void> = [];
  readonly watch: Watcher = (ev) => {
    this.q.push(`${EVENT_NAMES[ev.getType()] ?? ev.getType()} ${ev.getPath()}`);
    for (const w of this.waiters.splice(0)) w();
  };
  async next(ms: number): Promise<string | null> {
    const deadline = Date.now() + ms;
    for (;;) {
      const e = this.q.shift();
      if (e !== undefined) return e;
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
  async expect(c: Ctx, want: string, ms: number, what: string): Promise<void> {
    const got = await this.next(ms);
    c.check(got === want, `${what}: expected event '${want}', got ${got === null ? `nothing within ${ms} ms` : `'${got}'`}`);
  }
}

class Ctx {
  checks = 0;
  notes: string[] = [];
  open: Zk[] = [];
  blocked = false;
  sentinels = 0;
  readonly base: string;
  constructor(
    readonly via: string,
    readonly direct: string,
    readonly name: string,
  ) {
    this.base = `/interop-${CLIENT}-${name.replace(/_/g, '-')}-${process.pid}-${Date.now() % 1_000_000}`;
  }

  check(ok: boolean, what: string): void {
    if (!ok) throw new Failure(what);
    this.checks++;
  }
  eq<T>(actual: T, expected: T, what: string): void {
    const a = JSON.stringify(actual);
    const e = JSON.stringify(expected);
    this.check(a === e, `${what}: expected ${e}, got ${a}`);
  }
  async expectErr(code: number, what: string, fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      const got = typeof (err as ZkError).getCode === 'function' ? (err as ZkError).getCode() : String(err);
      this.check(got === code, `${what}: expected error ${code}, got ${got}`);
      return;
    }
    throw new Failure(`${what}: expected error ${code} but the call succeeded`);
  }
  async ctl(cmd: string): Promise<void> {
    process.stdout.write(`CTL ${cmd}\n`);
    const reply = await readLine();
    if (reply?.trim() !== `OK ${cmd}`) throw new Failure(`control '${cmd}' refused: ${reply}`);
    if (cmd === 'block') this.blocked = true;
    if (cmd === 'unblock') this.blocked = false;
  }

  async connect(hosts: string, sessionTimeout = SESSION_MS): Promise<Zk> {
    const raw = zookeeper.createClient(hosts, { sessionTimeout, spinDelay: 200, retries: 0 });
    const zk = new Zk(raw);
    this.open.push(zk);
    raw.connect();
    await zk.awaitState(this, 'connected', WAIT_MS, `connect to ${hosts}`);
    return zk;
  }

  async mkBase(zk: Zk): Promise<void> {
    this.eq(await zk.create(this.base, b('base')), this.base, 'create base');
  }
  async create(zk: Zk, path: string, data = ''): Promise<void> {
    this.eq(await zk.create(path, b(data)), path, `create ${path}`);
  }

  /** Arm an exists watch on a fresh sentinel with the same watcher, create it and
   *  return every event delivered before its NodeCreated (server order). */
  async sentinel(zk: Zk, ev: Events): Promise<string[]> {
    const path = `${this.base}/sentinel-${this.sentinels++}`;
    this.check((await zk.exists(path, ev.watch)) === null, `sentinel ${path} absent`);
    await zk.create(path, b(''));
    const extra: string[] = [];
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const e = await ev.next(deadline - Date.now());
      if (e === null) throw new Failure(`sentinel event for ${path} not received; saw ${extra.join(', ')}`);
      if (e === `NodeCreated ${path}`) return extra;
      extra.push(e);
    }
  }
}

function digestId(): string {
  return `${USER}:${createHash('sha1').update(`${USER}:${PASSWORD}`).digest('base64')}`;
}

// ---- scenarios -------------------------------------------------------------

async function crud(c: Ctx): Promise<void> {
  const zk = await c.connect(c.via);
  await c.mkBase(zk);
  const n = `${c.base}/n`;
  c.eq(await zk.create(n, b('v0')), n, 'create returns the path');
  const cs = (await zk.exists(n))!;
  c.check(cs !== null, 'exists after create');
  c.check(
    cs.version === 0 && long(cs.czxid) === long(cs.mzxid) && long(cs.czxid) === long(cs.pzxid) && long(cs.czxid) > 0n,
    `stat after create: version 0, czxid==mzxid==pzxid>0 (${hex(long(cs.czxid))}, ${hex(long(cs.mzxid))}, ${hex(long(cs.pzxid))})`,
  );
  c.check(
    cs.dataLength === 2 && cs.numChildren === 0 && long(cs.ephemeralOwner) === 0n && cs.cversion === 0 && cs.aversion === 0 &&
      long(cs.ctime) === long(cs.mtime) && long(cs.ctime) > 0n,
    `stat fields after create: ${JSON.stringify({ dl: cs.dataLength, nc: cs.numChildren, cv: cs.cversion, av: cs.aversion })}`,
  );
  let [data, gs] = await zk.getData(n);
  c.eq(s(data), 'v0', 'getData after create');
  c.eq(gs.version, 0, 'version after create');
  const ss = await zk.setData(n, b('v1!'), 0);
  c.check(
    ss.version === 1 && long(ss.mzxid) > long(ss.czxid) && long(ss.czxid) === long(cs.czxid) && ss.dataLength === 3 && long(ss.mtime) >= long(ss.ctime),
    `setData stat (version ${ss.version}, dataLength ${ss.dataLength})`,
  );
  await c.expectErr(E.BAD_VERSION, 'setData with stale version', () => zk.setData(n, b('v2'), 0));
  [data, gs] = await zk.getData(n);
  c.eq(s(data), 'v1!', 'getData after setData');
  c.eq(gs.version, 1, 'version after setData');
  await c.expectErr(E.NODE_EXISTS, 'create existing node', () => zk.create(n, b('')));
  await c.expectErr(E.NO_NODE, 'create under a missing parent', () => zk.create(`${c.base}/missing/x`, b('')));
  await c.create(zk, `${n}/c2`);
  await c.create(zk, `${n}/c1`);
  const [kids, ps] = await zk.getChildren(n);
  c.eq([...kids].sort(), ['c1', 'c2'], 'getChildren');
  c.check(ps.numChildren === 2 && ps.cversion === 2 && ps.version === 1, `parent stat after 2 creates (numChildren ${ps.numChildren}, cversion ${ps.cversion})`);
  await c.expectErr(E.NOT_EMPTY, 'delete a node with children', () => zk.remove(n, -1));
  await c.expectErr(E.BAD_VERSION, 'delete with wrong version', () => zk.remove(`${n}/c1`, 5));
  await zk.remove(`${n}/c1`, 0);
  await zk.remove(`${n}/c2`, -1);
  c.eq((await zk.getChildren(n))[0], [], 'no children after deletes');
  const ps2 = (await zk.exists(n))!;
  c.check(ps2.numChildren === 0 && ps2.cversion === 4, `parent stat after 2 deletes (numChildren ${ps2.numChildren}, cversion ${ps2.cversion})`);
  await c.expectErr(E.BAD_VERSION, 'delete with stale version', () => zk.remove(n, 0));
  await zk.remove(n, 1);
  c.check((await zk.exists(n)) === null, 'exists after delete is null');
  await c.expectErr(E.NO_NODE, 'getData of deleted node', () => zk.getData(n));
  await c.expectErr(E.NO_NODE, 'setData of deleted node', () => zk.setData(n, b('x')));
  await c.expectErr(E.NO_NODE, 'getChildren of deleted node', () => zk.getChildren(n));
  await c.expectErr(E.NO_NODE, 'delete of deleted node', () => zk.remove(n));
}

async function sequential(c: Ctx): Promise<void> {
  const zk = await c.connect(c.via);
  await c.mkBase(zk);
  const pre = `${c.base}/s-`;
  const got: string[] = [];
  for (let i = 0; i < 3; i++) got.push(await zk.create(pre, b(String(i)), OPEN, CreateMode.PERSISTENT_SEQUENTIAL));
  got.push(await zk.create(pre, b('e'), OPEN, CreateMode.EPHEMERAL_SEQUENTIAL));
  await c.create(zk, `${c.base}/plain`);
  got.push(await zk.create(pre, b(''), OPEN, CreateMode.PERSISTENT_SEQUENTIAL));
  await zk.remove(got[0]);
  got.push(await zk.create(pre, b(''), OPEN, CreateMode.PERSISTENT_SEQUENTIAL));
  // suffix = parent's cversion before the create: +1 per create (any kind), deletes don't count
  [0, 1, 2, 3, 5, 6].forEach((want, i) => c.eq(got[i], pre + String(want).padStart(10, '0'), `sequential name #${i}`));
  const st = await zk.exists(got[3]);
  c.check(st !== null && long(st.ephemeralOwner) === zk.sessionId(), 'ephemeral sequential owner');
  c.eq(s((await zk.getData(got[1]))[0]), '1', 'data of sequential node');
  c.eq(
    [...(await zk.getChildren(c.base))[0]].sort(),
    ['plain', 's-0000000001', 's-0000000002', 's-0000000003', 's-0000000005', 's-0000000006'],
    'children',
  );
}

async function ephemeralClose(c: Ctx): Promise<void> {
  const a = await c.connect(c.via);
  await c.mkBase(a);
  const e = `${c.base}/e`;
  await a.create(e, b('x'), OPEN, CreateMode.EPHEMERAL);
  await c.expectErr(E.NO_CHILDREN_FOR_EPHEMERALS, 'child of an ephemeral', () => a.create(`${e}/c`, b('')));
  const o = await c.connect(c.direct);
  const ev = new Events();
  const st = await o.exists(e, ev.watch);
  c.check(st !== null && long(st.ephemeralOwner) === a.sessionId(), 'observer sees the ephemeral with the right owner');
  a.close();
  await ev.expect(c, `NodeDeleted ${e}`, WAIT_MS, 'ephemeral deleted on close');
  c.check((await o.exists(e)) === null, 'ephemeral gone after close');
  c.eq((await o.getChildren(c.base))[0], [], 'base empty after close');
}

async function ephemeralExpiry(c: Ctx): Promise<void> {
  const a = await c.connect(c.via, SHORT_SESSION_MS);
  await c.mkBase(a);
  const e = `${c.base}/e`;
  await a.create(e, b('x'), OPEN, CreateMode.EPHEMERAL);
  const o = await c.connect(c.direct);
  const ev = new Events();
  const st = await o.exists(e, ev.watch);
  c.check(st !== null && long(st.ephemeralOwner) === a.sessionId(), 'observer sees the ephemeral with the right owner');
  await c.ctl('block');
  await ev.expect(c, `NodeDeleted ${e}`, EXPIRY_WAIT_MS, 'ephemeral deleted when the session expired');
  c.check((await o.exists(e)) === null, 'ephemeral gone after expiry');
  await c.ctl('unblock');
  await a.awaitState(c, 'expired', EXPIRY_WAIT_MS, 'owner learns of the expiry');
}

async function sessionExpiry(c: Ctx): Promise<void> {
  const a = await c.connect(c.via, SHORT_SESSION_MS);
  const sid = a.sessionId();
  await c.mkBase(a);
  const marker = `${c.base}/alive`;
  await a.create(marker, b(''), OPEN, CreateMode.EPHEMERAL);
  const o = await c.connect(c.direct);
  const ev = new Events();
  c.check((await o.exists(marker, ev.watch)) !== null, 'marker present');
  await c.ctl('block');
  await a.awaitState(c, 'disconnected', WAIT_MS, 'client sees the connection drop');
  await ev.expect(c, `NodeDeleted ${marker}`, EXPIRY_WAIT_MS, 'server expired the session');
  await c.ctl('unblock');
  await a.awaitState(c, 'expired', EXPIRY_WAIT_MS, 'client sees Expired');
  // quirk: SESSION_EXPIRED until the server closes the socket, CONNECTION_LOSS afterwards
  let code: number | string = 'none';
  try {
    await a.exists('/');
  } catch (err) {
    code = (err as ZkError).getCode?.() ?? String(err);
  }
  c.check(code === E.SESSION_EXPIRED || code === E.CONNECTION_LOSS, `request on the expired handle fails (got ${code})`);
  await sleep(300);
  await c.expectErr(E.CONNECTION_LOSS, 'request once the expired handle closed', () => a.exists('/'));
  c.notes.push(`expired session ${hex(sid)}; first error after expiry ${code}`);
}

async function reconnect(c: Ctx): Promise<void> {
  const a = await c.connect(c.via);
  const sid = a.sessionId();
  const pw = a.raw.getSessionPassword().toString('hex');
  await c.mkBase(a);
  const e = `${c.base}/e`;
  const w = `${c.base}/w`;
  await a.create(e, b(''), OPEN, CreateMode.EPHEMERAL);
  await c.create(a, w, 'before');
  const ev = new Events();
  c.eq(s((await a.getData(w, ev.watch))[0]), 'before', 'getData with watch');
  await c.ctl('cut');
  await a.awaitState(c, 'disconnected', WAIT_MS, 'client sees the connection drop');
  await a.awaitState(c, 'connected', WAIT_MS + 5000, 'client reconnects');
  c.eq(hex(a.sessionId()), hex(sid), 'same session id after reconnect');
  c.eq(a.raw.getSessionPassword().toString('hex'), pw, 'same session password after reconnect');
  const st = await a.exists(e);
  c.check(st !== null && long(st.ephemeralOwner) === sid, 'ephemeral survived the reconnect');
  const o = await c.connect(c.direct);
  await o.setData(w, b('after'));
  await ev.expect(c, `NodeDataChanged ${w}`, WAIT_MS, 'watch set before the drop fires after reconnect (setWatches)');
  c.eq(s((await a.getData(w))[0]), 'after', 'read after reconnect');
}

async function watchData(c: Ctx): Promise<void> {
  const zk = await c.connect(c.via);
  await c.mkBase(zk);
  const n = `${c.base}/n`;
  await c.create(zk, n, 'a');
  const o = await c.connect(c.direct);
  const ev = new Events();
  c.eq(s((await zk.getData(n, ev.watch))[0]), 'a', 'getData with watch');
  await o.setData(n, b('b'));
  await ev.expect(c, `NodeDataChanged ${n}`, WAIT_MS, 'data watch');
  await o.setData(n, b('c'));
  const extra = await c.sentinel(zk, ev);
  c.eq(extra, [], 'data watch fired only once');
}

async function watchExists(c: Ctx): Promise<void> {
  const zk = await c.connect(c.via);
  await c.mkBase(zk);
  const n = `${c.base}/n`;
  const o = await c.connect(c.direct);
  const ev = new Events();
  c.check((await zk.exists(n, ev.watch)) === null, 'exists on a missing node');
  await c.create(o, n, 'x');
  await ev.expect(c, `NodeCreated ${n}`, WAIT_MS, 'exists watch');
  await o.setData(n, b('y'));
  await o.remove(n);
  const extra = await c.sentinel(zk, ev);
  c.eq(extra, [], 'exists watch fired only once');
}

async function watchChild(c: Ctx): Promise<void> {
  const zk = await c.connect(c.via);
  await c.mkBase(zk);
  const ws = `${c.base}/ws`;
  await c.create(zk, ws);
  const o = await c.connect(c.direct);
  const ev = new Events();
  c.eq((await zk.getChildren(ws, ev.watch))[0], [], 'no children yet');
  await c.create(o, `${ws}/c1`);
  await ev.expect(c, `NodeChildrenChanged ${ws}`, WAIT_MS, 'child watch');
  await c.create(o, `${ws}/c2`);
  await o.setData(ws, b('d'));
  const extra = await c.sentinel(zk, ev);
  c.eq(extra, [], 'child watch fired only once');
}

async function watchDelete(c: Ctx): Promise<void> {
  const zk = await c.connect(c.via);
  await c.mkBase(zk);
  const ws = `${c.base}/ws`;
  const n = `${ws}/n`;
  await c.create(zk, ws);
  await c.create(zk, n, 'x');
  const o = await c.connect(c.direct);
  const ev = new Events();
  c.eq(s((await zk.getData(n, ev.watch))[0]), 'x', 'getData with watch');
  c.eq((await zk.getChildren(ws, ev.watch))[0], ['n'], 'getChildren with watch');
  await o.remove(n);
  const got: string[] = [];
  for (let i = 0; i < 2; i++) {
    const e = await ev.next(WAIT_MS);
    c.check(e !== null, `event #${i} after delete (got ${got.join(', ')})`);
    got.push(e!);
  }
  c.eq(got.sort(), [`NodeChildrenChanged ${ws}`, `NodeDeleted ${n}`], 'events for delete');
  await c.create(o, n, 'again');
  await o.remove(n);
  const extra = await c.sentinel(zk, ev);
  c.eq(extra, [], 'delete watches fired only once');
}

async function multiOk(c: Ctx): Promise<void> {
  const zk = await c.connect(c.via);
  await c.mkBase(zk);
  const m1 = `${c.base}/m1`;
  const m2 = `${c.base}/m2`;
  await c.create(zk, m1, 'a');
  // quirk: version 0 would be turned into -1 by the client's transaction builder,
  // so bump m1 to version 1 first and use explicit non-zero versions.
  await zk.setData(m1, b('a1'), 0);
  const { error, results } = await zk.commit(
    zk.raw
      .transaction()
      .create(m2, b(''), OPEN, CreateMode.PERSISTENT)
      .setData(m1, b('b'), 1)
      .check(m1, 2)
      .setData(m2, b('m2'), -1)
      .remove(m2, 1),
  );
  c.check(error === null, `multi succeeded (${error})`);
  c.eq(results.length, 5, 'result count');
  c.eq([results[0].type, results[0].path], [1, m2], 'result 0 (create)');
  c.eq([results[1].type, results[1].stat?.version], [5, 2], 'result 1 (setData stat)');
  c.eq(results[2].type, 13, 'result 2 (check)');
  c.eq([results[3].type, results[3].stat?.version], [5, 1], 'result 3 (setData stat)');
  c.eq(results[4].type, 2, 'result 4 (delete)');
  const [data, st] = await zk.getData(m1);
  c.eq(s(data), 'b', 'data after multi');
  c.eq(st.version, 2, 'version after multi');
  c.check((await zk.exists(m2)) === null, 'm2 created and deleted in the same multi');
  // one zxid for the whole multi: m1's mzxid equals the parent's pzxid (last child change = delete of m2)
  const bs = (await zk.exists(c.base))!;
  c.check(long(st.mzxid) === long(bs.pzxid), `one zxid for the whole multi (${hex(long(st.mzxid))} vs ${hex(long(bs.pzxid))})`);
}

async function multiFail(c: Ctx): Promise<void> {
  const zk = await c.connect(c.via);
  await c.mkBase(zk);
  const x = `${c.base}/x`;
  const y = `${c.base}/y`;
  const z = `${c.base}/z`;
  await c.create(zk, x, 'orig');
  let r = await zk.commit(zk.raw.transaction().create(y, b(''), OPEN, CreateMode.PERSISTENT).setData(x, b('new'), 7).remove(x, -1));
  c.eq(r.error?.getCode(), E.BAD_VERSION, 'multi error code');
  c.eq(r.results.map((o) => o.err), [0, -103, -2], 'per-op errors (ok, BadVersion, RuntimeInconsistency)');
  c.check((await zk.exists(y)) === null, 'create in the failed multi was not applied');
  const [data, st] = await zk.getData(x);
  c.eq(s(data), 'orig', 'setData in the failed multi was not applied');
  c.eq(st.version, 0, 'version untouched');
  r = await zk.commit(zk.raw.transaction().create(z, b(''), OPEN, CreateMode.PERSISTENT).create(`${c.base}/nope/child`, b(''), OPEN, CreateMode.PERSISTENT));
  c.eq(r.error?.getCode(), E.NO_NODE, 'multi error code');
  c.eq(r.results.map((o) => o.err), [0, -101], 'per-op errors (ok, NoNode)');
  c.check((await zk.exists(z)) === null, 'first create of the failed multi was not applied');
  r = await zk.commit(zk.raw.transaction().setData(x, b('new'), -1).check(x, 3));
  c.eq(r.error?.getCode(), E.BAD_VERSION, 'multi error code');
  c.eq(r.results.map((o) => o.err), [0, -103], 'per-op errors (ok, BadVersion from check)');
  c.eq(s((await zk.getData(x))[0]), 'orig', 'data unchanged after failed check');
}

async function aclNoAuth(c: Ctx): Promise<void> {
  const zk = await c.connect(c.via);
  await c.mkBase(zk);
  const sec = `${c.base}/secret`;
  const ro = `${c.base}/ro`;
  c.eq(await zk.create(sec, b('hidden'), [new ACL(Permission.ALL, new Id('digest', digestId()))]), sec, 'create with digest ACL');
  c.eq(await zk.create(ro, b('pub'), ACL.READ_ACL_UNSAFE), ro, 'create read-only node');
  await c.expectErr(E.NO_AUTH, 'getData without auth', () => zk.getData(sec));
  await c.expectErr(E.NO_AUTH, 'setData without auth', () => zk.setData(sec, b('x')));
  await c.expectErr(E.NO_AUTH, 'getChildren without auth', () => zk.getChildren(sec));
  await c.expectErr(E.NO_AUTH, 'create child without auth', () => zk.create(`${sec}/c`, b('')));
  c.eq(s((await zk.getData(ro))[0]), 'pub', 'read of a READ-only node');
  await c.expectErr(E.NO_AUTH, 'setData of a READ-only node', () => zk.setData(ro, b('x')));
  await c.expectErr(E.NO_AUTH, 'create under a READ-only node', () => zk.create(`${ro}/c`, b('')));
  const o = await c.connect(c.direct);
  o.raw.addAuthInfo('digest', b(`${USER}:wrong`));
  await c.expectErr(E.NO_AUTH, 'getData with the wrong password', () => o.getData(sec));
}

async function digestAuth(c: Ctx): Promise<void> {
  const a = await c.connect(c.via);
  await c.mkBase(a);
  const mine = `${c.base}/mine`;
  await c.expectErr(E.INVALID_ACL, 'CREATOR_ALL_ACL without auth', () => a.create(mine, b(''), ACL.CREATOR_ALL_ACL));
  a.raw.addAuthInfo('digest', b(`${USER}:${PASSWORD}`));
  c.eq(await a.create(mine, b('mine'), ACL.CREATOR_ALL_ACL), mine, 'create with CREATOR_ALL_ACL after auth');
  const [acl] = await a.getACL(mine);
  c.eq(acl.length, 1, 'ACL entries');
  c.eq(acl[0].permission, Permission.ALL, 'ACL perms');
  c.eq(acl[0].id.scheme, 'digest', 'ACL scheme');
  c.eq(acl[0].id.id, digestId(), 'ACL id is user:base64(sha1(user:password))');
  c.eq(s((await a.getData(mine))[0]), 'mine', 'read with auth');
  c.eq((await a.setData(mine, b('mine2'), 0)).version, 1, 'write with auth');
  const o = await c.connect(c.direct);
  await c.expectErr(E.NO_AUTH, 'other session without auth', () => o.getData(mine));
  o.raw.addAuthInfo('digest', b(`${USER}:wrong`));
  await c.expectErr(E.NO_AUTH, 'other session with the wrong password', () => o.getData(mine));
  o.raw.addAuthInfo('digest', b(`${USER}:${PASSWORD}`));
  c.eq(s((await o.getData(mine))[0]), 'mine2', 'other session after addAuthInfo');
  c.eq((await o.setData(mine, b('o'), 1)).version, 2, 'other session writes after addAuthInfo');
}

const DISPATCH: Record<string, (c: Ctx) => Promise<void>> = {
  crud,
  sequential,
  ephemeral_close: ephemeralClose,
  ephemeral_expiry: ephemeralExpiry,
  watch_data: watchData,
  watch_exists: watchExists,
  watch_child: watchChild,
  watch_delete: watchDelete,
  multi_ok: multiOk,
  multi_fail: multiFail,
  acl_noauth: aclNoAuth,
  digest_auth: digestAuth,
  session_expiry: sessionExpiry,
  reconnect,
};

async function deleteTree(zk: Zk, path: string): Promise<void> {
  try {
    for (const child of (await zk.getChildren(path))[0]) await deleteTree(zk, `${path}/${child}`);
  } catch {
    /* NoNode / NoAuth: try the delete anyway */
  }
  try {
    await zk.remove(path);
  } catch {
    /* best effort */
  }
}

async function closeQuietly(zk: Zk): Promise<void> {
  if (zk.finished) return;
  zk.finished = true;
  await new Promise<void>((resolve) => {
    const t = setTimeout(resolve, 2000);
    zk.raw.once('disconnected', () => {
      clearTimeout(t);
      resolve();
    });
    try {
      zk.raw.close();
    } catch {
      clearTimeout(t);
      resolve();
    }
  });
}

async function runOne(via: string, direct: string, name: string): Promise<void> {
  const c = new Ctx(via, direct, name);
  const t0 = Date.now();
  let status: 'pass' | 'fail' | 'skip' = 'pass';
  let error: string | undefined;
  try {
    if (UNSUPPORTED[name]) {
      status = 'skip';
      error = UNSUPPORTED[name];
    } else {
      const fn = DISPATCH[name];
      if (!fn) throw new Failure(`unknown scenario ${name}`);
      await fn(c);
      if (c.checks === 0) throw new Failure('scenario made no checks');
    }
  } catch (err) {
    status = 'fail';
    if (err instanceof Failure) error = err.message;
    else {
      const e = err as ZkError;
      const where = (e?.stack ?? '').split('\n').find((l) => l.includes('interop.ts'))?.trim();
      error = `${typeof e?.getCode === 'function' ? `ZooKeeper error ${e.getCode()} ` : ''}${String(err)}${where ? ` (${where})` : ''}`;
    }
  }
  if (c.blocked) await c.ctl('unblock').catch(() => undefined);
  for (const zk of c.open) await closeQuietly(zk);
  if (status !== 'skip') {
    try {
      const cleanup = new Ctx(via, direct, name);
      const zk = await cleanup.connect(direct);
      zk.raw.addAuthInfo('digest', b(`${USER}:${PASSWORD}`));
      await deleteTree(zk, c.base);
      await closeQuietly(zk);
    } catch {
      /* best effort */
    }
  }
  const out: Record<string, unknown> = { client: CLIENT, scenario: name, status, checks: c.checks, ms: Date.now() - t0, notes: c.notes };
  if (error !== undefined) out.error = error;
  process.stdout.write(JSON.stringify(out) + '\n');
}

async function main(): Promise<void> {
  const [via, direct, which = 'all'] = process.argv.slice(2);
  if (!via || !direct) {
    process.stderr.write('usage: interop.ts <viaConnect> <directConnect> [scenario[,scenario...]|all]\n');
    process.exit(2);
  }
  const names = which === 'all' ? SCENARIOS : which.split(',');
  for (const name of names) await runOne(via, direct, name);
  rl.close();
  process.exit(0);
}

void main();
