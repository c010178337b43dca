// Shared pieces of the benchmark drivers (bench/run.ts, bench/durability.ts,
// bench/ensemble.ts, bench/client.ts): /proc probes of the server processes,
// compiling and driving bench/loadgen.c against a LoadTarget (one standalone
// server or the members of an ensemble), loading the built client from dist/,
// and the small statistics/table helpers. See bench/README.md.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type * as PaddockClient from '../src/client/index.ts';
import type { RunningServer } from '../test/support/servers.ts';

export type Kind = RunningServer['kind'];
export const LABEL: Record<Kind, string> = { zookeeper: 'ZooKeeper', paddock: 'Paddock' };

const HERE = dirname(fileURLToPath(import.meta.url));

/** Child processes (load generators, probes) to kill if the driver is interrupted. */
export const liveChildren = new Set<ChildProcess>();

// ------------------------------------------------------------- /proc probes

const CLK_TCK = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

interface ProcStat {
  ppid: number;
  ticks: number; // utime + stime + cutime + cstime
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after "(comm)": state ppid ... utime(14) stime(15) cutime(16) cstime(17)
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) };
  } catch {
    return undefined;
  }
}

/** The server process and all its live descendants (Paddock might fork workers). */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(Number(name));
    if (!st) continue;
    const list = children.get(st.ppid) ?? [];
    list.push(Number(name));
    children.set(st.ppid, list);
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length) {
    const p = todo.pop()!;
    out.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return out;
}

/** CPU seconds (user+system, including reaped children) of the process tree. */
export function treeCpuSeconds(root: number): number {
  let ticks = 0;
  for (const pid of processTree(root)) ticks += readStat(pid)?.ticks ?? 0;
  return ticks / CLK_TCK;
}

/** A "Vm…:  N kB" field of /proc/<pid>/status summed over the process tree, KiB (VmRSS = resident, VmHWM = peak resident). */
export function treeStatusKiB(root: number, field = 'VmRSS'): number {
  let kib = 0;
  const re = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm');
  for (const pid of processTree(root)) {
    try {
      const m = re.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) kib += Number(m[1]);
    } catch {
      // process went away
    }
  }
  return kib;
}

/** Resident set size of the process tree, KiB. */
export const treeRssKiB = (root: number) => treeStatusKiB(root, 'VmRSS');

// ------------------------------------------------------------ built client

const BUILT_CLIENT = new URL('../dist/client/index.js', import.meta.url);

/** The client as the package ships it (dist/, JavaScript), not the sources: what an application imports as `paddock`. */
export async function builtClient(): Promise<typeof PaddockClient> {
  if (!existsSync(BUILT_CLIENT)) throw new Error(`${fileURLToPath(BUILT_CLIENT)} is missing: run \`npm run build\` first`);
  return (await import(BUILT_CLIENT.href)) as typeof PaddockClient;
}

// ------------------------------------------------------------- command line

/** A driver's usage(): prints `msg`, if any, and the usage `text`, then exits 2. */
export const usageOf = (driver: string, text: string) => (msg?: string): never => {
  if (msg) console.error(`${driver}: ${msg}`);
  console.error(`usage: ${text}`);
  process.exit(2);
};

/** Readers of option values for a driver's parser; a bad value goes to `usage`, which exits. */
export function optionReaders(usage: (msg: string) => never) {
  return {
    /** a number in [min, max] */
    num(v: string | undefined, name: string, min: number, max: number): number {
      const n = Number(v);
      if (v === undefined || !Number.isFinite(n) || n < min || n > max) usage(`${name} needs a number in [${min}, ${max}]`);
      return n;
    },
    /** a comma-separated list of `allowed` words */
    list<T extends string>(v: string | undefined, name: string, allowed: readonly T[]): T[] {
      const xs = (v ?? '').split(',').filter(Boolean) as T[];
      if (!xs.length || xs.some((x) => !allowed.includes(x))) usage(`${name} takes ${allowed.join(',')}`);
      return xs;
    },
  };
}

export type OptionReaders = ReturnType<typeof optionReaders>;

/**
 * A driver's command line over `o`, its defaults (already those of --quick
 * when given): each flag of `numeric` sets a field to a number in [min, max],
 * each of `valued` hands its value to a setter; --quick is skipped, --help and
 * anything unknown go to `usage`.
 */
