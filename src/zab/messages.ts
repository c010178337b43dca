// The messages Zab peers exchange on the quorum port, as the pure core sees
// them: one variant per QuorumPacket type it uses (ZooKeeper's Leader.* packet
// constants), with the fields decoded. The runtime maps them to and from
// QuorumPacket bytes; the simulator passes them as they are.
//
// Invariants the core relies on, which the runtime (TCP) and the simulator both
// provide: messages between two peers arrive in the order sent, and a broken
// connection loses what was in flight and is reported to both ends
// (`disconnected`) before anything sent on a new connection arrives.

import type { Txn } from '../proto/txn.ts';

/** A client request a learner hands to the leader (REQUEST): opaque to the core, except `sync`. */
export interface ForwardedRequest {
  sessionId: bigint;
  cxid: number;
  /** the request's opcode */
  op: number;
  /** the request as the runtime carries it (its bytes, on the wire) */
  payload: unknown;
}

export type ZabMessage =
  // discovery
  | { type: 'learnerInfo'; acceptedEpoch: number; observer: boolean }
  | { type: 'leaderInfo'; epoch: number }
  /** `currentEpoch` -1: the learner had already accepted this epoch */
  | { type: 'ackEpoch'; currentEpoch: number; lastZxid: number }
  // sync: one of diff / trunc / snap, then PROPOSAL+COMMIT pairs, then NEWLEADER
  | { type: 'diff'; zxid: number }
  | { type: 'trunc'; zxid: number }
  /** the leader's state as of `zxid` follows (the runtime streams it; the simulator copies it) */
  | { type: 'snap'; zxid: number }
  /**
   * Leader-side only, never on the wire: the runtime expands it into PROPOSAL
   * and COMMIT pairs for every logged txn with from < zxid <= to, read from its
   * log (they are durable and committed).
   */
  | { type: 'replay'; from: number; to: number }
  | { type: 'newLeader'; zxid: number }
  | { type: 'upToDate' }
  // broadcast
  | { type: 'proposal'; txn: Txn }
  | { type: 'ack'; zxid: number }
  | { type: 'commit'; zxid: number }
  /** a committed txn, for observers */
  | { type: 'inform'; txn: Txn }
  /** leader → learner: liveness; the learner echoes it back with the sessions its clients kept alive */
  | { type: 'ping'; zxid: number; sessions?: [bigint, number][] }
  | { type: 'request'; request: ForwardedRequest }
  /** learner → leader: a client reattaches its session here; is it alive (and kept so for `timeout` ms)? */
  | { type: 'revalidate'; sessionId: bigint; timeout: number }
  /** leader → learner: the answer to a revalidate (both are the REVALIDATE packet on the wire) */
  | { type: 'revalidated'; sessionId: bigint; valid: boolean }
  /** leader → learner: the learner's oldest pending sync is done */
  | { type: 'sync' };

export type ZabMessageType = ZabMessage['type'];
export type MessageOf<T extends ZabMessageType> = Extract<ZabMessage, { type: T }>;
