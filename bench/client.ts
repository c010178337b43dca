// Client benchmark: Paddock's client (the built package, dist/) against
// node-zookeeper-client and the `zookeeper` npm package (a binding to
// ZooKeeper's C client) on the same server, then server start-up to first
// read for the built package against Apache ZooKeeper 3.8.
//
//   node --import tsx bench/client.ts [--quick] [--clients paddock,node-zookeeper-client,zookeeper]
//        [--servers paddock,zookeeper] [--ops get,set] [--windows 1,256] [--rounds N]
//        [--warmup S] [--duration S] [--server-warmup S] [--startups N]
//        [--native-dir DIR] [--out results.json]
//
// Part 1: for each server kind (a fresh standalone server of that kind; the
// client should not care which), the bench creates one 1 KiB znode, warms the
// server up, then measures each (op, window) cell for every client in turn,
// rotating the clients' order each round. Every cell is one child process
// (bench/client-worker.ts) running one library, so its CPU time is that
// client's own. The `zookeeper` package is installed at bench time into a
// cache directory under the OS temp dir (never into the repo): it compiles
// ZooKeeper's C client and a node-gyp addon; if that fails (no compiler, no
// Node headers offline), the bench says why and goes on without it.
// Part 2: `--startups` times each kind alternately: spawn a fresh server on
// a temp config (test/support/servers.ts: `node bin/paddock.js server` runs
// dist/, ZooKeeper runs ZooKeeperServerMain) and poll it every 10 ms with the
// built package's ZooKeeperClient (connect + getData /) until a read succeeds.
// Prints medians and the ratios Paddock / other client (Paddock / ZooKeeper
// for start-up). See bench/README.md.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startServer, type RunningServer } from '../test/support/servers.ts';
import { CLIENTS, OPS, runWorker, type ClientName, type Op, type WorkerOutcome, type WorkerResult, type WorkerSpec } from './client-worker.ts';
import { builtClient, fmt, LABEL, liveChildren, median, parseFlags, ratio, round1, table, times, treeRssKiB, usageOf, type Kind } from './common.ts';

const CLIENT_LABEL: Record<ClientName, string> = {
  paddock: 'Paddock',
  'node-zookeeper-client': 'node-zookeeper-client',
  zookeeper: 'zookeeper (C binding)',
};
const OP_LABEL: Record<Op, string> = { get: 'getData 1 KiB', set: 'setData 1 KiB' };
/** the C-binding package, a fixed version so runs compare */
const NATIVE_PACKAGE = 'zookeeper@7.3.0';
const ZNODE = '/bench-client';
const SIZE = 1024;

// ------------------------------------------------------------------ options

interface Options {
  clients: ClientName[];
  servers: Kind[];
  ops: Op[];
  windows: number[];
  rounds: number;
  warmup: number;
  duration: number;
  serverWarmup: number;
  startups: number;
  nativeDir?: string;
  out?: string;
}

const usage: (msg?: string) => never = usageOf(
  'bench:client',
  'node --import tsx bench/client.ts [--quick] [--clients paddock,node-zookeeper-client,zookeeper] [--servers paddock,zookeeper]\n' +
    '       [--ops get,set] [--windows 1,256] [--rounds N] [--warmup S] [--duration S] [--server-warmup S] [--startups N]\n' +
    '       [--native-dir DIR] [--out FILE]',
);

/** numeric options: flag -> [field, min, max] */
const NUMERIC: Record<string, [keyof Options, number, number]> = {
  '--rounds': ['rounds', 1, 20],
  '--warmup': ['warmup', 0, 120],
  '--duration': ['duration', 0.2, 300],
  '--server-warmup': ['serverWarmup', 0, 600],
  '--startups': ['startups', 0, 50],
};

