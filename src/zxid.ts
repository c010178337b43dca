// Zxids: ZooKeeper's 64-bit transaction ids, epoch in the high 32 bits and a
// counter in the low 32 (ZooKeeper's ZxidUtils). Paddock keeps them as JS
// numbers, which are exact up to 2^53, so epochs up to 2^21 - 1 are
// representable; checkedZxid() rejects anything beyond with a clear error
// rather than rounding it silently.
//
// Invariants: a zxid is a non-negative safe integer; counter 0 of an epoch is
// the epoch's start (what NEWLEADER and LEADERINFO carry), its first txn has
// counter 1; a leader never proposes counter 0xffffffff (ZooKeeper's
// Leader.propose throws XidRolloverException and steps down there, ZOOKEEPER-1277),
// so a new epoch begins before the counter could overflow into the epoch bits.
//
// Exports: makeZxid, epochOf, counterOf, zxidHex, checkedZxid, zxidFollows,
// counterNearlyExhausted, MAX_EPOCH, MAX_COUNTER, ZxidError.

const TWO32 = 0x100000000;

/** The largest counter; a leader steps down rather than propose a txn with it. */
export const MAX_COUNTER = 0xffffffff;
/** The largest epoch whose zxids stay below 2^53. */
export const MAX_EPOCH = 2 ** 21 - 1;

export class ZxidError extends Error {
  override name = 'ZxidError';
}

export function makeZxid(epoch: number, counter: number): number {
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > MAX_EPOCH) throw new ZxidError(`epoch ${epoch} is not an integer in 0..${MAX_EPOCH}`);
  if (!Number.isInteger(counter) || counter < 0 || counter > MAX_COUNTER) throw new ZxidError(`counter ${counter} is not an integer in 0..0x${MAX_COUNTER.toString(16)}`);
  return epoch * TWO32 + counter;
}

export const epochOf = (zxid: number): number => Math.floor(zxid / TWO32);

export const counterOf = (zxid: number): number => zxid - epochOf(zxid) * TWO32;

/** ZooKeeper's spelling: 0x followed by lowercase hex without padding (Long.toHexString); -1 prints as 0xffffffffffffffff. */
export function zxidHex(zxid: number): string {
  return `0x${(zxid < 0 ? BigInt.asUintN(64, BigInt(zxid)) : zxid).toString(16)}`;
}

/**
 * A zxid as decoded from a jute long (JuteReader.long()), checked: negative
 * values are garbage unless `allowMinusOne` (protocol fields where -1 means
 * "none", e.g. REQUEST and UPTODATE packets), and values of 2^53 or more
 * (epoch ≥ 2^21) cannot be held exactly. `what` names the field in the error.
 */
export function checkedZxid(value: number, what: string, allowMinusOne = false): number {
  if (value === -1 && allowMinusOne) return value;
  if (value < 0) throw new ZxidError(`${what}: zxid ${value} is negative`);
  if (!Number.isSafeInteger(value)) throw new ZxidError(`${what}: zxid 0x${Math.floor(value / TWO32).toString(16)}xxxxxxxx has epoch ≥ 2^21, which Paddock cannot represent exactly`);
  return value;
}

/** The gap rule: `zxid` may follow `prev` when it is prev + 1 or the first txn (counter 1) of a newer epoch. */
export function zxidFollows(prev: number, zxid: number): boolean {
  return zxid === prev + 1 || (epochOf(zxid) > epochOf(prev) && counterOf(zxid) === 1);
}

/**
 * True when `zxid` is one a leader must not propose: its counter is
 * 0xffffffff. ZooKeeper's leader then shuts down ("zxid lower 32 bits have
 * rolled over, forcing re-election") so that a new epoch starts over at counter 1.
 */
export const counterNearlyExhausted = (zxid: number): boolean => counterOf(zxid) >= MAX_COUNTER;
