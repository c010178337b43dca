// Paddock vs Apache ZooKeeper benchmark driver.
//
//   node --import tsx bench/run.ts [--quick] [--servers zookeeper,paddock]
//        [--workloads get,set,create,connect] [--rounds N] [--warmup S]
//        [--server-warmup S] [--duration S] [--window N] [--sessions N] [--connect-window N]
//        [--engine raw|zkclient] [--cfg key=value]... [--out results.json]
//
// Rounds alternate between the servers (ZK, Paddock, ZK, Paddock, ...). Each
// round starts a FRESH standalone server (test/support/servers.ts), warms it
// up with every workload in turn (--server-warmup seconds in total: the JVM
// needs ~10 s of load before its JIT settles), then measures the workloads one
// after another on that server, each after its own short warm-up. The load
// comes from bench/loadgen.c, compiled here with gcc into a temporary
// directory: its raw engine (one thread speaking the protocol) by default,
// the ZooKeeper C client's async API with --engine zkclient and always for
// connect. loadgen warms up, drains its window and
// says READY; we sample the server's CPU time and release it; it measures,
// drains and prints its JSON; we sample CPU again. So the CPU delta covers
// exactly the measured ops. RSS is sampled every 100 ms in between.
// See bench/README.md.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startServer, type RunningServer } from '../test/support/servers.ts';
import {
  compileLoadgen, ENGINES, fmt, LABEL, liveChildren, measureLoadgen, optionReaders, ratio, serversTarget, summarizeRounds, table, times, warmServer,
  type Engine, type Kind, type LoadSpec, type Measurement, type RoundsSummary,
} from './common.ts';

const WORKLOADS = ['get', 'set', 'create', 'connect'] as const;
type Workload = (typeof WORKLOADS)[number];
const DESCRIBE: Record<Workload, string> = {
  get: 'getData 1 KiB',
  set: 'setData 1 KiB',
  create: 'create+delete 1 KiB',
  connect: 'session connect+close',
};

// ------------------------------------------------------------------ options

interface Options {
  servers: Kind[];
  workloads: Workload[];
  rounds: number;
  serverWarmup: number;
  warmup: number;
  duration: number;
  window: number;
  sessions: number;
  connectWindow: number;
  engine: Engine;
  out?: string;
  quick: boolean;
  /** extra zoo.cfg lines for both servers, e.g. forceSync=no */
  cfg: Record<string, string>;
}

function usage(msg?: string): never {
  if (msg) console.error(`bench: ${msg}`);
  console.error(
    'usage: node --import tsx bench/run.ts [--quick] [--servers zookeeper,paddock] [--workloads get,set,create,connect]\n' +
      '       [--rounds N] [--server-warmup S] [--warmup S] [--duration S] [--window N] [--sessions N] [--connect-window N] [--engine raw|zkclient] [--cfg key=value]... [--out FILE]',
  );
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const o: Options = {
    servers: ['zookeeper', 'paddock'],
    workloads: [...WORKLOADS],
    rounds: quick ? 2 : 3,
    serverWarmup: quick ? 5 : 8,
    warmup: quick ? 0.5 : 2,
    duration: quick ? 1.5 : 6,
    window: 32,
    sessions: 4,
    connectWindow: 4,
    engine: 'raw',
    quick,
    cfg: {},
  };
  const { num, list } = optionReaders(usage);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    switch (a) {
      case '--quick':
        break;
      case '--servers':
        o.servers = list(v, a, ['zookeeper', 'paddock'] as const);
        i++;
        break;
      case '--workloads':
        o.workloads = list(v, a, WORKLOADS);
        i++;
        break;
      case '--rounds':
        o.rounds = num(v, a, 1, 20);
        i++;
        break;
      case '--warmup':
        o.warmup = num(v, a, 0, 120);
        i++;
        break;
      case '--server-warmup':
        o.serverWarmup = num(v, a, 0, 600);
        i++;
        break;
      case '--duration':
        o.duration = num(v, a, 0.2, 300);
        i++;
        break;
      case '--window':
        o.window = num(v, a, 1, 4096);
        i++;
        break;
      case '--sessions':
        o.sessions = num(v, a, 1, 256);
        i++;
        break;
      case '--engine':
        o.engine = list(v, a, ENGINES)[0];
        i++;
        break;
      case '--connect-window':
        o.connectWindow = num(v, a, 1, 64);
        i++;
        break;
      case '--cfg': {
        const m = /^([\w.]+)=(.*)$/.exec(v ?? '');
        if (!m) usage('--cfg takes key=value (a zoo.cfg line)');
        o.cfg[m[1]] = m[2];
        i++;
        break;
      }
      case '--out':
        if (!v) usage('--out needs a path');
        o.out = resolve(v);
        i++;
        break;
      case '--help':
      case '-h':
        usage();
      default:
        usage(`unknown argument ${a}`);
    }
  }
  return o;
}

