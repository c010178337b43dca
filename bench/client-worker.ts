// One client library under load in a process of its own, for bench/client.ts,
// so that the process's CPU time (process.cpuUsage) is that client's alone.
//
//   node --import tsx bench/client-worker.ts '<WorkerSpec as JSON>'
//
// Opens one session with the library named by the spec — Paddock's client as
// the package ships it (dist/), node-zookeeper-client (pure JavaScript), or the
// `zookeeper` package (a binding to ZooKeeper's C client, loaded from the
// directory bench/client.ts installed it into) — and keeps `window` getData or
// setData requests of one znode in flight: each of `window` loops awaits its
// request, records the latency, and issues the next, until the deadline; the
// requests in flight at the deadline are awaited and counted. First a
// warm-up, unrecorded; then the measured phase, around which CPU time is
// sampled. Prints one JSON line, a WorkerResult, or {"error": ...} and exit 1.
// runWorker() is the parent's side: it runs a spec in such a process.
// Mirrors no ZooKeeper class: it plays the part of bench/loadgen.c for Node
// clients.

import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ROOT } from '../test/support/servers.ts';
import { builtClient, liveChildren, percentile, round1, round3 } from './common.ts';

export const CLIENTS = ['paddock', 'node-zookeeper-client', 'zookeeper'] as const;
export type ClientName = (typeof CLIENTS)[number];
export const OPS = ['get', 'set'] as const;
export type Op = (typeof OPS)[number];

export interface WorkerSpec {
  client: ClientName;
  connectString: string;
  /** the znode read or written; it exists */
  path: string;
  op: Op;
  window: number;
  /** bytes written by setData */
  size: number;
  warmup: number;
  duration: number;
  /** where the `zookeeper` package is installed (client 'zookeeper' only) */
  nativeDir?: string;
}

export interface WorkerResult {
  ops: number;
  seconds: number;
  ops_per_sec: number;
  p50_us: number;
  p99_us: number;
  max_us: number;
  /** user+system CPU time of this process over the measured phase, per op */
  cpu_us_per_op: number;
  /** resident set size at the end */
  rss_mib: number;
}

/** What the load loop needs of a library: one session's getData and setData, awaited. */
interface Session {
  getData(path: string): Promise<unknown>;
  setData(path: string, data: Buffer): Promise<unknown>;
  close(): Promise<void>;
}

// ---- the parts of the two other libraries used here

type NzcCallback<T> = (error: Error | null, result: T) => void;
interface NzcClient {
  connect(): void;
  close(): void;
  once(event: 'connected', fn: () => void): void;
  getData(path: string, watcher: undefined, cb: NzcCallback<Buffer>): void;
  setData(path: string, data: Buffer, version: number, cb: NzcCallback<unknown>): void;
}
interface NzcModule {
  createClient(connectString: string, options: { sessionTimeout: number; spinDelay: number; retries: number }): NzcClient;
}

interface NativeClient {
  once(event: 'connect', fn: () => void): void;
  init(config: object): void;
  get(path: string, watch: boolean): Promise<unknown>;
  set(path: string, data: Buffer, version: number): Promise<unknown>;
  close(): void;
}
interface NativeModule {
  new (config: { connect: string; timeout: number; debug_level: number; host_order_deterministic: boolean; data_as_buffer: boolean }): NativeClient;
  constants: { ZOO_LOG_LEVEL_WARN: number };
}

const SESSION_TIMEOUT_MS = 30_000;
const require = createRequire(import.meta.url);

