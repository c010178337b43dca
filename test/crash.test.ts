// Crash test: a real Paddock process is killed with SIGKILL at random moments
// while writer sessions pipeline creates, sequential creates, setData on
// counters, deletes and multis, keeping a log of every request sent and of the
// reply (with its zxid) each got. It is restarted on the same data directory
// (state accumulates over all rounds) and checked:
//  1. every acknowledged write is there (creates with their data and czxid =
//     the acknowledged zxid, counters at or past the acknowledged value);
//  2. in order: of each session's requests, exactly a prefix survives (all the
//     acknowledged ones, then perhaps some that were in flight), so a counter
//     holds the last value of that prefix and its version moved by its length;
//     multis are all or nothing;
//  3. nothing appears that was never sent, and nothing comes back that an
//     earlier restart showed gone (lost unacknowledged writes stay lost);
//  4. the server's zxid (srvr) is at least every acknowledged zxid, and no
//     recovered node carries a zxid beyond it; sequence numbers never repeat;
//  5. ephemerals of the killed sessions survive (their sessions can be
//     reattached) until they expire or are closed, and never come back after;
//     after an "idle" kill (everything acknowledged) every node's data and
//     stat are exactly as before; at the end a clean restart changes nothing.
// Special rounds kill while a snapshot is being written (the temporary file is
// still there after the kill) and right after a log roll (a new log.<zxid>
// file appears); recovery must ignore the partial snapshot and the fresh log.
//
// CRASH_SEED=<n> replays a run's choices (what is written, how, when to kill;
// the timing of a real kill can never be replayed exactly); CRASH_ROUNDS=<n>
// sets the number of rounds (default 20, plus retries of the special ones).

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, unlinkSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CreateMode, Err, OpCode, ZooKeeperClient, createRequest, op, type Request, type Stat } from '../src/client/index.ts';
import { listSnapshots } from '../src/persistence/snapshot.ts';
import { readLogFile, purgeTxnLogs } from '../src/persistence/txnlog.ts';
import { fourLetterWord, freePort, ROOT, waitForServing } from './support/servers.ts';
import { Rand } from './support/random.ts';

const SEED = process.env.CRASH_SEED !== undefined ? Number(process.env.CRASH_SEED) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
const ROUNDS = Math.max(8, Number(process.env.CRASH_ROUNDS ?? 20));
const WRITERS = 3;
const COUNTERS = 3;
const TICK = 1000;
const SESSION_TIMEOUT = 8000;
/** attempts at each special kill (a snapshot can finish between seeing its file and the kill landing) */
const SPECIAL_ATTEMPTS = 4;
const HOST = '127.0.0.1';

const say = (s: string): void => void process.stdout.write(`[crash] ${s}\n`);
const hex = (z: number): string => `0x${z.toString(16)}`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- the server process

class Server {
  proc: ChildProcess | null = null;
  out = '';
  private closed: Promise<void> = Promise.resolve();
  /** performance.now() of the last SIGKILL sent */
  killedAt = 0;
  starts = 0;
  private killSent = false;

  constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  get v2(): string {
    return join(this.dir, 'data', 'version-2');
  }

  get connectString(): string {
    return `${HOST}:${this.port}`;
  }

  writeCfg(snapCount: number, preAllocKb: number): void {
    const lines = [
      `tickTime=${TICK}`,
      `dataDir=${join(this.dir, 'data')}`,
      `clientPort=${this.port}`,
      `clientPortAddress=${HOST}`,
      '4lw.commands.whitelist=*',
      'admin.enableServer=false',
      'maxClientCnxns=0',
      `snapCount=${snapCount}`,
      `preAllocSize=${preAllocKb}`,
    ];
    writeFileSync(join(this.dir, 'zoo.cfg'), lines.join('\n') + '\n');
  }

  spawn(): void {
    assert.equal(this.alive(), false, 'a server is already running');
    const proc = spawn(process.execPath, [join(ROOT, 'bin', 'paddock.js'), 'server', join(this.dir, 'zoo.cfg')], {
      cwd: this.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PADDOCK_LOG_FORMAT: 'text' },
    });
    this.proc = proc;
    this.out = '';
    this.killSent = false;
    this.starts++;
    proc.stdout!.on('data', (d) => (this.out += d));
    proc.stderr!.on('data', (d) => (this.out += d));
    this.closed = new Promise((resolve) => proc.once('close', () => resolve()));
  }

  alive(): boolean {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Resolve once serving; reject (with the output) if the process exits first. */
  async serving(timeoutMs = 90_000): Promise<void> {
    const proc = this.proc!;
    let exited = false;
    const dead = this.closed.then(() => {
      exited = true;
    });
    await Promise.race([waitForServing(HOST, this.port, timeoutMs), dead]);
    if (exited) throw new Error(`paddock exited during start-up (code ${proc.exitCode}, signal ${proc.signalCode}):\n${this.out}`);
  }

  /** SIGKILL now (synchronously), if running. */
  killNow(): void {
    if (this.alive() && !this.killSent) {
      this.killSent = true;
      this.killedAt = performance.now();
      this.proc!.kill('SIGKILL');
    }
  }

  async kill9(): Promise<void> {
    this.killNow();
    await this.closed;
  }

  async stop(): Promise<number | null> {
    if (!this.alive()) return this.proc?.exitCode ?? null;
    this.proc!.kill('SIGTERM');
    const t = setTimeout(() => this.proc!.kill('SIGKILL'), 20_000);
    await this.closed;
    clearTimeout(t);
    return this.proc!.exitCode;
  }

  async zxid(): Promise<number> {
    const reply = await fourLetterWord(HOST, this.port, 'srvr');
    const m = /^Zxid: 0x([0-9a-f]+)$/m.exec(reply);
    assert.ok(m, `srvr has no Zxid line:\n${reply}`);
    return parseInt(m[1]!, 16);
  }
}

// ---------------------------------------------------------------- the model

interface NodeRec {
  data: string;
  czxid: number;
  round: number;
}

interface CounterRec {
  data: string;
  version: number;
  mzxid: number;
}

interface SessionRec {
  label: string;
  id: bigint;
  password: Buffer;
  eph: string;
  round: number;
  /** open: the ephemeral must exist while the session can be alive; gone: seen gone (or closed), must stay gone */
  state: 'open' | 'gone';
}

