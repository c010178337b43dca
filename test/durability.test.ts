// Durability across implementations: a dataDir written by Paddock is served by
// Apache ZooKeeper 3.8 with the same tree, and the other way round, including a
// round trip ZooKeeper → Paddock → ZooKeeper with writes in every stage. "The
// same tree" is every node's data (null and empty kept apart), full Stat and
// ACL, read by a super-authenticated session so nothing is masked; ephemerals
// included, as their session survives the restart. Also: ZooKeeper's own file
// tools (SnapshotFormatter, TxnLogToolkit, LogChopper) read every file
// Paddock wrote without complaint, and `paddock txnlog` / `paddock snapshot`
// print them.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { CREATOR_ALL_ACL, CreateMode, Err, Perm, ZkError, READ_ACL_UNSAFE, ZooKeeperClient, digestACL, digestId, op, type ACL, type Stat } from '../src/client/index.ts';
import { formatTxnLog } from '../src/persistence/txnlog.ts';
import { ROOT, ZK_CLASSPATH, fourLetterWord, startServer, type RunningServer } from './support/servers.ts';
import { scratchRoot, type Dirs } from './support/datadirs.ts';

const run = promisify(execFile);

const SUPER_PASSWORD = 'durable-super';
const SUPER_FLAG = `-Dzookeeper.DigestAuthenticationProvider.superDigest=${digestId('super', SUPER_PASSWORD)}`;
/** sessions long enough that ephemerals outlive a few restarts */
const SESSION_TIMEOUT = 120_000;
/** 2 × tickTime (2000 ms), the least a server grants */
const MIN_SESSION_TIMEOUT = 4000;
const BASE_CFG = { extendedTypesEnabled: 'true', maxSessionTimeout: SESSION_TIMEOUT };

const { root: scratch, freshDir } = scratchRoot('durability');
const servers = new Set<RunningServer>();
const clients = new Set<ZooKeeperClient>();
after(async () => {
  for (const c of clients) c.disconnect();
  for (const s of servers) await s.stop().catch(() => undefined);
  rmSync(scratch, { recursive: true, force: true, maxRetries: 5 });
});

const T0 = Date.now();
/** DURABILITY_TRACE=1: print when each step ends */
const trace = (what: string): void => {
  if (process.env.DURABILITY_TRACE) console.error(`[${((Date.now() - T0) / 1000).toFixed(1)}s] ${what}`);
};



async function start(kind: RunningServer['kind'], dirs: Dirs, snapCount?: number): Promise<RunningServer> {
  const cfg: Record<string, string | number> = { ...BASE_CFG };
  if (dirs.dataLogDir) cfg.dataLogDir = dirs.dataLogDir;
  if (snapCount !== undefined) cfg.snapCount = snapCount;
  const s = await startServer(kind, { dataDir: dirs.dataDir, cfg, jvmFlags: [SUPER_FLAG] });
  servers.add(s);
  return s;
}

async function stop(s: RunningServer, how: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  servers.delete(s);
  if (how === 'SIGKILL') {
    const exited = new Promise((r) => s.proc.once('exit', r));
    s.proc.kill('SIGKILL');
    await exited;
  }
  await s.stop();
}

async function connect(s: RunningServer, opts: Parameters<typeof ZooKeeperClient.connect>[1] = {}): Promise<ZooKeeperClient> {
  const c = await ZooKeeperClient.connect(s.connectString, { sessionTimeout: SESSION_TIMEOUT, ...opts });
  clients.add(c);
  c.once('close', () => clients.delete(c));
  return c;
}

// ---------------------------------------------------------------- the tree

const ALICE = digestACL('alice', 'secret');
const BOB_ADMIN = digestACL('bob', 'hunter2', Perm.admin | Perm.read);
const WORLD_READ: ACL = { perms: Perm.read, id: { scheme: 'world', id: 'anyone' } };
const LOCALHOST_RW: ACL = { perms: Perm.read | Perm.write, id: { scheme: 'ip', id: '127.0.0.1' } };

/** A session that writes and owns ephemerals: alice, so that the auth scheme expands to her. */
async function writer(s: RunningServer): Promise<ZooKeeperClient> {
  const c = await connect(s);
  await c.addAuth('digest', 'alice:secret');
  return c;
}

/**
 * Build a varied subtree /<tag>: every node kind, several ACLs, null/empty/
 * binary/large data, data and ACL version bumps, sequential names, deletes (so
 * cversion and pzxid move), a multi and failed writes (error txns), then
 * `bulk` more writes so snapshots and the log after them both exist.
 */
