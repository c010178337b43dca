// Read-only mode (readonlymode.enabled=true) on real processes, the same
// scenario on a three-member Paddock ensemble and on a three-member ZooKeeper
// 3.8 ensemble: data is written, two members are killed (SIGKILL), and the
// survivor, once it has looked for a quorum for max(2000 ms, tickTime), serves
// clients that ask for read-only — Paddock's own client, kazoo (read_only=True)
// and zkCli.sh -r — answering reads from its tree and every write and sync with
// NotReadOnly, while it refuses clients that did not ask for read-only. The two
// are restarted; the survivor rejoins (closing its read-only connections) and
// kazoo writes through a read-write server again. What each kind did is
// recorded, checked against what read-only mode must do, and compared.
//
// Differences kept on purpose (README, "Read-only mode"):
// - ZooKeeper 3.8 serves read-only sessions only with localSessionsEnabled=true
//   (without it a new session is answered with a NotReadOnly reply header
//   instead of a ConnectResponse); the ZooKeeper ensemble here has it on.
//   Paddock's read-only sessions are local to the member whatever that key says.
// - ZooKeeper 3.8 refuses to reattach a session made read-write (it closes the
//   connection); Paddock takes it back read-only, as ZooKeeper before 3.7 did
//   and as kazoo expects, so kazoo keeps its session (and its ephemerals) across.

import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { ZooKeeperClient } from '../src/client/index.ts';
import { OpCode } from '../src/proto/constants.ts';
import type { Request } from '../src/proto/records.ts';
import { bounded, TestEnsemble, type ServerKind } from './support/ensemble.ts';
import { connectPayload, frame, OPEN_ACL, RawConn } from './support/rawclient.ts';
import { ROOT, ZK_CLASSPATH } from './support/servers.ts';
import { waitFor } from './support/wait.ts';

const WAIT_MS = 60_000;
const NOT_READ_ONLY = -119;
const RO_LINE = 'READ-ONLY mode; serving only read-only clients';

/** One request of every kind a client may send, and what it is called in the record below. */
const PROBES: [string, Request][] = [
  ['exists', { type: OpCode.exists, path: '/ro/before', watch: false }],
  ['getData', { type: OpCode.getData, path: '/ro/before', watch: true }],
  ['getChildren', { type: OpCode.getChildren, path: '/ro', watch: false }],
  ['getChildren2', { type: OpCode.getChildren2, path: '/ro', watch: true }],
  ['getACL', { type: OpCode.getACL, path: '/ro/before' }],
  ['getAllChildrenNumber', { type: OpCode.getAllChildrenNumber, path: '/ro' }],
  ['getEphemerals', { type: OpCode.getEphemerals, path: '/' }],
  ['multiRead', { type: OpCode.multiRead, ops: [{ type: OpCode.getData, path: '/ro/before', watch: false }] }],
  ['addWatch', { type: OpCode.addWatch, path: '/ro', mode: 0 }],
  ['whoAmI', { type: OpCode.whoAmI }],
  ['create', { type: OpCode.create, path: '/ro/during', data: Buffer.from('x'), acl: OPEN_ACL, flags: 0 }],
  ['create2', { type: OpCode.create2, path: '/ro/during', data: Buffer.from('x'), acl: OPEN_ACL, flags: 0 }],
  ['createContainer', { type: OpCode.createContainer, path: '/ro/during', data: Buffer.from('x'), acl: OPEN_ACL, flags: 4 }],
  ['createTTL', { type: OpCode.createTTL, path: '/ro/during', data: Buffer.from('x'), acl: OPEN_ACL, flags: 5, ttl: 1000 }],
  ['setData', { type: OpCode.setData, path: '/ro/before', data: Buffer.from('changed'), version: -1 }],
  ['delete', { type: OpCode.delete, path: '/ro/before', version: -1 }],
  ['setACL', { type: OpCode.setACL, path: '/ro/before', acl: OPEN_ACL, version: -1 }],
  ['check', { type: OpCode.check, path: '/ro/before', version: -1 }],
  ['multi', { type: OpCode.multi, ops: [{ type: OpCode.setData, path: '/ro/before', data: Buffer.from('changed'), version: -1 }] }],
  ['sync', { type: OpCode.sync, path: '/ro' }],
  ['deleteContainer', { type: OpCode.deleteContainer, path: '/ro' }],
  ['reconfig', { type: OpCode.reconfig }],
];
const WRITES_AND_SYNC = ['create', 'create2', 'createContainer', 'createTTL', 'setData', 'delete', 'setACL', 'check', 'multi', 'sync', 'deleteContainer', 'reconfig'];