export function parseFlags<O extends object>(
  argv: string[],
  o: O,
  usage: (msg?: string) => never,
  numeric: Record<string, [keyof O, number, number]>,
  valued: Record<string, (v: string | undefined, read: OptionReaders, flag: string) => void>,
): O {
  const read = optionReaders(usage);
  for (let i = 0; i < argv.length; i++) {
    const [a, v] = [argv[i], argv[i + 1]];
    if (a === '--quick') continue;
    if (a === '--help' || a === '-h') usage();
    i++;
    if (a in numeric) {
      const [field, min, max] = numeric[a];
      (o as Record<keyof O, unknown>)[field] = read.num(v, a, min, max);
    } else if (a in valued) valued[a](v, read, a);
    else usage(`unknown argument ${a}`);
  }
  return o;
}

// ------------------------------------------------------------------ loadgen

export function compileLoadgen(dir: string): string {
  const bin = join(dir, 'loadgen');
  const r = spawnSync(
    'gcc',
    ['-O2', '-Wall', '-DTHREADED', '-o', bin, join(HERE, 'loadgen.c'), '-lzookeeper_mt', '-lpthread'],
    { encoding: 'utf8', timeout: 120_000 },
  );
  if (r.error || r.status !== 0) {
    throw new Error(`compiling bench/loadgen.c failed (needs gcc and libzookeeper-mt-dev):\n${r.error ?? ''}${r.stderr}`);
  }
  return bin;
}

export interface LoadgenResult {
  workload: string;
  window: number;
  sessions: number;
  size: number;
  ops: number;
  errors: number;
  first_error: number;
  seconds: number;
  client_cpu_s: number;
  ops_per_sec: number;
  mean_us: number;
  p50_us: number;
  p99_us: number;
  max_us: number;
  connect_p50_us?: number;
  connect_p99_us?: number;
  /** with --mark: from the driver's mark to the first success issued after it (-1: none) */
  mark_to_ok_us?: number;
}

/** One loadgen invocation: `workload` is loadgen's --workload (get, set, create, connect, fill). */
export interface LoadSpec {
  workload: string;
  window: number;
  sessions: number;
  size: number;
  warmup: number;
  duration: number;
  /** loadgen's --engine: raw (its own one-thread protocol client) or zkclient (the C client); default zkclient */
  engine?: Engine;
  /** extra loadgen arguments, e.g. ['--ops', '1000000', '--base', '/bench'] */
  extra?: string[];
}

export const ENGINES = ['raw', 'zkclient'] as const;
export type Engine = (typeof ENGINES)[number];

/**
 * What loadgen drives and whose cost is measured: the server processes (CPU
 * and RSS summed over them) and the hosts clients connect to. With `spread`,
 * loadgen's sessions go round-robin over the hosts of `connectString`
 * (session i to host i mod n) instead of each picking one at random.
 */
export interface LoadTarget {
  connectString: string;
  spread?: boolean;
  pids: number[];
  /** why the target can no longer serve (a server process exited), if so */
  gone(): string | undefined;
}

const exitOf = (s: RunningServer) => s.proc.exitCode ?? s.proc.signalCode;

/** The load target of servers (one standalone server, or every member of an ensemble with `spread`). */
export function serversTarget(servers: RunningServer[], spread = false): LoadTarget {
  return {
    connectString: servers.map((s) => s.connectString).join(','),
    spread,
    pids: servers.map((s) => s.proc.pid!),
    gone: () => {
      const dead = servers.filter((s) => !s.proc.pid || exitOf(s) !== null);
      return dead.length ? `server exited during the run (${dead.map((s) => `${s.connectString}: ${exitOf(s)}`).join(', ')})` : undefined;
    },
  };
}

export interface Measurement {
  ok: boolean;
  error?: string;
  result?: LoadgenResult;
  server_cpu_s?: number;
  cpu_s_per_10k_ops?: number;
  /** RSS summed over the target's processes */
  rss_avg_mib?: number;
  rss_peak_mib?: number;
  /** with several processes: each one's average RSS, in the order of LoadTarget.pids */
  rss_avg_mib_each?: number[];
  rss_samples?: number;
}

export interface MeasureHooks {
  /** called at the quiescent point before the measured phase (window drained), before the CPU sample is taken */
  beforeMeasure?: () => Promise<void>;
  /**
   * called once the measured phase has begun; `mark` hands loadgen the time of an
   * event (process.hrtime.bigint(), the same CLOCK_MONOTONIC) and must be called
   * exactly once: give the spec `--mark` in extra
   */
  whileMeasuring?: (mark: (ns: bigint) => void) => Promise<void>;
  /** called once loadgen has printed its result, with the window drained again and before loadgen cleans up */
  afterMeasure?: () => Promise<void>;
}

