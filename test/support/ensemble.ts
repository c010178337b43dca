// An ensemble of real server processes on loopback (or, with `network`, each
// on its own address under a wrapper such as a network namespace) for tests and benchmarks:
// each member is a `paddock server` or an Apache ZooKeeper 3.8 QuorumPeerMain,
// a participant or an observer, with its own data directory (kept across
// restarts) and one zoo.cfg that lists every member's server line. Members
// are started, stopped (SIGTERM), killed (SIGKILL), paused (SIGSTOP) and
// resumed by id; `settled` waits until exactly one member leads and every
// other running member follows or observes it. Acknowledged keeps the writes
// a test got answers for and checks that every member holds them.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Err, ZkError, ZooKeeperClient, type ConnectOptions } from '../../src/client/index.ts';
import { restartablePort } from '../../src/testing/ports.ts';
import { scratchRoot } from './datadirs.ts';
import { fourLetterWord, startServer, type RunningServer } from './servers.ts';
import { waitFor } from './wait.ts';

/** Lines of each member's output a failure to settle shows. */
const TAIL_LINES = 30;

export type ServerKind = RunningServer['kind'];

export interface MemberSpec {
  id: number;
  /** default: paddock */
  kind?: ServerKind;
  observer?: boolean;
  /** JVM-style -D flags (ZooKeeper: java arguments; Paddock: SERVER_JVMFLAGS), e.g. ['-Dreadonlymode.enabled=true'] */
  jvmFlags?: string[];
}

export interface EnsembleOptions {
  tickTime?: number;
  /** zoo.cfg lines every member gets (initLimit, syncLimit, snapCount, …) */
  cfg?: Record<string, string | number>;
  /** how long `settled` and the client helpers wait */
  waitMs?: number;
  /** server lines carry each member's client address (server.N=…;127.0.0.1:clientPort) */
  clientAddressInServerLines?: boolean;
  /** ZooKeeper members print their log into output() */
  zkLog?: boolean;
  /** Paddock members' log format (default text) */
  logFormat?: 'json' | 'text';
  /** each member on its own address, run under a wrapper (e.g. in its own network namespace): fixed ports 2181, 2888, 3888 then */
  network?: MemberNetwork;
  /** each member runs its AdminServer on 127.0.0.1 on a port of its own (adminUrl) */
  adminServer?: boolean;
  /** zoo.cfg lines for member `id` alone, asked at each start (e.g. a proxy mesh's server lines: test/faults/proxy-mesh.ts) */
  memberCfg?: (id: number) => Record<string, string | number>;
}

/** Where member `id` lives when it is not on loopback (test/faults/net.ts). */
export interface MemberNetwork {
  address(id: number): string;
  /** the command prefix member `id` runs under */
  exec(id: number): string[];
}

/** The ports each member of a `network` ensemble listens on, on its own address. */
const NETWORK_PORTS = { client: 2181, quorum: 2888, election: 3888 };

/** A promise, or a failure naming `what` once `ms` have passed. */
export async function bounded<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

interface Member extends Required<MemberSpec> {
  host: string;
  clientPort: number;
  dataDir: string;
  /** with `adminServer`: its AdminServer's port */
  adminPort: number | null;
}

export interface Settled {
  leader: number;
  followers: number[];
  observers: number[];
}

/** The scheduler state (R, S, D, T, …) of each thread of process `pid`, from /proc/<pid>/task/<tid>/stat. */
function threadStates(pid: number): string[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      return []; // the thread ended meanwhile
    }
    return [stat[stat.lastIndexOf(')') + 2]!];
  });
}

export class TestEnsemble {
  readonly waitMs: number;
  private readonly members = new Map<number, Member>();
  private readonly running = new Map<number, RunningServer>();
  private readonly clients = new Set<ZooKeeperClient>();
  private readonly cfg: Record<string, string | number>;

  /** Allocate ports and directories for `specs`; nothing runs yet. */
  static async create(name: string, specs: MemberSpec[], opts: EnsembleOptions = {}): Promise<TestEnsemble> {
    const scratch = scratchRoot(name);
    const cfg: Record<string, string | number> = { initLimit: 20, syncLimit: 10, ...opts.cfg };
    const members: Member[] = [];
    const taken = new Set<number>();
    const freePort = () => restartablePort(taken);
    for (const s of specs) {
      const host = opts.network?.address(s.id) ?? '127.0.0.1';
      const ports = opts.network ? NETWORK_PORTS : { client: await freePort(), quorum: await freePort(), election: await freePort() };
      const adminPort = opts.adminServer ? await freePort() : null;
      const member = { id: s.id, kind: s.kind ?? 'paddock', observer: s.observer ?? false, jvmFlags: s.jvmFlags ?? [], host, clientPort: ports.client, dataDir: scratch.freshDir(`member${s.id}`), adminPort };
      members.push(member);
      const client = opts.clientAddressInServerLines ? `;${host}:${member.clientPort}` : '';
      cfg[`server.${s.id}`] = `${host}:${ports.quorum}:${ports.election}${member.observer ? ':observer' : ''}${client}`;
    }
    return new TestEnsemble(scratch.root, members, cfg, opts);
  }