/** kazoo 2.8.0 (Debian, /usr/bin/python3) in a child process, one command at a time (test/readonly/kazoo_driver.py). */
class Kazoo {
  private readonly proc: ChildProcessWithoutNullStreams;
  private readonly lines: AsyncIterator<string>;
  private stderr = '';

  constructor(hosts: string, readOnly: boolean) {
    this.proc = spawn('/usr/bin/python3', [join(ROOT, 'test', 'readonly', 'kazoo_driver.py'), hosts, readOnly ? '1' : '0']);
    this.proc.stderr.on('data', (d) => (this.stderr += d));
    this.lines = createInterface({ input: this.proc.stdout })[Symbol.asyncIterator]();
  }

  async run(cmd: Record<string, unknown>): Promise<KazooAnswer> {
    this.proc.stdin.write(JSON.stringify(cmd) + '\n');
    const line = await bounded(`kazoo ${JSON.stringify(cmd)} (stderr: ${this.stderr.slice(-2000)})`, WAIT_MS + 10_000, this.lines.next());
    if (line.done) throw new Error(`kazoo exited: ${this.stderr.slice(-2000)}`);
    return JSON.parse(line.value) as KazooAnswer;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    await this.run({ op: 'stop' }).catch(() => this.proc.kill('SIGKILL'));
    await bounded('kazoo to exit', WAIT_MS, exited);
  }
}

interface KazooAnswer {
  ok: boolean;
  value?: unknown;
  error?: string;
  code?: number | null;
  state: string;
  session: string | null;
}

/** The answer a kazoo call gives, without the session and state. */
const outcome = (a: KazooAnswer) => (a.ok ? { ok: true, value: a.value } : { ok: false, error: a.error, code: a.code });

/** Does the server close a connection whose ConnectRequest has this readOnly byte (undefined: none), without a reply? */
async function closedWithoutReply(port: number, readOnly: boolean | undefined): Promise<boolean> {
  const conn = await RawConn.open('127.0.0.1', port);
  await conn.write(frame(connectPayload({ timeOut: 6000, readOnly })));
  const { frames, timedOut } = await conn.drain(10_000);
  conn.destroy();
  return frames.length === 0 && !timedOut;
}

/** srvr/stat with the numbers and the version line taken out: the lines a monitoring script matches. */
const shape = (reply: string) =>
  reply
    .split('\n')
    .filter((l) => !l.startsWith('Zookeeper version:') && !l.startsWith(' /'))
    .map((l) => l.replace(/\d+(\/[\d.]+)*|0x[0-9a-f]+/g, 'N'));

/** zkCli.sh -r (the Java client, read-only) running one command against `server`. */
function zkCli(server: string, ...cmd: string[]): string {
  const r = spawnSync('java', ['-cp', ZK_CLASSPATH, 'org.apache.zookeeper.ZooKeeperMain', '-r', '-server', server, ...cmd], { encoding: 'utf8', timeout: WAIT_MS });
  return `${r.stdout}\n${r.stderr}`;
}

/** What one kind of ensemble did in the scenario. */
interface Observed {
  isroBefore: string;
  isro: string;
  srvr: string;
  stat: string;
  mntr: Map<string, string>;
  /** op name → error code of its reply to a read-only session */
  codes: Map<string, number>;
  clientReadOnlyFlag: boolean | undefined;
  readBack: string | null;
  /** error code of the reply to closeSession on a read-only session */
  closeSession: number;
  refusedWithFalseByte: boolean;
  refusedWithoutByte: boolean;
  /** a session made read-write, reattached read-only: its session id came back (true) or the connection closed (false) */
  reattached: boolean;
  /** kazoo with read_only=True, a new session on the read-only member */
  kazooState: string;
  kazooGet: unknown;
  kazooWrites: Map<string, unknown>;
  zkCliGet: string;
  zkCliCreate: string;
  /** the read-only connection closed when the member left read-only mode */
  closedOnRejoin: boolean;
  modeAfter: string | null;
  /** kazoo (read_only=True) once the quorum is back: its state and the answer to a create */
  kazooAfter: { state: string; create: unknown };
  /** on every member after the rejoin, what is at /ro/before and whether /ro/during exists */
  dataAfter: Map<number, { before: string | null; during: string | null }>;
  /** srvr's Zxid on the read-only member when it went read-only and after every read-only request */
  zxidBefore: string;
  zxidAfter: string;
  /** the kazoo client whose session was made read-write before the kill (Paddock only: see the header) */
  longLived?: { roState: string; sameSessionRO: boolean; rwState: string; sameSessionRW: boolean; ephemeralKept: boolean };
}

