// Durability benchmark: Paddock vs Apache ZooKeeper 3.8, both fsyncing their
// transaction log before acknowledging a write (forceSync=yes, the default),
// data directories on the same disk (os.tmpdir()).
//
//   node --import tsx bench/durability.ts [--quick] [--out results.json]
//        [--servers zookeeper,paddock] [--phases writes,recovery]
//        [--windows 1,16,256] [--workloads set,create] [--rounds N]
//        [--server-warmup S] [--warmup S] [--duration S] [--sessions N]
//        [--nodes N] [--node-size B] [--parents N] [--fill-window N]
//        [--recovery-runs N] [--settle S] [--zk-heap 2g] [--cfg key=value]...
//
// Phase "writes": rounds alternate the servers (ZK, Paddock, ZK, ...), a fresh
// server per round; after a short warm-up it measures setData 1 KiB and
// create+delete 1 KiB at each window (ops in flight, spread over
// ceil(sqrt(window)) sessions unless --sessions). Besides ops/s, p50/p99 and
// server CPU (see bench/common.ts), it counts the server's fsync+fdatasync
// system calls over exactly the measured interval with `perf stat` on the
// syscalls tracepoints (optional: left out if perf cannot do it).
//
// Phase "recovery": each server builds a tree of --nodes znodes of --node-size
// bytes (loadgen's fill workload: /bench/pNNN/nNNNNNNN under --parents parents,
// --fill-window creates in flight) in its own data directory, is stopped with
// SIGTERM, then restarted --recovery-runs times, alternating the servers. Each
// restart is timed from spawn to the first srvr reply that reports a version
// (ZooKeeper answers ruok before it has loaded its data); RSS is taken then and
// after --settle idle seconds, with the peak RSS (VmHWM). The first restart
// loads the newest snapshot and replays the log after it; both servers write a
// snapshot at start-up, so later restarts load a snapshot only. Snapshot size
// is that of the newest snapshot file, the log size is all log.* files
// (apparent size, preallocated in 64 MiB steps, and allocated blocks).
// See bench/README.md.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fourLetterWord, ROOT, startServer, ZK_CLASSPATH, type RunningServer } from '../test/support/servers.ts';
import {
  compileLoadgen, fmt, LABEL, liveChildren, measureLoadgen, median, optionReaders, serversTarget, ratio, summarizeRounds, round1, round3, table, times, treeCpuSeconds,
  treeRssKiB, treeStatusKiB, warmServer, type Kind, type LoadSpec, type Measurement, type RoundsSummary,
} from './common.ts';

const WORKLOADS = ['set', 'create'] as const;
type Workload = (typeof WORKLOADS)[number];
const DESCRIBE: Record<Workload, string> = { set: 'setData 1 KiB', create: 'create+delete 1 KiB' };
/** logged txns per loadgen op */
const TXNS_PER_OP: Record<Workload, number> = { set: 1, create: 2 };
const PHASES = ['writes', 'recovery'] as const;
type Phase = (typeof PHASES)[number];

// ------------------------------------------------------------------ options

interface Options {
  quick: boolean;
  servers: Kind[];
  phases: Phase[];
  windows: number[];
  workloads: Workload[];
  rounds: number;
  serverWarmup: number;
  warmup: number;
  duration: number;
  /** fixed session count, or undefined for ceil(sqrt(window)) */
  sessions?: number;
  nodes: number;
  nodeSize: number;
  parents?: number;
  fillWindow: number;
  recoveryRuns: number;
  settle: number;
  zkHeap: string;
  cfg: Record<string, string>;
  out?: string;
}

function usage(msg?: string): never {
  if (msg) console.error(`bench: ${msg}`);
  console.error(
    'usage: node --import tsx bench/durability.ts [--quick] [--out FILE] [--servers zookeeper,paddock] [--phases writes,recovery]\n' +
      '       [--windows 1,16,256] [--workloads set,create] [--rounds N] [--server-warmup S] [--warmup S] [--duration S] [--sessions N]\n' +
      '       [--nodes N] [--node-size B] [--parents N] [--fill-window N] [--recovery-runs N] [--settle S] [--zk-heap 2g] [--cfg key=value]...',
  );
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const o: Options = {
    quick,
    servers: ['zookeeper', 'paddock'],
    phases: [...PHASES],
    windows: [1, 16, 256],
    workloads: [...WORKLOADS],
    rounds: quick ? 1 : 2,
    serverWarmup: quick ? 2 : 5,
    warmup: quick ? 0.5 : 1,
    duration: quick ? 1.5 : 5,
    nodes: quick ? 100_000 : 1_000_000,
    nodeSize: 100,
    fillWindow: 256,
    recoveryRuns: quick ? 2 : 3,
    settle: 2,
    zkHeap: '2g',
    cfg: {},
  };
  const { num, list } = optionReaders(usage);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    switch (a) {
      case '--quick':
        continue;
      case '--servers':
        o.servers = list(v, a, ['zookeeper', 'paddock'] as const);
        break;
      case '--phases':
        o.phases = list(v, a, PHASES);
        break;
      case '--workloads':
        o.workloads = list(v, a, WORKLOADS);
        break;
      case '--windows':
        o.windows = (v ?? '').split(',').filter(Boolean).map((w) => num(w, a, 1, 4096));
        if (!o.windows.length) usage('--windows takes e.g. 1,16,256');
        break;
      case '--rounds':
        o.rounds = num(v, a, 1, 20);
        break;
      case '--server-warmup':
        o.serverWarmup = num(v, a, 0, 600);
        break;
      case '--warmup':
        o.warmup = num(v, a, 0, 120);
        break;
      case '--duration':
        o.duration = num(v, a, 0.2, 300);
        break;
      case '--sessions':
        o.sessions = num(v, a, 1, 256);
        break;
      case '--nodes':
        o.nodes = num(v, a, 1, 50_000_000);
        break;
      case '--node-size':
        o.nodeSize = num(v, a, 0, 1_000_000);
        break;
      case '--parents':
        o.parents = num(v, a, 1, 100_000);
        break;
      case '--fill-window':
        o.fillWindow = num(v, a, 1, 4096);
        break;
      case '--recovery-runs':
        o.recoveryRuns = num(v, a, 1, 20);
        break;
      case '--settle':
        o.settle = num(v, a, 0, 120);
        break;
      case '--zk-heap':
        if (!/^\d+[kmgKMG]?$/.test(v ?? '')) usage('--zk-heap takes a JVM size such as 2g');
        o.zkHeap = v!;
        break;
      case '--cfg': {
        const m = /^([\w.]+)=(.*)$/.exec(v ?? '');
        if (!m) usage('--cfg takes key=value (a zoo.cfg line)');
        o.cfg[m[1]] = m[2];
        break;
      }
      case '--out':
        if (!v) usage('--out needs a path');
        o.out = resolve(v);
        break;
      case '--help':
      case '-h':
        usage();
      default:
        usage(`unknown argument ${a}`);
    }
    i++;
  }
  return o;
}

