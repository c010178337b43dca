// Adler-32, the checksum of ZooKeeper's log entries and snapshot files.

/**
 * Adler-32 (java.util.zip.Adler32) of buf[start, end), continuing from `adler`
 * (1 for a fresh checksum). Returns an unsigned 32-bit value.
 */
export function adler32(buf: Uint8Array, start = 0, end = buf.length, adler = 1): number {
  let a = adler & 0xffff;
  let b = adler >>> 16;
  let i = start;
  while (i < end) {
    // 3800 bytes keep b below 2^31, so the loop stays in int32 arithmetic
    const stop = Math.min(end, i + 3800);
    const stop8 = stop - 7;
    while (i < stop8) {
      a += buf[i]!;
      b += a;
      a += buf[i + 1]!;
      b += a;
      a += buf[i + 2]!;
      b += a;
      a += buf[i + 3]!;
      b += a;
      a += buf[i + 4]!;
      b += a;
      a += buf[i + 5]!;
      b += a;
      a += buf[i + 6]!;
      b += a;
      a += buf[i + 7]!;
      b += a;
      i += 8;
    }
    while (i < stop) {
      a += buf[i++]!;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}
