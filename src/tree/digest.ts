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

// CRC-32 (zlib's) kept in its inverted running form `c` (c = ~crc). The stat
// fields and short paths are fed in here a byte at a time: cheaper than
// writing them into a buffer for zlib, whose per-call cost is what a node's
// few dozen bytes would mostly pay. Data beyond SHORT bytes goes to zlib.
const TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  TABLE[n] = c;
}
const SHORT = 64;

const crcByte = (c: number, b: number): number => TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);

function crcInt(c: number, v: number): number {
  c = crcByte(c, v >>> 24);
  c = crcByte(c, v >>> 16);
  c = crcByte(c, v >>> 8);
  return crcByte(c, v);
}

/** A Java long held as a number (exact below 2^53), big-endian. */
function crcLong(c: number, v: number): number {
  const hi = Math.floor(v / TWO32);
  return crcInt(crcInt(c, hi | 0), (v - hi * TWO32) | 0);
}

function crcBytes(c: number, b: Uint8Array): number {
  if (b.length > SHORT) return ~crc32(b, ~c >>> 0);
  for (let i = 0; i < b.length; i++) c = crcByte(c, b[i]!);
  return c;
}

/** The CRC-32 of a path's UTF-8 bytes. */
function pathCrc(path: string): number {
  let c = -1;
  for (let i = 0; i < path.length; i++) {
    const ch = path.charCodeAt(i);
    if (ch >= 0x80) return crc32(path);
    c = crcByte(c, ch);
  }
  return ~c >>> 0;
}

/**
 * The digest of one node (an unsigned 32-bit value), or 0 for nodes under
 * /zookeeper/. The root may be given as "/" or "": the CRC-32 of its path,
 * then the data and the 60 stat bytes.
 */
export function nodeDigest(path: string, node: DigestedFields): number {
  if (path.startsWith(EXCLUDED_PREFIX)) return 0;
  let c = ~(path === '/' ? 0 : pathCrc(path));
  if (node.data !== null) c = crcBytes(c, node.data);
  c = crcLong(c, node.czxid);
  c = crcLong(c, node.mzxid);
  c = crcLong(c, node.pzxid);
  c = crcLong(c, node.ctime);
  c = crcLong(c, node.mtime);
  c = crcInt(c, node.version);
  c = crcInt(c, node.cversion);
  c = crcInt(c, node.aversion);
  const owner = node.ephemeralOwner;
  if (owner === 0n) c = crcInt(crcInt(c, 0), 0);
  else c = crcInt(crcInt(c, Number(BigInt.asIntN(32, owner >> 32n))), Number(BigInt.asIntN(32, owner)));
  return ~c >>> 0;
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