async function build(c: ZooKeeperClient, tag: string, bulk: number): Promise<void> {
  const t = `/${tag}`;
  await c.create(t, `root of ${tag}`);
  await c.create(`${t}/null`, null);
  await c.create(`${t}/empty`, '');
  await c.create(`${t}/binary`, Buffer.from([0, 1, 2, 0x7f, 0x80, 0xfe, 0xff]));
  await c.create(`${t}/big`, Buffer.alloc(150_000, `${tag}-big `));
  await c.create(`${t}/ünïcødé ✓`, 'a path beyond ASCII');
  await c.create(`${t}/acl-digest`, 'digest', { acl: [ALICE, WORLD_READ] });
  await c.create(`${t}/acl-auth`, 'auth', { acl: CREATOR_ALL_ACL });
  await c.create(`${t}/acl-ip`, 'ip', { acl: [LOCALHOST_RW, BOB_ADMIN] });
  await c.create(`${t}/acl-read`, 'read only', { acl: READ_ACL_UNSAFE });
  await c.setACL(`${t}/acl-digest`, [ALICE, BOB_ADMIN, WORLD_READ], 0);
  await c.setACL(`${t}/acl-digest`, [ALICE, WORLD_READ], 1);
  let st = await c.setData(t, 'v1', 0);
  st = await c.setData(t, 'v2', st.version);
  await c.setData(`${t}/null`, null);
  await c.setData(`${t}/empty`, '');
  // sequential names and deletes
  await c.create(`${t}/seq`, 'seq');
  const seq: string[] = [];
  for (let i = 0; i < 6; i++) seq.push(await c.create(`${t}/seq/p-`, `p${i}`, { mode: CreateMode.persistentSequential }));
  await c.delete(seq[1]!);
  await c.delete(seq[4]!, 0);
  // ephemerals, owned by this session
  await c.create(`${t}/eph`, 'ephemeral', { mode: CreateMode.ephemeral });
  await c.create(`${t}/seq/e-`, null, { mode: CreateMode.ephemeralSequential });
  // containers: one in use, one never used; TTL nodes (long TTLs: nothing expires during the test)
  await c.create(`${t}/box`, null, { mode: CreateMode.container });
  await c.create(`${t}/box/kid`, 'kid');
  await c.create(`${t}/box/gone`, 'gone');
  await c.delete(`${t}/box/gone`);
  await c.create(`${t}/box/eph`, '', { mode: CreateMode.ephemeral });
  await c.create(`${t}/unused-box`, 'never used', { mode: CreateMode.container });
  await c.create(`${t}/ttl`, 'ttl', { mode: CreateMode.persistentWithTTL, ttl: 3_600_000 });
  await c.create(`${t}/ttl-seq-`, 'ttl seq', { mode: CreateMode.persistentSequentialWithTTL, ttl: 7_200_000 });
  // a multi that commits, one that fails (logged as an error txn), a failing single write
  await c.multi([
    op.create(`${t}/m`, 'm1'),
    op.setData(`${t}/m`, 'm2'),
    op.check(t, st.version),
    op.create(`${t}/m/child`, null, { acl: [ALICE] }),
    op.delete(seq[2]!),
  ]);
  await assert.rejects(c.multi([op.create(`${t}/m2`, 'x'), op.delete(`${t}/does-not-exist`)]));
  await assert.rejects(c.create(t, 'again'));
  await assert.rejects(c.setData(t, 'stale', 0));
  // depth
  let deep = `${t}/deep`;
  await c.create(deep, 'd0');
  for (let i = 1; i <= 4; i++) await c.create((deep = `${deep}/l${i}`), `d${i}`);
  // bulk, pipelined in small groups
  await c.create(`${t}/bulk`, null);
  for (let i = 0; i < bulk; i += 10) {
    const group: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(bulk, i + 10); j++) group.push(c.create(`${t}/bulk/n${String(j).padStart(4, '0')}`, `value ${j}`));
    await Promise.all(group);
    if (i % 30 === 0) await c.setData(`${t}/bulk/n${String(i).padStart(4, '0')}`, `changed ${i}`);
    if (i % 50 === 0) await c.delete(`${t}/bulk/n${String(i + 1).padStart(4, '0')}`);
  }
}

/** Writes of a later stage to an earlier stage's nodes. */
async function mutate(c: ZooKeeperClient, tag: string): Promise<void> {
  const t = `/${tag}`;
  await c.setData(t, `${tag} touched later`);
  await c.setData(`${t}/null`, 'no longer null');
  await c.setACL(`${t}/acl-digest`, [WORLD_READ, ALICE, LOCALHOST_RW]);
  for (const name of await c.getChildren(`${t}/seq`)) if (name.startsWith('p-')) await c.delete(`${t}/seq/${name}`);
  await c.create(`${t}/seq/p-`, 'later', { mode: CreateMode.persistentSequential });
  await c.create(`${t}/box/later`, 'later');
  await c.delete(`${t}/deep/l1/l2/l3/l4`);
  await c.multi([op.setData(`${t}/m`, 'm3'), op.delete(`${t}/m/child`), op.create(`${t}/m/child2`, Buffer.alloc(0))]);
}

// ---------------------------------------------------------------- the comparison

interface NodeDump {
  data: string | null;
  stat: Stat;
  acl: ACL[];
  children: string[];
}

/**
 * Every node: data (base64, or null), Stat, ACL, children, read as super; by
 * a session of its own, or by `via` (which then gains super's identity).
 */
