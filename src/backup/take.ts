// The AdminServer's `backup` command (Paddock's own: ZooKeeper 3.8 has no
// such endpoint; 3.9's `snapshot` command streams a snapshot alone). GET
// <commandURL>/backup answers a tar (tar.ts) of a data directory's
// version-2/ that ZooKeeper 3.8 and Paddock both start from:
//
//   version-2/snapshot.<Z0>     a fuzzy snapshot begun at zxid Z0, the
//                               server's own snapshot writer (persistence)
//   version-2/log.<first>       every txn the server applied while the
//                               snapshot was written, Z0+1 … Z1, in order
//                               (absent when none was)
//
// ZooKeeper's own consistency model: the snapshot replayed with the log
// after Z0 is exactly the state at Z1, the zxid the server had applied when
// the walk of the tree ended. The txns are taken as the server applies them
// (Processor.watchApplied), not from its log files, so nothing depends on
// what the log has flushed or purged, and any role (leader, follower,
// observer, standalone) can be backed up. A member that re-synced with a
// leader meanwhile (its state replaced) fails the backup rather than send
// a mixture.
//
// Off unless admin.backup.enabled=true: the backup holds every node's data,
// whatever its ACL, as the data directory does.

import { mkdtempSync, rmSync, statSync, createReadStream } from 'node:fs';
import type http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from '../log.ts';
import { writeSnapshot, snapshotName } from '../persistence/snapshot.ts';
import { encodeEntry, fileHeaderBytes } from '../persistence/txnlog-format.ts';
import { logFileName } from '../persistence/txnlog.ts';
import type { LoggedTxn } from '../proto/txn.ts';
import type { Processor } from '../server/processor.ts';
import type { ServerView } from '../server/inspect.ts';
import { zxidHex } from '../zxid.ts';
import { tarEnd, tarEntry } from './tar.ts';

export const BACKUP_COMMAND = 'backup';
/** Where the files of a backup sit, in the archive as in a data directory. */
export const VERSION_DIR = 'version-2';

/** A consistent snapshot + log set, its snapshot written into a temporary directory. */
interface SnapshotSet {
  dir: string;
  snapshotPath: string;
  snapshotZxid: number;
  txns: LoggedTxn[];
  /** the zxid the set restores to */
  lastZxid: number;
}

/** Write a fuzzy snapshot of the processor's tree and keep every txn applied meanwhile. */
async function takeSnapshotSet(processor: Processor): Promise<SnapshotSet> {
  const tree = processor.tree;
  const snapshotZxid = tree.lastProcessedZxid;
  const txns: LoggedTxn[] = [];
  const stopWatching = processor.watchApplied((txn) => txns.push(txn));
  const dir = mkdtempSync(join(tmpdir(), 'paddock-backup-'));
  try {
    const snapshotPath = await writeSnapshot(tree, snapshotZxid, dir);
    stopWatching();
    const lastZxid = tree.lastProcessedZxid;
    if (processor.tree !== tree) throw new Error('the server re-synced with its leader during the backup (its state was replaced); take it again');
    if ((txns.at(-1)?.hdr.zxid ?? snapshotZxid) !== lastZxid) throw new Error(`the txns applied during the backup end at ${zxidHex(txns.at(-1)?.hdr.zxid ?? snapshotZxid)}, the tree at ${zxidHex(lastZxid)}`);
    return { dir, snapshotPath, snapshotZxid, txns, lastZxid };
  } catch (e) {
    stopWatching();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/** The archive of a set: the snapshot file streamed, then the log file. */
async function* archive(set: SnapshotSet): AsyncGenerator<Buffer> {
  yield* tarEntry(`${VERSION_DIR}/${snapshotName(set.snapshotZxid)}`, statSync(set.snapshotPath).size, createReadStream(set.snapshotPath) as AsyncIterable<Buffer>);
  if (set.txns.length > 0) {
    const log = [fileHeaderBytes(), ...set.txns.map(encodeEntry)];
    yield* tarEntry(`${VERSION_DIR}/${logFileName(set.txns[0]!.hdr.zxid)}`, log.reduce((n, b) => n + b.length, 0), log);
  }
  yield tarEnd();
}

/** Answer GET <commandURL>/backup: the tar, or the command envelope saying why not. */
export async function serveBackup(view: ServerView, res: http.ServerResponse, logger: Logger): Promise<void> {
  const refuse = (status: number, error: string) => {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ command: BACKUP_COMMAND, error }));
  };
  if (!view.config.admin.backupEnabled) return refuse(403, 'the backup command is off: set admin.backup.enabled=true in zoo.cfg to serve it');
  if (view.mode === null) return refuse(503, 'this server is not serving (it is looking for a leader or syncing with one); back up a peer that serves');
  res.socket?.setTimeout(0); // admin.idleTimeout must not cut a connection off while a large snapshot is written
  let set: SnapshotSet;
  try {
    set = await takeSnapshotSet(view.processor);
  } catch (e) {
    logger.error(`backup failed: ${(e as Error).message}`);
    return refuse(500, `backup failed: ${(e as Error).message}`);
  }
  try {
    res.writeHead(200, {
      'Content-Type': 'application/x-tar',
      'Content-Disposition': `attachment; filename="paddock-backup-${set.lastZxid.toString(16)}.tar"`,
    });
    await pipeline(Readable.from(archive(set)), res);
    logger.info(`backup sent: snapshot at ${zxidHex(set.snapshotZxid)} and ${set.txns.length} txns after it, the state at ${zxidHex(set.lastZxid)}`);
  } catch (e) {
    logger.warn(`backup not sent whole: ${(e as Error).message}`);
  } finally {
    rmSync(set.dir, { recursive: true, force: true });
  }
}
