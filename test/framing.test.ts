// FrameReader (src/server/framing.ts): however the bytes of a stream of frames
// are cut into chunks, the same frames come out, in order; a frame once handed
// out never changes; a frame fed one byte at a time is gathered with a bounded
// number of buffer allocations (geometric growth, not one per byte).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { FrameReader } from '../src/server/framing.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20240611);

function framed(bodies: Buffer[]): Buffer {
  return Buffer.concat(
    bodies.flatMap((b) => {
      const len = Buffer.alloc(4);
      len.writeInt32BE(b.length);
      return [len, b];
    }),
  );
}

/** Feed `stream` in pieces of the given sizes (cycled), taking frames as they complete; copies of what came out, and the frames themselves. */
function feed(stream: Buffer, sizes: number[]): { copies: Buffer[]; frames: Buffer[] } {
  const reader = new FrameReader();
  const copies: Buffer[] = [];
  const frames: Buffer[] = [];
  for (let at = 0, i = 0; at < stream.length; i++) {
    const n = sizes[i % sizes.length]!;
    reader.push(stream.subarray(at, at + n));
    at += n;
    for (let f = reader.take(); f; f = reader.take()) {
      frames.push(f);
      copies.push(Buffer.from(f));
    }
  }
  assert.equal(reader.buffered, 0);
  return { copies, frames };
}

describe('FrameReader', () => {
  test('any chunking yields the same frames, and frames handed out never change', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)), { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 10 }),
        (bodies, sizes) => {
          const { copies, frames } = feed(framed(bodies), sizes);
          assert.deepEqual(copies, bodies);
          assert.deepEqual(frames, bodies, 'a frame changed after it was handed out');
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
  });

  test('a 1 MB frame dripped one byte at a time: few allocations, and the frame intact', () => {
    const body = Buffer.alloc(1_000_000);
    for (let i = 0; i < body.length; i++) body[i] = i * 7;
    const stream = framed([body]);
    const reader = new FrameReader();
    let buffers = 0;
    let last: ArrayBufferLike | null = null;
    let got: Buffer | null = null;
    for (let i = 0; i < stream.length; i++) {
      reader.push(stream.subarray(i, i + 1));
      got = reader.take();
      const head = reader.head();
      if (head && head.buffer !== last) {
        buffers++;
        last = head.buffer;
      }
    }
    assert.ok(got?.equals(body));
    // doubling from 4 KiB to 1 MB is 9 allocations; one per byte would be a million
    assert.ok(buffers <= 12, `${buffers} gathering buffers for one frame`);
  });

  test('length() and head() see the prefix before the body is complete', () => {
    const reader = new FrameReader();
    reader.push(Buffer.from([0, 0, 0]));
    assert.equal(reader.length(), null);
    reader.push(Buffer.from([5, 1, 2]));
    assert.equal(reader.length(), 5);
    assert.deepEqual(reader.head(), Buffer.from([0, 0, 0, 5]));
    assert.equal(reader.take(), null);
    reader.push(Buffer.from([3, 4, 5, 0]));
    assert.deepEqual(reader.take(), Buffer.from([1, 2, 3, 4, 5]));
    assert.equal(reader.buffered, 1);
  });
});
