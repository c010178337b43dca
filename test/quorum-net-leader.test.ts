// The quorum-port runtime as LEADER of real ZooKeeper 3.8 followers. A
// 3-server ensemble: server 1 is Paddock (Election over ElectionNet, then the
// Zab core's lead() with QuorumNet and a Replica on a temp dir), servers 2
// and 3 ZooKeeper QuorumPeerMains. Paddock's epoch files say it has joined
// epoch 3, so its vote wins; the ZooKeeper peers follow it, sync (discovery,
// DIFF, NEWLEADER with Paddock's config text, UPTODATE) and apply the txns
// Paddock proposes, which ZooKeeper clients then read. Server 3 is stopped
// and restarted: a little behind it gets a DIFF with the missed txns replayed
// from Paddock's log; with its data wiped and Paddock's history window passed
// it gets a SNAP streamed from Paddock's tree. Client sessions on the
// ZooKeeper followers are created through the leader: the test plays the
// leader's request pipeline for createSession/closeSession, and its session
// tracker for REVALIDATE (a client moving between the ZooKeeper followers
// keeps its session; one the leader does not have is refused). Server 4, a
// ZooKeeper observer, joins last: SNAP, then INFORMs.
//
// The last suite runs a `paddock server` process as the leader of two
// ZooKeeper followers and a Paddock one, to show that every proposal carries
// the TxnDigest its followers check.

import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { MultiError, op, ZooKeeperClient } from '../src/client/index.ts';
import type { PeerAddress } from '../src/config/config.ts';
import { recordingLogger } from '../src/log.ts';
import { ACCEPTED_EPOCH, CURRENT_EPOCH, txnsAfter, writeEpochFile } from '../src/persistence/sync.ts';
import { Err, OpCode, ZkError } from '../src/proto/constants.ts';
import { encodeLearnerInfo, encodePacket, PacketType, ZAB_PROTOCOL_VERSION } from '../src/proto/quorum.ts';
import type { Txn, TxnBody } from '../src/proto/txn.ts';
import { QuorumNet } from '../src/runtime/quorum-net.ts';
import { ElectionNet } from '../src/runtime/election-net.ts';
import { Replica } from '../src/runtime/replica.ts';
import { quorumConfigText } from '../src/runtime/zab-wire.ts';
import type { ForwardedWrite } from '../src/server/processor.ts';
import type { ForwardedRequest } from '../src/zab/messages.ts';
import { Peer } from '../src/zab/peer.ts';
import { majorityQuorum } from '../src/zab/quorum.ts';
import { epochOf } from '../src/zxid.ts';
import { dataDirOptions, scratchRoot } from './support/datadirs.ts';
import { TestEnsemble } from './support/ensemble.ts';
import { fourLetterWord, freePort, startZooKeeper, type RunningServer } from './support/servers.ts';
import { nodesText, treeNodes, zkNodes } from './support/trees.ts';
import { waitFor } from './support/wait.ts';

const WAIT_MS = 45_000;
const TICK_MS = 250;
const OPEN_ACL = [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }];
const PADDOCK_EPOCH = 3;
const HISTORY_WINDOW = 8;

type ZkId = 2 | 3 | 4;

const mntr = async (s: RunningServer, key: string): Promise<string | undefined> => new RegExp(`^${key}\\t(.*)$`, 'm').exec(await fourLetterWord(s.host, s.port, 'mntr'))?.[1];