const model = {
  /** dir -> child name -> node, as settled by the last verification */
  dirs: new Map<string, Map<string, NodeRec>>(),
  counters: new Map<string, CounterRec>(),
  /** highest sequence number seen under each writer's dir */
  maxSeq: new Map<string, number>(),
  sessions: [] as SessionRec[],
  maxAcked: 0,
  /** every path a create was ever sent for, and every path seen gone after having been settled */
  sent: new Set<string>(),
  gone: new Set<string>(),
};

// ---------------------------------------------------------------- writers

type Kind = 'create' | 'seq' | 'set' | 'delete' | 'multi' | 'bulk';

interface Op {
  k: number;
  kind: Kind;
  /** create, multi: the node created; delete: the node deleted */
  path?: string;
  data?: string;
  /** set, multi: the counter and the value written */
  key?: string;
  value?: string;
  /** bulk: the nodes one multi creates */
  paths?: string[];
  reply?: { err: number; zxid: number; path?: string; results?: number[] };
  lost?: boolean;
}

interface Writer {
  label: string;
  dir: string;
  counters: string[];
  bulk: boolean;
  client: ZooKeeperClient;
  session: SessionRec | null;
  ops: Op[];
  rand: Rand;
  cap: number;
  depth: number;
  deletable: string[];
}

const BULK_PER_MULTI = 100;

function dataFor(rand: Rand, token: string): string {
  // mostly small; now and then a few KiB, so log entries straddle pages and batches vary in size
  return rand.chance(0.1) ? `${token}:${'x'.repeat(rand.int(1000, 6000))}` : `${token}:${rand.int(0, 1e9).toString(36)}`;
}

function nextOp(w: Writer, round: number, k: number): Op {
  const r = w.rand;
  const token = `${w.label}.r${round}.${k}`;
  if (w.bulk) {
    const paths = Array.from({ length: BULK_PER_MULTI }, (_, j) => `${w.dir}/r${round}-${k}-${j}`);
    return { k, kind: 'bulk', paths, data: `${token}:${'b'.repeat(r.int(200, 600))}` };
  }
  const x = r.next();
  if (x < 0.5) return { k, kind: 'create', path: `${w.dir}/r${round}-${k}`, data: dataFor(r, token) };
  if (x < 0.62) return { k, kind: 'seq', data: dataFor(r, `${token}.seq`) };
  if (x < 0.87) return { k, kind: 'set', key: r.pick(w.counters), value: `${token}=${r.int(0, 1e9).toString(36)}` };
  if (x < 0.94 && w.deletable.length > 0) {
    const i = r.int(0, w.deletable.length - 1);
    const path = w.deletable[i]!;
    w.deletable[i] = w.deletable[w.deletable.length - 1]!;
    w.deletable.pop();
    return { k, kind: 'delete', path };
  }
  return { k, kind: 'multi', path: `${w.dir}/r${round}-${k}`, data: dataFor(r, `${token}.multi`), key: r.pick(w.counters), value: `${token}.multi=${r.int(0, 1e9).toString(36)}` };
}

function requestOf(w: Writer, o: Op): Request {
  switch (o.kind) {
    case 'create':
      return createRequest(o.path!, o.data!, {}, false);
    case 'seq':
      return createRequest(`${w.dir}/s-`, o.data!, { mode: CreateMode.persistentSequential }, false);
    case 'set':
      return op.setData(o.key!, o.value!);
    case 'delete':
      return op.delete(o.path!);
    case 'multi':
      return { type: OpCode.multi, ops: [op.create(o.path!, o.data!), op.setData(o.key!, o.value!)] };
    case 'bulk':
      return { type: OpCode.multi, ops: o.paths!.map((p) => op.create(p, o.data!)) };
  }
}

/** Pipeline up to w.depth requests at a time until w.cap are sent or the connection is gone. */
async function runWriter(w: Writer, round: number, onSent: () => void): Promise<void> {
  const inflight = new Set<Promise<void>>();
  for (let k = w.ops.length; k < w.cap; k++) {
    if (!w.client.connected) break;
    const o = nextOp(w, round, k);
    if (o.path && o.kind !== 'delete') model.sent.add(o.path);
    for (const p of o.paths ?? []) model.sent.add(p);
    w.ops.push(o);
    const p: Promise<void> = w.client.request(requestOf(w, o)).then(
      (r) => {
        o.reply = { err: r.err, zxid: r.zxid, path: r.body.path, results: r.body.results?.map((x) => x.err) };
      },
      () => {
        o.lost = true;
      },
    );
    inflight.add(p);
    void p.then(() => inflight.delete(p));
    onSent();
    if (inflight.size >= w.depth) await Promise.race(inflight);
    if (w.rand.chance(0.03)) await sleep(w.rand.int(1, 30));
  }
  await Promise.all(inflight);
}

// ---------------------------------------------------------------- reading the tree

interface NodeImage {
  data: string | null;
  stat: Stat;
}

/** getData of many paths, pipelined; null for a node that does not exist. */
async function readNodes(c: ZooKeeperClient, paths: string[]): Promise<Map<string, NodeImage | null>> {
  const out = new Map<string, NodeImage | null>();
  for (let i = 0; i < paths.length; i += 2000) {
    const chunk = paths.slice(i, i + 2000);
    const replies = await Promise.all(chunk.map((p) => c.request({ type: OpCode.getData, path: p, watch: false })));
    replies.forEach((r, j) => {
      if (r.err === Err.noNode) out.set(chunk[j]!, null);
      else {
        assert.equal(r.err, Err.ok, `getData ${chunk[j]}: error ${r.err}`);
        out.set(chunk[j]!, { data: r.body.data ? r.body.data.toString('utf8') : null, stat: r.body.stat! });
      }
    });
  }
  return out;
}

const child = (dir: string, name: string): string => (dir === '/' ? `/${name}` : `${dir}/${name}`);

/** Every node (data and stat) below `from`, except the subtrees in `skip`. */
async function dumpTree(c: ZooKeeperClient, skip: string[] = []): Promise<Map<string, NodeImage>> {
  const all = new Map<string, NodeImage>();
  let level = ['/'];
  while (level.length > 0) {
    const images = await readNodes(c, level);
    const next: string[] = [];
    const kids = await Promise.all(level.map((p) => c.getChildren(p)));
    level.forEach((p, i) => {
      const img = images.get(p);
      assert.ok(img, `${p} vanished during the dump`);
      all.set(p, img);
      for (const name of kids[i]!) {
        const cp = child(p, name);
        if (!skip.includes(cp)) next.push(cp);
      }
    });
    level = next;
  }
  return all;
}

