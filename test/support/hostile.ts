// Hostile clients against a real server process, and what they cost the
// others: each scenario runs one kind of misbehaving client while a
// well-behaved session keeps reading and writing, samples the server's RSS
// from /proc/<pid>/status (and its CPU time from /proc/<pid>/stat), and
// reports the good client's latencies and whether its session survived.
// test/hostile.test.ts asserts bounds on these figures for Paddock (with
// ZooKeeper 3.8 run as the printed control); bench/hostile.ts prints them as
// ratios Paddock/ZooKeeper. Every loop and wait here is bounded.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { AddWatchMode, OpCode, Xid } from '../../src/proto/constants.ts';
import { HealthyClient, OPEN_ACL, RawConn, connectPayload, frame, openSession, rawRequestPayload, requestPayload, sleep } from './rawclient.ts';
import { fourLetterWord, startServer, type RunningServer } from './servers.ts';

export const MiB = 1 << 20;

/** What one scenario did to one server. */
export interface Outcome {
  kind: RunningServer['kind'];
  /** server RSS before the hostile clients started, and the highest sample while they ran (MiB) */
  rssBefore: number;
  rssPeak: number;
  /** server CPU time while the hostile clients ran, as % of one core */
  cpu: number;
  /** the good client: requests answered, failed (error or no reply within its timeout), latencies (ms) */
  answered: number;
  failed: number;
  p50: number;
  p99: number;
  max: number;
  /** the good client's session still works afterwards */
  sessionKept: boolean;
  /** scenario-specific figures */
  extra: Record<string, number | boolean | string>;
}

export interface Scenario {
  id: 'slow-1mb' | 'slow-100kib' | 'silent' | 'watcher' | 'drip' | 'idle' | 'flood' | 'fuzz';
  name: string;
  /** tickTime for the server (default 2000) */
  tickTime?: number;
  /** open files the test process and the server need (the soft limit is raised before the server starts) */
  fds?: number;
  /** build state with a setup client, then misbehave while the good client runs; return extra figures */
  run(server: RunningServer, setup: HealthyClient): Promise<Record<string, number | boolean | string>>;
}

// ---- measuring a process ----