describe('quorum runtime: a Paddock leader with ZooKeeper 3.8 followers', { timeout: 300_000 }, () => {
  const scratch = scratchRoot('quorum-net-leader');
  const lines: string[] = [];
  const logger = recordingLogger((l) => lines.push(`${l.level} ${l.message}`), 'INFO');
  let servers: PeerAddress[] = [];
  let zk2: RunningServer | null = null;
  let zk3: RunningServer | null = null;
  let zk4: RunningServer | null = null;
  let clientPorts: Record<ZkId, number>;
  let zkDataDirs: Record<ZkId, string>;
  let replica: Replica;
  let peer: Peer;
  let quorumNet: QuorumNet;
  let electionNet: ElectionNet;
  let cxid = 0;

  /**
   * Order a txn on the Paddock leader. A forwarded request's txn keeps its session and cxid:
   * the follower answers its client only for the committed txn that matches its request.
   */
  function propose(body: TxnBody, from: { sessionId: bigint; cxid: number } = { sessionId: 0n, cxid: ++cxid }): Txn {
    const txn = peer.propose((zxid) => ({ hdr: { clientId: from.sessionId, cxid: from.cxid, zxid, time: Date.now(), type: body.type }, body }));
    assert.ok(txn, `the Paddock leader orders the txn (${peer.describe()})`);
    quorumNet.drive();
    return txn;
  }

  /** Order a txn built from the leader's applied tree, and wait until the leader applied it (committed by the quorum). */
  async function write(build: () => TxnBody): Promise<Txn> {
    const txn = propose(build());
    await waitFor(`the quorum to commit ${txn.hdr.zxid.toString(16)} (log:\n${lines.slice(-20).join('\n')})`, WAIT_MS, () => replica.tree.lastProcessedZxid >= txn.hdr.zxid);
    return txn;
  }

  /** A create's txn names the parent's cversion after it (ZooKeeper's CreateTxn.parentCVersion). */
  const create = (path: string, data: string): TxnBody => {
    const parent = replica.tree.get(path.slice(0, path.lastIndexOf('/')) || '/')!;
    return { type: OpCode.create, path, data: Buffer.from(data), acl: OPEN_ACL, ephemeral: false, parentCVersion: parent.cversion + 1 };
  };

  /** The part of the request pipeline this test needs: sessions of clients on the ZooKeeper follower. */
  function forwarded(requests: readonly { from: number; request: ForwardedRequest }[]): void {
    for (const { request } of requests) {
      const payload = request.payload as ForwardedWrite;
      if (request.op === OpCode.createSession) {
        propose({ type: OpCode.createSession, timeOut: payload.timeOut! }, request);
      } else if (request.op === OpCode.closeSession) {
        propose({ type: OpCode.closeSession, paths: [] }, request);
      } else {
        logger.warn(`test pipeline: ignored forwarded op ${request.op}`);
      }
    }
  }

  /** REVALIDATEs the ZooKeeper followers sent, with the answers given */
  const revalidations: { from: number; sessionId: bigint; timeout: number; valid: boolean }[] = [];

  /** The session tracker's part of the test pipeline: a session is alive while the tree holds it. */
  function revalidate(asks: readonly { from: number; sessionId: bigint; timeout: number }[]): void {
    for (const ask of asks) {
      const valid = replica.tree.sessions.has(ask.sessionId);
      revalidations.push({ ...ask, valid });
      peer.revalidated(ask.from, ask.sessionId, valid);
    }
    quorumNet.drive();
  }

  /** ZooKeeper peer `id` of the ensemble, on its own data directory (kept across restarts). */
  function startPeer(id: ZkId): Promise<RunningServer> {
    const cfg: Record<string, string | number> = { initLimit: 20, syncLimit: 10, minSessionTimeout: 4 * TICK_MS, maxSessionTimeout: 40 * TICK_MS };
    for (const s of servers) cfg[`server.${s.id}`] = `${s.host}:${s.quorumPort}:${s.electionPort}${s.observer ? ':observer' : ''}`;
    return startZooKeeper({ port: clientPorts[id], myid: id, dataDir: zkDataDirs[id], tickTime: TICK_MS, cfg, jvmFlags: ['-Xmx256m'] });
  }

  /** The sync the Paddock leader chose for server `id` most recently, from its log. */
  const syncOf = (id: number): string | undefined => lines.map((l) => new RegExp(`syncing server ${id} by (\\w+)`).exec(l)?.[1]).filter(Boolean).at(-1);

  /** A client on ZooKeeper peer `zk` reads exactly Paddock's tree. */
  async function assertServes(zk: RunningServer, what: string): Promise<void> {
    const c = await ZooKeeperClient.connect(zk.connectString, { sessionTimeout: 8000 });
    try {
      await c.sync('/');
      assert.equal(nodesText(await zkNodes(c)), nodesText(treeNodes(replica.tree)), `${what}: ZooKeeper serves Paddock's tree`);
    } finally {
      await c.close();
    }
    assert.equal(await mntr(zk, 'zk_digest_mismatches_count'), '0');
  }

  before(async () => {
    const ports = await Promise.all(Array.from({ length: 11 }, () => freePort()));
    const [c2, c3, c4, q1, e1, q2, e2, q3, e3, q4, e4] = ports as [number, ...number[]];
    clientPorts = { 2: c2, 3: c3, 4: c4 };
    zkDataDirs = { 2: scratch.freshDir('zk2'), 3: scratch.freshDir('zk3'), 4: scratch.freshDir('zk4') };
    servers = [
      { id: 1, host: '127.0.0.1', quorumPort: q1, electionPort: e1, observer: false },
      { id: 2, host: '127.0.0.1', quorumPort: q2, electionPort: e2, observer: false },
      { id: 3, host: '127.0.0.1', quorumPort: q3, electionPort: e3, observer: false },
      { id: 4, host: '127.0.0.1', quorumPort: q4, electionPort: e4, observer: true },
    ];
    const dir = scratch.freshDir('leader');
    // A peer that joined epoch 3 (and logged nothing in it): its vote beats a fresh ZooKeeper's.
    const opts = dataDirOptions(dir, 10_000);
    const snapDir = join(opts.dataDir, 'version-2');
    mkdirSync(snapDir, { recursive: true });
    writeEpochFile(snapDir, ACCEPTED_EPOCH, PADDOCK_EPOCH);
    writeEpochFile(snapDir, CURRENT_EPOCH, PADDOCK_EPOCH);
    replica = await Replica.open(opts, logger);
    replica.showQuorumConfig(quorumConfigText(servers));
    const quorum = majorityQuorum(servers);
    // A short history window: a learner more than HISTORY_WINDOW txns behind gets a SNAP.
    peer = new Peer({
      settings: { id: 1, quorum, tickTime: TICK_MS, initLimit: 20, syncLimit: 10 },
      epochs: { ...replica.epochs },
      history: { ...replica.historyInit(), maxWindow: HISTORY_WINDOW },
      now: performance.now(),
    });
    electionNet = new ElectionNet({ myId: 1, servers });
    quorumNet = new QuorumNet({ myId: 1, servers, peer, replica, tickMs: TICK_MS, logger, config: quorumConfigText(servers), onRequests: forwarded, onRevalidations: revalidate, electionNet });
    await quorumNet.listen();
    await electionNet.listen();
    quorumNet.start();

    // ZooKeeper serves (and startZooKeeper returns) only once it follows the Paddock leader.
    [zk2, zk3] = await Promise.all([startPeer(2), startPeer(3)]);
  });

  after(async () => {
    await Promise.all([zk2?.stop(), zk3?.stop(), zk4?.stop()]);
    await electionNet?.close();
    await quorumNet?.close();
    await replica?.close();
    rmSync(scratch.root, { recursive: true, force: true });
  });

  it('ZooKeeper peers elect Paddock and follow: discovery, sync, NEWLEADER, UPTODATE in the new epoch', async () => {
    await waitFor(`the Paddock leader to be established (log:\n${lines.join('\n')})`, WAIT_MS, () => peer.serving);
    assert.equal(peer.role, 'leading', 'its vote (epoch 3) won the election');
    assert.equal(peer.epochs.current, PADDOCK_EPOCH + 1, 'the new epoch is one past the highest accepted epoch');
    assert.equal(replica.epochs.current, PADDOCK_EPOCH + 1, 'and it is durable in the epoch files');
    assert.equal(syncOf(2), 'DIFF');
    assert.equal(syncOf(3), 'DIFF');
    for (const zk of [zk2!, zk3!]) assert.match(await fourLetterWord(zk.host, zk.port, 'srvr'), /^Mode: follower$/m);
  });

  it('txns the Paddock leader proposes are applied by the ZooKeeper followers and read by their clients', async () => {
    const client = await ZooKeeperClient.connect(zk2!.connectString, { sessionTimeout: 8000 });
    try {
      assert.ok(replica.tree.sessions.has(client.sessionId), 'the session the ZooKeeper follower forwarded was committed by Paddock');
      await write(() => create('/paddock', 'led by Paddock'));
      await write(() => create('/paddock/a', 'a'));
      // SetDataTxn names the version the node gets.
      const last = await write(() => ({ type: OpCode.setData, path: '/paddock/a', data: Buffer.from('a2'), version: 1 }));
      await client.sync('/');
      const got = await client.getData('/paddock/a');
      assert.equal(got.data?.toString(), 'a2');
      assert.equal(got.stat.version, 1);
      assert.equal(got.stat.czxid, last.hdr.zxid - 1);
      assert.equal(got.stat.mzxid, last.hdr.zxid);
      assert.equal(epochOf(got.stat.mzxid), PADDOCK_EPOCH + 1);
      assert.deepEqual(await client.getChildren('/paddock'), ['a']);
    } finally {
      await client.close();
    }
    // The txns this test builds itself carry no TxnDigest, so ZooKeeper compares none
    // (the last suite has the request pipeline's, which carry one).
    await assertServes(zk2!, 'server 2');
    await assertServes(zk3!, 'server 3');
  });

  it('the followers keep following across many sync limits (PINGs answered both ways)', async () => {
    await new Promise((r) => setTimeout(r, 4 * 10 * TICK_MS));
    assert.equal(peer.role, 'leading', `still leading (log:\n${lines.slice(-20).join('\n')})`);
    for (const zk of [zk2!, zk3!]) assert.match(await fourLetterWord(zk.host, zk.port, 'srvr'), /^Mode: follower$/m);
    await write(() => ({ type: OpCode.setData, path: '/paddock', data: Buffer.from('still led'), version: 1 }));
    await assertServes(zk2!, 'server 2 after idling');
    await assertServes(zk3!, 'server 3 after idling');
  });

  it('a client moving from one ZooKeeper follower to the other keeps its session: the follower asks the Paddock leader (REVALIDATE)', async () => {
    const first = await ZooKeeperClient.connect(zk2!.connectString, { sessionTimeout: 8000 });
    const { sessionId, password } = first;
    first.disconnect();
    const moved = await ZooKeeperClient.connect(zk3!.connectString, { sessionId, password, sessionTimeout: 8000 });
    try {
      assert.equal(moved.sessionId, sessionId, 'the same session');
      assert.deepEqual(
        revalidations.map(({ from, sessionId: id, valid }) => ({ from, id, valid })),
        [{ from: 3, id: sessionId, valid: true }],
        'server 3 asked the leader once, and was told the session lives',
      );
      await moved.sync('/');
      assert.ok(await moved.exists('/paddock'), 'the reattached session serves requests');
    } finally {
      await moved.close();
    }
    await waitFor('the closeSession to be committed', WAIT_MS, () => !replica.tree.sessions.has(sessionId));
    // A session the leader does not have: ZooKeeper's follower gives the expired answer.
    await assert.rejects(ZooKeeperClient.connect(zk3!.connectString, { sessionId, password, sessionTimeout: 8000 }), (e: ZkError) => e.code === Err.sessionExpired);
    assert.deepEqual(revalidations.at(-1), { from: 3, sessionId, timeout: 8000, valid: false });
  });

  it('a ZooKeeper follower restarted a little behind gets a DIFF replayed from the log', async () => {
    await zk3!.stop();
    zk3 = null;
    for (let i = 0; i < 3; i++) await write(() => create(`/paddock/while-3-was-down-${i}`, `${i}`));
    // It serves (startPeer returns) once synced again.
    zk3 = await startPeer(3);
    assert.equal(syncOf(3), 'DIFF');
    await assertServes(zk3, 'server 3 after DIFF');
  });

  it('a ZooKeeper follower with its data wiped, behind the history window, gets a SNAP of the tree', async () => {
    await zk3!.stop();
    zk3 = null;
    rmSync(zkDataDirs[3], { recursive: true, force: true });
    for (let i = 0; i <= HISTORY_WINDOW; i++) await write(() => create(`/paddock/window-${i}`, 'x'.repeat(100 * i)));
    zk3 = await startPeer(3);
    assert.equal(syncOf(3), 'SNAP');
    await assertServes(zk3, 'server 3 after SNAP');
    await write(() => ({ type: OpCode.delete, path: '/paddock/window-0' }));
    await assertServes(zk3, 'server 3 following after SNAP');
  });

  it('bad bytes on the quorum port close that connection only', async () => {
    const closedAfter = (bytes: Buffer): Promise<void> =>
      new Promise((resolve, reject) => {
        const sock = net.connect({ host: '127.0.0.1', port: servers[0]!.quorumPort }, () => sock.write(bytes));
        const timer = setTimeout(() => {
          sock.destroy();
          reject(new Error(`the leader kept a connection that sent ${bytes.toString('hex')}`));
        }, WAIT_MS);
        sock.on('error', () => undefined);
        sock.on('close', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    const info = (sid: number): Buffer => encodePacket({ type: PacketType.FOLLOWERINFO, zxid: 0, data: encodeLearnerInfo({ serverId: sid, protocolVersion: ZAB_PROTOCOL_VERSION, configVersion: 0 }), authinfo: null });
    await closedAfter(Buffer.alloc(32, 0xff)); // unknown packet type
    await closedAfter(encodePacket({ type: PacketType.ACK, zxid: 0, data: null, authinfo: null })); // not introduced
    await closedAfter(info(9)); // not a server of the ensemble
    await closedAfter(info(1)); // ourselves
    assert.equal(peer.role, 'leading');
    await write(() => create('/paddock/after-garbage', 'still fine'));
    await assertServes(zk2!, 'server 2 after garbage on the quorum port');
    await assertServes(zk3!, 'server 3 after garbage on the quorum port');
  });

  it('a ZooKeeper observer syncs from the Paddock leader and applies its INFORMs', async () => {
    zk4 = await startPeer(4);
    assert.match(await fourLetterWord(zk4.host, zk4.port, 'srvr'), /^Mode: observer$/m);
    // It is past the history window: a SNAP.
    assert.equal(syncOf(4), 'SNAP');
    await assertServes(zk4, 'observer after SNAP');
    await write(() => create('/paddock/for-the-observer', 'informed'));
    await write(() => ({ type: OpCode.setData, path: '/paddock/for-the-observer', data: Buffer.from('informed again'), version: 1 }));
    await assertServes(zk4, 'observer after INFORMs');
  });
});

// A `paddock server` process leading two ZooKeeper 3.8 followers and a Paddock
// one (TestEnsemble). Clients on every member write txns of every type (a
// follower forwards them to the leader, which prepares them); each PROPOSAL
// carries the TxnDigest prep foresaw, which each follower compares with its
// own tree once it applies the txn. ZooKeeper compares only when a digest is
// present, so the zero counts are made to mean something by a second run with
// the test-only switch that makes the leader's digests wrong by one: then
// every follower counts mismatches.
describe('a paddock server leading ZooKeeper 3.8 followers: every proposal carries a TxnDigest they verify', { timeout: 300_000 }, () => {
  const LEADER = 4;
  const PADDOCK_FOLLOWER = 1;
  const ZK_FOLLOWERS = [2, 3];
  const FOLLOWERS = [PADDOCK_FOLLOWER, ...ZK_FOLLOWERS];
  const ALL = [LEADER, ...FOLLOWERS];
  let ens: TestEnsemble;

  before(async () => {
    ens = await TestEnsemble.create('digest-leader', [{ id: PADDOCK_FOLLOWER }, { id: 2, kind: 'zookeeper' }, { id: 3, kind: 'zookeeper' }, { id: LEADER }], { cfg: { extendedTypesEnabled: 'true' } });
  });

  after(async () => {
    await ens?.close();
  });

  /** The leader is up before the others start: with equal histories the highest id wins, so it leads. */
  async function startWithPaddockLeading(leaderCfg: Record<string, string> = {}): Promise<void> {
    await ens.start(LEADER, { noWait: true, cfg: leaderCfg });
    await waitFor('the Paddock leader-to-be to answer ruok', ens.waitMs, async () => (await ens.fourLetter(LEADER, 'ruok')) === 'imok');
    for (const id of FOLLOWERS) await ens.start(id, { noWait: true });
    const settled = await ens.settled();
    assert.equal(settled.leader, LEADER, 'the Paddock server with the highest id leads');
    assert.deepEqual(settled.followers.sort(), FOLLOWERS);
  }

  /**
   * A failed multi as a ZooKeeper follower logs it when it applied the multi
   * before its sync thread wrote it: DataTree.processTxn turns the multi's ops
   * into errors by setting their type in place (subtxn.setType(OpCode.error)),
   * over their original bytes, so each reads back as an error whose code is the
   * first int of its record, its path's length. (It happens when the Paddock
   * peers commit the multi before this follower's own log write.)
   */
  function appliedBeforeLogged(txn: Txn): Txn {
    const body = txn.body;
    if (body.type !== OpCode.multi || !body.txns.some((t) => t.type === OpCode.error)) return txn;
    const txns = body.txns.map((t): TxnBody => ('path' in t ? { type: OpCode.error, err: Buffer.byteLength(t.path) } : t));
    return { ...txn, body: { type: OpCode.multi, txns } };
  }

  const mismatches = async (id: number): Promise<number> => Number((await ens.mntr(id)).get('zk_digest_mismatches_count'));

  /** Every member has applied everything written so far: `path` reads `value` on each after a sync. */
  async function allApplied(path: string, value: string): Promise<void> {
    for (const id of ALL) assert.equal(await ens.readAfterSync(id, path), value, `member ${id} has applied ${path}`);
  }

  it('txns of every type, written through every member: no follower, ZooKeeper or Paddock, finds a digest mismatch', async () => {
    await startWithPaddockLeading();
    // createSession on each member (forwarded by the followers)
    const clients = await Promise.all(ALL.map(async (id) => ({ c: await ens.connect(id), root: `/by-${id}` })));
    for (const { c, root } of clients) {
      await c.create(root, 'root');
      await c.create(`${root}/persistent`, 'p');
      await c.create(`${root}/seq-`, 's', { mode: 2 });
      await c.create(`${root}/seq-`, 's', { mode: 2 });
      await c.create(`${root}/eph`, 'e', { mode: 1 });
      await c.create(`${root}/eph-seq-`, 'es', { mode: 3 });
      await c.create(`${root}/container`, 'c', { mode: 4 });
      await c.create(`${root}/container/child`, 'in a container');
      await c.create(`${root}/ttl`, 't', { mode: 5, ttl: 60_000 });
      await c.create(`${root}/ttl-seq-`, 'ts', { mode: 6, ttl: 60_000 });
      await c.setData(`${root}/persistent`, 'p2');
      await c.setData(`${root}/persistent`, Buffer.alloc(1024, 7), 1);
      await c.setACL(`${root}/persistent`, [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }], 0);
      await c.delete(`${root}/container/child`);
      await c.multi([op.create(`${root}/m1`, 'multi'), op.setData(`${root}/m1`, 'multi set'), op.create(`${root}/m1/x`, null), op.delete(`${root}/m1/x`), op.check(root, 0)]);
      // A failed multi: its txn is an error multi that changes nothing (and still carries a digest).
      await assert.rejects(c.multi([op.create(`${root}/m2`, 'never'), op.create(`${root}/persistent`, 'exists already')]), (e: Error) => e instanceof MultiError);
      await assert.rejects(c.setData(`${root}/persistent`, 'stale', 0), /BadVersion|bad version/i);
    }
    // closeSession of sessions holding ephemerals: the txn deletes them.
    for (const { c } of clients) await c.close();
    const last = await ens.connect(2);
    await last.create('/done', 'workload over');
    await allApplied('/done', 'workload over');
    for (const id of ALL) {
      for (const { root } of clients) assert.equal(await ens.readAfterSync(id, `${root}/eph`), null, `member ${id}: ${root}/eph went with its session`);
    }
    for (const id of FOLLOWERS) assert.equal(await mismatches(id), 0, `follower ${id} (${ens.kind(id)}) found every TxnDigest equal to its tree's`);
    assert.equal(await mismatches(LEADER), 0, 'the Paddock leader finds its own digests equal to its tree');
    // Each follower's txn log holds each txn as the leader logged it: the same record and TxnDigest.
    const logged = (id: number) => [...txnsAfter(join(ens.dataDir(id), 'version-2'), 0)];
    const leaderLog = new Map(logged(LEADER).map((t) => [t.hdr.zxid, t]));
    for (const id of FOLLOWERS) {
      const followerLog = logged(id);
      assert.ok(followerLog.length >= 60, `follower ${id} logged the workload (${followerLog.length} txns)`);
      for (const txn of followerLog) {
        assert.ok(txn.digest, `follower ${id} logged 0x${txn.hdr.zxid.toString(16)} with its TxnDigest`);
        const ours = leaderLog.get(txn.hdr.zxid)!;
        const expected = ens.kind(id) === 'zookeeper' && !isDeepStrictEqual(ours, txn) ? appliedBeforeLogged(ours) : ours;
        assert.deepEqual(txn, expected, `0x${txn.hdr.zxid.toString(16)} in the logs of the leader and of follower ${id}`);
      }
    }
  });

  it('with the test switch that puts every digest off by one, every follower counts mismatches: digests are sent and checked', async () => {
    for (const id of ALL) await ens.stop(id);
    await startWithPaddockLeading({ 'paddock.test.perturbDigest': 'true' });
    const c = await ens.connect(2);
    await c.create('/perturbed', 'x');
    await c.setData('/perturbed', 'y');
    await c.close();
    await allApplied('/perturbed', 'y');
    // createSession, create, setData and closeSession each carried a wrong digest (a restarted member counts from 0).
    for (const id of ALL) assert.ok((await mismatches(id)) >= 4, `member ${id} (${ens.kind(id)}) counts the wrong digests (mntr says ${await mismatches(id)})`);
    for (const id of [LEADER, PADDOCK_FOLLOWER]) assert.match(ens.server(id).output(), /\[WARN\] Message:Digests are not matching\. Value is Zxid\. Value:\d+/);
  });
});
