// The few parts of POSIX ustar (tar) a backup needs: regular files with
// relative names, written as a stream and read back as one. A backup travels
// as a tar so that `curl …/commands/backup | tar -x` works without Paddock.
//
// Layout: per file a 512-byte header (name, mode, size and mtime in octal,
// the checksum of the header's bytes, type '0', magic "ustar\0" "00"), the
// file's bytes padded with zeros to a multiple of 512; two zero blocks end
// the archive. Invariant of the reader: it yields only regular files whose
// header checksum is right and whose name is relative without "..", and it
// fails on an archive cut short.

import type { Readable } from 'node:stream';

const BLOCK = 512;
const NAME_BYTES = 100;
/** the largest size 11 octal digits hold */
const MAX_SIZE = 8 ** 11 - 1;

export class TarError extends Error {
  override name = 'TarError';
}

const padding = (size: number): Buffer => Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);

function octal(header: Buffer, at: number, width: number, value: number): void {
  header.write(`${value.toString(8).padStart(width - 1, '0')}\0`, at, 'ascii');
}

function checksum(header: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
  return sum;
}

/** The header block of a regular file `name` of `size` bytes. */
export function fileHeader(name: string, size: number, mtime = new Date()): Buffer {
  if (Buffer.byteLength(name) >= NAME_BYTES) throw new TarError(`file name too long for tar: ${name}`);
  if (size > MAX_SIZE) throw new TarError(`${name}: ${size} bytes is more than a tar entry holds`);
  const header = Buffer.alloc(BLOCK);
  header.write(name, 0, 'utf8');
  octal(header, 100, 8, 0o644);
  octal(header, 108, 8, 0);
  octal(header, 116, 8, 0);
  octal(header, 124, 12, size);
  octal(header, 136, 12, Math.floor(mtime.getTime() / 1000));
  header.write('0', 156, 'ascii');
  header.write('ustar\0' + '00', 257, 'binary');
  header.write(`${checksum(header).toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return header;
}

/** One file's part of an archive: header, bytes, padding. */
export async function* tarEntry(name: string, size: number, bytes: AsyncIterable<Buffer> | Iterable<Buffer>): AsyncGenerator<Buffer> {
  yield fileHeader(name, size);
  let sent = 0;
  for await (const chunk of bytes) {
    sent += chunk.length;
    yield chunk;
  }
  if (sent !== size) throw new TarError(`${name} changed while it was archived: ${sent} bytes instead of ${size}`);
  yield padding(size);
}

/** The end of an archive. */
export const tarEnd = (): Buffer => Buffer.alloc(2 * BLOCK);

export interface TarFile {
  name: string;
  data: Buffer;
}

/** A byte source read exactly: `take(n)` resolves with the next n bytes, or null at a clean end. */
function exactReader(input: Readable): (n: number) => Promise<Buffer | null> {
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const held: Buffer[] = [];
  let heldBytes = 0;
  return async (n) => {
    while (heldBytes < n) {
      const next = await it.next();
      if (next.done) {
        if (heldBytes === 0) return null;
        throw new TarError(`the archive ends inside a block (${heldBytes} of ${n} bytes)`);
      }
      held.push(next.value);
      heldBytes += next.value.length;
    }
    const all = held.length === 1 ? held[0]! : Buffer.concat(held);
    held.length = 0;
    if (all.length > n) held.push(all.subarray(n));
    heldBytes = all.length - n;
    return all.subarray(0, n);
  };
}

/** The regular files of an archive, in order, each whole. */
export async function* readTar(input: Readable): AsyncGenerator<TarFile> {
  const take = exactReader(input);
  for (;;) {
    const header = await take(BLOCK);
    if (header === null) throw new TarError('the archive ends without its end blocks (cut short?)');
    if (header.every((b) => b === 0)) return;
    const field = (at: number, width: number) => header.toString('ascii', at, at + width).replace(/[\0 ]+$/, '').trim();
    if (parseInt(field(148, 8), 8) !== checksum(header)) throw new TarError('a tar header has a bad checksum: not a tar archive, or damaged');
    const name = header.toString('utf8', 0, NAME_BYTES).replace(/\0.*$/s, '');
    const size = parseInt(field(124, 12), 8);
    const type = String.fromCharCode(header[156]!);
    if ((type !== '0' && type !== '\0') || !Number.isSafeInteger(size)) throw new TarError(`${name}: not a regular file`);
    if (name.startsWith('/') || name.split('/').includes('..')) throw new TarError(`${name}: not a relative name inside the archive`);
    const data = size === 0 ? Buffer.alloc(0) : await take(size);
    if (data === null) throw new TarError(`${name}: the archive ends before its ${size} bytes`);
    if (size % BLOCK !== 0 && (await take(BLOCK - (size % BLOCK))) === null) throw new TarError(`${name}: the archive ends inside its padding`);
    yield { name, data: Buffer.from(data) };
  }
}
