// Zab's wire format on the quorum port (ZooKeeper's QuorumPacket, Leader's
// packet constants, Learner/LearnerHandler data layouts), byte-compatible with
// ZooKeeper 3.8 peers.
//
// A packet is the jute record `int type, long zxid, buffer data, vector<Id>
// authinfo`, and packets follow each other with NO length prefix, so
// QuorumPacketDecoder works out each record's extent from its length fields
// as chunks arrive (resumably: no rescans, no copy of the whole buffer per
// chunk) and refuses a record larger than its limit. After a SNAP packet the
// leader writes the raw snapshot stream (ZKDatabase.serializeSnapshot: sessions,
// ACL table, nodes, "/") and the signature "BenWasHere", then packets resume;
// the decoder hands that stream out as it arrives, item by whole item, through
// a SnapStream (a Readable persistence's readSnapStream loads from at the same
// time, as ZooKeeper's Learner.syncWithLeader deserializes the snapshot
// straight off its socket), checks the signature, and decodes no further
// packet before it. What waits in a SnapStream is bounded: it takes no item
// while it holds its high-water mark, so the caller stops reading its socket
// until the loader has read (SnapStream.wanted).
//
// The data of each packet type has its own codec below; decoders check every
// value and the exact length and throw QuorumWireError on anything else.
//
// Exports: PacketType, packetName, QuorumPacket, ZXID_NONE_TYPES, encodePacket,
// QuorumPacketDecoder, SnapStream, SnapFeed, DEFAULT_MAX_PACKET_BYTES,
// DEFAULT_SNAP_HIGH_WATER, QuorumWireError, ZAB_PROTOCOL_VERSION,
// SNAP_SIGNATURE, and the data codecs: LearnerInfo (FOLLOWERINFO/OBSERVERINFO),
// LEADERINFO, ACKEPOCH, proposal data (PROPOSAL/INFORM/DIFF pairs), REQUEST,
// learner PING, REVALIDATE (both ways), NEWLEADER, COMMITANDACTIVATE,
// INFORMANDACTIVATE.

import { Readable } from 'node:stream';
import { JuteError, JuteReader, JuteWriter } from '../jute/archive.ts';
import { checkedZxid, ZxidError } from '../zxid.ts';
import { DEFAULT_MAX_BUFFER } from './constants.ts';
import { readId, writeId, type Id } from './records.ts';
import { decodePayload, payloadBytes, writePayload, type LoggedTxn } from './txn.ts';

/** Leader.java's packet constants. */
export const PacketType = {
  REQUEST: 1,
  PROPOSAL: 2,
  ACK: 3,
  COMMIT: 4,
  PING: 5,
  REVALIDATE: 6,
  SYNC: 7,
  INFORM: 8,
  COMMITANDACTIVATE: 9,
  NEWLEADER: 10,
  FOLLOWERINFO: 11,
  UPTODATE: 12,
  DIFF: 13,
  TRUNC: 14,
  SNAP: 15,
  OBSERVERINFO: 16,
  LEADERINFO: 17,
  ACKEPOCH: 18,
  INFORMANDACTIVATE: 19,
} as const;

const NAMES: Record<number, string> = Object.fromEntries(Object.entries(PacketType).map(([k, v]) => [v, k]));

export const packetName = (type: number): string => NAMES[type] ?? `UNKNOWN(${type})`;

/** The protocol version ZooKeeper 3.4+ peers send in LearnerInfo and LEADERINFO. */
export const ZAB_PROTOCOL_VERSION = 0x10000;

/** What the leader writes after the SNAP stream. */
export const SNAP_SIGNATURE = 'BenWasHere';

/**
 * ZooKeeper's BinaryInputArchive accepts a buffer of jute.maxbuffer plus
 * zookeeper.jute.maxbuffer.extrasize (by default jute.maxbuffer again); a
 * packet may be that plus its fixed fields and auth ids.
 */
