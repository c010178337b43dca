// The quorum-port codecs (src/proto/quorum.ts) against a real ZooKeeper 3.8
// leader. Two ZooKeeper peers of a 3-voter + 1-observer ensemble form a
// quorum; this test then plays peer 3 (a follower) and peer 4 (an observer)
// over plain sockets, speaking only through Paddock's codecs, and checks every
// packet the leader sends: discovery, SNAP, DIFF and TRUNC sync, NEWLEADER,
// UPTODATE, PROPOSAL/COMMIT with TxnDigests that match a tree loaded from the
// SNAP stream while it arrives, PINGs (whose replies keep a session alive), REVALIDATE, SYNC,
// INFORM, and requests forwarded by the fake follower that the leader commits
// and a ZooKeeper client then reads.

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ZooKeeperClient } from '../src/client/index.ts';
import { JuteWriter } from '../src/jute/archive.ts';
import { readSnapStream } from '../src/persistence/snapshot.ts';
import { treeDigest } from '../src/tree/digest.ts';
import { OpCode } from '../src/proto/constants.ts';
import {
  decodeLeaderInfo,
  decodeNewLeader,
  decodePingSessions,
  decodeProposal,
  decodeRevalidateReply,
  encodeAckEpoch,
  encodeLearnerInfo,
  encodePacket,
  encodePingSessions,
  encodeRequest,
  encodeRevalidate,
  packetName,
  PacketType,
  QuorumPacketDecoder,
  ZAB_PROTOCOL_VERSION,
  type QuorumPacket,
  type SessionTouch,
} from '../src/proto/quorum.ts';
import { writeRequest, type Id } from '../src/proto/records.ts';
import type { LoggedTxn } from '../src/proto/txn.ts';
import type { DataTree } from '../src/tree/datatree.ts';
import { counterOf, epochOf, makeZxid, zxidHex } from '../src/zxid.ts';
import { fourLetterWord, freePort, startZooKeeper, type RunningServer } from './support/servers.ts';

const WAIT_MS = 20_000;
const TICK_MS = 250;
const OPEN_ACL = [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }];

/**
 * A scripted learner: decodes everything the leader sends; once synced
 * (UPTODATE), answers PINGs with its session list. During sync it leaves
 * PINGs unanswered, as ZooKeeper's Learner.syncWithLeader does: the leader
 * drops a learner whose next packet after NEWLEADER is not the ACK.
 */
class FakeLearner {
  /** every packet received, PINGs included, in order */
  readonly received: QuorumPacket[] = [];
  /** the tree each SNAP's snapshot stream loads into, as it arrives */
  readonly snapTrees: Promise<DataTree>[] = [];
  /** reported in every PING reply; empty stops keeping them alive */
  sessions: SessionTouch[] = [];
  pingsAnswered = 0;
  private readonly decoder = new QuorumPacketDecoder();
  private readonly queue: QuorumPacket[] = [];
  private waiter: (() => void) | null = null;
  private failure: Error | null = null;
  private synced = false;

  private constructor(private readonly sock: net.Socket) {
    sock.on('data', (chunk) => this.onData(chunk));
    sock.on('error', (e) => this.fail(e));
    sock.on('close', () => this.fail(new Error('leader closed the quorum connection')));
  }

