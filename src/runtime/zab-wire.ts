// ZabMessage (what the pure core speaks, src/zab/messages.ts) ↔ QuorumPacket
// (what ZooKeeper 3.8 peers put on the quorum port, src/proto/quorum.ts): the
// packet type, zxid and data of each message exactly as ZooKeeper's Learner,
// LearnerHandler and Leader encode them. 'snap' maps to the SNAP packet only;
// its snapshot stream and 'replay' are the runtime's (quorum-net.ts).
//
// Fields the core does not model travel as ZooKeeper's own peers expect:
// LearnerInfo names this server, protocol 0x10000 and config version 0;
// NEWLEADER carries the config text the runtime gives. A learner's PING reply
// lists the sessions its clients kept alive (the leader's PING has no data).
// REVALIDATE is a learner's question (session, timeout) one way and the
// leader's answer (session, valid) the other.

import type { PeerAddress } from '../config/config.ts';
import { JuteError, JuteReader, JuteWriter } from '../jute/archive.ts';
import { OpCode } from '../proto/constants.ts';
import { readRequest, writeRequest, type Id, type Request } from '../proto/records.ts';
import {
  decodeAckEpoch,
  decodeLearnerInfo,
  decodeLeaderInfo,
  decodePingSessions,
  decodeProposal,
  decodeRequest,
  decodeRevalidate,
  decodeRevalidateReply,
  encodeAckEpoch,
  encodeLearnerInfo,
  encodeLeaderInfo,
  encodeNewLeader,
  encodePingSessions,
  encodeProposal,
  encodeRequest,
  encodeRevalidate,
  encodeRevalidateReply,
  packetName,
  PacketType,
  QuorumWireError,
  ZAB_PROTOCOL_VERSION,
  type QuorumPacket,
} from '../proto/quorum.ts';
import type { ForwardedWrite } from '../server/processor.ts';
import type { ZabMessage } from '../zab/messages.ts';
import { epochOf, makeZxid } from '../zxid.ts';

/**
 * A forwarded request's payload, as the request pipeline hands it over
 * (src/server/processor.ts): a ForwardedWrite, except a sync, whose payload
 * is the decoded request itself. On the wire (Learner.request) the REQUEST
 * data is the session, cxid and op, then the request record as the client
 * sent it — for createSession the negotiated timeout, for closeSession
 * nothing — and the packet's authinfo carries the session's auth ids.
 */
function requestRecord(op: number, payload: unknown): { record: Buffer; authinfo: Id[] | null } {
  if (op === OpCode.sync) return { record: recordBytes(payload as Request), authinfo: null };
  const f = payload as ForwardedWrite;
  const record = op === OpCode.createSession ? new JuteWriter(4).int(f.timeOut ?? 0).toBuffer() : f.request ? recordBytes(f.request) : Buffer.alloc(0);
  return { record, authinfo: f.authIds };
}

function recordBytes(req: Request): Buffer {
  const w = new JuteWriter();
  writeRequest(w, req);
  return w.toBuffer();
}

/** The payload the request pipeline expects for a REQUEST received by the leader; a record that does not decode is null. */
function requestPayload(op: number, record: Buffer, authinfo: Id[] | null): ForwardedWrite | Request {
  const r = new JuteReader(record);
  if (op === OpCode.sync) return readRequest(op, r);
  const authIds = authinfo ?? [];
  if (op === OpCode.createSession) return { request: null, authIds, timeOut: r.int() };
  if (op === OpCode.closeSession) return { request: null, authIds };
  try {
    return { request: readRequest(op, r), authIds };
  } catch (e) {
    if (e instanceof JuteError) return { request: null, authIds };
    throw e;
  }
}

export interface WireContext {
  myId: number;
  /** this peer is the leader of the connection (it sends leader-to-learner packets) */
  leading: boolean;
  /** NEWLEADER's data: the quorum config as text */
  config: string | null;
}

/** The group.G and weight.N lines of a hierarchical quorum (none: a majority). */
export interface QuorumHierarchy {
  groups: ReadonlyMap<number, readonly number[]>;
  weights: ReadonlyMap<number, number>;
}

/**
 * The quorum config as NEWLEADER carries it, /zookeeper/config and conf show
 * it (ZooKeeper's QuorumMaj and QuorumHierarchical toString): one
 * server.N=host:quorumPort:electionPort:participant|observer[;clientHost:clientPort]
 * line per server; for a hierarchical quorum, its groups (members ascending)
 * and every participant's weight (1 unless given), by id; then the config
 * version in hex.
 */
