// Interop harness: builds the client programs (Java, C), runs one scenario of one
// client as a child process, answers its control requests (cut / block / unblock
// the TCP proxy it connects through) and parses its JSON result lines.
//
// Client program contract (all four clients):
//   argv: <viaConnect> <directConnect> <scenario|all>
//     viaConnect    host:port of a TCP proxy in front of the server (the harness
//                   can cut or block it); the client's "main" session uses it
//     directConnect host:port of the server itself (observer sessions use it)
//   stdout:
//     "CTL <cmd>"  the client asks the harness to act on the proxy; it then blocks
//                  on stdin until the harness answers "OK <cmd>" (or "ERR <cmd> ...")
//                  cmd = cut      drop every proxied connection, keep accepting
//                        block    drop every proxied connection, refuse new ones
//                        unblock  accept again
//     "{...}"      one JSON object per scenario:
//                  {client, scenario, status: pass|fail|skip, checks, error?, notes?, ms}
//     anything else is free-form log.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const INTEROP_DIR = dirname(fileURLToPath(import.meta.url));

export type ClientName = 'java' | 'c' | 'python' | 'node';

export interface ScenarioResult {
  client: string;
  scenario: string;
  status: 'pass' | 'fail' | 'skip';
  /** number of individual assertions the client made and passed */
  checks: number;
  error?: string;
  notes?: string[];
  ms?: number;
}

export interface RunOutcome {
  results: ScenarioResult[];
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  controls: string[];
}

// ---------------------------------------------------------------------------
// TCP proxy the client's main session goes through.

export class TcpProxy {
  private server: net.Server;
  private pairs = new Set<[net.Socket, net.Socket]>();
  private blocked = false;
  port = 0;
  accepted = 0;

  constructor(
    private targetHost: string,
    private targetPort: number,
  ) {
    this.server = net.createServer((client) => this.onClient(client));
  }

