// What the leader and learner roles share: the peer's identity and settings,
// its log (History), its epochs and the Outbox their effects go to.

import type { History } from './history.ts';
import type { QuorumVerifier } from './quorum.ts';
import type { Outbox } from './ready.ts';

export interface ZabSettings {
  id: number;
  quorum: QuorumVerifier;
  /** milliseconds per tick (tickTime) */
  tickTime: number;
  /** ticks a learner has to connect and sync (initLimit) */
  initLimit: number;
  /** ticks a synced learner may stay silent (syncLimit) */
  syncLimit: number;
  /** the leader steps down for a new epoch once a zxid counter reaches this (default MAX_COUNTER, as ZooKeeper) */
  maxCounter?: number;
  /**
   * Test only: break the protocol on purpose so the simulator's checkers can be
   * shown to catch it. ackBeforeFsync: learners ack proposals on receipt;
   * commitShortOfQuorum: the leader commits one ack short of a quorum;
   * unconfirmedSync: syncs complete without a quorum's confirmation (as in
   * ZooKeeper 3.8); ignoreSessionReports: the leader drops the sessions
   * learners report in their PING replies.
   */
  sabotage?: 'ackBeforeFsync' | 'commitShortOfQuorum' | 'unconfirmedSync' | 'ignoreSessionReports';
}

export interface PeerContext {
  readonly settings: ZabSettings;
  readonly history: History;
  readonly out: Outbox;
  /** durable epochs: the last one this peer agreed to (acceptedEpoch) and the last it joined (currentEpoch) */
  readonly epochs: { accepted: number; current: number };
  /** ticks since the peer started */
  readonly tick: number;
  /** the role ends: the peer goes back to looking */
  stepDown(reason: string): void;
  /** learner: sessions to report in the next PING reply */
  touches(): Iterable<[bigint, number]>;
}

export function setEpochs(ctx: PeerContext, e: { accepted?: number; current?: number }): void {
  if (e.accepted !== undefined) ctx.epochs.accepted = e.accepted;
  if (e.current !== undefined) ctx.epochs.current = e.current;
  ctx.out.epochs(e);
}