export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** user+system CPU time of a process, in ms (clock ticks of 10 ms, as Linux reports them to /proc). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Raise this process's soft limit on open files to `needed` (servers started later inherit it). */
export function ensureFdLimit(needed: number): number {
  const m = /Max open files\s+(\d+)\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
  const [soft, hard] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
  if (soft >= needed) return soft;
  if (hard < needed) throw new Error(`open-file limit ${hard} is below the ${needed} this scenario needs`);
  execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${hard}:${hard}`]);
  return hard;
}

const quantile = (sorted: number[], q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN);

/**
 * Start a server of `kind`, prepare it, then run the scenario while a good
 * client does getData (and every tenth request setData) on its own node, one
 * request at a time with a short pause, and RSS is sampled every 50 ms.
 */
export async function measure(kind: RunningServer['kind'], scenario: Scenario): Promise<Outcome> {
  if (scenario.fds) ensureFdLimit(scenario.fds);
  const server = await startServer(kind, { tickTime: scenario.tickTime ?? 2000 });
  const pid = server.proc.pid!;
  const setup = await HealthyClient.connect(server.host, server.port, 10_000);
  const good = await HealthyClient.connect(server.host, server.port, 10_000);
  try {
    await good.create('/good', Buffer.from('good'));
    const rssBefore = rssMiB(pid);
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssMiB(pid))), 50);
    const latencies: number[] = [];
    let failed = 0;
    let running = true;
    const goodLoop = (async () => {
      for (let i = 0; running; i++) {
        const t0 = performance.now();
        try {
          if (i % 10 === 9) await good.setData('/good', Buffer.from(`good ${i}`));
          else await good.getData('/good');
          latencies.push(performance.now() - t0);
        } catch {
          failed++;
          if (failed > 3) return; // the session is gone; the outcome says so
        }
        await sleep(10);
      }
    })();
    const cpu0 = cpuMs(pid);
    const t0 = performance.now();
    let extra: Record<string, number | boolean | string>;
    try {
      extra = await scenario.run(server, setup);
    } finally {
      running = false;
      await goodLoop;
      clearInterval(sampler);
    }
    const cpu = ((cpuMs(pid) - cpu0) / (performance.now() - t0)) * 100;
    rssPeak = Math.max(rssPeak, rssMiB(pid));
    const sessionKept = await good.getData('/good').then(
      () => true,
      () => false,
    );
    latencies.sort((a, b) => a - b);
    return { kind, rssBefore, rssPeak, cpu, answered: latencies.length, failed, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), max: latencies.at(-1) ?? NaN, sessionKept, extra };
  } finally {
    await good.close().catch(() => undefined);
    await setup.close().catch(() => undefined);
    await server.stop();
  }
}

// ---- the hostile clients ----

/**
 * A create (reads queue behind a session's writes, so their replies could
 * come all at once), then pipelined getData requests for `path`, `bytes` worth of them.
 */
function getDataBurst(path: string, bytes: number): Buffer {
  const one = (xid: number) => frame(requestPayload(xid, { type: OpCode.getData, path, watch: false }));
  const frames: Buffer[] = [frame(requestPayload(1, { type: OpCode.create, path: '/slow-consumer', data: null, acl: OPEN_ACL, flags: 1 }))];
  for (let xid = 2, total = 0; total < bytes; xid++) {
    const f = one(xid);
    frames.push(f);
    total += f.length;
  }
  return Buffer.concat(frames);
}

/** Read mntr into a map. */
export async function mntr(server: RunningServer): Promise<Map<string, string>> {
  const text = await fourLetterWord(server.host, server.port, 'mntr');
  return new Map(text.trim().split('\n').map((l) => l.split('\t') as [string, string]));
}

/**
 * A client that completes its handshake, stops reading, and pipelines a create
 * and 64 KiB of getData for a large znode: thousands of replies of `size`
 * bytes that it never takes.
 */
export function slowConsumer(size: number, holdMs = 3000): Scenario {
  return {
    id: size >= 1_000_000 ? 'slow-1mb' : 'slow-100kib',
    name: `slow consumer, ${size >= 1_000_000 ? '1 MB' : `${size >> 10} KiB`} znode`,
    async run(server, setup) {
      await setup.create('/big', Buffer.alloc(size, 7));
      const { conn } = await openSession(server.host, server.port, { timeOut: 30_000 });
      try {
        conn.socket.pause();
        const burst = getDataBurst('/big', 64 << 10);
        conn.socket.write(burst); // not awaited: the server may stop reading it
        await sleep(holdMs);
        const m = await mntr(server).catch(() => new Map<string, string>()); // a server stuck in copies does not answer
        return { requests: Math.round(burst.length / 21), outstanding: m.get('zk_outstanding_requests') ?? '-', throttled: m.get('zk_read_throttled_count') ?? '-' };
      } finally {
        conn.destroy();
      }
    },
  };
}

/**
 * Sessions with a 4 s timeout that go silent after the handshake (each with a
 * watch set): how long until the server closes their connections, and do
 * their watches go.
 */
export function silentSessions(count = 50, timeOut = 4000): Scenario {
  return {
    id: 'silent',
    name: `${count} silent sessions, ${timeOut} ms timeout`,
    async run(server, setup) {
      await setup.create('/silent');
      const conns: { conn: RawConn; sessionId: bigint; since: number }[] = [];
      for (let i = 0; i < count; i++) {
        const { conn, session } = await openSession(server.host, server.port, { timeOut });
        await conn.write(frame(requestPayload(1, { type: OpCode.exists, path: '/silent', watch: true })));
        const reply = await conn.reply();
        if (reply.err !== 0) throw new Error(`exists /silent: error ${reply.err}`);
        conns.push({ conn, sessionId: session.sessionId, since: Date.now() });
      }
      const watchesBefore = watchTotal(await fourLetterWord(server.host, server.port, 'wchs'));
      const closedAfter = await Promise.all(
        conns.map(async ({ conn, since }) => {
          const r = await conn.drain(timeOut + 8000);
          conn.destroy();
          return r.timedOut ? Infinity : Date.now() - since;
        }),
      );
      await sleep(200);
      const watchesAfter = watchTotal(await fourLetterWord(server.host, server.port, 'wchs'));
      const expiryLogged = conns.every(({ sessionId }) => server.output().includes(`Expiring session 0x${BigInt.asUintN(64, sessionId).toString(16)}, timeout of ${timeOut}ms exceeded`));
      return { closedWithinMs: Math.max(...closedAfter), allClosed: closedAfter.every(Number.isFinite), watchesBefore, watchesAfter, expiryLogged };
    },
  };
}

function watchTotal(wchs: string): number {
  return Number(/Total watches:(\d+)/.exec(wchs)?.[1] ?? NaN);
}

/**
 * A client with a persistent recursive watch on / that never reads, while a
 * writer changes nodes with long paths: notifications for a peer that takes
 * none. Afterwards: was it dropped, and does its session still work?
 */
export function neverReadingWatcher(writeMs = 5000, timeOut = 20_000): Scenario {
  return {
    id: 'watcher',
    name: 'never-reading recursive watcher',
    async run(server, setup) {
      const long = '/' + 'w'.repeat(3000);
      const paths = Array.from({ length: 50 }, (_, i) => `${long}${i}`);
      for (const p of paths) await setup.create(p);
      const { conn, session } = await openSession(server.host, server.port, { timeOut });
      await conn.write(frame(requestPayload(1, { type: OpCode.addWatch, path: '/', mode: AddWatchMode.persistentRecursive })));
      if ((await conn.reply()).err !== 0) throw new Error('addWatch failed');
      conn.socket.pause();
      const ops = paths.map((path) => ({ type: OpCode.setData, path, data: Buffer.from('x'), version: -1 }) as const);
      let multis = 0;
      const deadline = Date.now() + writeMs;
      while (Date.now() < deadline) {
        await Promise.all(Array.from({ length: 8 }, () => setup.ok({ type: OpCode.multi, ops })));
        multis += 8;
      }
      // A paused socket sees no close: read what is buffered, and see whether the server ended the connection.
      conn.socket.resume();
      const dropped = !(await conn.drain(2000)).timedOut;
      conn.destroy();
      // The session outlives its connection: reattach with its id and password.
      const again = await RawConn.open(server.host, server.port);
      const re = await again.handshake({ timeOut, sessionId: session.sessionId, passwd: session.passwd }).catch(() => null);
      again.destroy();
      const m = await mntr(server);
      return { notifications: multis * paths.length, dropped, sessionReattached: re !== null && re.sessionId === session.sessionId, disconnects: m.get('zk_backpressure_disconnect_count') ?? '-' };
    },
  };
}

/**
 * Connections that each send most of a maximal request quickly, then one byte
 * a millisecond: a frame that takes forever to complete.
 */
export function slowDrip(connections = 4, dripMs = 3000): Scenario {
  return {
    id: 'drip',
    name: `slow-drip frames, ${connections} connections`,
    async run(server, setup) {
      await setup.create('/drip');
      const payload = requestPayload(1, { type: OpCode.setData, path: '/drip', data: Buffer.alloc(1_000_000, 1), version: -1 });
      const whole = frame(payload);
      const conns = await Promise.all(Array.from({ length: connections }, () => openSession(server.host, server.port, { timeOut: 30_000 })));
      try {
        const head = 1_000_000 - 8 * dripMs; // leaves more than dripMs bytes to drip
        await Promise.all(conns.map(({ conn }) => conn.write(whole.subarray(0, head))));
        let at = head;
        let bytes = 0;
        const deadline = Date.now() + dripMs;
        while (Date.now() < deadline) {
          for (const { conn } of conns) void conn.write(whole.subarray(at, at + 1));
          at++;
          bytes += conns.length;
          await sleep(1);
        }
        return { dripped: bytes, alive: conns.filter(({ conn }) => !conn.closed).length };
      } finally {
        for (const { conn } of conns) conn.destroy();
      }
    },
  };
}

/**
 * `count` connections with sessions that then sit idle: memory per connection.
 * ZooKeeper, the control, gets `openMs` to open them (it opens a few hundred
 * sessions a second here, and the first ones would expire unpinged before the
 * last were open); Paddock opens them all.
 */
export function idleConnections(count = 10_000, holdMs = 2000, openMs = 10_000): Scenario {
  return {
    id: 'idle',
    name: `${count} idle connections`,
    fds: count + 1000,
    async run(server) {
      const rss0 = rssMiB(server.proc.pid!);
      const conns: RawConn[] = [];
      const deadline = server.kind === 'zookeeper' ? Date.now() + openMs : Infinity;
      try {
        for (let i = 0; i < count && Date.now() < deadline; i += 250) {
          const batch = await Promise.all(Array.from({ length: Math.min(250, count - i) }, () => openSession(server.host, server.port, { timeOut: 30_000 })));
          conns.push(...batch.map((b) => b.conn));
        }
        await sleep(holdMs);
        const m = await mntr(server);
        const perConnKiB = ((rssMiB(server.proc.pid!) - rss0) * 1024) / conns.length;
        return { opened: conns.length, connections: Number(m.get('zk_num_alive_connections')), perConnKiB: Math.round(perConnKiB * 10) / 10 };
      } finally {
        for (const c of conns) c.destroy();
      }
    },
  };
}

/** Many loops that open a connection, create a session and drop it without closing it. */
export function sessionFlood(loops = 16, floodMs = 3000): Scenario {
  return {
    id: 'flood',
    name: 'session-creation flood',
    async run(server) {
      let created = 0;
      const deadline = Date.now() + floodMs;
      await Promise.all(
        Array.from({ length: loops }, async () => {
          while (Date.now() < deadline) {
            const c = await RawConn.open(server.host, server.port);
            const s = await c.handshake({ timeOut: 4000 }).catch(() => null);
            if (s && s.sessionId !== 0n) created++;
            c.destroy();
          }
        }),
      );
      const m = await mntr(server);
      return { created, sessionsNow: Number(m.get('zk_global_sessions')) };
    },
  };
}

/** A tiny deterministic generator (xorshift32), so that a failing storm can be replayed. */
function random(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

const FUZZ_OPS = [OpCode.create, OpCode.delete, OpCode.exists, OpCode.getData, OpCode.setData, OpCode.getChildren, OpCode.getChildren2, OpCode.multi, OpCode.auth, OpCode.setWatches, OpCode.addWatch, OpCode.sync, OpCode.ping, 0, 99, -11, 1000];

/** Frames of random opcodes and random record bytes, stray lengths and cut-off frames, over many short connections. */
export function fuzzStorm(loops = 8, stormMs = 4000, seed = 20240611): Scenario {
  return {
    id: 'fuzz',
    name: 'fuzz storm',
    async run(server, setup) {
      const rnd = random(seed);
      const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
      const junk = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));
      let frames = 0;
      let connections = 0;
      const deadline = Date.now() + stormMs;
      // the checked healthy client: every value it writes reads back
      let checked = 0;
      const checker = (async () => {
        await setup.create('/checked');
        for (let i = 0; Date.now() < deadline; i++) {
          const value = Buffer.from(`value ${i}`);
          await setup.setData('/checked', value);
          const { data } = await setup.getData('/checked');
          if (!data?.equals(value)) throw new Error(`/checked reads ${data?.toString()}, wrote ${value.toString()}`);
          checked++;
        }
      })();
      await Promise.all(
        Array.from({ length: loops }, async () => {
          while (Date.now() < deadline) {
            const c = await RawConn.open(server.host, server.port);
            connections++;
            const parts: Buffer[] = rnd() < 0.8 ? [frame(connectPayload({ timeOut: 4000 }))] : [];
            const n = 1 + Math.floor(rnd() * 40);
            for (let i = 0; i < n; i++) {
              const r = rnd();
              if (r < 0.85) parts.push(frame(rawRequestPayload(pick([1, 2, 3, Xid.ping, Xid.auth, -1, 0x7fffffff]), pick(FUZZ_OPS), junk(Math.floor(rnd() * 64)))));
              else if (r < 0.95) parts.push(junk(1 + Math.floor(rnd() * 16)));
              else parts.push(frame(junk(8)).subarray(0, 4 + Math.floor(rnd() * 8)));
            }
            frames += n;
            await c.write(Buffer.concat(parts));
            await c.drain(rnd() < 0.5 ? 20 : 200);
            c.destroy();
          }
        }),
      );
      await checker;
      return { frames, connections, checked, alive: (await fourLetterWord(server.host, server.port, 'ruok')) === 'imok' };
    },
  };
}

/** The scenarios of issue 7, in the order they are reported. */
export function allScenarios(): Scenario[] {
  return [slowConsumer(1_000_000), slowConsumer(100 << 10), silentSessions(), neverReadingWatcher(), slowDrip(), idleConnections(), sessionFlood(), fuzzStorm()];
}

/** One line per server for a scenario: the figures side by side. */
export function describeOutcome(o: Outcome): string {
  const f = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : String(n));
  const extra = Object.entries(o.extra)
    .map(([k, v]) => `${k}=${typeof v === 'number' ? f(v) : v}`)
    .join(' ');
  return `${o.kind.padEnd(9)} rss ${f(o.rssBefore)} → peak ${f(o.rssPeak)} MiB, cpu ${f(o.cpu)}%, good client ${o.answered} answered, ${o.failed} failed, p50 ${f(o.p50)} p99 ${f(o.p99)} max ${f(o.max)} ms, session ${o.sessionKept ? 'kept' : 'LOST'}; ${extra}`;
}