  private constructor(
    readonly root: string,
    members: Member[],
    cfg: Record<string, string | number>,
    private readonly opts: EnsembleOptions,
  ) {
    for (const m of members) this.members.set(m.id, m);
    this.cfg = cfg;
    this.waitMs = opts.waitMs ?? 60_000;
  }

  get ids(): number[] {
    return [...this.members.keys()];
  }

  get runningIds(): number[] {
    return [...this.running.keys()];
  }

  kind(id: number): ServerKind {
    return this.member(id).kind;
  }

  clientPort(id: number): number {
    return this.member(id).clientPort;
  }

  dataDir(id: number): string {
    return this.member(id).dataDir;
  }

  /** Member `id`'s quorum and election ports, from its server line. */
  peerPorts(id: number): { quorumPort: number; electionPort: number } {
    const [, quorumPort, electionPort] = this.serverLine(id).split(/[:;]/);
    return { quorumPort: Number(quorumPort), electionPort: Number(electionPort) };
  }

  /** Member `id`'s line in the shared zoo.cfg ("host:quorumPort:electionPort[:observer][;client address]"). */
  serverLine(id: number): string {
    return String(this.cfg[`server.${this.member(id).id}`]);
  }

  /** The address member `id` serves clients on (127.0.0.1 unless on a `network`). */
  host(id: number): string {
    return this.member(id).host;
  }

  /** "127.0.0.1:p1,127.0.0.1:p2,…" for `ids` (default: every member). */
  connectString(ids: number[] = this.ids): string {
    return ids.map((id) => `${this.host(id)}:${this.clientPort(id)}`).join(',');
  }

  /** The root URL of member `id`'s AdminServer (the ensemble must be made with `adminServer`). */
  adminUrl(id: number): string {
    const port = this.member(id).adminPort;
    if (port === null) throw new Error('this ensemble runs no AdminServer (EnsembleOptions.adminServer)');
    return `http://127.0.0.1:${port}/`;
  }

  /** The process of member `id` (it must be running). */
  server(id: number): RunningServer {
    const s = this.running.get(id);
    if (!s) throw new Error(`member ${id} is not running`);
    return s;
  }

  /** Start member `id` on its directories; wait until it serves unless `noWait`. */
  async start(id: number, { noWait = false, cfg = {} }: { noWait?: boolean; cfg?: Record<string, string | number> } = {}): Promise<RunningServer> {
    const m = this.member(id);
    if (this.running.has(id)) throw new Error(`member ${id} is already running`);
    const own: Record<string, string | number> = m.observer ? { peerType: 'observer' } : {};
    if (m.adminPort !== null) Object.assign(own, { 'admin.enableServer': 'true', 'admin.serverAddress': '127.0.0.1', 'admin.serverPort': m.adminPort });
    const s = await startServer(m.kind, { myid: id, dataDir: m.dataDir, port: m.clientPort, tickTime: this.opts.tickTime ?? 300, cfg: { ...this.cfg, ...own, ...this.opts.memberCfg?.(id), ...cfg }, jvmFlags: m.jvmFlags, noWait, zkLog: this.opts.zkLog, logFormat: this.opts.logFormat, host: m.host, wrap: this.opts.network?.exec(id) });
    this.running.set(id, s);
    return s;
  }

