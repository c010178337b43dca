// Sessions across an ensemble, with real processes: three `paddock server`
// members (TestEnsemble) and four clients — Paddock's own, the Java client
// (ZooKeeper 3.8), kazoo and node-zookeeper-client — each given the whole
// connect string. A client makes an ephemeral and sets a data watch; the
// member it is connected to is killed (SIGKILL); the client moves to another
// member and must keep its session (the same id), its ephemeral (read from
// another session) and its watch (re-registered by setWatches, fired by a
// change made after the move). Paddock's own client, which does not reconnect
// by itself, is reattached by the test in connect-string order, so it lands
// on a follower: the reattach there is answered only after the leader's
// REVALIDATE. A session that expired while its client was away is refused
// on reattach at a follower. The external clients are driven by the programs
// in test/failover (one line protocol, described in FailoverClient.java).
// kazoo 2.8 sends no setWatches (it drops its watches on a connection loss):
// its program keeps the watch the way kazoo users do, with the DataWatch
// recipe, which watches again once reconnected.

import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ZooKeeperClient, type RawWatchEvent as WatchEvent } from '../src/client/index.ts';
import { Err, EventType, OpCode, ZkError } from '../src/proto/constants.ts';
import { sessionHex } from '../src/server/sessions.ts';
import { ZK_CLIENT_CLASSPATH } from './interop/harness.ts';
import { bounded, TestEnsemble } from './support/ensemble.ts';
import { waitFor } from './support/wait.ts';

const WAIT_MS = 60_000;
/** 20 ticks of 300 ms: ZooKeeper's default maxSessionTimeout, long enough to outlive an election */
const SESSION_MS = 6000;
const HERE = dirname(fileURLToPath(import.meta.url));

/** A client program of test/failover, spoken to line by line. */
class ClientProgram {
  private readonly lines: string[] = [];
  private output = '';
  private constructor(private readonly proc: ChildProcess) {
    let pending = '';
    proc.stdout!.on('data', (d: Buffer) => {
      this.output += d;
      pending += d;
      for (let i; (i = pending.indexOf('\n')) >= 0; pending = pending.slice(i + 1)) this.lines.push(pending.slice(0, i).trim());
    });
    proc.stderr!.on('data', (d: Buffer) => (this.output += d));
  }

  static start(cmd: string, args: string[]): ClientProgram {
    return new ClientProgram(spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PYTHONUNBUFFERED: '1' } }));
  }

  /** The first line starting with `word` (fails on an ERROR line, or when the program exits first). */
  line(word: string): Promise<string> {
    return waitFor(`"${word}" from the client program`, WAIT_MS, () => {
      const found = this.lines.find((l) => l.startsWith(`${word} `) || l === word);
      if (found) return found;
      if (this.lines.some((l) => l.startsWith('ERROR')) || this.proc.exitCode !== null) throw new Error(`client program failed before "${word}":\n${this.output}`);
      return null;
    });
  }

  send(line: string): void {
    this.proc.stdin!.write(`${line}\n`);
  }

  stop(): void {
    if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
  }
}

