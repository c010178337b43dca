// QuorumPacket codecs (src/proto/quorum.ts) on their own: every data codec
// round-trips, the incremental decoder yields the same packets however the
// byte stream is cut (SNAP stream included; test/quorum-snapfeed.test.ts
// loads one while it arrives), and garbage gets a clear
// QuorumWireError, never another exception or a hang. The byte-level proof
// against ZooKeeper itself is test/quorum-wire.test.ts.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { JuteWriter } from '../src/jute/archive.ts';
import { readSnapStream } from '../src/persistence/snapshot.ts';
import { OpCode } from '../src/proto/constants.ts';
import {
  decodeAckEpoch,
  decodeCommitAndActivate,
  decodeInformAndActivate,
  decodeLeaderInfo,
  decodeLearnerInfo,
  decodeNewLeader,
  decodePingSessions,
  decodeProposal,
  decodeRequest,
  decodeRevalidate,
  decodeRevalidateReply,
  encodeAckEpoch,
  encodeCommitAndActivate,
  encodeInformAndActivate,
  encodeLeaderInfo,
  encodeLearnerInfo,
  encodeNewLeader,
  encodePacket,
  encodePingSessions,
  encodeProposal,
  encodeRequest,
  encodeRevalidate,
  encodeRevalidateReply,
  packetName,
  PacketType,
  QuorumPacketDecoder,
  QuorumWireError,
  SNAP_SIGNATURE,
  ZAB_PROTOCOL_VERSION,
  ZXID_NONE_TYPES,
  type QuorumPacket,
} from '../src/proto/quorum.ts';
import type { LoggedTxn } from '../src/proto/txn.ts';
import { makeZxid } from '../src/zxid.ts';

const OPEN_ACL = [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }];

const createTxn: LoggedTxn = {
  hdr: { clientId: 0x300000000005eedn, cxid: 7, zxid: makeZxid(2, 9), time: 1_700_000_000_000, type: OpCode.create },
  body: { type: OpCode.create, path: '/a', data: Buffer.from('x'), acl: OPEN_ACL, ephemeral: true, parentCVersion: 4 },
  digest: { version: 2, treeDigest: -0x123456789abcdefn },
};

/** Split `bytes` at the given cut points (sorted, deduplicated, inside the buffer). */
function cut(bytes: Buffer, points: number[]): Buffer[] {
  const at = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...at, bytes.length]) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  return out;
}

/** Feed chunks, collecting packets; a SNAP's snapshot stream (signature included) is read as it is fed. */
function decodeAll(chunks: Buffer[], max?: number): { packets: QuorumPacket[]; streams: Buffer[]; buffered: number } {
  const d = new QuorumPacketDecoder(max);
  const packets: QuorumPacket[] = [];
  const streams: Buffer[] = [];
  let parts: Buffer[] = [];
  for (const c of chunks) {
    d.push(c);
    for (;;) {
      const stream = d.snapStream;
      if (stream) {
        const fed = d.feedSnapStream();
        for (let b; (b = stream.read() as Buffer | null) !== null; ) parts.push(b);
        if (fed === 'more') break;
        if (fed === 'done') {
          streams.push(Buffer.concat(parts));
          parts = [];
        }
        continue;
      }
      const p = d.next();
      if (p === null) break;
      packets.push(p);
    }
  }
  return { packets, streams, buffered: d.buffered };
}

const arbId = fc.record({ scheme: fc.string(), id: fc.string() });
const arbPacket: fc.Arbitrary<QuorumPacket> = fc
  .record({
    type: fc.integer({ min: 1, max: 19 }).filter((t) => t !== PacketType.SNAP),
    zxid: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    none: fc.boolean(),
    data: fc.option(fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)), { nil: null }),
    authinfo: fc.option(fc.array(arbId, { maxLength: 3 }), { nil: null }),
  })
  .map(({ none, ...p }) => ({ ...p, zxid: none && ZXID_NONE_TYPES.has(p.type) ? -1 : p.zxid }));