  /**
   * How leader `leader` last synced learner `learner` (DIFF, TRUNC or SNAP) by
   * its log from offset `since` of its output; null if it did not. ZooKeeper's
   * lines need `zkLog`; it names the learner on the "Synchronizing
   * with Learner sid" line only, so its choice is the next "Sending" line of
   * that LearnerHandler thread.
   */
  syncedBy(leader: number, learner: number, since = 0): 'DIFF' | 'TRUNC' | 'SNAP' | null {
    const log = this.server(leader).output().slice(since);
    if (this.kind(leader) === 'paddock') {
      const found = [...log.matchAll(new RegExp(`syncing server ${learner} by (DIFF|TRUNC|SNAP)\\b`, 'g'))].at(-1);
      return (found?.[1] as 'DIFF' | 'TRUNC' | 'SNAP' | undefined) ?? null;
    }
    const lines = log.split('\n');
    const start = lines.findLastIndex((l) => new RegExp(`Synchronizing with Learner sid: ${learner} `).test(l));
    const thread = start < 0 ? undefined : /\[(LearnerHandler-.*?):LearnerHandler@/.exec(lines[start]!)?.[1];
    if (thread === undefined) return null;
    const sending = lines.slice(start + 1).find((l) => l.includes(`[${thread}:`) && /- Sending (DIFF|TRUNC|snapshot)/.test(l));
    const how = sending && /- Sending (DIFF|TRUNC|snapshot)/.exec(sending)![1];
    return how === 'snapshot' ? 'SNAP' : ((how as 'DIFF' | 'TRUNC' | undefined) ?? null);
  }

  /**
   * Whether member `id` says in its output from offset `since` that it
   * truncated its log to the leader's (ZooKeeper's leader names the TRUNC it
   * sends in the simple case only at DEBUG; its learners say so at WARN).
   */
  truncated(id: number, since = 0): boolean {
    const line = this.kind(id) === 'paddock' ? /truncated the log to 0x/ : /Truncating log to get in sync with the leader 0x/;
    return line.test(this.server(id).output().slice(since));
  }

  /** Whether member `id`'s transaction log holds a txn mentioning `text` (its bytes are in the file once the member wrote them, fsync or not). */
  logHolds(id: number, text: string): boolean {
    const dir = join(this.dataDir(id), 'version-2');
    return readdirSync(dir)
      .filter((f) => f.startsWith('log.'))
      .some((f) => readFileSync(join(dir, f)).includes(Buffer.from(text)));
  }

  /** Start every member not running, then wait for the ensemble to settle. */
  async startAll(): Promise<Settled> {
    await Promise.all(this.ids.filter((id) => !this.running.has(id)).map((id) => this.start(id, { noWait: true })));
    return this.settled();
  }

  /** SIGTERM member `id`; its directories stay. */
  async stop(id: number): Promise<void> {
    const s = this.server(id);
    this.running.delete(id);
    await s.stop();
  }

  /** SIGKILL member `id` and wait for it to exit; its directories stay. */
  async kill(id: number): Promise<void> {
    const s = this.server(id);
    this.running.delete(id);
    if (s.proc.exitCode === null && s.proc.signalCode === null) {
      const exited = new Promise((resolve) => s.proc.once('exit', resolve));
      s.proc.kill('SIGKILL');
      await bounded(`member ${id} to exit`, this.waitMs, exited);
    }
    await s.stop();
  }

  /**
   * SIGSTOP member `id` and wait until every thread of it has stopped: it keeps
   * its sockets but does nothing meanwhile. (A process stops once one of its
   * threads takes the signal; on a busy machine another thread, woken by a
   * packet, may run first and act on it, so the signal alone is not enough.)
   */
  async pause(id: number): Promise<void> {
    const { proc } = this.server(id);
    proc.kill('SIGSTOP');
    await waitFor(`member ${id} to stop`, this.waitMs, () => threadStates(proc.pid!).every((state) => state === 'T'));
  }

  resume(id: number): void {
    this.server(id).proc.kill('SIGCONT');
  }

  /** A four-letter word's reply from member `id` ("unreachable: …" when it does not answer). */
  fourLetter(id: number, word: string): Promise<string> {
    return fourLetterWord(this.host(id), this.clientPort(id), word).catch((e: Error) => `unreachable: ${e.message}`);
  }

  async mntr(id: number): Promise<Map<string, string>> {
    const reply = await this.fourLetter(id, 'mntr');
    return new Map(reply.trim().split('\n').map((l) => l.split('\t') as [string, string]));
  }

  /** srvr's Mode (leader, follower, observer, read-only, standalone), or null when member `id` does not serve. */
  async mode(id: number): Promise<string | null> {
    return /^Mode: ([\w-]+)$/m.exec(await this.fourLetter(id, 'srvr'))?.[1] ?? null;
  }

  /**
   * Wait until one of members `among` (default: every running one) leads and
   * every other of them follows (participants) or observes (observers); pass
   * `among` to leave out a member that is paused and cannot answer.
   */
  async settled(among: number[] = this.runningIds): Promise<Settled> {
    let last = '';
    const found = waitFor('one leader, the rest following or observing', this.waitMs, async () => {
      const modes = new Map<number, string | null>();
      for (const id of among) modes.set(id, await this.mode(id));
      last = [...modes].map(([id, m]) => `${id}: ${m}`).join(', ');
      const with_ = (mode: string) => [...modes].filter(([, m]) => m === mode).map(([id]) => id);
      const [leaders, followers, observers] = [with_('leader'), with_('follower'), with_('observer')];
      const expected = (id: number) => (this.member(id).observer ? observers : followers).includes(id);
      const ok = leaders.length === 1 && [...modes.keys()].every((id) => id === leaders[0] || expected(id));
      return ok ? { leader: leaders[0]!, followers, observers } : null;
    });
    return found.catch((e: Error) => {
      throw new Error(`${e.message}; last modes: ${last}\n${this.tails(among)}`);
    });
  }

  /** The end of the output of each of `ids` that runs, for a failure's message. */
  tails(ids: number[]): string {
    return [...this.running]
      .filter(([id]) => ids.includes(id))
      .map(([id, s]) => `--- member ${id} (${s.kind}), the end of its output:\n${s.output().split('\n').slice(-TAIL_LINES).join('\n')}`)
      .join('\n');
  }

  /** A Paddock client session on member `id` (or a connect string), closed by `close` if still open. */
  async connect(target: number | string, opts: ConnectOptions = {}): Promise<ZooKeeperClient> {
    const where = typeof target === 'number' ? this.connectString([target]) : target;
    const c = await ZooKeeperClient.connect(where, { sessionTimeout: 6000, connectTimeout: 10_000, ...opts }).catch((e: Error) => {
      // Members are meant to serve here: say what the one refusing us was doing.
      e.message += `\n${this.tails(typeof target === 'number' ? [target] : this.runningIds)}`;
      throw e;
    });
    this.clients.add(c);
    return c;
  }

  /** What member `id` holds at `path` after a sync (its reads then see every write committed before); null if absent. */
  async readAfterSync(id: number, path: string): Promise<string | null> {
    return (await this.readManyAfterSync(id, [path]))[0]!;
  }

  /** readAfterSync for each of `paths`, in one session on member `id`. */
  async readManyAfterSync(id: number, paths: string[]): Promise<(string | null)[]> {
    const c = await this.connect(id);
    try {
      await bounded(`sync on member ${id}`, this.waitMs, c.sync('/'));
      const read = (path: string) =>
        c.getData(path).then(
          (r) => r.data?.toString() ?? null,
          (e: unknown) => (e instanceof ZkError && e.code === Err.noNode ? null : Promise.reject(e)),
        );
      return await bounded(`reads on member ${id}`, this.waitMs, Promise.all(paths.map(read)));
    } finally {
      await c.close().catch(() => undefined);
      this.clients.delete(c);
    }
  }

  /** Drop every client, stop every member, remove the directories. */
  async close(): Promise<void> {
    for (const c of this.clients) c.disconnect();
    for (const [id, s] of this.running) {
      if (s.proc.signalCode === null && s.proc.exitCode === null) s.proc.kill('SIGCONT');
      this.running.delete(id);
      await s.stop().catch(() => undefined);
    }
    rmSync(this.root, { recursive: true, force: true });
  }

  private member(id: number): Member {
    const m = this.members.get(id);
    if (!m) throw new Error(`no member ${id}`);
    return m;
  }
}

/**
 * The writes an ensemble acknowledged, under one parent znode, and the check
 * that every running member holds every one of them.
 */
export class Acknowledged {
  /** path → value */
  readonly writes = new Map<string, string>();

  constructor(
    private readonly ens: TestEnsemble,
    readonly parent: string,
  ) {}

  /** One create through each of `ids` (default: every running member, observers too), each acknowledged. */
  async throughEach(tag: string, ids = this.ens.runningIds): Promise<void> {
    for (const id of ids) {
      const c = await this.ens.connect(id);
      const path = `${this.parent}/${tag}-via-${id}`;
      const value = `${tag} through ${this.ens.kind(id)} ${id}`;
      assert.equal(await bounded(`create ${path}`, this.ens.waitMs, c.create(path, value)), path);
      this.writes.set(path, value);
      await c.close();
    }
  }

  /** Each of `ids` (default: every running member) reads every acknowledged write after sync. */
  async everywhere(ids = this.ens.runningIds): Promise<void> {
    const paths = [...this.writes.keys()];
    for (const id of ids) {
      assert.deepEqual(await this.ens.readManyAfterSync(id, paths), [...this.writes.values()], `${this.ens.kind(id)} member ${id} holds every acknowledged write`);
    }
  }
}
