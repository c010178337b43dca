// The election port runtime (src/runtime/election-net.ts) on loopback, Paddock to Paddock and
// against hand-written peers: one connection per pair, dialled by the higher id; a lower id is
// dialled back; bad headers, frames and notifications; bounded queues. Real ZooKeeper peers
// are in election-interop.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { PeerAddress } from '../src/config/config.ts';
import { decodeConnectHeader, decodeNotification, encodeConnectHeader, encodeNotification, frame, FrameReader } from '../src/proto/election.ts';
import { ElectionDriver, ElectionNet } from '../src/runtime/election-net.ts';
import { Election, PeerState, type Notification } from '../src/zab/election.ts';
import { majorityQuorum } from '../src/zab/quorum.ts';
import { freePort } from './support/servers.ts';
import { waitFor } from './support/wait.ts';

async function addresses(n: number): Promise<PeerAddress[]> {
  const out: PeerAddress[] = [];
  for (let id = 1; id <= n; id++) out.push({ id, host: '127.0.0.1', quorumPort: await freePort(), electionPort: await freePort(), observer: false });
  return out;
}

const looking = (leader: number, round = 1): Omit<Notification, 'from'> => ({ state: PeerState.looking, vote: { leader, zxid: 0, peerEpoch: 0 }, round, version: 2, config: '' });

/** A raw TCP peer: connects, sends bytes, collects what comes back and whether it was closed. */
async function rawPeer(port: number, bytes: Buffer) {
  const sock = net.connect(port, '127.0.0.1');
  const got: Buffer[] = [];
  let closed = false;
  sock.on('data', (d) => got.push(d));
  sock.on('error', () => {});
  sock.on('close', () => (closed = true));
  await new Promise((r) => sock.once('connect', r));
  sock.write(bytes);
  return { sock, received: () => Buffer.concat(got), closed: () => closed };
}

test('five Paddock peers elect over loopback with one connection per pair, dialled by the higher id', async () => {
  const servers = await addresses(5);
  const quorum = majorityQuorum(servers);
  const peers = servers.map((s) => {
    const election = new Election({ myId: s.id, quorum, lastZxid: s.id === 2 ? 5 : 0, currentEpoch: 0, now: performance.now() });
    const elNet = new ElectionNet({ myId: s.id, servers });
    return { election, net: elNet, driver: new ElectionDriver(election, elNet) };
  });
  try {
    await Promise.all(peers.map((p) => p.net.listen()));
    for (const p of peers) p.driver.start();
    await waitFor('every peer to decide', 20_000, () => peers.every((p) => p.election.decision));
    for (const p of peers) assert.equal(p.election.decision!.vote.leader, 2);
    assert.equal(peers[1].election.peerState, PeerState.leading);
    await waitFor('all pairs connected', 10_000, () => peers.every((p) => p.net.connections().length === 4));
    for (const a of peers) {
      for (const c of a.net.connections()) {
        const b = peers[c.peer - 1];
        const back = b.net.connections().find((x) => x.peer === a.election.myId)!;
        assert.equal(back.localPort, c.remotePort, `${a.election.myId}<->${c.peer} is one TCP connection`);
        const dialler = c.remotePort === servers[c.peer - 1].electionPort ? a.election.myId : c.peer;
        assert.equal(dialler, Math.max(a.election.myId, c.peer), `${a.election.myId}<->${c.peer} was dialled by the higher id`);
      }
    }
  } finally {
    for (const p of peers) p.driver.stop();
    await Promise.all(peers.map((p) => p.net.close()));
  }
});

test('a lower id is hung up on and dialled back; our own id is refused', async () => {
  const servers = await addresses(2);
  const two = new ElectionNet({ myId: 2, servers });
  const heardByOne: Buffer[] = [];
  // Server 1 is played by hand: it listens on its election port and records headers.
  const one = net.createServer((s) => s.on('data', (d) => heardByOne.push(d)));
  await new Promise<void>((r) => one.listen(servers[0].electionPort, '127.0.0.1', r));
  await two.listen();
  try {
    const lower = await rawPeer(servers[1].electionPort, encodeConnectHeader(1, [{ host: '127.0.0.1', port: servers[0].electionPort }]));
    await waitFor('2 to hang up on 1', 5000, () => lower.closed());
    await waitFor('2 to dial 1 back', 5000, () => heardByOne.length > 0);
    assert.equal(decodeConnectHeader(Buffer.concat(heardByOne))!.header.sid, 2);
    assert.deepEqual(two.connections().map((c) => c.peer), [1]);
    const self = await rawPeer(servers[1].electionPort, encodeConnectHeader(2, [{ host: '127.0.0.1', port: 1 }]));
    await waitFor('2 to refuse its own id', 5000, () => self.closed());
  } finally {
    await two.close();
    one.close();
  }
});