export const DEFAULT_MAX_PACKET_BYTES = 2 * DEFAULT_MAX_BUFFER + 64 * 1024;

/**
 * What a SnapStream may hold before the decoder hands it no more items: the
 * loader reads in large bites, and a learner never holds more of the stream
 * than this (plus one item, at most a packet's limit) however fast its leader.
 */
export const DEFAULT_SNAP_HIGH_WATER = 4 << 20;

export class QuorumWireError extends Error {
  override name = 'QuorumWireError';
}

/** The packets ZooKeeper sends with zxid -1 ("none"); every other packet carries a real zxid. */
export const ZXID_NONE_TYPES: ReadonlySet<number> = new Set([PacketType.REQUEST, PacketType.REVALIDATE, PacketType.UPTODATE]);

export interface QuorumPacket {
  type: number;
  /** a zxid, or -1 in the ZXID_NONE_TYPES */
  zxid: number;
  data: Buffer | null;
  authinfo: Id[] | null;
}

export function encodePacket(p: QuorumPacket): Buffer {
  const w = new JuteWriter(32 + (p.data?.length ?? 0));
  writePacket(w, p);
  return w.take();
}

/** Append a packet's bytes to `w` (several packets in one buffer are what the peer reads one after another). */
export function writePacket(w: JuteWriter, p: QuorumPacket): void {
  w.int(p.type).long(p.zxid).buffer(p.data).vector(p.authinfo, writeId);
}

/** The packet in bytes[start, end). */
function decodePacket(bytes: Buffer, start: number, end: number): QuorumPacket {
  const r = new JuteReader(bytes, start, end);
  const type = r.int();
  if (NAMES[type] === undefined) throw new QuorumWireError(`unknown quorum packet type ${type}`);
  const zxid = checkedZxid(r.long(), packetName(type), ZXID_NONE_TYPES.has(type));
  const data = r.buffer();
  // Copied: a view would pin the whole socket chunk for as long as the proposal is kept.
  return { type, zxid, data: data && Buffer.from(data), authinfo: r.vector(readId) };
}

// ---------------------------------------------------------------- incremental decoding

/** Received chunks, consumed from the front; nothing is copied until a record spanning chunks is taken. */
class ByteQueue {
  private chunks: Buffer[] = [];
  /** index of the first unconsumed chunk (consumed ones are dropped in batches, not shifted one by one) */
  private head = 0;
  /** bytes of the first unconsumed chunk already consumed (it is not sliced per record) */
  private offset = 0;
  private size = 0;

  get length(): number {
    return this.size;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  /** The int32 at byte `at` (at + 4 ≤ length). */
  int32At(at: number): number {
    let i = this.head;
    let v = 0;
    at += this.offset;
    for (let k = 0; k < 4; k++, at++) {
      while (at >= this.chunks[i]!.length) at -= this.chunks[i++]!.length;
      v = v * 256 + this.chunks[i]![at]!;
    }
    return v | 0;
  }

  /**
   * Remove the first n bytes (n ≤ length) and decode them with `decode`,
   * which gets them in place when they lie in one chunk (else a copy).
   */
  decode<T>(n: number, decode: (bytes: Buffer, start: number, end: number) => T): T {
    const first = this.chunks[this.head]!;
    const start = this.offset;
    if (start + n > first.length) return decode(this.take(n), 0, n);
    this.size -= n;
    this.consume(first, n);
    return decode(first, start, start + n);
  }

  /** Remove and return the first n bytes (n ≤ length): a view when they lie in one chunk, else a copy. */
  take(n: number): Buffer {
    this.size -= n;
    const first = this.chunks[this.head]!;
    let out: Buffer;
    if (this.offset + n <= first.length) {
      out = first.subarray(this.offset, this.offset + n);
      this.consume(first, n);
    } else {
      out = Buffer.allocUnsafe(n);
      for (let at = 0; at < n; ) {
        const c = this.chunks[this.head]!;
        const k = Math.min(c.length - this.offset, n - at);
        c.copy(out, at, this.offset, this.offset + k);
        at += k;
        this.consume(c, k);
      }
    }
    return out;
  }

  private consume(chunk: Buffer, k: number): void {
    this.offset += k;
    if (this.offset < chunk.length) return;
    this.offset = 0;
    this.head++;
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }
}

/**
 * A record layout, as far as its extent goes: a number is that many fixed
 * bytes; 'bytes' is an int length and that many bytes (-1 = null); an array
 * is an int count and that many repetitions of the fields in it.
 */
type Field = number | 'bytes' | readonly Field[];

/**
 * Finds where one record ends, resuming where it stopped when more bytes
 * arrive; once it has found the end, it looks for the next record's.
 */
class Extent {
  private end = 0;
  /** the record's own frame, reused for every record */
  private readonly root: { fields: readonly Field[]; i: number; left: number };
  private readonly stack: { fields: readonly Field[]; i: number; left: number }[];

