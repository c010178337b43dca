// The fault suite's clients: workers, each pinned to one peer (as Jepsen's
// clients are to their nodes) with a session of Paddock's client, issuing a
// seeded mix of register and create operations and recording each in the
// History. Register ops on /reg/k<i>: reads as sync + getData ("read-sync")
// and as getData confirmed by a multi holding check(path, version)
// ("read-quorum": the check is a txn the quorum commits, so the value read was
// current at that commit), writes (setData, version -1) and compare-and-sets
// (setData with the version this worker last saw). Creates: named children of
// /set (each name used once), sequential children of /seq whose prefix
// carries the op's tag, and ephemeral children of /eph naming their session.
// At the end (once every fault is healed) a worker still connected lists /eph
// through its own session and closes it (test/faults/ephemerals.ts checks what that shows).
//
// Invariants: an op without an answer within `opTimeoutMs`, or whose
// connection dropped, is `info` and its process is retired (the worker goes on
// as a fresh process; on a live connection the abandoned request stays
// pipelined, so requests written into a paused peer's socket meet it when it
// resumes); every loop is bounded by `running()`.
//
// Mirrors nothing in ZooKeeper: Jepsen's zookeeper test's clients, on the
// wire-level client of src/client.

import { AddWatchMode, CreateMode, Err, errorName, EventType, MultiError, op, OpCode, ZkError, ZooKeeperClient, type RawReply, type Request, type RawWatchEvent } from '../../src/client/index.ts';
import { Rand } from '../support/random.ts';
import { EPHEMERAL_PARENT } from './ephemerals.ts';
import type { Fn, History, Versioned } from './history.ts';

export const REGISTER_PARENT = '/reg';
export const SET_PARENT = '/set';
export const SEQ_PARENT = '/seq';
export const registerPath = (key: number) => `${REGISTER_PARENT}/k${key}`;

export interface WorkloadOptions {
  keys: number;
  opTimeoutMs: number;
  sessionTimeoutMs: number;
  /** pause between a worker's ops, at most */
  thinkMs: number;
}

/** Thrown when an op gets no answer in time. */
class Timeout extends Error {}

/** The outcome of running one op against the server. */
type Outcome = { type: 'ok'; value: unknown } | { type: 'fail' | 'info'; error: string };

function classify(e: unknown): Outcome {
  if (e instanceof Timeout) return { type: 'info', error: e.message };
  if (e instanceof ZkError && e.code !== Err.connectionLoss && e.code !== Err.operationTimeout) return { type: 'fail', error: errorName(e.code) };
  return { type: 'info', error: e instanceof Error ? e.message : String(e) };
}

/** Process ids, unique across the run. */
export class Processes {
  private next = 0;
  take(): number {
    return this.next++;
  }
}

export class Worker {
  private client: ZooKeeperClient | undefined;
  private process: number;
  private counter = 0;
  /** requests abandoned on the current connection */
  private abandoned = 0;
  /** the version this worker last saw per key: its cas guesses */
  private readonly seen = new Map<number, number>();
  /** the current session's persistent recursive watch on /reg: the frame positions (RawReply.seq) of each key's change events */
  private events = new Map<string, number[]>();

  constructor(
    readonly peer: number,
    private readonly address: string,
    private readonly history: History,
    private readonly processes: Processes,
    private readonly rand: Rand,
    private readonly opts: WorkloadOptions,
  ) {
    this.process = processes.take();
  }

  /** Issue ops until `running()` turns false; the session stays for `finish`. */
  async run(running: () => boolean): Promise<void> {
    while (running()) {
      if (!this.client?.connected) {
        this.client = await this.connect();
        this.abandoned = 0;
        if (!this.client) await sleep(100 + this.rand.int(0, 200));
        continue;
      }
      await this.one(this.client);
      await sleep(this.rand.int(0, this.opts.thinkMs));
    }
  }

  /** A session with a persistent recursive watch on /reg whose change events are counted; undefined if either fails. */
  private async connect(): Promise<ZooKeeperClient | undefined> {
    const c = await ZooKeeperClient.connect(this.address, { sessionTimeout: this.opts.sessionTimeoutMs, connectTimeout: this.opts.opTimeoutMs }).catch(() => undefined);
    if (!c) return undefined;
    const events = new Map<string, number[]>();
    c.on('watch', (ev: RawWatchEvent) => {
      if (ev.type !== EventType.nodeDataChanged) return;
      if (!events.has(ev.path)) events.set(ev.path, []);
      events.get(ev.path)!.push(c.received);
    });
    const watching = await withTimeout(c.addWatch(REGISTER_PARENT, AddWatchMode.persistentRecursive), this.opts.opTimeoutMs).then(
      () => true,
      () => false,
    );
    if (!watching) {
      c.disconnect();
      return undefined;
    }
    this.events = events;
    return c;
  }

  /** If still connected: list /eph through this session, then close it. */
  async finish(): Promise<void> {
    const c = this.client;
    if (c?.connected) await this.listAndClose(c);
    c?.disconnect();
  }

