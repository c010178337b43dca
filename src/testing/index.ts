// paddock/testing: real Paddock servers for an application's tests, as
// Curator's TestingServer and TestingCluster give Java developers. Each
// server is a `paddock server` process of this package (no Java needed) on
// 127.0.0.1, on ports free when it started and kept across restarts, with its
// configuration and data in a temporary directory that close() removes.
// Peers are numbered 1..size; a single server is peer 1. The processes do
// not hold the caller's process open, and those of a cluster it never closed
// are killed (their directory removed) as it exits.
//
// A session is expired on demand as Curator's KillSession does it: a second
// connection reattaches to the session with its id and password and closes
// it. This is the protocol's own closeSession, so it works on ZooKeeper too
// (see expireSession), and the session's owner learns it as ZooKeeper's
// clients do: its connection is closed and its next reattach is refused as
// expired.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Err, ZkError, ZooKeeperClient } from '../client/index.ts';
import { HOST, Peer } from './peer.ts';
import { restartablePort } from './ports.ts';

export interface TestServerOptions {
  /** ZooKeeper's tickTime in ms (the smallest session timeout is twice it); default 500 */
  tickTime?: number;
  /** further zoo.cfg lines, e.g. { extendedTypesEnabled: 'true' }; they win over the defaults */
  cfg?: Record<string, string | number>;
  /** JVM-style settings ZooKeeper takes as system properties, e.g. ['-Dzookeeper.skipACL=yes'] (passed in SERVER_JVMFLAGS) */
  jvmFlags?: string[];
  /** how long start-up and restart wait for the servers to serve; default 60 000 ms */
  startTimeout?: number;
  /** run each peer's AdminServer on 127.0.0.1, on a port of its own (adminUrl); default off */
  adminServer?: boolean;
}

export interface TestEnsembleOptions extends TestServerOptions {
  /** number of peers, all participants */
  size: number;
}

/** The id and password of a session, as a client holds them (Paddock's ZooKeeperClient is one). */
export interface SessionCredentials {
  sessionId: bigint;
  password: Uint8Array;
}

export interface TestCluster {
  /** "127.0.0.1:p1,127.0.0.1:p2,…": every peer */
  readonly connectString: string;
  readonly size: number;
  /** the temporary directory holding each peer's zoo.cfg and data (peer<n>/), removed by close() */
  readonly directory: string;
  /** "127.0.0.1:port" of peer n */
  address(n: number): string;
  /** the root URL of peer n's AdminServer ("http://127.0.0.1:port/"), null unless started with adminServer */
  adminUrl(n: number): string | null;
  /** the process id of peer n while it runs, else null */
  pid(n: number): number | null;
  /** SIGKILL peer n (as kill -9) and wait for it to exit; its data stay */
  kill(n?: number): Promise<void>;
  /** start peer n again on its port and data (stopping it first if it runs); resolves once it serves */
  restart(n?: number): Promise<void>;
  /** end the session (its ephemerals go, its owner is told it expired) */
  expireSession(session: SessionCredentials): Promise<void>;
  /** stop every peer and remove the temporary directories */
  close(): Promise<void>;
}

const DEFAULT_TICK_MS = 500;
const DEFAULT_START_TIMEOUT_MS = 60_000;

/** Clusters not yet closed, killed if the process exits without closing them. */
const open = new Set<Cluster>();
let exitHookInstalled = false;

class Cluster implements TestCluster {
  readonly connectString: string;

  constructor(
    readonly directory: string,
    private readonly peers: Peer[],
    private readonly startTimeout: number,
  ) {
    this.connectString = peers.map((p) => p.address).join(',');
  }

  get size(): number {
    return this.peers.length;
  }

  address(n: number): string {
    return this.peer(n).address;
  }

  adminUrl(n: number): string | null {
    const port = this.peer(n).adminPort;
    return port === null ? null : `http://${HOST}:${port}/`;
  }

  pid(n: number): number | null {
    return this.peer(n).pid;
  }

  async kill(n = 1): Promise<void> {
    await this.peer(n).kill();
  }

  async restart(n = 1): Promise<void> {
    const p = this.peer(n);
    await p.stop();
    p.start();
    await this.serving([p]);
  }

  async expireSession(session: SessionCredentials): Promise<void> {
    const running = this.peers.filter((p) => p.running);
    if (running.length === 0) throw new Error('expireSession: no peer is running');
    await expireSession(running.map((p) => p.address).join(','), session);
  }

  async close(): Promise<void> {
    open.delete(this);
    await Promise.all(this.peers.map((p) => p.kill()));
    rmSync(this.directory, { recursive: true, force: true });
  }