  constructor(
    layout: readonly Field[],
    private readonly what: string,
    private readonly max: number,
  ) {
    this.root = { fields: layout, i: 0, left: 1 };
    this.stack = [this.root];
  }

  /** The record's length once `q` holds all of it, else -1. */
  scan(q: ByteQueue): number {
    const stack = this.stack;
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.i === top.fields.length) {
        top.i = 0;
        if (--top.left <= 0) stack.pop();
        continue;
      }
      const f = top.fields[top.i]!;
      if (typeof f === 'number') {
        this.grow(f);
        top.i++;
        continue;
      }
      if (q.length < this.end + 4) return -1;
      const n = q.int32At(this.end);
      if (n < -1) throw new QuorumWireError(`${this.what}: negative ${f === 'bytes' ? 'length' : 'count'} ${n} at byte ${this.end}`);
      this.grow(4);
      top.i++;
      if (f === 'bytes') this.grow(Math.max(n, 0));
      else if (n > 0) {
        // Refuse at once a count whose items cannot all fit, rather than wait for them.
        if (this.end + n * minSize(f) > this.max) throw new QuorumWireError(`${this.what}: count ${n} at byte ${this.end - 4} cannot fit in the limit of ${this.max} bytes`);
        stack.push({ fields: f, i: 0, left: n });
      }
    }
    if (q.length < this.end) return -1;
    const length = this.end;
    this.end = 0;
    this.root.left = 1;
    stack.push(this.root);
    return length;
  }

  private grow(n: number): void {
    this.end += n;
    if (this.end > this.max) throw new QuorumWireError(`${this.what} of at least ${this.end} bytes exceeds the limit of ${this.max} bytes`);
  }
}

/** The fewest bytes a record of this layout takes (every length or count field present). */
const minSize = (fields: readonly Field[]): number => fields.reduce<number>((sum, f) => sum + (typeof f === 'number' ? f : 4), 0);

const PACKET_LAYOUT: readonly Field[] = [4 + 8, 'bytes', ['bytes', 'bytes']];

/** The snapshot stream, one item at a time (SerializeUtils.serializeSnapshot, DataTree.serialize). */
const SNAP_ITEM = {
  sessionCount: [4],
  sessions: [8 + 4],
  aclCount: [4],
  acls: [8, [4, 'bytes', 'bytes']],
  path: ['bytes'],
  /** after the path: data, ACL ref, StatPersisted (4 longs, 3 ints, 2 longs) */
  node: ['bytes', 8 + 60],
  signature: ['bytes'],
} satisfies Record<string, readonly Field[]>;

type SnapPhase = keyof typeof SNAP_ITEM;

const END_OF_NODES = Buffer.from([0, 0, 0, 1, 0x2f]); // ustring "/"

