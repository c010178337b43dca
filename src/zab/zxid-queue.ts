// The in-flight txns of a peer (History.pending) and the leader's open
// proposals, keyed by strictly increasing zxid: appended at the back, taken
// from the front, cut from the back by a TRUNC. A ring buffer that clears the
// slot it gives up, not a Map: a Map with an entry per txn kept every txn alive
// into the old generation once its table got there (see src/churn.ts).
//
// Invariants (asserted): zxids strictly increase from front to back; a slot
// outside [head, head + size) holds no value.

import { zxidHex } from '../zxid.ts';

export class ZxidQueue<T> {
  /** zxids in a typed array: no pointers for the scavenger to follow */
  private zxids: Float64Array;
  private values: (T | undefined)[];
  private head = 0;
  private count = 0;

  constructor(capacity = 64) {
    if (!(capacity > 0 && (capacity & (capacity - 1)) === 0)) throw new RangeError(`zxid queue capacity ${capacity} is not a power of two`);
    this.zxids = new Float64Array(capacity);
    this.values = new Array<T | undefined>(capacity).fill(undefined);
  }

  get size(): number {
    return this.count;
  }

  private slot(i: number): number {
    return (this.head + i) & (this.values.length - 1);
  }

  /** The zxid at the front; the queue must not be empty. */
  firstZxid(): number {
    if (this.count === 0) throw new Error('zab: zxid queue is empty');
    return this.zxids[this.head]!;
  }

  /** The value at the front; the queue must not be empty. */
  first(): T {
    if (this.count === 0) throw new Error('zab: zxid queue is empty');
    return this.values[this.head]!;
  }

  push(zxid: number, value: T): void {
    if (this.count > 0 && !(zxid > this.zxids[this.slot(this.count - 1)]!)) {
      throw new Error(`zab: zxid ${zxidHex(zxid)} does not follow ${zxidHex(this.zxids[this.slot(this.count - 1)]!)}`);
    }
    if (this.count === this.values.length) this.grow();
    const i = this.slot(this.count);
    this.zxids[i] = zxid;
    this.values[i] = value;
    this.count++;
  }

  /** Remove the front entry and return its value; the queue must not be empty. */
  shift(): T {
    const value = this.first();
    this.values[this.head] = undefined;
    this.head = this.slot(1);
    this.count--;
    return value;
  }

  /** The value queued under `zxid`, if any (binary search). */
  get(zxid: number): T | undefined {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.zxids[this.slot(mid)]! < zxid) lo = mid + 1;
      else hi = mid;
    }
    return lo < this.count && this.zxids[this.slot(lo)] === zxid ? this.values[this.slot(lo)] : undefined;
  }

  /** Drop every entry whose zxid is greater than `zxid`. */
  dropAfter(zxid: number): void {
    while (this.count > 0 && this.zxids[this.slot(this.count - 1)]! > zxid) {
      this.values[this.slot(this.count - 1)] = undefined;
      this.count--;
    }
  }

  clear(): void {
    this.dropAfter(-Infinity);
    this.head = 0;
  }

  *[Symbol.iterator](): IterableIterator<[number, T]> {
    for (let i = 0; i < this.count; i++) yield [this.zxids[this.slot(i)]!, this.values[this.slot(i)]!];
  }

  private grow(): void {
    const n = this.values.length * 2;
    const zxids = new Float64Array(n);
    const values = new Array<T | undefined>(n).fill(undefined);
    for (let i = 0; i < this.count; i++) {
      zxids[i] = this.zxids[this.slot(i)]!;
      values[i] = this.values[this.slot(i)];
    }
    this.zxids = zxids;
    this.values = values;
    this.head = 0;
  }
}
