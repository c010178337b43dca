// The transaction log, byte-compatible with ZooKeeper 3.8's FileTxnLog:
// <dataLogDir>/version-2/log.<hex zxid of the file's first txn>. See
// txnlog-format.ts for the bytes.
//
// Writing: append() encodes into a pending batch; flush() writes the batch
// with one write per file (synchronous: into the page cache) and one fdatasync
// (in the thread pool; group commit), preallocating the
// file in preAllocSize steps the way ZooKeeper's FilePadding does (a sparse
// extension). With forceSync, the stretch just past the data is also written
// with zeros ahead of need (FILL_AHEAD), so that each fdatasync lands in
// blocks already allocated and commits no metadata; the bytes are the zeros
// the sparse file reads as anyway. The first failed write or sync poisons the
// writer: nothing after it can be appended or acknowledged.
//
// Reading (fileEntries, one file a chunk at a time; logEntries, the files a
// reader from a zxid needs; replayTxnLogs for recovery, txnsAfter in sync.ts
// for Zab), the rules, all checked; anything else throws TxnLogError naming
// the file and byte offset:
//  - every file starts with a FileHeader (magic "ZKLG", version 2);
//  - every entry's checksum, length and 'B' agree, and its payload decodes
//    (an optional trailing TxnDigest is accepted and kept);
//  - zxids strictly increase through all files read, and a file's first txn
//    is not older than its name says;
//  - no gaps among the txns returned (zxid > fromZxid), starting from
//    fromZxid: each zxid is the previous + 1, or opens a newer epoch (higher
//    32 bits) at counter 1. Txns at or below fromZxid are read and verified
//    but not checked for gaps (ZooKeeper's own logs may skip zxids a snapshot
//    covers, e.g. after a SNAP sync);
//  - damage is tolerated only in recovery, as a torn tail: at the end of the
//    newest file, an entry with the marks of an interrupted write (runs past
//    EOF, 'B' missing, zero checksum or length) followed only by zeros, with
//    no intact entry anywhere after it. It is reported, and cut off with
//    repair;
//  - a file's entries end at EOF or at a zero checksum and length (the
//    preallocated zeros). Only the newest file is read past that, to check
//    that nothing but zeros follows (a zeroed stretch followed by intact
//    entries is damage); in older files a lost stretch shows as a gap before
//    the next file, and their zeros (64 MiB each by default) are not read.

import { closeSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { OpCode } from '../proto/constants.ts';
import type { Txn } from '../proto/txn.ts';
import { renderLogFile } from './txnlog-dump.ts';
import { JuteReader } from '../jute/archive.ts';
import {
  decodePayload,
  encodeEntry,
  ENTRY_OVERHEAD,
  entryAt,
  FILE_HEADER_SIZE,
  fileHeaderBytes,
  holdsIntactEntry,
  lastNonZero,
  parseHeader,
  type FileHeader,
  type LogEnd,
  type LoggedTxn,
  type LogRecord,
  type ParsedLogFile,
} from './txnlog-format.ts';
import { filesByZxid, type ZxidFile } from './files.ts';
import { zxidFollows, zxidHex } from '../zxid.ts';

/** A create's header and record may differ in naming create or create2. */
const CREATES: readonly number[] = [OpCode.create, OpCode.create2];

export { decodePayload, encodeEntry, TXNLOG_MAGIC, TXNLOG_VERSION, type LoggedTxn, type TxnDigest } from './txnlog-format.ts';

/** log.<hex zxid>, as ZooKeeper's Util.makeLogName */
export const logFileName = (zxid: number): string => `log.${zxid.toString(16)}`;

/** Damage or inconsistency in a log file, at a byte offset (of the entry, or 0 for the file header). */
export class TxnLogError extends Error {
  override name = 'TxnLogError';
  constructor(
    readonly file: string,
    readonly offset: number,
    reason: string,
  ) {
    super(`${file} at offset ${offset}: ${reason}`);
  }
}

// ---------------------------------------------------------------- writing

/**
 * ZooKeeper's FilePadding rule: once the write position is within 4 KiB of the
 * (preallocated) end, grow by preAllocSize; if the position is already past
 * the end, round position + preAllocSize down to a multiple of preAllocSize.
 */
export function paddedSize(position: number, fileSize: number, preAllocSize: number): number {
  if (preAllocSize > 0 && position + 4096 >= fileSize) {
    if (position > fileSize) {
      const s = position + preAllocSize;
      return s - (s % preAllocSize);
    }
    return fileSize + preAllocSize;
  }
  return fileSize;
}

/**
 * How far past the data a forceSync writer keeps the file's blocks written
 * (with zeros). Writing into a hole makes the file system allocate, and the
 * fdatasync then writes the allocation too: on ext4 a journal commit, or
 * without a journal the inode and block maps, each a synchronous write of its
 * own. Measured here (ext4, 3 writers, 6.6 KiB + fdatasync each): p90 0.57 ->
 * 0.37 ms, and 48 -> 30 µs of CPU per fdatasync. The zeros are written in the
 * flush before its sync, at most FILL_AHEAD at a time, once less than half of
 * it is left.
 */
const FILL_AHEAD = 256 * 1024;
const FILL_ZEROS = Buffer.alloc(FILL_AHEAD);

interface Segment {
  /** set when this segment starts a new file */
  newFile: string | null;
  entries: Buffer[];
}

export interface TxnLogWriterStats {
  /** flush() calls that wrote something */
  flushes: number;
  /** write calls issued */
  writes: number;
  /** fdatasync/fsync calls on log files */
  syncs: number;
  /** entries written */
  entries: number;
  /** files created */
  files: number;
  /** bytes of zeros written ahead of the data (FILL_AHEAD) */
  zeroFilled: number;
}

export class TxnLogWriter {
  private pending: Segment[] = [];
  private needNewFile = true;
  private fh: FileHandle | null = null;
  /** end of the data written to the open file */
  private pos = 0;
  /** its size as preallocated (FilePadding's currentSize) */
  private size = 0;
  /** the open file's bytes before this offset are written (data, or zeros ahead of it) */
  private filled = 0;
  /** written to since the last sync */
  private dirty = false;
  private failure: Error | null = null;
  private closed = false;
  private chain: Promise<void> = Promise.resolve();
  private _lastZxid = 0;
  private _currentFile: string | null = null;
  readonly stats: TxnLogWriterStats = { flushes: 0, writes: 0, syncs: 0, entries: 0, files: 0, zeroFilled: 0 };

  /** dir = <dataLogDir>/version-2 (created if missing) */
  constructor(
    readonly dir: string,
    private readonly opts: { preAllocSize: number; forceSync: boolean },
  ) {
    mkdirSync(dir, { recursive: true });
  }

  /** zxid of the last txn appended (0 before the first) */
  get lastZxid(): number {
    return this._lastZxid;
  }

  /** the file the last appended txn went into (null before the first append) */
  get currentFile(): string | null {
    return this._currentFile;
  }

  /** set once a write or sync failed; the writer refuses everything after */
  get failed(): Error | null {
    return this.failure;
  }

  private refuse(): Error | null {
    if (this.failure) return new Error(`transaction log writer failed earlier (${this.failure.message}); refusing further writes`, { cause: this.failure });
    if (this.closed) return new Error('transaction log writer is closed');
    return null;
  }

  /**
   * Encode one txn into the pending batch (with its digest if it carries one).
   * zxids must strictly increase; the first append after construction or
   * roll() starts file log.<hex zxid>.
   */
  append(txn: Txn | LoggedTxn): void {
    const refused = this.refuse();
    if (refused) throw refused;
    const { hdr, body } = txn;
    if (!(hdr.zxid > this._lastZxid)) throw new RangeError(`txn zxid ${zxidHex(hdr.zxid)} does not follow the last logged zxid ${zxidHex(this._lastZxid)}`);
    if (hdr.type !== body.type && !(CREATES.includes(hdr.type) && CREATES.includes(body.type))) {
      throw new TypeError(`txn header type ${hdr.type} does not match its record type ${body.type}`);
    }
    const entry = encodeEntry(txn);
    let seg = this.pending[this.pending.length - 1];
    if (this.needNewFile) {
      this._currentFile = join(this.dir, logFileName(hdr.zxid));
      seg = { newFile: this._currentFile, entries: [] };
      this.pending.push(seg);
      this.needNewFile = false;
    } else if (!seg) {
      seg = { newFile: null, entries: [] };
      this.pending.push(seg);
    }
    seg.entries.push(entry);
    this._lastZxid = hdr.zxid;
  }

  /**
   * Write everything appended so far and make it durable (fdatasync when
   * forceSync). Calls are serialised; each covers what was appended before it
   * started running. Rejects with the underlying error, after which the writer
   * refuses further appends (throw) and flushes (reject).
   */
  flush(): Promise<void> {
    const refused = this.refuse();
    if (refused) return Promise.reject(refused);
    const p = this.chain.then(() => this.flushPending());
    this.chain = p.catch(() => {});
    return p;
  }

  /** The next append goes to a new file; the current one is written, synced and closed first (by the next flush or close). */
  roll(): void {
    const refused = this.refuse();
    if (refused) throw refused;
    if (this._currentFile !== null) this.needNewFile = true;
  }

  /** Flush what is pending (unless the writer has failed) and close the file. */
  async close(): Promise<void> {
    if (this.closed) return this.chain;
    const flushed = this.failure ? Promise.resolve() : this.flush();
    this.closed = true;
    try {
      await flushed;
    } finally {
      await this.chain;
      const fh = this.fh;
      this.fh = null;
      await fh?.close().catch(() => {});
    }
  }

  private async flushPending(): Promise<void> {
    const refused = this.failure ? this.refuse() : null;
    if (refused) throw refused;
    const segments = this.pending;
    this.pending = [];
    if (segments.length === 0) return;
    this.stats.flushes++;
    let created = false;
    try {
      for (const seg of segments) {
        if (seg.newFile !== null) {
          await this.closeFile();
          await this.createFile(seg.newFile);
          created = true;
        }
        if (!this.fh) throw new Error('internal: no open log file');
        await this.writeEntries(seg.newFile !== null, seg.entries);
      }
      if (this.dirty && this.opts.forceSync) {
        await this.fh!.datasync();
        this.stats.syncs++;
      }
      this.dirty = false;
      if (created && this.opts.forceSync) await syncDir(this.dir);
    } catch (e) {
      this.failure = e instanceof Error ? e : new Error(String(e));
      throw e;
    }
  }

  /** Sync (if written since the last sync) and close the open file. */
  private async closeFile(): Promise<void> {
    const fh = this.fh;
    if (!fh) return;
    if (this.dirty && this.opts.forceSync) {
      await fh.datasync();
      this.stats.syncs++;
    }
    this.dirty = false;
    this.fh = null;
    await fh.close();
  }

  private async createFile(path: string): Promise<void> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      // ZooKeeper can leave a file with a header and no entries (crash right after creating it);
      // the next txn then gets the same zxid and so the same name. Replace such a file, nothing else.
      await assertReplaceable(path);
      fh = await open(path, 'w');
    }
    this.fh = fh;
    this.pos = 0;
    this.size = 0;
    this.filled = 0;
    this.stats.files++;
  }

  private async writeEntries(withHeader: boolean, entries: Buffer[]): Promise<void> {
    const fh = this.fh!;
    const parts = withHeader ? [fileHeaderBytes(), ...entries] : entries;
    const start = this.pos;
    // Preallocation as FilePadding does it, checked before each entry.
    let at = start;
    if (withHeader) {
      at += FILE_HEADER_SIZE;
      this.size = at;
    }
    let size = this.size;
    for (const e of entries) {
      size = paddedSize(at, size, this.opts.preAllocSize);
      at += e.length;
    }
    const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    let off = 0;
    while (off < data.length) {
      // A write into the page cache, done here: only the fdatasync after it goes to the thread pool (one round trip per group commit, not two).
      const bytesWritten = writeSync(fh.fd, data, off, data.length - off, start + off);
      this.stats.writes++;
      if (bytesWritten <= 0) throw new Error(`short write to ${this._currentFile}`);
      off += bytesWritten;
      this.dirty = true;
    }
    this.pos = start + data.length;
    this.stats.entries += entries.length;
    // Grow the file with zeros after writing, so a crash never leaves a preallocated file without its header.
    // The file's length is now max(old preallocated size, data end); like FilePadding, extend it to
    // the new padded size when that is larger (if the batch overran it, the data end stands).
    if (size > this.size) {
      if (size > this.pos) await fh.truncate(size);
      this.size = size;
    }
    if (this.opts.forceSync) this.fillAhead(fh.fd);
  }

  /** Write zeros over the hole just past the data (see FILL_AHEAD); never past the file's length, never over data. */
  private fillAhead(fd: number): void {
    this.filled = Math.max(this.filled, this.pos);
    if (this.filled - this.pos >= FILL_AHEAD / 2) return;
    const end = Math.min(Math.max(this.size, this.pos), this.pos + FILL_AHEAD);
    while (this.filled < end) {
      const n = writeSync(fd, FILL_ZEROS, 0, end - this.filled, this.filled);
      if (n <= 0) throw new Error(`short write to ${this._currentFile}`);
      this.filled += n;
      this.stats.zeroFilled += n;
    }
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** An existing log file may be replaced only if it holds no entries at all. */
async function assertReplaceable(path: string): Promise<void> {
  const st = await stat(path);
  if (!st.isFile()) throw new TxnLogError(path, 0, 'exists and is not a regular file');
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(FILE_HEADER_SIZE + 12);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    const entryStart = head.subarray(FILE_HEADER_SIZE, bytesRead);
    if (entryStart.some((b) => b !== 0)) throw new TxnLogError(path, FILE_HEADER_SIZE, 'log file already exists and holds entries; refusing to overwrite it');
  } finally {
    await fh.close();
  }
}