  get connectString(): string {
    return `127.0.0.1:${this.port}`;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  private onClient(client: net.Socket): void {
    client.on('error', () => {});
    if (this.blocked) {
      client.destroy();
      return;
    }
    this.accepted++;
    const upstream = net.connect(this.targetPort, this.targetHost);
    upstream.on('error', () => {});
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    this.pairs.add(pair);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    client.on('close', drop);
    upstream.on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Drop every proxied connection (both directions); keep accepting new ones. */
  cut(): void {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
  }

  /** Drop every connection and refuse new ones until unblock(). */
  block(): void {
    this.blocked = true;
    this.cut();
  }

  unblock(): void {
    this.blocked = false;
  }

  async close(): Promise<void> {
    this.blocked = true;
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export async function startProxy(host: string, port: number): Promise<TcpProxy> {
  const p = new TcpProxy(host, port);
  await p.listen();
  return p;
}

// ---------------------------------------------------------------------------
// Building and running the client programs.

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

export const ZK_CLIENT_CLASSPATH = [
  '/usr/share/java/zookeeper.jar', // its manifest Class-Path pulls in jute, netty, slf4j-api, ...
  '/usr/share/java/slf4j-simple.jar',
];

export interface BuildDir {
  dir: string;
  javaClasses: string;
  cBinary: string;
  remove(): void;
}

/** Compile the Java and C client programs into a fresh temporary directory. */
export async function buildClients(which: ClientName[]): Promise<BuildDir> {
  const dir = mkdtempSync(join(tmpdir(), 'interop-build-'));
  const build: BuildDir = {
    dir,
    javaClasses: join(dir, 'java'),
    cBinary: join(dir, 'interop-c'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
  const jobs: Promise<void>[] = [];
  if (which.includes('java')) {
    jobs.push(
      run(
        'javac',
        ['-nowarn', '-cp', ZK_CLIENT_CLASSPATH.join(':'), '-d', build.javaClasses, join(INTEROP_DIR, 'java', 'Interop.java')],
        180_000,
      ).then(({ code, out }) => {
        if (code !== 0) throw new Error(`javac failed (${code}):\n${out}`);
      }),
    );
  }
  if (which.includes('c')) {
    jobs.push(
      run(
        'gcc',
        ['-std=gnu11', '-O1', '-Wall', '-DTHREADED', '-I/usr/include/zookeeper', '-o', build.cBinary, join(INTEROP_DIR, 'c', 'interop.c'), '-lzookeeper_mt', '-lpthread'],
        120_000,
      ).then(({ code, out }) => {
        if (code !== 0) throw new Error(`gcc failed (${code}):\n${out}`);
      }),
    );
  }
  try {
    await Promise.all(jobs);
  } catch (e) {
    build.remove();
    throw e;
  }
  return build;
}

export function clientCommand(client: ClientName, build: BuildDir): { cmd: string; args: string[] } {
  switch (client) {
    case 'java':
      return {
        cmd: 'java',
        args: [
          '-Xmx256m',
          '-XX:+UseSerialGC',
          '-XX:TieredStopAtLevel=1',
          '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
          '-Dzookeeper.admin.enableServer=false',
          '-cp',
          [build.javaClasses, ...ZK_CLIENT_CLASSPATH].join(':'),
          'Interop',
        ],
      };
    case 'c':
      return { cmd: build.cBinary, args: [] };
    case 'python':
      // kazoo 2.8.0 is installed for the system interpreter only
      return { cmd: '/usr/bin/python3', args: [join(INTEROP_DIR, 'python', 'interop.py')] };
    case 'node':
      return { cmd: process.execPath, args: ['--import', 'tsx', join(INTEROP_DIR, 'node', 'interop.ts')] };
  }
}

/**
 * Run `scenario` (or "all") of one client through `proxy`, serving its control
 * requests. Never rejects for client misbehaviour: the outcome says what happened.
 */
export function runClient(
  client: ClientName,
  build: BuildDir,
  scenario: string,
  proxy: TcpProxy,
  directConnect: string,
  timeoutMs: number,
): Promise<RunOutcome> {
  const { cmd, args } = clientCommand(client, build);
  return new Promise((resolve) => {
    const child = spawn(cmd, [...args, proxy.connectString, directConnect, scenario], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, PYTHONUNBUFFERED: '1' },
    });
    const outcome: RunOutcome = {
      results: [],
      exitCode: null,
      signal: null,
      timedOut: false,
      stdout: '',
      stderr: '',
      controls: [],
    };
    let pending = '';
    const onLine = (line: string) => {
      const trimmed = line.trim();
      if (trimmed.startsWith('CTL ')) {
        const what = trimmed.slice(4).trim();
        outcome.controls.push(what);
        let reply: string;
        if (what === 'cut') {
          proxy.cut();
          reply = `OK ${what}`;
        } else if (what === 'block') {
          proxy.block();
          reply = `OK ${what}`;
        } else if (what === 'unblock') {
          proxy.unblock();
          reply = `OK ${what}`;
        } else {
          reply = `ERR ${what} unknown control`;
        }
        if (child.stdin.writable) child.stdin.write(reply + '\n');
      } else if (trimmed.startsWith('{')) {
        try {
          outcome.results.push(JSON.parse(trimmed) as ScenarioResult);
        } catch {
          /* not a result line: keep as log */
        }
      }
    };
    child.stdin.on('error', () => {});
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      outcome.stdout += d;
      pending += d;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        onLine(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      // keep the tail only: client libraries can be chatty
      outcome.stderr = (outcome.stderr + d).slice(-20_000);
    });
    const timer = setTimeout(() => {
      outcome.timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      outcome.stderr += `\nspawn error: ${e.message}`;
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (pending) onLine(pending);
      outcome.exitCode = code;
      outcome.signal = signal;
      resolve(outcome);
    });
  });
}

/** One human-readable paragraph for assertion messages. */
export function describeOutcome(o: RunOutcome): string {
  const tail = (s: string, n: number) => (s.length > n ? '…' + s.slice(-n) : s);
  return [
    `exit=${o.exitCode} signal=${o.signal} timedOut=${o.timedOut} controls=[${o.controls.join(',')}]`,
    `results=${JSON.stringify(o.results)}`,
    `stdout:\n${tail(o.stdout, 3000)}`,
    `stderr:\n${tail(o.stderr, 4000)}`,
  ].join('\n');
}