async function scenario(kind: ServerKind): Promise<Observed> {
  // ZooKeeper 3.8 serves read-only sessions only as local sessions (see the header). Sessions may
  // last 20 s, so that kazoo's reconnection back-off never outlasts the session it brings back.
  const cfg: Record<string, string | number> = { maxSessionTimeout: 30_000, ...(kind === 'zookeeper' ? { localSessionsEnabled: 'true' } : {}) };
  const ens = await TestEnsemble.create(`readonly-${kind}`, [1, 2, 3].map((id) => ({ id, kind, jvmFlags: ['-Dreadonlymode.enabled=true'] })), { tickTime: 300, cfg, waitMs: WAIT_MS });
  const kazoos: Kazoo[] = [];
  const kazoo = (hosts: string) => {
    const k = new Kazoo(hosts, true);
    kazoos.push(k);
    return k;
  };
  try {
    const { followers } = await ens.startAll();
    const survivor = followers[0]!;
    const others = ens.ids.filter((id) => id !== survivor);
    const writer = await ens.connect(ens.connectString());
    await writer.create('/ro', Buffer.from(''));
    await writer.create('/ro/before', Buffer.from('before'));
    await writer.close();
    assert.equal(await ens.readAfterSync(survivor, '/ro/before'), 'before');
    const isroBefore = await ens.fourLetter(survivor, 'isro');

    // A session made read-write on the survivor, kept across (Paddock's client, and kazoo with an ephemeral).
    const rw = await ens.connect(survivor, { readOnly: true });
    const longLived = kind === 'paddock' ? kazoo(ens.connectString([survivor])) : null;
    let longLivedSession: string | null = null;
    if (longLived) {
      assert.equal((await longLived.run({ op: 'start', timeout: 30 })).ok, true);
      const made = await longLived.run({ op: 'create', path: '/ro/kazoo-ephemeral', data: 'mine', ephemeral: true });
      assert.equal(made.ok, true, JSON.stringify(made));
      assert.equal(made.state, 'CONNECTED');
      longLivedSession = made.session;
    }

    for (const id of others) await ens.kill(id);
    await waitFor(`member ${survivor} to serve read-only`, WAIT_MS, async () => (await ens.mode(survivor)) === 'read-only');
    const zxidBefore = /^Zxid: (\S+)$/m.exec(await ens.fourLetter(survivor, 'srvr'))![1]!;

    const ro = await ens.connect(survivor, { readOnly: true });
    let closedOnRejoin = false;
    ro.once('close', () => (closedOnRejoin = true));
    const codes = new Map<string, number>();
    for (const [name, req] of PROBES) codes.set(name, (await bounded(`${name} on the read-only member`, WAIT_MS, ro.request(req))).err);
    const readBack = (await ro.getData('/ro/before')).data?.toString() ?? null;
    const closing = await ens.connect(survivor, { readOnly: true });
    const closeSession = (await bounded('closeSession on the read-only member', WAIT_MS, closing.request({ type: OpCode.closeSession }))).err;
    const reattached = await ens
      .connect(survivor, { readOnly: true, sessionId: rw.sessionId, password: rw.password, connectTimeout: 10_000 })
      .then((c: ZooKeeperClient) => c.sessionId === rw.sessionId && c.readOnly === true)
      .catch(() => false);

    const fresh = kazoo(ens.connectString([survivor]));
    const started = await fresh.run({ op: 'start', timeout: 30 });
    assert.equal(started.ok, true, JSON.stringify(started));
    const kazooGet = outcome(await fresh.run({ op: 'get', path: '/ro/before' }));
    const kazooWrites = new Map<string, unknown>();
    for (const cmd of [
      { op: 'create', path: '/ro/during', data: 'x' },
      { op: 'set', path: '/ro/before', data: 'changed' },
      { op: 'delete', path: '/ro/before' },
      { op: 'sync', path: '/ro' },
    ]) {
      kazooWrites.set(cmd.op, outcome(await fresh.run(cmd)));
    }
    let roState = '';
    if (longLived) roState = (await longLived.run({ op: 'wait_state', state: 'CONNECTED_RO', timeout: 60 })).state;
    const longLivedRO = longLived ? await longLived.run({ op: 'exists', path: '/ro/kazoo-ephemeral' }) : null;

    const zkCliGet = zkCli(ens.connectString([survivor]), 'get', '/ro/before');
    const zkCliCreate = zkCli(ens.connectString([survivor]), 'create', '/ro/during', 'x');

    const record: Omit<Observed, 'closedOnRejoin' | 'modeAfter' | 'kazooAfter' | 'dataAfter' | 'zxidAfter'> = {
      isroBefore,
      isro: await ens.fourLetter(survivor, 'isro'),
      srvr: await ens.fourLetter(survivor, 'srvr'),
      stat: await ens.fourLetter(survivor, 'stat'),
      mntr: await ens.mntr(survivor),
      codes,
      clientReadOnlyFlag: ro.readOnly,
      readBack,
      closeSession,
      refusedWithFalseByte: await closedWithoutReply(ens.clientPort(survivor), false),
      refusedWithoutByte: await closedWithoutReply(ens.clientPort(survivor), undefined),
      reattached,
      kazooState: started.state,
      kazooGet,
      kazooWrites,
      zkCliGet,
      zkCliCreate,
      zxidBefore,
    };
    const zxidAfter = /^Zxid: (\S+)$/m.exec(await ens.fourLetter(survivor, 'srvr'))![1]!;

    // The quorum comes back: the survivor leaves read-only mode and rejoins.
    await Promise.all(others.map((id) => ens.start(id, { noWait: true })));
    await ens.settled();
    await waitFor('the read-only connection to close', WAIT_MS, () => closedOnRejoin);
    const modeAfter = await ens.mode(survivor);
    const kazooAfter = await fresh.run({ op: 'wait_state', state: 'CONNECTED', timeout: 60 });
    const created = await fresh.run({ op: 'create', path: '/ro/after', data: 'after' });
    const dataAfter = new Map<number, { before: string | null; during: string | null }>();
    for (const id of ens.ids) dataAfter.set(id, { before: await ens.readAfterSync(id, '/ro/before'), during: await ens.readAfterSync(id, '/ro/during') });

    let longLivedRecord: Observed['longLived'];
    if (longLived) {
      const back = await longLived.run({ op: 'wait_state', state: 'CONNECTED', timeout: 60 });
      const kept = await longLived.run({ op: 'exists', path: '/ro/kazoo-ephemeral' });
      longLivedRecord = {
        roState,
        sameSessionRO: longLivedRO?.session === longLivedSession && longLivedRO?.value === true,
        rwState: back.state,
        sameSessionRW: kept.session === longLivedSession,
        ephemeralKept: kept.ok && kept.value === true,
      };
    }
    return {
      ...record,
      zxidAfter,
      closedOnRejoin,
      modeAfter,
      kazooAfter: { state: kazooAfter.state, create: outcome(created) },
      dataAfter,
      longLived: longLivedRecord,
    };
  } catch (e) {
    // What each member logged, for the failure's story.
    const logs = ens.runningIds.map((id) => `--- member ${id} (${kind}), last lines:\n${ens.server(id).output().split('\n').slice(-40).join('\n')}`);
    throw new Error(`${(e as Error).message}\n${logs.join('\n')}`, { cause: e });
  } finally {
    for (const k of kazoos) await k.stop().catch(() => undefined);
    await ens.close();
  }
}