/** Each library used the way its README shows, with the session timeout above. */
const OPENERS: Record<ClientName, (spec: WorkerSpec) => Promise<Session>> = {
  async paddock({ connectString }) {
    const { connect } = await builtClient();
    const zk = await connect(connectString, { sessionTimeout: SESSION_TIMEOUT_MS });
    return { getData: (p) => zk.getData(p), setData: (p, d) => zk.setData(p, d), close: () => zk.close() };
  },
  async 'node-zookeeper-client'({ connectString }) {
    const nzc = require('node-zookeeper-client') as NzcModule;
    const zk = nzc.createClient(connectString, { sessionTimeout: SESSION_TIMEOUT_MS, spinDelay: 100, retries: 0 });
    await new Promise<void>((resolve) => {
      zk.once('connected', resolve);
      zk.connect();
    });
    const promised = <T>(call: (cb: NzcCallback<T>) => void) =>
      new Promise<T>((resolve, reject) => call((err, result) => (err ? reject(err) : resolve(result))));
    return {
      getData: (p) => promised<Buffer>((cb) => zk.getData(p, undefined, cb)),
      setData: (p, d) => promised<unknown>((cb) => zk.setData(p, d, -1, cb)),
      close: async () => zk.close(),
    };
  },
  async zookeeper({ connectString, nativeDir }) {
    if (!nativeDir) throw new Error('the zookeeper client needs nativeDir (where the package is installed)');
    const ZooKeeper = createRequire(join(nativeDir, 'package.json'))('zookeeper') as NativeModule;
    const zk = new ZooKeeper({
      connect: connectString,
      timeout: SESSION_TIMEOUT_MS,
      debug_level: ZooKeeper.constants.ZOO_LOG_LEVEL_WARN,
      host_order_deterministic: false,
      data_as_buffer: true,
    });
    await new Promise<void>((resolve) => {
      zk.once('connect', resolve);
      zk.init({});
    });
    return { getData: (p) => zk.get(p, false), setData: (p, d) => zk.set(p, d, -1), close: async () => zk.close() };
  },
};

/** Keep `window` requests in flight until `until` (performance.now() ms); latencies (ms) go into `into`, if given. */
async function load(request: () => Promise<unknown>, window: number, until: number, into?: number[]): Promise<void> {
  const loop = async () => {
    while (performance.now() < until) {
      const t = performance.now();
      await request();
      into?.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: window }, loop));
}

export type WorkerOutcome = { ok: true; result: WorkerResult } | { ok: false; error: string };

/** Run `spec` in a worker process (this file as a program); kill it if it outlives its warm-up and duration by a minute. */
export function runWorker(spec: WorkerSpec): Promise<WorkerOutcome> {
  const limitS = spec.warmup + spec.duration + 60;
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), JSON.stringify(spec)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    liveChildren.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const killer = setTimeout(() => child.kill('SIGKILL'), limitS * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      liveChildren.delete(child);
      const line = stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
      const parsed = line ? (JSON.parse(line) as WorkerResult | { error: string }) : undefined;
      if (parsed && !('error' in parsed) && code === 0) return done({ ok: true, result: parsed });
      const why = parsed && 'error' in parsed ? parsed.error : `exited (${signal ?? code}) without a result`;
      const tail = stderr.trim().split('\n').slice(-4).join(' | ');
      done({ ok: false, error: `${why}${signal === 'SIGKILL' ? ` (killed after ${limitS} s)` : ''}${tail ? `: ${tail}` : ''}` });
    });
  });
}

// ------------------------------------------------------------ the program

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '') as WorkerSpec;
  const session = await OPENERS[spec.client](spec);
  const payload = Buffer.alloc(spec.size, spec.client[0]);
  const request = spec.op === 'get' ? () => session.getData(spec.path) : () => session.setData(spec.path, payload);
  await load(request, spec.window, performance.now() + spec.warmup * 1000);
  const latencies: number[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await load(request, spec.window, t0 + spec.duration * 1000, latencies);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const us = (p: number) => round1(percentile(latencies, p)! * 1000);
  const result: WorkerResult = {
    ops: latencies.length,
    seconds: round3(seconds),
    ops_per_sec: Math.round(latencies.length / seconds),
    p50_us: us(50),
    p99_us: us(99),
    max_us: us(100),
    cpu_us_per_op: round3((cpu.user + cpu.system) / latencies.length),
    rss_mib: round1(process.memoryUsage().rss / 2 ** 20),
  };
  await session.close();
  process.stdout.write(JSON.stringify(result) + '\n');
}

// run as a program (bench/client.ts imports this file only for its names and types)
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      process.stdout.write(JSON.stringify({ error: e instanceof Error ? e.message : String(e) }) + '\n');
      process.exit(1);
    },
  );
}
