// Start real server processes for tests and benchmarks: Apache ZooKeeper 3.8
// (Debian's package) and Paddock, standalone, on loopback, from a zoo.cfg
// written into a fresh temporary directory. With `myid` (and server.N lines
// in `cfg`) either starts as that peer of an ensemble (ZooKeeper's
// QuorumPeerMain); it serves only once it is in a quorum, so start the peers
// concurrently.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fourLetterWord, waitForServing } from '../../src/testing/probe.ts';
import { SERVER_NODE_FLAGS } from '../../src/node-flags.ts';

export { fourLetterWord, waitForServing };

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// zookeeper.jar's manifest names most of Netty; its TLS (NettyServerCnxnFactory, ClientCnxnSocketNetty) also needs these two.
export const NETTY_EXTRA = '/usr/share/java/netty-codec.jar:/usr/share/java/netty-resolver.jar';
// Its AdminServer (Jetty, which the manifest names) also needs the servlet API, which the manifest leaves out.
export const ZK_CLASSPATH = `/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:${NETTY_EXTRA}:/usr/share/java/servlet-api.jar`;
/** Debian's zookeeper.jar names no slf4j binding (ZooKeeper then logs nothing): these make it log INFO to the console, with the thread names the tests read. */
const ZK_LOGGING = { classpath: ':/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar', flags: ['-Dzookeeper.root.logger=INFO,CONSOLE'] };

export interface RunningServer {
  kind: 'zookeeper' | 'paddock';
  host: string;
  port: number;
  /** "host:port" as clients take it */
  connectString: string;
  dir: string;
  proc: ChildProcess;
  /** everything the process printed so far */
  output(): string;
  /** SIGTERM, wait for exit, remove the directory (unless keepDir) */
  stop(opts?: { keepDir?: boolean }): Promise<void>;
}

export interface ServerOptions {
  /** extra zoo.cfg lines, e.g. { extendedTypesEnabled: 'true' } */
  cfg?: Record<string, string | number>;
  /** JVM-style flags for SERVER_JVMFLAGS, e.g. ['-Dzookeeper.DigestAuthenticationProvider.superDigest=...'] */
  jvmFlags?: string[];
  tickTime?: number;
  port?: number;
  /** an existing data directory to use instead of a fresh <dir>/data (stop() leaves it alone) */
  dataDir?: string;
  /** run as this peer of an ensemble (<dataDir>/myid; ZooKeeper: QuorumPeerMain); give the server.N lines in cfg */
  myid?: number;
  /** resolve once the process runs, without waiting for it to serve (default: wait) */
  noWait?: boolean;
  /** ZooKeeper: print its log (INFO and above) into output() */
  zkLog?: boolean;
  /** the address it listens on for clients (default 127.0.0.1) */
  host?: string;
  /** a command the server runs under, e.g. ['ip', 'netns', 'exec', 'ns1'] (it must exec the server, keeping its pid) */
  wrap?: string[];
  /** Paddock: its log format (PADDOCK_LOG_FORMAT); default text, which tests read as an operator on a terminal would */
  logFormat?: 'json' | 'text';
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function launch(kind: RunningServer['kind'], opts: ServerOptions): Promise<RunningServer> {
  const dir = mkdtempSync(join(tmpdir(), `${kind}-`));
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? (await freePort());
  const lines = {
    tickTime: opts.tickTime ?? 2000,
    dataDir: opts.dataDir ?? join(dir, 'data'),
    clientPort: port,
    clientPortAddress: host,
    'admin.enableServer': 'false',
    '4lw.commands.whitelist': '*',
    maxClientCnxns: 0,
    ...opts.cfg,
  };
  if (opts.myid !== undefined) {
    mkdirSync(lines.dataDir, { recursive: true });
    writeFileSync(join(lines.dataDir, 'myid'), `${opts.myid}\n`);
  }
  const cfgPath = join(dir, 'zoo.cfg');
  writeFileSync(cfgPath, Object.entries(lines).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
  const jvmFlags = (opts.jvmFlags ?? []).join(' ');
  const [command, args]: [string, string[]] =
    kind === 'zookeeper'
      ? ['java', ['-Xmx1g', ...(opts.jvmFlags ?? []), ...(opts.zkLog ? ZK_LOGGING.flags : []), '-cp', ZK_CLASSPATH + (opts.zkLog ? ZK_LOGGING.classpath : ''), opts.myid === undefined ? 'org.apache.zookeeper.server.ZooKeeperServerMain' : 'org.apache.zookeeper.server.quorum.QuorumPeerMain', cfgPath]]
      : [process.execPath, [...SERVER_NODE_FLAGS, join(ROOT, 'bin', 'paddock.js'), 'server', cfgPath]];
  const [wrapCommand, ...wrapArgs] = opts.wrap ?? [];
  const proc = spawn(wrapCommand ?? command, wrapCommand === undefined ? args : [...wrapArgs, command, ...args], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: kind === 'paddock' ? { ...process.env, SERVER_JVMFLAGS: jvmFlags, PADDOCK_LOG_FORMAT: opts.logFormat ?? 'text' } : process.env,
  });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const server: RunningServer = {
    kind,
    host,
    port,
    connectString: `${host}:${port}`,
    dir,
    proc,
    output: () => out,
    async stop({ keepDir = false } = {}) {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const killer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(killer);
      }
      if (!keepDir) rmSync(dir, { recursive: true, force: true });
    },
  };
  if (opts.noWait) return server;
  try {
    await Promise.race([
      waitForServing(host, port),
      exited.then(() => {
        throw new Error(`${kind} exited during start-up:\n${out}`);
      }),
    ]);
  } catch (e) {
    await server.stop();
    throw e;
  }
  return server;
}

export const startZooKeeper = (opts: ServerOptions = {}) => launch('zookeeper', opts);
export const startPaddock = (opts: ServerOptions = {}) => launch('paddock', opts);
export const startServer = (kind: RunningServer['kind'], opts: ServerOptions = {}) => launch(kind, opts);
