// What Zab's sync phase needs from the disk, for a runtime to call. Every
// function works on the directories alone (close the DataDir first where it
// writes); nothing here knows about peers or packets.
//
// DIFF from disk (leader; ZKDatabase.getProposalsFromTxnLog, LearnerHandler):
//   measureLogAfter(logDir, peerZxid)   whether every txn after the peer's
//       last zxid is in the log, the newest logged zxid at or below it (when
//       that is not peerZxid, the peer holds txns we lack: TRUNC it there
//       first), and the bytes and count of the txns after it;
//   diffFromDiskAllowed(measure, newestSnapshotBytes, factor)   ZooKeeper's
//       snapshotSizeFactor rule;
//   txnsAfter(logDir, peerZxid, through?)   the txns themselves, a file at a
//       time in bounded chunks, checksums, order and gaps checked as
//       scanTxnLogs does, stopping after `through` (give the last durable
//       zxid when the log is being appended to meanwhile).
// TRUNC (learner; FileTxnLog.truncate, ZKDatabase.truncateLog):
//   truncateLogTo(logDir, snapDir, zxid)   removes every logged txn after zxid
//       and every snapshot newer than it, durably. The in-memory tree is then
//       stale: reopen the DataDir, whose recovery rebuilds it to exactly zxid.
//       It refuses a zxid it does not hold; that the zxid is not below the
//       committed history (ZOOKEEPER-3526) is for the Zab core to ensure.
// SNAP (snapshot.ts): writeSnapStream(tree, writable) / readSnapStream(readable).
// Epochs (epoch.ts): readEpochFile, writeEpochFile, loadEpochs.
//
// Invariants: nothing reads a whole file into memory (the largest buffer is
// one chunk or one entry); damage anywhere is a TxnLogError naming file and
// offset, never a silent stop; each step of truncateLogTo leaves a directory
// that recovers to a prefix of the history it held, so a crash in the middle
// of it loses nothing the leader will not resend.

import { closeSync, fsyncSync, ftruncateSync, openSync, readSync, unlinkSync } from 'node:fs';
import type { ZxidFile } from './files.ts';
import { listSnapshots } from './snapshot.ts';
import { JuteError, JuteReader } from '../jute/archive.ts';
import { decodePayload, entryAt, FILE_HEADER_SIZE, parseHeader, type LoggedTxn } from './txnlog-format.ts';
import { listTxnLogs, LogSequence, logsFrom, TxnLogError } from './txnlog.ts';

export { readSnapStream, writeSnapStream, SNAP_SIGNATURE } from './snapshot.ts';
export { ACCEPTED_EPOCH, CURRENT_EPOCH, EpochFileError, loadEpochs, readEpochFile, writeEpochFile, type Epochs } from './epoch.ts';

/** Bytes read from a log file at a time. */
const CHUNK = 64 * 1024;

const hex = (n: number): string => `0x${n.toString(16)}`;

interface FileEntry {
  /** byte offset of the entry in its file */
  offset: number;
  /** offset just after its 'B' */
  end: number;
  /** the TxnHeader's zxid */
  zxid: number;
  /** checksummed, not decoded; valid until the next entry is read */
  payload: Buffer;
}

/** ZooKeeper's TxnHeader: long clientId, int cxid, long zxid, ... */
const ZXID_IN_PAYLOAD = 12;

/**
 * The entries of one log file in order, read `CHUNK` bytes at a time (more
 * only for an entry larger than that), each checksummed. Ends at EOF or the
 * preallocated zeros; any damage throws TxnLogError.
 */
