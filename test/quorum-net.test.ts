// The quorum-port runtime (src/runtime/quorum-net.ts + replica.ts) against a
// real ZooKeeper 3.8 ensemble. Two ZooKeeper peers of a 3-voter + 1-observer
// config form a quorum; a Paddock peer — the Zab core, the runtime and a real
// DataDir in a temp dir — joins it as server 3 (follower) and later server 4
// (observer), told whom to follow (no election). Each phase checks that the
// Paddock replica holds exactly what ZooKeeper serves (every node's data and
// Stat, read through a ZooKeeper client), that its tree digest equals the
// TxnDigest ZooKeeper's leader sent with the last txn and its own check of
// every txn's digest found no mismatch (the last test shows it counts one
// when the digest is off), and which sync the
// leader chose: SNAP for an empty peer, DIFF for one that rejoins close
// behind, TRUNC for one holding txns the leader never had. The leader answers
// the Paddock follower's REVALIDATEs (alive or not) as it answers its own
// followers'. The Paddock peer
// restarts from its own directories in between, and ZooKeeper's own tools
// (TxnLogToolkit, SnapshotFormatter) read every file it wrote.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ZooKeeperClient } from '../src/client/index.ts';
import type { PeerAddress } from '../src/config/config.ts';
import { recordingLogger, SILENT } from '../src/log.ts';
import { treeDigest } from '../src/tree/digest.ts';
import { OpCode } from '../src/proto/constants.ts';
import type { LoggedTxn, Txn } from '../src/proto/txn.ts';
import { QuorumNet } from '../src/runtime/quorum-net.ts';
import { Replica } from '../src/runtime/replica.ts';
import { quorumConfigText } from '../src/runtime/zab-wire.ts';
import type { ForwardedWrite } from '../src/server/processor.ts';
import type { DataTree } from '../src/tree/datatree.ts';
import { Peer } from '../src/zab/peer.ts';
import { majorityQuorum } from '../src/zab/quorum.ts';
import type { RoleChange } from '../src/zab/ready.ts';
import { epochOf, zxidHex } from '../src/zxid.ts';
import { dataDirOptions, scratchRoot } from './support/datadirs.ts';
import { fourLetterWord, freePort, startZooKeeper, ZK_CLASSPATH, type RunningServer } from './support/servers.ts';
import { nodesText, treeNodes, zkNodes } from './support/trees.ts';
import { waitFor } from './support/wait.ts';

const WAIT_MS = 30_000;
const TICK_MS = 250;
const run = promisify(execFile);
const OPEN_ACL = [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }];

/** A Paddock peer: Zab core + quorum runtime + replica on its own directories. */
class PaddockPeer {
  readonly roles: RoleChange[] = [];
  /** the last committed txn that carried a TxnDigest */
  lastDigested: LoggedTxn | null = null;
  /** the test's stand-in for a leader that sends wrong digests: each committed txn's TxnDigest is off by one */
  perturbDigests = false;
  readonly peer: Peer;
  /** the leader's REVALIDATE answers, in arrival order */
  readonly revalidated: { sessionId: bigint; valid: boolean }[] = [];
  private constructor(
    readonly replica: Replica,
    readonly net: QuorumNet,
    peer: Peer,
    readonly lines: string[],
  ) {
    this.peer = peer;
  }

  static async start(id: number, dir: string, servers: PeerAddress[], leader: number, observer = false): Promise<PaddockPeer> {
    const lines: string[] = [];
    const logger = recordingLogger((l) => lines.push(`${l.level} ${l.message}`), 'INFO');
    const replica = await Replica.open(dataDirOptions(dir, 10_000), logger);
    const apply = replica.apply.bind(replica);
    replica.apply = (txn: LoggedTxn) => apply(self?.perturbDigests && txn.digest ? { ...txn, digest: { ...txn.digest, treeDigest: txn.digest.treeDigest + 1n } } : txn);
    const peer = new Peer({
      settings: { id, quorum: majorityQuorum(servers), tickTime: TICK_MS, initLimit: 20, syncLimit: 10 },
      epochs: { ...replica.epochs },
      history: replica.historyInit(),
      now: performance.now(),
    });
    let self: PaddockPeer | null = null;
    const net = new QuorumNet({
      myId: id,
      servers,
      peer,
      replica,
      tickMs: TICK_MS,
      logger,
      config: null,
      onCommit: (txn: Txn) => {
        if ((txn as LoggedTxn).digest && self) self.lastDigested = txn as LoggedTxn;
      },
      onRole: (change) => self?.roles.push(change),
      onRevalidated: (answers) => self?.revalidated.push(...answers),
    });
    self = new PaddockPeer(replica, net, peer, lines);
    await net.listen();
    net.start();
    peer.follow(leader, observer);
    net.drive();
    return self;
  }

