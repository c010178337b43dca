// Ensemble benchmark: a 3-peer Paddock ensemble against a 3-peer Apache
// ZooKeeper 3.8 ensemble on this machine, in the same run.
//
//   node --import tsx bench/ensemble.ts [--quick] [--servers zookeeper,paddock]
//        [--workloads get,set,mix,create] [--rounds N] [--server-warmup S]
//        [--warmup S] [--duration S] [--window N] [--sessions N]
//        [--failovers N] [--failover-limit S] [--tick MS] [--engine raw|zkclient]
//        [--cfg key=value]...
//        [--out results.json]
//
// Rounds alternate the kinds (ZK, Paddock, ZK, ...); each round starts a
// FRESH ensemble (test/support/ensemble.ts, fsync on), warms it, then measures
// each workload with bench/loadgen.c, whose sessions are spread evenly over the
// three members (--spread), on its raw engine by default (one thread speaking
// the protocol, so the latencies are the servers'; --engine zkclient for the C
// client; the failover writer always uses the C client, which reconnects). CPU is the sum over the three peers' processes
// (/proc), exactly around the measured ops; RSS is sampled per peer. Then the
// failover: a loadgen session on the two members that are not the leader
// writes one setData at a time; the leader is killed (SIGKILL) and loadgen
// reports the time from the kill to the completion of the first write issued
// after it; the survivors are polled with srvr meanwhile to tell apart the
// election (kill -> a survivor says "leader") from the rest (the client
// finding a serving member, the write). The killed peer is restarted and the
// ensemble settles before the next repetition. See bench/README.md.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { TestEnsemble } from '../test/support/ensemble.ts';
import {
  compileLoadgen, ENGINES, fmt, LABEL, liveChildren, measureLoadgen, median, parseFlags, ratio, round1, serversTarget, summarizeRounds, table, times,
  usageOf, warmServer, type Engine, type Kind, type LoadSpec, type Measurement, type RoundsSummary,
} from './common.ts';

const WORKLOADS = ['get', 'set', 'mix', 'create'] as const;
type Workload = (typeof WORKLOADS)[number];
const DESCRIBE: Record<Workload, string> = {
  get: 'getData 1 KiB',
  set: 'setData 1 KiB',
  mix: '90/10 get/set 1 KiB',
  create: 'create+delete 1 KiB',
};
const PEERS = [1, 2, 3];

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
  failovers: number;
  failoverLimit: number;
  tick: number;
  engine: Engine;
  cfg: Record<string, string>;
  out?: string;
  quick: boolean;
}

const usage: (msg?: string) => never = usageOf(
  'bench:ensemble',
  'node --import tsx bench/ensemble.ts [--quick] [--servers zookeeper,paddock] [--workloads get,set,mix,create]\n' +
    '       [--rounds N] [--server-warmup S] [--warmup S] [--duration S] [--window N] [--sessions N]\n' +
    '       [--failovers N] [--failover-limit S] [--tick MS] [--engine raw|zkclient] [--cfg key=value]... [--out FILE]',
);

/** numeric options: flag -> [field, min, max] */
const NUMERIC: Record<string, [keyof Options, number, number]> = {
  '--rounds': ['rounds', 1, 20],
  '--server-warmup': ['serverWarmup', 0, 600],
  '--warmup': ['warmup', 0, 120],
  '--duration': ['duration', 0.2, 300],
  '--window': ['window', 1, 4096],
  '--sessions': ['sessions', 1, 256],
  '--failovers': ['failovers', 0, 50],
  '--failover-limit': ['failoverLimit', 2, 600],
  '--tick': ['tick', 50, 10_000],
};

function parseArgs(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const o: Options = {
    servers: ['zookeeper', 'paddock'],
    workloads: [...WORKLOADS],
    rounds: quick ? 1 : 2,
    serverWarmup: quick ? 4 : 12,
    warmup: quick ? 0.5 : 2,
    duration: quick ? 1.5 : 6,
    window: 32,
    sessions: 6,
    failovers: quick ? 2 : 5,
    failoverLimit: 30,
    tick: 2000,
    engine: 'raw',
    cfg: {},
    quick,
  };
  return parseFlags(argv, o, usage, NUMERIC, {
    '--servers': (v, { list }, flag) => (o.servers = list(v, flag, ['zookeeper', 'paddock'] as const)),
    '--workloads': (v, { list }, flag) => (o.workloads = list(v, flag, WORKLOADS)),
    '--engine': (v, { list }, flag) => (o.engine = list(v, flag, ENGINES)[0]),
    '--cfg': (v) => {
      const m = /^([\w.]+)=(.*)$/.exec(v ?? '');
      if (!m) usage('--cfg takes key=value (a zoo.cfg line)');
      o.cfg[m[1]] = m[2];
    },
    '--out': (v) => (o.out = v ? resolve(v) : usage('--out needs a path')),
  });
}