  /** Start every peer and wait until all serve; on failure stop everything. */
  async startAll(): Promise<this> {
    open.add(this);
    for (const p of this.peers) p.start();
    try {
      await this.serving(this.peers);
    } catch (e) {
      await this.close();
      throw e;
    }
    return this;
  }

  /** Each peer of `peers` serves; a failure names the peers' last output. */
  private async serving(peers: Peer[]): Promise<void> {
    try {
      await Promise.all(peers.map((p) => p.waitServing(this.startTimeout)));
    } catch (e) {
      const tails = this.peers.map((p) => `--- peer ${p.n}, the end of its output:\n${p.output().split('\n').slice(-20).join('\n')}`);
      throw new Error(`${(e as Error).message}\n${tails.join('\n')}`);
    }
  }

  /** SIGKILL every peer at once (the process is exiting: nothing can be awaited). */
  killNow(): void {
    for (const p of this.peers) p.killNow();
    rmSync(this.directory, { recursive: true, force: true });
  }

  private peer(n: number): Peer {
    const p = this.peers[n - 1];
    if (!Number.isInteger(n) || p === undefined) throw new RangeError(`no peer ${n}: peers are 1..${this.peers.length}`);
    return p;
  }
}

function baseCfg(opts: TestServerOptions): Record<string, string | number> {
  return {
    tickTime: opts.tickTime ?? DEFAULT_TICK_MS,
    // sessions as long as clients ask for, up to a minute, whatever the short tick
    maxSessionTimeout: 60_000,
    'admin.enableServer': 'false',
    '4lw.commands.whitelist': '*',
    maxClientCnxns: 0,
  };
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of open) c.killNow();
  });
}

async function launch(size: number, opts: TestServerOptions): Promise<TestCluster> {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`size must be a positive integer, not ${size}`);
  installExitHook();
  const root = mkdtempSync(join(tmpdir(), 'paddock-testing-'));
  const taken = new Set<number>();
  const cfg = baseCfg(opts);
  const clientPorts: number[] = [];
  for (let n = 1; n <= size; n++) clientPorts.push(await restartablePort(taken));
  if (size > 1) {
    Object.assign(cfg, { initLimit: 20, syncLimit: 10 });
    for (let n = 1; n <= size; n++) cfg[`server.${n}`] = `127.0.0.1:${await restartablePort(taken)}:${await restartablePort(taken)}`;
  }
  const adminCfg = async (): Promise<Record<string, string | number>> =>
    opts.adminServer ? { 'admin.enableServer': 'true', 'admin.serverAddress': HOST, 'admin.serverPort': await restartablePort(taken) } : {};
  const peers: Peer[] = [];
  for (const [i, port] of clientPorts.entries()) {
    peers.push(new Peer(i + 1, port, join(root, `peer${i + 1}`), { ...cfg, ...opts.cfg, ...(await adminCfg()) }, opts.jvmFlags ?? [], size > 1 ? i + 1 : undefined));
  }
  return new Cluster(root, peers, opts.startTimeout ?? DEFAULT_START_TIMEOUT_MS).startAll();
}

/** A standalone server (peer 1), serving once this resolves. */
export function startServer(options: TestServerOptions = {}): Promise<TestCluster> {
  return launch(1, options);
}

/** An ensemble of `size` peers, each serving (a leader elected, the others synced to it) once this resolves. */
export function startEnsemble(options: TestEnsembleOptions): Promise<TestCluster> {
  return launch(options.size, options);
}

const EXPIRE_ATTEMPTS = 20;

/**
 * End a session on any ZooKeeper-compatible server (Paddock or ZooKeeper) of
 * `connectString`: reattach to it with its id and password, then close it, as
 * Curator's KillSession does. The owner's client, kicked off by the reattach,
 * may reattach in turn before the close and so kick the closer off: the
 * closer tries again until a reattach is refused as expired, which is when
 * this resolves. A session that has already expired is not an error.
 */
export async function expireSession(connectString: string, session: SessionCredentials): Promise<void> {
  for (let attempt = 1; attempt <= EXPIRE_ATTEMPTS; attempt++) {
    let twin: ZooKeeperClient;
    try {
      twin = await ZooKeeperClient.connect(connectString, { sessionId: session.sessionId, password: Buffer.from(session.password) });
    } catch (e) {
      if (e instanceof ZkError && e.code === Err.sessionExpired) return;
      throw e;
    }
    await twin.close();
  }
  throw new Error(`session 0x${session.sessionId.toString(16)} was still alive after ${EXPIRE_ATTEMPTS} attempts to close it (its owner keeps reattaching first)`);
}