const sessionsFor = (window: number, o: Options) => Math.min(window, o.sessions ?? Math.ceil(Math.sqrt(window)));
const parentsFor = (o: Options) => o.parents ?? Math.max(1, Math.ceil(o.nodes / 10_000));
/** JVM flags for ZooKeeper (servers.ts puts -Xmx1g first; the later -Xmx wins); Paddock gets none */
const jvmFlags = (o: Options, kind: Kind = 'zookeeper') => (kind === 'zookeeper' ? [`-Xmx${o.zkHeap}`] : []);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mib = (bytes: number) => round1(bytes / 1048576);
const alive = (p: ChildProcess) => p.exitCode === null && p.signalCode === null;

// ------------------------------------------------------ fsync syscall count

const SYNC_EVENTS = ['syscalls:sys_enter_fsync', 'syscalls:sys_enter_fdatasync'];

/** Why perf cannot count the sync system calls here, or undefined when it can. */
function perfProblem(): string | undefined {
  const r = spawnSync('perf', ['stat', '-x', ',', '-e', SYNC_EVENTS.join(','), '--', 'true'], { encoding: 'utf8', timeout: 20_000 });
  if (r.error) return `perf: ${r.error.message}`;
  const counted = r.stderr.split('\n').filter((l) => SYNC_EVENTS.some((e) => l.includes(e)) && /^\d+,/.test(l));
  return r.status === 0 && counted.length === SYNC_EVENTS.length ? undefined : `perf stat on ${SYNC_EVENTS.join(',')} failed: ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`;
}

/**
 * Count fsync+fdatasync calls of `pid` (all its threads, including ones created
 * later) until stop(). perf needs a moment to attach; callers start it while
 * the server is quiescent.
 */
