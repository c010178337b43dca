// The election port's wire format (ZooKeeper's QuorumCnxManager and FastLeaderElection):
//
//   connection header, once, from the dialling peer:
//     long protocolVersion (-65536 = V1, -65535 = V2), long sid, int len (1..2048),
//     len bytes "host:port" (V2 may list several, '|'-separated)
//   or, from peers before 3.5, just: long sid (>= 0). An observer without an id sends
//   sid Long.MAX_VALUE.
//   then messages both ways: int len (1..524288), len bytes of payload.
//
//   notification payload (format version 2):
//     int state, long leader, long zxid, long electionEpoch, long peerEpoch,
//     int version (2), int configLen, configLen bytes of config text.
//   Older peers send 28 bytes (no peerEpoch: it is the zxid's epoch) or 40 (no version).
//
// Decoders check every value and throw ElectionWireError on anything else; they never read
// outside the bytes given. Longs are JS numbers: safe integers, or Long.MIN_VALUE (NO_VOTE).

import { NO_VOTE, PeerState, type Notification } from '../zab/election.ts';

export class ElectionWireError extends Error {
  override name = 'ElectionWireError';
}

export const PROTOCOL_V1 = -65536;
export const PROTOCOL_V2 = -65535;
/** the longest address text ZooKeeper accepts in a connection header */
export const MAX_ADDRESS_BYTES = 2048;
/** QuorumCnxManager.PACKETMAXSIZE */
export const MAX_MESSAGE_BYTES = 512 * 1024;
export const NOTIFICATION_VERSION = 2;
/** QuorumPeer.OBSERVER_ID: the sid an observer without an id sends */
const OBSERVER_ID = 2n ** 63n - 1n;

export interface PeerAddr {
  host: string;
  port: number;
}

export interface ConnectHeader {
  /** PROTOCOL_V1, PROTOCOL_V2, or null for a pre-3.5 peer that sent only its id */
  protocolVersion: number | null;
  /** null for an observer without an id */
  sid: number | null;
  /** the sender's election address(es); empty from a pre-3.5 peer */
  addresses: PeerAddr[];
}

function readLong(buf: Buffer, at: number, what: string): number {
  const v = buf.readBigInt64BE(at);
  const n = Number(v);
  if (!Number.isSafeInteger(n) && n !== NO_VOTE) throw new ElectionWireError(`${what} ${v} is out of range`);
  return n;
}

function writeLong(buf: Buffer, at: number, n: number, what: string): void {
  if (!Number.isSafeInteger(n) && n !== NO_VOTE) throw new ElectionWireError(`${what} ${n} is not a 64-bit integer`);
  buf.writeBigInt64BE(BigInt(n), at);
}

const hostText = (h: string) => (h.includes(':') ? `[${h}]` : h);

export function encodeConnectHeader(sid: number, addresses: PeerAddr[], protocolVersion = addresses.length > 1 ? PROTOCOL_V2 : PROTOCOL_V1): Buffer {
  if (addresses.length === 0 || (addresses.length > 1 && protocolVersion !== PROTOCOL_V2)) {
    throw new ElectionWireError(`protocol ${protocolVersion} cannot carry ${addresses.length} addresses`);
  }
  const text = Buffer.from(addresses.map((a) => `${hostText(a.host)}:${a.port}`).join('|'), 'utf8');
  if (text.length > MAX_ADDRESS_BYTES) throw new ElectionWireError(`address text of ${text.length} bytes exceeds ${MAX_ADDRESS_BYTES}`);
  const out = Buffer.alloc(20 + text.length);
  out.writeBigInt64BE(BigInt(protocolVersion), 0);
  writeLong(out, 8, sid, 'sid');
  out.writeInt32BE(text.length, 16);
  text.copy(out, 20);
  return out;
}

function parseAddress(text: string): PeerAddr {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new ElectionWireError(`badly formed address '${text}' in connection header`);
  return { host: m[1] ?? m[2], port };
}

/**
 * The connection header at the start of `buf` and its length in bytes, or null when more
 * bytes are needed. Throws ElectionWireError on a header ZooKeeper would refuse.
 */
