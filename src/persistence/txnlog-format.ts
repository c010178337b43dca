// The bytes of a ZooKeeper transaction log file (FileTxnLog, format version 2):
//
//   FileHeader   int magic 0x5A4B4C47 "ZKLG", int version 2, long dbid (0)
//   entry*       long checksum (Adler-32 of the payload), int length, payload, byte 'B'
//                payload = TxnHeader + txn record [+ TxnDigest: int version, long treeDigest]
//   end          EOF, or a zero checksum + zero length (the file is preallocated with zeros)
//
// This module only encodes entries and takes a file's bytes apart; the rules
// that span files (zxid order, gaps, which damage is a torn tail) are applied
// by txnlog.ts on top of what parseLogFile() reports.

import { JuteReader, JuteWriter } from '../jute/archive.ts';
import { decodePayload, writePayload, type LoggedTxn } from '../proto/txn.ts';
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
  const w = new JuteWriter(256);
  w.long(0).int(0);
  writePayload(w, txn);
  w.byte(EOR);
  const entry = w.take();
  const len = entry.length - ENTRY_OVERHEAD;
  entry.writeUInt32BE(0, 0);
  entry.writeUInt32BE(adler32(entry, 12, 12 + len), 4);
  entry.writeInt32BE(len, 8);
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
   * middle of the last write leaves behind (see isTornAt), so that cutting the
   * file at `offset` loses only a write that was never acknowledged, provided
   * this is the newest file.
   */
  | { kind: 'bad'; offset: number; reason: string; torn: boolean };

export interface ParsedLogFile {
  header: FileHeader | null;
  records: LogRecord[];
  end: LogEnd;
}

/** Index of the last non-zero byte, or -1. Compares 64 KiB blocks at a time. */
function lastNonZero(buf: Buffer, from: number): number {
  const BLOCK = 65536;
  const zeros = Buffer.alloc(BLOCK);
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
 * Whether damage at `offset` looks like a torn last write rather than
 * corruption of data that was already durable:
 *  - the entry shows a sign of an interrupted write: it runs past EOF, lacks
 *    its 'B', or has a zero checksum or length field (`interrupted`);
 *  - everything after the entry's extent is zero (`extentEnd`, null when the
 *    extent is unknown: then nothing at all may follow the 12-byte prefix);
 *  - and no intact entry starts anywhere after `offset` (so a damaged length
 *    field in the middle of a file, which can make the rest of the file look
 *    like one long entry, is never mistaken for a torn tail).
 */
function isTornAt(buf: Buffer, offset: number, interrupted: boolean, extentEnd: number | null): boolean {
  if (!interrupted) return false;
  const last = lastNonZero(buf, offset + 1);
  if (last < 0) return true;
  const after = extentEnd ?? Math.min(buf.length, offset + 12);
  if (last >= after) return false;
  for (let at = offset + 1; at + ENTRY_OVERHEAD <= last + 1; at++) {
    if (validEntryAt(buf, at, last + 1)) return false;
  }
  return true;
}

/** Check a file's FileHeader (the first bytes of `buf`); a short or zeroed header is 'bad' with `torn` set. */
export function parseHeader(buf: Buffer): { header: FileHeader } | { bad: Extract<LogEnd, { kind: 'bad' }> } {
  const expected = fileHeaderBytes();
  if (buf.length < FILE_HEADER_SIZE) {
    // A crash right after creating the file: a prefix of a header (or zeros) and nothing else.
    const prefixOk = buf.every((b) => b === 0) || (buf.length <= 8 ? expected.subarray(0, buf.length).equals(buf) : expected.subarray(0, 8).equals(buf.subarray(0, 8)));
    return { bad: { kind: 'bad', offset: 0, reason: `file is ${buf.length} bytes, shorter than a file header`, torn: prefixOk } };
  }
  const r = new JuteReader(buf, 0, FILE_HEADER_SIZE);
  const header: FileHeader = { magic: r.int(), version: r.int(), dbid: r.long() };
  if (header.magic !== TXNLOG_MAGIC) {
    const allZero = lastNonZero(buf, 0) < 0;
    return { bad: { kind: 'bad', offset: 0, reason: `bad magic 0x${(header.magic >>> 0).toString(16)} (expected 0x${TXNLOG_MAGIC.toString(16)} "ZKLG")`, torn: allZero } };
  }
  if (header.version !== TXNLOG_VERSION) {
    return { bad: { kind: 'bad', offset: 0, reason: `unsupported txnlog format version ${header.version} (expected ${TXNLOG_VERSION})`, torn: false } };
  }
  return { header };
}

/** Take a whole log file apart: header, every intact entry, and how it ended. */
export function parseLogFile(buf: Buffer): ParsedLogFile {
  const h = parseHeader(buf);
  if ('bad' in h) return { header: null, records: [], end: h.bad };
  const records: LogRecord[] = [];
  let at = FILE_HEADER_SIZE;
  const bad = (reason: string, interrupted: boolean, extentEnd: number | null): ParsedLogFile => ({
    header: h.header,
    records,
    end: { kind: 'bad', offset: at, reason, torn: isTornAt(buf, at, interrupted, extentEnd) },
  });
  for (;;) {
    const e = entryAt(buf, at);
    switch (e.kind) {
      case 'entry': {
        let txn: LoggedTxn;
        try {
          // Copied, so the txn's data buffers do not pin the whole file's bytes in memory.
          txn = decodePayload(Buffer.from(e.payload));
        } catch (err) {
          // An intact entry that does not decode was written that way: never a torn write.
          return bad(`undecodable txn: ${(err as Error).message}`, false, e.next);
        }
        records.push({ offset: at, txn });
        at = e.next;
        continue;
      }
      case 'eof':
        return { header: h.header, records, end: { kind: 'clean', offset: at } };
      case 'zeros':
        // The end marker ZooKeeper relies on: preallocated zeros. Anything non-zero after it is suspicious.
        if (lastNonZero(buf, at) < 0) return { header: h.header, records, end: { kind: 'clean', offset: at } };
        return bad('zero checksum and length followed by non-zero data', true, null);
      case 'short':
        if (buf.length - at < 12) {
          if (lastNonZero(buf, at) < 0) return { header: h.header, records, end: { kind: 'clean', offset: at } };
          return bad(`${buf.length - at} bytes at the end of the file, too few for an entry`, true, buf.length);
        }
        return bad(`entry of ${buf.readInt32BE(at + 8)} bytes runs past the end of the file (${buf.length} bytes)`, true, buf.length);
      case 'bad':
        return bad(e.reason, e.interrupted, e.extentEnd);
    }
  }
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
  /** damage; `interrupted` and `extentEnd` as isTornAt takes them */
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
