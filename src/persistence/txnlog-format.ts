// The bytes of a ZooKeeper transaction log file (FileTxnLog, format version 2):
//
//   FileHeader   int magic 0x5A4B4C47 "ZKLG", int version 2, long dbid (0)
//   entry*       long checksum (Adler-32 of the payload), int length, payload, byte 'B'
//                payload = TxnHeader + txn record [+ TxnDigest: int version, long treeDigest]
//   end          EOF, or a zero checksum + zero length (the file is preallocated with zeros)
//
// This module only encodes entries and checks the bytes of one header or entry
// at a time; txnlog.ts reads files with it, a chunk at a time, and applies the
// rules that need more (zeros to the end, which damage is a torn tail, zxid
// order and gaps).

import { JuteReader, JuteWriter } from '../jute/archive.ts';
import { payloadBytes, type LoggedTxn } from '../proto/txn.ts';
import { adler32 } from './adler32.ts';

export const TXNLOG_MAGIC = 0x5a4b4c47; // "ZKLG"
export const TXNLOG_VERSION = 2;
export const FILE_HEADER_SIZE = 16;
/** checksum (8) + length (4) before the payload, 'B' (1) after it */
export const ENTRY_OVERHEAD = 13;
const EOR = 0x42; // 'B'

export { decodePayload, type LoggedTxn, type TxnDigest } from '../proto/txn.ts';

export function fileHeaderBytes(dbid = 0): Buffer {
  return new JuteWriter(FILE_HEADER_SIZE).int(TXNLOG_MAGIC).int(TXNLOG_VERSION).long(dbid).toBuffer();
}

/** One complete log entry (checksum, length, payload, 'B') for `txn`. */
export function encodeEntry(txn: LoggedTxn): Buffer {
  const payload = payloadBytes(txn);
  const entry = Buffer.allocUnsafe(payload.length + ENTRY_OVERHEAD);
  entry.writeUInt32BE(0, 0);
  entry.writeUInt32BE(adler32(payload, 0, payload.length), 4);
  entry.writeInt32BE(payload.length, 8);
  payload.copy(entry, 12);
  entry[12 + payload.length] = EOR;
  return entry;
}

export interface FileHeader {
  magic: number;
  version: number;
  dbid: number;
}

export interface LogRecord {
  /** byte offset of the entry (its checksum) in the file */
  offset: number;
  txn: LoggedTxn;
}

/** How the readable part of a file ended. */
export type LogEnd =
  /** EOF, or a zero checksum + length followed only by zeros */
  | { kind: 'clean'; offset: number }
  /**
   * Damage at `offset`. `torn` is true when it has the shape a crash in the
   * middle of the last write leaves behind (see txnlog.ts), so that cutting
   * the file at `offset` loses only a write that was never acknowledged,
   * provided this is the newest file.
   */
  | { kind: 'bad'; offset: number; reason: string; torn: boolean };

export interface ParsedLogFile {
  header: FileHeader | null;
  records: LogRecord[];
  end: LogEnd;
}

const BLOCK = 65536;
/** compared against, never written */
const ZEROS = Buffer.alloc(BLOCK);

/** Index of the last non-zero byte of buf[from..], or -1. Compares 64 KiB blocks at a time. */
export function lastNonZero(buf: Buffer, from: number): number {
  const zeros = ZEROS;
  let end = buf.length;
  while (end > from) {
    const start = Math.max(from, end - BLOCK);
    if (buf.compare(zeros, 0, end - start, start, end) !== 0) {
      for (let i = end - 1; i >= start; i--) if (buf[i] !== 0) return i;
    }
    end = start;
  }
  return -1;
}

/** An intact entry (length, 'B', checksum all agree) starting at `at`, ending by `limit`. */
function validEntryAt(buf: Buffer, at: number, limit: number): boolean {
  if (at + ENTRY_OVERHEAD > limit) return false;
  if (buf.readUInt32BE(at) !== 0) return false; // Adler-32 fits in 32 bits
  const len = buf.readInt32BE(at + 8);
  if (len <= 0 || at + ENTRY_OVERHEAD + len > limit) return false;
  if (buf[at + 12 + len] !== EOR) return false;
  return buf.readUInt32BE(at + 4) === adler32(buf, at + 12, at + 12 + len);
}

/**
 * Whether an intact entry starts anywhere in buf at or after `from`. Part of
 * the torn-tail test (txnlog.ts): a damaged length field in the middle of a
 * file can make the rest of it look like one long entry, and an intact entry
 * inside that extent shows it is not a torn last write.
 */