/**
 * A SNAP's snapshot stream while it arrives: the items QuorumPacketDecoder
 * has scanned (sessions, ACL table, nodes, "/", then the signature once it
 * was found right), in order, for persistence's readSnapStream to load
 * meanwhile. It ends after the signature; it is destroyed with a
 * QuorumWireError when the stream proves bad or the connection goes first.
 */
export class SnapStream extends Readable {
  /** bytes of the snapshot handed over so far (the signature not counted) */
  bytes = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(highWaterMark: number) {
    super({ highWaterMark });
    // Its loader hears of a failure through its own listener, or `errored` when it next reads;
    // between reads it has none, and an unheard 'error' must not take the process down.
    this.on('error', () => {});
    this.once('close', () => this.wake());
  }

  /** It holds its high-water mark: it takes no more items until read. */
  get full(): boolean {
    return this.readableLength >= this.readableHighWaterMark;
  }

  /** Resolves once the loader reads again (or the stream is gone): time to feed it again. */
  wanted(): Promise<void> {
    if (!this.full || this.destroyed) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** The loader asks for more (Readable calls this when what it holds falls below the mark). */
  override _read(): void {
    this.wake();
  }

  private wake(): void {
    for (const resolve of this.waiting.splice(0)) resolve();
  }
}

/**
 * Where feedSnapStream() left the snapshot stream: 'more' — every whole item
 * that arrived went, more bytes are needed; 'full' — the SnapStream holds its
 * high-water mark, feed it again once its wanted() resolved; 'done' — the
 * signature arrived and was right, the SnapStream has ended, and next()
 * decodes packets again.
 */
export type SnapFeed = 'more' | 'full' | 'done';

/**
 * Feed it socket chunks with push(); next() returns each complete packet in
 * order, or null when the next one has not fully arrived. Throws
 * QuorumWireError on garbage or on a record above `maxPacketBytes`; the
 * connection is then unusable. After a SNAP packet, snapStream is its
 * snapshot stream: call feedSnapStream() as bytes arrive until it says
 * 'done' (next() refuses to run before that), and abortSnap() if the
 * connection ends first.
 */
export class QuorumPacketDecoder {
  private readonly q = new ByteQueue();
  /** where the next packet ends */
  private readonly packet: Extent;
  /** where the snapshot stream's next item ends */
  private item: Extent | null = null;
  private snap: { phase: SnapPhase; left: number; stream: SnapStream } | null = null;

  constructor(
    private readonly maxPacketBytes = DEFAULT_MAX_PACKET_BYTES,
    private readonly snapHighWater = DEFAULT_SNAP_HIGH_WATER,
  ) {
    this.packet = new Extent(PACKET_LAYOUT, 'quorum packet', maxPacketBytes);
  }

  push(chunk: Buffer): void {
    this.q.push(chunk);
  }

  /** Bytes received and not yet decoded (nor handed to a SnapStream). */
  get buffered(): number {
    return this.q.length;
  }

  /** The snapshot stream of the SNAP packet next() returned, until all of it has been fed (then null). */
  get snapStream(): SnapStream | null {
    return this.snap?.stream ?? null;
  }

  next(): QuorumPacket | null {
    if (this.snap) throw new QuorumWireError('a SNAP packet was received: feed its snapshot stream (feedSnapStream) before the next packet');
    const n = this.packet.scan(this.q);
    if (n < 0) return null;
    let p: QuorumPacket;
    try {
      p = this.q.decode(n, decodePacket);
    } catch (e) {
      throw wireError('quorum packet', e);
    }
    if (p.type === PacketType.SNAP) this.snap = { phase: 'sessionCount', left: 0, stream: new SnapStream(this.snapHighWater) };
    return p;
  }

