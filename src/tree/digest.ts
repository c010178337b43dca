// ZooKeeper's tree digest (DigestCalculator version 2 + AdHash), so that a
// snapshot or a txn can carry the same digest a Java peer computes, and the
// check a peer makes of the digest a txn carries (DataTree.compareDigest).
//
// Node digest: CRC-32 over the path's UTF-8 bytes (the root is ""), the data
// when not null, then 60 bytes: long czxid, mzxid, pzxid, ctime, mtime,
// int version, cversion (persisted), aversion, long ephemeralOwner (raw).
// Tree digest: 64-bit wrapping sum of the node digests of every node except
// those under "/zookeeper/" ("/zookeeper" itself counts). DataTree keeps it
// as nodes change; treeDigest() walks the tree for it (tests, tools).

import { crc32 } from 'node:zlib';
import type { Logger } from '../log.ts';
import type { LoggedTxn, TxnDigest } from '../proto/txn.ts';
import { zxidHex } from '../zxid.ts';
import type { DataTree, ZNode } from './datatree.ts';

export const DIGEST_VERSION = 2;

/** Paths under this prefix are left out of the digest. */
const EXCLUDED_PREFIX = '/zookeeper/';

const TWO32 = 0x100000000;

/** What a node digest covers besides the path: a ZNode, or prep's view of a node as it will be. */
export type DigestedFields = Pick<ZNode, 'data' | 'czxid' | 'mzxid' | 'pzxid' | 'ctime' | 'mtime' | 'version' | 'cversion' | 'aversion' | 'ephemeralOwner'>;

/** Writes the 60 stat bytes of a node digest into `out` (at least 60 bytes). */
function statBytes(node: DigestedFields, out: Buffer): void {
  putLong(out, 0, node.czxid);
  putLong(out, 8, node.mzxid);
  putLong(out, 16, node.pzxid);
  putLong(out, 24, node.ctime);
  putLong(out, 32, node.mtime);
  out.writeInt32BE(node.version | 0, 40);
  out.writeInt32BE(node.cversion | 0, 44);
  out.writeInt32BE(node.aversion | 0, 48);
  out.writeBigInt64BE(BigInt.asIntN(64, node.ephemeralOwner), 52);
}

function putLong(out: Buffer, at: number, v: number): void {
  const hi = Math.floor(v / TWO32);
  out.writeInt32BE(hi | 0, at);
  out.writeUInt32BE(v - hi * TWO32, at + 4);
}

const scratch = Buffer.alloc(60);

/** True when the node at `path` takes part in the tree digest. */
export const countsInDigest = (path: string): boolean => !path.startsWith(EXCLUDED_PREFIX);

/**
 * The digest of one node (an unsigned 32-bit value), or 0 for nodes under
 * /zookeeper/. `path` may be given as "/" or "" for the root, or as its UTF-8
 * bytes (then the caller has already left out excluded paths).
 */
export function nodeDigest(path: string | Uint8Array, node: DigestedFields): number {
  let crc: number;
  if (typeof path === 'string') {
    if (!countsInDigest(path)) return 0;
    crc = path === '/' ? 0 : crc32(path);
  } else {
    crc = crc32(path);
  }
  return finishNodeDigest(crc, node);
}

/** A node's digest, given the CRC-32 of its path: the data and the stat fields follow. */
export function finishNodeDigest(pathCrc: number, node: DigestedFields): number {
  const crc = node.data !== null && node.data.length > 0 ? crc32(node.data, pathCrc) : pathCrc;
  statBytes(node, scratch);
  return crc32(scratch, crc);
}

/** Sums node digests the way AdHash does (a wrapping signed 64-bit sum). */
export class DigestSum {
  private big = 0n;
  /** exact while below 2^53: at most 2^20 values of < 2^32 each */
  private small = 0;
  private pending = 0;

  add(d: number): void {
    this.small += d;
    if (++this.pending === 0x100000) this.fold();
  }