export function holdsIntactEntry(buf: Buffer, from: number): boolean {
  for (let at = from; at + ENTRY_OVERHEAD <= buf.length; at++) if (validEntryAt(buf, at, buf.length)) return true;
  return false;
}

/**
 * Check a file's FileHeader (the first FILE_HEADER_SIZE bytes, or all of a
 * shorter file). A short header that is a prefix of a valid one (or zeros),
 * and an all-zero one, are 'bad' with `torn` set: a crash right after the
 * file was created, if nothing non-zero follows (for the caller to check).
 */
export function parseHeader(buf: Buffer): { header: FileHeader } | { bad: Extract<LogEnd, { kind: 'bad' }> } {
  const expected = fileHeaderBytes();
  if (buf.length < FILE_HEADER_SIZE) {
    const prefixOk = buf.every((b) => b === 0) || (buf.length <= 8 ? expected.subarray(0, buf.length).equals(buf) : expected.subarray(0, 8).equals(buf.subarray(0, 8)));
    return { bad: { kind: 'bad', offset: 0, reason: `file is ${buf.length} bytes, shorter than a file header`, torn: prefixOk } };
  }
  const r = new JuteReader(buf, 0, FILE_HEADER_SIZE);
  const header: FileHeader = { magic: r.int(), version: r.int(), dbid: r.long() };
  if (header.magic !== TXNLOG_MAGIC) {
    const allZero = lastNonZero(buf.subarray(0, FILE_HEADER_SIZE), 0) < 0;
    return { bad: { kind: 'bad', offset: 0, reason: `bad magic 0x${(header.magic >>> 0).toString(16)} (expected 0x${TXNLOG_MAGIC.toString(16)} "ZKLG")`, torn: allZero } };
  }
  if (header.version !== TXNLOG_VERSION) {
    return { bad: { kind: 'bad', offset: 0, reason: `unsupported txnlog format version ${header.version} (expected ${TXNLOG_VERSION})`, torn: false } };
  }
  return { header };
}

/** What entryAt found at an offset. */
export type EntryAt =
  /** an intact entry: its payload (a view of the buffer, checksum verified, not decoded) */
  | { kind: 'entry'; payload: Buffer; /** offset after its 'B' */ next: number }
  /** no bytes left */
  | { kind: 'eof' }
  /** a zero checksum and length: the preallocated end */
  | { kind: 'zeros' }
  /** fewer than 12 bytes, or the entry runs past the end of `buf`: more bytes are needed to tell */
  | { kind: 'short'; /** bytes from `at` to the end of the entry, when its length is known */ need: number | null }
  /**
   * damage; `interrupted`: it shows a sign of an interrupted write (no 'B',
   * zero checksum or length); `extentEnd`: where the entry would end, when its
   * length is believable (offsets in `buf`)
   */
  | { kind: 'bad'; reason: string; interrupted: boolean; extentEnd: number | null };

/** Check the framing and checksum of the entry starting at `at` in `buf` (a whole file, or a window of one starting at an entry). */
export function entryAt(buf: Buffer, at: number): EntryAt {
  const left = buf.length - at;
  if (left === 0) return { kind: 'eof' };
  if (left < 12) return { kind: 'short', need: null };
  const crcHi = buf.readUInt32BE(at);
  const crc = buf.readUInt32BE(at + 4);
  const len = buf.readInt32BE(at + 8);
  if (crcHi === 0 && crc === 0 && len === 0) return { kind: 'zeros' };
  if (crcHi !== 0) return { kind: 'bad', reason: `checksum 0x${crcHi.toString(16)}${crc.toString(16).padStart(8, '0')} does not fit in 32 bits`, interrupted: false, extentEnd: null };
  if (len <= 0) return { kind: 'bad', reason: `entry length ${len}`, interrupted: len === 0, extentEnd: null };
  const end = at + 12 + len; // offset of the 'B'
  if (end >= buf.length) return { kind: 'short', need: ENTRY_OVERHEAD + len };
  if (buf[end] !== EOR) return { kind: 'bad', reason: `end-of-record byte is 0x${buf[end]!.toString(16)}, not 'B'`, interrupted: buf[end] === 0, extentEnd: end + 1 };
  const actual = adler32(buf, at + 12, end);
  if (actual !== crc) return { kind: 'bad', reason: `checksum mismatch: stored 0x${crc.toString(16)}, computed 0x${actual.toString(16)}`, interrupted: crc === 0, extentEnd: end + 1 };
  return { kind: 'entry', payload: buf.subarray(at + 12, end), next: end + 1 };
}
