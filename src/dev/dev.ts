// `paddock dev [--peers N]`: a local ensemble to try failover on a laptop.
// It starts N real `paddock server` processes through paddock/testing
// (src/testing: temporary directory, free ports on 127.0.0.1, each peer's
// AdminServer on a port of its own, its backup command on), prints the
// connect string and each peer's AdminServer URL, shows each peer's role once a second (srvr on its
// client port), and takes commands a line at a time from stdin:
//
//   k<n>  kill peer n (SIGKILL, as kill -9; its data stay)
//   r<n>  restart peer n (stopping it first if it runs) on its port and data
//   q     quit (so do Ctrl-C, SIGTERM and the end of stdin)
//
// On a terminal the status is one screen redrawn when it changes, with the
// prompt under it; otherwise each change is a line of its own
// (`peer 2: follower -> down`), for scripts and tests.
//
// Invariant: however it ends (q, end of input, SIGINT, SIGTERM, an error),
// every peer process is killed and the temporary directory removed before
// the process exits; paddock/testing's exit hook is the last resort.

import { createInterface, type Interface } from 'node:readline';
import { startEnsemble, type TestCluster } from '../testing/index.ts';
import { HOST } from '../testing/peer.ts';
import { fourLetterWord } from '../testing/probe.ts';

export const DEV_USAGE = `paddock dev [--peers N]           a local ensemble of N peers (default 3) to try failover:
                                    k<n>/r<n> + Enter kill/restart peer n, q quits`;

const DEFAULT_PEERS = 3;
const MAX_PEERS = 15;
const POLL_MS = 1000;
const HELP = 'commands: k<n> + Enter kills peer n (kill -9), r<n> + Enter restarts it, q + Enter (or Ctrl-C) quits';

/** What a peer is doing, as srvr tells it. */
interface PeerStatus {
  /** leader, follower, observer, standalone, read-only; looking (running, not serving); starting (not answering yet); down */
  role: string;
  zxid: string;
}

/** The peer count of `--peers N` / `--peers=N`, or an error message. */
export function parsePeers(args: string[]): number | string {
  let value: string | undefined = String(DEFAULT_PEERS);
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--peers') value = args[++i];
    else if (a.startsWith('--peers=')) value = a.slice('--peers='.length);
    else return `unknown argument: ${a}`;
  }
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > MAX_PEERS) return `--peers takes a whole number from 1 to ${MAX_PEERS}, not ${value ?? 'nothing'}`;
  return n;
}

/** A peer's status from its srvr reply, or `down`/`starting` when it does not answer. */
async function probe(cluster: TestCluster, n: number): Promise<PeerStatus> {
  if (cluster.pid(n) === null) return { role: 'down', zxid: '' };
  const port = Number(cluster.address(n).split(':')[1]);
  const reply = await fourLetterWord(HOST, port, 'srvr', POLL_MS).catch(() => null);
  if (reply === null || reply === '') return { role: 'starting', zxid: '' };
  const mode = /^Mode: (.+)$/m.exec(reply)?.[1] ?? 'looking';
  return { role: mode, zxid: /^Zxid: (\S+)$/m.exec(reply)?.[1] ?? '' };
}

class DevConsole {
  private statuses: PeerStatus[];
  private message = '';
  private polling = false;
  private timer: NodeJS.Timeout | undefined;
  private quitting: Promise<void> | null = null;
  /** settles once quit() is done */
  private end!: () => void;
  private readonly ended = new Promise<void>((resolve) => (this.end = resolve));
  /** the command line, once the first status is known */
  private rl: Interface | undefined;

  /** @param tty stdin and stdout are a terminal: one screen redrawn, not change lines */
  constructor(
    private readonly cluster: TestCluster,
    private readonly tty: boolean,
  ) {
    this.statuses = Array.from({ length: cluster.size }, () => ({ role: 'starting', zxid: '' }));
  }