  /**
   * After SNAP: move the whole items of the snapshot stream that have arrived
   * into snapStream while it is below its high-water mark (so it never holds
   * more than the mark plus one item). A bad item (a negative count, one
   * above the packet limit, a wrong signature) throws QuorumWireError and
   * destroys the SnapStream with it, so that its loader fails alike.
   */
  feedSnapStream(): SnapFeed {
    const s = this.snap;
    if (!s) throw new QuorumWireError('no SNAP packet is waiting for its snapshot stream');
    try {
      return this.feed(s);
    } catch (e) {
      this.snap = null;
      s.stream.destroy(e as Error);
      throw e;
    }
  }

  /** The connection ended (`reason`): a snapshot stream still arriving fails, and its loader with it. */
  abortSnap(reason: string): void {
    const s = this.snap;
    if (!s) return;
    this.snap = null;
    s.stream.destroy(new QuorumWireError(`snapshot stream: ${reason} after ${s.stream.bytes} bytes of it`));
  }

  private feed(s: NonNullable<QuorumPacketDecoder['snap']>): SnapFeed {
    const out = s.stream;
    for (;;) {
      if (out.full) return 'full';
      this.item ??= new Extent(SNAP_ITEM[s.phase], `snapshot stream (${s.phase})`, this.maxPacketBytes);
      const n = this.item.scan(this.q);
      if (n < 0) return 'more';
      this.item = null;
      const item = this.q.take(n);
      switch (s.phase) {
        case 'sessionCount':
        case 'aclCount': {
          const count = item.readInt32BE(0);
          if (count < 0) throw new QuorumWireError(`snapshot stream: negative ${s.phase === 'aclCount' ? 'ACL table size' : 'session count'} ${count}`);
          s.left = count;
          s.phase = s.phase === 'aclCount' ? 'acls' : 'sessions';
          break;
        }
        case 'sessions':
        case 'acls':
          s.left--;
          break;
        case 'path':
          if (item.equals(END_OF_NODES)) s.phase = 'signature';
          else s.phase = 'node';
          break;
        case 'node':
          s.phase = 'path';
          break;
        case 'signature': {
          const sig = item.toString('utf8', 4);
          if (sig !== SNAP_SIGNATURE) throw new QuorumWireError(`snapshot stream: signature ${JSON.stringify(sig)}, expected "${SNAP_SIGNATURE}"`);
          this.snap = null;
          out.push(item);
          out.push(null);
          return 'done';
        }
      }
      out.bytes += n;
      out.push(item);
      if ((s.phase === 'sessions' || s.phase === 'acls') && s.left === 0) s.phase = s.phase === 'sessions' ? 'aclCount' : 'path';
    }
  }
}

function wireError(what: string, e: unknown): Error {
  if (e instanceof QuorumWireError) return e;
  if (e instanceof JuteError || e instanceof ZxidError || e instanceof RangeError) return new QuorumWireError(`${what}: ${e.message}`);
  return e as Error;
}

/** Decode `data` with `read`, which must consume it exactly. */
function decodeData<T>(what: string, data: Buffer | null, read: (r: JuteReader) => T): T {
  if (data === null) throw new QuorumWireError(`${what}: no data`);
  const r = new JuteReader(data);
  try {
    const v = read(r);
    if (r.remaining !== 0) throw new QuorumWireError(`${what}: ${r.remaining} unexpected bytes after the data`);
    return v;
  } catch (e) {
    throw wireError(what, e);
  }
}

const encode = (write: (w: JuteWriter) => void): Buffer => {
  const w = new JuteWriter(64);
  write(w);
  return w.take();
};

/** A server id (myid): a non-negative long that fits in a JS number. */
function readSid(r: JuteReader, what: string): number {
  const sid = r.long();
  if (sid < 0 || !Number.isSafeInteger(sid)) throw new QuorumWireError(`${what}: server id ${sid} out of range`);
  return sid;
}

// ---------------------------------------------------------------- FOLLOWERINFO / OBSERVERINFO

/** LearnerInfo; the packet's zxid is the learner's acceptedEpoch << 32. */
export interface LearnerInfo {
  serverId: number;
  protocolVersion: number;
  /** the learner's quorum config version (a zxid); absent from pre-3.5 learners */
  configVersion: number | null;
}

export const encodeLearnerInfo = (li: LearnerInfo): Buffer =>
  encode((w) => {
    w.long(li.serverId).int(li.protocolVersion);
    if (li.configVersion !== null) w.long(li.configVersion);
  });

/** Accepts the three lengths ZooKeeper's LearnerHandler accepts: 8 (id only; version 0x1), 12, 20 bytes. */
export function decodeLearnerInfo(data: Buffer | null): LearnerInfo {
  return decodeData('LearnerInfo', data, (r) => {
    const len = r.remaining;
    if (len !== 8 && len !== 12 && len !== 20) throw new QuorumWireError(`LearnerInfo: ${len} bytes, expected 8, 12 or 20`);
    const serverId = readSid(r, 'LearnerInfo');
    const protocolVersion = len >= 12 ? r.int() : 0x1;
    const configVersion = len === 20 ? checkedZxid(r.long(), 'LearnerInfo configVersion') : null;
    return { serverId, protocolVersion, configVersion };
  });
}

// ---------------------------------------------------------------- LEADERINFO / ACKEPOCH

/** LEADERINFO data: the leader's protocol version; the packet's zxid is newEpoch << 32. */
export const encodeLeaderInfo = (protocolVersion = ZAB_PROTOCOL_VERSION): Buffer => encode((w) => w.int(protocolVersion));

export const decodeLeaderInfo = (data: Buffer | null): number => decodeData('LEADERINFO', data, (r) => r.int());

/**
 * ACKEPOCH data: the learner's currentEpoch, or -1 when it had already
 * accepted the proposed epoch; the packet's zxid is its last logged zxid.
 */
export const encodeAckEpoch = (currentEpoch: number): Buffer => encode((w) => w.int(currentEpoch));

export function decodeAckEpoch(data: Buffer | null): number {
  return decodeData('ACKEPOCH', data, (r) => {
    const epoch = r.int();
    if (epoch < -1) throw new QuorumWireError(`ACKEPOCH: epoch ${epoch}`);
    return epoch;
  });
}

// ---------------------------------------------------------------- PROPOSAL / INFORM

/** PROPOSAL and INFORM data: TxnHeader + txn record + TxnDigest (ZooKeeper's Util.marshallTxnEntry). */
export const encodeProposal = (txn: LoggedTxn): Buffer => payloadBytes(txn);

export function decodeProposal(data: Buffer | null, what = 'PROPOSAL'): LoggedTxn {
  if (data === null) throw new QuorumWireError(`${what}: no data`);
  try {
    const txn = decodePayload(data);
    checkedZxid(txn.hdr.zxid, `${what} txn`);
    return txn;
  } catch (e) {
    throw wireError(what, e);
  }
}

// ---------------------------------------------------------------- COMMITANDACTIVATE / INFORMANDACTIVATE

/** COMMITANDACTIVATE data: the leader the new configuration designates. */
export const encodeCommitAndActivate = (suggestedLeaderId: number): Buffer => encode((w) => w.long(suggestedLeaderId));

export const decodeCommitAndActivate = (data: Buffer | null): number => decodeData('COMMITANDACTIVATE', data, (r) => readSid(r, 'COMMITANDACTIVATE'));

/** INFORMANDACTIVATE data: the designated leader, then INFORM data. */
export const encodeInformAndActivate = (suggestedLeaderId: number, txn: LoggedTxn): Buffer =>
  encode((w) => {
    w.long(suggestedLeaderId);
    writePayload(w, txn);
  });

export function decodeInformAndActivate(data: Buffer | null): { suggestedLeaderId: number; txn: LoggedTxn } {
  return decodeData('INFORMANDACTIVATE', data, (r) => {
    const suggestedLeaderId = readSid(r, 'INFORMANDACTIVATE');
    return { suggestedLeaderId, txn: decodeProposal(r.rest(), 'INFORMANDACTIVATE') };
  });
}

// ---------------------------------------------------------------- REQUEST

/** A client request a learner forwards; `request` is the request record as the client sent it (no header). */
export interface ForwardedRequest {
  sessionId: bigint;
  cxid: number;
  type: number;
  request: Buffer;
}

export const encodeRequest = (f: ForwardedRequest): Buffer => encode((w) => w.bigLong(f.sessionId).int(f.cxid).int(f.type).raw(f.request));

export const decodeRequest = (data: Buffer | null): ForwardedRequest =>
  decodeData('REQUEST', data, (r) => ({ sessionId: r.bigLong(), cxid: r.int(), type: r.int(), request: r.rest() }));

// ---------------------------------------------------------------- PING / REVALIDATE

/** A session a learner has seen activity on since its last PING reply, with its timeout. */
export interface SessionTouch {
  sessionId: bigint;
  timeout: number;
}

/** A learner's PING reply data: (long sessionId, int timeout)* — Learner.ping's touch table. Empty list: zero bytes. */
export const encodePingSessions = (touches: readonly SessionTouch[]): Buffer =>
  encode((w) => {
    for (const t of touches) w.bigLong(t.sessionId).int(t.timeout);
  });

/** The leader's PING carries no data (null reads as no sessions). */
export function decodePingSessions(data: Buffer | null): SessionTouch[] {
  if (data === null) return [];
  return decodeData('PING', data, (r) => {
    if (r.remaining % 12 !== 0) throw new QuorumWireError(`PING: ${r.remaining} bytes is not a whole number of (sessionId, timeout) entries`);
    const out: SessionTouch[] = [];
    while (r.remaining > 0) {
      const sessionId = r.bigLong();
      const timeout = r.int();
      if (timeout < 0) throw new QuorumWireError(`PING: session 0x${BigInt.asUintN(64, sessionId).toString(16)} has timeout ${timeout}`);
      out.push({ sessionId, timeout });
    }
    return out;
  });
}

/** REVALIDATE from a learner: a session reattaching to it, with the timeout it asks for. */
export const encodeRevalidate = (t: SessionTouch): Buffer => encode((w) => w.bigLong(t.sessionId).int(t.timeout));

export function decodeRevalidate(data: Buffer | null): SessionTouch {
  return decodeData('REVALIDATE', data, (r) => {
    const t = { sessionId: r.bigLong(), timeout: r.int() };
    if (t.timeout < 0) throw new QuorumWireError(`REVALIDATE: timeout ${t.timeout}`);
    return t;
  });
}

/** REVALIDATE answer from the leader: whether the session is still alive. */
export interface RevalidateReply {
  sessionId: bigint;
  valid: boolean;
}

export const encodeRevalidateReply = (v: RevalidateReply): Buffer => encode((w) => w.bigLong(v.sessionId).bool(v.valid));

export function decodeRevalidateReply(data: Buffer | null): RevalidateReply {
  return decodeData('REVALIDATE reply', data, (r) => {
    const sessionId = r.bigLong();
    const b = r.byte();
    if (b !== 0 && b !== 1) throw new QuorumWireError(`REVALIDATE reply: boolean byte ${b}`);
    return { sessionId, valid: b === 1 };
  });
}

// ---------------------------------------------------------------- NEWLEADER

/** NEWLEADER data: the leader's quorum config as text (server.N=… lines, version=<hex>); null from pre-3.5 leaders. */
export const encodeNewLeader = (config: string | null): Buffer | null => (config === null ? null : Buffer.from(config, 'utf8'));

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export function decodeNewLeader(data: Buffer | null): string | null {
  if (data === null) return null;
  try {
    return strictUtf8.decode(data);
  } catch {
    throw new QuorumWireError('NEWLEADER: config is not valid UTF-8');
  }
}