export function decodeConnectHeader(buf: Buffer): { header: ConnectHeader; length: number } | null {
  if (buf.length < 8) return null;
  const sidAt = (at: number) => (buf.readBigInt64BE(at) === OBSERVER_ID ? null : readLong(buf, at, 'sid'));
  const first = buf.readBigInt64BE(0);
  if (first >= 0n) return { header: { protocolVersion: null, sid: sidAt(0), addresses: [] }, length: 8 };
  const protocolVersion = Number(first);
  if (protocolVersion !== PROTOCOL_V1 && protocolVersion !== PROTOCOL_V2) {
    throw new ElectionWireError(`unknown election protocol version ${first}`);
  }
  if (buf.length < 20) return null;
  if (buf.readBigInt64BE(8) < 0n) throw new ElectionWireError(`negative sid ${buf.readBigInt64BE(8)} in connection header`);
  const sid = sidAt(8);
  const len = buf.readInt32BE(16);
  if (len <= 0 || len > MAX_ADDRESS_BYTES) throw new ElectionWireError(`unreasonable address length ${len} in connection header`);
  if (buf.length < 20 + len) return null;
  const text = buf.subarray(20, 20 + len).toString('utf8');
  const addresses = text.split('|').map(parseAddress);
  if (protocolVersion === PROTOCOL_V1 && addresses.length > 1) throw new ElectionWireError('several addresses need protocol version 2');
  return { header: { protocolVersion, sid, addresses }, length: 20 + len };
}

/** The payload of a notification (format version 2, with config text). `from` is not sent. */
export function encodeNotification(n: Omit<Notification, 'from'>): Buffer {
  const config = Buffer.from(n.config ?? '', 'utf8');
  const out = Buffer.alloc(44 + config.length);
  out.writeInt32BE(n.state, 0);
  writeLong(out, 4, n.vote.leader, 'leader');
  writeLong(out, 12, n.vote.zxid, 'zxid');
  writeLong(out, 20, n.round, 'round');
  writeLong(out, 28, n.vote.peerEpoch, 'peer epoch');
  out.writeInt32BE(NOTIFICATION_VERSION, 36);
  out.writeInt32BE(config.length, 40);
  config.copy(out, 44);
  if (out.length > MAX_MESSAGE_BYTES) throw new ElectionWireError(`notification of ${out.length} bytes exceeds ${MAX_MESSAGE_BYTES}`);
  return out;
}

/** A notification payload from peer `from`; any of ZooKeeper's three layouts. */
export function decodeNotification(buf: Buffer, from: number): Notification {
  if (buf.length < 28) throw new ElectionWireError(`notification of ${buf.length} bytes is shorter than 28`);
  if (buf.length > 28 && buf.length < 40) throw new ElectionWireError(`notification of ${buf.length} bytes: neither 28 nor at least 40`);
  const state = buf.readInt32BE(0);
  if (state < PeerState.looking || state > PeerState.observing) throw new ElectionWireError(`unknown peer state ${state} in notification`);
  const leader = readLong(buf, 4, 'leader');
  const zxid = readLong(buf, 12, 'zxid');
  const round = readLong(buf, 20, 'round');
  // 28-byte notices predate peerEpoch: it is the epoch in the zxid's high 32 bits.
  const peerEpoch = buf.length === 28 ? buf.readInt32BE(12) : readLong(buf, 28, 'peer epoch');
  const version = buf.length > 40 ? buf.readInt32BE(36) : 0;
  const n: Notification = { from, state, vote: { leader, zxid, peerEpoch }, round, version };
  if (version > 1) {
    if (buf.length < 44) throw new ElectionWireError(`notification version ${version} of ${buf.length} bytes has no config length`);
    const len = buf.readInt32BE(40);
    if (len < 0 || 44 + len > buf.length) throw new ElectionWireError(`config length ${len} does not fit a notification of ${buf.length} bytes`);
    n.config = buf.subarray(44, 44 + len).toString('utf8');
  }
  return n;
}

/** `int len` + payload, as every election message travels. */
export function frame(payload: Buffer): Buffer {
  if (payload.length < 1 || payload.length > MAX_MESSAGE_BYTES) throw new ElectionWireError(`message of ${payload.length} bytes is out of range`);
  const out = Buffer.alloc(4 + payload.length);
  out.writeInt32BE(payload.length, 0);
  payload.copy(out, 4);
  return out;
}

/** Splits a byte stream into message payloads; a bad length throws (the connection is then useless). */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: Buffer[] = [];
    while (this.pending.length >= 4) {
      const len = this.pending.readInt32BE(0);
      if (len < 1 || len > MAX_MESSAGE_BYTES) throw new ElectionWireError(`message length ${len} is out of range (1..${MAX_MESSAGE_BYTES})`);
      if (this.pending.length < 4 + len) break;
      out.push(this.pending.subarray(4, 4 + len));
      this.pending = this.pending.subarray(4 + len);
    }
    return out;
  }
}