  static connect(port: number): Promise<FakeLearner> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host: '127.0.0.1', port, noDelay: true }, () => resolve(new FakeLearner(sock)));
      sock.once('error', reject);
      sock.setTimeout(WAIT_MS, () => sock.destroy(new Error('connect timeout')));
    });
  }

  private onData(chunk: Buffer): void {
    this.decoder.push(chunk);
    try {
      for (;;) {
        const stream = this.decoder.snapStream;
        if (stream) {
          const fed = this.decoder.feedSnapStream();
          if (fed === 'more') return;
          if (fed === 'full') {
            // as QuorumConn: no more bytes until the loader has read
            this.sock.pause();
            void stream.wanted().then(() => {
              this.sock.resume();
              this.onData(Buffer.alloc(0));
            });
            return;
          }
          continue;
        }
        const p = this.decoder.next();
        if (p === null) return;
        this.received.push(p);
        if (p.type === PacketType.SNAP) {
          const tree = readSnapStream(this.decoder.snapStream!, p.zxid);
          tree.catch(() => {}); // awaited by the test that expects this SNAP, if any
          this.snapTrees.push(tree);
          this.deliver(p);
        } else if (p.type === PacketType.PING) {
          if (this.synced) this.answerPing(p);
        } else {
          if (p.type === PacketType.UPTODATE) this.synced = true;
          this.deliver(p);
        }
      }
    } catch (e) {
      this.fail(e as Error);
      this.sock.destroy();
    }
  }

  private answerPing(p: QuorumPacket): void {
    this.send({ type: PacketType.PING, zxid: p.zxid, data: encodePingSessions(this.sessions), authinfo: p.authinfo });
    this.pingsAnswered++;
  }

  private deliver(p: QuorumPacket): void {
    this.queue.push(p);
    this.waiter?.();
  }

  private fail(e: Error): void {
    this.failure ??= e;
    this.waiter?.();
  }

  send(p: QuorumPacket): void {
    this.sock.write(encodePacket(p));
  }

  /** The next packet other than PING. */
  async next(what: string): Promise<QuorumPacket> {
    const deadline = Date.now() + WAIT_MS;
    while (this.queue.length === 0) {
      if (this.failure) throw new Error(`waiting for ${what}: ${this.failure.message}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} from the leader within ${WAIT_MS} ms (received: ${this.received.map((p) => packetName(p.type)).join(' ')})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiter = null;
    }
    return this.queue.shift()!;
  }

  async expect(type: number): Promise<QuorumPacket> {
    const p = await this.next(packetName(type));
    assert.equal(packetName(p.type), packetName(type), `expected ${packetName(type)}, got ${packetName(p.type)} zxid ${zxidHex(p.zxid)}`);
    return p;
  }

  close(): void {
    this.sock.removeAllListeners('close');
    this.sock.destroy();
  }
}

/** Wait until `cond` is true, polling; bounded. */
async function until(what: string, cond: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const srvrZxid = async (s: RunningServer): Promise<number> => {
  const m = /Zxid: 0x([0-9a-f]+)/.exec(await fourLetterWord(s.host, s.port, 'srvr'));
  assert.ok(m, 'srvr reports a Zxid');
  return parseInt(m[1]!, 16);
};

const mntr = async (s: RunningServer, key: string): Promise<string | undefined> =>
  new RegExp(`^${key}\\t(.*)$`, 'm').exec(await fourLetterWord(s.host, s.port, 'mntr'))?.[1];

/** Apply a proposed txn to the mirror tree and check that ZooKeeper's TxnDigest matches Paddock's digest of the result. */
function applyAndCheckDigest(tree: DataTree, txn: LoggedTxn): void {
  const res = tree.apply(txn.hdr, txn.body);
  assert.equal(res.err, 0, `txn ${zxidHex(txn.hdr.zxid)} applies to the tree rebuilt from SNAP`);
  assert.ok(txn.digest, `txn ${zxidHex(txn.hdr.zxid)} carries a TxnDigest`);
  assert.equal(txn.digest.version, 2);
  assert.equal(BigInt.asIntN(64, treeDigest(tree)), BigInt.asIntN(64, txn.digest.treeDigest), `tree digest after ${zxidHex(txn.hdr.zxid)}`);
}

function requestBytes(req: Parameters<typeof writeRequest>[1]): Buffer {
  const w = new JuteWriter();
  writeRequest(w, req);
  return w.toBuffer();
}

describe('quorum wire against a ZooKeeper 3.8 leader', { timeout: 240_000 }, () => {
  const peers: RunningServer[] = [];
  let leader: RunningServer;
  let follower: RunningServer;
  let leaderQuorumPort = 0;
  let serverLines: Record<string, string> = {};
  let client: ZooKeeperClient;
  let fake: FakeLearner;
  let tree: DataTree;
  let epoch = 0;
  /** every PROPOSAL the fake follower received, in order */
  const proposals: { zxid: number; data: Buffer; txn: LoggedTxn }[] = [];
  const FAKE_SESSION = (3n << 56n) | 0x5eedn; // a follower mints ids with its sid in the top byte
  const ipAuth: Id[] = [{ scheme: 'ip', id: '127.0.0.1' }];

  /** Receive PROPOSAL (ACK it, check its digest) then COMMIT for the next txn. */
  async function proposalAndCommit(f: FakeLearner): Promise<LoggedTxn> {
    const p = await f.expect(PacketType.PROPOSAL);
    const txn = decodeProposal(p.data);
    assert.equal(txn.hdr.zxid, p.zxid, 'the packet zxid is the txn zxid');
    assert.equal(epochOf(p.zxid), epoch);
    if (proposals.length > 0) assert.equal(p.zxid, proposals[proposals.length - 1]!.zxid + 1, 'proposals are consecutive');
    proposals.push({ zxid: p.zxid, data: p.data!, txn });
    f.send({ type: PacketType.ACK, zxid: p.zxid, data: null, authinfo: null });
    const c = await f.expect(PacketType.COMMIT);
    assert.equal(c.zxid, p.zxid);
    assert.equal(c.data, null);
    applyAndCheckDigest(tree, txn);
    return txn;
  }

  before(async () => {
    const ports = await Promise.all(Array.from({ length: 10 }, () => freePort()));
    const [c1, c2, q1, e1, q2, e2, q3, e3, q4, e4] = ports as [number, ...number[]];
    serverLines = {
      'server.1': `127.0.0.1:${q1}:${e1}`,
      'server.2': `127.0.0.1:${q2}:${e2}`,
      'server.3': `127.0.0.1:${q3}:${e3}`,
      'server.4': `127.0.0.1:${q4}:${e4}:observer`,
    };
    const cfg = { ...serverLines, initLimit: 20, syncLimit: 10, minSessionTimeout: 2 * TICK_MS, maxSessionTimeout: 20 * TICK_MS };
    const quorumPorts = [q1, q2];
    const started = await Promise.allSettled(
      [c1, c2].map((port, i) => startZooKeeper({ port, myid: i + 1, tickTime: TICK_MS, cfg, jvmFlags: ['-Xmx256m'] })),
    );
    for (const s of started) if (s.status === 'fulfilled') peers.push(s.value);
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    let modes: string[] = [];
    await until('one leader and one follower', async () => {
      modes = await Promise.all(peers.map(async (p) => /Mode: (\w+)/.exec(await fourLetterWord(p.host, p.port, 'srvr').catch(() => ''))?.[1] ?? '?'));
      return modes.includes('leader') && modes.includes('follower');
    });
    const li = modes.indexOf('leader');
    leader = peers[li]!;
    follower = peers[1 - li]!;
    leaderQuorumPort = quorumPorts[li]!;
    client = await ZooKeeperClient.connect(follower.connectString, { sessionTimeout: 4000 });
    await client.create('/before', 'written before the fake follower joined');
  });

  after(async () => {
    fake?.close();
    await client?.close().catch(() => undefined);
    await Promise.all(peers.map((p) => p.stop()));
  });

  it('joins as follower: FOLLOWERINFO, LEADERINFO, ACKEPOCH, SNAP + stream, NEWLEADER, UPTODATE', async () => {
    const leaderZxid = await srvrZxid(leader);
    fake = await FakeLearner.connect(leaderQuorumPort);
    // A brand-new peer: acceptedEpoch 0, nothing logged.
    fake.send({ type: PacketType.FOLLOWERINFO, zxid: makeZxid(0, 0), data: encodeLearnerInfo({ serverId: 3, protocolVersion: ZAB_PROTOCOL_VERSION, configVersion: 0 }), authinfo: null });

    const info = await fake.expect(PacketType.LEADERINFO);
    assert.equal(decodeLeaderInfo(info.data), ZAB_PROTOCOL_VERSION);
    assert.equal(counterOf(info.zxid), 0, 'LEADERINFO carries newEpoch << 32');
    epoch = epochOf(info.zxid);
    assert.equal(epoch, epochOf(leaderZxid), "the leader's established epoch");
    assert.ok(epoch >= 1);

    // The proposed epoch is newer than ours: report our currentEpoch (0) and our last zxid (0).
    fake.send({ type: PacketType.ACKEPOCH, zxid: 0, data: encodeAckEpoch(0), authinfo: null });

    // Our zxid 0 is older than anything in the leader's log: ZooKeeper sends its whole tree.
    const snap = await fake.expect(PacketType.SNAP);
    assert.equal(snap.zxid, leaderZxid, "SNAP carries the leader's last processed zxid");
    assert.equal(snap.data, null);
    tree = await fake.snapTrees[0]!;
    assert.equal(tree.get('/before')?.data?.toString(), 'written before the fake follower joined');
    assert.equal(tree.get('/before')?.czxid, leaderZxid);
    assert.ok(tree.sessions.has(client.sessionId), "the ZooKeeper client's session travels in the SNAP stream");

    const newLeader = await fake.expect(PacketType.NEWLEADER);
    assert.equal(newLeader.zxid, makeZxid(epoch, 0));
    const config = decodeNewLeader(newLeader.data);
    for (const [k, v] of Object.entries(serverLines)) assert.ok(config?.includes(`${k}=${v}`), `NEWLEADER config names ${k}=${v}: ${config}`);
    assert.match(config!, /^version=0$/m);
    fake.send({ type: PacketType.ACK, zxid: newLeader.zxid, data: null, authinfo: null });

    const upToDate = await fake.expect(PacketType.UPTODATE);
    assert.equal(upToDate.zxid, -1);
    fake.send({ type: PacketType.ACK, zxid: makeZxid(epoch, 0), data: null, authinfo: null });

    await until('the leader to count the fake follower as synced', async () => (await mntr(leader, 'zk_synced_followers')) === '2');
    const order = fake.received.filter((p) => p.type !== PacketType.PING).map((p) => packetName(p.type));
    assert.deepEqual(order, ['LEADERINFO', 'SNAP', 'NEWLEADER', 'UPTODATE']);
  });

  it('receives a ZooKeeper client write as PROPOSAL (txn + TxnDigest) then COMMIT', async () => {
    await client.create('/fromzk', 'hello from a ZooKeeper client');
    const txn = await proposalAndCommit(fake);
    assert.ok(txn.body.type === OpCode.create || txn.body.type === OpCode.create2);
    assert.equal(txn.body.path, '/fromzk');
    assert.equal(txn.body.data?.toString(), 'hello from a ZooKeeper client');
    assert.equal(txn.hdr.clientId, client.sessionId);
    assert.equal(txn.hdr.zxid, await srvrZxid(leader));
    assert.equal(tree.get('/fromzk')?.data?.toString(), 'hello from a ZooKeeper client');
  });

  it('answers PINGs: the leader pings with its last proposed zxid and no data', async () => {
    const before = fake.pingsAnswered;
    await until('a few PINGs', () => fake.pingsAnswered >= before + 3);
    const pings = fake.received.filter((p) => p.type === PacketType.PING);
    const last = pings[pings.length - 1]!;
    assert.equal(last.zxid, proposals[proposals.length - 1]!.zxid);
    assert.equal(last.data, null);
    assert.equal(last.authinfo, null);
    assert.deepEqual(decodePingSessions(last.data), []);
  });

  it('forwards REQUESTs (createSession, ephemeral create, sync) that the leader commits and clients read', async () => {
    const timeout = 6 * TICK_MS;
    fake.send({ type: PacketType.REQUEST, zxid: -1, data: encodeRequest({ sessionId: FAKE_SESSION, cxid: 0, type: OpCode.createSession, request: new JuteWriter(4).int(timeout).toBuffer() }), authinfo: ipAuth });
    const created = await proposalAndCommit(fake);
    assert.equal(created.hdr.clientId, FAKE_SESSION);
    assert.equal(created.hdr.type, OpCode.createSession);
    assert.deepEqual(created.body, { type: OpCode.createSession, timeOut: timeout });
    fake.sessions = [{ sessionId: FAKE_SESSION, timeout }];

    const create = requestBytes({ type: OpCode.create, path: '/fromfake', data: Buffer.from('forwarded by the fake follower'), acl: OPEN_ACL, flags: 1 });
    fake.send({ type: PacketType.REQUEST, zxid: -1, data: encodeRequest({ sessionId: FAKE_SESSION, cxid: 1, type: OpCode.create, request: create }), authinfo: ipAuth });
    const txn = await proposalAndCommit(fake);
    assert.equal(txn.hdr.cxid, 1);
    assert.deepEqual(txn.body, { type: OpCode.create, path: '/fromfake', data: Buffer.from('forwarded by the fake follower'), acl: OPEN_ACL, ephemeral: true, parentCVersion: tree.get('/')!.cversion });

    await client.sync('/');
    const got = await client.getData('/fromfake');
    assert.equal(got.data?.toString(), 'forwarded by the fake follower');
    assert.equal(got.stat.ephemeralOwner, FAKE_SESSION);

    // A forwarded sync creates no txn: the leader answers with a SYNC packet once its pipeline is flushed.
    fake.send({ type: PacketType.REQUEST, zxid: -1, data: encodeRequest({ sessionId: FAKE_SESSION, cxid: 2, type: OpCode.sync, request: requestBytes({ type: OpCode.sync, path: '/' }) }), authinfo: ipAuth });
    const sync = await fake.expect(PacketType.SYNC);
    assert.equal(sync.zxid, 0);
    assert.equal(sync.data, null);
  });

  it('REVALIDATE: the leader says which sessions are alive', async () => {
    fake.send({ type: PacketType.REVALIDATE, zxid: -1, data: encodeRevalidate({ sessionId: FAKE_SESSION, timeout: 6 * TICK_MS }), authinfo: null });
    const yes = await fake.expect(PacketType.REVALIDATE);
    assert.deepEqual(decodeRevalidateReply(yes.data), { sessionId: FAKE_SESSION, valid: true });
    const unknown = (3n << 56n) | 0xdeadn;
    fake.send({ type: PacketType.REVALIDATE, zxid: -1, data: encodeRevalidate({ sessionId: unknown, timeout: 6 * TICK_MS }), authinfo: null });
    const no = await fake.expect(PacketType.REVALIDATE);
    assert.deepEqual(decodeRevalidateReply(no.data), { sessionId: unknown, valid: false });
  });

  it('PING replies keep the forwarded session alive; once they stop listing it, the leader expires it', async () => {
    // Well past the session timeout while every PING reply lists the session.
    const pingsBefore = fake.pingsAnswered;
    await new Promise((r) => setTimeout(r, 4 * 6 * TICK_MS));
    assert.ok(fake.pingsAnswered > pingsBefore + 4);
    assert.ok(await client.exists('/fromfake'), 'the ephemeral survives while PING replies report its session');
    assert.equal(fake.received.filter((p) => p.type === PacketType.PROPOSAL).length, proposals.length, 'no txn (no expiry) while the session is reported');

    fake.sessions = [];
    const closed = await proposalAndCommit(fake);
    assert.equal(closed.hdr.type, OpCode.closeSession);
    assert.equal(closed.hdr.clientId, FAKE_SESSION);
    assert.deepEqual(closed.body, { type: OpCode.closeSession, paths: ['/fromfake'] });
    await client.sync('/');
    assert.equal(await client.exists('/fromfake'), null);
  });

  it('a follower that rejoins: TRUNC when it claims txns the leader never committed, an empty DIFF when it is level', async () => {
    fake.close();
    const last = proposals[proposals.length - 1]!.zxid;
    for (const [claimed, sync, syncZxid] of [
      [last + 3, PacketType.TRUNC, last],
      [last, PacketType.DIFF, last],
    ] as const) {
      const again = await FakeLearner.connect(leaderQuorumPort);
      try {
        again.send({ type: PacketType.FOLLOWERINFO, zxid: makeZxid(epoch, 0), data: encodeLearnerInfo({ serverId: 3, protocolVersion: ZAB_PROTOCOL_VERSION, configVersion: 0 }), authinfo: null });
        assert.equal((await again.expect(PacketType.LEADERINFO)).zxid, makeZxid(epoch, 0));
        again.send({ type: PacketType.ACKEPOCH, zxid: claimed, data: encodeAckEpoch(-1), authinfo: null });
        const p = await again.expect(sync);
        assert.equal(p.zxid, syncZxid, `${packetName(sync)} to the leader's last committed zxid`);
        const newLeader = await again.expect(PacketType.NEWLEADER);
        again.send({ type: PacketType.ACK, zxid: newLeader.zxid, data: null, authinfo: null });
        await again.expect(PacketType.UPTODATE);
        again.send({ type: PacketType.ACK, zxid: makeZxid(epoch, 0), data: null, authinfo: null });
        const order = again.received.filter((q) => q.type !== PacketType.PING).map((q) => packetName(q.type));
        assert.deepEqual(order, ['LEADERINFO', packetName(sync), 'NEWLEADER', 'UPTODATE']);
      } finally {
        if (sync === PacketType.TRUNC) again.close();
        else fake = again;
      }
    }
    await until('the rejoined follower to count as synced', async () => (await mntr(leader, 'zk_synced_followers')) === '2');
  });

  it('joins as observer claiming an older zxid: DIFF with PROPOSAL/COMMIT pairs, then INFORM for new writes', async () => {
    // The observer pretends to hold everything up to the fake follower's first proposal.
    const claimed = proposals[0]!.zxid;
    const obs = await FakeLearner.connect(leaderQuorumPort);
    try {
      obs.send({ type: PacketType.OBSERVERINFO, zxid: makeZxid(epoch, 0), data: encodeLearnerInfo({ serverId: 4, protocolVersion: ZAB_PROTOCOL_VERSION, configVersion: 0 }), authinfo: null });
      const info = await obs.expect(PacketType.LEADERINFO);
      assert.equal(info.zxid, makeZxid(epoch, 0));
      // Already accepted this epoch: -1.
      obs.send({ type: PacketType.ACKEPOCH, zxid: claimed, data: encodeAckEpoch(-1), authinfo: null });

      const diff = await obs.expect(PacketType.DIFF);
      const last = proposals[proposals.length - 1]!;
      assert.equal(diff.zxid, last.zxid, "DIFF carries the leader's last committed zxid");
      for (const p of proposals.slice(1)) {
        const prop = await obs.expect(PacketType.PROPOSAL);
        assert.equal(prop.zxid, p.zxid);
        assert.ok(prop.data!.equals(p.data), `DIFF proposal ${zxidHex(p.zxid)} is byte-identical to the broadcast PROPOSAL`);
        const commit = await obs.expect(PacketType.COMMIT);
        assert.equal(commit.zxid, p.zxid);
      }
      const newLeader = await obs.expect(PacketType.NEWLEADER);
      assert.equal(newLeader.zxid, makeZxid(epoch, 0));
      obs.send({ type: PacketType.ACK, zxid: newLeader.zxid, data: null, authinfo: null });
      await obs.expect(PacketType.UPTODATE);
      obs.send({ type: PacketType.ACK, zxid: makeZxid(epoch, 0), data: null, authinfo: null });
      await until('the leader to count the observer as synced', async () => (await mntr(leader, 'zk_synced_observers')) === '1');

      await client.setData('/fromzk', 'seen by the observer');
      const txn = await proposalAndCommit(fake);
      const inform = await obs.expect(PacketType.INFORM);
      assert.equal(inform.zxid, txn.hdr.zxid);
      assert.ok(inform.data!.equals(proposals[proposals.length - 1]!.data), 'INFORM data is the PROPOSAL data');
      assert.deepEqual(decodeProposal(inform.data, 'INFORM').body, { type: OpCode.setData, path: '/fromzk', data: Buffer.from('seen by the observer'), version: 1 });
      assert.equal(txn.hdr.zxid, await srvrZxid(leader));
      const order = obs.received.filter((p) => p.type !== PacketType.PING).map((p) => packetName(p.type));
      assert.deepEqual(order, ['LEADERINFO', 'DIFF', ...proposals.slice(1, -1).flatMap(() => ['PROPOSAL', 'COMMIT']), 'NEWLEADER', 'UPTODATE', 'INFORM']);
      await until('the leader to ping the observer', () => obs.pingsAnswered > 0);
    } finally {
      obs.close();
    }
  });
});
