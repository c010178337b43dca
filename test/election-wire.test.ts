// The election port's codecs (src/proto/election.ts): golden layouts written by hand from
// ZooKeeper's format, round trips and bad input by example, and fast-check fuzzing (random and
// mutated bytes only ever produce a value or an ElectionWireError). The bytes real ZooKeeper
// peers send are decoded in test/election-interop.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodeConnectHeader,
  decodeNotification,
  ElectionWireError,
  encodeConnectHeader,
  encodeNotification,
  frame,
  FrameReader,
  MAX_MESSAGE_BYTES,
  PROTOCOL_V1,
  PROTOCOL_V2,
} from '../src/proto/election.ts';
import { NO_VOTE, PeerState, type Notification } from '../src/zab/election.ts';

const seed = Number(process.env.FUZZ_SEED ?? 20261205);

function longs(...values: (number | bigint)[]): Buffer {
  const b = Buffer.alloc(values.length * 8);
  values.forEach((v, i) => b.writeBigInt64BE(BigInt(v), i * 8));
  return b;
}
const int = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v);
  return b;
};

const wireError = (f: () => unknown, pattern: RegExp) => assert.throws(f, (e: Error) => e instanceof ElectionWireError && pattern.test(e.message));

test('a notification has ZooKeeper 3.8 layout: state, leader, zxid, round, peer epoch, version 2, config', () => {
  const config = 'server.1=127.0.0.1:2888:3888:participant\nversion=0';
  const bytes = encodeNotification({ state: PeerState.following, vote: { leader: 3, zxid: 0x100000007, peerEpoch: 1 }, round: 9, version: 2, config });
  const expected = Buffer.concat([int(1), longs(3, 0x100000007, 9, 1), int(2), int(config.length), Buffer.from(config)]);
  assert.deepEqual(bytes, expected);
  assert.deepEqual(decodeNotification(bytes, 7), { from: 7, state: PeerState.following, vote: { leader: 3, zxid: 0x100000007, peerEpoch: 1 }, round: 9, version: 2, config });
});

test('the old 28- and 40-byte notifications and format version 1 are understood', () => {
  // 28 bytes: no peer epoch; it is the zxid's epoch.
  const old28 = Buffer.concat([int(0), longs(2, 0x500000003n, 4)]);
  assert.deepEqual(decodeNotification(old28, 1), { from: 1, state: PeerState.looking, vote: { leader: 2, zxid: 0x500000003, peerEpoch: 5 }, round: 4, version: 0 });
  const old40 = Buffer.concat([int(2), longs(2, 0x500000003n, 4, 6), int(0)]);
  assert.deepEqual(decodeNotification(old40, 1).vote.peerEpoch, 6);
  assert.equal(decodeNotification(old40, 1).version, 0);
  // 3.4 peers send 40 bytes ending in version 1, which ZooKeeper 3.8 does not read either.
  const v1 = Buffer.concat([int(2), longs(2, 3, 4, 6), int(1)]);
  assert.deepEqual(decodeNotification(v1, 1), { from: 1, state: PeerState.leading, vote: { leader: 2, zxid: 3, peerEpoch: 6 }, round: 4, version: 0 });
  // Longer messages of format version 1 carry no config.
  const v1long = Buffer.concat([v1, int(0)]);
  assert.deepEqual(decodeNotification(v1long, 1).version, 1);
  assert.equal(decodeNotification(v1long, 1).config, undefined);
  // An observer's non-vote is Long.MIN_VALUE in every field.
  const observer = Buffer.concat([int(0), longs(-(2n ** 63n), -(2n ** 63n), 1, -(2n ** 63n)), int(2), int(0)]);
  assert.deepEqual(decodeNotification(observer, 4).vote, { leader: NO_VOTE, zxid: NO_VOTE, peerEpoch: NO_VOTE });
  assert.deepEqual(encodeNotification(decodeNotification(observer, 4)), observer);
});

