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
//   txnsAfter(logDir, peerZxid, through?)   the txns themselves, read with
//       txnlog.ts's reader (bounded chunks; checksums, order and gaps checked
//       as in recovery), stopping after `through` (give the last durable
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

import { closeSync, fsyncSync, ftruncateSync, openSync, unlinkSync } from 'node:fs';
import type { ZxidFile } from './files.ts';
import { listSnapshots } from './snapshot.ts';
import { FILE_HEADER_SIZE, type LoggedTxn } from './txnlog-format.ts';
import { decodeEntry, intactEntries, listTxnLogs, logEntries, logsFrom } from './txnlog.ts';

export { readSnapStream, writeSnapStream, SNAP_SIGNATURE } from './snapshot.ts';
export { ACCEPTED_EPOCH, CURRENT_EPOCH, EpochFileError, loadEpochs, readEpochFile, writeEpochFile, type Epochs } from './epoch.ts';

const hex = (n: number): string => `0x${n.toString(16)}`;

/**
 * The logged txns with zxid > fromZxid, in order, read lazily a chunk at a
 * time; with `through`, none after that zxid is read. Throws TxnLogError on
 * damage, disorder or a gap (as recovery; a torn tail is damage here: the
 * log a leader serves from was repaired when it started).
 */
export function* txnsAfter(logDir: string, fromZxid: number, through = Number.MAX_SAFE_INTEGER): Generator<LoggedTxn> {
  for (const e of logEntries(logDir, fromZxid)) {
    if (!e.after) continue;
    if (e.zxid > through) return;
    yield decodeEntry(e);
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
  for (const file of files) for (const e of intactEntries(file.path)) return e.zxid;
  return null;
}

/** Measure what a DIFF from disk to a peer at `zxid` would take (reads the log once, in chunks). */
export function measureLogAfter(logDir: string, zxid: number): LogAfter {
  const out: LogAfter = { reachable: false, prevZxid: null, txnCount: 0, txnBytes: 0 };
  const first = firstLoggedZxid(logsFrom(listTxnLogs(logDir), zxid));
  if (first === null) return out;
  out.reachable = first <= zxid + 1;
  if (!out.reachable) return out;
  for (const e of logEntries(logDir, zxid)) {
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
    for (const e of intactEntries(holding.path)) {
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