function parseArgs(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const o: Options = {
    clients: [...CLIENTS],
    servers: quick ? ['paddock'] : ['paddock', 'zookeeper'],
    ops: [...OPS],
    windows: [1, 256],
    rounds: quick ? 1 : 2,
    warmup: quick ? 0.5 : 1,
    duration: quick ? 1.5 : 3,
    serverWarmup: quick ? 1 : 4,
    startups: quick ? 3 : 5,
  };
  return parseFlags(argv, o, usage, NUMERIC, {
    '--clients': (v, { list }, flag) => (o.clients = list(v, flag, CLIENTS)),
    '--servers': (v, { list }, flag) => (o.servers = list(v, flag, ['paddock', 'zookeeper'] as const)),
    '--ops': (v, { list }, flag) => (o.ops = list(v, flag, OPS)),
    '--windows': (v, { num }, flag) => (o.windows = (v ?? '').split(',').map((w) => num(w, flag, 1, 4096))),
    '--native-dir': (v) => (o.nativeDir = v ? resolve(v) : usage('--native-dir needs a path')),
    '--out': (v) => (o.out = v ? resolve(v) : usage('--out needs a path')),
  });
}

// ------------------------------------------------------- the C-binding client

/**
 * Install NATIVE_PACKAGE into `dir` (default: a cache directory under the OS
 * temp dir, reused while it loads) and check that it loads. Node's headers
 * for node-gyp come from /usr/include/node when they are of this Node's major
 * version (Debian's), since node-gyp cannot download them offline.
 */