test('bad notifications get a clear error', () => {
  const good = encodeNotification({ state: 0, vote: { leader: 1, zxid: 2, peerEpoch: 3 }, round: 4, version: 2, config: 'abc' });
  wireError(() => decodeNotification(Buffer.alloc(0), 1), /shorter than 28/);
  wireError(() => decodeNotification(good.subarray(0, 27), 1), /shorter than 28/);
  for (const len of [29, 36, 39]) wireError(() => decodeNotification(good.subarray(0, len), 1), /neither 28 nor at least 40/);
  wireError(() => decodeNotification(good.subarray(0, 42), 1), /no config length/);
  const badState = Buffer.from(good);
  badState.writeInt32BE(4, 0);
  wireError(() => decodeNotification(badState, 1), /unknown peer state 4/);
  const longConfig = Buffer.from(good);
  longConfig.writeInt32BE(4, 40);
  wireError(() => decodeNotification(longConfig, 1), /config length 4 does not fit/);
  const negConfig = Buffer.from(good);
  negConfig.writeInt32BE(-1, 40);
  wireError(() => decodeNotification(negConfig, 1), /config length -1/);
  const hugeZxid = Buffer.from(good);
  hugeZxid.writeBigInt64BE(2n ** 62n, 12);
  wireError(() => decodeNotification(hugeZxid, 1), /zxid 4611686018427387904 is out of range/);
  wireError(() => encodeNotification({ state: 0, vote: { leader: 1.5, zxid: 0, peerEpoch: 0 }, round: 1, version: 2 }), /leader 1.5/);
});

test('connection headers: V1 and V2 with addresses, pre-3.5 bare sid, observer without id', () => {
  const v1 = encodeConnectHeader(3, [{ host: '127.0.0.1', port: 3888 }]);
  const addr = Buffer.from('127.0.0.1:3888');
  assert.deepEqual(v1, Buffer.concat([longs(PROTOCOL_V1, 3), int(addr.length), addr]));
  assert.deepEqual(decodeConnectHeader(v1), { header: { protocolVersion: PROTOCOL_V1, sid: 3, addresses: [{ host: '127.0.0.1', port: 3888 }] }, length: v1.length });
  const v2 = encodeConnectHeader(5, [{ host: '::1', port: 1 }, { host: 'zk5.example', port: 65535 }]);
  assert.equal(v2.subarray(20).toString(), '[::1]:1|zk5.example:65535');
  assert.deepEqual(decodeConnectHeader(v2)?.header, { protocolVersion: PROTOCOL_V2, sid: 5, addresses: [{ host: '::1', port: 1 }, { host: 'zk5.example', port: 65535 }] });
  // Messages may follow the header at once: only the header's bytes are claimed.
  assert.equal(decodeConnectHeader(Buffer.concat([v1, frame(Buffer.from('x'))]))?.length, v1.length);
  assert.deepEqual(decodeConnectHeader(longs(7)), { header: { protocolVersion: null, sid: 7, addresses: [] }, length: 8 });
  assert.equal(decodeConnectHeader(longs(2n ** 63n - 1n))?.header.sid, null);
  const anonymous = Buffer.concat([longs(PROTOCOL_V1, 2n ** 63n - 1n), int(addr.length), addr]);
  assert.equal(decodeConnectHeader(anonymous)?.header.sid, null);
  // Every strict prefix asks for more bytes.
  for (const h of [v1, v2]) for (let i = 0; i < h.length; i++) assert.equal(decodeConnectHeader(h.subarray(0, i)), null, `prefix ${i}`);
});

test('bad connection headers get a clear error', () => {
  const withText = (version: number, text: string, len = Buffer.byteLength(text)) => Buffer.concat([longs(version, 1), int(len), Buffer.from(text)]);
  wireError(() => decodeConnectHeader(withText(-65534, 'a:1')), /unknown election protocol version -65534/);
  wireError(() => decodeConnectHeader(withText(PROTOCOL_V1, '', 0)), /unreasonable address length 0/);
  wireError(() => decodeConnectHeader(withText(PROTOCOL_V1, 'x', 2049)), /unreasonable address length 2049/);
  wireError(() => decodeConnectHeader(withText(PROTOCOL_V1, 'x', -5)), /unreasonable address length -5/);
  for (const text of ['nohost', 'h:', ':1', 'h:65536', 'h:1:2', 'h:x', '[::1:5']) {
    wireError(() => decodeConnectHeader(withText(PROTOCOL_V2, text)), /badly formed address/);
  }
  wireError(() => decodeConnectHeader(withText(PROTOCOL_V1, 'a:1|b:2')), /several addresses need protocol version 2/);
  wireError(() => decodeConnectHeader(Buffer.concat([longs(PROTOCOL_V1, -3), int(3), Buffer.from('a:1')])), /negative sid/);
  wireError(() => encodeConnectHeader(1, [{ host: 'h'.repeat(2050), port: 1 }]), /exceeds 2048/);
});