function compareDumps(before: Map<string, NodeImage>, after: Map<string, NodeImage>, what: string, failures: string[]): void {
  const max = 20;
  let n = 0;
  const note = (s: string) => {
    if (n++ < max) failures.push(`${what}: ${s}`);
  };
  for (const [p, b] of before) {
    const a = after.get(p);
    if (!a) {
      note(`${p} was there before the kill (czxid ${hex(b.stat.czxid)}) and is missing after the restart`);
      continue;
    }
    if (a.data !== b.data) note(`${p}: data ${JSON.stringify(b.data?.slice(0, 60))} became ${JSON.stringify(a.data?.slice(0, 60))}`);
    for (const f of ['czxid', 'mzxid', 'pzxid', 'ctime', 'mtime', 'version', 'cversion', 'aversion', 'ephemeralOwner', 'dataLength', 'numChildren'] as const) {
      if (a.stat[f] !== b.stat[f]) note(`${p}: stat.${f} was ${b.stat[f]}, after the restart ${a.stat[f]}`);
    }
  }
  for (const p of after.keys()) if (!before.has(p)) note(`${p} appeared after the restart (it was not there before the kill)`);
  if (n > max) failures.push(`${what}: ... and ${n - max} more differences`);
}

// ---------------------------------------------------------------- verification after a restart

interface RoundInfo {
  round: number;
  kind: string;
  writers: Writer[];
  /** performance.now() when the restarted server was serving */
  servingAt: number;
  idleDump: Map<string, NodeImage> | null;
}

interface RoundStats {
  sent: number;
  acked: number;
  /** in flight at the kill, recovered anyway */
  extra: number;
  /** in flight at the kill, gone */
  dropped: number;
}

const describeOp = (o: Op): string => {
  const ack = o.reply ? (o.reply.err === Err.ok ? `acknowledged with zxid ${hex(o.reply.zxid)}` : `answered error ${o.reply.err}`) : 'not acknowledged';
  switch (o.kind) {
    case 'create':
      return `#${o.k} create ${o.path} (${ack})`;
    case 'seq':
      return `#${o.k} sequential create${o.reply?.path ? ` ${o.reply.path}` : ''} data ${o.data!.slice(0, 40)} (${ack})`;
    case 'set':
      return `#${o.k} setData ${o.key} = ${o.value} (${ack})`;
    case 'delete':
      return `#${o.k} delete ${o.path} (${ack})`;
    case 'multi':
      return `#${o.k} multi [create ${o.path}, setData ${o.key} = ${o.value}] (${ack})`;
    case 'bulk':
      return `#${o.k} multi of ${o.paths!.length} creates ${o.paths![0]}.. (${ack})`;
  }
};