// ---------------------------------------------------------------- reading

/** Log files (path, first zxid) in dir, sorted by zxid. A missing dir has none. */
export function listTxnLogs(dir: string): ZxidFile[] {
  return filesByZxid(dir, (name) => {
    const m = /^log\.([0-9a-fA-F]{1,16})$/.exec(name);
    return m ? Number.parseInt(m[1]!, 16) : null;
  }).sort((a, b) => a.zxid - b.zxid);
}

/** The files a reader from `zxid` needs: the newest starting at or before it, and all later ones (FileTxnLog.getLogFiles). */
export function logsFrom(logs: ZxidFile[], zxid: number): ZxidFile[] {
  let first = 0;
  for (let i = 0; i < logs.length; i++) if (logs[i]!.zxid <= zxid) first = i;
  return logs.slice(first);
}

/**
 * The ordering and gap rules at the top of this file, checked txn by txn as a
 * reader goes through the files in order.
 */
class LogSequence {
  /** last zxid read (ordering rule), 0 before the first */
  private last = 0;
  /** last zxid admitted after fromZxid (gap rule) */
  private lastAdmitted: number;
  private admitted = 0;

  constructor(private readonly fromZxid: number) {
    this.lastAdmitted = fromZxid;
  }

  /**
   * Check the txn with zxid `z` at `offset` in `file` (named for `named`);
   * returns whether it comes after fromZxid. Throws TxnLogError on a breach.
   */
  admit(file: ZxidFile, offset: number, z: number): boolean {
    const { path, zxid: named } = file;
    if (z <= this.last) throw new TxnLogError(path, offset, `zxid ${zxidHex(z)} does not follow ${zxidHex(this.last)} (zxids must increase)`);
    if (offset === FILE_HEADER_SIZE && z < named) throw new TxnLogError(path, offset, `first txn has zxid ${zxidHex(z)}, older than the file name says`);
    this.last = z;
    if (z <= this.fromZxid) return false;
    if (!zxidFollows(this.lastAdmitted, z)) {
      const after = this.admitted === 0 ? `the starting point ${zxidHex(this.fromZxid)}` : `${zxidHex(this.lastAdmitted)}`;
      throw new TxnLogError(path, offset, `gap: zxid ${zxidHex(z)} after ${after}`);
    }
    this.lastAdmitted = z;
    this.admitted++;
    return true;
  }
}