/** A snapshot stream as ZooKeeper's serializeSnapshot writes it: one session, one ACL, root + /a, "/". */
function snapStreamBytes(): Buffer {
  const stat = (w: JuteWriter, czxid: number): void => {
    w.long(czxid).long(czxid).long(1000).long(1000).int(0).int(0).int(0).long(0).long(czxid);
  };
  const w = new JuteWriter();
  w.int(1).bigLong(0x300000000005eedn).int(4000);
  w.int(1).long(1).vector(OPEN_ACL, (x, a) => void x.int(a.perms).ustring(a.id.scheme).ustring(a.id.id));
  w.ustring('').buffer(Buffer.alloc(0)).long(-1);
  stat(w, 0);
  w.ustring('/a').buffer(Buffer.from('payload')).long(1);
  stat(w, makeZxid(1, 1));
  w.ustring('/');
  return w.toBuffer();
}

describe('quorum packet data codecs', () => {
  it('round-trip', () => {
    const li = { serverId: 3, protocolVersion: ZAB_PROTOCOL_VERSION, configVersion: makeZxid(1, 5) };
    assert.deepEqual(decodeLearnerInfo(encodeLearnerInfo(li)), li);
    assert.equal(encodeLearnerInfo(li).length, 20);
    assert.deepEqual(decodeLearnerInfo(encodeLearnerInfo({ ...li, configVersion: null })), { ...li, configVersion: null });
    assert.deepEqual(decodeLearnerInfo(new JuteWriter().long(9).toBuffer()), { serverId: 9, protocolVersion: 1, configVersion: null });
    assert.equal(decodeLeaderInfo(encodeLeaderInfo()), 0x10000);
    assert.equal(decodeAckEpoch(encodeAckEpoch(-1)), -1);
    assert.equal(decodeAckEpoch(encodeAckEpoch(7)), 7);
    assert.deepEqual(decodeProposal(encodeProposal(createTxn)), createTxn);
    assert.equal(decodeCommitAndActivate(encodeCommitAndActivate(2)), 2);
    assert.deepEqual(decodeInformAndActivate(encodeInformAndActivate(2, createTxn)), { suggestedLeaderId: 2, txn: createTxn });
    const req = { sessionId: -5n, cxid: 3, type: OpCode.createSession, request: new JuteWriter().int(4000).toBuffer() };
    assert.deepEqual(decodeRequest(encodeRequest(req)), req);
    const touches = [
      { sessionId: 0x100000000000001n, timeout: 4000 },
      { sessionId: -1n, timeout: 0 },
    ];
    assert.deepEqual(decodePingSessions(encodePingSessions(touches)), touches);
    assert.equal(encodePingSessions(touches).length, 24, 'PING reply: 12 bytes per session, no count');
    assert.deepEqual(decodePingSessions(encodePingSessions([])), []);
    assert.deepEqual(decodePingSessions(null), []);
    assert.deepEqual(decodeRevalidate(encodeRevalidate(touches[0]!)), touches[0]);
    assert.deepEqual(decodeRevalidateReply(encodeRevalidateReply({ sessionId: 5n, valid: true })), { sessionId: 5n, valid: true });
    assert.deepEqual(decodeRevalidateReply(encodeRevalidateReply({ sessionId: 5n, valid: false })), { sessionId: 5n, valid: false });
    const cfg = 'server.1=127.0.0.1:2888:3888:participant\nversion=100000000';
    assert.equal(decodeNewLeader(encodeNewLeader(cfg)), cfg);
    assert.equal(decodeNewLeader(encodeNewLeader(null)), null);
  });

  it('reject garbage with QuorumWireError', () => {
    const bad: [string, () => unknown, RegExp][] = [
      ['LearnerInfo of 16 bytes', () => decodeLearnerInfo(Buffer.alloc(16)), /16 bytes, expected 8, 12 or 20/],
      ['negative server id', () => decodeLearnerInfo(new JuteWriter().long(-2).int(1).toBuffer()), /server id -2/],
      ['negative config version', () => decodeLearnerInfo(new JuteWriter().long(1).int(1).long(-7).toBuffer()), /negative/],
      ['no data', () => decodeLearnerInfo(null), /no data/],
      ['trailing bytes', () => decodeLeaderInfo(Buffer.alloc(5)), /1 unexpected bytes/],
      ['short', () => decodeAckEpoch(Buffer.alloc(3)), /truncated/],
      ['ACKEPOCH -2', () => decodeAckEpoch(encodeAckEpoch(-2)), /epoch -2/],
      ['PING 13 bytes', () => decodePingSessions(Buffer.alloc(13)), /not a whole number/],
      ['PING negative timeout', () => decodePingSessions(encodePingSessions([{ sessionId: 1n, timeout: -1 }])), /timeout -1/],
      ['REVALIDATE bool 2', () => decodeRevalidateReply(Buffer.from([0, 0, 0, 0, 0, 0, 0, 1, 2])), /boolean byte 2/],
      ['proposal of unknown txn type', () => decodeProposal(new JuteWriter().long(1).int(1).long(1).long(1).int(99).toBuffer()), /unknown txn type 99/],
      ['proposal txn zxid negative', () => decodeProposal(encodeProposal({ ...createTxn, hdr: { ...createTxn.hdr, zxid: -3 } })), /negative/],
      ['bad UTF-8 config', () => decodeNewLeader(Buffer.from([0xc3, 0x28])), /UTF-8/],
      ['REQUEST too short', () => decodeRequest(Buffer.alloc(11)), /truncated/],
    ];
    for (const [what, f, msg] of bad) assert.throws(f, (e: Error) => e instanceof QuorumWireError && msg.test(e.message), what);
  });

  it('fuzz: any bytes decode or fail with QuorumWireError', () => {
    const decoders = [decodeLearnerInfo, decodeLeaderInfo, decodeAckEpoch, decodeProposal, decodeCommitAndActivate, decodeInformAndActivate, decodeRequest, decodePingSessions, decodeRevalidate, decodeRevalidateReply, decodeNewLeader];
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (a) => {
        for (const d of decoders) {
          try {
            d(Buffer.from(a));
          } catch (e) {
            if (!(e instanceof QuorumWireError)) throw e;
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('QuorumPacketDecoder', () => {
  it('yields the packets back to back, however the stream is cut', () => {
    fc.assert(
      fc.property(fc.array(arbPacket, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 12 }), (packets, points) => {
        const bytes = Buffer.concat(packets.map(encodePacket));
        const out = decodeAll(cut(bytes, points));
        assert.deepEqual(out.packets, packets);
        assert.equal(out.buffered, 0);
      }),
      { numRuns: 500 },
    );
  });

  it('one byte at a time, a packet near the size limit comes out whole', () => {
    const big: QuorumPacket = { type: PacketType.PROPOSAL, zxid: makeZxid(1, 1), data: Buffer.alloc(300_000, 7), authinfo: [{ scheme: 'ip', id: '127.0.0.1' }] };
    const bytes = encodePacket(big);
    const chunks = Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
    assert.deepEqual(decodeAll(chunks, bytes.length).packets, [big]);
    assert.throws(() => decodeAll([bytes], bytes.length - 1), /quorum packet of at least \d+ bytes exceeds the limit of \d+ bytes/);
  });

  it('hands out the snapshot stream after SNAP, then decodes packets again', async () => {
    const stream = snapStreamBytes();
    const signature = new JuteWriter().ustring(SNAP_SIGNATURE).toBuffer();
    const snap: QuorumPacket = { type: PacketType.SNAP, zxid: makeZxid(1, 1), data: null, authinfo: null };
    const newLeader: QuorumPacket = { type: PacketType.NEWLEADER, zxid: makeZxid(2, 0), data: encodeNewLeader('version=0'), authinfo: null };
    const bytes = Buffer.concat([encodePacket(snap), stream, signature, encodePacket(newLeader)]);
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 20 }), (points) => {
        const out = decodeAll(cut(bytes, points));
        assert.deepEqual(out.packets, [snap, newLeader]);
        assert.equal(out.streams.length, 1);
        assert.ok(out.streams[0]!.equals(Buffer.concat([stream, signature])));
      }),
      { numRuns: 300 },
    );
    const tree = await readSnapStream(Readable.from([stream, signature]), snap.zxid);
    assert.equal(tree.get('/a')?.data?.toString(), 'payload');
    assert.equal(tree.sessions.get(0x300000000005eedn), 4000);

    const d = new QuorumPacketDecoder();
    d.push(bytes);
    assert.equal(d.next()?.type, PacketType.SNAP);
    assert.throws(() => d.next(), /feed its snapshot stream/);
    const fed = d.snapStream!;
    assert.equal(d.feedSnapStream(), 'done');
    assert.ok((fed.read() as Buffer).equals(Buffer.concat([stream, signature])));
    assert.equal(fed.bytes, stream.length);
    assert.throws(() => d.feedSnapStream(), /no SNAP packet/);
    assert.deepEqual(d.next(), newLeader);
  });

  it('rejects a damaged snapshot stream: wrong signature, negative counts, oversized items', () => {
    const snapThen = (stream: Buffer): (() => unknown) => () => {
      const d = new QuorumPacketDecoder(4096);
      d.push(Buffer.concat([encodePacket({ type: PacketType.SNAP, zxid: 1, data: null, authinfo: null }), stream]));
      d.next();
      return d.feedSnapStream();
    };
    const cases: [Buffer, RegExp][] = [
      [Buffer.concat([snapStreamBytes(), new JuteWriter().ustring('BenWasNotHere').toBuffer()]), /signature "BenWasNotHere", expected "BenWasHere"/],
      [new JuteWriter().int(-4).toBuffer(), /negative session count -4/],
      [new JuteWriter().int(0).int(-1).toBuffer(), /negative ACL table size -1/],
      [new JuteWriter().int(0).int(0).ustring('').int(5000).toBuffer(), /snapshot stream \(node\) of at least 5004 bytes exceeds the limit of 4096 bytes/],
    ];
    for (const [stream, msg] of cases) assert.throws(snapThen(stream), (e: Error) => e instanceof QuorumWireError && msg.test(e.message), msg.source);
  });

  it('rejects garbage packets with clear errors', () => {
    const raw = (f: (w: JuteWriter) => void): Buffer => {
      const w = new JuteWriter();
      f(w);
      return w.toBuffer();
    };
    const cases: [Buffer, RegExp][] = [
      [raw((w) => w.int(20).long(0).int(-1).int(-1)), /unknown quorum packet type 20/],
      [raw((w) => w.int(0).long(0).int(-1).int(-1)), /unknown quorum packet type 0/],
      [raw((w) => w.int(4).long(-2).int(-1).int(-1)), /COMMIT: zxid -2 is negative/],
      [raw((w) => w.int(4).long(-1).int(-1).int(-1)), /COMMIT: zxid -1 is negative/],
      [raw((w) => w.int(1).long(-2).int(-1).int(-1)), /REQUEST: zxid -2 is negative/],
      [raw((w) => w.int(4).bigLong(1n << 53n).int(-1).int(-1)), /epoch ≥ 2\^21/],
      [raw((w) => w.int(2).long(1).int(-5)), /negative length -5 at byte 12/],
      [raw((w) => w.int(2).long(1).int(0).int(-3)), /negative count -3 at byte 16/],
      [raw((w) => w.int(2).long(1).int(0x7fffffff)), /exceeds the limit/],
      [raw((w) => w.int(2).long(1).int(0).int(0x7fffffff)), /count 2147483647 at byte 16 cannot fit/],
    ];
    for (const [bytes, msg] of cases) assert.throws(() => decodeAll([bytes]), (e: Error) => e instanceof QuorumWireError && msg.test(e.message), msg.source);
  });

  it('fuzz: random bytes yield packets, wait for more, or fail with QuorumWireError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.array(fc.nat(), { maxLength: 6 }), (a, points) => {
        try {
          decodeAll(cut(Buffer.from(a), points), 4096);
        } catch (e) {
          if (!(e instanceof QuorumWireError)) throw e;
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('names all 19 packet types', () => {
    assert.equal(Object.keys(PacketType).length, 19);
    for (let t = 1; t <= 19; t++) assert.doesNotMatch(packetName(t), /UNKNOWN/);
    assert.equal(packetName(20), 'UNKNOWN(20)');
  });
});
