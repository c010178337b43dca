// Damaged data directories, met by real Paddock processes:
//  (a) a torn tail of the newest log (cut mid-record, or half a record
//      appended): start-up cuts it off, says so, and keeps every txn before it;
//  (b) a flipped byte in the newest snapshot: start-up falls back to an older
//      snapshot plus the log, and the tree is complete and exact;
//  (c) a flipped byte in the middle of the log: start-up fails with one clear
//      message naming the file and byte offset, and changes nothing on disk;
//  (d) a log file missing in the middle: start-up fails naming the gap;
//  (e) a full disk under the dataLogDir: the server stops (as ZooKeeper does)
//      saying why, never having acknowledged the write that failed, and a
//      restart on a roomier copy has every acknowledged write.

import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, openSync, closeSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Err, ZkError, ZooKeeperClient, digestId, type ACL, type Stat } from '../src/client/index.ts';
import { readLogFile } from '../src/persistence/txnlog.ts';
import { ROOT, freePort, startServer, type RunningServer } from './support/servers.ts';
import { logDirOf, scratchRoot, snapDirOf, type Dirs } from './support/datadirs.ts';

const SUPER_PASSWORD = 'corrupt-super';
const SUPER_FLAG = `-Dzookeeper.DigestAuthenticationProvider.superDigest=${digestId('super', SUPER_PASSWORD)}`;

const { root: scratch, freshDir } = scratchRoot('corruption');
const servers = new Set<RunningServer>();
const clients = new Set<ZooKeeperClient>();
const mounts: string[] = [];
after(async () => {
  for (const c of clients) c.disconnect();
  for (const s of servers) await s.stop().catch(() => undefined);
  for (const m of mounts) {
    try {
      execFileSync('umount', [m]);
    } catch {
      // already unmounted
    }
  }
  rmSync(scratch, { recursive: true, force: true, maxRetries: 5 });
});




function cfgOf(dirs: Dirs, snapCount?: number, extra: Record<string, string | number> = {}): Record<string, string | number> {
  const cfg: Record<string, string | number> = { ...extra };
  if (dirs.dataLogDir) cfg.dataLogDir = dirs.dataLogDir;
  if (snapCount !== undefined) cfg.snapCount = snapCount;
  return cfg;
}

async function start(dirs: Dirs, snapCount?: number, extra: Record<string, string | number> = {}): Promise<RunningServer> {
  const s = await startServer('paddock', { dataDir: dirs.dataDir, cfg: cfgOf(dirs, snapCount, extra), jvmFlags: [SUPER_FLAG] });
  servers.add(s);
  return s;
}

async function stop(s: RunningServer, how: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
  servers.delete(s);
  if (how === 'SIGKILL' && s.proc.exitCode === null && s.proc.signalCode === null) {
    const exited = new Promise((r) => s.proc.once('exit', r));
    s.proc.kill('SIGKILL');
    await exited;
  }
  await s.stop();
}

