// The transaction log, byte-compatible with ZooKeeper 3.8's FileTxnLog:
// <dataLogDir>/version-2/log.<hex zxid of the file's first txn>. See
// txnlog-format.ts for the bytes.
//
// Writing: append() encodes into a pending batch; flush() writes the batch
// with one write per file and one fdatasync (group commit), preallocating the
// file in preAllocSize steps the way ZooKeeper's FilePadding does. The first
// failed write or sync poisons the writer: nothing after it can be appended or
// acknowledged.
//
// Reading (scanTxnLogs), the rules, all checked; anything else throws
// TxnLogError naming the file and byte offset:
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
//  - damage is tolerated only as a torn tail: at the end of the newest file,
//    an entry with the marks of an interrupted write (runs past EOF, 'B'
//    missing, zero checksum or length) followed only by zeros, with no intact
//    entry anywhere after it. It is reported, and cut off with repair.

import { closeSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, unlinkSync } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { OpCode } from '../proto/constants.ts';
import type { Txn } from '../proto/txn.ts';
import { renderLogFile } from './txnlog-dump.ts';
import { encodeEntry, FILE_HEADER_SIZE, fileHeaderBytes, parseLogFile, type LoggedTxn } from './txnlog-format.ts';
import { filesByZxid, type ZxidFile } from './files.ts';
import { zxidFollows, zxidHex } from '../zxid.ts';

export { decodePayload, encodeEntry, parseLogFile, TXNLOG_MAGIC, TXNLOG_VERSION, type LoggedTxn, type TxnDigest } from './txnlog-format.ts';

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
}

export class TxnLogWriter {
  private pending: Segment[] = [];
  private needNewFile = true;
  private fh: FileHandle | null = null;
  /** end of the data written to the open file */
  private pos = 0;
  /** its size as preallocated (FilePadding's currentSize) */
  private size = 0;
  /** written to since the last sync */
  private dirty = false;
  private failure: Error | null = null;
  private closed = false;
  private chain: Promise<void> = Promise.resolve();
  private _lastZxid = 0;
  private _currentFile: string | null = null;
  readonly stats: TxnLogWriterStats = { flushes: 0, writes: 0, syncs: 0, entries: 0, files: 0 };

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
    const creates: number[] = [OpCode.create, OpCode.create2];
    if (hdr.type !== body.type && !(creates.includes(hdr.type) && creates.includes(body.type))) {
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
      const { bytesWritten } = await fh.write(data, off, data.length - off, start + off);
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
export class LogSequence {
  /** last zxid read (ordering rule), 0 before the first */
  last = 0;
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

export interface LogScan {
  /** in zxid order, zxid > fromZxid; digests kept where the log has them */
  txns: LoggedTxn[];
  tornTail: { file: string; offset: number } | null;
  /** highest zxid in the files read (including those at or below fromZxid), 0 if none */
  lastZxid: number;
}

/**
 * Read every txn with zxid > fromZxid from the log files in dir, checking the
 * rules at the top of this file. A torn tail of the newest file is reported
 * and, with repair, cut off: the file is truncated at the damaged entry (or
 * deleted, when that leaves no entries).
 */
export function scanTxnLogs(dir: string, fromZxid: number, opts: { repair?: boolean } = {}): LogScan {
  const files = logsFrom(listTxnLogs(dir), fromZxid);
  const txns: LoggedTxn[] = [];
  let tornTail: LogScan['tornTail'] = null;
  const seq = new LogSequence(fromZxid);
  for (let i = 0; i < files.length; i++) {
    const file = files[i]!;
    const newest = i === files.length - 1;
    const parsed = parseLogFile(readFileSync(file.path));
    for (const { offset, txn } of parsed.records) {
      if (seq.admit(file, offset, txn.hdr.zxid)) txns.push(txn);
    }
    const end = parsed.end;
    if (end.kind === 'bad') {
      if (!(newest && end.torn)) throw new TxnLogError(file.path, end.offset, end.reason);
      tornTail = { file: file.path, offset: end.offset };
      if (opts.repair) cutTail(file.path, end.offset);
    }
  }
  return { txns, tornTail, lastZxid: seq.last };
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

/** `paddock txnlog FILE [--json]`: every txn of one file, then how the file ends (EOF, torn tail, or damage). */
export function formatTxnLog(file: string, json: boolean): string {
  return renderLogFile(parseLogFile(readFileSync(file)), json);
}