export function quorumConfigText(servers: readonly PeerAddress[], version = 0, hierarchy?: QuorumHierarchy): string {
  const lines = servers.map((s) => {
    const client = s.clientPort === undefined ? '' : `;${s.clientHost ?? '0.0.0.0'}:${s.clientPort}`;
    return `server.${s.id}=${s.host}:${s.quorumPort}:${s.electionPort}:${s.observer ? 'observer' : 'participant'}${client}\n`;
  });
  if (hierarchy && hierarchy.groups.size > 0) {
    const ascending = (ids: Iterable<number>) => [...new Set(ids)].sort((a, b) => a - b);
    for (const g of ascending(hierarchy.groups.keys())) lines.push(`group.${g}=${ascending(hierarchy.groups.get(g)!).join(':')}\n`);
    const weighted = ascending([...servers.filter((s) => !s.observer).map((s) => s.id), ...hierarchy.weights.keys()]);
    for (const id of weighted) lines.push(`weight.${id}=${hierarchy.weights.get(id) ?? 1}\n`);
  }
  return `${lines.join('')}version=${version.toString(16)}`;
}

const packet = (type: number, zxid: number, data: Buffer | null = null, authinfo: Id[] | null = null): QuorumPacket => ({ type, zxid, data, authinfo });

/** The packet for a core message ('replay' never goes on the wire). */
export function toPacket(msg: ZabMessage, ctx: WireContext): QuorumPacket {
  switch (msg.type) {
    case 'learnerInfo':
      return packet(msg.observer ? PacketType.OBSERVERINFO : PacketType.FOLLOWERINFO, makeZxid(msg.acceptedEpoch, 0), encodeLearnerInfo({ serverId: ctx.myId, protocolVersion: ZAB_PROTOCOL_VERSION, configVersion: 0 }));
    case 'leaderInfo':
      return packet(PacketType.LEADERINFO, makeZxid(msg.epoch, 0), encodeLeaderInfo());
    case 'ackEpoch':
      return packet(PacketType.ACKEPOCH, msg.lastZxid, encodeAckEpoch(msg.currentEpoch));
    case 'diff':
      return packet(PacketType.DIFF, msg.zxid);
    case 'trunc':
      return packet(PacketType.TRUNC, msg.zxid);
    case 'snap':
      return packet(PacketType.SNAP, msg.zxid);
    case 'newLeader':
      return packet(PacketType.NEWLEADER, msg.zxid, encodeNewLeader(ctx.config));
    case 'upToDate':
      return packet(PacketType.UPTODATE, -1);
    case 'proposal':
      return packet(PacketType.PROPOSAL, msg.txn.hdr.zxid, encodeProposal(msg.txn));
    case 'ack':
      return packet(PacketType.ACK, msg.zxid);
    case 'commit':
      return packet(PacketType.COMMIT, msg.zxid);
    case 'inform':
      return packet(PacketType.INFORM, msg.txn.hdr.zxid, encodeProposal(msg.txn));
    case 'ping':
      if (ctx.leading) return packet(PacketType.PING, msg.zxid);
      return packet(PacketType.PING, msg.zxid, encodePingSessions((msg.sessions ?? []).map(([sessionId, timeout]) => ({ sessionId, timeout }))));
    case 'request': {
      const { sessionId, cxid, op, payload } = msg.request;
      const { record, authinfo } = requestRecord(op, payload);
      return packet(PacketType.REQUEST, -1, encodeRequest({ sessionId, cxid, type: op, request: record }), authinfo);
    }
    case 'revalidate':
      // Learner.validateSession: zxid -1.
      return packet(PacketType.REVALIDATE, -1, encodeRevalidate({ sessionId: msg.sessionId, timeout: msg.timeout }));
    case 'revalidated':
      // Leader.revalidateSession answers in the learner's packet (zxid -1) with new data.
      return packet(PacketType.REVALIDATE, -1, encodeRevalidateReply({ sessionId: msg.sessionId, valid: msg.valid }));
    case 'sync':
      // Leader.sendSync: zxid 0, no data.
      return packet(PacketType.SYNC, 0);
    case 'replay':
      throw new Error('zab-wire: a replay is expanded by the runtime, never sent');
  }
}

/**
 * The core message for a packet received from a peer (from a learner when
 * `ctx.leading`, else from the leader). Throws QuorumWireError on a packet
 * that has no place in this direction or bad data: the connection is then
 * closed.
 */