  get tree(): DataTree {
    return this.replica.tree;
  }

  async serving(): Promise<void> {
    await waitFor(`Paddock peer ${this.peer.id} to sync and serve (log:\n${this.lines.join('\n')})`, WAIT_MS, () => this.peer.serving);
  }

  /** The sync the leader chose, from the core's note. */
  syncKind(): string | undefined {
    return this.lines.map((l) => /syncing with leader \d+ by (\w+)/.exec(l)?.[1]).filter(Boolean).at(-1);
  }

  async stop(): Promise<void> {
    await this.net.close();
    await this.replica.close();
  }
}

const srvr = async (s: RunningServer, field: string): Promise<string | undefined> => new RegExp(`^${field}: (.*)$`, 'm').exec(await fourLetterWord(s.host, s.port, 'srvr').catch(() => ''))?.[1];

const mntr = async (s: RunningServer, key: string): Promise<string | undefined> => new RegExp(`^${key}\\t(.*)$`, 'm').exec(await fourLetterWord(s.host, s.port, 'mntr'))?.[1];

/** The Paddock replica holds what ZooKeeper serves, and its digest is the one ZooKeeper's leader computed. */
async function assertSameAsZooKeeper(p: PaddockPeer, client: ZooKeeperClient, what: string): Promise<void> {
  await client.sync('/');
  await waitFor(`${what}: Paddock to apply everything ZooKeeper has`, WAIT_MS, async () => {
    return nodesText(await zkNodes(client)) === nodesText(treeNodes(p.tree));
  }).catch(async (e) => {
    assert.deepEqual(treeNodes(p.tree), await zkNodes(client), `${what}: trees differ`);
    throw e;
  });
  const last = p.lastDigested;
  if (last && last.hdr.zxid === p.tree.lastProcessedZxid) {
    assert.equal(BigInt.asIntN(64, treeDigest(p.tree)), BigInt.asIntN(64, last.digest!.treeDigest), `${what}: tree digest equals ZooKeeper's TxnDigest of ${zxidHex(last.hdr.zxid)}`);
  } else {
    assert.fail(`${what}: the phase should end on a txn ZooKeeper digested (last digested ${last ? zxidHex(last.hdr.zxid) : 'none'}, tree at ${zxidHex(p.tree.lastProcessedZxid)})`);
  }
  assert.equal(p.replica.digests.mismatches, 0, `${what}: the TxnDigest of every txn ZooKeeper's leader sent equals the Paddock tree's once applied`);
}