async function countSyncs(pid: number): Promise<{ stop(): Promise<number | undefined> }> {
  const perf = spawn('perf', ['stat', '-x', ',', '-e', SYNC_EVENTS.join(','), '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  liveChildren.add(perf);
  let err = '';
  perf.stderr!.on('data', (d) => (err += d));
  const closed = new Promise<void>((r) => perf.once('close', () => r()));
  await sleep(400);
  return {
    async stop() {
      if (alive(perf)) perf.kill('SIGINT');
      const killer = setTimeout(() => perf.kill('SIGKILL'), 5000);
      await closed;
      clearTimeout(killer);
      liveChildren.delete(perf);
      let total = 0;
      let seen = 0;
      for (const line of err.split('\n')) {
        const f = line.split(',');
        if (SYNC_EVENTS.includes(f[2]) && /^\d+$/.test(f[0])) {
          total += Number(f[0]);
          seen++;
        }
      }
      return seen === SYNC_EVENTS.length ? total : undefined;
    },
  };
}

// ------------------------------------------------------------ phase: writes

interface WriteCell extends Measurement {
  workload: Workload;
  window: number;
  sessions: number;
  server: Kind;
  round: number;
  fsyncs?: number;
  fsyncs_per_sec?: number;
  txns_per_fsync?: number;
  /** 1-minute load average after the measurement (the machine may be shared) */
  loadavg_1m?: number;
}

const writeSpec = (workload: Workload, window: number, o: Options): LoadSpec => ({
  workload,
  window,
  sessions: sessionsFor(window, o),
  size: 1024,
  warmup: o.warmup,
  duration: o.duration,
});

async function writesPhase(bin: string, o: Options, perfOk: boolean, ctx: Ctx): Promise<WriteCell[]> {
  const cells: WriteCell[] = [];
  const tag = (w: Workload, win: number, round: number, server: Kind) =>
    `${DESCRIBE[w].padEnd(19)} ${String(win).padStart(3)} in flight  round ${round} ${LABEL[server].padEnd(9)}`;
  for (let round = 1; round <= o.rounds; round++) {
    for (const server of o.servers) {
      if (ctx.interrupted) return cells;
      if (ctx.unavailable.has(server)) continue;
      let srv: RunningServer;
      try {
        srv = await startServer(server, { cfg: o.cfg, jvmFlags: jvmFlags(o, server) });
        ctx.servers.add(srv);
      } catch (e) {
        const msg = `failed to start: ${String((e as Error).message ?? e).split('\n').slice(0, 6).join(' | ')}`;
        ctx.unavailable.set(server, msg);
        console.log(`writes round ${round} ${LABEL[server]} ${msg}\n    -> ${LABEL[server]} skipped for the rest of the run`);
        continue;
      }
      try {
        const warm = await warmServer(bin, serversTarget([srv]), o.workloads.map((w) => ({ ...writeSpec(w, 16, o), warmup: 0 })), o.serverWarmup);
        if (warm) console.log(`writes round ${round} ${LABEL[server]} warm-up trouble: ${warm}`);
        for (const workload of o.workloads) {
          for (const window of o.windows) {
            if (ctx.interrupted) return cells;
            const spec = writeSpec(workload, window, o);
            let counter: Awaited<ReturnType<typeof countSyncs>> | undefined;
            let fsyncs: number | undefined;
            const m = await measureLoadgen(bin, serversTarget([srv]), spec, {
              beforeMeasure: async () => {
                if (perfOk) counter = await countSyncs(srv.proc.pid!);
              },
              afterMeasure: async () => {
                fsyncs = await counter?.stop();
              },
            });
            const cell: WriteCell = { workload, window, sessions: spec.sessions, server, round, ...m, loadavg_1m: round1(loadavg()[0]) };
            if (cell.ok && cell.result && fsyncs !== undefined) {
              cell.fsyncs = fsyncs;
              cell.fsyncs_per_sec = round1(fsyncs / cell.result.seconds);
              cell.txns_per_fsync = fsyncs > 0 ? round3((cell.result.ops * TXNS_PER_OP[workload]) / fsyncs) : undefined;
            }
            cells.push(cell);
            if (cell.ok && cell.result) {
              const r = cell.result;
              console.log(
                `${tag(workload, window, round, server)} ${fmt(r.ops_per_sec).padStart(6)} ops/s  p50 ${fmt(r.p50_us).padStart(7)} µs  ` +
                  `p99 ${fmt(r.p99_us).padStart(7)} µs  ${cell.fsyncs_per_sec !== undefined ? `${fmt(cell.fsyncs_per_sec)} fsync/s, ${fmt(cell.txns_per_fsync, 1)} txns/fsync  ` : ''}` +
                  `CPU ${fmt(cell.cpu_s_per_10k_ops, 2)} s/10k` + (r.errors ? `  (${r.errors} errors, first ${r.first_error})` : ''),
              );
            } else {
              console.log(`${tag(workload, window, round, server)} FAILED: ${cell.error}`);
            }
            if (!alive(srv.proc)) break;
          }
          if (!alive(srv.proc)) {
            console.log(`writes round ${round} ${LABEL[server]} server died; rest of this round skipped. Output tail:\n` +
              srv.output().trim().split('\n').slice(-8).map((l) => `    ${l}`).join('\n'));
            break;
          }
        }
      } finally {
        await srv.stop();
        ctx.servers.delete(srv);
      }
    }
  }
  return cells;
}

interface WriteSummary extends RoundsSummary {
  workload: Workload;
  window: number;
  server: Kind;
  fsyncs_per_sec?: number;
  txns_per_fsync?: number;
}

function summarizeWrites(cells: WriteCell[], workload: Workload, window: number, server: Kind): WriteSummary {
  const mine = cells.filter((c) => c.workload === workload && c.window === window && c.server === server);
  return { workload, window, server, ...summarizeRounds(mine, { fsyncs_per_sec: (c) => c.fsyncs_per_sec, txns_per_fsync: (c) => c.txns_per_fsync }) };
}

// ---------------------------------------------------------- phase: recovery

interface DiskUsage {
  snapshots: number;
  newest_snapshot?: string;
  newest_snapshot_zxid?: string;
  newest_snapshot_bytes?: number;
  logs: number;
  log_bytes: number;
  log_allocated_bytes: number;
}

function diskUsage(dataDir: string): DiskUsage {
  const dir = join(dataDir, 'version-2');
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    // nothing written
  }
  const zxidOf = (n: string) => BigInt(`0x${n.slice(n.indexOf('.') + 1)}`);
  const snaps = names.filter((n) => /^snapshot\.[0-9a-f]+$/.test(n)).sort((a, b) => (zxidOf(b) > zxidOf(a) ? 1 : zxidOf(b) < zxidOf(a) ? -1 : 0));
  const logs = names.filter((n) => /^log\.[0-9a-f]+$/.test(n));
  const du: DiskUsage = { snapshots: snaps.length, logs: logs.length, log_bytes: 0, log_allocated_bytes: 0 };
  for (const l of logs) {
    const st = statSync(join(dir, l));
    du.log_bytes += st.size;
    du.log_allocated_bytes += st.blocks * 512;
  }
  if (snaps[0]) {
    du.newest_snapshot = snaps[0];
    du.newest_snapshot_zxid = `0x${zxidOf(snaps[0]).toString(16)}`;
    du.newest_snapshot_bytes = statSync(join(dir, snaps[0])).size;
  }
  return du;
}

interface Build {
  server: Kind;
  ok: boolean;
  error?: string;
  data_dir: string;
  measurement?: Measurement;
  node_count?: number;
  zxid?: string;
  /** waited after the build for a background snapshot to be complete (no snapshot file changing for 1.5 s) */
  snapshot_wait_s?: number;
  stop_s?: number;
  /** after the build and SIGTERM (the log holds every create) */
  disk?: DiskUsage;
  /** after the restarts: the newest snapshot is the full tree written at start-up */
  disk_after_restarts?: DiskUsage;
}

interface RecoveryRun {
  server: Kind;
  run: number;
  ok: boolean;
  error?: string;
  /** the newest snapshot file on disk when it started */
  newest_snapshot?: string;
  newest_snapshot_bytes?: number;
  /** zxid when serving minus that snapshot's zxid */
  txns_after_newest_snapshot?: number;
  /** the snapshot the server says it loaded (Paddock's log; ZooKeeper does not say) */
  snapshot_loaded?: string;
  /** txns replayed from the log, as the server reports it (ZooKeeper mntr, Paddock's log), else txns_after_newest_snapshot */
  log_tail_txns?: number;
  serving_s?: number;
  cpu_s?: number;
  node_count?: number;
  zxid?: string;
  rss_serving_mib?: number;
  rss_settled_mib?: number;
  rss_peak_mib?: number;
  /** seconds from spawn at which the server logged its recovery steps (Paddock) */
  milestones?: Record<string, number>;
  /** ZooKeeper's mntr startup metrics (zk_sum_startup_*: snap_load_time ms, txns_loaded, txns_load_time ms) */
  startup_metrics?: Record<string, string>;
  stop_s?: number;
  /** 1-minute load average when it was serving (the machine may be shared) */
  loadavg_1m?: number;
}

const parseSrvr = (reply: string) => ({
  nodeCount: Number(/^Node count: (\d+)/m.exec(reply)?.[1] ?? NaN),
  zxid: /^Zxid: (0x[0-9a-f]+)/m.exec(reply)?.[1],
});

/** The command line test/support/servers.ts uses, for restarting a server on a kept zoo.cfg. */
function serverProcess(kind: Kind, cfgPath: string, cwd: string, o: Options): ChildProcess {
  return kind === 'zookeeper'
    ? spawn('java', [...jvmFlags(o), '-cp', ZK_CLASSPATH, 'org.apache.zookeeper.server.ZooKeeperServerMain', cfgPath], { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, [join(ROOT, 'bin', 'paddock.js'), 'server', cfgPath], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SERVER_JVMFLAGS: '' } });
}

