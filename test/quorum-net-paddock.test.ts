// An ensemble of three Paddock members in this process, each a Replica on
// its own data directories, a Zab core (Peer, which runs fast leader
// election), and the quorum and election ports (QuorumNet, ElectionNet) over
// real sockets. They elect a leader, replicate the
// writes it proposes to every tree (same nodes, same digest), bring back a
// restarted follower (DIFF), elect a new leader in a new epoch when the
// leader stops, take the old leader back as a follower, and bring back by SNAP
// a follower the leader's autopurge left behind (a snapshot stream far
// larger than what a learner holds of it at once: loaded while it arrives,
// the socket paused while the loader catches up), also when its first
// connection is cut in the middle of that stream (nothing installed from it;
// it looks again and the next SNAP brings it back). A learner's reset
// connection is logged with its address.

import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { PeerAddress } from '../src/config/config.ts';
import { recordingLogger } from '../src/log.ts';
import { treeDigest } from '../src/tree/digest.ts';
import { OpCode } from '../src/proto/constants.ts';
import { encodeLearnerInfo, encodePacket, packetName, PacketType, QuorumPacketDecoder, ZAB_PROTOCOL_VERSION } from '../src/proto/quorum.ts';
import type { Txn, TxnBody } from '../src/proto/txn.ts';
import { ElectionNet } from '../src/runtime/election-net.ts';
import { QuorumNet } from '../src/runtime/quorum-net.ts';
import { Replica } from '../src/runtime/replica.ts';
import { quorumConfigText } from '../src/runtime/zab-wire.ts';
import { Peer } from '../src/zab/peer.ts';
import { majorityQuorum } from '../src/zab/quorum.ts';
import { epochOf } from '../src/zxid.ts';
import { dataDirOptions, scratchRoot } from './support/datadirs.ts';
import { freePort } from './support/servers.ts';
import { nodesText, treeNodes } from './support/trees.ts';
import { waitFor } from './support/wait.ts';

const WAIT_MS = 30_000;
const TICK_MS = 100;
/** what a learner holds of a SNAP's stream before it pauses its socket: small, so that a SNAP here pauses it many times */
const SNAP_HIGH_WATER = 64 << 10;
const OPEN_ACL = [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }];

interface Member {
  peer: Peer;
  replica: Replica;
  quorumNet: QuorumNet;
  close(): Promise<void>;
}