/** What read-only mode must do, whoever serves it. */
function checkReadOnly(r: Observed, kind: ServerKind): void {
  assert.equal(r.isroBefore, 'rw', `${kind}: isro while following`);
  assert.equal(r.isro, 'ro', `${kind}: isro while read-only`);
  for (const reply of [r.srvr, r.stat]) {
    assert.match(reply, /^Mode: read-only$/m, kind);
    assert.equal(reply.split('\n')[1], RO_LINE, `${kind}: the READ-ONLY line follows the version line`);
  }
  assert.equal(r.mntr.get('zk_server_state'), 'read-only', kind);
  assert.equal(r.mntr.has('zk_peer_state'), false, `${kind}: mntr of a read-only server has no quorum keys`);
  // Paddock's client and kazoo hold read-only sessions, local to the member (zkCli's may have expired by then).
  assert.ok(Number(r.mntr.get('zk_local_sessions')) >= 2, `${kind}: zk_local_sessions ${r.mntr.get('zk_local_sessions')}`);
  assert.equal(r.closeSession, 0, `${kind}: closeSession of a read-only session`);
  assert.equal(r.clientReadOnlyFlag, true, `${kind}: the ConnectResponse says read-only`);
  assert.equal(r.readBack, 'before', `${kind}: data written before is read`);
  for (const name of WRITES_AND_SYNC) assert.equal(r.codes.get(name), NOT_READ_ONLY, `${kind}: ${name} while read-only`);
  for (const [name] of PROBES) if (!WRITES_AND_SYNC.includes(name)) assert.notEqual(r.codes.get(name), NOT_READ_ONLY, `${kind}: ${name} is a read`);
  assert.equal(r.codes.get('getData'), 0, kind);
  assert.equal(r.refusedWithFalseByte, true, `${kind}: a client with readOnly=false is closed without a reply`);
  assert.equal(r.refusedWithoutByte, true, `${kind}: a client without the readOnly byte is closed without a reply`);
  assert.equal(r.kazooState, 'CONNECTED_RO', kind);
  assert.deepEqual(r.kazooGet, { ok: true, value: 'before' }, kind);
  for (const [op, answer] of r.kazooWrites) assert.deepEqual(answer, { ok: false, error: 'NotReadOnlyCallError', code: NOT_READ_ONLY }, `${kind}: kazoo ${op}`);
  assert.match(r.zkCliGet, /^before$/m, `${kind}: zkCli -r get:\n${r.zkCliGet}`);
  assert.match(r.zkCliCreate, /NotReadOnly|not.*read-?only/i, `${kind}: zkCli -r create:\n${r.zkCliCreate}`);
  assert.equal(r.closedOnRejoin, true, kind);
  assert.ok(r.modeAfter === 'leader' || r.modeAfter === 'follower', `${kind}: mode after the rejoin is ${r.modeAfter}`);
  assert.equal(r.kazooAfter.state, 'CONNECTED', kind);
  assert.deepEqual(r.kazooAfter.create, { ok: true, value: '/ro/after' }, `${kind}: kazoo writes once the quorum is back`);
  for (const [id, data] of r.dataAfter) assert.deepEqual(data, { before: 'before', during: null }, `${kind}: member ${id} after the rejoin`);
}