  private async listAndClose(c: ZooKeeperClient): Promise<void> {
    const session = this.session(c);
    await this.record('own-ephemerals', EPHEMERAL_PARENT, { session }, async () => {
      await c.sync(EPHEMERAL_PARENT);
      return { children: await c.getChildren(EPHEMERAL_PARENT) };
    });
    if (!c.connected) return;
    await this.record('close', EPHEMERAL_PARENT, { session }, async () => {
      const reply = await c.send(OpCode.closeSession);
      if (reply.err !== Err.ok) throw new ZkError(reply.err, `closeSession: ${errorName(reply.err)}`);
      return {};
    });
  }

  private session(c: ZooKeeperClient): string {
    return c.sessionId.toString(16);
  }

  private async one(c: ZooKeeperClient): Promise<void> {
    const key = this.rand.int(0, this.opts.keys - 1);
    const path = registerPath(key);
    const tag = `p${this.process}x${this.counter++}`;
    const r = this.rand.next();
    if (r < 0.25) await this.record('read-sync', path, null, async () => this.saw(c, key, await readAfterSync(c, path)));
    else if (r < 0.45) await this.record('read-quorum', path, null, async () => this.saw(c, key, await quorumRead(c, path)));
    else if (r < 0.62) await this.record('write', path, { value: tag }, async () => this.saw(c, key, await setData(c, path, tag, -1)));
    else if (r < 0.8) {
      const expected = this.seen.get(key) ?? 0;
      await this.record('cas', path, { expected, value: tag }, async () => this.saw(c, key, await setData(c, path, tag, expected)));
    } else if (r < 0.88) await this.record('create', SET_PARENT, { name: `n${tag}` }, async () => ({ path: await c.create(`${SET_PARENT}/n${tag}`, tag) }));
    else if (r < 0.95) await this.record('create-seq', SEQ_PARENT, { prefix: `c${tag}-` }, async () => ({ path: await c.create(`${SEQ_PARENT}/c${tag}-`, tag, { mode: CreateMode.persistentSequential }) }));
    else await this.record('create-eph', EPHEMERAL_PARENT, { name: `e${tag}`, session: this.session(c) }, async () => ({ path: await c.create(`${EPHEMERAL_PARENT}/e${tag}`, tag, { mode: CreateMode.ephemeral }) }));
  }

  /** The op's output: the state seen, and this session's count of change events for the key received before the reply. */
  private saw(c: ZooKeeperClient, key: number, { value, version, seq }: Seen): Versioned & { session: string; events: number } {
    this.seen.set(key, version);
    const events = (this.events.get(registerPath(key)) ?? []).filter((at) => at < seq).length;
    return { value, version, session: this.session(c), events };
  }

  /** Invoke, run `body` with the op timeout, record the outcome; retire the process after `info`. */
  private async record(f: Fn, key: string, input: unknown, body: () => Promise<unknown>): Promise<void> {
    this.history.add({ type: 'invoke', process: this.process, f, key, value: input, peer: this.peer });
    const outcome: Outcome = await withTimeout(body(), this.opts.opTimeoutMs).then(
      (value) => ({ type: 'ok' as const, value }),
      classify,
    );
    if (outcome.type === 'ok') this.history.add({ type: 'ok', process: this.process, f, key, value: outcome.value, peer: this.peer });
    else this.history.add({ type: outcome.type, process: this.process, f, key, error: outcome.error, peer: this.peer });
    if (outcome.type !== 'info') return;
    this.process = this.processes.take();
    // Keep a few abandoned requests pipelined on a live connection, then start afresh.
    if (++this.abandoned > 3) this.client?.disconnect();
  }
}

/** `p`, or a Timeout after `ms` (an abandoned request may fail later: nobody waits for it). */
function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  p.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Timeout(`no answer within ${ms} ms`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** A register's state as one reply showed it, and that reply's position among the session's frames. */
type Seen = Versioned & { seq: number };

/** The reply to `req`; ZkError if it carries an error code. */
async function answer(c: ZooKeeperClient, req: Request): Promise<RawReply> {
  const r = await c.request(req);
  if (r.err !== Err.ok) throw new ZkError(r.err, `${'path' in req ? req.path : req.type}: ${errorName(r.err)}`);
  return r;
}

const getData = async (c: ZooKeeperClient, path: string): Promise<Seen> => {
  const r = await answer(c, { type: OpCode.getData, path, watch: false });
  return { value: r.body.data?.toString() ?? '', version: r.body.stat!.version, seq: r.seq };
};

async function setData(c: ZooKeeperClient, path: string, value: string, version: number): Promise<Seen> {
  const r = await answer(c, { type: OpCode.setData, path, data: Buffer.from(value), version });
  return { value, version: r.body.stat!.version, seq: r.seq };
}

/** sync + getData on one session. */
export async function readAfterSync(c: ZooKeeperClient, path: string): Promise<Seen> {
  await c.sync(path);
  return getData(c, path);
}

/** getData, confirmed by a quorum-committed check of the version it saw; BadVersion: the read failed. */
async function quorumRead(c: ZooKeeperClient, path: string): Promise<Seen> {
  const seen = await getData(c, path);
  try {
    await c.multi([op.check(path, seen.version)]);
  } catch (e) {
    if (e instanceof MultiError) throw new ZkError(e.code, `the value read changed before the quorum confirmed it: ${errorName(e.code)}`);
    throw e;
  }
  return seen;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
