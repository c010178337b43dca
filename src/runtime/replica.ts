// One ensemble member's durable state, as the Zab runtime needs it: the data
// directories (DataDir: log, snapshots), the tree they recover to, the epoch
// files, and group commit. It is what ZooKeeper's ZKDatabase + FileTxnSnapLog +
// the epoch fields of QuorumPeer are to a peer, and it carries out the storage
// steps of a Ready (src/zab/ready.ts): truncate, epochs, commit, append.
//
// Invariants:
// - `tree` is the applied state; truncate() and install() replace the tree
//   object (read `replica.tree` again after them);
// - txns go to the log either through append() (its own group commit, when
//   the quorum runtime carries the Readies) or through `log` (a request
//   pipeline's group commit, when it carries them), never both;
// - a txn is reported durable (onDurable) only after its fsync, and never for
//   a log that a truncation or snapshot install replaced;
// - install() makes a SNAP's state durable (a snapshot at its zxid, nothing
//   logged or snapshotted after it) before it returns, so the core may ack
//   NEWLEADER on it (ZOOKEEPER-3911);
// - every committed txn that carries a TxnDigest is checked against the tree
//   it leaves (`digests`: mntr's zk_digest_mismatches_count), whoever applies
//   it (apply(), or a request pipeline through `log`).

import type { Logger } from '../log.ts';
import { DataDir, type DataDirOptions, type StorageStats } from '../persistence/datadir.ts';
import { GroupCommit } from '../persistence/groupcommit.ts';
import { listSnapshots, writeSnapshot } from '../persistence/snapshot.ts';
import { ACCEPTED_EPOCH, CURRENT_EPOCH, loadEpochs, truncateLogTo, txnsAfter, writeEpochFile } from '../persistence/sync.ts';
import type { LoggedTxn, Txn } from '../proto/txn.ts';
import type { TxnSink } from '../server/processor.ts';
import type { ApplyResult, DataTree } from '../tree/datatree.ts';
import { DigestCheck } from '../tree/digest.ts';
import type { HistoryInit } from '../zab/history.ts';
import { zxidHex } from '../zxid.ts';

export class Replica {
  /** called with each zxid up to which the log became durable */
  onDurable: (zxid: number) => void = () => {};
  /** the log could not be written: nothing after it may be acknowledged */
  onLogFailure: (e: Error) => void = (e) => {
    throw e;
  };
  private readonly commits: GroupCommit;
  private closed = false;
  /** the TxnDigest check of every committed txn */
  readonly digests: DigestCheck;

  private constructor(
    private readonly opts: DataDirOptions,
    private readonly logger: Logger,
    private dir: DataDir,
    public tree: DataTree,
    readonly epochs: { accepted: number; current: number },
  ) {
    this.digests = new DigestCheck(logger);
    this.commits = new GroupCommit(
      dir,
      tree.lastProcessedZxid,
      (zxid) => this.onDurable(zxid),
      // A flush refused because we closed the log is no failure of it.
      (e) => {
        if (!this.closed) this.onLogFailure(e);
      },
    );
  }

  /** Recover the directories (newest good snapshot + log) and the epoch files. */
  static async open(opts: DataDirOptions, logger: Logger): Promise<Replica> {
    const { dataDir, tree } = await DataDir.open(opts, logger);
    const e = loadEpochs(dataDir.snapDir, tree.lastProcessedZxid, (m) => logger.info(m));
    return new Replica(opts, logger, dataDir, tree, { accepted: e.acceptedEpoch, current: e.currentEpoch });
  }

  get snapDir(): string {
    return this.dir.snapDir;
  }

  /** fsync and snapshot times, the last snapshot: one set across the DataDirs TRUNC and SNAP reopen */
  get storageStats(): StorageStats {
    return this.dir.stats;
  }

  get logDir(): string {
    return this.dir.logDir;
  }

  /**
   * The history the core starts from: the newest snapshot's zxid and every
   * logged zxid after it (all applied by recovery). When the log does not
   * continue that snapshot, the history starts at the recovered state.
   */
  historyInit(): HistoryInit {
    const last = this.tree.lastProcessedZxid;
    const start = listSnapshots(this.snapDir).find((s) => s.zxid <= last)?.zxid ?? 0;
    try {
      const logged: number[] = [];
      for (const txn of txnsAfter(this.logDir, start, last)) logged.push(txn.hdr.zxid);
      if ((logged[logged.length - 1] ?? start) === last) return { logStart: start, logged };
    } catch (e) {
      this.logger.warn(`the log after snapshot ${zxidHex(start)} cannot be listed (${(e as Error).message}); the history starts at ${zxidHex(last)}`);
    }
    return { logStart: last, logged: [] };
  }