/** Run a Paddock server that is expected to exit on its own; its exit code and everything it printed. */
async function runToExit(dirs: Dirs, timeoutMs = 20_000): Promise<{ code: number | null; signal: string | null; output: string }> {
  const dir = freshDir('run');
  const port = await freePort();
  const lines = { tickTime: 2000, dataDir: dirs.dataDir, ...cfgOf(dirs), clientPort: port, clientPortAddress: '127.0.0.1', 'admin.enableServer': 'false' };
  writeFileSync(join(dir, 'zoo.cfg'), Object.entries(lines).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
  const proc = spawn(process.execPath, [join(ROOT, 'bin', 'paddock.js'), 'server', join(dir, 'zoo.cfg')], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PADDOCK_LOG_FORMAT: 'text' } });
  let output = '';
  proc.stdout.on('data', (d) => (output += d));
  proc.stderr.on('data', (d) => (output += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`Paddock did not exit within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      // let the pipes drain
      setImmediate(() => resolve({ code, signal, output }));
    });
  });
}

/** p, or a rejection after ms (the timer never outlives p) */
async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} (${ms} ms)`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

async function connect(s: RunningServer): Promise<ZooKeeperClient> {
  const c = await ZooKeeperClient.connect(s.connectString, { sessionTimeout: 30_000 });
  clients.add(c);
  c.once('close', () => clients.delete(c));
  return c;
}

// ---------------------------------------------------------------- trees

interface NodeDump {
  data: string | null;
  stat: Stat;
  acl: ACL[];
  children: string[];
}

/** Every node (data, Stat, ACL, children) read as super. */
async function dumpTree(s: RunningServer): Promise<Map<string, NodeDump>> {
  const c = await connect(s);
  try {
    await c.addAuth('digest', `super:${SUPER_PASSWORD}`);
    const out = new Map<string, NodeDump>();
    let level = ['/'];
    while (level.length > 0) {
      const nodes = await Promise.all(
        level.map(async (path) => {
          const [d, a, children] = await Promise.all([c.getData(path), c.getACL(path), c.getChildren(path)]);
          return { path, node: { data: d.data === null ? null : d.data.toString('base64'), stat: d.stat, acl: a.acl, children: [...children].sort() } };
        }),
      );
      level = [];
      for (const { path, node } of nodes) {
        out.set(path, node);
        for (const child of node.children) level.push(path === '/' ? `/${child}` : `${path}/${child}`);
      }
    }
    return out;
  } finally {
    await c.close();
  }
}

function assertSameTree(actual: Map<string, NodeDump>, expected: Map<string, NodeDump>, what: string): void {
  assert.deepEqual([...actual.keys()].filter((p) => !expected.has(p)), [], `${what}: nodes that should not be there`);
  assert.deepEqual([...expected.keys()].filter((p) => !actual.has(p)), [], `${what}: nodes missing`);
  for (const [path, node] of expected) assert.deepEqual(actual.get(path), node, `${what}: node ${path} differs`);
}

/** Writes under /<tag>: creates with recognisable data, updates, deletes, an ephemeral. */
async function fill(c: ZooKeeperClient, tag: string, n: number): Promise<void> {
  const t = `/${tag}`;
  await c.create(t, `root of ${tag}`);
  await c.create(`${t}/last`, 'before');
  await c.create(`${t}/eph`, 'ephemeral', { mode: 1 });
  for (let i = 0; i < n; i += 10) {
    const group: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(n, i + 10); j++) group.push(c.create(`${t}/n${String(j).padStart(4, '0')}`, `marker-${tag}-${j}`));
    await Promise.all(group);
    await c.setData(t, `round ${i}`);
    if (i % 20 === 0) await c.delete(`${t}/n${String(i + 3).padStart(4, '0')}`);
  }
}

// ---------------------------------------------------------------- files

/** sha256 of every file (and the name of every directory) under the data directories, by path. */
function hashes(dirs: Dirs): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((x, y) => (x.name < y.name ? -1 : 1))) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        out.set(p, 'dir');
        walk(p);
      } else out.set(p, createHash('sha256').update(readFileSync(p)).digest('hex'));
    }
  };
  for (const d of new Set([dirs.dataDir, dirs.dataLogDir ?? dirs.dataDir])) walk(d);
  return out;
}

function logFiles(dirs: Dirs): { path: string; zxid: number }[] {
  return readdirSync(logDirOf(dirs))
    .filter((n) => /^log\.[0-9a-f]+$/.test(n))
    .map((n) => ({ path: join(logDirOf(dirs), n), zxid: Number.parseInt(n.slice(4), 16) }))
    .sort((a, b) => a.zxid - b.zxid);
}

function snapshotFiles(dirs: Dirs): { path: string; zxid: number }[] {
  return readdirSync(snapDirOf(dirs))
    .filter((n) => /^snapshot\.[0-9a-f]+$/.test(n))
    .map((n) => ({ path: join(snapDirOf(dirs), n), zxid: Number.parseInt(n.slice(9), 16) }))
    .sort((a, b) => a.zxid - b.zxid);
}

/** XOR one byte of a file in place. */
function flipByte(file: string, offset: number): void {
  const fd = openSync(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    const buf = readFileSync(file);
    b[0] = buf[offset]! ^ 0xff;
    writeSync(fd, b, 0, 1, offset);
  } finally {
    closeSync(fd);
  }
}

function copyDirs(from: Dirs, name: string): Dirs {
  const to: Dirs = { dataDir: freshDir(name) };
  cpSync(from.dataDir, to.dataDir, { recursive: true });
  if (from.dataLogDir) {
    to.dataLogDir = freshDir(`${name}-log`);
    cpSync(from.dataLogDir, to.dataLogDir, { recursive: true });
  }
  return to;
}

// ---------------------------------------------------------------- the tests

