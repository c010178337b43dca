// ZabMessage ↔ QuorumPacket (src/runtime/zab-wire.ts), message by message:
// each goes through the bytes (encodePacket, QuorumPacketDecoder) and comes
// back equal, with the packet type, zxid and data layout ZooKeeper 3.8 uses
// (the interop tests in quorum-net*.test.ts prove them against ZooKeeper);
// packets with no place in a direction are refused.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OpCode } from '../src/proto/constants.ts';
import { decodeLearnerInfo, decodePingSessions, decodeRequest, encodePacket, encodeRequest, PacketType, QuorumPacketDecoder, QuorumWireError, type QuorumPacket } from '../src/proto/quorum.ts';
import type { Txn } from '../src/proto/txn.ts';
import { fromPacket, quorumConfigText, toPacket, type WireContext } from '../src/runtime/zab-wire.ts';
import type { ForwardedRequest, ZabMessage } from '../src/zab/messages.ts';
import { makeZxid } from '../src/zxid.ts';

const leader: WireContext = { myId: 1, leading: true, config: 'server.1=127.0.0.1:2888:3888:participant\nversion=0' };
const learner: WireContext = { myId: 3, leading: false, config: null };

const txn: Txn = {
  hdr: { clientId: 0x300000000005eedn, cxid: 7, zxid: makeZxid(4, 2), time: 1_700_000_000_000, type: OpCode.setData },
  body: { type: OpCode.setData, path: '/a', data: Buffer.from('x'), version: 3 },
};

/** Through the bytes and back. */
function wire(msg: ZabMessage, sender: WireContext, receiver: WireContext): { packet: QuorumPacket; back: ZabMessage | null } {
  const packet = toPacket(msg, sender);
  const decoder = new QuorumPacketDecoder();
  decoder.push(encodePacket(packet));
  const decoded = decoder.next()!;
  return { packet: decoded, back: fromPacket(decoded, receiver) };
}

