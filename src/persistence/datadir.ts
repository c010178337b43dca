// A server's data directories, as ZooKeeper lays them out: snapshots in
// <dataDir>/version-2, the transaction log in <dataLogDir>/version-2. Recovery
// loads the newest valid snapshot and replays the log after it; while serving,
// every txn goes to the log (group commit) and every ~snapCount txns the log is
// rolled and a fuzzy snapshot is written in the background.
//
// A fuzzy snapshot ZooKeeper wrote may hold nodes whose ACL list is newer than
// its ACL table; the replay gives them their lists. ZooKeeper serves a node
// the replay leaves unresolved, failing the requests that check or read its
// ACL (MarshallingError); Paddock refuses such a snapshot as a corrupt one.

import { mkdirSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log.ts';
import { Summary } from '../metrics/summary.ts';
import type { Txn } from '../proto/txn.ts';
import { DataTree, UNRESOLVED_ACL } from '../tree/datatree.ts';
import { zxidHex } from '../zxid.ts';
import { listSnapshots, readSnapshot, removePartialSnapshots, writeSnapshot, type LoadedSnapshot } from './snapshot.ts';
import { purgeTxnLogs, replayTxnLogs, TxnLogWriter } from './txnlog.ts';

export interface DataDirOptions {
  dataDir: string;
  dataLogDir: string;
  snapCount: number;
  preAllocSizeKb: number;
  forceSync: boolean;
  snapRetainCount: number;
}

const SLOW_FSYNC_MS = 1000;

/** What a server's storage measures (mntr, AdminServer, /metrics); kept across the DataDirs an ensemble member reopens (TRUNC, SNAP). */
export class StorageStats {
  /** ms per group commit, its write and fsync (ZooKeeper's fsynctime) */
  readonly fsyncTime = new Summary();
  /** group commits that took longer than ZooKeeper's fsync.warningthresholdms default, 1 s (fsync_threshold_exceed_count) */
  slowFsyncs = 0;
  /** ms per snapshot written (snapshottime) */
  readonly snapshotTime = new Summary();
  /** the snapshot recovery loaded, then the last one written: its zxid and mtime in seconds (ZooKeeper's SnapshotInfo) */
  lastSnapshot: { zxid: number; timestamp: number } | null = null;

  /** srst: the times and the count start afresh (the last snapshot stays what it is) */
  reset(): void {
    this.fsyncTime.reset();
    this.snapshotTime.reset();
    this.slowFsyncs = 0;
  }
}

/** How many snapshots recovery tries before giving up, as ZooKeeper. */
const MAX_SNAPSHOTS_TRIED = 100;

export class DataDir {
  readonly snapDir: string;
  readonly logDir: string;
  private readonly log: TxnLogWriter;
  private txnsSinceSnapshot = 0;
  private snapshotAt: number;
  private snapshotting: Promise<void> | null = null;
  /** the zxid of the last snapshot this DataDir wrote */
  private snapshotZxid = -1;
  /** whether the recovered state is in no snapshot yet (txns were replayed, or there was none) */
  private recoveredBeyondSnapshot = true;

  private constructor(
    private readonly opts: DataDirOptions,
    private readonly logger: Logger,
    readonly stats: StorageStats,
  ) {
    this.snapDir = join(opts.dataDir, 'version-2');
    this.logDir = join(opts.dataLogDir, 'version-2');
    mkdirSync(this.snapDir, { recursive: true });
    mkdirSync(this.logDir, { recursive: true });
    this.log = new TxnLogWriter(this.logDir, { preAllocSize: opts.preAllocSizeKb * 1024, forceSync: opts.forceSync });
    this.snapshotAt = this.nextSnapshotPoint();
  }

  /**
   * Open the directories and rebuild the tree: the newest snapshot that reads
   * cleanly, then every logged txn after it. A torn last record is cut off; any
   * other damage to the log stops here with an error naming file and offset.
   * A snapshot whose unresolved ACL refs the replay does not resolve is skipped
   * for an older one (or the log alone), with an error naming the nodes.
   */
  static async open(opts: DataDirOptions, logger: Logger, stats = new StorageStats()): Promise<{ dataDir: DataDir; tree: DataTree }> {
    const dir = new DataDir(opts, logger, stats);
    for (const path of removePartialSnapshots(dir.snapDir)) logger.info(`removed ${path}, a snapshot a crash interrupted`);
    const snapshots = listSnapshots(dir.snapDir);
    const refused: string[] = [];
    let tree: DataTree | null = null;
    let replayed = 0;
    try {
      for (const snap of snapshots.slice(0, MAX_SNAPSHOTS_TRIED)) {
        let loaded: LoadedSnapshot;
        try {
          loaded = readSnapshot(snap.path);
        } catch (e) {
          logger.warn(`skipping snapshot ${snap.path}: ${(e as Error).message}`);
          continue;
        }
        logger.info(`loaded snapshot ${snap.path} (zxid ${zxidHex(snap.zxid)}, ${loaded.tree.nodeCount} nodes, ${loaded.tree.sessions.size} sessions)`);
        replayed = dir.replayLog(loaded.tree);
        const unresolved = [...loaded.unresolvedAcls].filter(([path]) => loaded.tree.get(path)?.acl === UNRESOLVED_ACL);
        if (unresolved.length === 0) {
          tree = loaded.tree;
          stats.lastSnapshot = { zxid: snap.zxid, timestamp: Math.floor(statSync(snap.path).mtimeMs / 1000) };
          break;
        }
        const nodes = unresolved.map(([path, ref]) => `${path} refers to ACL ${ref}`).join(', ');
        const reason = `snapshot ${snap.path}: ${nodes}, which neither its ACL table nor the log after it holds`;
        logger.error(`skipping ${reason}`);
        refused.push(reason);
      }
      if (!tree) {
        if (snapshots.length > 0) logger.warn('no snapshot could be used; rebuilding from the transaction log alone');
        tree = new DataTree();
        replayed = dir.replayLog(tree);
      }
    } catch (e) {
      // an older starting point failed too: say why the newer ones were refused
      if (refused.length === 0) throw e;
      throw new Error(`${(e as Error).message}; refused ${refused.join('; ')}`);
    }
    dir.recoveredBeyondSnapshot = replayed > 0 || tree.lastProcessedZxid !== snapshots[0]?.zxid;
    return { dataDir: dir, tree };
  }

  /**
   * Apply every logged txn after the tree's zxid, as it is read; returns how
   * many. The log must continue the tree's zxid (the gap rule of txnlog.ts).
   */
  private replayLog(tree: DataTree): number {
    const { txns, tornTail } = replayTxnLogs(this.logDir, tree.lastProcessedZxid, (txn) => tree.apply(txn.hdr, txn.body), { repair: true });
    if (tornTail) this.logger.warn(`cut off a torn last record in ${tornTail.file} at offset ${tornTail.offset}`);
    if (txns > 0) this.logger.info(`replayed ${txns} txns from the log, up to zxid ${zxidHex(tree.lastProcessedZxid)}`);
    return txns;
  }

  /**
   * ZooKeeper snapshots the recovered state before it serves. Paddock does it
   * in the background once serving (a snapshot is fuzzy anyway, and new txns go
   * to a new log file), and only when the newest snapshot does not already
   * hold that state.
   */
  snapshotRecovered(tree: DataTree): Promise<void> {
    if (!this.recoveredBeyondSnapshot) return this.snapshotting ?? Promise.resolve();
    this.recoveredBeyondSnapshot = false;
    return this.snapshotNow(tree);
  }

  /** Write a snapshot of `tree` in the background, unless one is being written already or it wrote one of this state. */
  snapshotNow(tree: DataTree): Promise<void> {
    if (tree.lastProcessedZxid === this.snapshotZxid) return this.snapshotting ?? Promise.resolve();
    this.snapshotting ??= this.snapshot(tree).finally(() => (this.snapshotting = null));
    return this.snapshotting;
  }

  /** Queue a txn for the log; durable once a later flush() resolves. */
  append(txn: Txn): void {
    this.log.append(txn);
  }

  /** Write and fsync everything appended so far: one group commit. */
  async flush(): Promise<void> {
    const started = performance.now();
    await this.log.flush();
    const took = performance.now() - started;
    this.stats.fsyncTime.add(took);
    if (took > SLOW_FSYNC_MS) this.stats.slowFsyncs++;
  }

  /**
   * Count a committed txn; past the (randomised) snapCount point, roll the log
   * and write a snapshot of `tree` in the background.
   */
  committed(tree: DataTree): void {
    if (++this.txnsSinceSnapshot < this.snapshotAt || this.snapshotting) return;
    this.txnsSinceSnapshot = 0;
    this.snapshotAt = this.nextSnapshotPoint();
    this.log.roll();
    void this.snapshotNow(tree);
  }

  /** Write a snapshot of the tree as it is now. */
  private async snapshot(tree: DataTree): Promise<void> {
    const zxid = tree.lastProcessedZxid;
    try {
      const started = performance.now();
      const path = await writeSnapshot(tree, zxid, this.snapDir);
      const ms = performance.now() - started;
      this.stats.snapshotTime.add(ms);
      this.stats.lastSnapshot = { zxid, timestamp: Math.floor(Date.now() / 1000) };
      this.snapshotZxid = zxid;
      this.logger.info(`wrote snapshot ${path}`, { event: 'snapshot', zxid: zxidHex(zxid), bytes: statSync(path).size, ms: Math.round(ms) });
    } catch (e) {
      this.logger.error(`snapshot at zxid ${zxidHex(zxid)} failed: ${(e as Error).message}`, { event: 'snapshot-failed', zxid: zxidHex(zxid) });
    }
  }

  /**
   * Keep the newest snapRetainCount snapshots and the logs they need
   * (autopurge). Returns the zxid of the oldest snapshot kept when anything
   * was removed (the log is complete only after it), else null.
   */
  purge(): number | null {
    const snaps = listSnapshots(this.snapDir);
    const keep = snaps.slice(0, Math.max(3, this.opts.snapRetainCount));
    if (snaps.length <= keep.length) return null;
    const oldestKept = keep[keep.length - 1]!.zxid;
    for (const s of snaps.slice(keep.length)) unlinkSync(s.path);
    const removed = purgeTxnLogs(this.logDir, oldestKept);
    this.logger.info(`purged ${snaps.length - keep.length} snapshots and ${removed.length} log files older than zxid ${zxidHex(oldestKept)}`);
    return oldestKept;
  }

  async close(): Promise<void> {
    await this.snapshotting;
    await this.log.close();
  }

  /** ZooKeeper spreads snapshots: snapCount/2 + random(snapCount/2) txns, so peers do not snapshot together. */
  private nextSnapshotPoint(): number {
    const half = Math.max(1, Math.floor(this.opts.snapCount / 2));
    return half + Math.floor(Math.random() * half);
  }
}
