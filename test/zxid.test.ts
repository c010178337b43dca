// The zxid helper: epoch/counter arithmetic at the edges, ZooKeeper's hex
// spelling, the checked decode of jute longs, and the rollover guard.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { JuteReader, JuteWriter } from '../src/jute/archive.ts';
import { checkedZxid, counterNearlyExhausted, counterOf, epochOf, makeZxid, MAX_COUNTER, MAX_EPOCH, zxidFollows, zxidHex, ZxidError } from '../src/zxid.ts';

describe('zxid', () => {
  it('splits into epoch and counter and back, exactly, over the whole representable range', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_EPOCH }), fc.integer({ min: 0, max: MAX_COUNTER }), (e, c) => {
        const z = makeZxid(e, c);
        assert.equal(epochOf(z), e);
        assert.equal(counterOf(z), c);
        // the jute long on the wire is the same 64-bit value
        const bytes = new JuteWriter(8).long(z).toBuffer();
        assert.equal(bytes.readBigInt64BE(0), (BigInt(e) << 32n) | BigInt(c));
        assert.equal(checkedZxid(new JuteReader(bytes).long(), 'zxid'), z);
      }),
    );
    assert.equal(makeZxid(1, 1), 0x100000001);
    assert.equal(makeZxid(MAX_EPOCH, MAX_COUNTER), Number.MAX_SAFE_INTEGER);
  });

  it('refuses epochs and counters out of range', () => {
    assert.throws(() => makeZxid(MAX_EPOCH + 1, 0), ZxidError);
    assert.throws(() => makeZxid(-1, 0), ZxidError);
    assert.throws(() => makeZxid(0, MAX_COUNTER + 1), ZxidError);
    assert.throws(() => makeZxid(0, 1.5), ZxidError);
  });

  it('prints as ZooKeeper does', () => {
    assert.equal(zxidHex(0), '0x0');
    assert.equal(zxidHex(0x100000001), '0x100000001');
    assert.equal(zxidHex(-1), '0xffffffffffffffff');
  });

  it('checks decoded longs: -1 only where it is a sentinel, nothing negative, nothing ≥ 2^53', () => {
    const decode = (v: bigint): number => new JuteReader(new JuteWriter(8).bigLong(v).toBuffer()).long();
    assert.equal(checkedZxid(decode(-1n), 'UPTODATE', true), -1);
    assert.throws(() => checkedZxid(decode(-1n), 'COMMIT'), /COMMIT: zxid -1 is negative/);
    assert.throws(() => checkedZxid(decode(-5n), 'x', true), /negative/);
    assert.throws(() => checkedZxid(decode(1n << 53n), 'PROPOSAL'), /PROPOSAL: zxid 0x200000xxxxxxxx has epoch ≥ 2\^21/);
    assert.throws(() => checkedZxid(decode(0x7fffffffffffffffn), 'x'), ZxidError);
    assert.equal(checkedZxid(decode((1n << 53n) - 1n), 'x'), Number.MAX_SAFE_INTEGER);
  });

  it('follows: next counter, or counter 1 of a later epoch', () => {
    assert.ok(zxidFollows(0x100000005, 0x100000006));
    assert.ok(zxidFollows(0x100000005, 0x300000001));
    assert.ok(!zxidFollows(0x100000005, 0x300000002));
    assert.ok(!zxidFollows(0x100000005, 0x100000007));
    assert.ok(zxidFollows(0, 0x100000001));
  });

  it('flags the counter ZooKeeper refuses to propose (0xffffffff) and nothing before it', () => {
    assert.ok(counterNearlyExhausted(makeZxid(3, MAX_COUNTER)));
    assert.ok(!counterNearlyExhausted(makeZxid(3, MAX_COUNTER - 1)));
    assert.ok(!counterNearlyExhausted(makeZxid(4, 0)));
  });
});