describe('read-only mode on a member cut off from its quorum (readonlymode.enabled=true)', { timeout: 600_000 }, () => {
  const records = new Map<ServerKind, Observed>();
  after(() => records.clear());

  it('ZooKeeper 3.8: the survivor serves read-only clients, refuses writes, and rejoins', async () => {
    const r = await scenario('zookeeper');
    records.set('zookeeper', r);
    checkReadOnly(r, 'zookeeper');
    assert.equal(r.reattached, false, 'ZooKeeper 3.8 refuses to reattach a session made read-write');
  });

  it('Paddock: the survivor serves read-only clients, refuses writes, and rejoins with no data lost', async () => {
    const r = await scenario('paddock');
    records.set('paddock', r);
    checkReadOnly(r, 'paddock');
    assert.equal(r.zxidAfter, r.zxidBefore, 'read-only sessions and requests made no txn');
    assert.equal(r.reattached, true, 'a session made read-write is taken back read-only');
    assert.deepEqual(r.longLived, { roState: 'CONNECTED_RO', sameSessionRO: true, rwState: 'CONNECTED', sameSessionRW: true, ephemeralKept: true }, 'kazoo keeps its session and its ephemeral across');
  });

  it('Paddock answers as ZooKeeper 3.8 does: four-letter words, error codes, refusals', () => {
    const zk = records.get('zookeeper');
    const paddock = records.get('paddock');
    assert.ok(zk && paddock, 'both scenarios above ran to the end');
    assert.deepEqual(shape(paddock.srvr), shape(zk.srvr));
    assert.deepEqual(shape(paddock.stat), shape(zk.stat));
    assert.equal(paddock.isro, zk.isro);
    assert.equal(paddock.mntr.get('zk_server_state'), zk.mntr.get('zk_server_state'));
    assert.deepEqual(paddock.codes, zk.codes);
    assert.equal(paddock.closeSession, zk.closeSession);
    assert.deepEqual(paddock.kazooWrites, zk.kazooWrites);
    assert.deepEqual([paddock.refusedWithFalseByte, paddock.refusedWithoutByte], [zk.refusedWithFalseByte, zk.refusedWithoutByte]);
  });
});