describe('corruption: torn tail of the newest log', () => {
  test('cut mid-record, or half a record appended: start-up cuts it off, says so, and keeps every txn before it', async () => {
    // A server writes, its tree is taken, then one last setData; it is killed with the setData acknowledged.
    const dirs = { dataDir: freshDir('torn') };
    const a = await start(dirs);
    const w = await connect(a);
    await fill(w, 'torn', 40);
    const before = await dumpTree(a);
    const lastStat = await w.setData('/torn/last', 'after');
    await stop(a, 'SIGKILL');
    w.disconnect();
    const withLast = new Map(before);
    withLast.set('/torn/last', { ...before.get('/torn/last')!, data: Buffer.from('after').toString('base64'), stat: lastStat });

    const [log] = logFiles(dirs).slice(-1);
    const parsed = readLogFile(log!.path);
    const last = parsed.records.at(-1)!;
    assert.equal(last.txn.hdr.zxid, lastStat.mzxid, 'the setData is the last record');
    const end = parsed.end.offset;

    // 1. the last record cut in the middle: the setData is lost, nothing before it is
    const cut = copyDirs(dirs, 'torn-cut');
    const cutLog = join(logDirOf(cut), log!.path.slice(log!.path.lastIndexOf('/') + 1));
    truncateSync(cutLog, last.offset + Math.floor((end - last.offset) / 2));
    const b1 = await start(cut);
    assert.match(b1.output(), new RegExp(`cut off a torn last record in ${cutLog.replace(/\./g, '\\.')} at offset ${last.offset}\\b`));
    assertSameTree(await dumpTree(b1), before, 'after cutting a record torn in the middle');
    await stop(b1);
    assert.equal(statSync(cutLog).size, last.offset, 'the log file ends where the torn record began');

    // 2. half a record after the last one, in the preallocated zeros: the setData stays
    const half = copyDirs(dirs, 'torn-half');
    const halfLog = join(logDirOf(half), log!.path.slice(log!.path.lastIndexOf('/') + 1));
    const entry = readFileSync(log!.path).subarray(last.offset, end);
    const fd = openSync(halfLog, 'r+');
    writeSync(fd, entry, 0, Math.floor(entry.length / 2), end);
    closeSync(fd);
    const b2 = await start(half);
    assert.match(b2.output(), new RegExp(`cut off a torn last record in ${halfLog.replace(/\./g, '\\.')} at offset ${end}\\b`));
    assertSameTree(await dumpTree(b2), withLast, 'after cutting half a record');
    await stop(b2);

    // 3. a crash just after a roll: the next log file holds a part of its header and nothing else
    const head = copyDirs(dirs, 'torn-header');
    const headLog = join(logDirOf(head), `log.${(lastStat.mzxid + 1).toString(16)}`);
    writeFileSync(headLog, readFileSync(log!.path).subarray(0, 10));
    const b4 = await start(head);
    assert.match(b4.output(), new RegExp(`cut off a torn last record in ${headLog.replace(/\./g, '\\.')} at offset 0\\b`));
    assertSameTree(await dumpTree(b4), withLast, 'after a torn file header');
    await stop(b4);

    // 4. and, for reference, the undamaged copy: no cut, the setData is there
    const b3 = await start(copyDirs(dirs, 'torn-none'));
    assert.doesNotMatch(b3.output(), /cut off/);
    assertSameTree(await dumpTree(b3), withLast, 'undamaged');
    await stop(b3);
  });
});

describe('corruption: damaged snapshot', () => {
  test('a flipped byte or a cut in the newest snapshots: start-up falls back to an older one plus the log; the tree is exact', async () => {
    const dirs = { dataDir: freshDir('snap') };
    const a = await start(dirs, 30);
    const w = await connect(a);
    await fill(w, 'snap', 120);
    w.disconnect();
    const expected = await dumpTree(a);
    await stop(a);
    const snaps = snapshotFiles(dirs);
    assert.ok(snaps.length >= 4, `several snapshots: ${snaps.map((s) => s.path).join(', ')}`);
    const name = (p: string) => p.slice(p.lastIndexOf('/') + 1);
    const flipData = (file: string) => {
      const at = readFileSync(file).indexOf('marker-snap-');
      assert.ok(at > 0, `${file} holds node data`);
      flipByte(file, at + 3);
    };
    const halve = (file: string) => truncateSync(file, Math.floor(statSync(file).size / 2));
    // [what, damage to the newest, to the one before it (or none), expected reason for the newest]
    const cases: [string, (f: string) => void, ((f: string) => void) | null, RegExp][] = [
      ['a flipped byte in node data', flipData, null, /checksum/],
      ['cut to half its length', halve, null, /./],
      ['the two newest damaged', flipData, halve, /checksum/],
    ];
    for (const [what, newestDamage, secondDamage, reason] of cases) {
      const d = copyDirs(dirs, 'snap-case');
      const [newest, second, third] = snapshotFiles(d).reverse();
      newestDamage(newest!.path);
      secondDamage?.(second!.path);
      const loaded = secondDamage ? third! : second!;
      const b = await start(d, 30);
      const out = b.output();
      assert.match(out, new RegExp(`skipping snapshot ${newest!.path.replace(/\./g, '\\.')}: .*${reason.source}`), `${what}: ${name(newest!.path)} is skipped, saying why`);
      if (secondDamage) assert.match(out, new RegExp(`skipping snapshot ${second!.path.replace(/\./g, '\\.')}: `), `${what}: ${name(second!.path)} too`);
      assert.match(out, new RegExp(`loaded snapshot ${loaded.path.replace(/\./g, '\\.')} `), `${what}: ${name(loaded.path)} is loaded`);
      assert.match(out, /replayed \d+ txns from the log/);
      assertSameTree(await dumpTree(b), expected, `${what}: after falling back to an older snapshot`);
      await stop(b);
    }
  });
});

