// The global sessions as one ensemble member tracks them, by role (ZooKeeper's
// LeaderSessionTracker and LearnerSessionTracker): the leader is the ensemble's
// session authority — it alone expires sessions, by a closeSession txn — and
// a learner tells it which sessions its clients kept alive in the replies to
// its PINGs (session id → timeout, ZooKeeper's touch table). Pure: the caller
// passes the time in. The request pipeline (processor.ts) and the simulator
// (test/sim) drive this same code.
//
// Invariants:
// - the sessions tracked are the applied tree's, plus those created but not
//   applied yet (a leader tracks a createSession from the moment it orders it);
// - whenever a role starts serving, the tracked sessions become exactly the
//   tree's, none closing, each with a full timeout from now — as ZooKeeper
//   builds a new tracker from its database for every role. A close the last
//   term ordered but never committed leaves nothing behind: such a session
//   would otherwise stay "closing" for good, and never expire again here;
// - a learner reports only sessions alive in its view, each once, and only to
//   the leader it served them under: what it could not report before its role
//   ended is dropped (those clients were disconnected and reattach, which the
//   leader counts). Carried over, a stale report would keep a session whose
//   client left long ago alive another full timeout.

import { OpCode } from '../proto/constants.ts';
import type { TxnBody } from '../proto/txn.ts';
import { SessionTracker } from './sessions.ts';

export class SessionAuthority extends SessionTracker {
  /** learner: sessions its clients kept alive since the last report */
  private reports = new Map<bigint, number>();

  /**
   * A packet of session `id`'s client reached this member: is the session
   * alive? A learner also notes it for its next PING reply.
   */
  clientActive(id: bigint, now: number, leading: boolean): boolean {
    const alive = this.touch(id, now);
    if (alive && !leading) this.reports.set(id, this.timeoutOf(id)!);
    return alive;
  }

  /** Learner: the sessions to report in the next PING reply (swapped out each time). */
  takeReports(): Map<bigint, number> {
    const r = this.reports;
    this.reports = new Map();
    return r;
  }

  /** Leader: a learner's PING reply; each session it names lives a full timeout from now. */
  reported(sessions: Iterable<[bigint, number]>, now: number): void {
    for (const [id, timeout] of sessions) this.touch(id, now, timeout);
  }

  /** Learner: the leader says a session reattaching here is alive; it is tracked from now on. */
  reattached(id: bigint, timeout: number, now: number): void {
    if (!this.touch(id, now, timeout)) this.add(id, timeout, now);
  }

  /**
   * A role starts serving, or the tree was replaced: track exactly the tree's
   * sessions, each with a full timeout from now (ZooKeeper's new leader gives
   * every session a fresh timeout), with no reports left over.
   */
  adopt(treeSessions: ReadonlyMap<bigint, number>, now: number): void {
    this.reports.clear();
    for (const [id] of [...this.entries()]) this.remove(id);
    for (const [id, timeout] of treeSessions) this.add(id, timeout, now);
  }

  /** A committed txn of session `id`: a session created elsewhere is tracked here too; a closed one is forgotten. */
  committed(id: bigint, body: TxnBody, now: number): void {
    if (body.type === OpCode.closeSession) this.remove(id);
    else if (body.type === OpCode.createSession && this.timeoutOf(id) === undefined) this.add(id, body.timeOut, now);
  }
}