  subtract(d: number): void {
    this.small -= d;
    if (++this.pending === 0x100000) this.fold();
  }

  private fold(): void {
    this.big = BigInt.asIntN(64, this.big + BigInt(this.small));
    this.small = 0;
    this.pending = 0;
  }

  /** The digest as Java's signed long. */
  get value(): bigint {
    this.fold();
    return this.big;
  }
}

/** The digest of the whole tree as it is now (a synchronous walk of every node). */
export function treeDigest(tree: DataTree): bigint {
  const sum = new DigestSum();
  const root = tree.get('/');
  if (!root) return 0n;
  sum.add(nodeDigest('/', root));
  const stack: string[] = [];
  for (const c of root.children) stack.push(`/${c}`);
  while (stack.length > 0) {
    const path = stack.pop()!;
    const node = tree.get(path);
    if (!node) continue;
    sum.add(nodeDigest(path, node));
    for (const c of node.children) stack.push(`${path}/${c}`);
  }
  return sum.value;
}

/** How long ZooKeeper's DataTree rate-limits its "Digests are not matching" warning (RateLogger, 15 min). */
const MISMATCH_LOG_INTERVAL_MS = 15 * 60 * 1000;
const MISMATCH_MESSAGE = 'Digests are not matching. Value is Zxid.';

/**
 * A peer's check of the TxnDigest each txn carries against its own tree once
 * the txn is applied (ZooKeeper's DataTree.compareDigest): a txn without a
 * digest, or with one of another version, is not compared. A mismatch counts
 * (mntr's zk_digest_mismatches_count) and is logged as ZooKeeper logs it: the
 * first one with the txn at ERROR; each at WARN, rate-limited to one line per
 * 15 minutes with the count of the others when the run ends.
 */
export class DigestCheck {
  mismatches = 0;
  private firstLogged = false;
  /** mismatches not logged yet since the last WARN line, and the last zxid among them */
  private unlogged = 0;
  private lastZxid = 0;
  private loggedAt = -Infinity;

  constructor(
    private readonly logger: Pick<Logger, 'warn' | 'error'>,
    private readonly now: () => number = Date.now,
  ) {}

  /** After `txn` was applied to `tree`: false when its digest is not the tree's. */
  check(tree: DataTree, txn: LoggedTxn): boolean {
    const expected = txn.digest;
    if (!expected || expected.version !== DIGEST_VERSION) return true;
    const actual = tree.digest;
    if (actual === BigInt.asIntN(64, expected.treeDigest)) {
      this.flush();
      return true;
    }
    this.mismatches++;
    const zxid = txn.hdr.zxid;
    if (!this.firstLogged) {
      this.firstLogged = true;
      this.logger.error(`First digest mismatch on txn: ${zxidHex(zxid)} (type ${txn.hdr.type}, session 0x${txn.hdr.clientId.toString(16)}, cxid ${txn.hdr.cxid}), expected digest is ${describe(expected)}, actual digest is ${actual}`);
    }
    const now = this.now();
    if (now - this.loggedAt >= MISMATCH_LOG_INTERVAL_MS) {
      this.flush();
      this.loggedAt = now;
      this.logger.warn(`Message:${MISMATCH_MESSAGE} Value:${zxid}`);
    } else {
      this.unlogged++;
      this.lastZxid = zxid;
    }
    return false;
  }

  /** A matching digest ends a run of mismatches: say how many went unlogged. */
  private flush(): void {
    if (this.unlogged === 1) this.logger.warn(`Message: ${MISMATCH_MESSAGE} Value:${this.lastZxid}`);
    else if (this.unlogged > 1) this.logger.warn(`[${this.unlogged} times] Message: ${MISMATCH_MESSAGE} Last value:${this.lastZxid}`);
    this.unlogged = 0;
    this.loggedAt = -Infinity;
  }
}

const describe = (d: TxnDigest): string => `{version ${d.version}, treeDigest ${BigInt.asIntN(64, d.treeDigest)}}`;