/** A TCP relay on loopback to `port`: its first connection is closed (both ends) once `cutAfter` bytes came back; later ones relay everything. */
class CuttingRelay {
  connections = 0;
  cut = 0;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(port: number, cutAfter: number): Promise<CuttingRelay> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const relay = new CuttingRelay(server, (server.address() as net.AddressInfo).port);
    server.on('connection', (client) => {
      const first = relay.connections++ === 0;
      const upstream = net.connect({ host: '127.0.0.1', port });
      for (const s of [client, upstream]) {
        relay.sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => {
          relay.sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      let back = 0;
      upstream.on('data', (chunk: Buffer) => {
        back += chunk.length;
        if (first && back > cutAfter) {
          relay.cut++;
          client.destroy();
          upstream.destroy();
        } else client.write(chunk);
      });
    });
    return relay;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

describe('quorum runtime: an ensemble of three Paddock members', { timeout: 240_000 }, () => {
  const scratch = scratchRoot('quorum-net-paddock');
  const dirs = new Map<number, string>();
  const members = new Map<number, Member>();
  const lines: string[] = [];
  let servers: PeerAddress[] = [];

  /** `dial` overrides the quorum addresses this member dials (a relay in front of a peer); the config stays the ensemble's. */
  async function start(id: number, dial: PeerAddress[] = servers): Promise<Member> {
    const logger = recordingLogger((l) => lines.push(`${id} ${l.level} ${l.message}`), 'INFO');
    const replica = await Replica.open(dataDirOptions(dirs.get(id)!, 10_000), logger);
    const config = quorumConfigText(servers);
    replica.showQuorumConfig(config);
    const peer = new Peer({
      settings: { id, quorum: majorityQuorum(servers), tickTime: TICK_MS, initLimit: 50, syncLimit: 20 },
      epochs: { ...replica.epochs },
      history: replica.historyInit(),
      now: performance.now(),
    });
    const electionNet = new ElectionNet({ myId: id, servers });
    const quorumNet = new QuorumNet({ myId: id, servers: dial, peer, replica, tickMs: TICK_MS, logger, config, electionNet, snapHighWaterBytes: SNAP_HIGH_WATER });
    await quorumNet.listen();
    await electionNet.listen();
    quorumNet.start();
    const m: Member = {
      peer,
      replica,
      quorumNet,
      async close() {
        await electionNet.close();
        await quorumNet.close();
        await replica.close();
      },
    };
    members.set(id, m);
    return m;
  }

  async function stop(id: number): Promise<void> {
    await members.get(id)!.close();
    members.delete(id);
  }

  /** The established leader, once every running member serves under it. */
  async function settled(): Promise<Member> {
    return waitFor(`every running member to serve under one leader (log:\n${lines.slice(-30).join('\n')})`, WAIT_MS, () => {
      const all = [...members.values()];
      const leaders = all.filter((m) => m.peer.role === 'leading' && m.peer.serving);
      if (leaders.length !== 1 || !all.every((m) => m.peer.serving && m.quorumNet.leaderId === leaders[0]!.peer.id)) return null;
      return leaders[0]!;
    });
  }

  /** Propose on the leader and wait until every running member applied it. */
  async function write(leader: Member, build: () => TxnBody): Promise<Txn> {
    const body = build();
    const txn = leader.peer.propose((zxid) => ({ hdr: { clientId: 0n, cxid: 0, zxid, time: Date.now(), type: body.type }, body }));
    assert.ok(txn, 'the leader orders the txn');
    leader.quorumNet.drive();
    await waitFor(`every member to apply ${txn.hdr.zxid.toString(16)}`, WAIT_MS, () => [...members.values()].every((m) => m.replica.tree.lastProcessedZxid >= txn.hdr.zxid));
    return txn;
  }

  const create = (leader: Member, path: string, data: string): (() => TxnBody) => () => {
    const parent = leader.replica.tree.get(path.slice(0, path.lastIndexOf('/')) || '/')!;
    return { type: OpCode.create, path, data: Buffer.from(data), acl: OPEN_ACL, ephemeral: false, parentCVersion: parent.cversion + 1 };
  };

  function assertSameTrees(what: string): void {
    const all = [...members.values()];
    const [first, ...rest] = all;
    for (const m of rest) {
      assert.equal(nodesText(treeNodes(m.replica.tree)), nodesText(treeNodes(first!.replica.tree)), `${what}: member ${m.peer.id} holds member ${first!.peer.id}'s tree`);
      assert.equal(treeDigest(m.replica.tree), treeDigest(first!.replica.tree), `${what}: same digest`);
    }
  }

  let purges = 0;
  /** With a follower stopped at zxid `behind`: four snapshots on the leader, the retained three all after it, then autopurge. */
  async function purgePast(leader: Member, behind: number): Promise<void> {
    purges++;
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 3; i++) await write(leader, create(leader, `/app/purge-${purges}-${round}-${i}`, 'x'));
      await leader.replica.snapshot();
    }
    const since = lines.length;
    await leader.quorumNet.purge();
    assert.ok(lines.slice(since).some((l) => new RegExp(`^${leader.peer.id} INFO purged [1-9]\\d* snapshots`).test(l)), 'the oldest snapshots went');
    assert.ok(leader.peer.history.logStart > behind, 'the core no longer offers a DIFF from before the oldest snapshot kept');
  }

  before(async () => {
    servers = [];
    for (const id of [1, 2, 3]) {
      servers.push({ id, host: '127.0.0.1', quorumPort: await freePort(), electionPort: await freePort(), observer: false });
      dirs.set(id, scratch.freshDir(`member${id}`));
    }
    for (const id of [1, 2, 3]) await start(id);
  });

  after(async () => {
    for (const id of [...members.keys()]) await stop(id).catch(() => undefined);
    rmSync(scratch.root, { recursive: true, force: true });
  });

  it('elects a leader and replicates its writes to every tree', async () => {
    const leader = await settled();
    assert.equal(leader.peer.epochs.current, 1, 'the first epoch');
    await write(leader, create(leader, '/app', 'x'));
    for (let i = 0; i < 20; i++) await write(leader, create(leader, `/app/n${i}`, `value ${i}`));
    await write(leader, () => ({ type: OpCode.setData, path: '/app/n0', data: Buffer.from('changed'), version: 1 }));
    assertSameTrees('after 22 writes');
  });

  it('a restarted follower catches up (DIFF) from its own directories', async () => {
    let leader = await settled();
    const follower = [...members.values()].find((m) => m !== leader)!.peer.id;
    await stop(follower);
    for (let i = 0; i < 5; i++) await write(leader, create(leader, `/app/while-${follower}-was-down-${i}`, 'x'));
    await start(follower);
    leader = await settled();
    assert.ok(lines.some((l) => l.startsWith(`${leader.peer.id} INFO syncing server ${follower} by DIFF`)), 'synced by DIFF');
    await write(leader, create(leader, '/app/after-rejoin', 'x'));
    assertSameTrees('after the follower rejoined');
  });

  it('when the leader stops, the others elect a new one in a new epoch; the old leader comes back as a follower', async () => {
    const old = await settled();
    const oldId = old.peer.id;
    const oldEpoch = old.peer.epochs.current;
    await stop(oldId);
    const leader = await settled();
    assert.notEqual(leader.peer.id, oldId);
    assert.equal(leader.peer.epochs.current, oldEpoch + 1);
    const txn = await write(leader, create(leader, '/app/new-epoch', 'x'));
    assert.equal(epochOf(txn.hdr.zxid), oldEpoch + 1);
    await start(oldId);
    const again = await settled();
    assert.equal(again.peer.id, leader.peer.id, 'the new leader keeps leading');
    assert.equal(members.get(oldId)!.peer.role, 'following');
    await write(again, create(again, '/app/all-three', 'x'));
    assertSameTrees('after the old leader rejoined');
  });

  it('after the leader autopurged, a follower older than its oldest snapshot kept is brought back by SNAP', async () => {
    let leader = await settled();
    const follower = [...members.values()].find((m) => m !== leader)!.peer.id;
    const behind = members.get(follower)!.peer.lastZxid;
    await stop(follower);
    // A stream of 12 MiB, items of 256 KiB: each fills what the learner holds before it pauses its socket.
    await write(leader, create(leader, '/big', ''));
    for (let i = 0; i < 48; i++) await write(leader, () => ({ type: OpCode.create, path: `/big/n${i}`, data: Buffer.alloc(256 << 10, i), acl: OPEN_ACL, ephemeral: false, parentCVersion: i + 1 }));
    await purgePast(leader, behind);
    const since = lines.length;
    await start(follower);
    leader = await settled();
    assert.ok(lines.some((l) => l.startsWith(`${leader.peer.id} INFO syncing server ${follower} by SNAP`)), 'synced by SNAP');
    const syncedLine = new RegExp(`^${follower} INFO synced with leader ${leader.peer.id} by SNAP at 0x[0-9a-f]+: a (\\d+)-byte snapshot`);
    const synced = await waitFor("the follower's synced line", WAIT_MS, () => lines.slice(since).map((l) => syncedLine.exec(l)).find((m) => m) ?? null);
    assert.ok(Number(synced[1]) > 48 * (256 << 10), `the synced line counts the stream's ${synced[1]} bytes`);
    await write(leader, create(leader, '/app/after-purge', 'x'));
    assertSameTrees('after the purge and the SNAP');
  });

  it('a learner that connects while its leader-to-be still looks is served once it leads, not refused', async () => {
    for (const id of [...members.keys()]) await stop(id);
    // 3 alone cannot elect: it looks. Server 2's learner (raw bytes here) connects and names itself.
    const three = await start(3);
    const learner = net.connect({ host: '127.0.0.1', port: servers.find((s) => s.id === 3)!.quorumPort });
    await new Promise((resolve, reject) => learner.once('connect', resolve).once('error', reject));
    let closed = false;
    learner.once('close', () => (closed = true));
    const packets = new QuorumPacketDecoder();
    learner.on('data', (d) => packets.push(d));
    learner.write(encodePacket({ type: PacketType.FOLLOWERINFO, zxid: 0, data: encodeLearnerInfo({ serverId: 2, protocolVersion: ZAB_PROTOCOL_VERSION, configVersion: null }), authinfo: null }));
    await new Promise((r) => setTimeout(r, 3 * TICK_MS));
    assert.equal(three.peer.role, 'looking');
    assert.equal(closed, false, 'the connection is held while 3 looks');
    // With 1 back, 3 (the highest id, logs alike) leads, and answers the held learner first of all.
    await start(1);
    const answer = await waitFor('an answer to the held FOLLOWERINFO', WAIT_MS, () => packets.next() ?? (closed ? Promise.reject(new Error('closed unanswered')) : null));
    assert.equal(packetName(answer.type), 'LEADERINFO');
    assert.equal(three.peer.role, 'leading');
    // Reset by the learner: the leader's warning still names its far end (Node forgets a reset socket's address).
    const far = `(127.0.0.1:${learner.localPort})`;
    learner.resetAndDestroy();
    const warned = await waitFor('the leader to log the reset', WAIT_MS, () => lines.find((l) => l.startsWith('3 WARN') && l.includes('ECONNRESET')));
    assert.ok(warned.includes(`with server 2 ${far}`), warned);
    await start(2);
    const leader = await settled();
    await write(leader, create(leader, '/app/after-held', 'x'));
    assertSameTrees('after a held learner connection');
  });

  it('a follower whose connection closes in the middle of a SNAP stream installs nothing, looks again and is brought back', async () => {
    let leader = await settled();
    const follower = [...members.values()].find((m) => m !== leader)!.peer.id;
    const behind = members.get(follower)!.peer.lastZxid;
    await stop(follower);
    await purgePast(leader, behind);
    // The follower dials its leader through a relay that closes the first connection 1 MiB into
    // what the leader sends (LEADERINFO, SNAP, then the 12 MiB stream): in the middle of the stream.
    const leaderAddress = servers.find((s) => s.id === leader.peer.id)!;
    const relay = await CuttingRelay.start(leaderAddress.quorumPort, 1 << 20);
    try {
      const since = lines.length;
      await start(
        follower,
        servers.map((s) => (s === leaderAddress ? { ...s, quorumPort: relay.port } : s)),
      );
      leader = await settled();
      const log = lines.slice(since).filter((l) => l.startsWith(`${follower} `));
      assert.equal(relay.cut, 1, 'the first connection was cut');
      assert.ok(relay.connections >= 2, 'the follower connected again');
      const lost = log.findIndex((l) => l.includes(`quorum connection with server ${leader.peer.id} lost`));
      const installed = log.filter((l) => l.includes("installed the leader's snapshot"));
      assert.ok(lost >= 0, `the cut is seen as a lost connection:\n${log.join('\n')}`);
      assert.equal(installed.length, 1, `one snapshot installed, by the second SNAP:\n${log.join('\n')}`);
      assert.ok(log.indexOf(installed[0]!) > lost, 'nothing was installed from the cut stream');
      assert.equal(log.filter((l) => / synced with leader \d+ by SNAP/.test(l)).length, 1);
      await write(leader, create(leader, '/app/after-cut', 'x'));
      assertSameTrees('after a SNAP cut mid-stream and the one after it');
    } finally {
      await relay.close();
    }
  });
});