async function verify(server: Server, info: RoundInfo, failures: string[]): Promise<RoundStats> {
  const { round } = info;
  const stats: RoundStats = { sent: 0, acked: 0, extra: 0, dropped: 0 };
  const fail = (s: string) => failures.push(s);
  // (4) the recovered zxid, before anything new is written
  const recovered = await server.zxid();
  const c = await ZooKeeperClient.connect(server.connectString, { sessionTimeout: 20_000 });
  try {
    // (5) ephemerals and sessions
    const elapsed = performance.now() - info.servingAt;
    const ephNow = new Set(await c.getChildren('/crash/eph'));
    const bySession = new Map(model.sessions.map((s) => [s.eph.slice('/crash/eph/'.length), s]));
    for (const name of ephNow) {
      const s = bySession.get(name);
      if (!s) fail(`/crash/eph/${name} exists but no session ever created it`);
      else if (s.state === 'gone') fail(`/crash/eph/${name} is back: its session 0x${s.id.toString(16)} was closed or seen expired before`);
    }
    if (ephNow.size > 0) {
      const imgs = await readNodes(c, [...ephNow].map((n) => `/crash/eph/${n}`));
      for (const [p, img] of imgs) {
        const s = bySession.get(p.slice('/crash/eph/'.length));
        if (img && s && img.stat.ephemeralOwner !== s.id) fail(`${p}: ephemeralOwner 0x${img.stat.ephemeralOwner.toString(16)}, created by session 0x${s.id.toString(16)}`);
      }
    }
    for (const s of model.sessions) {
      if (s.state !== 'open') continue;
      const name = s.eph.slice('/crash/eph/'.length);
      if (!ephNow.has(name)) {
        // a session killed with the server gets a full timeout again after the restart
        if (s.round === round && elapsed < SESSION_TIMEOUT - 4000) fail(`${s.eph}, ephemeral of session 0x${s.id.toString(16)} (acknowledged), is missing ${Math.round(elapsed)} ms after the restart`);
        s.state = 'gone';
      }
    }
    // reattach to one killed session and close it: its ephemeral goes, for good
    const mine = model.sessions.filter((s) => s.round === round && s.state === 'open');
    if (mine.length > 0 && performance.now() - info.servingAt < SESSION_TIMEOUT - 4000) {
      const s = mine[0]!;
      try {
        const again = await ZooKeeperClient.connect(server.connectString, { sessionId: s.id, password: s.password, sessionTimeout: SESSION_TIMEOUT });
        if (again.sessionId !== s.id) fail(`reattaching to session 0x${s.id.toString(16)} gave session 0x${again.sessionId.toString(16)}`);
        await again.close();
        if ((await c.exists(s.eph)) !== null) fail(`${s.eph} still exists after its session was closed`);
        s.state = 'gone';
      } catch (e) {
        fail(`session 0x${s.id.toString(16)} (created and acknowledged before the kill) could not be reattached ${Math.round(elapsed)} ms after the restart: ${(e as Error).message}`);
      }
    }

    // exact image after an idle kill (/crash/eph, changed by expiries and the reattach above, aside)
    if (info.idleDump) compareDumps(info.idleDump, await dumpTree(c, ['/crash/eph']), 'after a kill with every write acknowledged', failures);

    // top of the tree: nothing but what the test made
    const crash = new Set(await c.getChildren('/crash'));
    const expectTop = new Set(['c', 'eph', 'bulk', ...Array.from({ length: WRITERS }, (_, i) => `w${i}`)]);
    for (const n of crash) if (!expectTop.has(n)) fail(`/crash/${n} exists but was never created`);
    for (const n of expectTop) if (!crash.has(n)) fail(`/crash/${n} is missing`);
    const rootKids = (await c.getChildren('/')).sort();
    if (rootKids.join(',') !== 'crash,zookeeper') fail(`/ holds ${rootKids.join(',')}`);
    const counterKids = new Set(await c.getChildren('/crash/c'));
    if (counterKids.size !== model.counters.size || [...model.counters.keys()].some((k) => !counterKids.has(k.slice('/crash/c/'.length)))) {
      fail(`/crash/c holds ${[...counterKids].sort().join(',')}, expected ${[...model.counters.keys()].join(',')}`);
    }
    const counterImgs = await readNodes(c, [...model.counters.keys()]);

    // the writers' requests
    const zxidCeiling = (what: string, z: number) => {
      if (z > recovered) fail(`${what} carries zxid ${hex(z)}, beyond the server's zxid ${hex(recovered)} (srvr)`);
    };
    const newCounters = new Map<string, CounterRec>();
    for (const w of info.writers) {
      stats.sent += w.ops.length;
      const settled = model.dirs.get(w.dir)!;
      const actual = new Set(await c.getChildren(w.dir));
      const roundNamed = new Map<string, Op>();
      const deleted = new Set<string>();
      for (const o of w.ops) {
        if (o.kind === 'create' || o.kind === 'multi') roundNamed.set(o.path!.slice(w.dir.length + 1), o);
        for (const p of o.paths ?? []) roundNamed.set(p.slice(w.dir.length + 1), o);
        if (o.kind === 'delete') deleted.add(o.path!.slice(w.dir.length + 1));
      }
      // (3) every child was settled or sent in this round; sequential ones are known by their data
      const seqData = new Map<string, Op>();
      for (const o of w.ops) if (o.kind === 'seq') seqData.set(o.data!, o);
      const unknownSeq: string[] = [];
      for (const name of actual) {
        if (settled.has(name) || roundNamed.has(name)) continue;
        const p = `${w.dir}/${name}`;
        if (name.startsWith('s-')) unknownSeq.push(p);
        else if (model.gone.has(p)) fail(`${p} is back: an earlier restart (or an acknowledged delete) showed it gone`);
        else if (model.sent.has(p)) fail(`${p} exists; it was sent in an earlier round and settled as absent`);
        else fail(`${p} exists but was never sent`);
      }
      const seqImgs = await readNodes(c, unknownSeq);
      const seqFound = new Map<Op, { name: string; img: NodeImage }>();
      for (const [p, img] of seqImgs) {
        if (!img) continue;
        const o = img.data === null ? undefined : seqData.get(img.data);
        if (!o) fail(`${p} exists but was never sent (data ${JSON.stringify(img.data?.slice(0, 40))})`);
        else if (seqFound.has(o)) fail(`${p}: a second node for one sequential create (${describeOp(o)})`);
        else seqFound.set(o, { name: p.slice(w.dir.length + 1), img });
      }
      // (1) settled nodes stay, unless this round deleted them
      for (const [name, rec] of settled) {
        if (!actual.has(name) && !deleted.has(name)) fail(`LOST: ${w.dir}/${name} (settled since round ${rec.round}, czxid ${hex(rec.czxid)}) is missing`);
      }
      // counters: how many of this round's setData calls on each are applied
      const setOps = new Map<string, Op[]>();
      for (const o of w.ops) if (o.key) setOps.set(o.key, [...(setOps.get(o.key) ?? []), o]);
      const appliedSets = new Map<string, number>();
      for (const key of w.counters) {
        const img = counterImgs.get(key);
        const before = model.counters.get(key)!;
        const sent = setOps.get(key) ?? [];
        if (!img) {
          fail(`LOST: counter ${key} is missing`);
          appliedSets.set(key, 0);
          continue;
        }
        const n = img.stat.version - before.version;
        appliedSets.set(key, n);
        if (n < 0 || n > sent.length) {
          fail(`counter ${key}: version ${img.stat.version}, but it was ${before.version} and this round sent ${sent.length} setData calls`);
          continue;
        }
        const want = n === 0 ? before.data : sent[n - 1]!.value!;
        if (img.data !== want) {
          fail(`counter ${key}: version ${img.stat.version} (${n} of this round's ${sent.length} setData calls applied) should hold ${JSON.stringify(want)}, holds ${JSON.stringify(img.data)}`);
        }
        const last = n > 0 ? sent[n - 1]! : null;
        if (last?.reply?.err === Err.ok && img.stat.mzxid !== last.reply.zxid) fail(`counter ${key}: mzxid ${hex(img.stat.mzxid)}, the acknowledged setData had zxid ${hex(last.reply.zxid)}`);
        if (!last && img.stat.mzxid !== before.mzxid) fail(`counter ${key}: no setData of this round applied, yet mzxid moved from ${hex(before.mzxid)} to ${hex(img.stat.mzxid)}`);
        zxidCeiling(`counter ${key}`, img.stat.mzxid);
        newCounters.set(key, { data: img.data ?? '', version: img.stat.version, mzxid: img.stat.mzxid });
      }
      // (2) which requests are applied: exactly a prefix, holding every acknowledged one
      const seenSets = new Map<string, number>();
      const applied: boolean[] = [];
      const createdPaths: string[] = [];
      for (const o of w.ops) {
        let setApplied: boolean | null = null;
        if (o.key) {
          const i = seenSets.get(o.key) ?? 0;
          seenSets.set(o.key, i + 1);
          setApplied = i < appliedSets.get(o.key)!;
        }
        let a: boolean;
        switch (o.kind) {
          case 'create':
            a = actual.has(o.path!.slice(w.dir.length + 1));
            if (a) createdPaths.push(o.path!);
            break;
          case 'seq':
            a = seqFound.has(o);
            break;
          case 'delete':
            a = !actual.has(o.path!.slice(w.dir.length + 1));
            break;
          case 'set':
            a = setApplied!;
            break;
          case 'multi':
            a = actual.has(o.path!.slice(w.dir.length + 1));
            if (a !== setApplied) fail(`${w.label} ${describeOp(o)}: only half applied (create ${a ? 'present' : 'absent'}, setData ${setApplied ? 'applied' : 'not applied'})`);
            if (a) createdPaths.push(o.path!);
            break;
          case 'bulk': {
            const present = o.paths!.filter((p) => actual.has(p.slice(w.dir.length + 1)));
            a = present.length > 0;
            if (a && present.length !== o.paths!.length) fail(`${w.label} ${describeOp(o)}: only ${present.length} of its ${o.paths!.length} creates are present`);
            if (a) createdPaths.push(o.paths![0]!, o.paths![o.paths!.length - 1]!);
            break;
          }
        }
        applied.push(a);
        const acked = o.reply?.err === Err.ok;
        if (o.reply && !acked) fail(`${w.label} ${describeOp(o)}: an error reply the test never expects`);
        if (acked) stats.acked++;
        if (acked && o.reply!.results && o.reply!.results.some((e) => e !== Err.ok)) fail(`${w.label} ${describeOp(o)}: multi results ${o.reply!.results.join(',')}`);
        if (acked && !a) fail(`LOST: ${w.label} ${describeOp(o)} is not there after the restart`);
        if (!acked && a) stats.extra++;
        if (!acked && !a) stats.dropped++;
      }
      const K = applied.indexOf(false) === -1 ? applied.length : applied.indexOf(false);
      for (let i = K + 1; i < applied.length; i++) {
        if (applied[i]) fail(`ORDER: ${w.label} ${describeOp(w.ops[i]!)} is there but its earlier ${describeOp(w.ops[K]!)} is not`);
      }
      const firstUnacked = w.ops.findIndex((o) => o.reply?.err !== Err.ok);
      if (firstUnacked !== -1) {
        for (let i = firstUnacked + 1; i < w.ops.length; i++) {
          if (w.ops[i]!.reply?.err === Err.ok) fail(`${w.label}: ${describeOp(w.ops[i]!)} acknowledged after the unacknowledged ${describeOp(w.ops[firstUnacked]!)}`);
        }
      }
      // (1) data and zxids of what this round created; czxids rise in request order
      const imgs = await readNodes(c, createdPaths);
      let lastZxid = 0;
      let lastOp: Op | null = null;
      let seqMax = model.maxSeq.get(w.dir) ?? -1;
      for (let i = 0; i < K; i++) {
        const o = w.ops[i]!;
        let img: NodeImage | null | undefined;
        if (o.kind === 'seq') {
          const found = seqFound.get(o)!;
          img = found.img;
          const seq = Number(found.name.slice(2));
          if (o.reply?.err === Err.ok && o.reply.path !== `${w.dir}/${found.name}`) fail(`${w.label} ${describeOp(o)}: recovered as ${w.dir}/${found.name}`);
          if (!(seq > seqMax)) fail(`${w.dir}/${found.name}: sequence number ${seq} is not above ${seqMax}, already used under ${w.dir}`);
          seqMax = Math.max(seqMax, seq);
        } else if (o.kind === 'create' || o.kind === 'multi' || o.kind === 'bulk') {
          for (const p of o.kind === 'bulk' ? [o.paths![0]!, o.paths![o.paths!.length - 1]!] : [o.path!]) {
            img = imgs.get(p);
            if (!img) continue;
            if (img.data !== o.data) fail(`${p}: data ${JSON.stringify(img.data?.slice(0, 60))}, sent ${JSON.stringify(o.data!.slice(0, 60))}`);
          }
        } else continue;
        if (!img) continue;
        if (o.kind === 'seq' && img.data !== o.data) fail(`${w.label} ${describeOp(o)}: data differs`);
        if (o.reply?.err === Err.ok && img.stat.czxid !== o.reply.zxid) fail(`${w.label} ${describeOp(o)}: recovered with czxid ${hex(img.stat.czxid)}`);
        if (img.stat.czxid <= lastZxid) fail(`ORDER: ${w.label} ${describeOp(o)} has czxid ${hex(img.stat.czxid)}, not above ${hex(lastZxid)} of the earlier ${describeOp(lastOp!)}`);
        zxidCeiling(describeOp(o), img.stat.czxid);
        lastZxid = img.stat.czxid;
        lastOp = o;
      }
      // settle
      for (let i = 0; i < K; i++) {
        const o = w.ops[i]!;
        if (o.kind === 'delete') {
          settled.delete(o.path!.slice(w.dir.length + 1));
          model.gone.add(o.path!);
        } else if (o.kind === 'seq') {
          const f = seqFound.get(o)!;
          settled.set(f.name, { data: o.data!, czxid: f.img.stat.czxid, round });
        } else if (o.kind === 'create' || o.kind === 'multi') {
          const img = imgs.get(o.path!);
          settled.set(o.path!.slice(w.dir.length + 1), { data: o.data!, czxid: img?.stat.czxid ?? 0, round });
        } else if (o.kind === 'bulk') {
          const czxid = imgs.get(o.paths![0]!)?.stat.czxid ?? 0;
          for (const p of o.paths!) settled.set(p.slice(w.dir.length + 1), { data: o.data!, czxid, round });
        }
      }
      for (let i = K; i < w.ops.length; i++) {
        const o = w.ops[i]!;
        if (o.kind === 'create' || o.kind === 'multi') model.gone.add(o.path!);
        for (const p of o.paths ?? []) model.gone.add(p);
      }
      model.maxSeq.set(w.dir, seqMax);
      for (const o of w.ops) if (o.reply?.err === Err.ok) model.maxAcked = Math.max(model.maxAcked, o.reply.zxid);
    }
    for (const [k, v] of newCounters) model.counters.set(k, v);

    // (1) a sample of older nodes still holds what it held
    const r = new Rand(SEED ^ Math.imul(round + 1, 0x9e3779b1));
    const sample: [string, NodeRec][] = [];
    for (const [dir, nodes] of model.dirs) {
      const entries = [...nodes].filter(([, rec]) => rec.round < round);
      for (let i = 0; i < Math.min(40, entries.length); i++) {
        const [name, rec] = entries[r.int(0, entries.length - 1)]!;
        sample.push([`${dir}/${name}`, rec]);
      }
    }
    const old = await readNodes(
      c,
      sample.map(([p]) => p),
    );
    for (const [p, rec] of sample) {
      const img = old.get(p);
      if (!img) fail(`LOST: ${p} (settled in round ${rec.round}) is missing`);
      else if (img.data !== rec.data || img.stat.czxid !== rec.czxid) fail(`${p}: data/czxid changed since round ${rec.round}`);
    }

    // (4) the server continues from at least every acknowledged zxid
    if (recovered < model.maxAcked) fail(`srvr Zxid ${hex(recovered)} after the restart is below the highest acknowledged zxid ${hex(model.maxAcked)}`);
  } finally {
    await c.close();
  }
  return stats;
}