  /** Run until quit (a command, the end of stdin, or quit() from a signal); resolves once everything is removed. */
  async run(): Promise<void> {
    await this.poll();
    if (this.quitting) return this.ended; // a signal came first
    if (!this.tty) for (const [i, s] of this.statuses.entries()) this.line(`peer ${i + 1}: ${s.role}`);
    const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: this.tty, prompt: 'dev> ' });
    this.rl = rl;
    this.draw();
    this.timer = setInterval(() => void this.poll(), POLL_MS);
    rl.on('line', (line) => void this.command(line.trim()));
    rl.on('SIGINT', () => void this.quit()); // Ctrl-C on a terminal
    rl.on('close', () => void this.quit()); // the end of stdin
    await this.ended;
  }

  /** Stop everything: peers killed, directory removed (once, however often asked). */
  quit(): Promise<void> {
    this.quitting ??= this.shutdown().then(this.end);
    return this.quitting;
  }

  private async shutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.cluster.close();
    this.rl?.close();
    process.stdout.write(`${this.tty ? '\n' : ''}stopped every peer and removed ${this.cluster.directory}\n`);
  }

  /** Run one command line (`q` quits: run() then ends). */
  private async command(line: string): Promise<void> {
    if (line === '') return this.draw();
    if (/^(q|quit|exit)$/.test(line)) return this.quit();
    const m = /^(k|kill|r|restart)\s*(\d+)$/.exec(line);
    const n = Number(m?.[2]);
    if (!m || n < 1 || n > this.cluster.size) {
      this.say(`not a command: ${JSON.stringify(line)}; ${HELP} (peers are 1..${this.cluster.size})`);
      return;
    }
    const kill = m[1]!.startsWith('k');
    this.say(`${kill ? 'killing' : 'restarting'} peer ${n}`);
    try {
      await (kill ? this.cluster.kill(n) : this.cluster.restart(n));
      if (!this.quitting) this.say(kill ? `peer ${n} killed` : `peer ${n} restarted (pid ${this.cluster.pid(n)}): it serves`);
    } catch (e) {
      if (!this.quitting) this.say(`peer ${n}: ${(e as Error).message.split('\n')[0]}`);
    }
    await this.poll();
  }

  private async poll(): Promise<void> {
    if (this.polling || this.quitting) return;
    this.polling = true;
    try {
      const next = await Promise.all(this.statuses.map((_, i) => probe(this.cluster, i + 1)));
      if (this.quitting) return;
      const changed = next.some((s, i) => s.role !== this.statuses[i]!.role || s.zxid !== this.statuses[i]!.zxid);
      if (!this.tty) for (const [i, s] of next.entries()) if (s.role !== this.statuses[i]!.role) this.line(`peer ${i + 1}: ${this.statuses[i]!.role} -> ${s.role}`);
      this.statuses = next;
      if (changed) this.draw();
    } finally {
      this.polling = false;
    }
  }

  private say(message: string): void {
    this.message = message;
    if (this.tty) this.draw();
    else this.line(message);
  }

  private line(text: string): void {
    process.stdout.write(`${text}\n`);
  }

  /** On a terminal: the whole status screen, then the prompt with what is typed so far. */
  private draw(): void {
    if (!this.tty || !this.rl || this.quitting) return;
    const rows = this.statuses.map((s, i) => {
      const n = i + 1;
      return `  peer ${n}  ${s.role.padEnd(10)} ${s.zxid.padEnd(12)} pid ${String(this.cluster.pid(n) ?? '-').padEnd(8)} ${this.cluster.address(n).padEnd(16)} ${this.cluster.adminUrl(n)}`;
    });
    process.stdout.write(`\x1b[H\x1b[2J${header(this.cluster).join('\n')}\n\n${rows.join('\n')}\n\n${this.message}\n`);
    this.rl.prompt(true);
  }
}

function header(cluster: TestCluster): string[] {
  const peers = Array.from({ length: cluster.size }, (_, i) => i + 1);
  return [
    `paddock dev: ${cluster.size} peer${cluster.size === 1 ? '' : 's'} in ${cluster.directory}`,
    `connect string: ${cluster.connectString}`,
    `dashboard: ${peers.map((n) => cluster.adminUrl(n)).join(' ')}`,
    `backup: paddock backup --server ${new URL(cluster.adminUrl(1)!).host} DIR`,
    HELP,
  ];
}

/** `paddock dev`: returns the exit status. */
export async function runDev(args: string[]): Promise<number> {
  const peers = parsePeers(args);
  if (typeof peers === 'string') {
    process.stderr.write(`paddock dev: ${peers}\nusage: ${DEV_USAGE}\n`);
    return 2;
  }
  process.stdout.write(`starting ${peers} peer${peers === 1 ? '' : 's'}…\n`);
  // One handler for the whole run, so that no signal ever finds Node's default (which kills at once,
  // even between a line the user saw and the next statement). While the peers start it exits, and
  // paddock/testing's exit hook kills them and removes their directory; then it quits the console.
  let onSignal: () => void = () => process.exit(130);
  const signalled = () => onSignal();
  process.on('SIGINT', signalled).on('SIGTERM', signalled);
  try {
    let cluster: TestCluster;
    try {
      cluster = await startEnsemble({ size: peers, adminServer: true, cfg: { 'admin.backup.enabled': 'true' } });
    } catch (e) {
      process.stderr.write(`paddock dev: the ensemble did not start: ${(e as Error).message}\n`);
      return 1;
    }
    const tty = Boolean(process.stdin.isTTY && process.stdout.isTTY);
    const devConsole = new DevConsole(cluster, tty);
    onSignal = () => void devConsole.quit();
    if (!tty) {
      process.stdout.write(`${header(cluster).join('\n')}\n`);
      for (let n = 1; n <= peers; n++) process.stdout.write(`peer ${n}: pid ${cluster.pid(n)} client ${cluster.address(n)} admin ${cluster.adminUrl(n)}\n`);
    }
    await devConsole.run();
    return 0;
  } finally {
    process.off('SIGINT', signalled).off('SIGTERM', signalled);
  }
}