function installNative(dir: string | undefined): { dir: string } | { why: string } {
  const target = dir ?? join(tmpdir(), `paddock-bench-${NATIVE_PACKAGE.replace('@', '-')}-abi${process.versions.modules}`);
  const loads = () => {
    const r = spawnSync(process.execPath, ['-e', "require('zookeeper')"], { cwd: target, encoding: 'utf8', timeout: 30_000 });
    if (r.status === 0) return undefined;
    const lines = (r.stderr || String(r.error)).trim().split('\n');
    return lines.find((l) => /^\w*Error\b/.test(l)) ?? lines[0];
  };
  if (existsSync(join(target, 'node_modules', 'zookeeper'))) {
    const trouble = loads();
    if (!trouble) return { dir: target };
    if (dir) return { why: `${NATIVE_PACKAGE} in ${dir} does not load: ${trouble}` };
  } else if (dir) return { why: `${dir} holds no node_modules/zookeeper` };
  mkdirSync(target, { recursive: true });
  writeFileSync(join(target, 'package.json'), '{ "private": true }\n');
  const headers = '/usr/include/node/node_version.h';
  const headersMajor = existsSync(headers) ? /NODE_MAJOR_VERSION (\d+)/.exec(readFileSync(headers, 'utf8'))?.[1] : undefined;
  const env = headersMajor === process.versions.node.split('.')[0] ? { ...process.env, npm_config_nodedir: '/usr' } : process.env;
  console.log(`installing ${NATIVE_PACKAGE} (compiles ZooKeeper's C client and an addon; about a minute) into ${target} ...`);
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--no-package-lock', NATIVE_PACKAGE], {
    cwd: target,
    env,
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (r.error || r.status !== 0) {
    const tail = `${r.error ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-6).join(' | ');
    return { why: `npm install ${NATIVE_PACKAGE} failed (${r.signal ?? r.status}): ${tail}` };
  }
  const trouble = loads();
  return trouble ? { why: `${NATIVE_PACKAGE} installed but does not load: ${trouble}` } : { dir: target };
}

interface Cell {
  server: Kind;
  op: Op;
  window: number;
  client: ClientName;
  round: number;
  outcome: WorkerOutcome;
}

interface CellSummary {
  server: Kind;
  op: Op;
  window: number;
  client: ClientName;
  rounds_ok: number;
  ops_per_sec?: number;
  p50_us?: number;
  p99_us?: number;
  cpu_us_per_op?: number;
  rss_mib?: number;
  failure?: string;
}

function summarize(cells: Cell[], key: Omit<CellSummary, 'rounds_ok'>): CellSummary {
  const mine = cells.filter((c) => c.server === key.server && c.op === key.op && c.window === key.window && c.client === key.client);
  const ok = mine.flatMap((c) => (c.outcome.ok ? [c.outcome.result] : []));
  const med = (f: (r: WorkerResult) => number) => median(ok.map(f));
  return {
    ...key,
    rounds_ok: ok.length,
    ops_per_sec: med((r) => r.ops_per_sec),
    p50_us: med((r) => r.p50_us),
    p99_us: med((r) => r.p99_us),
    cpu_us_per_op: med((r) => r.cpu_us_per_op),
    rss_mib: med((r) => r.rss_mib),
    failure: mine.flatMap((c) => (c.outcome.ok ? [] : [c.outcome.error])).at(0),
  };
}

/** Measure every (op, window, client) cell on one server, `rounds` times, the clients' order rotated each round. */
async function clientCells(server: RunningServer, o: Options, clients: ClientName[], nativeDir: string | undefined, cells: Cell[]): Promise<void> {
  const kind = server.kind;
  const { connect } = await builtClient();
  const zk = await connect(server.connectString);
  await zk.create(ZNODE, Buffer.alloc(SIZE, 'x'));
  await zk.close();
  const spec = (client: ClientName, op: Op, window: number): WorkerSpec => ({
    client, connectString: server.connectString, path: ZNODE, op, window, size: SIZE, warmup: o.warmup, duration: o.duration, nativeDir,
  });
  for (const op of o.serverWarmup > 0 ? o.ops : []) {
    const warm = await runWorker({ ...spec('paddock', op, 256), warmup: 0, duration: o.serverWarmup / o.ops.length });
    if (!warm.ok) console.log(`${LABEL[kind]} server warm-up (${op}) trouble: ${warm.error}`);
  }
  for (let round = 1; round <= o.rounds; round++) {
    const order = clients.map((_, i) => clients[(i + round - 1) % clients.length]);
    for (const op of o.ops) {
      for (const window of o.windows) {
        for (const client of order) {
          const outcome = await runWorker(spec(client, op, window));
          cells.push({ server: kind, op, window, client, round, outcome });
          const tag = `${LABEL[kind]} server  ${OP_LABEL[op]} x${String(window).padEnd(4)} round ${round}  ${CLIENT_LABEL[client].padEnd(22)}`;
          if (outcome.ok) {
            const r = outcome.result;
            console.log(`${tag} ${fmt(r.ops_per_sec).padStart(7)} ops/s  p50 ${fmt(r.p50_us).padStart(7)} µs  p99 ${fmt(r.p99_us).padStart(7)} µs  CPU ${fmt(r.cpu_us_per_op, 1).padStart(6)} µs/op  RSS ${fmt(r.rss_mib)} MiB`);
          } else console.log(`${tag} FAILED: ${outcome.error}`);
          if (server.proc.exitCode !== null || server.proc.signalCode !== null) throw new Error(`the ${LABEL[kind]} server exited: ${server.output().trim().split('\n').slice(-5).join(' | ')}`);
        }
      }
    }
  }
}

// ----------------------------------------------------------------- start-up

interface StartupRun {
  server: Kind;
  ok: boolean;
  error?: string;
  /** from just before the spawn to the first successful getData */
  ms?: number;
  /** server RSS right then */
  rss_mib?: number;
  attempts?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Start a fresh server of `kind` and poll it with the built client until a getData of / succeeds (bounded by `limitMs`). */
async function timeStartup(kind: Kind, limitMs = 60_000): Promise<StartupRun> {
  const { ZooKeeperClient } = await builtClient();
  const t0 = performance.now();
  const srv = await startServer(kind, { noWait: true });
  try {
    for (let attempts = 1; performance.now() - t0 < limitMs; attempts++) {
      if (srv.proc.exitCode !== null || srv.proc.signalCode !== null) {
        return { server: kind, ok: false, error: `exited during start-up: ${srv.output().trim().split('\n').slice(-5).join(' | ')}` };
      }
      const client = await ZooKeeperClient.connect(srv.connectString, { connectTimeout: 2000 }).catch(() => undefined);
      const read = await client?.getData('/').then(() => true, () => false);
      if (read) {
        const ms = performance.now() - t0;
        const rss = treeRssKiB(srv.proc.pid!);
        await client!.close().catch(() => {});
        return { server: kind, ok: true, ms: round1(ms), rss_mib: round1(rss / 1024), attempts };
      }
      client?.disconnect();
      await sleep(10);
    }
    return { server: kind, ok: false, error: `no getData succeeded within ${limitMs / 1000} s` };
  } finally {
    await srv.stop();
  }
}

// --------------------------------------------------------------------- main

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const started = new Date();
  const live = new Set<RunningServer>();
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\nbench:client: ${sig}, stopping everything`);
    for (const c of liveChildren) c.kill('SIGKILL');
    void Promise.all([...live].map((s) => s.stop().catch(() => {}))).finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  await builtClient(); // fails early, with the remedy, when dist/ is missing
  let clients = o.clients;
  let nativeDir: string | undefined;
  let nativeWhy: string | undefined;
  if (clients.includes('zookeeper')) {
    const native = installNative(o.nativeDir);
    if ('dir' in native) nativeDir = native.dir;
    else {
      nativeWhy = native.why;
      clients = clients.filter((c) => c !== 'zookeeper');
      console.log(`the zookeeper (C binding) client is left out: ${nativeWhy}`);
    }
  }
  const cellsPerServer = o.rounds * o.ops.length * o.windows.length * clients.length;
  const est = o.servers.length * (o.serverWarmup + cellsPerServer * (o.warmup + o.duration + 1.5)) + o.startups * 6;
  console.log(
    `Client benchmark: clients ${clients.join(', ')}; servers ${o.servers.join(', ')}; ${o.ops.join(', ')} of ${SIZE} bytes at ${o.windows.join(', ')} in flight ` +
      `(one session); ${o.rounds} rounds, per cell warm-up ${o.warmup} s + measure ${o.duration} s in a process of its own; ` +
      `${o.startups} start-ups of each server; ${cpus().length} CPUs, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}; about ${(est / 60).toFixed(1)} min`,
  );

  const cells: Cell[] = [];
  const trouble: string[] = [];
  for (const kind of o.servers) {
    if (interrupted) return;
    let server: RunningServer | undefined;
    try {
      server = await startServer(kind);
      live.add(server);
      await clientCells(server, o, clients, nativeDir, cells);
    } catch (e) {
      const msg = `${LABEL[kind]} server: ${(e as Error).message.split('\n').slice(0, 6).join(' | ')}`;
      trouble.push(msg);
      console.log(msg);
    } finally {
      if (server) {
        live.delete(server);
        await server.stop();
      }
    }
  }
  const startups: StartupRun[] = [];
  for (let i = 0; i < o.startups * 2 && !interrupted; i++) {
    const kind: Kind = i % 2 ? 'paddock' : 'zookeeper';
    const run = await timeStartup(kind);
    startups.push(run);
    console.log(`start-up ${Math.floor(i / 2) + 1} ${LABEL[kind].padEnd(9)} ` + (run.ok ? `first read after ${fmt(run.ms)} ms (RSS ${fmt(run.rss_mib)} MiB, ${run.attempts} attempts)` : `FAILED: ${run.error}`));
  }
  if (interrupted) return;

  // ---- tables
  const summaries: CellSummary[] = [];
  const ratios: Record<string, unknown>[] = [];
  const rows = [['server', 'workload', 'client', 'ops/s', 'p50 µs', 'p99 µs', 'CPU µs/op', 'RSS MiB', 'rounds']];
  const ratioRows = [['server', 'workload', 'Paddock / other client', 'ops/s', 'p99', 'CPU/op']];
  for (const server of o.servers) {
    for (const op of o.ops) {
      for (const window of o.windows) {
        const workload = `${OP_LABEL[op]} x${window}`;
        const per = new Map(clients.map((client) => [client, summarize(cells, { server, op, window, client })]));
        for (const [client, s] of per) {
          summaries.push(s);
          rows.push([
            LABEL[server], workload, CLIENT_LABEL[client], fmt(s.ops_per_sec), fmt(s.p50_us), fmt(s.p99_us), fmt(s.cpu_us_per_op, 1), fmt(s.rss_mib),
            s.rounds_ok ? `${s.rounds_ok}` : `FAILED: ${s.failure ?? 'not run'}`,
          ]);
        }
        const pd = per.get('paddock');
        for (const [client, other] of per) {
          if (client === 'paddock' || !pd) continue;
          const r = {
            server, op, window, other: client,
            ops_per_sec: ratio(pd.ops_per_sec, other.ops_per_sec),
            p99: ratio(pd.p99_us, other.p99_us),
            cpu_per_op: ratio(pd.cpu_us_per_op, other.cpu_us_per_op),
          };
          ratios.push(r);
          ratioRows.push([LABEL[server], workload, `/ ${CLIENT_LABEL[client]}`, times(r.ops_per_sec), times(r.p99), times(r.cpu_per_op)]);
        }
      }
    }
  }
  console.log(`\nMedians across rounds (one session per client process; CPU = user+sys of the client's process over the measured phase):\n`);
  console.log(table(rows, 3));
  if (ratioRows.length > 1) {
    console.log(`\nRatios Paddock client / other client (ops/s: above 1 is better for Paddock; p99 and CPU/op: below 1 is better):\n`);
    console.log(table(ratioRows, 3));
  }
  const startupOf = (server: Kind) => {
    const ok = startups.filter((s) => s.server === server && s.ok);
    return {
      runs: ok.length,
      failed: startups.filter((s) => s.server === server && !s.ok).length,
      median_ms: median(ok.map((s) => s.ms!)),
      min_ms: ok.length ? Math.min(...ok.map((s) => s.ms!)) : undefined,
      max_ms: ok.length ? Math.max(...ok.map((s) => s.ms!)) : undefined,
      rss_median_mib: median(ok.map((s) => s.rss_mib!)),
    };
  };
  const startupSummary = { zookeeper: startupOf('zookeeper'), paddock: startupOf('paddock') };
  const startupRatio = ratio(startupSummary.paddock.median_ms, startupSummary.zookeeper.median_ms);
  if (o.startups > 0) {
    const srows = [['server', 'spawn -> first read ms (median)', 'min', 'max', 'RSS then MiB', 'runs']];
    for (const kind of ['zookeeper', 'paddock'] as const) {
      const s = startupSummary[kind];
      srows.push([LABEL[kind], fmt(s.median_ms), fmt(s.min_ms), fmt(s.max_ms), fmt(s.rss_median_mib), `${s.runs}${s.failed ? ` (+${s.failed} failed)` : ''}`]);
    }
    srows.push(['Paddock/ZK', times(startupRatio), '', '', times(ratio(startupSummary.paddock.rss_median_mib, startupSummary.zookeeper.rss_median_mib)), '']);
    console.log(`\nServer start-up to first successful getData (built package vs ZooKeeper 3.8, fresh data directory):\n`);
    console.log(table(srows, 1));
  }
  if (nativeWhy) console.log(`\nzookeeper (C binding) was not measured: ${nativeWhy}`);
  console.log(`\nfinished in ${((Date.now() - started.getTime()) / 60_000).toFixed(1)} min; load now ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  for (const t of trouble) console.log(`\n${t}`);

  if (o.out) {
    const report = {
      started: started.toISOString(),
      finished: new Date().toISOString(),
      machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model, loadavg_at_end: loadavg(), node: process.version },
      options: o,
      native: nativeDir ? { package: NATIVE_PACKAGE, dir: nativeDir } : { package: NATIVE_PACKAGE, left_out: nativeWhy },
      cells,
      summary: summaries,
      ratios_paddock_over_other: ratios,
      startups,
      startup_summary: startupSummary,
      startup_ratio_paddock_over_zookeeper: startupRatio,
      trouble,
    };
    writeFileSync(o.out, JSON.stringify(report, null, 2) + '\n');
    console.log(`\nresults written to ${o.out}`);
  }
  process.exitCode = cells.some((c) => c.outcome.ok) || startups.some((s) => s.ok) ? 0 : 1;
}

await main();
