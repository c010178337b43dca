// Length-prefixed framing of the client protocol: every message, both ways, is
// `int32 len` + payload. TCP delivers arbitrary slices of that stream, so the
// decoder accepts chunks of any size (one byte, or many frames coalesced) and
// hands back whole payloads in order.

import { JuteError } from '../jute/archive.ts';

export class FrameDecoder {
  private chunks: Buffer[] = [];
  private total = 0;
  /** payload length of the frame being assembled, -1 while its header is incomplete */
  private need = -1;

  constructor(private readonly maxFrame: number) {}

  /** Feed one chunk; returns the payloads it completed. Throws JuteError on an impossible length. */
  push(chunk: Buffer): Buffer[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.total += chunk.length;
    }
    const frames: Buffer[] = [];
    for (;;) {
      if (this.need === -1) {
        if (this.total < 4) break;
        const len = this.take(4).readInt32BE(0);
        if (len < 0 || len > this.maxFrame) throw new JuteError(`frame length ${len} out of range (max ${this.maxFrame})`);
        this.need = len;
      }
      if (this.total < this.need) break;
      frames.push(this.take(this.need));
      this.need = -1;
    }
    return frames;
  }

  /** bytes received but not yet part of a returned frame */
  get buffered(): number {
    return this.total + (this.need === -1 ? 0 : 4);
  }

  private take(n: number): Buffer {
    const first = this.chunks[0];
    if (n === 0) return Buffer.alloc(0);
    if (first.length >= n) {
      // Copy, so a retained frame never pins a large socket chunk.
      const out = Buffer.from(first.subarray(0, n));
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.total -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0];
      const k = Math.min(c.length, n - filled);
      c.copy(out, filled, 0, k);
      filled += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.total -= n;
    return out;
  }
}
