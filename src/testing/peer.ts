// One `paddock server` process of a test cluster: its directory (zoo.cfg and
// data/, kept across restarts), its client port, and the process while it
// runs. The command is this package's own bin/paddock.js, run by the Node
// that runs the caller. The last OUTPUT_TAIL characters the process printed
// are kept (and the pipes drained) so a failure can show them. The process
// and its pipes do not hold the caller's event loop open: a test that forgets
// close() still ends (and the exit hook of index.ts kills the process).

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitForServing } from './probe.ts';
import { SERVER_NODE_FLAGS } from '../node-flags.ts';

const PADDOCK_BIN = fileURLToPath(new URL('../../bin/paddock.js', import.meta.url));
const OUTPUT_TAIL = 16 * 1024;
/** How long a SIGTERM may take before SIGKILL follows. */
const STOP_GRACE_MS = 10_000;

export const HOST = '127.0.0.1';

export class Peer {
  private proc: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private tail = '';

  /** Write `dir`/zoo.cfg from `cfg` (and data/myid when `myid` is given); nothing runs yet. */
  constructor(
    readonly n: number,
    readonly clientPort: number,
    private readonly dir: string,
    private readonly cfg: Record<string, string | number>,
    private readonly jvmFlags: string[],
    myid?: number,
  ) {
    const dataDir = join(dir, 'data');
    mkdirSync(dataDir, { recursive: true });
    if (myid !== undefined) writeFileSync(join(dataDir, 'myid'), `${myid}\n`);
    const lines = { dataDir, clientPort, clientPortAddress: HOST, ...cfg };
    writeFileSync(join(dir, 'zoo.cfg'), Object.entries(lines).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
  }

  /** admin.serverPort when the AdminServer is enabled, else null */
  get adminPort(): number | null {
    return this.cfg['admin.enableServer'] === 'true' ? Number(this.cfg['admin.serverPort']) : null;
  }

  get pid(): number | null {
    return this.running ? this.proc!.pid! : null;
  }

  get address(): string {
    return `${HOST}:${this.clientPort}`;
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** What the process printed last, for error messages. */
  output(): string {
    return this.tail;
  }

  /** Spawn the process; it serves once `waitServing` resolves. The caller's JVMFLAGS/SERVER_JVMFLAGS do not leak in. */
  start(): void {
    if (this.running) throw new Error(`peer ${this.n} is already running`);
    const proc = spawn(process.execPath, [...SERVER_NODE_FLAGS, PADDOCK_BIN, 'server', join(this.dir, 'zoo.cfg')], {
      cwd: this.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SERVER_JVMFLAGS: this.jvmFlags.join(' '), JVMFLAGS: '' },
    });
    const keep = (d: Buffer) => (this.tail = (this.tail + d.toString()).slice(-OUTPUT_TAIL));
    for (const pipe of [proc.stdout, proc.stderr] as Socket[]) pipe.on('data', keep).unref();
    proc.unref();
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    this.proc = proc;
  }

  /** Resolve once the peer serves clients; reject if it exits first or `timeoutMs` pass. */
  async waitServing(timeoutMs: number): Promise<void> {
    const exitedEarly = this.exited.then(() => {
      throw new Error(`peer ${this.n} exited during start-up:\n${this.tail}`);
    });
    await Promise.race([waitForServing(HOST, this.clientPort, timeoutMs), exitedEarly]);
  }

  /** SIGKILL (as kill -9) and wait for the exit. */
  async kill(): Promise<void> {
    if (this.running) this.proc!.kill('SIGKILL');
    await this.exit();
  }

  /** SIGTERM, SIGKILL if it is still running after STOP_GRACE_MS; wait for the exit. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.proc!.kill('SIGTERM');
    const killer = setTimeout(() => this.proc!.kill('SIGKILL'), STOP_GRACE_MS);
    await this.exit();
    clearTimeout(killer);
  }

  /** The process's exit, awaited with the event loop held open for it (the process is unref'd otherwise). */
  private async exit(): Promise<void> {
    this.proc?.ref();
    await this.exited;
  }

  /** SIGKILL now, without waiting: for the exit of the process that started it. */
  killNow(): void {
    if (this.running) this.proc!.kill('SIGKILL');
  }
}