function* fileEntries(path: string): Generator<FileEntry> {
  const fd = openSync(path, 'r');
  try {
    let window = Buffer.alloc(0);
    /** file offset of window[0] */
    let base = 0;
    let pos = 0;
    let atEof = false;
    /** Keep window[pos..] and read at least `want` more bytes (fewer at EOF). */
    const readMore = (want: number): void => {
      const kept = window.length - pos;
      const next = Buffer.allocUnsafe(kept + Math.max(CHUNK, want));
      window.copy(next, 0, pos);
      let got = kept;
      while (got < next.length) {
        const n = readSync(fd, next, got, next.length - got, base + window.length + (got - kept));
        if (n === 0) {
          atEof = true;
          break;
        }
        got += n;
      }
      base += pos;
      pos = 0;
      window = next.subarray(0, got);
    };
    readMore(FILE_HEADER_SIZE);
    const h = parseHeader(window.subarray(0, FILE_HEADER_SIZE));
    if ('bad' in h) throw new TxnLogError(path, 0, h.bad.reason);
    pos = FILE_HEADER_SIZE;
    for (;;) {
      const e = entryAt(window, pos);
      if (e.kind === 'entry') {
        if (e.payload.length < ZXID_IN_PAYLOAD + 8) throw new TxnLogError(path, base + pos, `undecodable txn: ${e.payload.length} bytes, shorter than a TxnHeader`);
        const zxid = new JuteReader(e.payload, ZXID_IN_PAYLOAD).long();
        yield { offset: base + pos, end: base + e.next, zxid, payload: e.payload };
        pos = e.next;
      } else if ((e.kind === 'eof' || e.kind === 'short') && !atEof) {
        readMore(e.kind === 'short' ? (e.need ?? 12) - (window.length - pos) : CHUNK);
      } else if (e.kind === 'eof' || e.kind === 'zeros') {
        return;
      } else if (e.kind === 'short') {
        if (window.subarray(pos).every((b) => b === 0)) return;
        throw new TxnLogError(path, base + pos, 'the last entry runs past the end of the file');
      } else {
        throw new TxnLogError(path, base + pos, e.reason);
      }
    }
  } finally {
    closeSync(fd);
  }
}

interface SequencedEntry extends FileEntry {
  file: ZxidFile;
  /** zxid > fromZxid */
  after: boolean;
}

/** Every entry of the files a reader from fromZxid needs, with the order and gap rules applied. */
function* entriesFrom(logDir: string, fromZxid: number): Generator<SequencedEntry> {
  const seq = new LogSequence(fromZxid);
  for (const file of logsFrom(listTxnLogs(logDir), fromZxid)) {
    for (const entry of fileEntries(file.path)) {
      yield { ...entry, file, after: seq.admit(file, entry.offset, entry.zxid) };
    }
  }
}

/**
 * The logged txns with zxid > fromZxid, in order, read lazily a chunk at a
 * time; with `through`, none after that zxid is read. Throws TxnLogError on
 * damage, disorder or a gap (as scanTxnLogs; a torn tail is damage here: the
 * log a leader serves from was repaired when it started).
 */
export function* txnsAfter(logDir: string, fromZxid: number, through = Number.MAX_SAFE_INTEGER): Generator<LoggedTxn> {
  for (const e of entriesFrom(logDir, fromZxid)) {
    if (!e.after) continue;
    if (e.zxid > through) return;
    try {
      // copied: the payload is a view of the read buffer
      yield decodePayload(Buffer.from(e.payload));
    } catch (err) {
      if (!(err instanceof JuteError)) throw err;
      throw new TxnLogError(e.file.path, e.offset, `undecodable txn: ${err.message}`);
    }
    if (e.zxid === through) return;
  }
}

export interface LogAfter {
  /**
   * Every txn after the zxid is in the log: the log starts at or before
   * zxid + 1. (ZooKeeper asks for a logged txn at or before zxid; but a zxid
   * names one txn — one leader per epoch — so a log starting at zxid + 1 of
   * the same epoch continues the peer's history as surely.)
   */
  reachable: boolean;
  /**
   * The newest logged zxid at or below the zxid, or null. When it is not the
   * zxid itself, a peer at the zxid holds txns this log lacks (an old epoch's
   * uncommitted tail): it must be truncated to prevZxid before a DIFF.
   */
  prevZxid: number | null;
  /** txns after the zxid, and their bytes in the log (what a DIFF from disk reads) */
  txnCount: number;
  txnBytes: number;
}

/** The zxid of the first entry in the files, or null when they hold none. */
function firstLoggedZxid(files: ZxidFile[]): number | null {
  for (const file of files) for (const e of fileEntries(file.path)) return e.zxid;
  return null;
}

/** Measure what a DIFF from disk to a peer at `zxid` would take (reads the log once, in chunks). */
export function measureLogAfter(logDir: string, zxid: number): LogAfter {
  const out: LogAfter = { reachable: false, prevZxid: null, txnCount: 0, txnBytes: 0 };
  const first = firstLoggedZxid(logsFrom(listTxnLogs(logDir), zxid));
  if (first === null) return out;
  out.reachable = first <= zxid + 1;
  if (!out.reachable) return out;
  for (const e of entriesFrom(logDir, zxid)) {
    if (e.after) {
      out.txnCount++;
      out.txnBytes += e.end - e.offset;
    } else {
      out.prevZxid = e.zxid;
    }
  }
  return out;
}

/** ZooKeeper's default zookeeper.snapshotSizeFactor. */
export const DEFAULT_SNAPSHOT_SIZE_FACTOR = 0.33;