/** Keep the newest 3 snapshots and the logs they need, as ZooKeeper's zkCleanup would (with the server down). */
function purge(v2: string): void {
  const snaps = listSnapshots(v2);
  if (snaps.length <= 6) return;
  for (const s of snaps.slice(3)) unlinkSync(s.path);
  purgeTxnLogs(v2, snaps[2]!.zxid);
}

const tmpSnapshots = (v2: string): string[] => readdirSync(v2).filter((n) => n.startsWith('tmp.snapshot.'));
const logFiles = (v2: string): string[] => readdirSync(v2).filter((n) => /^log\.[0-9a-f]+$/.test(n));

// ---------------------------------------------------------------- the test

test('crash: kill -9 at random moments; acknowledged writes survive in order, nothing is invented', { timeout: 15 * 60_000 }, async (t) => {
  const t0 = performance.now();
  say(`seed ${SEED} (CRASH_SEED=${SEED} to repeat), ${ROUNDS} rounds`);
  t.diagnostic(`seed ${SEED}`);
  const dir = mkdtempSync(join(tmpdir(), 'paddock-crash-'));
  const server = new Server(dir, await freePort());
  const rand = new Rand(SEED);
  let ok = false;
  let liveClients: ZooKeeperClient[] = [];
  try {
    // ---- set-up: the dirs and counters, settled
    let snapCount = 50;
    server.writeCfg(snapCount, 1024);
    server.spawn();
    await server.serving();
    {
      const c = await ZooKeeperClient.connect(server.connectString);
      await c.create('/crash', 'crash');
      for (const d of ['c', 'eph', 'bulk', ...Array.from({ length: WRITERS }, (_, i) => `w${i}`)]) await c.create(`/crash/${d}`, d);
      for (let i = 0; i < WRITERS; i++) {
        model.dirs.set(`/crash/w${i}`, new Map());
        for (let j = 0; j < COUNTERS; j++) {
          const key = `/crash/c/w${i}-${j}`;
          await c.create(key, 'init');
          const { stat } = await c.getData(key);
          model.counters.set(key, { data: 'init', version: stat.version, mzxid: stat.mzxid });
        }
      }
      model.dirs.set('/crash/bulk', new Map());
      await c.close();
    }

    // the schedule: ordinary rounds with random kills, a bulk load early on (a big tree makes
    // snapshots slow enough to be caught), then the special rounds, each retried until it hits
    const rollAt = Math.floor(ROUNDS / 3);
    const snapAt = Math.floor(ROUNDS / 2);
    const roll2At = Math.floor((2 * ROUNDS) / 3);
    const plan: string[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      if (i === 0) plan.push('idle');
      else if (i === 1) plan.push('mid-burst+bulk');
      else if (i === rollAt) plan.push('log-roll');
      else if (i === snapAt) plan.push('snapshot+bulk');
      else if (i === roll2At) plan.push('log-roll+written');
      else plan.push(rand.pick(['mid-burst', 'mid-burst', 'mid-burst', 'timed', 'timed', 'idle', 'idle', 'early']));
    }
    const special: Record<string, { hits: number; tries: number; notes: string[] }> = {};
    for (const k of ['snapshot', 'log-roll', 'log-roll+written']) special[k] = { hits: 0, tries: 0, notes: [] };
    const totals = { sent: 0, acked: 0, extra: 0, dropped: 0, midSnapshot: 0, tornTails: 0, startupKills: 0 };

    for (let round = 0; round < plan.length; round++) {
      const kind = plan[round]!;
      const rr = rand.fork(round);
      const failures: string[] = [];
      const specialKind = kind.startsWith('log-roll') ? 'log-roll' : kind.startsWith('snapshot') ? 'snapshot' : null;
      // ---- writers: fresh sessions, each with an ephemeral, then the kill clock starts
      const writers: Writer[] = [];
      for (let i = 0; i < WRITERS + (kind.includes('bulk') ? 1 : 0); i++) {
        const bulk = i === WRITERS;
        const label = bulk ? 'bulk' : `w${i}`;
        const wdir = bulk ? '/crash/bulk' : `/crash/w${i}`;
        const client = await ZooKeeperClient.connect(server.connectString, { sessionTimeout: SESSION_TIMEOUT });
        liveClients.push(client);
        let session: SessionRec | null = null;
        if (!bulk) {
          const eph = `/crash/eph/${label}-r${round}`;
          await client.create(eph, label, { mode: CreateMode.ephemeral });
          model.maxAcked = Math.max(model.maxAcked, client.lastZxid);
          session = { label, id: client.sessionId, password: client.password, eph, round, state: 'open' };
          model.sessions.push(session);
        }
        const settled = model.dirs.get(wdir)!;
        const deletable = bulk ? [] : [...settled.keys()].map((n) => `${wdir}/${n}`);
        const wr = rr.fork(100 + i);
        writers.push({
          label,
          dir: wdir,
          counters: bulk ? [] : Array.from({ length: COUNTERS }, (_, j) => `/crash/c/w${i}-${j}`),
          bulk,
          client,
          session,
          ops: [],
          rand: wr,
          cap: bulk ? 40 : wr.int(60, 320),
          depth: bulk ? wr.int(2, 8) : wr.pick([1, 2, 4, 8, 16, 32, 64]),
          deletable,
        });
      }
      const totalCap = writers.reduce((n, w) => n + w.cap, 0);
      let sentTotal = 0;
      let killAtSent = Infinity;
      let watcher: FSWatcher | null = null;
      let poll: NodeJS.Timeout | null = null;
      let evidence: { file: string; seenAt: number } | null = null;
      let idleDump: Map<string, NodeImage> | null = null;
      let note = '';

      if (kind === 'mid-burst' || kind === 'mid-burst+bulk') {
        killAtSent = rr.int(1, Math.max(1, Math.floor(totalCap * 0.9)));
        note = `kill after ${killAtSent} of ${totalCap} requests sent`;
      }
      if (specialKind) {
        // kill as soon as a new log file shows up / a new temporary snapshot has its first bytes
        const before = new Set(readdirSync(server.v2));
        const match = specialKind === 'snapshot' ? (n: string) => n.startsWith('tmp.snapshot.') : (n: string) => /^log\.[0-9a-f]+$/.test(n);
        const check = (name: string | null) => {
          if (evidence || !name || before.has(name) || !match(name)) return;
          if (specialKind === 'snapshot') {
            if (kind.includes('bulk') && writers[WRITERS]!.ops.filter((o) => o.reply).length < 25) return; // let the tree grow first
            let size = 0;
            try {
              size = statSync(join(server.v2, name)).size;
            } catch {
              return; // finished already
            }
            if (size === 0) return; // the poll looks again
          } else if (kind === 'log-roll+written') {
            // this time let the new file get its first bytes (header, perhaps the first batch)
            try {
              if (statSync(join(server.v2, name)).size === 0) return;
            } catch {
              return;
            }
          }
          evidence = { file: name, seenAt: performance.now() };
          server.killNow();
        };
        watcher = watch(server.v2, (_ev, name) => check(name));
        poll = setInterval(() => {
          if (!evidence) for (const n of readdirSync(server.v2)) check(n);
        }, 1);
      }
      const tStart = performance.now();
      const done = Promise.all(
        writers.map((w) =>
          runWriter(w, round, () => {
            if (++sentTotal >= killAtSent) server.killNow();
          }),
        ),
      );
      switch (kind) {
        case 'early':
          await sleep(rr.int(0, 15));
          note = `kill ${Math.round(performance.now() - tStart)} ms after the writers started`;
          break;
        case 'timed':
          await Promise.race([sleep(rr.int(0, 1500)), done]);
          note = `kill ${Math.round(performance.now() - tStart)} ms after the writers started`;
          break;
        case 'idle':
          await done;
          idleDump = await dumpTree(writers[0]!.client, ['/crash/eph']);
          note = `kill with all ${totalCap} requests acknowledged (${idleDump.size} nodes recorded)`;
          break;
        default:
          if (specialKind) {
            // the writers pass the snapshot/roll point many times over; if they are done first, keep going with another batch
            await done;
            for (let extra = 0; !evidence && extra < 10 && server.alive(); extra++) {
              for (const w of writers) w.cap += w.bulk ? 10 : 100;
              await Promise.all(writers.map((w) => runWriter(w, round, () => void sentTotal++)));
            }
          } else await done;
      }
      server.killNow();
      await server.kill9();
      const killedAt = server.killedAt;
      await done.catch(() => undefined);
      for (const c of liveClients) c.disconnect();
      liveClients = [];
      watcher?.close();
      if (poll) clearInterval(poll);
      const deadOut = server.out;
      const tmpLeft = tmpSnapshots(server.v2);
      const midSnapshot = tmpLeft.some((n) => n.includes(`.${server.proc!.pid}.`));
      if (midSnapshot) totals.midSnapshot++;

      // ---- the special rounds: did the kill land where it should?
      if (specialKind === 'snapshot') {
        const sp = special.snapshot!;
        sp.tries++;
        const ev = evidence as { file: string; seenAt: number } | null;
        if (ev) {
          const final = ev.file.split('.').slice(1, 3).join('.'); // snapshot.<zxid>
          const partial = existsSync(join(server.v2, ev.file));
          const size = partial ? statSync(join(server.v2, ev.file)).size : 0;
          const finished = existsSync(join(server.v2, final)) || deadOut.includes(`wrote snapshot ${join(server.v2, final)}  `);
          const lat = (killedAt - ev.seenAt).toFixed(1);
          if (partial && !finished) {
            sp.hits++;
            note = `killed ${lat} ms after seeing data in ${ev.file}; ${size} bytes of it left, ${final} never written`;
          } else note = `missed: ${ev.file} was finished (${partial ? 'tmp still there' : 'renamed'}) before the kill landed (${lat} ms)`;
        } else note = 'missed: no snapshot started';
        sp.notes.push(`round ${round}: ${note}`);
        if (sp.hits === 0 && sp.tries < SPECIAL_ATTEMPTS) plan.splice(round + 1, 0, 'snapshot');
      }
      if (specialKind === 'log-roll') {
        const sp = special[kind]!;
        sp.tries++;
        const ev = evidence as { file: string; seenAt: number } | null;
        if (ev) {
          const path = join(server.v2, ev.file);
          const newest = logFiles(server.v2).sort((a, b) => parseInt(b.slice(4), 16) - parseInt(a.slice(4), 16))[0];
          const lat = killedAt - ev.seenAt;
          const parsed = existsSync(path) ? readLogFile(path) : null;
          const desc = parsed ? `${statSync(path).size} bytes, ${parsed.header ? 'header' : 'no complete header'}, ${parsed.records.length} complete entries, ends ${parsed.end.kind}` : 'gone';
          if (parsed && newest === ev.file && lat < 100) {
            sp.hits++;
            note = `killed ${lat.toFixed(1)} ms after ${ev.file} appeared (the roll's new file: ${desc}; snapshot in progress: ${midSnapshot})`;
          } else note = `missed: ${ev.file} (${desc}), newest ${newest}, kill ${lat.toFixed(1)} ms later`;
        } else note = 'missed: no new log file appeared';
        sp.notes.push(`round ${round}: ${note}`);
        if (sp.hits === 0 && sp.tries < SPECIAL_ATTEMPTS) plan.splice(round + 1, 0, kind);
      }

      purge(server.v2);
      // ---- restart (now and then killed once more while recovering / writing its start-up snapshot)
      // the next round's settings (snapshots and rolls often in the special rounds); preAllocSize 64 MiB, ZooKeeper's default, now and then
      const next = plan[round + 1] ?? '';
      const roundSnapCount = snapCount;
      snapCount = /log-roll|snapshot/.test(next) ? 20 : rr.pick([20, 40, 60, 100, 200]);
      server.writeCfg(snapCount, rr.pick([64, 256, 1024, 1024, 4096, 4096, 65536]));
      let startupKill = '';
      if (!specialKind && rr.chance(0.2)) {
        server.spawn();
        const delay = rr.int(200, 1500);
        await sleep(delay);
        const serving = await fourLetterWord(HOST, server.port, 'srvr', 500).then(
          (s) => s.startsWith('Zookeeper version:'),
          () => false,
        );
        await server.kill9();
        totals.startupKills++;
        startupKill = ` + killed again ${delay} ms into the restart (${serving ? 'already serving' : 'still starting'})`;
      }
      const tRestart = performance.now();
      server.spawn();
      try {
        await server.serving();
      } catch (e) {
        failures.push(`the server did not come back: ${(e as Error).message}`);
      }
      const servingAt = performance.now();
      const out = server.out;
      if (/cut off a torn last record/.test(out)) totals.tornTails++;
      const loaded = /loaded snapshot \S+\/(snapshot\.[0-9a-f]+)/.exec(out)?.[1] ?? 'none';
      const replayed = /replayed (\d+) txns/.exec(out)?.[1] ?? '0';
      if (specialKind === 'snapshot' && tmpLeft.length > 0 && evidence) {
        const ev = evidence as { file: string };
        // The partial file must be removed, never loaded.
        if (new RegExp(`loaded snapshot \\S*${ev.file}`).test(out)) failures.push(`the restart loaded the partial snapshot ${ev.file}:\n${out}`);
        if (!out.includes(`removed ${join(server.v2, ev.file)}`)) failures.push(`the restart did not remove the partial snapshot ${ev.file}:\n${out}`);
      }
      let st: RoundStats = { sent: 0, acked: 0, extra: 0, dropped: 0 };
      if (failures.length === 0) st = await verify(server, { round, kind, writers, servingAt, idleDump }, failures);
      totals.sent += st.sent;
      totals.acked += st.acked;
      totals.extra += st.extra;
      totals.dropped += st.dropped;
      say(
        `round ${round} ${kind} (snapCount ${roundSnapCount}): ${note}${startupKill}; sent ${st.sent}, acked ${st.acked}, in flight but kept ${st.extra}, in flight and lost ${st.dropped}` +
          `${midSnapshot ? '; a snapshot was being written' : ''}; restart ${Math.round(servingAt - tRestart)} ms from ${loaded} + ${replayed} txns` +
          `${/cut off a torn/.test(out) ? ', torn tail cut' : ''}; ${Math.round((performance.now() - t0) / 1000)} s so far`,
      );
      if (failures.length > 0) {
        assert.fail(
          `seed ${SEED}, round ${round} (${kind}; ${note}${startupKill}): ${failures.length} problems after the restart (data dir kept: ${dir}):\n  ` +
            failures.slice(0, 40).join('\n  ') +
            `\n--- server output before the kill (tail):\n${deadOut.split('\n').slice(-15).join('\n')}\n--- after the restart:\n${out.split('\n').slice(0, 15).join('\n')}`,
        );
      }
    }

    // ---- the special rounds really happened
    for (const [k, sp] of Object.entries(special)) {
      say(`${k}: ${sp.notes.join(' | ')}`);
      assert.ok(sp.hits > 0, `seed ${SEED}: no ${k} round killed the server where it should have: ${sp.notes.join('; ')}`);
    }

    // ---- the end: every killed session expires, then a clean restart changes nothing
    const c = await ZooKeeperClient.connect(server.connectString);
    const deadline = performance.now() + SESSION_TIMEOUT + 20_000;
    let eph = await c.getChildren('/crash/eph');
    while (eph.length > 0 && performance.now() < deadline) {
      await sleep(500);
      eph = await c.getChildren('/crash/eph');
    }
    assert.deepEqual(eph, [], `seed ${SEED}: ephemerals of killed sessions never expired`);
    const before = await dumpTree(c);
    await c.close();
    const code = await server.stop();
    assert.equal(code, 0, `clean shutdown exit code:\n${server.out}`);
    server.spawn();
    await server.serving();
    const c2 = await ZooKeeperClient.connect(server.connectString);
    const after = await dumpTree(c2);
    const failures: string[] = [];
    compareDumps(before, after, 'after a clean restart', failures);
    // and the whole model, node by node
    for (const [d, nodes] of model.dirs) {
      const kids = new Set(await c2.getChildren(d));
      if (kids.size !== nodes.size) failures.push(`${d}: ${kids.size} children, the model has ${nodes.size}`);
      for (const [name, rec] of nodes) {
        const img = after.get(`${d}/${name}`);
        if (!img) failures.push(`LOST: ${d}/${name} (settled in round ${rec.round})`);
        else if (img.data !== rec.data || img.stat.czxid !== rec.czxid) failures.push(`${d}/${name}: data/czxid differ from what was settled in round ${rec.round}`);
      }
    }
    for (const [key, rec] of model.counters) {
      const img = after.get(key);
      if (!img || img.data !== rec.data || img.stat.version !== rec.version) failures.push(`counter ${key}: ${JSON.stringify(img?.data)} v${img?.stat.version}, model ${JSON.stringify(rec.data)} v${rec.version}`);
    }
    await c2.close();
    assert.deepEqual(failures, [], `seed ${SEED}, the final clean restart:\n  ${failures.join('\n  ')}`);
    const nodes = after.size;
    await server.stop();
    say(
      `done in ${Math.round((performance.now() - t0) / 1000)} s: ${plan.length} kills + ${totals.startupKills} during restarts; ${totals.sent} requests sent, ${totals.acked} acknowledged, ` +
        `${totals.extra} unacknowledged kept, ${totals.dropped} unacknowledged lost; ${totals.midSnapshot} kills landed mid-snapshot, ${totals.tornTails} torn tails cut; ${nodes} nodes at the end`,
    );
    ok = true;
  } catch (e) {
    if (e instanceof Error && !e.message.includes(`seed ${SEED}`)) e.message = `seed ${SEED}: ${e.message}`;
    throw e;
  } finally {
    for (const c of liveClients) c.disconnect();
    if (server.alive()) await server.kill9();
    if (ok) rmSync(dir, { recursive: true, force: true });
    else say(`data dir kept for inspection: ${dir}`);
  }
});
