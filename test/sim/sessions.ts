// The simulator's check of the ensemble's session authority (the leader, which
// alone expires sessions, and learns which are alive on its learners from their
// PING replies: src/server/session-authority.ts). Times are virtual
// milliseconds; a bound in the leader's terms is read on the leader's (skewed)
// clock.
//
// Invariants, with D = (2·syncLimit + 3) ticks of the leader's clock:
// A. kept alive: a leader never decides to expire a session whose client's
//    packet reached, less than timeout − D before, the leader itself or a
//    learner that has followed it since without a break (both up, the same
//    role on each, the same connection between them). D covers the report's
//    trip: up to a tick to the next PING, the reply, and a learner or leader
//    stalled for up to syncLimit ticks (longer, and the leader drops it).
// B. expired in time: a session that no client packet reached for timeout + D
//    is gone from the tree of an established leader that has served since
//    before then, unpaused: a tick for the expiry bucket, up to syncLimit + 1
//    ticks for a report already on its way, and up to syncLimit + 1 ticks for
//    a quorum to commit the closeSession (longer, and the leader steps down).
//    Counted from the latest of the last packet, the leader's establishment
//    (it gives every session a full timeout) and its last resume.
// C. (cluster.ts, as it applies txns) a session leaves a tree only by its
//    closeSession txn, committed through the leader.

import { zxidHex } from '../../src/zxid.ts';

/** Where a client packet of a session landed, and the link its report travels. */
export interface Packet {
  at: number;
  member: number;
  /** the member's leader then (itself when it led) */
  leader: number;
  /** role changes of the member and of its leader then (see SimPeer.stint) */
  memberStint: number;
  leaderStint: number;
  /** the generation of the connection between them */
  conn: number;
}

/** The leader, as the checks see it. */
export interface LeaderView {
  id: number;
  /** its clock's rate against virtual time */
  rate: number;
  /** virtual time since when it has served unpaused, as leader of this epoch */
  servingSince: number;
  /** the sessions of its applied tree */
  sessions: Iterable<bigint>;
  zxid: number;
}

const sessionName = (id: bigint) => `0x${id.toString(16)}`;

export class SessionWatch {
  /** session → the last time a packet of its client reached any serving member */
  private readonly lastPacket = new Map<bigint, number>();
  /** session → member → the last packet there that the member took as alive */
  private readonly kept = new Map<bigint, Map<number, Packet>>();
  /** D, in ms of the leader's clock */
  readonly slack: number;
  /** expiries decided (for the run's diagnostics) */
  expiries = 0;

  constructor(
    private readonly timeout: number,
    tickMs: number,
    syncLimit: number,
    /** is the link a packet's report travels still whole (both up, same roles, same connection)? */
    private readonly linked: (p: Packet) => boolean,
  ) {
    this.slack = (2 * syncLimit + 3) * tickMs;
  }

  /** A client packet of `session` reached a serving member; `kept`: the member took the session as alive, and this is its link to the leader. */
  packet(session: bigint, at: number, kept: Packet | null): void {
    this.lastPacket.set(session, at);
    if (!kept) return;
    let m = this.kept.get(session);
    if (!m) this.kept.set(session, (m = new Map()));
    m.set(kept.member, kept);
  }

  /** Invariant A: leader `l` decides at `now` to expire `session`. */
  expiring(session: bigint, l: LeaderView, now: number): void {
    this.expiries++;
    for (const p of this.kept.get(session)?.values() ?? []) {
      if (p.leader !== l.id || !this.linked(p)) continue;
      const age = (now - p.at) * l.rate;
      if (age < this.timeout - this.slack) {
        throw new Error(`leader ${l.id} expires session ${sessionName(session)} although its client's packet reached ${p.member === l.id ? 'the leader' : `learner ${p.member}, which still follows it,`} ${Math.round(age)} ms ago (timeout ${this.timeout}, D ${this.slack})`);
      }
    }
  }

  /** Invariant B: no session of established leader `l`'s tree has outlived its timeout + D unreported. */
  overdue(l: LeaderView, now: number): void {
    for (const session of l.sessions) {
      const since = Math.max(this.lastPacket.get(session) ?? 0, l.servingSince);
      const idle = (now - since) * l.rate;
      if (idle > this.timeout + this.slack) {
        throw new Error(`session ${sessionName(session)} is still in leader ${l.id}'s tree at ${zxidHex(l.zxid)}, ${Math.round(idle)} ms (its clock) after the last of its client's packets and of the leader's start (timeout ${this.timeout}, D ${this.slack})`);
      }
    }
  }
}