const PADDOCK_MILESTONES: [RegExp, string][] = [
  [/loaded snapshot/, 'snapshot_loaded'],
  [/replayed \d+ txns/, 'log_replayed'],
  [/wrote snapshot/, 'startup_snapshot_written'],
  [/serving clients/, 'listening'],
];

/**
 * Wait (at most 120 s) until no snapshot file in dataDir has changed for 1.5 s,
 * so that the SIGTERM after a build does not cut a background snapshot short
 * (ZooKeeper writes it in place and would then fall back to an older one).
 */
async function snapshotsSettled(dataDir: string): Promise<number> {
  const t0 = performance.now();
  const state = () => {
    const dir = join(dataDir, 'version-2');
    try {
      return readdirSync(dir).filter((n) => n.startsWith('snapshot')).sort().map((n) => {
        const st = statSync(join(dir, n));
        return `${n}:${st.size}:${st.mtimeMs}`;
      }).join(',');
    } catch {
      return '';
    }
  };
  let last = state();
  let since = performance.now();
  while (performance.now() - since < 1500 && performance.now() - t0 < 120_000) {
    await sleep(250);
    const now = state();
    if (now !== last) {
      last = now;
      since = performance.now();
    }
  }
  return round3((performance.now() - t0) / 1000);
}

async function stopProcess(proc: ChildProcess): Promise<number> {
  const t0 = performance.now();
  if (alive(proc)) {
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGTERM');
    const killer = setTimeout(() => proc.kill('SIGKILL'), 60_000);
    await exited;
    clearTimeout(killer);
  }
  return round3((performance.now() - t0) / 1000);
}