test('bad headers and frames close that connection only; a bad notification is skipped', async () => {
  const servers = await addresses(3);
  const one = new ElectionNet({ myId: 1, servers });
  const heard: Notification[] = [];
  one.onNotification = (n) => heard.push(n);
  await one.listen();
  try {
    const garbage = await rawPeer(servers[0].electionPort, Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    await waitFor('garbage to be refused', 5000, () => garbage.closed());
    const hugeAddress = await rawPeer(servers[0].electionPort, Buffer.concat([encodeConnectHeader(3, [{ host: 'h', port: 1 }]).subarray(0, 16), Buffer.from([0, 0, 0x10, 0])]));
    await waitFor('an oversized address to be refused', 5000, () => hugeAddress.closed());

    // Server 3 (a higher id: kept) sends a short notification, then a good one: the first is skipped.
    const short = frame(Buffer.alloc(10));
    const good = frame(encodeNotification(looking(3)));
    const three = await rawPeer(servers[0].electionPort, Buffer.concat([encodeConnectHeader(3, [{ host: '127.0.0.1', port: servers[2].electionPort }]), short, good]));
    await waitFor('the good notification', 5000, () => heard.length > 0);
    assert.deepEqual(heard, [{ from: 3, ...looking(3) }]);
    assert.equal(three.closed(), false);
    // A frame length out of range closes the connection.
    three.sock.write(Buffer.from([0x7f, 0xff, 0xff, 0xff]));
    await waitFor('a bad frame length to close the connection', 5000, () => three.closed());
    // Pre-3.5 peers send a bare sid: accepted.
    const old = await rawPeer(servers[0].electionPort, Buffer.concat([Buffer.from([0, 0, 0, 0, 0, 0, 0, 2]), frame(encodeNotification(looking(2)))]));
    await waitFor('the pre-3.5 notification', 5000, () => heard.length === 2);
    assert.equal(heard[1].from, 2);
    assert.equal(old.closed(), false);
    // The port still serves.
    one.send(2, { from: 1, ...looking(1) });
    const frames = new FrameReader();
    const payloads = await waitFor('1 to answer on the kept connection', 5000, () => {
      const p = frames.push(old.received());
      return p.length > 0 && p;
    });
    assert.equal(decodeNotification(payloads[0], 1).vote.leader, 1);
  } finally {
    await one.close();
  }
});

test('while a peer is unreachable only the newest notification waits for it', async () => {
  const servers = await addresses(2);
  const two = new ElectionNet({ myId: 2, servers, connectTimeoutMs: 500 });
  await two.listen();
  try {
    for (let round = 1; round <= 5; round++) two.send(1, { from: 2, ...looking(2, round) });
    await new Promise((r) => setTimeout(r, 200)); // the dial is refused: nothing listens yet
    const one = new ElectionNet({ myId: 1, servers });
    const heard: Notification[] = [];
    one.onNotification = (n) => heard.push(n);
    await one.listen();
    try {
      two.send(1, { from: 2, ...looking(2, 6) });
      await waitFor('the notification', 5000, () => heard.length > 0);
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(heard.map((n) => n.round), [6]);
    } finally {
      await one.close();
    }
  } finally {
    await two.close();
  }
});

test('a server whose connection closed is reported unreachable; with it gone, the other two elect on a clock that never moves', async () => {
  const servers = await addresses(3);
  const quorum = majorityQuorum(servers);
  // Frozen clocks: finalizeWait can never pass, so a decision can only come from knowing who is unreachable.
  const frozen = () => 0;
  const peers = servers.map((s) => {
    const election = new Election({ myId: s.id, quorum, lastZxid: 0, currentEpoch: 0, now: 0 });
    const elNet = new ElectionNet({ myId: s.id, servers });
    const reports: number[][] = [];
    const driver = new ElectionDriver(election, elNet, undefined, frozen);
    const forward = elNet.onReachability;
    elNet.onReachability = (u) => {
      reports.push([...u].sort());
      forward(u);
    };
    return { election, net: elNet, driver, reports };
  });
  const [one, two, three] = peers as [(typeof peers)[0], (typeof peers)[0], (typeof peers)[0]];
  try {
    // 3 never listens: 1 and 2 dial it in vain, and say so.
    await Promise.all([one.net.listen(), two.net.listen()]);
    one.driver.start();
    two.driver.start();
    await waitFor('1 and 2 to decide without the clock moving', 20_000, () => one.election.decision && two.election.decision);
    assert.equal(one.election.decision!.vote.leader, 2);
    assert.equal(two.election.peerState, PeerState.leading);
    assert.deepEqual(one.reports.at(-1), [3]);
    assert.deepEqual(two.reports.at(-1), [3]);
    // 3 comes, talks, and is reachable again; when it goes, the connection's close says so.
    await three.net.listen();
    three.driver.start();
    await waitFor('3 to follow 2', 20_000, () => three.election.decision);
    assert.equal(three.election.decision!.vote.leader, 2);
    await waitFor('1 and 2 to reach 3', 10_000, () => one.reports.at(-1)?.length === 0 && two.reports.at(-1)?.length === 0);
    three.driver.stop();
    await three.net.close();
    await waitFor('1 and 2 to see 3 gone', 10_000, () => one.reports.at(-1)?.includes(3) && two.reports.at(-1)?.includes(3));
  } finally {
    for (const p of peers) {
      p.driver.stop();
      await p.net.close();
    }
  }
});