export function fromPacket(p: QuorumPacket, ctx: WireContext): ZabMessage {
  switch (p.type) {
    case PacketType.FOLLOWERINFO:
    case PacketType.OBSERVERINFO:
      fromLearner(p, ctx);
      decodeLearnerInfo(p.data);
      return { type: 'learnerInfo', acceptedEpoch: epochOf(p.zxid), observer: p.type === PacketType.OBSERVERINFO };
    case PacketType.ACKEPOCH:
      fromLearner(p, ctx);
      return { type: 'ackEpoch', currentEpoch: decodeAckEpoch(p.data), lastZxid: p.zxid };
    case PacketType.ACK:
      fromLearner(p, ctx);
      return { type: 'ack', zxid: p.zxid };
    case PacketType.REQUEST: {
      fromLearner(p, ctx);
      const r = decodeRequest(p.data);
      let payload: ForwardedWrite | Request;
      try {
        payload = requestPayload(r.type, r.request, p.authinfo);
      } catch (e) {
        if (e instanceof JuteError) throw new QuorumWireError(`REQUEST ${r.type}: ${e.message}`);
        throw e;
      }
      return { type: 'request', request: { sessionId: r.sessionId, cxid: r.cxid, op: r.type, payload } };
    }
    case PacketType.PING:
      if (!ctx.leading) return { type: 'ping', zxid: p.zxid };
      return { type: 'ping', zxid: p.zxid, sessions: decodePingSessions(p.data).map((t): [bigint, number] => [t.sessionId, t.timeout]) };
    case PacketType.REVALIDATE:
      // One packet type, both directions: the learner's question and the leader's answer.
      if (ctx.leading) {
        const { sessionId, timeout } = decodeRevalidate(p.data);
        return { type: 'revalidate', sessionId, timeout };
      }
      return { type: 'revalidated', ...decodeRevalidateReply(p.data) };
    case PacketType.LEADERINFO: {
      fromLeader(p, ctx);
      const version = decodeLeaderInfo(p.data);
      if (version < ZAB_PROTOCOL_VERSION) throw new QuorumWireError(`LEADERINFO: protocol version 0x${version.toString(16)} is older than 0x10000`);
      return { type: 'leaderInfo', epoch: epochOf(p.zxid) };
    }
    case PacketType.DIFF:
      fromLeader(p, ctx);
      return { type: 'diff', zxid: p.zxid };
    case PacketType.TRUNC:
      fromLeader(p, ctx);
      return { type: 'trunc', zxid: p.zxid };
    case PacketType.SNAP:
      fromLeader(p, ctx);
      return { type: 'snap', zxid: p.zxid };
    case PacketType.NEWLEADER:
      fromLeader(p, ctx);
      return { type: 'newLeader', zxid: p.zxid };
    case PacketType.UPTODATE:
      fromLeader(p, ctx);
      return { type: 'upToDate' };
    case PacketType.PROPOSAL:
      fromLeader(p, ctx);
      return { type: 'proposal', txn: checkedTxn(p, 'PROPOSAL') };
    case PacketType.COMMIT:
      fromLeader(p, ctx);
      return { type: 'commit', zxid: p.zxid };
    case PacketType.INFORM:
      fromLeader(p, ctx);
      return { type: 'inform', txn: checkedTxn(p, 'INFORM') };
    case PacketType.SYNC:
      fromLeader(p, ctx);
      return { type: 'sync' };
    default:
      // COMMITANDACTIVATE / INFORMANDACTIVATE: reconfiguration, which Paddock does not implement.
      throw new QuorumWireError(`${packetName(p.type)} is not supported`);
  }
}

/** A packet only a learner sends (no closure per packet: this runs for every one). */
function fromLearner(p: QuorumPacket, ctx: WireContext): void {
  if (!ctx.leading) throw new QuorumWireError(`${packetName(p.type)} from the leader`);
}

/** A packet only the leader sends. */
function fromLeader(p: QuorumPacket, ctx: WireContext): void {
  if (ctx.leading) throw new QuorumWireError(`${packetName(p.type)} from a learner`);
}

function checkedTxn(p: QuorumPacket, what: string) {
  const txn = decodeProposal(p.data, what);
  if (txn.hdr.zxid !== p.zxid) throw new QuorumWireError(`${what}: packet zxid 0x${p.zxid.toString(16)} but txn zxid 0x${txn.hdr.zxid.toString(16)}`);
  return txn;
}