  /**
   * Show the quorum config in /zookeeper/config as ZooKeeper does
   * (ZKDatabase.initConfigInZKDatabase): its text, version -1, mzxid the
   * config version, mtime now. Not a txn: each server sets it for itself.
   */
  showQuorumConfig(text: string, configVersion = 0, now = Date.now()): void {
    const node = this.tree.get('/zookeeper/config')!;
    node.data = Buffer.from(text, 'utf8');
    node.version = -1;
    node.mzxid = configVersion;
    node.mtime = now;
  }

  /**
   * Snapshot the applied state in the background: at start-up when the
   * recovered state is in no snapshot yet (`onlyIfRecovered`; a fresh
   * directory gets snapshot.0, as ZooKeeper's), or as a leader begins its
   * epoch (ZooKeeper's Leader.lead → loadData takes one then).
   */
  snapshot({ onlyIfRecovered = false } = {}): Promise<void> {
    return onlyIfRecovered ? this.dir.snapshotRecovered(this.tree) : this.dir.snapshotNow(this.tree);
  }

  /**
   * autopurge: keep the newest snapRetainCount snapshots and the logs after
   * the oldest of them. Returns that snapshot's zxid when anything was
   * removed (a DIFF can start no earlier now), else null.
   */
  purge(): number | null {
    return this.dir.purge();
  }

  /** The current log (it changes across truncate() and install()), for a request pipeline's own group commit. */
  readonly log: TxnSink = {
    append: (txn) => this.dir.append(txn),
    flush: () => this.dir.flush(),
    committed: (tree, txn) => {
      this.digests.check(tree, txn);
      this.dir.committed(tree);
    },
  };

  /** Ready step 2: write the epochs durably. */
  writeEpochs(e: { accepted?: number; current?: number }): void {
    if (e.accepted !== undefined) {
      writeEpochFile(this.snapDir, ACCEPTED_EPOCH, e.accepted);
      this.epochs.accepted = e.accepted;
    }
    if (e.current !== undefined) {
      writeEpochFile(this.snapDir, CURRENT_EPOCH, e.current);
      this.epochs.current = e.current;
    }
  }

  /** Ready step 3: apply a committed txn (and count it towards the next snapshot). */
  apply(txn: LoggedTxn): ApplyResult {
    const result = this.tree.apply(txn.hdr, txn.body);
    this.log.committed(this.tree, txn);
    return result;
  }

  /** Ready step 4: hand a txn to the log; onDurable hears when it is durable. */
  append(txn: Txn): void {
    this.commits.append(txn);
  }

  /** The logged txns with from < zxid <= to, as logged (digests kept): what a DIFF replays. */
  logged(from: number, to: number): Generator<LoggedTxn> {
    return txnsAfter(this.logDir, from, to);
  }

  /**
   * Ready step 1 (TRUNC): drop every logged txn after `zxid`. The tree is
   * rebuilt from disk only when it had applied beyond `zxid`; otherwise it is
   * kept (the txns it has not applied yet are the core's to commit).
   */
  async truncate(zxid: number): Promise<void> {
    await this.dir.close();
    const cut = truncateLogTo(this.logDir, this.snapDir, zxid);
    this.logger.info(`truncated the log to ${zxidHex(zxid)}: ${cut.removedLogs.length} log files and ${cut.removedSnapshots.length} snapshots removed${cut.cut ? `, ${cut.cut.file} cut at ${cut.cut.offset}` : ''}`, {
      event: 'truncated',
      zxid: zxidHex(zxid),
      removedLogs: cut.removedLogs.length,
      removedSnapshots: cut.removedSnapshots.length,
    });
    const { dataDir, tree } = await DataDir.open(this.opts, this.logger, this.storageStats);
    this.dir = dataDir;
    if (this.tree.lastProcessedZxid > zxid) this.tree = tree;
    this.commits.reset(dataDir, zxid);
  }

  /**
   * SNAP: replace the state by `tree` (the leader's as of `zxid`), durably:
   * a snapshot at `zxid`, and nothing logged or snapshotted after it.
   */
  async install(tree: DataTree, zxid: number): Promise<void> {
    if (tree.lastProcessedZxid !== zxid) throw new Error(`snapshot to install is at ${zxidHex(tree.lastProcessedZxid)}, not ${zxidHex(zxid)}`);
    await this.dir.close();
    const path = await writeSnapshot(tree, zxid, this.snapDir);
    truncateLogTo(this.logDir, this.snapDir, zxid);
    this.logger.info(`installed the leader's snapshot at ${zxidHex(zxid)} as ${path}`, { event: 'snapshot-installed', zxid: zxidHex(zxid), nodes: tree.nodeCount });
    this.dir = (await DataDir.open(this.opts, this.logger, this.storageStats)).dataDir;
    this.tree = tree;
    this.commits.reset(this.dir, zxid);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.dir.close();
  }
}