describe('a client fails over to another member and keeps its session, ephemerals and watches', { timeout: 600_000 }, () => {
  let ens: TestEnsemble;
  let javaClasses: string;

  before(async () => {
    javaClasses = mkdtempSync(join(tmpdir(), 'failover-java-'));
    const compiled = promisify(execFile)('javac', ['-nowarn', '-cp', ZK_CLIENT_CLASSPATH.join(':'), '-d', javaClasses, join(HERE, 'failover', 'FailoverClient.java')], { timeout: 180_000 });
    ens = await TestEnsemble.create('session-failover', [1, 2, 3].map((id) => ({ id })), { tickTime: 300, waitMs: WAIT_MS });
    await Promise.all([ens.startAll(), compiled]);
  });

  after(async () => {
    await ens?.close();
    rmSync(javaClasses, { recursive: true, force: true });
  });

  /** The member whose `cons` lists session `hex`. */
  function memberOf(hex: string): Promise<number> {
    return waitFor(`a member to list session 0x${hex}`, WAIT_MS, async () => {
      for (const id of ens.runningIds) if ((await ens.fourLetter(id, 'cons')).includes(`sid=0x${hex},`)) return id;
      return null;
    });
  }

  /** Make `base` and `base/watched` through a short session. */
  async function prepare(base: string): Promise<void> {
    const c = await ens.connect(ens.connectString(ens.runningIds));
    await c.create(base, '');
    await c.create(`${base}/watched`, 'before');
    await c.close();
  }

  /** From another session: who owns `path` (null: absent), after a sync. */
  async function ephemeralOwner(path: string): Promise<string | null> {
    const c = await ens.connect(ens.connectString(ens.runningIds));
    try {
      await bounded('sync', WAIT_MS, c.sync(path));
      const stat = await c.exists(path);
      return stat ? sessionHex(stat.ephemeralOwner) : null;
    } finally {
      await c.close();
    }
  }

  async function change(path: string): Promise<void> {
    const c = await ens.connect(ens.connectString(ens.runningIds));
    await c.setData(path, 'after the move');
    await c.close();
  }

  /** Bring the killed member back and wait for the ensemble to settle, for the next client. */
  async function restore(id: number): Promise<void> {
    await ens.start(id, { noWait: true });
    await ens.settled();
  }

  /** Drive one external client program through the move; says between which roles it moved. */
  async function failover(name: string, cmd: string, args: string[]): Promise<string> {
    const base = `/failover-${name}`;
    await prepare(base);
    const program = ClientProgram.start(cmd, [...args, ens.connectString(), base, String(SESSION_MS)]);
    let from: number | null = null;
    try {
      const session = (await program.line('READY')).split(' ')[1]!;
      from = await memberOf(session);
      const fromMode = await ens.mode(from);
      await ens.kill(from);
      program.send('MOVE');
      assert.equal(await program.line('MOVED'), `MOVED ${session} 1`, `${name}: the same session after the move, and it sees its ephemeral`);
      const to = await memberOf(session);
      assert.notEqual(to, from);
      assert.equal(await ephemeralOwner(`${base}/eph`), session, `${name}: another session sees the ephemeral, owned by the moved session`);
      await change(`${base}/watched`);
      assert.equal(await program.line('EVENT'), `EVENT NodeDataChanged ${base}/watched`, `${name}: the watch set before the move fired for a change after it`);
      program.send('CLOSE');
      await program.line('CLOSED');
      assert.equal(await ephemeralOwner(`${base}/eph`), null, `${name}: closing the session removed its ephemeral`);
      return `${name} moved from a ${fromMode} to a ${await ens.mode(to)}`;
    } finally {
      program.stop();
      if (from !== null) await restore(from);
    }
  }

  it("Paddock's client, reattached on a follower: the leader revalidates the session; setWatches re-registers the watch", async () => {
    const { leader, followers } = await ens.settled();
    const [first, second] = followers as [number, number];
    const base = '/failover-paddock';
    await prepare(base);
    // Connect-string order puts the session on a follower, and its reattach on the other one.
    const where = ens.connectString([first, second, leader]);
    const c = await ZooKeeperClient.connect(where, { sessionTimeout: SESSION_MS });
    await c.create(`${base}/eph`, 'eph', { mode: 1 });
    await c.getData(`${base}/watched`, true);
    const { sessionId, password, lastZxid } = c;
    assert.equal(await memberOf(sessionHex(sessionId)), first);
    await ens.kill(first);
    try {
      const moved = await ZooKeeperClient.connect(where, { sessionId, password, lastZxidSeen: lastZxid, sessionTimeout: SESSION_MS });
      assert.equal(moved.sessionId, sessionId, 'the same session');
      assert.equal(await memberOf(sessionHex(sessionId)), second);
      assert.equal(await ens.mode(second), 'follower', 'reattached at a follower, which asked the leader');
      const events: WatchEvent[] = [];
      moved.on('watch', (e: WatchEvent) => events.push(e));
      const set = await moved.request({ type: OpCode.setWatches, relativeZxid: lastZxid, dataWatches: [`${base}/watched`], existWatches: [], childWatches: [], persistentWatches: [], persistentRecursiveWatches: [] });
      assert.equal(set.err, Err.ok);
      assert.equal(await ephemeralOwner(`${base}/eph`), sessionHex(sessionId));
      await change(`${base}/watched`);
      await waitFor('the watch to fire', WAIT_MS, () => events.length > 0);
      assert.deepEqual(events.map((e) => [e.type, e.path]), [[EventType.nodeDataChanged, `${base}/watched`]]);
      await moved.close();
      assert.equal(await ephemeralOwner(`${base}/eph`), null);
    } finally {
      await restore(first);
    }
  });

  it('the Java client (ZooKeeper 3.8)', async (t) => t.diagnostic(await failover('java', 'java', ['-Xmx256m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn', '-cp', [javaClasses, ...ZK_CLIENT_CLASSPATH].join(':'), 'FailoverClient'])));

  it('kazoo', async (t) => t.diagnostic(await failover('kazoo', '/usr/bin/python3', [join(HERE, 'failover', 'failover_client.py')])));

  it('node-zookeeper-client', async (t) => t.diagnostic(await failover('node', process.execPath, ['--import', 'tsx', join(HERE, 'failover', 'failover-client.ts')])));

  it('a session that expired while its client was away is refused on reattach at a follower', async () => {
    const { followers } = await ens.settled();
    const [first, second] = followers as [number, number];
    const c = await ZooKeeperClient.connect(ens.connectString([first]), { sessionTimeout: 1200 });
    await c.create('/expiring', '', { mode: 1 });
    const { sessionId, password } = c;
    c.disconnect();
    await waitFor('the leader to expire the session', WAIT_MS, async () => (await ephemeralOwner('/expiring')) === null);
    await assert.rejects(
      ZooKeeperClient.connect(ens.connectString([second]), { sessionId, password, sessionTimeout: 1200 }),
      (e: ZkError) => e.code === Err.sessionExpired,
    );
  });
});