async function dumpTree(s: RunningServer, via?: ZooKeeperClient): Promise<Map<string, NodeDump>> {
  const c = via ?? (await connect(s, { sessionTimeout: 30_000 }));
  try {
    await c.addAuth('digest', `super:${SUPER_PASSWORD}`);
    const out = new Map<string, NodeDump>();
    let level = ['/'];
    while (level.length > 0) {
      const nodes = await Promise.all(
        level.map(async (path) => {
          const [d, a, children] = await Promise.all([c.getData(path), c.getACL(path), c.getChildren(path)]);
          assert.deepEqual(a.stat, d.stat, `${s.kind}: getACL and getData disagree on the Stat of ${path}`);
          return { path, node: { data: d.data === null ? null : d.data.toString('base64'), stat: d.stat, acl: a.acl, children: [...children].sort() } };
        }),
      );
      level = [];
      for (const { path, node } of nodes) {
        out.set(path, node);
        for (const child of node.children) level.push(path === '/' ? `/${child}` : `${path}/${child}`);
      }
    }
    return new Map([...out].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
  } finally {
    if (!via) await c.close();
  }
}

function assertSameTree(actual: Map<string, NodeDump>, expected: Map<string, NodeDump>, what: string): void {
  const a = [...actual.keys()];
  const e = [...expected.keys()];
  assert.deepEqual(
    a.filter((p) => !expected.has(p)),
    [],
    `${what}: nodes that should not be there`,
  );
  assert.deepEqual(
    e.filter((p) => !actual.has(p)),
    [],
    `${what}: nodes missing`,
  );
  for (const [path, node] of expected) assert.deepEqual(actual.get(path), node, `${what}: node ${path} differs`);
}

const paths = (tree: Map<string, NodeDump>, pred: (n: NodeDump) => boolean): string[] => [...tree].filter(([, n]) => pred(n)).map(([p]) => p);
const isEphemeral = (n: NodeDump): boolean => n.stat.ephemeralOwner !== 0n;

/** The tree holds what build() made (a guard against comparing two empty trees). */
function assertBuilt(tree: Map<string, NodeDump>, tag: string, bulk: number): void {
  const t = `/${tag}`;
  const get = (p: string): NodeDump => {
    const n = tree.get(p);
    assert.ok(n, `${p} is in the tree`);
    return n;
  };
  assert.equal(get(`${t}/null`).data, null);
  assert.equal(get(`${t}/empty`).data, '');
  assert.equal(get(t).stat.version, 2);
  assert.equal(get(`${t}/acl-digest`).stat.aversion, 2);
  assert.deepEqual(get(`${t}/acl-auth`).acl, [ALICE]);
  assert.equal(get(`${t}/seq`).stat.cversion, 10); // 6 + 1 sequential creates, 3 deletes
  // containers and TTL nodes show ephemeralOwner 0 to clients (the kind is kept on disk)
  assert.equal(get(`${t}/box`).stat.ephemeralOwner, 0n);
  assert.equal(get(`${t}/ttl`).stat.ephemeralOwner, 0n);
  assert.ok(isEphemeral(get(`${t}/eph`)));
  assert.ok(get(`${t}/bulk`).children.length >= bulk - Math.ceil(bulk / 50));
}

// ---------------------------------------------------------------- files and tools

function filesIn(dirs: Dirs): { snapshots: string[]; logs: string[] } {
  const list = (d: string) => {
    try {
      return readdirSync(join(d, 'version-2')).map((n) => join(d, 'version-2', n));
    } catch {
      return [];
    }
  };
  const all = [...new Set([...list(dirs.dataDir), ...(dirs.dataLogDir ? list(dirs.dataLogDir) : [])])];
  return {
    snapshots: all.filter((f) => /\/snapshot\.[0-9a-f]+$/.test(f)).sort(),
    logs: all.filter((f) => /\/log\.[0-9a-f]+$/.test(f)).sort(),
  };
}

const zxidOf = (file: string): number => Number.parseInt(file.slice(file.lastIndexOf('.') + 1), 16);

/** At most two tool processes at a time (each JVM, or tsx, wants a core to start). */
let running = 0;
const queue: (() => void)[] = [];
async function limited<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= 2) await new Promise<void>((r) => queue.push(r));
  running++;
  try {
    return await fn();
  } finally {
    running--;
    queue.shift()?.();
  }
}

