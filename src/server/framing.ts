// Splitting a client's byte stream into frames (int32 length, then that many
// bytes), in linear time however the bytes arrive (ZooKeeper's NIOServerCnxn
// reads the length, then fills a buffer of that size).
//
// Invariants: the unread bytes are always one contiguous range buf[start, end).
// Frames that lie inside one socket chunk come back as views of that chunk,
// uncopied. A frame split across chunks is gathered into a buffer of our own
// that at least doubles when it grows and never grows past the frame's length
// once the length is known, so each byte is copied a bounded number of times
// and a slow drip costs no more than one fast write. Bytes once handed out are
// never written again (a full buffer is replaced, not reused): a frame stays
// valid for as long as its holder keeps it.

const EMPTY = Buffer.alloc(0);
/** Smallest gathering buffer: room for a typical request without regrowing. */
const MIN_GATHER = 4096;

export class FrameReader {
  private buf: Buffer = EMPTY;
  private start = 0;
  private end = 0;
  /** buf is ours (gathering) rather than the caller's chunk */
  private owned = false;

  /** Bytes received and not yet taken. */
  get buffered(): number {
    return this.end - this.start;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.buffered === 0) {
      this.buf = chunk;
      this.start = 0;
      this.end = chunk.length;
      this.owned = false;
      return;
    }
    if (!this.owned || this.end + chunk.length > this.buf.length) this.regather(this.buffered + chunk.length);
    chunk.copy(this.buf, this.end);
    this.end += chunk.length;
  }

  /** Move the unread bytes into a new buffer of our own with room for `need` bytes. */
  private regather(need: number): void {
    let capacity = Math.max(need, 2 * this.buffered, MIN_GATHER);
    const frame = this.frameSize();
    if (frame !== null && frame >= need) capacity = Math.min(capacity, frame);
    const next = Buffer.allocUnsafe(capacity);
    this.buf.copy(next, 0, this.start, this.end);
    this.end -= this.start;
    this.start = 0;
    this.buf = next;
    this.owned = true;
  }

  /** Length prefix plus body of the next frame, once its prefix is here and plausible. */
  private frameSize(): number | null {
    const len = this.length();
    return len === null || len < 0 ? null : 4 + len;
  }

  /** The next four bytes, not consumed (a four-letter word or a length prefix), or null. */
  head(): Buffer | null {
    return this.buffered >= 4 ? this.buf.subarray(this.start, this.start + 4) : null;
  }

  /** The next frame's length prefix, or null while fewer than four bytes are here. */
  length(): number | null {
    return this.peekInt(0);
  }

  /** The int at `offset` bytes into the unread input (e.g. 8: a request's type), or null while it has not arrived. */
  peekInt(offset: number): number | null {
    return this.buffered >= offset + 4 ? this.buf.readInt32BE(this.start + offset) : null;
  }

  /** The next frame's body (its prefix already checked by the caller), or null while it is incomplete. */
  take(): Buffer | null {
    const len = this.length();
    if (len === null || this.buffered < 4 + len) return null;
    const frame = this.buf.subarray(this.start + 4, this.start + 4 + len);
    this.start += 4 + len;
    if (this.buffered === 0) this.release();
    return frame;
  }

  /** Forget everything buffered. */
  release(): void {
    this.buf = EMPTY;
    this.start = this.end = 0;
    this.owned = false;
  }
}