const spec = (workload: Workload, o: Options): LoadSpec => ({
  workload,
  window: o.window,
  sessions: o.sessions,
  size: 1024,
  warmup: o.warmup,
  duration: o.duration,
  engine: o.engine,
});

// ---------------------------------------------------------------- failover

interface FailoverRun {
  server: Kind;
  round: number;
  ok: boolean;
  error?: string;
  killed?: number;
  /** kill -> the first write issued after it is acknowledged */
  write_ms?: number;
  /** kill -> a survivor answers srvr with Mode: leader */
  leader_ms?: number;
  /** failed writes (connection loss, not ready) before that success */
  errors?: number;
  /** when no write got through: each survivor's srvr mode and what it logged since the kill */
  survivors?: { id: number; mode: string | null; log: string[] }[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sinceMs = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

/** Kill the leader under a one-at-a-time writer on the survivors; restart it and let the ensemble settle again. */
async function failover(bin: string, ens: TestEnsemble, o: Options, server: Kind, round: number): Promise<FailoverRun> {
  const { leader } = await ens.settled();
  const survivors = ens.runningIds.filter((id) => id !== leader);
  const logged = new Map(survivors.map((id) => [id, ens.server(id).output().length]));
  let leaderMs: number | undefined;
  let polled: Promise<void> = Promise.resolve();
  const writer: LoadSpec = {
    workload: 'set', window: 1, sessions: 1, size: 1024, warmup: 0.5, duration: o.failoverLimit, extra: ['--mark'],
  };
  const m = await measureLoadgen(bin, serversTarget(survivors.map((id) => ens.server(id))), writer, {
    whileMeasuring: async (mark) => {
      await sleep(300);
      const t0 = process.hrtime.bigint();
      const killed = ens.kill(leader);
      mark(t0);
      await killed;
      // who leads next: poll the survivors until one says so (bounded by the writer's limit)
      polled = (async () => {
        while (leaderMs === undefined && sinceMs(t0) < o.failoverLimit * 1000) {
          const modes = await Promise.all(survivors.map((id) => ens.mode(id)));
          if (modes.includes('leader')) leaderMs = sinceMs(t0);
          else await sleep(10);
        }
      })();
    },
  });
  await polled;
  const r = m.result;
  const writeUs = r?.mark_to_ok_us;
  const run: FailoverRun = { server, round, killed: leader, ok: false, leader_ms: leaderMs && round1(leaderMs), errors: r?.errors };
  if (writeUs !== undefined && writeUs >= 0) Object.assign(run, { ok: true, write_ms: round1(writeUs / 1000) });
  else {
    run.error = m.error ?? `no write acknowledged within ${o.failoverLimit} s of the kill`;
    run.survivors = await Promise.all(
      survivors.map(async (id) => ({ id, mode: await ens.mode(id), log: ens.server(id).output().slice(logged.get(id)).trim().split('\n').slice(-40) })),
    );
  }
  await ens.start(leader, { noWait: true });
  await ens.settled();
  return run;
}

// --------------------------------------------------------------------- main

interface Cell extends Measurement {
  workload: Workload;
  server: Kind;
  round: number;
}

interface Summary extends RoundsSummary {
  workload: Workload;
  server: Kind;
  rss_peer_avg_mib?: number;
  rss_peer_max_mib?: number;
}

const peerAvg = (c: Measurement) => (c.rss_avg_mib_each ? c.rss_avg_mib_each.reduce((a, b) => a + b, 0) / c.rss_avg_mib_each.length : undefined);
const peerMax = (c: Measurement) => (c.rss_avg_mib_each ? Math.max(...c.rss_avg_mib_each) : undefined);

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const started = new Date();
  const tmp = mkdtempSync(join(tmpdir(), 'paddock-bench-ensemble-'));
  const live = new Set<TestEnsemble>();
  let interrupted = false;
  const cleanup = async () => {
    for (const c of liveChildren) c.kill('SIGKILL');
    await Promise.all([...live].map((e) => e.close().catch(() => {})));
    rmSync(tmp, { recursive: true, force: true });
  };
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\nbench:ensemble: ${sig}, stopping everything`);
    void cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const cells: Cell[] = [];
  const failovers: FailoverRun[] = [];
  const trouble: string[] = [];
  try {
    const bin = compileLoadgen(tmp);
    console.log(
      `Ensemble benchmark: 3 peers each of ${o.servers.join(', ')}; tickTime ${o.tick} ms, forceSync=yes; workloads ${o.workloads.join(', ')}; ` +
        `${o.rounds} rounds, fresh ensemble per round; warm-up ${o.serverWarmup} s, per workload ${o.warmup} s + ${o.duration} s measured; ` +
        `window ${o.window} over ${o.sessions} sessions spread over the members (${o.engine} engine); ${o.failovers} leader kills per round; ` +
        `${cpus().length} CPUs, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`,
    );
    for (let round = 1; round <= o.rounds && !interrupted; round++) {
      for (const server of o.servers) {
        if (interrupted) break;
        const ens = await TestEnsemble.create(`bench-ensemble-${server}`, PEERS.map((id) => ({ id, kind: server })), {
          tickTime: o.tick,
          cfg: { forceSync: 'yes', ...o.cfg },
          waitMs: 120_000,
        });
        live.add(ens);
        try {
          try {
            await ens.startAll();
          } catch (e) {
            const msg = `round ${round} ${LABEL[server]}: ensemble did not form: ${(e as Error).message}`;
            trouble.push(msg);
            console.log(msg);
            continue;
          }
          const target = serversTarget(PEERS.map((id) => ens.server(id)), true);
          const warm = await warmServer(bin, target, o.workloads.map((w) => ({ ...spec(w, o), warmup: 0 })), o.serverWarmup);
          if (warm) console.log(`round ${round} ${LABEL[server]} warm-up trouble: ${warm}`);
          for (const workload of o.workloads) {
            if (interrupted) break;
            const cell: Cell = { workload, server, round, ...(await measureLoadgen(bin, target, spec(workload, o))) };
            if (interrupted) break;
            cells.push(cell);
            const tag = `${DESCRIBE[workload].padEnd(20)} round ${round} ${LABEL[server].padEnd(9)}`;
            const r = cell.result;
            if (cell.ok && r) {
              console.log(
                `${tag} ${fmt(r.ops_per_sec).padStart(7)} ops/s  p50 ${fmt(r.p50_us).padStart(6)} µs  p99 ${fmt(r.p99_us).padStart(6)} µs  ` +
                  `CPU ${fmt(cell.cpu_s_per_10k_ops, 2)} s/10k  RSS/peer ${(cell.rss_avg_mib_each ?? []).map((x) => fmt(x)).join('/')} MiB` +
                  (r.errors ? `  (${r.errors} errors, first ${r.first_error})` : ''),
              );
            } else console.log(`${tag} FAILED: ${cell.error}`);
          }
          for (let k = 1; k <= o.failovers && !interrupted; k++) {
            const run = await failover(bin, ens, o, server, round).catch(
              (e: Error): FailoverRun => ({ server, round, ok: false, error: e.message }),
            );
            failovers.push(run);
            console.log(
              `failover ${k} round ${round} ${LABEL[server].padEnd(9)} ` +
                (run.ok ? `kill of leader ${run.killed} -> write ${fmt(run.write_ms)} ms (a survivor leads after ${fmt(run.leader_ms)} ms; ${run.errors} failed writes)` : `FAILED: ${run.error}`),
            );
            if (!run.ok && !ens.runningIds.length) break;
          }
        } finally {
          live.delete(ens);
          await ens.close();
        }
      }
    }
  } finally {
    if (!interrupted) await cleanup();
  }
  if (interrupted) return;

  // ---- per-server table
  const summaries: Summary[] = [];
  const rows: string[][] = [['workload', 'server', 'ops/s', 'p50 µs', 'p99 µs', 'CPU s/10k ops', 'RSS/peer MiB', 'max peer MiB', 'rounds']];
  for (const workload of o.workloads) {
    for (const server of o.servers) {
      const mine = cells.filter((c) => c.workload === workload && c.server === server);
      const s: Summary = { workload, server, ...summarizeRounds(mine, { rss_peer_avg_mib: peerAvg, rss_peer_max_mib: peerMax }) };
      summaries.push(s);
      rows.push([
        DESCRIBE[workload], LABEL[server], fmt(s.ops_per_sec), fmt(s.p50_us), fmt(s.p99_us), fmt(s.cpu_s_per_10k_ops, 2),
        fmt(s.rss_peer_avg_mib), fmt(s.rss_peer_max_mib),
        s.rounds_ok ? `${s.rounds_ok}${s.rounds_failed ? ` (+${s.rounds_failed} failed)` : ''}${s.errors ? ` ${s.errors} err` : ''}` : `FAILED: ${s.failure ?? 'not run'}`,
      ]);
    }
  }
  const failoverOf = (server: Kind) => {
    const ok = failovers.filter((f) => f.server === server && f.ok);
    const ms = ok.map((f) => f.write_ms!);
    const leaders = ok.map((f) => f.leader_ms).filter((x): x is number => x !== undefined);
    return { runs: ok.length, failed: failovers.filter((f) => f.server === server && !f.ok).length, median_ms: median(ms), min_ms: Math.min(...ms), max_ms: Math.max(...ms), leader_median_ms: median(leaders) };
  };
  const fo = Object.fromEntries(o.servers.map((s) => [s, failoverOf(s)])) as Partial<Record<Kind, ReturnType<typeof failoverOf>>>;
  console.log(`\nMedians across rounds (CPU = user+sys summed over the three peers' processes over the measured interval; RSS sampled every 100 ms):\n`);
  console.log(table(rows));
  const foRows = [['server', 'kill -> write ms (median)', 'min', 'max', 'kill -> new leader ms (median)', 'runs']];
  for (const server of o.servers) {
    const f = fo[server]!;
    foRows.push([LABEL[server], fmt(f.median_ms), f.runs ? fmt(f.min_ms) : '-', f.runs ? fmt(f.max_ms) : '-', fmt(f.leader_median_ms), `${f.runs}${f.failed ? ` (+${f.failed} failed)` : ''}`]);
  }
  console.log(`\nFailover (kill -9 of the leader; writer on the survivors, one setData at a time):\n`);
  console.log(table(foRows, 1));

  // ---- ratios against the targets of issue 6
  const ratios: Record<string, { ratio?: number; target: string; met?: boolean }> = {};
  if (o.servers.includes('zookeeper') && o.servers.includes('paddock')) {
    const get = (w: Workload, k: Kind) => summaries.find((s) => s.workload === w && s.server === k);
    const add = (name: string, r: number | undefined, target: string, atLeast: boolean, bound: number) =>
      (ratios[name] = { ratio: r, target, met: r === undefined ? undefined : atLeast ? r >= bound : r <= bound });
    const throughputTarget: Record<Workload, [string, number]> = { get: ['reads', 2], set: ['writes', 1.5], mix: ['mix', 1.8], create: ['writes', 1.5] };
    for (const w of o.workloads) {
      const [pd, zk] = [get(w, 'paddock'), get(w, 'zookeeper')];
      const [what, bound] = throughputTarget[w];
      add(`${DESCRIBE[w]} ops/s`, ratio(pd?.ops_per_sec, zk?.ops_per_sec), `>= ${bound}x (${what})`, true, bound);
      add(`${DESCRIBE[w]} p99`, ratio(pd?.p99_us, zk?.p99_us), '<= 0.5x', false, 0.5);
      ratios[`${DESCRIBE[w]} p50`] = { ratio: ratio(pd?.p50_us, zk?.p50_us), target: '' };
      ratios[`${DESCRIBE[w]} CPU/op`] = { ratio: ratio(pd?.cpu_s_per_10k_ops, zk?.cpu_s_per_10k_ops), target: '' };
      ratios[`${DESCRIBE[w]} RSS/peer`] = { ratio: ratio(pd?.rss_peer_avg_mib, zk?.rss_peer_avg_mib), target: '' };
    }
    add('failover (kill -> write)', ratio(fo.paddock?.median_ms, fo.zookeeper?.median_ms), '<= 0.5x', false, 0.5);
    const rrows = [['Paddock / ZooKeeper', 'ratio', 'target', 'met']];
    for (const [name, r] of Object.entries(ratios)) rrows.push([name, times(r.ratio), r.target, r.met === undefined ? '' : r.met ? 'yes' : 'NO']);
    console.log(`\nRatios (medians; noisy on a shared 2-core machine, where the load generator takes about a core):\n`);
    console.log(table(rrows, 1));
  }
  for (const t of trouble) console.log(`\n${t}`);

  if (o.out) {
    const report = {
      started: started.toISOString(),
      finished: new Date().toISOString(),
      machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model, loadavg_at_end: loadavg(), node: process.version },
      options: o,
      cells,
      failovers,
      summary: summaries,
      failover_summary: fo,
      ratios_paddock_over_zookeeper: ratios,
      trouble,
    };
    writeFileSync(o.out, JSON.stringify(report, null, 2) + '\n');
    console.log(`\nresults written to ${o.out}`);
  }
  process.exitCode = cells.some((c) => c.ok) || failovers.some((f) => f.ok) ? 0 : 1;
}

await main();