/** Bytes read from a log file at a time. */
const CHUNK = 64 * 1024;

/** ZooKeeper's TxnHeader: long clientId, int cxid, long zxid, ... */
const ZXID_IN_PAYLOAD = 12;

/** One entry of a log file, checksummed. */
export interface FileEntry {
  file: string;
  /** byte offset of the entry in its file */
  offset: number;
  /** offset just after its 'B' */
  end: number;
  /** the TxnHeader's zxid */
  zxid: number;
  /** a view of the read buffer: valid until the next entry is read */
  payload: Buffer;
  /** decoded (copied), when the reader was asked to decode */
  txn: LoggedTxn | null;
  /** zxid > the reader's starting point (always true without one) */
  after: boolean;
}

/** How reading a file ended: its header (null when that is damaged) and where and how its entries stop. */
export interface FileEnd {
  header: FileHeader | null;
  end: LogEnd;
}

export interface FileReadOptions {
  /** read past the end of the entries to EOF: see fileEntries */
  toEof?: boolean;
  /** decode each entry; an intact entry that does not decode ends the file as damage */
  decode?: boolean;
  /** called with each entry's offset and zxid before it is yielded; returns FileEntry.after */
  admit?: (offset: number, zxid: number) => boolean;
}

/** Fill buf from the file at `position`; returns the bytes read (fewer only at EOF). */
function readFully(fd: number, buf: Buffer, position: number): number {
  let got = 0;
  while (got < buf.length) {
    const n = readSync(fd, buf, got, buf.length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/**
 * The entries of one log file in order, read CHUNK bytes at a time (more only
 * for an entry larger than that), each checksummed; returns how the file
 * ends: at EOF, at the zero checksum and length of the preallocated end, or
 * at damage. Reading stops there, so the zeros of a preallocated file are not
 * read — unless `toEof` (the newest file in recovery, and the dump): then the
 * rest of the file is read too, a chunk at a time, because
 *  - non-zero data after the end marker is damage (zeros where entries were,
 *    followed by intact ones), not an end;
 *  - damage is called torn (a crash in the middle of the last write) only if
 *    the entry shows a sign of an interrupted write (it runs past EOF, lacks
 *    its 'B', or has a zero checksum or length field), nothing non-zero
 *    follows its extent (or its 12-byte prefix, when its length is not to be
 *    believed), and no intact entry starts inside that extent (which would
 *    show a damaged length field in the middle of the file).
 * Without `toEof`, no damage is called torn. Memory: one chunk, plus the
 * damaged entry's extent when that is judged.
 */
export function* fileEntries(path: string, opts: FileReadOptions = {}): Generator<FileEntry, FileEnd> {
  const fd = openSync(path, 'r');
  try {
    let size = fstatSync(fd).size;
    let window = Buffer.alloc(0);
    /** file offset of window[0] */
    let base = 0;
    /** where the next entry starts in window */
    let pos = 0;
    const unread = (): number => size - (base + window.length);
    /** Keep window[pos..] and read `want` more bytes (at least a chunk, at most to EOF). */
    const readMore = (want: number): void => {
      const kept = window.length - pos;
      const next = Buffer.allocUnsafe(kept + Math.min(unread(), Math.max(CHUNK, want)));
      window.copy(next, 0, pos);
      const got = readFully(fd, next.subarray(kept), base + window.length);
      base += pos;
      pos = 0;
      window = next.subarray(0, kept + got);
      if (kept + got < next.length) size = base + window.length; // the file shrank meanwhile
    };
    /** File offset of the last non-zero byte at or after `from`, or -1; read a chunk at a time. */
    const lastNonZeroFrom = (from: number): number => {
      const chunk = Buffer.allocUnsafe(CHUNK);
      let last = -1;
      for (let at = from; at < size; ) {
        const n = readFully(fd, chunk.subarray(0, Math.min(CHUNK, size - at)), at);
        if (n === 0) break;
        const i = lastNonZero(chunk.subarray(0, n), 0);
        if (i >= 0) last = at + i;
        at += n;
      }
      return last;
    };
    const tornAt = (at: number, extentEnd: number | null): boolean => {
      const last = lastNonZeroFrom(at + 1);
      if (last < 0) return true;
      if (last >= (extentEnd ?? Math.min(size, at + 12))) return false;
      const extent = Buffer.allocUnsafe(last + 1 - at);
      readFully(fd, extent, at);
      return !holdsIntactEntry(extent, 1);
    };

    readMore(FILE_HEADER_SIZE);
    const h = parseHeader(window.subarray(0, FILE_HEADER_SIZE));
    if ('bad' in h) return { header: null, end: { ...h.bad, torn: !!opts.toEof && h.bad.torn && lastNonZeroFrom(FILE_HEADER_SIZE) < 0 } };
    const clean = (offset: number): FileEnd => ({ header: h.header, end: { kind: 'clean', offset } });
    const damage = (offset: number, reason: string, interrupted: boolean, extentEnd: number | null): FileEnd => ({
      header: h.header,
      end: { kind: 'bad', offset, reason, torn: !!opts.toEof && interrupted && tornAt(offset, extentEnd) },
    });
    pos = FILE_HEADER_SIZE;
    for (;;) {
      const at = base + pos;
      const e = entryAt(window, pos);
      if (e.kind === 'entry') {
        if (e.payload.length < ZXID_IN_PAYLOAD + 8) return damage(at, `undecodable txn: ${e.payload.length} bytes, shorter than a TxnHeader`, false, null);
        let txn: LoggedTxn | null = null;
        if (opts.decode) {
          try {
            txn = decodePayload(Buffer.from(e.payload));
          } catch (err) {
            // an intact entry that does not decode was written that way: never a torn write
            return damage(at, `undecodable txn: ${(err as Error).message}`, false, null);
          }
        }
        const zxid = new JuteReader(e.payload, ZXID_IN_PAYLOAD).long();
        const after = opts.admit?.(at, zxid) ?? true;
        yield { file: path, offset: at, end: base + e.next, zxid, payload: e.payload, txn, after };
        pos = e.next;
      } else if (e.kind === 'eof' || e.kind === 'short') {
        const need = e.kind === 'short' ? e.need : null;
        if (unread() > 0 && (need === null || at + need <= size)) {
          readMore(need === null ? CHUNK : need - (window.length - pos));
        } else if (e.kind === 'eof') {
          return clean(at);
        } else if (need === null) {
          // fewer than 12 bytes left, all in window
          if (lastNonZero(window, pos) < 0) return clean(at);
          return damage(at, `${size - at} bytes at the end of the file, too few for an entry`, true, size);
        } else {
          return damage(at, `entry of ${need - ENTRY_OVERHEAD} bytes runs past the end of the file (${size} bytes)`, true, size);
        }
      } else if (e.kind === 'zeros') {
        // the end marker ZooKeeper relies on: preallocated zeros
        if (!opts.toEof || lastNonZeroFrom(at) < 0) return clean(at);
        return damage(at, 'zero checksum and length followed by non-zero data', true, null);
      } else {
        return damage(at, e.reason, e.interrupted, e.extentEnd === null ? null : base + e.extentEnd);
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** The entries of one file, where no torn tail is tolerated: damage throws TxnLogError. */
export function* intactEntries(path: string, opts: FileReadOptions = {}): Generator<FileEntry> {
  const { end } = yield* fileEntries(path, opts);
  if (end.kind === 'bad') throw new TxnLogError(path, end.offset, end.reason);
}

/**
 * Every entry of the log files a reader from fromZxid needs, in order, with
 * the ordering and gap rules (LogSequence) applied; damage throws
 * TxnLogError. With `recovering`, the newest file is read to its end
 * (fileEntries' toEof), entries are decoded, and damage there that is a torn
 * tail ends the entries instead: the generator returns where it starts (null
 * when the log ends cleanly).
 */
export function* logEntries(dir: string, fromZxid: number, recovering = false): Generator<FileEntry, TornTail | null> {
  const seq = new LogSequence(fromZxid);
  const files = logsFrom(listTxnLogs(dir), fromZxid);
  for (const [i, file] of files.entries()) {
    const opts: FileReadOptions = { decode: recovering, admit: (offset, zxid) => seq.admit(file, offset, zxid) };
    if (!(recovering && i === files.length - 1)) {
      yield* intactEntries(file.path, opts);
      continue;
    }
    const { end } = yield* fileEntries(file.path, { ...opts, toEof: true });
    if (end.kind === 'clean') continue;
    if (!end.torn) throw new TxnLogError(file.path, end.offset, end.reason);
    return { file: file.path, offset: end.offset };
  }
  return null;
}

/** An entry's txn: decoded by the reader, or now (copied out of the read buffer); one that does not decode is a TxnLogError at its offset. */
export function decodeEntry(e: FileEntry): LoggedTxn {
  if (e.txn) return e.txn;
  try {
    return decodePayload(Buffer.from(e.payload));
  } catch (err) {
    throw new TxnLogError(e.file, e.offset, `undecodable txn: ${(err as Error).message}`);
  }
}

/** Where a torn last record starts. */
export interface TornTail {
  file: string;
  offset: number;
}

/**
 * Recovery's read of the log: `apply` gets every txn with zxid > fromZxid, in
 * order, as it is read (a chunk at a time; in memory are one chunk and one
 * entry), with the rules at the top of this file checked. A torn tail of the
 * newest file is returned and, with repair, cut off once everything before
 * it was applied: the file is truncated at the damaged entry (or deleted,
 * when that leaves no entries).
 */
export function replayTxnLogs(dir: string, fromZxid: number, apply: (txn: LoggedTxn) => void, opts: { repair?: boolean } = {}): { txns: number; tornTail: TornTail | null } {
  const entries = logEntries(dir, fromZxid, true);
  let txns = 0;
  for (;;) {
    const r = entries.next();
    if (r.done) {
      if (r.value && opts.repair) cutTail(r.value.file, r.value.offset);
      return { txns, tornTail: r.value };
    }
    if (!r.value.after) continue;
    apply(r.value.txn!);
    txns++;
  }
}

function cutTail(path: string, offset: number): void {
  if (offset <= FILE_HEADER_SIZE) {
    unlinkSync(path);
    const dirFd = openSync(dirname(path), 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    return;
  }
  const fd = openSync(path, 'r+');
  try {
    ftruncateSync(fd, offset);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Delete the log files no longer needed once the oldest retained snapshot is
 * at `snapZxid`: every file older than the newest one starting at or before
 * snapZxid (which may hold txns after it). Returns the deleted paths.
 */
export function purgeTxnLogs(dir: string, snapZxid: number): string[] {
  const logs = listTxnLogs(dir);
  let keepFrom = -1;
  for (const l of logs) if (l.zxid <= snapZxid) keepFrom = l.zxid;
  const removed: string[] = [];
  for (const l of logs) {
    if (l.zxid >= keepFrom) break;
    unlinkSync(l.path);
    removed.push(l.path);
  }
  return removed;
}

/**
 * One file taken apart, a chunk at a time, read to EOF: its header, every txn
 * (decoded) and how it ends, with `torn` judged as if it were the newest file.
 */
export function readLogFile(path: string): ParsedLogFile {
  const records: LogRecord[] = [];
  const entries = fileEntries(path, { toEof: true, decode: true });
  for (;;) {
    const r = entries.next();
    if (r.done) return { ...r.value, records };
    records.push({ offset: r.value.offset, txn: r.value.txn! });
  }
}

/** `paddock txnlog FILE [--json]`: every txn of one file, then how the file ends (EOF, torn tail, or damage). */
export function formatTxnLog(file: string, json: boolean): string {
  return renderLogFile(readLogFile(file), json);
}