async function java(mainClass: string, args: string[], okExit = [0]): Promise<{ stdout: string; stderr: string }> {
  return limited(async () => {
    const t = Date.now();
    const jvm = ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', '-cp', ZK_CLASSPATH];
    try {
      return await run('java', [...jvm, mainClass, ...args], { timeout: 60_000, maxBuffer: 64 << 20 });
    } catch (e) {
      const err = e as Error & { stdout?: string; stderr?: string; code?: number };
      if (typeof err.code === 'number' && okExit.includes(err.code)) return { stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
      assert.fail(`${mainClass} ${args.join(' ')} failed (exit ${err.code}): ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`);
    } finally {
      trace(`${mainClass.slice(mainClass.lastIndexOf('.') + 1)} ${args.at(-1)} took ${Date.now() - t} ms`);
    }
  });
}

/** Whether buf[from..] is all zeros (compared a MiB at a time). */
function zerosFrom(buf: Buffer, from: number): boolean {
  const zeros = Buffer.alloc(1 << 20);
  for (let at = from; at < buf.length; at += zeros.length) {
    const end = Math.min(buf.length, at + zeros.length);
    if (buf.compare(zeros, 0, end - at, at, end) !== 0) return false;
  }
  return true;
}

async function paddockCli(args: string[]): Promise<string> {
  return limited(async () => (await run(process.execPath, [join(ROOT, 'bin', 'paddock.js'), ...args], { timeout: 60_000, maxBuffer: 64 << 20 })).stdout);
}

const EXCEPTION = /Exception|CRC ERROR|corrupt|partial/i;

/**
 * ZooKeeper's tools on every file Paddock wrote: each exits 0, prints no
 * exception, and names nodes of /<tag> (snapshots) or txns on them (logs).
 * Snapshots: SnapshotFormatter (it checks the seal) as text, and the newest
 * also as -json. Logs:
 * TxnLogToolkit -d (it checks every CRC), and LogChopper, which copies the
 * entries up to a zxid after checking their CRCs and that zxids have no gaps:
 * "chopped" at the last zxid, its copy must be our file's bytes up to the
 * preallocated zeros.
 * (3.8.0 has no LogFormatter any more: TxnLogToolkit replaced it.)
 */
async function zooKeeperToolsRead(files: { snapshots: string[]; logs: string[] }, tag: string, snapshotsHoldTag = true): Promise<void> {
  assert.ok(files.snapshots.length + files.logs.length > 0, 'files to read');
  const jobs: Promise<void>[] = [];
  let namedInSnapshots = 0;
  let namedInLogs = 0;
  for (const snap of files.snapshots) {
    jobs.push(
      (async () => {
        const { stdout: text, stderr } = await java('org.apache.zookeeper.server.SnapshotFormatter', [snap]);
        assert.doesNotMatch(text + stderr, EXCEPTION, `SnapshotFormatter ${snap}:\n${text}${stderr}`);
        assert.match(text, /^ZNode Details \(count=\d+\):/m, `SnapshotFormatter ${snap}`);
        assert.match(text, /^Session Details \(sid, timeout, ephemeralCount\):/m, `SnapshotFormatter ${snap}`);
        assert.match(text, /^Last zxid: 0x[0-9a-f]+$/m, `SnapshotFormatter ${snap}`);
        if (text.includes(`\n/${tag}/acl-digest\n`)) namedInSnapshots++;
        if (snap !== newest(files.snapshots)) return;
        const json = await java('org.apache.zookeeper.server.SnapshotFormatter', ['-json', snap]);
        assert.doesNotMatch(json.stdout + json.stderr, EXCEPTION, `SnapshotFormatter -json ${snap}`);
        const names = JSON.stringify(JSON.parse(json.stdout));
        assert.ok(names.includes('"name":"zookeeper"'), `SnapshotFormatter -json ${snap} lists /zookeeper`);
        if (text.includes(`\n/${tag}/acl-digest\n`)) assert.ok(names.includes('"name":"acl-digest"'), `SnapshotFormatter -json ${snap} lists acl-digest`);
      })(),
    );
  }
  for (const log of files.logs) {
    jobs.push(
      (async () => {
        const { stdout: text, stderr } = await java('org.apache.zookeeper.server.persistence.TxnLogToolkit', ['-d', log]);
        assert.doesNotMatch(text + stderr, EXCEPTION, `TxnLogToolkit ${log}:\n${text}${stderr}`);
        assert.match(text, /^ZooKeeper Transactional Log File with dbid 0 txnlog format version 2$/m, `TxnLogToolkit ${log}`);
        const count = /^EOF reached after (\d+) txns\.$/m.exec(text);
        assert.ok(count && Number(count[1]) > 0, `TxnLogToolkit ${log} reads to the end:\n${text}`);
        if (text.includes(` /${tag}/`) || text.includes(`'/${tag}/`)) namedInLogs++;
        const zxids = [...text.matchAll(/ zxid 0x([0-9a-f]+) /g)].map((m) => Number.parseInt(m[1]!, 16));
        assert.equal(zxids.length, Number(count![1]), `one line per txn from TxnLogToolkit ${log}`);
        const chopped = `${log}.chopped-${process.pid}`;
        try {
          // exit 2 = nothing chopped: it read every entry up to EOF (checking CRCs and zxid gaps) and copied them all
          const chop = await java('org.apache.zookeeper.server.util.LogChopper', [String(Math.max(...zxids)), log, chopped], [2]);
          assert.doesNotMatch(chop.stdout + chop.stderr, /exception|CRC/i, `LogChopper ${log}`);
          assert.match(chop.stdout, new RegExp(`^EOF reached after ${count![1]} txns\\.$`, 'm'), `LogChopper ${log}:\n${chop.stdout}`);
          const copy = readFileSync(chopped);
          const ours = readFileSync(log);
          assert.ok(copy.length > 16 && copy.equals(ours.subarray(0, copy.length)), `LogChopper's copy of ${log} is our file's prefix`);
          assert.ok(zerosFrom(ours, copy.length), `only preallocated zeros follow the entries in ${log}`);
        } finally {
          rmSync(chopped, { force: true });
        }
      })(),
    );
  }
  await Promise.all(jobs);
  if (files.snapshots.length > 0 && snapshotsHoldTag) assert.ok(namedInSnapshots > 0, `some snapshot SnapshotFormatter read shows /${tag}/acl-digest`);
  if (files.logs.length > 0) assert.ok(namedInLogs > 0, `some log TxnLogToolkit read shows txns on /${tag}`);
}

const newest = (snapshots: string[]): string => [...snapshots].sort((x, y) => zxidOf(y) - zxidOf(x))[0]!;

/** `paddock txnlog` and `paddock snapshot` (text and --json) show the txns and nodes of build(…, 'pz'). */
async function paddockDumpsShow(files: { snapshots: string[]; logs: string[] }, a: StageResult): Promise<void> {
  // the file holding the multi, found in-process; then the command prints it
  const multiLog = files.logs.find((f) => / multi create:\/pz\/m,/.test(formatTxnLog(f, false)))!;
  assert.ok(multiLog, 'a log file holds the multi');
  const newestSnap = newest(files.snapshots);
  const [jsonLog, firstLog, textLog, jsonSnap, textSnap] = await Promise.all([
    paddockCli(['txnlog', multiLog, '--json']),
    paddockCli(['txnlog', files.logs[0]!]),
    paddockCli(['txnlog', multiLog]),
    paddockCli(['snapshot', newestSnap, '--json']),
    paddockCli(['snapshot', newestSnap]),
  ]);
  const txns = jsonLog.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(txns[0].fileHeader.magic, '0x5a4b4c47');
  assert.equal(txns.at(-1).end, 'eof');
  const multi = txns.find((t) => t.type === 'multi' && t.txns.length === 5);
  assert.deepEqual(
    multi?.txns.map((t: { type: string; path?: string; data?: string | null }) => [t.type, t.path, t.data]),
    [
      ['create', '/pz/m', 'm1'],
      ['setData', '/pz/m', 'm2'],
      ['check', '/pz', undefined],
      ['create', '/pz/m/child', null],
      ['delete', '/pz/seq/p-0000000002', undefined],
    ],
  );
  assert.match(firstLog, /^ZooKeeper Transactional Log File with dbid 0 txnlog format version 2$/m);
  assert.match(firstLog, / createSession 120000$/m);
  assert.match(firstLog, / create \/pz,root of pz,\[31,world:anyone\],false,\d+$/m);
  assert.match(firstLog, / setACL \/pz\/acl-digest,\[31,digest:alice:\S+, 17,digest:bob:\S+, 1,world:anyone\],1$/m);
  assert.match(firstLog, /^EOF reached after \d+ txns\.$/m);
  assert.match(textLog, / multi create:\/pz\/m,m1,.*;setData:\/pz\/m,m2,1;check:\/pz,3;create:\/pz\/m\/child,.*;delete:\/pz\/seq\/p-0000000002$/m);
  // the failed multi as ZooKeeper logs it: the ops before the failure, then the error (maybe in the next file)
  assert.match(files.logs.map((f) => formatTxnLog(f, false)).join(''), / multi create:\/pz\/m2,x,.*;error:-101$/m);
  const snap = JSON.parse(jsonSnap);
  const byPath = new Map<string, { dataNull: boolean; acl: unknown; kind: string; ttl?: number }>(snap.nodes.map((n: { path: string }) => [n.path, n]));
  assert.equal(byPath.get('/pz/null')?.dataNull, true);
  assert.equal(byPath.get('/pz/empty')?.dataNull, false);
  assert.equal(byPath.get('/pz/box')?.kind, 'container');
  assert.equal(byPath.get('/pz/ttl')?.ttl, 3_600_000);
  assert.deepEqual(byPath.get('/pz/acl-auth')?.acl, [{ perms: 31, scheme: 'digest', id: ALICE.id.id }]);
  assert.ok(snap.sessions.some((x: { id: string }) => BigInt(x.id) === a.session.sessionId), 'the writer session is in the snapshot');
  assert.match(textSnap, /^\/pz\/acl-digest$/m);
}

/** A snapshot newer than the initial one, and log txns on /<tag> after the newest snapshot. */
function assertSnapshotAndLogAfter(files: { snapshots: string[] }, tree: Map<string, NodeDump>): void {
  const newest = Math.max(...files.snapshots.map(zxidOf));
  assert.ok(files.snapshots.length >= 2 && newest > 0, `snapshots beyond the initial one: ${files.snapshots.join(', ')}`);
  const lastWrite = Math.max(...[...tree.values()].map((n) => Math.max(n.stat.mzxid, n.stat.pzxid)));
  assert.ok(lastWrite > newest, `node txns after the newest snapshot (0x${newest.toString(16)}; last write 0x${lastWrite.toString(16)})`);
}

/**
 * The ephemerals' session is alive on the new server: it can be resumed with
 * its id and password, and owns the same ephemerals. Left open (disconnected,
 * not closed) so the tree stays as it is.
 */
async function assertSessionResumes(s: RunningServer, w: { sessionId: bigint; password: Buffer }, ephemerals: string[]): Promise<void> {
  const c = await connect(s, { sessionId: w.sessionId, password: w.password });
  assert.equal(c.sessionId, w.sessionId);
  assert.deepEqual((await c.getEphemerals('/')).sort(), [...ephemerals].sort());
  c.disconnect();
}

/**
 * ZooKeeper checks the tree digest a snapshot records, and those of logged
 * txns, against the tree it rebuilds: on a mismatch it counts one in mntr.
 */
async function assertNoDigestMismatch(s: RunningServer): Promise<void> {
  if (s.kind !== 'zookeeper') return;
  const mntr = await fourLetterWord(s.host, s.port, 'mntr');
  assert.match(mntr, /^zk_digest_mismatches_count\t0$/m, `ZooKeeper found no digest mismatch:\n${mntr}`);
}

interface StageResult {
  tree: Map<string, NodeDump>;
  session: { sessionId: bigint; password: Buffer };
  ephemerals: string[];
}

/**
 * On a running server: writes (build or mutate), then the tree, the writer
 * session and its ephemerals. The tree is read by the writer session itself,
 * so the writes are the last txns in the log. With `pad`, more writes follow
 * until the newest snapshot is older than the last write (the last write may
 * have triggered one), so that recovery has log txns to replay.
 */
async function writeStage(s: RunningServer, work: (c: ZooKeeperClient) => Promise<void>, pad?: { dirs: Dirs; tag: string }): Promise<StageResult> {
  const w = await writer(s);
  await work(w);
  if (pad) {
    for (let i = 0; ; i++) {
      await new Promise((r) => setTimeout(r, 300)); // a snapshot is written in the background
      if (Math.max(...filesIn(pad.dirs).snapshots.map(zxidOf)) < w.lastZxid) break;
      assert.ok(i < 20, 'writes keep landing at the newest snapshot');
      if (i === 0) await w.create(`/${pad.tag}/pad`, 'pad');
      else await w.setData(`/${pad.tag}/pad`, `pad ${i}`);
    }
  }
  const ephemerals = await w.getEphemerals('/');
  const session = { sessionId: w.sessionId, password: Buffer.from(w.password) };
  const tree = await dumpTree(s, w);
  w.disconnect();
  return { tree, session, ephemerals };
}

/** A on a fresh dataDir writes, stops (how); B starts on the same dirs and must serve the same tree. */
async function handOver(opts: {
  from: RunningServer['kind'];
  to: RunningServer['kind'];
  dirs: Dirs;
  snapCount?: number;
  stopWith: 'SIGTERM' | 'SIGKILL';
  tag: string;
  bulk: number;
  /** between A stopping and B starting (the files are A's alone) */
  inspect?: (files: ReturnType<typeof filesIn>, a: StageResult) => Promise<void>;
  /** also an ephemeral of a session with the shortest timeout: on B it must be there, then expire */
  shortSession?: boolean;
}): Promise<{ a: StageResult; b: RunningServer }> {
  const A = await start(opts.from, opts.dirs, opts.snapCount);
  trace('A started');
  const shortLived = `/${opts.tag}/short-lived`;
  let short: ZooKeeperClient | null = null;
  const a = await writeStage(
    A,
    async (c) => {
      await build(c, opts.tag, opts.bulk);
      if (opts.shortSession) {
        // connected (pinging) until A is gone, so it cannot expire on A
        short = await connect(A, { sessionTimeout: MIN_SESSION_TIMEOUT });
        assert.equal(short.sessionTimeout, MIN_SESSION_TIMEOUT);
        await short.create(shortLived, 'expires', { mode: CreateMode.ephemeral });
      }
    },
    opts.snapCount ? { dirs: opts.dirs, tag: opts.tag } : undefined,
  );
  trace('A written');
  assertBuilt(a.tree, opts.tag, opts.bulk);
  assert.equal(paths(a.tree, isEphemeral).length, opts.shortSession ? 4 : 3);
  await stop(A, opts.stopWith);
  (short as ZooKeeperClient | null)?.disconnect();
  trace('A stopped');
  await opts.inspect?.(filesIn(opts.dirs), a);
  trace('files inspected');
  const B = await start(opts.to, opts.dirs, opts.snapCount);
  trace('B started');
  assertSameTree(await dumpTree(B), a.tree, `${opts.to} on ${opts.from}'s dataDir (${opts.stopWith})`);
  trace('B compared');
  await assertSessionResumes(B, a.session, a.ephemerals);
  // B serves writes on top, continuing A's zxids
  const c = await connect(B);
  const { stat } = await c.create2(`/${opts.tag}/after-restart`, 'B was here');
  const lastA = Math.max(...[...a.tree.values()].map((n) => Math.max(n.stat.mzxid, n.stat.pzxid)));
  assert.ok(stat.czxid > lastA, `B's first write (0x${stat.czxid.toString(16)}) comes after A's (0x${lastA.toString(16)})`);
  await c.delete(`/${opts.tag}/after-restart`);
  if (opts.shortSession) {
    // the restored session gets a full timeout on B, then expires there, taking its ephemeral along
    const deadline = Date.now() + MIN_SESSION_TIMEOUT + 15_000;
    while ((await c.exists(shortLived)) !== null) {
      assert.ok(Date.now() < deadline, `${shortLived} outlives its session on ${opts.to}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    trace('short-lived session expired on B');
    const { sessionId, password } = short as unknown as ZooKeeperClient;
    await assert.rejects(connect(B, { sessionId, password }), (e: unknown) => e instanceof ZkError && e.code === Err.sessionExpired, 'the short session is gone');
    await assertSessionResumes(B, a.session, a.ephemerals); // the long one lives on
  }
  await c.close();
  await assertNoDigestMismatch(B);
  return { a, b: B };
}

// ---------------------------------------------------------------- the tests

describe('durability: Paddock → Apache ZooKeeper 3.8', () => {
  test('snapshots and log after them (snapCount 50), SIGTERM: ZooKeeper serves the same tree; its tools read every file', async () => {
    const dirs = { dataDir: freshDir('p2z-term') };
    const { b } = await handOver({
      from: 'paddock',
      to: 'zookeeper',
      dirs,
      snapCount: 50,
      stopWith: 'SIGTERM',
      tag: 'pz',
      bulk: 70,
      inspect: async (files, a) => {
        assertSnapshotAndLogAfter(files, a.tree);
        assert.ok(files.logs.length >= 2, `several log files: ${files.logs.join(', ')}`);
        await Promise.all([zooKeeperToolsRead(files, 'pz'), paddockDumpsShow(files, a)]);
      },
    });
    await stop(b, 'SIGTERM');
  });

  test('log only (no snapshot but the initial one), separate dataLogDir, SIGKILL after the acks: ZooKeeper serves the same tree', async () => {
    const dirs = { dataDir: freshDir('p2z-kill'), dataLogDir: freshDir('p2z-kill-log') };
    const { b } = await handOver({
      from: 'paddock',
      to: 'zookeeper',
      dirs,
      stopWith: 'SIGKILL',
      shortSession: true,
      tag: 'pk',
      bulk: 40,
      inspect: async (files) => {
        assert.deepEqual(files.snapshots.map((f) => f.slice(f.lastIndexOf('/') + 1)), ['snapshot.0']);
        assert.ok(files.snapshots[0]!.startsWith(dirs.dataDir) && files.logs.every((f) => f.startsWith(dirs.dataLogDir)));
        assert.deepEqual(readdirSync(join(dirs.dataDir, 'version-2')).filter((n) => n.startsWith('log.')), []);
        await zooKeeperToolsRead(files, 'pk', false);
      },
    });
    await stop(b, 'SIGTERM');
  });
});

describe('durability: Apache ZooKeeper 3.8 → Paddock', () => {
  test('snapshots and log after them (snapCount 50), SIGTERM: Paddock serves the same tree, and its start-up snapshot is exact', async () => {
    const dirs = { dataDir: freshDir('z2p-term') };
    let zkFiles: string[] = [];
    const { a, b } = await handOver({
      from: 'zookeeper',
      to: 'paddock',
      dirs,
      snapCount: 50,
      stopWith: 'SIGTERM',
      tag: 'zp',
      bulk: 70,
      inspect: async (files, a) => {
        assertSnapshotAndLogAfter(files, a.tree);
        zkFiles = [...files.snapshots, ...files.logs];
        // and Paddock's dump commands read ZooKeeper's files (the newest of each)
        const bulkLog = files.logs.findLast((f) => / create \/zp\/bulk\/n/.test(formatTxnLog(f, false)))!;
        const [log, snap] = await Promise.all([paddockCli(['txnlog', bulkLog]), paddockCli(['snapshot', newest(files.snapshots)])]);
        assert.match(log, / create \/zp\/bulk\/n\d+,value \d+,\[31,world:anyone\],false,\d+$/m);
        assert.match(log, /^EOF reached after \d+ txns\.$/m);
        assert.match(snap, /^\/zp\/acl-digest$/m);
        assert.match(snap, /^Last zxid: 0x[0-9a-f]+$/m);
      },
    });
    // Paddock snapshotted the recovered tree at start-up: that file holds exactly the tree served
    const ours = filesIn(dirs).snapshots.filter((f) => !zkFiles.includes(f));
    assert.equal(ours.length, 1, `Paddock's start-up snapshot: ${ours.join(', ')}`);
    const snap = JSON.parse(await paddockCli(['snapshot', ours[0]!, '--json']));
    const inSnapshot = new Map<string, Record<string, unknown>>(snap.nodes.map((n: { path: string }) => [n.path, n]));
    assert.deepEqual([...inSnapshot.keys()].sort(), [...a.tree.keys()].sort());
    for (const [path, n] of a.tree) {
      const s = inSnapshot.get(path)!;
      const { czxid, mzxid, pzxid, ctime, mtime, version, cversion, aversion, dataLength, numChildren } = n.stat;
      // clients see cversion as 2 × the persisted one − numChildren (ZooKeeper's DataNode.copyStat)
      const served = (s.cversion as number) * 2 - (s.numChildren as number);
      assert.deepEqual(
        { czxid: s.czxid, mzxid: s.mzxid, pzxid: s.pzxid, ctime: s.ctime, mtime: s.mtime, version: s.version, cversion: served, aversion: s.aversion, dataLength: s.dataLength, numChildren: s.numChildren },
        { czxid, mzxid, pzxid, ctime, mtime, version, cversion, aversion, dataLength, numChildren },
        `snapshot node ${path}`,
      );
      // containers and TTL nodes keep their kind in the persisted ephemeralOwner; clients see 0
      const kind = /\/(box|unused-box)$/.test(path) ? 'container' : /\/ttl(-seq-\d+)?$/.test(path) ? 'ttl' : n.stat.ephemeralOwner === 0n ? 'persistent' : 'ephemeral';
      assert.equal(s.kind, kind, `snapshot node ${path} kind`);
      if (kind === 'persistent' || kind === 'ephemeral') assert.equal(BigInt(s.ephemeralOwner as string), n.stat.ephemeralOwner, `snapshot node ${path} owner`);
      if (kind === 'ttl') assert.equal(s.ttl, path.endsWith('/ttl') ? 3_600_000 : 7_200_000, `snapshot node ${path} TTL`);
      assert.equal(s.dataNull, n.data === null, `snapshot node ${path} null data`);
      assert.deepEqual(s.acl, n.acl.map((x) => ({ perms: x.perms, scheme: x.id.scheme, id: x.id.id })), `snapshot node ${path} ACL`);
    }
    await zooKeeperToolsRead({ snapshots: ours, logs: [] }, 'zp');
    await stop(b, 'SIGTERM');
  });

  test('log only, SIGKILL after the acks: Paddock serves the same tree', async () => {
    const dirs = { dataDir: freshDir('z2p-kill') };
    const { b } = await handOver({
      from: 'zookeeper',
      to: 'paddock',
      dirs,
      stopWith: 'SIGKILL',
      shortSession: true,
      tag: 'zk',
      bulk: 40,
      inspect: async (files) => assert.deepEqual(files.snapshots.map(zxidOf), [0]),
    });
    await stop(b, 'SIGTERM');
  });
});

describe('durability: round trip', () => {
  test('ZooKeeper → Paddock → ZooKeeper, separate dataLogDir, writes in every stage', async () => {
    const dirs = { dataDir: freshDir('trip'), dataLogDir: freshDir('trip-log') };
    // stage 1: ZooKeeper
    const z1 = await start('zookeeper', dirs, 50);
    const s1 = await writeStage(z1, (c) => build(c, 'one', 60));
    assertBuilt(s1.tree, 'one', 60);
    await stop(z1, 'SIGTERM');
    const afterZk = filesIn(dirs);
    // stage 2: Paddock serves it, writes on top (new nodes and changes to stage 1's)
    const p = await start('paddock', dirs, 50);
    assertSameTree(await dumpTree(p), s1.tree, 'Paddock after ZooKeeper (stage 2)');
    const s2 = await writeStage(p, async (c) => {
      await mutate(c, 'one');
      await build(c, 'two', 60);
    });
    assertBuilt(s2.tree, 'two', 60);
    assert.equal(s2.tree.get('/one/null')!.data, Buffer.from('no longer null').toString('base64'));
    assert.deepEqual(paths(s2.tree, isEphemeral).length, 6, 'stage 1 and stage 2 ephemerals');
    await stop(p, 'SIGTERM');
    const ours = filesIn(dirs);
    const paddockFiles = {
      snapshots: ours.snapshots.filter((f) => !afterZk.snapshots.includes(f)),
      logs: ours.logs.filter((f) => !afterZk.logs.includes(f)),
    };
    assert.ok(paddockFiles.snapshots.length > 0 && paddockFiles.logs.length > 0, `Paddock wrote snapshots and logs: ${JSON.stringify(paddockFiles)}`);
    await zooKeeperToolsRead(paddockFiles, 'two');
    // stage 3: ZooKeeper again
    const z3 = await start('zookeeper', dirs, 50);
    assertSameTree(await dumpTree(z3), s2.tree, 'ZooKeeper after Paddock (stage 3)');
    await assertNoDigestMismatch(z3);
    await assertSessionResumes(z3, s1.session, s1.ephemerals);
    await assertSessionResumes(z3, s2.session, s2.ephemerals);
    const s3 = await writeStage(z3, async (c) => {
      await mutate(c, 'two');
      await c.delete('/one/bulk/n0002');
    });
    await assertNoDigestMismatch(z3);
    await stop(z3, 'SIGTERM');
    // and once more to Paddock, to check stage 3's writes arrive too
    const p4 = await start('paddock', dirs, 50);
    assertSameTree(await dumpTree(p4), s3.tree, 'Paddock after ZooKeeper (stage 4)');
    await stop(p4, 'SIGTERM');
  });
});