describe('corruption: damage inside the log is an error, not a repair', () => {
  test('a flipped byte in a record followed by valid ones: exit ≠ 0, one message naming file and offset, nothing changed on disk', async () => {
    const dirs = { dataDir: freshDir('flip') };
    const a = await start(dirs);
    const w = await connect(a);
    await fill(w, 'flip', 40);
    w.disconnect();
    await stop(a);
    const [log] = logFiles(dirs).slice(-1);
    const records = readLogFile(log!.path).records;
    assert.ok(records.length > 20);
    const victim = records[Math.floor(records.length / 2)]!;
    const lastRecord = records.at(-1)!;
    // [what, byte to flip, offset the error must name]
    const cases: [string, number, number][] = [
      ['a payload byte', victim.offset + 12 + 20, victim.offset],
      ['a length byte', victim.offset + 11, victim.offset],
      // complete (its 'B' in place) but wrong: damage, not a torn write, even at the very end
      ['a payload byte of the last record', lastRecord.offset + 12 + 20, lastRecord.offset],
    ];
    for (const [what, offset, reported] of cases) {
      const d = copyDirs(dirs, 'flip-case');
      const file = join(logDirOf(d), log!.path.slice(log!.path.lastIndexOf('/') + 1));
      flipByte(file, offset);
      const before = hashes(d);
      const { code, signal, output } = await runToExit(d);
      assert.equal(signal, null, `${what}: exited, not killed:\n${output}`);
      assert.notEqual(code, 0, `${what}: start-up fails:\n${output}`);
      const mentions = output.split('\n').filter((l) => l.includes(file));
      assert.equal(mentions.length, 1, `${what}: one message names the file:\n${output}`);
      assert.match(mentions[0]!, new RegExp(`${file.replace(/\./g, '\\.')} at offset ${reported}\\b`), `${what}: the message gives the record's offset`);
      assert.doesNotMatch(output, /torn|cut off|serving clients/, `${what}: no repair, no serving`);
      assert.deepEqual(hashes(d), before, `${what}: nothing on disk changed`);
    }
  });

  test('a log file missing in the middle: exit ≠ 0, naming the gap; nothing changed on disk', async () => {
    const dirs = { dataDir: freshDir('missing') };
    const a = await start(dirs, 30);
    const w = await connect(a);
    await fill(w, 'missing', 120);
    w.disconnect();
    await stop(a);
    const logs = logFiles(dirs);
    assert.ok(logs.length >= 4, `several log files: ${logs.map((l) => l.path).join(', ')}`);
    const k = Math.floor(logs.length / 2);
    const gone = logs[k]!;
    const next = logs[k + 1]!;
    // the file goes, and so do the snapshots that would let recovery start after it
    rmSync(gone.path);
    for (const s of snapshotFiles(dirs)) if (s.zxid >= gone.zxid - 1) rmSync(s.path);
    assert.ok(snapshotFiles(dirs).length >= 1);
    const before = hashes(dirs);
    const { code, signal, output } = await runToExit(dirs);
    assert.equal(signal, null, output);
    assert.notEqual(code, 0, `start-up fails:\n${output}`);
    const hex = (n: number) => `0x${n.toString(16)}`;
    const lines = output.split('\n').filter((l) => /gap/i.test(l));
    assert.equal(lines.length, 1, `one message about the gap:\n${output}`);
    assert.ok(lines[0]!.includes(next.path), `it names the file after the gap: ${lines[0]}`);
    assert.ok(lines[0]!.includes(hex(next.zxid)) && lines[0]!.includes(hex(gone.zxid - 1)), `it names the zxids on both sides (${hex(gone.zxid - 1)}, ${hex(next.zxid)}): ${lines[0]}`);
    assert.deepEqual(hashes(dirs), before, 'nothing on disk changed');
  });
});