async function java(mainClass: string, args: string[]): Promise<string> {
  const { stdout, stderr } = await run('java', ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', '-cp', ZK_CLASSPATH, mainClass, ...args], { timeout: 60_000, maxBuffer: 64 << 20 });
  return stdout + stderr;
}

/** ZooKeeper's tools read every log and snapshot the Paddock peer wrote. */
async function zooKeeperToolsRead(dir: string): Promise<{ logs: number; snapshots: number; txns: number }> {
  const opts = dataDirOptions(dir, 0);
  const snapDir = join(opts.dataDir, 'version-2');
  const logDir = join(opts.dataLogDir, 'version-2');
  const snaps = readdirSync(snapDir).filter((f) => f.startsWith('snapshot.'));
  const logs = readdirSync(logDir).filter((f) => f.startsWith('log.'));
  let txns = 0;
  for (const s of snaps) {
    const text = await java('org.apache.zookeeper.server.SnapshotFormatter', [join(snapDir, s)]);
    assert.doesNotMatch(text, /Exception|corrupt/i, `SnapshotFormatter ${s}:\n${text}`);
    assert.match(text, /^Last zxid: 0x[0-9a-f]+$/m, `SnapshotFormatter ${s}:\n${text}`);
  }
  for (const l of logs) {
    const text = await java('org.apache.zookeeper.server.persistence.TxnLogToolkit', ['-d', join(logDir, l)]);
    assert.doesNotMatch(text, /Exception|CRC ERROR|corrupt/i, `TxnLogToolkit ${l}:\n${text}`);
    const count = /^EOF reached after (\d+) txns\.$/m.exec(text);
    assert.ok(count, `TxnLogToolkit reads ${l} to its end:\n${text}`);
    txns += Number(count[1]);
  }
  return { logs: logs.length, snapshots: snaps.length, txns };
}

describe('quorum runtime: a Paddock learner in a ZooKeeper 3.8 ensemble', { timeout: 300_000 }, () => {
  const zk: RunningServer[] = [];
  let servers: PeerAddress[] = [];
  let leaderId = 0;
  let leader: RunningServer;
  let client: ZooKeeperClient;
  const scratch = scratchRoot('quorum-net');
  const learnerDir = scratch.freshDir('learner');
  let paddock: PaddockPeer | null = null;

  before(async () => {
    const ports = await Promise.all(Array.from({ length: 10 }, () => freePort()));
    const [c1, c2, q1, e1, q2, e2, q3, e3, q4, e4] = ports as [number, ...number[]];
    servers = [
      { id: 1, host: '127.0.0.1', quorumPort: q1, electionPort: e1, observer: false },
      { id: 2, host: '127.0.0.1', quorumPort: q2, electionPort: e2, observer: false },
      { id: 3, host: '127.0.0.1', quorumPort: q3, electionPort: e3, observer: false },
      { id: 4, host: '127.0.0.1', quorumPort: q4, electionPort: e4, observer: true },
    ];
    const cfg: Record<string, string | number> = { initLimit: 20, syncLimit: 10, minSessionTimeout: 2 * TICK_MS, maxSessionTimeout: 20 * TICK_MS };
    for (const s of servers) cfg[`server.${s.id}`] = `${s.host}:${s.quorumPort}:${s.electionPort}${s.observer ? ':observer' : ''}`;
    const started = await Promise.allSettled([c1, c2].map((port, i) => startZooKeeper({ port, myid: i + 1, tickTime: TICK_MS, cfg, jvmFlags: ['-Xmx256m'] })));
    for (const s of started) if (s.status === 'fulfilled') zk.push(s.value);
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    const modes = await waitFor('one ZooKeeper leader and one follower', WAIT_MS, async () => {
      const m = await Promise.all(zk.map((p) => srvr(p, 'Mode')));
      return m.includes('leader') && m.includes('follower') ? m : null;
    });
    leaderId = modes.indexOf('leader') + 1;
    leader = zk[leaderId - 1]!;
    client = await ZooKeeperClient.connect(zk[2 - leaderId]!.connectString, { sessionTimeout: 4000 });
    await client.create('/app', 'written before Paddock joined');
    for (let i = 0; i < 5; i++) await client.create(`/app/n${i}`, `value ${i}`);
  });

  after(async () => {
    await paddock?.stop().catch(() => undefined);
    await client?.close().catch(() => undefined);
    await Promise.all(zk.map((p) => p.stop()));
    rmSync(scratch.root, { recursive: true, force: true });
  });

  it('an empty Paddock follower syncs by SNAP, then follows ZooKeeper client writes', async () => {
    paddock = await PaddockPeer.start(3, learnerDir, servers, leaderId);
    await paddock.serving();
    assert.equal(paddock.syncKind(), 'SNAP');
    assert.equal((await client.getData('/zookeeper/config')).data?.toString(), quorumConfigText(servers), 'quorumConfigText (what a Paddock leader sends in NEWLEADER) prints the config as ZooKeeper does');
    await waitFor('the ZooKeeper leader to count Paddock as a synced follower', WAIT_MS, async () => (await mntr(leader, 'zk_synced_followers')) === '2');
    // Writes of every kind, by a ZooKeeper client on the ZooKeeper follower.
    await client.setData('/app/n0', 'changed');
    await client.delete('/app/n1');
    await client.create('/app/eph', 'ephemeral', { mode: 1 });
    await client.multi([
      { type: OpCode.create, path: '/app/m', data: Buffer.from('multi'), acl: [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }], flags: 0 },
      { type: OpCode.setData, path: '/app/n2', data: Buffer.from('multi set'), version: -1 },
    ]);
    await client.setACL('/app/n3', [{ perms: 1, id: { scheme: 'world', id: 'anyone' } }]);
    await assertSameAsZooKeeper(paddock, client, 'after SNAP and writes');
    assert.equal(epochOf(paddock.tree.lastProcessedZxid), paddock.replica.epochs.current, 'currentEpoch is the leader epoch');
    assert.equal(paddock.replica.epochs.accepted, paddock.replica.epochs.current);
  });

  it("forwards requests and syncs to the ZooKeeper leader and answers its PINGs", async () => {
    const p = paddock!;
    // A follower mints session ids with its server id in the top byte.
    const sessionId = (3n << 56n) | 0x5eedn;
    const authIds = [{ scheme: 'ip', id: '127.0.0.1' }];
    const forward = (cxid: number, op: number, payload: ForwardedWrite): void => {
      assert.ok(p.peer.forward({ sessionId, cxid, op, payload }), 'a serving follower forwards');
      p.net.drive();
    };
    forward(0, OpCode.createSession, { request: null, authIds, timeOut: 10 * TICK_MS });
    await waitFor('the forwarded createSession to come back committed', WAIT_MS, () => p.tree.sessions.get(sessionId) === 10 * TICK_MS);
    forward(1, OpCode.create, { request: { type: OpCode.create, path: '/app/forwarded', data: Buffer.from('by Paddock'), acl: OPEN_ACL, flags: 1 }, authIds });
    await waitFor('the forwarded create to come back committed', WAIT_MS, () => p.tree.get('/app/forwarded')?.ephemeralOwner === sessionId);
    let synced = false;
    assert.ok(p.peer.sync(() => (synced = true), { sessionId, cxid: 2, op: OpCode.sync, payload: { type: OpCode.sync, path: '/' } }));
    p.net.drive();
    await waitFor("the leader's SYNC answer", WAIT_MS, () => synced);
    forward(3, OpCode.closeSession, { request: null, authIds });
    await waitFor('the forwarded closeSession to come back committed', WAIT_MS, () => !p.tree.sessions.has(sessionId));
    assert.equal(p.tree.get('/app/forwarded'), undefined, 'its ephemeral went with it');
    // Idle for more than syncLimit: only PING replies keep the leader from dropping us.
    await new Promise((r) => setTimeout(r, 2 * 10 * TICK_MS));
    assert.ok(p.peer.serving, 'still following');
    assert.equal(await mntr(leader, 'zk_synced_followers'), '2');
    await client.create('/app/after-idle', 'x');
    await assertSameAsZooKeeper(p, client, 'after forwarding and idling');
  });

  it('REVALIDATE: the ZooKeeper leader says a session is alive, and that one it never had is not', async () => {
    const p = paddock!;
    const sessionId = (3n << 56n) | 0x7e7an;
    assert.ok(p.peer.forward({ sessionId, cxid: 0, op: OpCode.createSession, payload: { request: null, authIds: [], timeOut: 10 * TICK_MS } satisfies ForwardedWrite }));
    p.net.drive();
    await waitFor('the forwarded createSession to come back committed', WAIT_MS, () => p.tree.sessions.has(sessionId));
    const unknown = (3n << 56n) | 0xdeadn;
    assert.ok(p.peer.revalidate(sessionId, 20 * TICK_MS), 'a serving follower asks');
    assert.ok(p.peer.revalidate(unknown, 20 * TICK_MS));
    p.net.drive();
    await waitFor("the leader's REVALIDATE answers", WAIT_MS, () => p.revalidated.length === 2);
    assert.deepEqual(p.revalidated, [
      { sessionId, valid: true },
      { sessionId: unknown, valid: false },
    ]);
    assert.ok(p.peer.forward({ sessionId, cxid: 1, op: OpCode.closeSession, payload: { request: null, authIds: [] } satisfies ForwardedWrite }));
    p.net.drive();
    await waitFor('the session closed', WAIT_MS, () => !p.tree.sessions.has(sessionId));
  });

  it('restarted from its own directories a little behind, it syncs by DIFF', async () => {
    await paddock!.stop();
    paddock = null;
    for (let i = 0; i < 3; i++) await client.setData('/app/n0', `while Paddock was down ${i}`);
    paddock = await PaddockPeer.start(3, learnerDir, servers, leaderId);
    const recovered = paddock.tree.lastProcessedZxid;
    await paddock.serving();
    assert.equal(paddock.syncKind(), 'DIFF');
    assert.ok(paddock.tree.lastProcessedZxid > recovered, 'the DIFF brought the txns it missed');
    await client.create('/app/after-diff', 'x');
    await assertSameAsZooKeeper(paddock, client, 'after DIFF');
  });

  it('holding txns the leader never had, it is truncated (TRUNC) to the leader history', async () => {
    await paddock!.stop();
    paddock = null;
    // Craft a tail the leader lacks: three txns after the last one, appended straight to Paddock's log.
    const logger = SILENT;
    const replica = await Replica.open(dataDirOptions(learnerDir, 10_000), logger);
    const last = replica.tree.lastProcessedZxid;
    const durable = new Promise<number>((resolve) => (replica.onDurable = resolve));
    for (let i = 1; i <= 3; i++) {
      const txn: Txn = {
        hdr: { clientId: 0n, cxid: i, zxid: last + i, time: Date.now(), type: OpCode.create },
        body: { type: OpCode.create, path: `/phantom${i}`, data: Buffer.from('never committed'), acl: [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }], ephemeral: false, parentCVersion: 0 },
      };
      replica.apply(txn);
      replica.append(txn);
    }
    assert.equal(await durable, last + 3);
    await replica.close();

    paddock = await PaddockPeer.start(3, learnerDir, servers, leaderId);
    assert.ok(paddock.tree.get('/phantom1'), 'recovery replayed the crafted tail');
    await paddock.serving();
    assert.equal(paddock.syncKind(), 'TRUNC');
    for (let i = 1; i <= 3; i++) assert.equal(paddock.tree.get(`/phantom${i}`), undefined);
    await client.setData('/app/after-diff', 'after the truncation');
    await assertSameAsZooKeeper(paddock, client, 'after TRUNC');
  });

  it("ZooKeeper's tools read every file the Paddock learner wrote; a restart recovers the same tree", async () => {
    await paddock!.stop();
    paddock = null;
    const read = await zooKeeperToolsRead(learnerDir);
    assert.ok(read.snapshots >= 1 && read.logs >= 1 && read.txns > 0, JSON.stringify(read));
    const logger = SILENT;
    const reopened = await Replica.open(dataDirOptions(learnerDir, 10_000), logger);
    try {
      assert.equal(reopened.tree.get('/phantom1'), undefined, 'the truncated tail stays gone');
      assert.equal(nodesText(treeNodes(reopened.tree)), nodesText(await zkNodes(client)), 'recovered tree equals what ZooKeeper serves');
    } finally {
      await reopened.close();
    }
  });

  it('as an observer (server 4): SNAP, then INFORMs', async () => {
    paddock = await PaddockPeer.start(4, scratch.freshDir('observer'), servers, leaderId, true);
    await paddock.serving();
    assert.equal(paddock.syncKind(), 'SNAP');
    await waitFor('the ZooKeeper leader to count Paddock as a synced observer', WAIT_MS, async () => (await mntr(leader, 'zk_synced_observers')) === '1');
    await client.create('/app/for-observer', 'informed');
    await client.setData('/app/n4', 'informed too');
    await assertSameAsZooKeeper(paddock, client, 'observer after INFORMs');
  });

  it('a TxnDigest that is not the tree’s is counted and logged as ZooKeeper does', async () => {
    const p = paddock!;
    p.perturbDigests = true;
    await client.setData('/app/n4', 'digest off by one');
    await client.create('/app/off-by-one', 'again');
    await client.sync('/');
    await waitFor('Paddock to apply the two txns', WAIT_MS, () => p.tree.get('/app/off-by-one') !== undefined);
    p.perturbDigests = false;
    assert.equal(p.replica.digests.mismatches, 2);
    const logged = p.lines.filter((l) => /digest mismatch|Digests are not matching/.test(l));
    assert.match(logged[0] ?? '', /^ERROR First digest mismatch on txn: 0x[0-9a-f]+ .*expected digest is \{version 2, treeDigest -?\d+\}, actual digest is -?\d+$/);
    assert.match(logged[1] ?? '', /^WARN Message:Digests are not matching\. Value is Zxid\. Value:\d+$/);
    await client.setData('/app/n4', 'digest right again');
    await waitFor('Paddock to apply it', WAIT_MS, () => p.tree.get('/app/n4')?.data?.toString() === 'digest right again');
    assert.equal(p.replica.digests.mismatches, 2, 'a right digest is not counted');
  });
});