const loadgenArgs = (target: LoadTarget, s: LoadSpec) => [
  '--host', target.connectString,
  ...(target.spread ? ['--spread'] : []),
  '--workload', s.workload,
  '--window', String(s.window),
  '--sessions', String(s.sessions),
  '--size', String(s.size),
  '--warmup', String(s.warmup),
  '--duration', String(s.duration),
  '--engine', s.engine ?? 'zkclient',
  ...(s.extra ?? []),
];

const sumCpuSeconds = (pids: number[]) => pids.reduce((s, pid) => s + treeCpuSeconds(pid), 0);

/**
 * Run one measured loadgen (with --handshake) against a target; sample the
 * servers' CPU time exactly around the measured ops and their RSS every 100 ms.
 */
export function measureLoadgen(
  bin: string,
  target: LoadTarget,
  spec: LoadSpec,
  hooks: MeasureHooks = {},
  hardLimitS = spec.warmup + spec.duration + 45,
): Promise<Measurement> {
  const pids = target.pids;
  const args = [...loadgenArgs(target, spec), '--handshake'];
  return new Promise((resolveCell) => {
    const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    liveChildren.add(child);
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    child.stdin!.on('error', () => {}); // loadgen may exit before reading
    let cpu0 = 0;
    let sampler: NodeJS.Timeout | undefined;
    let rssSum = 0;
    let rssN = 0;
    let rssPeak = 0;
    const rssEach = pids.map(() => 0);
    const sample = () => {
      const each = pids.map(treeRssKiB);
      const kib = each.reduce((a, b) => a + b, 0);
      if (kib > 0) {
        each.forEach((k, i) => (rssEach[i] += k));
        rssSum += kib;
        rssN++;
        rssPeak = Math.max(rssPeak, kib);
      }
    };
    let cell: Measurement | undefined;
    // Backstop: loadgen bounds itself (deadline + drain + session timeout), this is in case it does not.
    const hardLimitMs = hardLimitS * 1000;
    const killer = setTimeout(() => {
      cell ??= { ok: false, error: `loadgen exceeded ${hardLimitS} s and was killed` };
      child.kill('SIGKILL');
    }, hardLimitMs);
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      if (line === 'READY') {
        void (async () => {
          await hooks.beforeMeasure?.().catch(() => {});
          cpu0 = sumCpuSeconds(pids);
          sample();
          sampler = setInterval(sample, 100);
          child.stdin!.write('\n');
          if (hooks.whileMeasuring) {
            let marked = false;
            const mark = (ns: bigint) => {
              if (!marked) child.stdin!.write(`${ns}\n`);
              marked = true;
            };
            await hooks.whileMeasuring(mark).catch(() => {});
            mark(0n); // none given: loadgen must not wait for it past its deadline
          }
        })();
      } else if (line.startsWith('{')) {
        const cpu1 = sumCpuSeconds(pids);
        clearInterval(sampler);
        sample();
        try {
          const result = JSON.parse(line) as LoadgenResult;
          const cpu = cpu1 - cpu0;
          cell = {
            ok: result.ops > 0,
            error: result.ops > 0 ? undefined : `no successful ops (${result.errors} errors, first ZK error code ${result.first_error})`,
            result,
            server_cpu_s: round3(cpu),
            cpu_s_per_10k_ops: result.ops > 0 ? round3((cpu / result.ops) * 10_000) : undefined,
            rss_avg_mib: rssN ? round1(rssSum / rssN / 1024) : undefined,
            rss_peak_mib: rssN ? round1(rssPeak / 1024) : undefined,
            rss_avg_mib_each: rssN && pids.length > 1 ? rssEach.map((k) => round1(k / rssN / 1024)) : undefined,
            rss_samples: rssN,
          };
        } catch (e) {
          cell = { ok: false, error: `unparsable loadgen output: ${line}` };
        }
        void (async () => {
          await hooks.afterMeasure?.().catch(() => {});
          child.stdin!.end('\n');
        })();
      }
    });
    child.on('error', (e) => {
      cell ??= { ok: false, error: `loadgen: ${e.message}` };
    });
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      clearInterval(sampler);
      liveChildren.delete(child);
      const tail = stderr.trim().split('\n').filter((l) => !l.startsWith('loadgen: warm-up')).slice(-5).join(' | ');
      cell ??= { ok: false, error: `loadgen exited (${signal ?? code}) without a result${tail ? `: ${tail}` : ''}` };
      const gone = target.gone();
      if (gone) {
        cell.ok = false;
        cell.error = `${cell.error ? cell.error + '; ' : ''}${gone}`;
      }
      resolveCell(cell);
    });
  });
}