// ------------------------------------------------------------------ loadgen

interface Cell extends Measurement {
  workload: Workload;
  server: Kind;
  round: number;
}

const liveServers = new Set<RunningServer>();

function spec(workload: Workload, o: Options): LoadSpec {
  return {
    workload,
    window: workload === 'connect' ? o.connectWindow : o.window,
    sessions: o.sessions,
    size: 1024,
    warmup: o.warmup,
    duration: o.duration,
    engine: workload === 'connect' ? 'zkclient' : o.engine,
  };
}

// ------------------------------------------------------------------ summary

interface Summary extends RoundsSummary {
  workload: Workload;
  server: Kind;
  rss_avg_mib?: number;
  rss_peak_mib?: number;
}

function summarize(cells: Cell[], workload: Workload, server: Kind): Summary {
  const mine = cells.filter((c) => c.workload === workload && c.server === server);
  return { workload, server, ...summarizeRounds(mine, { rss_avg_mib: (c) => c.rss_avg_mib, rss_peak_mib: (c) => c.rss_peak_mib }) };
}

// --------------------------------------------------------------------- main

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const started = new Date();
  const tmp = mkdtempSync(join(tmpdir(), 'paddock-bench-'));
  let interrupted = false;
  const cleanup = async () => {
    for (const c of liveChildren) c.kill('SIGKILL');
    await Promise.all([...liveServers].map((s) => s.stop().catch(() => {})));
    rmSync(tmp, { recursive: true, force: true });
  };
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\nbench: ${sig}, stopping everything`);
    void cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const cells: Cell[] = [];
  const unavailable = new Map<Kind, string>(); // server -> why it is skipped
  const skipWorkload = new Map<string, string>(); // `${server}/${workload}` -> why
  try {
    const bin = compileLoadgen(tmp);
    const perServer = 1 + o.serverWarmup + o.workloads.length * (o.warmup + o.duration + 0.4);
    const est = o.rounds * o.servers.length * perServer;
    console.log(
      `Paddock benchmark: servers ${o.servers.join(', ')}; workloads ${o.workloads.join(', ')}; ${o.rounds} rounds, ` +
        `fresh server per round; server warm-up ${o.serverWarmup} s, then per workload warm-up ${o.warmup} s + measure ${o.duration} s; ` +
        `window ${o.window} over ${o.sessions} sessions (connect: ${o.connectWindow} concurrent); ` +
        (Object.keys(o.cfg).length ? `extra zoo.cfg ${Object.entries(o.cfg).map(([k, v]) => `${k}=${v}`).join(' ')}; ` : '') +
        `${cpus().length} CPUs, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}; about ${(est / 60).toFixed(1)} min`,
    );
    for (let round = 1; round <= o.rounds; round++) {
      for (const server of o.servers) {
        if (interrupted) return;
        if (unavailable.has(server)) continue;
        const workloads = o.workloads.filter((w) => !skipWorkload.has(`${server}/${w}`));
        if (!workloads.length) continue;
        const tag = (w: Workload) => `${DESCRIBE[w].padEnd(22)} round ${round} ${LABEL[server].padEnd(9)}`;
        let srv: RunningServer;
        try {
          srv = await startServer(server, { cfg: o.cfg });
          liveServers.add(srv);
        } catch (e) {
          const msg = `failed to start: ${String((e as Error).message ?? e).split('\n').slice(0, 6).join(' | ')}`;
          unavailable.set(server, msg);
          for (const workload of workloads) cells.push({ workload, server, round, ok: false, error: msg });
          console.log(`round ${round} ${LABEL[server]} ${msg}\n    -> ${LABEL[server]} skipped for the rest of the run`);
          continue;
        }
        try {
          const warm = await warmServer(bin, serversTarget([srv]), workloads.map((w) => ({ ...spec(w, o), warmup: 0 })), o.serverWarmup);
          if (warm) console.log(`round ${round} ${LABEL[server]} warm-up trouble: ${warm}`);
          for (const workload of workloads) {
            if (interrupted) return;
            const cell: Cell = { workload, server, round, ...(await measureLoadgen(bin, serversTarget([srv]), spec(workload, o))) };
            if (interrupted) return;
            cells.push(cell);
            if (cell.ok && cell.result) {
              const r = cell.result;
              console.log(
                `${tag(workload)} ${fmt(r.ops_per_sec).padStart(7)} ops/s  p50 ${fmt(r.p50_us).padStart(6)} µs  p99 ${fmt(r.p99_us).padStart(6)} µs  ` +
                  `CPU ${fmt(cell.cpu_s_per_10k_ops, 2)} s/10k  RSS ${fmt(cell.rss_avg_mib)}/${fmt(cell.rss_peak_mib)} MiB` +
                  (r.errors ? `  (${r.errors} errors, first ${r.first_error})` : ''),
              );
            } else {
              console.log(`${tag(workload)} FAILED: ${cell.error}`);
              if (round === 1) {
                skipWorkload.set(`${server}/${workload}`, `failed in round 1: ${cell.error}`);
                console.log(`    -> ${LABEL[server]} skipped for ${workload} in later rounds`);
              }
            }
            if (srv.proc.exitCode !== null || srv.proc.signalCode !== null) {
              console.log(`round ${round} ${LABEL[server]} server died; rest of this round skipped. Output tail:\n` +
                srv.output().trim().split('\n').slice(-8).map((l) => `    ${l}`).join('\n'));
              break;
            }
          }
        } finally {
          await srv.stop();
          liveServers.delete(srv);
        }
      }
    }
  } finally {
    if (!interrupted) await cleanup();
  }

  // ---- summary table
  const summaries: Summary[] = [];
  const ratios: Record<string, unknown>[] = [];
  const rows: string[][] = [
    ['workload', 'server', 'ops/s', 'p50 µs', 'p99 µs', 'CPU s/10k ops', 'RSS avg MiB', 'RSS peak MiB', 'rounds'],
  ];
  for (const workload of o.workloads) {
    const per: Partial<Record<Kind, Summary>> = {};
    for (const server of o.servers) {
      const s = summarize(cells, workload, server);
      per[server] = s;
      summaries.push(s);
      const fail = s.rounds_ok === 0 ? (unavailable.get(server) ?? s.failure ?? 'not run') : undefined;
      rows.push([
        DESCRIBE[workload],
        LABEL[server],
        fmt(s.ops_per_sec),
        fmt(s.p50_us),
        fmt(s.p99_us),
        fmt(s.cpu_s_per_10k_ops, 2),
        fmt(s.rss_avg_mib),
        fmt(s.rss_peak_mib),
        fail ? 'FAILED' : `${s.rounds_ok}${s.rounds_failed ? ` (+${s.rounds_failed} failed)` : ''}${s.errors ? ` ${s.errors} err` : ''}`,
      ]);
    }
    if (per.zookeeper && per.paddock) {
      const zk = per.zookeeper;
      const pd = per.paddock;
      const r = {
        workload,
        throughput: ratio(pd.ops_per_sec, zk.ops_per_sec),
        p50: ratio(pd.p50_us, zk.p50_us),
        p99: ratio(pd.p99_us, zk.p99_us),
        cpu_per_op: ratio(pd.cpu_s_per_10k_ops, zk.cpu_s_per_10k_ops),
        rss_avg: ratio(pd.rss_avg_mib, zk.rss_avg_mib),
        rss_peak: ratio(pd.rss_peak_mib, zk.rss_peak_mib),
      };
      ratios.push(r);
      rows.push([DESCRIBE[workload], 'Paddock/ZK', times(r.throughput), times(r.p50), times(r.p99), times(r.cpu_per_op), times(r.rss_avg), times(r.rss_peak), '']);
    }
  }
  console.log(
    `\nMedians across rounds (fresh server per round; ops/s and latency from loadgen; CPU = server user+sys time over the measured interval; RSS sampled every 100 ms):\n`,
  );
  console.log(table(rows));
  for (const [server, why] of unavailable) console.log(`\n${LABEL[server]} could not be benchmarked: ${why}`);
  for (const [key, why] of skipWorkload) console.log(`${key}: ${why}`);

  if (o.out) {
    const report = {
      started: started.toISOString(),
      finished: new Date().toISOString(),
      machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model, loadavg_at_end: loadavg(), node: process.version },
      method: {
        server: 'fresh standalone server per (round, server), rounds alternate servers; server warm-up with every workload, then each workload: own warm-up, measure',
        loadgen: 'bench/loadgen.c, ZooKeeper C client (libzookeeper_mt) async API',
        latency: 'per op, monotonic clock, issue to completion; percentiles nearest-rank; connect = init..CONNECTED..close',
        cpu: 'utime+stime(+reaped children) of the server process tree from /proc/<pid>/stat, delta over the measured interval',
        rss: 'VmRSS of the server process tree from /proc/<pid>/status, sampled every 100 ms during the measured interval',
      },
      options: o,
      cells,
      summary: summaries,
      ratios_paddock_over_zookeeper: ratios,
      unavailable: Object.fromEntries(unavailable),
    };
    writeFileSync(o.out, JSON.stringify(report, null, 2) + '\n');
    console.log(`\nresults written to ${o.out}`);
  }
  const anyOk = cells.some((c) => c.ok);
  process.exitCode = anyOk ? 0 : 1;
}

await main();