describe('corruption: disk full', () => {
  test('the dataLogDir fills up: the server says so and exits; acknowledged writes all survive, the failing one was never acknowledged', async (t) => {
    const dataDir = freshDir('full');
    const small = freshDir('full-log');
    // A 2 MiB tmpfs; where mount is not allowed, a 2 MiB RLIMIT_FSIZE on the server process instead
    // (Node ignores SIGXFSZ, so the write fails with EFBIG). CORRUPTION_RLIMIT=1 forces the latter.
    let limit: 'tmpfs' | 'rlimit' = 'rlimit';
    if (!process.env.CORRUPTION_RLIMIT) {
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', small], { stdio: 'pipe' });
        mounts.push(small);
        limit = 'tmpfs';
      } catch (e) {
        t.diagnostic(`mount -t tmpfs failed (${(e as Error).message.split('\n')[0]}); limiting the file size with prlimit instead`);
      }
    }
    t.diagnostic(`dataLogDir limited by ${limit}`);
    const dirs = { dataDir, dataLogDir: small };
    // with a file size limit, the 64 MiB preallocation would fail at once: grow the log in small steps instead
    const a = await start(dirs, undefined, limit === 'rlimit' ? { preAllocSize: 64 } : {});
    if (limit === 'rlimit') execFileSync('prlimit', ['--pid', String(a.proc.pid), `--fsize=${2 << 20}`]);
    const exited = new Promise<number | null>((r) => a.proc.once('exit', (code) => r(code)));
    const acked = new Map<string, number>(); // path -> czxid
    const failed: { path: string; error: unknown }[] = [];
    const payload = (p: string) => Buffer.concat([Buffer.from(`${p}:`), Buffer.alloc(3000, 'x')]);
    const writers = await Promise.all([0, 1, 2, 3].map(() => connect(a)));
    await writers[0]!.create('/full', null);
    await withTimeout(
      Promise.all(
        writers.map(async (c, k) => {
          for (let i = 0; i < 2000; i++) {
            const path = `/full/w${k}-${String(i).padStart(4, '0')}`;
            try {
              const { stat } = await c.create2(path, payload(path));
              acked.set(path, stat.czxid);
            } catch (error) {
              failed.push({ path, error });
              return;
            }
          }
        }),
      ),
      60_000,
      'the log never filled up',
    );
    const code = await withTimeout(exited, 20_000, 'the server did not exit after the log failed');
    servers.delete(a);
    const output = a.output();
    assert.equal(code, 3, `the server exits with code 3:\n${output.slice(-2000)}`);
    assert.match(output, limit === 'tmpfs' ? /transaction log write failed: .*ENOSPC: no space left on device/ : /transaction log write failed: .*EFBIG: file too large/, 'the log says why');
    assert.match(output, /no write after this point was acknowledged/);
    assert.ok(acked.size > 100, `some writes went through first (${acked.size})`);
    assert.equal(failed.length, 4, 'every writer saw its last write fail');
    for (const f of failed) assert.ok(f.error instanceof ZkError && f.error.code === Err.connectionLoss, `not acknowledged, connection lost: ${String(f.error)}`);

    // restart on a roomier copy of the log directory
    const roomy = freshDir('full-log-copy');
    cpSync(small, roomy, { recursive: true });
    if (limit === 'tmpfs') {
      execFileSync('umount', [small]);
      mounts.splice(mounts.indexOf(small), 1);
    }
    const b = await start({ dataDir, dataLogDir: roomy });
    if (process.env.CORRUPTION_TRACE) console.error(output, b.output(), acked.size, failed);
    const tree = await dumpTree(b);
    await stop(b);
    for (const [path, czxid] of acked) {
      const n = tree.get(path);
      assert.ok(n, `acknowledged ${path} survived`);
      assert.equal(n.stat.czxid, czxid, path);
      assert.equal(n.data, payload(path).toString('base64'), path);
    }
    // writes in flight when the log failed may have reached the disk without an acknowledgement; no more than those
    const extra = [...tree.keys()].filter((p) => p.startsWith('/full/') && !acked.has(p));
    assert.ok(extra.length <= failed.length, `at most the in-flight writes appear without an acknowledgement: ${extra.join(', ')}`);
    for (const p of extra) assert.ok(failed.some((f) => f.path === p), `${p} was one of the failed writes`);
  });
});