/**
 * Unmeasured load, each spec for `seconds / specs.length` (at least 0.2 s), so a
 * fresh JVM gets its JIT done. Returns trouble, if any.
 */
export async function warmServer(bin: string, target: LoadTarget, specs: LoadSpec[], seconds: number): Promise<string | undefined> {
  if (seconds <= 0 || !specs.length) return undefined;
  const each = Math.max(0.2, seconds / specs.length);
  const trouble: string[] = [];
  for (const spec of specs) {
    const args = loadgenArgs(target, { ...spec, warmup: 0, duration: each });
    const res = await new Promise<string | undefined>((done) => {
      const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      liveChildren.add(child);
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr += d));
      const killer = setTimeout(() => child.kill('SIGKILL'), (each + 45) * 1000);
      child.on('error', (e) => done(`${spec.workload}: ${e.message}`));
      child.on('close', (code, signal) => {
        clearTimeout(killer);
        liveChildren.delete(child);
        done(code === 0 ? undefined : `${spec.workload}: loadgen exited ${signal ?? code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
      });
    });
    if (res) trouble.push(res);
    const gone = target.gone();
    if (gone) {
      trouble.push(gone);
      break;
    }
  }
  return trouble.length ? trouble.join('; ') : undefined;
}

// ------------------------------------------------------------------ summary

export const round1 = (x: number) => Math.round(x * 10) / 10;
export const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** Nearest-rank percentile (p in (0, 100]) of unsorted samples. */
export function percentile(xs: number[], p: number): number | undefined {
  if (!xs.length) return undefined;
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

export function median(xs: number[]): number | undefined {
  if (!xs.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** What every summary of one cell's rounds holds: rounds that worked, load errors, the first failure, medians of the throughput fields. */
export interface RoundsSummary {
  rounds_ok: number;
  rounds_failed: number;
  ops_per_sec?: number;
  p50_us?: number;
  p99_us?: number;
  cpu_s_per_10k_ops?: number;
  errors: number;
  failure?: string;
}

/**
 * Summarise the measurements of one cell (one workload on one server, over
 * rounds): the common fields, plus the median of each of `extra`'s fields over
 * the rounds that worked.
 */
export function summarizeRounds<C extends Measurement, X extends string>(
  mine: C[],
  extra: Record<X, (c: C) => number | undefined>,
): RoundsSummary & Partial<Record<X, number>> {
  const ok = mine.filter((c) => c.ok && c.result);
  const med = (f: (c: C) => number | undefined) => {
    const m = median(ok.map(f).filter((x): x is number => x !== undefined));
    return m === undefined ? undefined : round3(m);
  };
  const extras = Object.fromEntries(Object.entries<(c: C) => number | undefined>(extra).map(([k, f]) => [k, med(f)])) as Partial<Record<X, number>>;
  return {
    rounds_ok: ok.length,
    rounds_failed: mine.length - ok.length,
    ops_per_sec: med((c) => c.result!.ops_per_sec),
    p50_us: med((c) => c.result!.p50_us),
    p99_us: med((c) => c.result!.p99_us),
    cpu_s_per_10k_ops: med((c) => c.cpu_s_per_10k_ops),
    ...extras,
    errors: mine.reduce((n: number, c) => n + (c.result?.errors ?? 0), 0),
    failure: mine.find((c) => !c.ok)?.error,
  };
}

export const ratio = (a?: number, b?: number) => (a !== undefined && b !== undefined && b > 0 ? round3(a / b) : undefined);

/** "1.23x" or "-" */
export const times = (v?: number) => (v === undefined ? '-' : `${v.toFixed(2)}x`);

export function fmt(x: number | undefined, digits = 0): string {
  if (x === undefined) return '-';
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Plain-text table: the first `leftColumns` columns left-aligned, the rest right-aligned. */
export function table(rows: string[][], leftColumns = 2): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i < leftColumns ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}