test('frames: int length then payload, 1..524288 bytes, split across chunks at any point', () => {
  const payloads = [Buffer.from('a'), Buffer.alloc(1000, 7), Buffer.alloc(MAX_MESSAGE_BYTES, 1)];
  const stream = Buffer.concat(payloads.map(frame));
  for (const cut of [1, 3, 4, 5, 1004, 1010, stream.length - 1]) {
    const r = new FrameReader();
    const got = [...r.push(stream.subarray(0, cut)), ...r.push(stream.subarray(cut))];
    assert.deepEqual(got, payloads, `cut at ${cut}`);
  }
  wireError(() => new FrameReader().push(int(0)), /message length 0 is out of range/);
  wireError(() => new FrameReader().push(int(MAX_MESSAGE_BYTES + 1)), /message length 524289/);
  wireError(() => new FrameReader().push(int(-1)), /message length -1/);
  wireError(() => frame(Buffer.alloc(0)), /out of range/);
});

const longValue = fc.oneof(fc.maxSafeInteger(), fc.integer({ min: -1, max: 10 }), fc.constant(NO_VOTE));
const notification: fc.Arbitrary<Notification> = fc.record({
  from: fc.nat(),
  state: fc.constantFrom(PeerState.looking, PeerState.following, PeerState.leading, PeerState.observing),
  vote: fc.record({ leader: longValue, zxid: longValue, peerEpoch: longValue }),
  round: longValue,
  version: fc.constant(2),
  config: fc.string({ unit: 'binary', maxLength: 300 }),
});

test('fuzz: notifications and headers round-trip', () => {
  fc.assert(
    fc.property(notification, (n) => {
      assert.deepEqual(decodeNotification(encodeNotification(n), n.from), n);
    }),
    { seed, numRuns: 2000 },
  );
  const host = fc.oneof(fc.domain(), fc.ipV4(), fc.ipV6());
  fc.assert(
    fc.property(fc.maxSafeInteger().filter((s) => s >= 0), fc.array(fc.record({ host, port: fc.integer({ min: 0, max: 65535 }) }), { minLength: 1, maxLength: 3 }), (sid, addresses) => {
      const bytes = encodeConnectHeader(sid, addresses);
      assert.deepEqual(decodeConnectHeader(bytes), { header: { protocolVersion: addresses.length > 1 ? PROTOCOL_V2 : PROTOCOL_V1, sid, addresses }, length: bytes.length });
    }),
    { seed, numRuns: 1000 },
  );
});

test('fuzz: random and mutated bytes give a value or an ElectionWireError, never anything else', () => {
  const onlyWireErrors = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      if (!(e instanceof ElectionWireError)) throw e;
    }
  };
  const mutated = fc.tuple(notification, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.nat()).map(([n, flips, cut]) => {
    const b = Buffer.from(encodeNotification(n));
    for (const [at, v] of flips) b[at % b.length] = v;
    return b.subarray(0, cut % (b.length + 1));
  });
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 120 }).map((a) => Buffer.from(a)), mutated), (bytes) => {
      onlyWireErrors(() => decodeNotification(bytes, 1));
      onlyWireErrors(() => decodeConnectHeader(bytes));
      onlyWireErrors(() => new FrameReader().push(bytes));
    }),
    { seed, numRuns: 5000 },
  );
  const header = fc.tuple(fc.constantFrom(PROTOCOL_V1, PROTOCOL_V2, 5, -1), fc.integer({ min: -3, max: 3000 }), fc.uint8Array({ maxLength: 100 }));
  fc.assert(
    fc.property(header, ([version, len, text]) => {
      onlyWireErrors(() => decodeConnectHeader(Buffer.concat([longs(version, 2), int(len), Buffer.from(text)])));
    }),
    { seed, numRuns: 3000 },
  );
});
