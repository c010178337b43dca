// Jute binary archive: the big-endian encoding every ZooKeeper record uses,
// on the wire and on disk. Readers are bounds-checked and throw JuteError on
// truncated or absurd input; they never read past the buffer they were given.

export class JuteError extends Error {
  override name = 'JuteError';
}

/** The record goes on past the end of the bytes given: `missing` more are needed to read on (a stream may still bring them). */
export class JuteTruncated extends JuteError {
  constructor(
    message: string,
    readonly missing: number,
  ) {
    super(message);
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * A long kept exact passes through these 8 bytes: a DataView converts it
 * without the BigInt arithmetic of Buffer's readBigInt64BE and
 * writeBigInt64BE, which makes a BigInt per step (session ids and digests go
 * through here for every txn).
 */
const LONG = new DataView(new ArrayBuffer(8));
const LONG_BYTES = new Uint8Array(LONG.buffer);

export class JuteReader {
  private pos: number;

  constructor(
    private readonly buf: Buffer,
    start = 0,
    private readonly end = buf.length,
    /** upper bound for any length-prefixed field */
    private readonly maxLength = 0x7fffffff,
  ) {
    this.pos = start;
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw new JuteTruncated(`truncated record: need ${n} bytes at offset ${this.pos}, have ${this.end - this.pos}`, this.pos + n - this.end);
  }

  bool(): boolean {
    this.need(1);
    return this.buf[this.pos++] !== 0;
  }

  byte(): number {
    this.need(1);
    return this.buf.readInt8(this.pos++);
  }

  int(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** A long that must fit in a JS number (zxids, times). */
  long(): number {
    this.need(8);
    const hi = this.buf.readInt32BE(this.pos);
    const lo = this.buf.readUInt32BE(this.pos + 4);
    this.pos += 8;
    return hi * 0x100000000 + lo;
  }

  /** A long kept exact (session ids, ephemeral owners). */
  bigLong(): bigint {
    this.need(8);
    for (let i = 0; i < 8; i++) LONG_BYTES[i] = this.buf[this.pos + i]!;
    this.pos += 8;
    return LONG.getBigInt64(0);
  }

  private length(what: string): number {
    const n = this.int();
    if (n < -1) throw new JuteError(`negative ${what} length ${n}`);
    if (n > this.maxLength) throw new JuteError(`${what} length ${n} exceeds limit ${this.maxLength}`);
    return n;
  }

  /** null when the length is -1 */
  buffer(): Buffer | null {
    const n = this.length('buffer');
    if (n === -1) return null;
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  /** null when the length is -1 */
  ustring(): string | null {
    const n = this.length('string');
    if (n === -1) return null;
    this.need(n);
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  /** A string where null is not meaningful: null reads as "". */
  string(): string {
    return this.ustring() ?? '';
  }

  /** Everything not read yet. */
  rest(): Buffer {
    const b = this.buf.subarray(this.pos, this.end);
    this.pos = this.end;
    return b;
  }

  /** null when the count is -1 */
  vector<T>(readItem: (r: JuteReader) => T): T[] | null {
    const n = this.int();
    if (n === -1) return null;
    // ZooKeeper's archive reads any other negative count as an empty vector.
    if (n < 0) return [];
    // Every element takes at least one byte: reject counts that cannot fit.
    if (n > this.remaining) throw new JuteTruncated(`vector count ${n} exceeds remaining ${this.remaining} bytes`, n - this.remaining);
    const out = new Array<T>(n);
    for (let i = 0; i < n; i++) out[i] = readItem(this);
    return out;
  }
}

export class JuteWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(private readonly initial = 256) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  get length(): number {
    return this.pos;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = Math.max(this.buf.length * 2, this.initial, 1);
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  bool(v: boolean): this {
    this.ensure(1);
    this.buf[this.pos++] = v ? 1 : 0;
    return this;
  }

  byte(v: number): this {
    this.ensure(1);
    this.buf.writeInt8(v, this.pos++);
    return this;
  }

  int(v: number): this {
    this.ensure(4);
    this.buf.writeInt32BE(v | 0, this.pos);
    this.pos += 4;
    return this;
  }

  long(v: number): this {
    this.ensure(8);
    const hi = Math.floor(v / 0x100000000);
    this.buf.writeInt32BE(hi | 0, this.pos);
    this.buf.writeUInt32BE(v - hi * 0x100000000, this.pos + 4);
    this.pos += 8;
    return this;
  }

  bigLong(v: bigint): this {
    this.ensure(8);
    LONG.setBigInt64(0, v); // modulo 2^64, as BigInt.asIntN(64, v)
    this.buf.set(LONG_BYTES, this.pos);
    this.pos += 8;
    return this;
  }

  buffer(b: Buffer | null): this {
    if (b === null) return this.int(-1);
    this.int(b.length);
    this.ensure(b.length);
    b.copy(this.buf, this.pos);
    this.pos += b.length;
    return this;
  }

  ustring(s: string | null): this {
    if (s === null) return this.int(-1);
    const n = Buffer.byteLength(s);
    this.int(n);
    this.ensure(n);
    this.buf.write(s, this.pos, 'utf8');
    this.pos += n;
    return this;
  }

  vector<T>(items: readonly T[] | null, writeItem: (w: JuteWriter, item: T) => void): this {
    if (items === null) return this.int(-1);
    this.int(items.length);
    for (const item of items) writeItem(this, item);
    return this;
  }

  raw(b: Buffer): this {
    this.ensure(b.length);
    b.copy(this.buf, this.pos);
    this.pos += b.length;
    return this;
  }

  /** Reserve 4 bytes for a frame length; returns its offset for endFrame(). */
  beginFrame(): number {
    const at = this.pos;
    this.int(0);
    return at;
  }

  endFrame(at: number): this {
    this.buf.writeInt32BE(this.pos - at - 4, at);
    return this;
  }

  /** The bytes written so far, without copying; the writer starts over, on a new buffer of its initial size once it writes again. */
  take(): Buffer {
    const bytes = this.buf.subarray(0, this.pos);
    this.buf = EMPTY;
    this.pos = 0;
    return bytes;
  }

  /** A copy of the bytes written so far. */
  toBuffer(): Buffer {
    return this.pos === 0 ? EMPTY : Buffer.from(this.buf.subarray(0, this.pos));
  }
}