describe('zab-wire', () => {
  it('learner → leader messages', () => {
    const cases: [ZabMessage, number, number][] = [
      [{ type: 'learnerInfo', acceptedEpoch: 5, observer: false }, PacketType.FOLLOWERINFO, makeZxid(5, 0)],
      [{ type: 'learnerInfo', acceptedEpoch: 5, observer: true }, PacketType.OBSERVERINFO, makeZxid(5, 0)],
      [{ type: 'ackEpoch', currentEpoch: -1, lastZxid: makeZxid(4, 9) }, PacketType.ACKEPOCH, makeZxid(4, 9)],
      [{ type: 'ack', zxid: makeZxid(4, 2) }, PacketType.ACK, makeZxid(4, 2)],
      [{ type: 'ping', zxid: makeZxid(4, 2), sessions: [] }, PacketType.PING, makeZxid(4, 2)],
      [{ type: 'ping', zxid: makeZxid(4, 2), sessions: [[0x300000000005eedn, 4000], [0x100000000000001n, 30000]] }, PacketType.PING, makeZxid(4, 2)],
    ];
    for (const [msg, type, zxid] of cases) {
      const { packet, back } = wire(msg, learner, leader);
      assert.equal(packet.type, type, msg.type);
      assert.equal(packet.zxid, zxid, msg.type);
      assert.deepEqual(back, msg);
    }
    assert.deepEqual(decodeLearnerInfo(toPacket(cases[0]![0], learner).data), { serverId: 3, protocolVersion: 0x10000, configVersion: 0 });
    // A learner's PING reply lists the sessions its clients kept alive: (long id, int timeout) each.
    assert.deepEqual(decodePingSessions(toPacket(cases[5]![0], learner).data), [
      { sessionId: 0x300000000005eedn, timeout: 4000 },
      { sessionId: 0x100000000000001n, timeout: 30000 },
    ]);
    assert.equal(toPacket({ type: 'ping', zxid: 1 }, learner).data?.length, 0, 'none: no bytes');
  });

  it("a forwarded request keeps its session, cxid, op, record and auth ids (the pipeline's ForwardedWrite)", () => {
    const authIds = [{ scheme: 'ip', id: '127.0.0.1' }];
    const sessionId = 0x300000000005eedn;
    const cases: ForwardedRequest[] = [
      { sessionId, cxid: 0, op: OpCode.createSession, payload: { request: null, authIds, timeOut: 4000 } },
      { sessionId, cxid: 1, op: OpCode.setData, payload: { request: { type: OpCode.setData, path: '/a', data: Buffer.from('x'), version: -1 }, authIds } },
      { sessionId, cxid: 2, op: OpCode.closeSession, payload: { request: null, authIds } },
      // a sync's payload is the request itself
      { sessionId, cxid: 3, op: OpCode.sync, payload: { type: OpCode.sync, path: '/a' } },
    ];
    for (const request of cases) {
      const { packet, back } = wire({ type: 'request', request }, learner, leader);
      assert.equal(packet.type, PacketType.REQUEST);
      assert.equal(packet.zxid, -1);
      assert.deepEqual(packet.authinfo, request.op === OpCode.sync ? null : authIds);
      assert.deepEqual(back, { type: 'request', request });
    }
    // ZooKeeper's layouts: createSession carries the timeout, closeSession nothing.
    assert.deepEqual(decodeRequest(toPacket({ type: 'request', request: cases[0]! }, learner).data).request, Buffer.from([0, 0, 0x0f, 0xa0]));
    assert.equal(decodeRequest(toPacket({ type: 'request', request: cases[2]! }, learner).data).request.length, 0);
    // A record that does not decode reaches the pipeline as null (it answers the client with an error).
    const garbled = encodeRequest({ sessionId, cxid: 4, type: OpCode.setData, request: Buffer.from([0xff]) });
    assert.deepEqual(fromPacket({ type: PacketType.REQUEST, zxid: -1, data: garbled, authinfo: authIds }, leader), {
      type: 'request',
      request: { sessionId, cxid: 4, op: OpCode.setData, payload: { request: null, authIds } },
    });
  });

  it('leader → learner messages', () => {
    const cases: [ZabMessage, number, number][] = [
      [{ type: 'leaderInfo', epoch: 6 }, PacketType.LEADERINFO, makeZxid(6, 0)],
      [{ type: 'diff', zxid: makeZxid(4, 9) }, PacketType.DIFF, makeZxid(4, 9)],
      [{ type: 'trunc', zxid: makeZxid(4, 1) }, PacketType.TRUNC, makeZxid(4, 1)],
      [{ type: 'newLeader', zxid: makeZxid(6, 0) }, PacketType.NEWLEADER, makeZxid(6, 0)],
      [{ type: 'upToDate' }, PacketType.UPTODATE, -1],
      [{ type: 'proposal', txn }, PacketType.PROPOSAL, txn.hdr.zxid],
      [{ type: 'commit', zxid: txn.hdr.zxid }, PacketType.COMMIT, txn.hdr.zxid],
      [{ type: 'inform', txn }, PacketType.INFORM, txn.hdr.zxid],
      [{ type: 'ping', zxid: txn.hdr.zxid }, PacketType.PING, txn.hdr.zxid],
      [{ type: 'sync' }, PacketType.SYNC, 0],
    ];
    for (const [msg, type, zxid] of cases) {
      const { packet, back } = wire(msg, leader, learner);
      assert.equal(packet.type, type, msg.type);
      assert.equal(packet.zxid, zxid, msg.type);
      assert.deepEqual(back, msg);
    }
    assert.equal(toPacket({ type: 'newLeader', zxid: 1 }, leader).data?.toString(), leader.config);
    assert.equal(toPacket({ type: 'ping', zxid: 1 }, leader).data, null, "the leader's PING has no data");
    // SNAP is the packet alone; its stream is the runtime's.
    const snap = toPacket({ type: 'snap', zxid: makeZxid(4, 9) }, leader);
    assert.deepEqual([snap.type, snap.zxid, snap.data], [PacketType.SNAP, makeZxid(4, 9), null]);
    assert.throws(() => toPacket({ type: 'replay', from: 0, to: 1 }, leader), /never sent/);
  });

  it('refuses packets that have no place in the direction they came, and reconfiguration', () => {
    assert.throws(() => fromPacket(toPacket({ type: 'leaderInfo', epoch: 1 }, leader), leader), QuorumWireError);
    assert.throws(() => fromPacket(toPacket({ type: 'ack', zxid: 1 }, learner), learner), QuorumWireError);
    assert.throws(() => fromPacket({ type: PacketType.COMMITANDACTIVATE, zxid: 1, data: Buffer.alloc(8), authinfo: null }, learner), /not supported/);
    const p = toPacket({ type: 'proposal', txn }, leader);
    assert.throws(() => fromPacket({ ...p, zxid: p.zxid + 1 }, learner), /packet zxid/);
    assert.equal(fromPacket({ type: PacketType.REVALIDATE, zxid: -1, data: null, authinfo: null }, learner), null);
  });

  it('prints the quorum config as ZooKeeper does', () => {
    assert.equal(
      quorumConfigText([
        { id: 1, host: '10.0.0.1', quorumPort: 2888, electionPort: 3888, observer: false },
        { id: 4, host: '10.0.0.4', quorumPort: 2888, electionPort: 3888, observer: true, clientPort: 2181 },
      ], 0x100000002),
      'server.1=10.0.0.1:2888:3888:participant\nserver.4=10.0.0.4:2888:3888:observer;0.0.0.0:2181\nversion=100000002',
    );
    // A hierarchical quorum (as a 3.8 ensemble's conf printed it for group.2=2:1, group.1=3, weight.2=2, weight.1=1).
    const peers = [1, 2, 3].map((id) => ({ id, host: '10.0.0.1', quorumPort: 2880 + id, electionPort: 3880 + id, observer: false }));
    assert.equal(
      quorumConfigText(peers, 0, { groups: new Map([[2, [2, 1]], [1, [3]]]), weights: new Map([[2, 2], [1, 1]]) }),
      'server.1=10.0.0.1:2881:3881:participant\nserver.2=10.0.0.1:2882:3882:participant\nserver.3=10.0.0.1:2883:3883:participant\n' +
        'group.1=3\ngroup.2=1:2\nweight.1=1\nweight.2=2\nweight.3=1\nversion=0',
    );
  });
});
