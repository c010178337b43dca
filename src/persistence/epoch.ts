// The peer's two epoch files, as ZooKeeper's QuorumPeer keeps them in
// <dataDir>/version-2 (the snapshot directory):
//
//   acceptedEpoch   the newest epoch this peer agreed to follow (LEADERINFO)
//   currentEpoch    the newest epoch whose NEWLEADER this peer acknowledged
//
// Bytes: the epoch in decimal ASCII, no newline (Long.toString). Invariants:
//  - a file is replaced atomically: written to <name>.tmp, fsynced, renamed,
//    the directory fsynced (ZooKeeper's AtomicFileWritingIdiom uses the same
//    .tmp name and does all but the directory fsync);
//  - reading takes the first line, as ZooKeeper does: an optionally signed
//    decimal within 0..2^32-1; anything else is an EpochFileError naming the
//    file (ZooKeeper: "Found <line> in <file>");
//  - loadEpochs() applies QuorumPeer.loadDataBase's rules: a missing file is
//    created from the epoch of the last zxid (an upgrade from a version without
//    epoch files); a currentEpoch older than that epoch is taken from a
//    surviving currentEpoch.tmp (a crash between writing and renaming it) or
//    refused; an acceptedEpoch below currentEpoch is refused.

import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const CURRENT_EPOCH = 'currentEpoch';
export const ACCEPTED_EPOCH = 'acceptedEpoch';
const TMP_SUFFIX = '.tmp';

export type EpochFile = typeof CURRENT_EPOCH | typeof ACCEPTED_EPOCH;

export class EpochFileError extends Error {
  override name = 'EpochFileError';
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`${file}: ${reason}`);
  }
}

/** An epoch fits the high 32 bits of a zxid. */
function checkEpoch(epoch: number): void {
  if (!Number.isSafeInteger(epoch) || epoch < 0 || epoch > 0xffffffff) throw new RangeError(`bad epoch ${epoch}`);
}

/** Read one epoch file; null when it does not exist. */
export function readEpochFile(snapDir: string, name: EpochFile | `${EpochFile}${typeof TMP_SUFFIX}`): number | null {
  const file = join(snapDir, name);
  let text: string;
  try {
    text = readFileSync(file, 'latin1');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new EpochFileError(file, `cannot read: ${(e as Error).message}`);
  }
  const line = /^[^\r\n]*/.exec(text)![0];
  // Long.parseLong: an optional sign and decimal digits, nothing else
  if (!/^[+-]?[0-9]{1,19}$/.test(line)) throw new EpochFileError(file, `holds ${JSON.stringify(line.slice(0, 40))}, not a decimal epoch`);
  const epoch = Number(line);
  if (!Number.isSafeInteger(epoch) || epoch < 0 || epoch > 0xffffffff) throw new EpochFileError(file, `epoch ${line} is out of range (0..2^32-1)`);
  return epoch;
}

/** Replace an epoch file atomically and durably. */
export function writeEpochFile(snapDir: string, name: EpochFile, epoch: number): void {
  checkEpoch(epoch);
  const file = join(snapDir, name);
  const tmp = file + TMP_SUFFIX;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    const bytes = Buffer.from(String(epoch), 'latin1');
    let done = 0;
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  const dir = openSync(snapDir, 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

export interface Epochs {
  currentEpoch: number;
  acceptedEpoch: number;
}

/**
 * The epochs as QuorumPeer.loadDataBase establishes them once the database is
 * loaded up to `lastZxid` (files created or repaired as described at the top).
 * `log` hears about every file created or taken from a .tmp.
 */
export function loadEpochs(snapDir: string, lastZxid: number, log: (msg: string) => void = () => {}): Epochs {
  const epochOfZxid = Math.floor(lastZxid / 0x100000000);
  let currentEpoch = readEpochFile(snapDir, CURRENT_EPOCH);
  if (currentEpoch === null) {
    currentEpoch = epochOfZxid;
    log(`${CURRENT_EPOCH} not found; creating it with the epoch of the last zxid, ${currentEpoch}`);
    writeEpochFile(snapDir, CURRENT_EPOCH, currentEpoch);
  }
  if (epochOfZxid > currentEpoch) {
    const fromTmp = readEpochFile(snapDir, `${CURRENT_EPOCH}${TMP_SUFFIX}`);
    if (fromTmp === null) {
      throw new EpochFileError(
        join(snapDir, CURRENT_EPOCH),
        `the current epoch ${currentEpoch} is older than the last zxid 0x${lastZxid.toString(16)} (epoch ${epochOfZxid})`,
      );
    }
    log(`${CURRENT_EPOCH}${TMP_SUFFIX} found; setting the current epoch to ${fromTmp}`);
    currentEpoch = fromTmp;
    writeEpochFile(snapDir, CURRENT_EPOCH, currentEpoch);
  }
  let acceptedEpoch = readEpochFile(snapDir, ACCEPTED_EPOCH);
  if (acceptedEpoch === null) {
    acceptedEpoch = epochOfZxid;
    log(`${ACCEPTED_EPOCH} not found; creating it with the epoch of the last zxid, ${acceptedEpoch}`);
    writeEpochFile(snapDir, ACCEPTED_EPOCH, acceptedEpoch);
  }
  if (acceptedEpoch < currentEpoch) {
    throw new EpochFileError(join(snapDir, ACCEPTED_EPOCH), `the accepted epoch ${acceptedEpoch} is less than the current epoch ${currentEpoch}`);
  }
  return { currentEpoch, acceptedEpoch };
}