/**
 * ZooKeeper's rule for a DIFF from disk (ZKDatabase.calculateTxnLogSizeLimit
 * and getProposalsFromTxnLog): the limit is floor(factor × the newest
 * snapshot file's size); a negative factor disables DIFF from disk, one above
 * 1 counts as the default, and a limit of 0 (no snapshot yet) means no limit.
 * The size compared is `txnBytes`, the entries after the peer's zxid; ZooKeeper
 * compares the on-disk lengths of the log files after the first one it opens,
 * preallocated zeros included, which says little about what is sent.
 */
export function diffFromDiskAllowed(after: LogAfter, newestSnapshotBytes: number, factor = DEFAULT_SNAPSHOT_SIZE_FACTOR): boolean {
  if (factor < 0 || !after.reachable) return false;
  const limit = Math.floor(newestSnapshotBytes * (factor > 1 ? DEFAULT_SNAPSHOT_SIZE_FACTOR : factor));
  return limit === 0 || after.txnBytes <= limit;
}

export class TruncateError extends Error {
  override name = 'TruncateError';
}

export interface Truncation {
  /** the log file cut after the zxid's entry, and where (null when no file needed cutting) */
  cut: { file: string; offset: number } | null;
  removedLogs: string[];
  removedSnapshots: string[];
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Zab's TRUNC: remove every logged txn with zxid > `zxid` and every snapshot
 * newer than it, durably. The state at `zxid` must be on disk — the zxid is
 * logged, or a snapshot is at it, or it is 0 — else TruncateError and nothing
 * is changed. Close the DataDir first; afterwards the in-memory tree holds
 * txns that no longer exist: reopen the DataDir (its recovery then ends at
 * exactly `zxid`), as ZooKeeper's ZKDatabase.truncateLog clears and reloads.
 *
 * As FileTxnLog.truncate: the file holding the zxid is cut right after its
 * entry (its preallocated zeros go too; the next append starts a new file)
 * and every later file is deleted. Unlike it, when the zxid is not logged
 * ZooKeeper keeps the first txn after it (its iterator stops past it), and it
 * keeps snapshots newer than the zxid, which its reload then reads — the
 * ZOOKEEPER-2845 kind of divergence between memory and log. Order here: newer
 * snapshots, then later log files newest first, then the cut, so that each
 * step leaves a prefix of the history.
 */
export function truncateLogTo(logDir: string, snapDir: string, zxid: number): Truncation {
  if (!Number.isSafeInteger(zxid) || zxid < 0) throw new RangeError(`bad zxid ${zxid}`);
  const logs = listTxnLogs(logDir);
  const holding = logsFrom(logs, zxid)[0];
  // where the first entry after zxid starts in the file that may hold zxid, and whether zxid is logged
  let cutAt: number | null = null;
  let logged = false;
  if (holding && holding.zxid <= zxid) {
    for (const e of fileEntries(holding.path)) {
      if (e.zxid > zxid) {
        cutAt = e.offset;
        break;
      }
      logged = e.zxid === zxid;
      cutAt = e.end;
    }
  }
  const snapshots = listSnapshots(snapDir);
  if (zxid !== 0 && !logged && !snapshots.some((s) => s.zxid === zxid)) {
    throw new TruncateError(
      `cannot truncate to zxid ${hex(zxid)}: neither the log nor a snapshot holds it ` +
        `(log files: ${logs.map((l) => l.path).join(', ') || 'none'}; snapshots: ${snapshots.map((s) => s.path).join(', ') || 'none'})`,
    );
  }
  const removedSnapshots: string[] = [];
  for (const s of snapshots) {
    if (s.zxid <= zxid) continue;
    unlinkSync(s.path);
    removedSnapshots.push(s.path);
  }
  if (removedSnapshots.length > 0) fsyncPath(snapDir);
  const removedLogs: string[] = [];
  for (const l of [...logs].reverse()) {
    if (l.zxid <= zxid) break;
    unlinkSync(l.path);
    removedLogs.push(l.path);
  }
  let cut: Truncation['cut'] = null;
  if (holding && holding.zxid <= zxid) {
    if (cutAt === null || cutAt <= FILE_HEADER_SIZE) {
      // no entry at or before zxid in it (the state at zxid is a snapshot's)
      unlinkSync(holding.path);
      removedLogs.push(holding.path);
    } else {
      const fd = openSync(holding.path, 'r+');
      try {
        ftruncateSync(fd, cutAt);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      cut = { file: holding.path, offset: cutAt };
    }
  }
  if (removedLogs.length > 0) fsyncPath(logDir);
  return { cut, removedLogs, removedSnapshots };
}