async function recoverOnce(kind: Kind, build: Build, cfgDir: string, port: number, run: number, o: Options, ctx: Ctx): Promise<RecoveryRun> {
  const before = diskUsage(build.data_dir);
  const rec: RecoveryRun = {
    server: kind,
    run,
    ok: false,
    newest_snapshot: before.newest_snapshot,
    newest_snapshot_bytes: before.newest_snapshot_bytes,
  };
  const t0 = performance.now();
  const proc = serverProcess(kind, join(cfgDir, 'zoo.cfg'), cfgDir, o);
  ctx.procs.add(proc);
  let out = '';
  const milestones: Record<string, number> = {};
  const onData = (d: Buffer) => {
    const at = round3((performance.now() - t0) / 1000);
    const text = String(d);
    out += text;
    if (kind === 'paddock') for (const [re, name] of PADDOCK_MILESTONES) if (!(name in milestones) && re.test(text)) milestones[name] = at;
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const limitMs = 900_000;
  try {
    let reply = '';
    for (;;) {
      if (!alive(proc)) throw new Error(`exited during recovery (${proc.exitCode ?? proc.signalCode}); output tail:\n${out.trim().split('\n').slice(-10).join('\n')}`);
      if (performance.now() - t0 > limitMs) throw new Error(`not serving after ${limitMs / 1000} s`);
      if (ctx.interrupted) throw new Error('interrupted');
      reply = await fourLetterWord('127.0.0.1', port, 'srvr', 2000).catch(() => '');
      if (reply.startsWith('Zookeeper version:')) break;
      await sleep(10);
    }
    rec.serving_s = round3((performance.now() - t0) / 1000);
    rec.loadavg_1m = round1(loadavg()[0]);
    const pid = proc.pid!;
    rec.rss_serving_mib = mib(treeRssKiB(pid) * 1024);
    rec.cpu_s = round3(treeCpuSeconds(pid));
    const srvr = parseSrvr(reply);
    rec.node_count = srvr.nodeCount;
    rec.zxid = srvr.zxid;
    if (srvr.zxid && before.newest_snapshot_zxid) rec.txns_after_newest_snapshot = Number(BigInt(srvr.zxid) - BigInt(before.newest_snapshot_zxid));
    await sleep(o.settle * 1000);
    rec.rss_settled_mib = mib(treeRssKiB(pid) * 1024);
    rec.rss_peak_mib = mib(treeStatusKiB(pid, 'VmHWM') * 1024);
    if (kind === 'paddock') {
      rec.milestones = milestones;
      rec.snapshot_loaded = /loaded snapshot \S*\/(snapshot\.[0-9a-f]+)/.exec(out)?.[1];
      const replayed = /replayed (\d+) txns/.exec(out);
      if (replayed) rec.log_tail_txns = Number(replayed[1]);
      else if ('snapshot_loaded' in milestones) rec.log_tail_txns = 0; // Paddock logs the replay only when there was one
    } else {
      const mntr = await fourLetterWord('127.0.0.1', port, 'mntr').catch(() => '');
      rec.startup_metrics = Object.fromEntries(
        mntr.split('\n').map((l) => l.split('\t')).filter((f) => f.length === 2 && /^zk_sum_startup/.test(f[0])).map(([k, v]) => [k.replace(/^zk_sum_/, ''), v]),
      );
      const loaded = Number(rec.startup_metrics.startup_txns_loaded);
      if (rec.startup_metrics.startup_txns_loaded !== undefined && Number.isFinite(loaded)) rec.log_tail_txns = loaded;
    }
    rec.log_tail_txns ??= rec.txns_after_newest_snapshot;
    rec.ok = true;
  } catch (e) {
    rec.error = (e as Error).message;
  } finally {
    rec.stop_s = await stopProcess(proc);
    ctx.procs.delete(proc);
  }
  return rec;
}

async function recoveryPhase(bin: string, o: Options, tmp: string, ctx: Ctx): Promise<{ builds: Build[]; runs: RecoveryRun[] }> {
  const builds: Build[] = [];
  const runs: RecoveryRun[] = [];
  const kept = new Map<Kind, { cfgDir: string; port: number }>();
  const parents = parentsFor(o);
  for (const server of o.servers) {
    if (ctx.interrupted) break;
    const dataDir = join(tmp, `${server}-data`);
    mkdirSync(dataDir, { recursive: true });
    const build: Build = { server, ok: false, data_dir: dataDir };
    builds.push(build);
    let srv: RunningServer;
    try {
      srv = await startServer(server, { cfg: { ...o.cfg, dataDir }, jvmFlags: jvmFlags(o, server) });
      ctx.servers.add(srv);
    } catch (e) {
      build.error = `failed to start: ${String((e as Error).message ?? e).split('\n').slice(0, 6).join(' | ')}`;
      console.log(`recovery ${LABEL[server]} ${build.error}`);
      continue;
    }
    let stopped = false;
    try {
      const spec: LoadSpec = {
        workload: 'fill',
        window: o.fillWindow,
        sessions: Math.min(o.fillWindow, 16),
        size: o.nodeSize,
        warmup: 0,
        duration: 3600,
        extra: ['--ops', String(o.nodes), '--base', '/bench', '--parents', String(parents)],
      };
      const m = await measureLoadgen(bin, serversTarget([srv]), spec, {}, 3600 + 60);
      build.measurement = m;
      const r = m.result;
      if (m.ok && r && r.errors === 0 && r.ops === o.nodes) {
        const s = parseSrvr(await fourLetterWord(srv.host, srv.port, 'srvr').catch(() => ''));
        build.node_count = s.nodeCount;
        build.zxid = s.zxid;
        build.ok = true;
        console.log(
          `build ${LABEL[server].padEnd(9)} ${fmt(o.nodes)} creates of ${o.nodeSize} B, ${o.fillWindow} in flight: ${fmt(r.seconds, 1)} s, ` +
            `${fmt(r.ops_per_sec)} creates/s, p99 ${fmt(r.p99_us / 1000, 1)} ms; ${fmt(build.node_count)} znodes, zxid ${build.zxid}`,
        );
      } else {
        build.error = m.error ?? `fill: ${r?.ops} of ${o.nodes} creates, ${r?.errors} errors (first ZK error ${r?.first_error})`;
        console.log(`build ${LABEL[server]} FAILED: ${build.error}`);
        if (!alive(srv.proc)) console.log(srv.output().trim().split('\n').slice(-10).map((l) => `    ${l}`).join('\n'));
      }
      build.snapshot_wait_s = await snapshotsSettled(dataDir);
      const t = performance.now();
      await srv.stop({ keepDir: true }); // keeps srv.dir/zoo.cfg; the data is in dataDir anyway
      stopped = true;
      build.stop_s = round3((performance.now() - t) / 1000);
      build.disk = diskUsage(dataDir);
      if (build.ok) kept.set(server, { cfgDir: srv.dir, port: srv.port });
      else rmSync(srv.dir, { recursive: true, force: true });
    } finally {
      if (!stopped) await srv.stop();
      ctx.servers.delete(srv);
    }
    if (build.ok) ctx.dirs.push(kept.get(server)!.cfgDir);
  }
  for (let run = 1; run <= o.recoveryRuns; run++) {
    for (const server of o.servers) {
      const k = kept.get(server);
      if (!k || ctx.interrupted) continue;
      const build = builds.find((b) => b.server === server)!;
      const rec = await recoverOnce(server, build, k.cfgDir, k.port, run, o, ctx);
      runs.push(rec);
      if (rec.ok) {
        const ms = rec.milestones && Object.keys(rec.milestones).length
          ? `  [${Object.entries(rec.milestones).map(([n, s]) => `${n} ${s.toFixed(2)} s`).join(', ')}]`
          : rec.startup_metrics && Object.keys(rec.startup_metrics).length
            ? `  [mntr ${Object.entries(rec.startup_metrics).map(([n, v]) => `${n} ${v}`).join(', ')}]`
            : '';
        console.log(
          `recovery run ${run} ${LABEL[server].padEnd(9)} serving after ${rec.serving_s!.toFixed(2)} s (CPU ${fmt(rec.cpu_s, 1)} s), ` +
            `newest snapshot ${fmt(mib(rec.newest_snapshot_bytes ?? 0))} MiB, ${fmt(rec.log_tail_txns)} txns replayed` +
            (rec.log_tail_txns !== rec.txns_after_newest_snapshot ? ` (${fmt(rec.txns_after_newest_snapshot)} after the newest snapshot, so an older one was loaded)` : '') +
            `; ${fmt(rec.node_count)} znodes; ` +
            `RSS ${fmt(rec.rss_serving_mib)} MiB serving, ${fmt(rec.rss_settled_mib)} MiB after ${o.settle} s, peak ${fmt(rec.rss_peak_mib)} MiB; ` +
            `stop ${fmt(rec.stop_s, 2)} s; load ${fmt(rec.loadavg_1m, 1)}${ms}`,
        );
        if (build.node_count !== undefined && rec.node_count !== build.node_count) {
          console.log(`    WARNING: ${rec.node_count} znodes after recovery, ${build.node_count} before the stop`);
        }
      } else {
        console.log(`recovery run ${run} ${LABEL[server]} FAILED: ${rec.error}`);
      }
    }
  }
  for (const b of builds) if (kept.has(b.server)) b.disk_after_restarts = diskUsage(b.data_dir);
  return { builds, runs };
}

interface RecoverySummary {
  server: Kind;
  build_creates_per_sec?: number;
  build_p99_us?: number;
  node_count?: number;
  snapshot_bytes?: number;
  log_bytes?: number;
  log_allocated_bytes?: number;
  first_serving_s?: number;
  first_log_tail_txns?: number;
  /** median over restarts 2..n (snapshot only) */
  snapshot_only_serving_s?: number;
  rss_serving_mib?: number;
  rss_settled_mib?: number;
  rss_peak_mib?: number;
  cpu_s?: number;
  runs_ok: number;
  runs_failed: number;
  failure?: string;
}

function summarizeRecovery(builds: Build[], runs: RecoveryRun[], server: Kind): RecoverySummary {
  const b = builds.find((x) => x.server === server);
  const mine = runs.filter((r) => r.server === server);
  const ok = mine.filter((r) => r.ok);
  const first = ok.find((r) => r.run === 1);
  const later = ok.filter((r) => r.run > 1);
  const med = (rs: RecoveryRun[], f: (r: RecoveryRun) => number | undefined) => {
    const m = median(rs.map(f).filter((x): x is number => x !== undefined));
    return m === undefined ? undefined : round3(m);
  };
  return {
    server,
    build_creates_per_sec: b?.measurement?.result?.ops_per_sec,
    build_p99_us: b?.measurement?.result?.p99_us,
    node_count: b?.node_count,
    snapshot_bytes: b?.disk_after_restarts?.newest_snapshot_bytes ?? b?.disk?.newest_snapshot_bytes,
    log_bytes: b?.disk?.log_bytes,
    log_allocated_bytes: b?.disk?.log_allocated_bytes,
    first_serving_s: first?.serving_s,
    first_log_tail_txns: first?.log_tail_txns,
    snapshot_only_serving_s: med(later, (r) => r.serving_s),
    rss_serving_mib: med(ok, (r) => r.rss_serving_mib),
    rss_settled_mib: med(ok, (r) => r.rss_settled_mib),
    rss_peak_mib: med(ok, (r) => r.rss_peak_mib),
    cpu_s: med(ok, (r) => r.cpu_s),
    runs_ok: ok.length,
    runs_failed: mine.length - ok.length,
    failure: b?.error ?? mine.find((r) => !r.ok)?.error,
  };
}

// --------------------------------------------------------------------- main

interface Ctx {
  interrupted: boolean;
  servers: Set<RunningServer>;
  procs: Set<ChildProcess>;
  dirs: string[];
  unavailable: Map<Kind, string>;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const started = new Date();
  const tmp = mkdtempSync(join(tmpdir(), 'paddock-durability-'));
  const ctx: Ctx = { interrupted: false, servers: new Set(), procs: new Set(), dirs: [], unavailable: new Map() };
  const cleanup = async () => {
    for (const c of liveChildren) c.kill('SIGKILL');
    await Promise.all([...ctx.servers].map((s) => s.stop().catch(() => {})));
    await Promise.all([...ctx.procs].map((p) => stopProcess(p).catch(() => 0)));
    for (const d of [tmp, ...ctx.dirs]) rmSync(d, { recursive: true, force: true });
  };
  const onSignal = (sig: NodeJS.Signals) => {
    if (ctx.interrupted) return;
    ctx.interrupted = true;
    console.error(`\nbench: ${sig}, stopping everything`);
    void cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let writeCells: WriteCell[] = [];
  let builds: Build[] = [];
  let runs: RecoveryRun[] = [];
  let perfNote: string | undefined;
  try {
    const bin = compileLoadgen(tmp);
    perfNote = o.phases.includes('writes') ? perfProblem() : undefined;
    const perWriteRound = 2 + o.serverWarmup + o.workloads.length * o.windows.length * (o.warmup + o.duration + 1.2);
    const est = (o.phases.includes('writes') ? o.rounds * o.servers.length * perWriteRound : 0) +
      (o.phases.includes('recovery') ? o.servers.length * (o.nodes / 5000 + o.recoveryRuns * (o.nodes / 100_000 + o.settle + 3)) : 0);
    console.log(
      `Paddock durability benchmark: servers ${o.servers.join(', ')}, forceSync=${o.cfg.forceSync ?? 'yes (default)'}, data in ${tmpdir()}; ` +
        `ZooKeeper -Xmx${o.zkHeap}; ${cpus().length} CPUs, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}; roughly ${(est / 60).toFixed(0)} min\n` +
        (o.phases.includes('writes')
          ? `writes: ${o.workloads.map((w) => DESCRIBE[w]).join(', ')} at ${o.windows.map((w) => `${w} in flight/${sessionsFor(w, o)} sessions`).join(', ')}; ` +
            `${o.rounds} round(s), fresh server each, warm-up ${o.serverWarmup} s, then per cell ${o.warmup} s + ${o.duration} s measured; ` +
            `fsyncs: ${perfNote ? `not counted (${perfNote})` : 'perf stat on the fsync/fdatasync syscall tracepoints of the server'}\n`
          : '') +
        (o.phases.includes('recovery')
          ? `recovery: ${fmt(o.nodes)} znodes of ${o.nodeSize} B under ${parentsFor(o)} parents, built with ${o.fillWindow} creates in flight; ` +
            `${o.recoveryRuns} restart(s) per server, alternating; RSS settle ${o.settle} s`
          : ''),
    );
    if (o.phases.includes('writes')) writeCells = await writesPhase(bin, o, !perfNote, ctx);
    if (o.phases.includes('recovery') && !ctx.interrupted) ({ builds, runs } = await recoveryPhase(bin, o, tmp, ctx));
  } finally {
    if (!ctx.interrupted) await cleanup();
  }
  if (ctx.interrupted) return;

  // ---- write table
  const writeSummaries: WriteSummary[] = [];
  const writeRatios: Record<string, unknown>[] = [];
  if (o.phases.includes('writes')) {
    const rows: string[][] = [['workload', 'in flight', 'server', 'ops/s', 'p50 µs', 'p99 µs', 'fsync/s', 'txns/fsync', 'CPU s/10k ops', 'rounds']];
    for (const workload of o.workloads) {
      for (const window of o.windows) {
        const per: Partial<Record<Kind, WriteSummary>> = {};
        for (const server of o.servers) {
          const s = summarizeWrites(writeCells, workload, window, server);
          per[server] = s;
          writeSummaries.push(s);
          const fail = s.rounds_ok === 0 ? (ctx.unavailable.get(server) ?? s.failure ?? 'not run') : undefined;
          rows.push([
            DESCRIBE[workload], `${window} (${sessionsFor(window, o)} sess)`, LABEL[server],
            fmt(s.ops_per_sec), fmt(s.p50_us), fmt(s.p99_us), fmt(s.fsyncs_per_sec), fmt(s.txns_per_fsync, 1), fmt(s.cpu_s_per_10k_ops, 2),
            fail ? 'FAILED' : `${s.rounds_ok}${s.rounds_failed ? ` (+${s.rounds_failed} failed)` : ''}${s.errors ? ` ${s.errors} err` : ''}`,
          ]);
        }
        if (per.zookeeper && per.paddock) {
          const zk = per.zookeeper;
          const pd = per.paddock;
          const r = {
            workload,
            window,
            throughput: ratio(pd.ops_per_sec, zk.ops_per_sec),
            p50: ratio(pd.p50_us, zk.p50_us),
            p99: ratio(pd.p99_us, zk.p99_us),
            fsyncs_per_sec: ratio(pd.fsyncs_per_sec, zk.fsyncs_per_sec),
            txns_per_fsync: ratio(pd.txns_per_fsync, zk.txns_per_fsync),
            cpu_per_op: ratio(pd.cpu_s_per_10k_ops, zk.cpu_s_per_10k_ops),
          };
          writeRatios.push(r);
          rows.push([DESCRIBE[workload], String(window), 'Paddock/ZK', times(r.throughput), times(r.p50), times(r.p99), times(r.fsyncs_per_sec), times(r.txns_per_fsync), times(r.cpu_per_op), '']);
        }
      }
    }
    console.log(`\nWrites with fsync before ack (medians across ${o.rounds} round(s); a create+delete op is 2 logged txns):\n`);
    console.log(table(rows, 3));
  }

  // ---- recovery table
  const recSummaries: RecoverySummary[] = [];
  let recRatio: Record<string, unknown> | undefined;
  if (o.phases.includes('recovery')) {
    const rows: string[][] = [[
      'server', 'build creates/s', 'snapshot MiB', 'log MiB (alloc)', '1st start s', 'log tail txns', 'snapshot-only start s',
      'RSS serving MiB', `RSS +${o.settle}s MiB`, 'RSS peak MiB', 'CPU s', 'runs',
    ]];
    const per: Partial<Record<Kind, RecoverySummary>> = {};
    for (const server of o.servers) {
      const s = summarizeRecovery(builds, runs, server);
      per[server] = s;
      recSummaries.push(s);
      rows.push([
        LABEL[server], fmt(s.build_creates_per_sec), fmt(s.snapshot_bytes === undefined ? undefined : mib(s.snapshot_bytes), 1),
        s.log_bytes === undefined ? '-' : `${fmt(mib(s.log_bytes))} (${fmt(mib(s.log_allocated_bytes!))})`,
        fmt(s.first_serving_s, 2), fmt(s.first_log_tail_txns), fmt(s.snapshot_only_serving_s, 2),
        fmt(s.rss_serving_mib), fmt(s.rss_settled_mib), fmt(s.rss_peak_mib), fmt(s.cpu_s, 1),
        s.runs_ok === 0 ? 'FAILED' : `${s.runs_ok}${s.runs_failed ? ` (+${s.runs_failed} failed)` : ''}`,
      ]);
    }
    if (per.zookeeper && per.paddock) {
      const zk = per.zookeeper;
      const pd = per.paddock;
      recRatio = {
        build_throughput: ratio(pd.build_creates_per_sec, zk.build_creates_per_sec),
        snapshot_bytes: ratio(pd.snapshot_bytes, zk.snapshot_bytes),
        log_bytes: ratio(pd.log_allocated_bytes, zk.log_allocated_bytes),
        first_serving: ratio(pd.first_serving_s, zk.first_serving_s),
        snapshot_only_serving: ratio(pd.snapshot_only_serving_s, zk.snapshot_only_serving_s),
        rss_serving: ratio(pd.rss_serving_mib, zk.rss_serving_mib),
        rss_settled: ratio(pd.rss_settled_mib, zk.rss_settled_mib),
        rss_peak: ratio(pd.rss_peak_mib, zk.rss_peak_mib),
        cpu: ratio(pd.cpu_s, zk.cpu_s),
      };
      const r = recRatio as Record<string, number | undefined>;
      rows.push(['Paddock/ZK', times(r.build_throughput), times(r.snapshot_bytes), times(r.log_bytes), times(r.first_serving), '',
        times(r.snapshot_only_serving), times(r.rss_serving), times(r.rss_settled), times(r.rss_peak), times(r.cpu), '']);
    }
    console.log(
      `\nRecovery of ${fmt(o.nodes)} znodes of ${o.nodeSize} B (start = spawn until srvr reports a version, page cache warm; ` +
        `snapshot = the full-tree snapshot written at start-up; log = all log files after the build, apparent size (allocated); ` +
        `"1st start" loads the newest snapshot and replays the log tail, later starts load the snapshot written at the previous start-up ` +
        `(median); RSS/CPU are medians over all starts, CPU = server CPU time until serving; ZooKeeper -Xmx${o.zkHeap}):\n`,
    );
    console.log(table(rows, 1));
  }
  for (const [server, why] of ctx.unavailable) console.log(`\n${LABEL[server]} could not be benchmarked: ${why}`);
  for (const s of recSummaries) if (s.failure) console.log(`\n${LABEL[s.server]} recovery trouble: ${s.failure}`);

  if (o.out) {
    const report = {
      started: started.toISOString(),
      finished: new Date().toISOString(),
      machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model, loadavg_at_end: loadavg(), node: process.version, data_disk: tmpdir() },
      method: {
        durability: 'both servers standalone with forceSync=yes (default): a write is acknowledged after its txn log record is fsynced',
        writes: 'fresh server per (round, server), rounds alternate servers; warm-up, then per workload and window: own warm-up, measure; sessions = ceil(sqrt(window)) unless --sessions',
        fsyncs: 'perf stat -e syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync -p <server pid>, attached while the window is drained, over the measured interval',
        recovery: 'build with loadgen fill, SIGTERM, restart on the same zoo.cfg/dataDir; serving = first srvr reply with a version, polled every 10 ms, from spawn',
        rss: 'VmRSS of the server process tree when serving and after --settle idle seconds; peak = VmHWM',
        zookeeper_heap: `-Xmx${o.zkHeap}`,
      },
      options: o,
      writes: { cells: writeCells, summary: writeSummaries, ratios_paddock_over_zookeeper: writeRatios, fsync_counting: perfNote ?? 'perf' },
      recovery: { builds, runs, summary: recSummaries, ratios_paddock_over_zookeeper: recRatio },
      unavailable: Object.fromEntries(ctx.unavailable),
    };
    writeFileSync(o.out, JSON.stringify(report, null, 2) + '\n');
    console.log(`\nresults written to ${o.out}`);
  }
  const anyOk = writeCells.some((c) => c.ok) || runs.some((r) => r.ok);
  process.exitCode = anyOk ? 0 : 1;
}

await main();
