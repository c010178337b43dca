// What the core asks of the world after a step: etcd raft's Ready. The runtime
// (and the simulator) carry out one Ready at a time, in this order:
//   1. truncate: drop every logged txn after `truncate`; if the applied state is
//      beyond it, rebuild the state from snapshot + log up to exactly there;
//   2. epochs: write acceptedEpoch / currentEpoch durably;
//   3. commit: apply these txns to the state, in order;
//   4. append: hand these txns to the log, in order; report `persisted(zxid)`
//      once they are durable (group commit: one fsync may cover many);
//   5. messages: send, in order per peer — after 1–3, so a SNAP carries the state
//      as of its zxid (the core ends a Ready right after a SNAP) and no message
//      leaves before the epoch it announces is durable;
//   6. send `votes` on the election port (a vote promises nothing: it names
//      the last zxid appended, and a peer that loses it to a crash votes anew);
//   7. hand `requests` to the leader's request pipeline and `touches` to its
//      session tracker, answer `revalidations` (leader: Peer.revalidated),
//      finish the reattaches `revalidated` answers (learner), report `syncs`
//      done, close the connections in `disconnect`, and act on `role`.

import type { Txn } from '../proto/txn.ts';
import type { Outgoing } from './election.ts';
import type { ForwardedRequest, ZabMessage } from './messages.ts';

export type Role = 'looking' | 'leading' | 'following' | 'observing';

export interface RoleChange {
  role: Role;
  /** the leader's id, when there is one */
  leader: number | null;
  epoch: number;
  /** true once this peer may serve clients (leader established, learner up to date) */
  serving: boolean;
  /** why the previous role ended, when it did */
  reason?: string;
}

export interface Ready {
  truncate: number | null;
  epochs: { accepted?: number; current?: number } | null;
  commit: readonly Txn[];
  append: readonly Txn[];
  messages: readonly { to: number; msg: ZabMessage }[];
  /** election notifications to send */
  votes: readonly Outgoing[];
  requests: readonly { from: number; request: ForwardedRequest }[];
  /** sessions a learner's clients kept alive: the leader's session tracker touches them */
  touches: readonly [bigint, number][];
  /**
   * Leader: learners' clients reattaching their sessions (REVALIDATE). The
   * session tracker touches each; the answer goes back by Peer.revalidated.
   */
  revalidations: readonly { from: number; sessionId: bigint; timeout: number }[];
  /** Learner: the leader's answers to this peer's revalidations */
  revalidated: readonly { sessionId: bigint; valid: boolean }[];
  /** tokens of this peer's own syncs that are now done */
  syncs: readonly unknown[];
  disconnect: readonly number[];
  role: RoleChange | null;
  /** events worth a log line (learners dropped, syncs chosen) */
  notes: readonly string[];
}

/**
 * The lists of a new Ready: most Readies carry one or two kinds of effect (a
 * commit and its messages, say), so a list stays this shared empty one until
 * its first item (a Ready is made per step, on every write). Not frozen: V8
 * compiles a for-of over arrays of a frozen one's kind and others generically,
 * with an object per item.
 */
const NONE: readonly never[] = [];

const emptyReady = (): Ready => ({ truncate: null, epochs: null, commit: NONE, append: NONE, messages: NONE, votes: NONE, requests: NONE, touches: NONE, revalidations: NONE, revalidated: NONE, syncs: NONE, disconnect: NONE, role: null, notes: NONE });

/** `list` with `item` at its end: the list itself, or a new one in place of NONE. */
function plus<T>(list: readonly T[], item: T): readonly T[] {
  if (list === NONE) return [item];
  (list as T[]).push(item); // only NONE is shared: every other list is this Ready's own
  return list;
}

/** Effects gathered while stepping; `seal` ends a Ready early (after a SNAP). */
export class Outbox {
  private readonly sealed: Ready[] = [];
  private current = emptyReady();

  send(to: number, msg: ZabMessage): void {
    this.current.messages = plus(this.current.messages, { to, msg });
    if (msg.type === 'snap') this.seal();
  }

  votes(out: readonly Outgoing[]): void {
    for (const v of out) this.current.votes = plus(this.current.votes, v);
  }

  truncate(zxid: number): void {
    // A truncation must happen before any later append; keep them in separate Readies.
    if (this.current.append.length > 0 || this.current.commit.length > 0) this.seal();
    this.current.truncate = zxid;
  }

  epochs(e: { accepted?: number; current?: number }): void {
    this.current.epochs = { ...this.current.epochs, ...e };
  }

  append(txn: Txn): void {
    this.current.append = plus(this.current.append, txn);
  }

  commit(txn: Txn): void {
    this.current.commit = plus(this.current.commit, txn);
  }

  request(from: number, request: ForwardedRequest): void {
    this.current.requests = plus(this.current.requests, { from, request });
  }

  touch(sessions: readonly [bigint, number][]): void {
    for (const t of sessions) this.current.touches = plus(this.current.touches, t);
  }

  revalidation(from: number, sessionId: bigint, timeout: number): void {
    this.current.revalidations = plus(this.current.revalidations, { from, sessionId, timeout });
  }

  revalidated(sessionId: bigint, valid: boolean): void {
    this.current.revalidated = plus(this.current.revalidated, { sessionId, valid });
  }

  syncDone(token: unknown): void {
    this.current.syncs = plus(this.current.syncs, token);
  }

  disconnect(peer: number): void {
    this.current.disconnect = plus(this.current.disconnect, peer);
  }

  note(line: string): void {
    this.current.notes = plus(this.current.notes, line);
  }

  role(change: RoleChange): void {
    // A role change is the last word of its Ready: what follows belongs to the new role.
    this.current.role = change;
    this.seal();
  }

  seal(): void {
    const r = this.current;
    if (r.truncate === null && r.epochs === null && r.commit.length + r.append.length + r.messages.length + r.votes.length + r.requests.length + r.touches.length + r.revalidations.length + r.revalidated.length + r.syncs.length + r.disconnect.length + r.notes.length === 0 && r.role === null) return;
    this.sealed.push(r);
    this.current = emptyReady();
  }

  /** The next Ready to carry out, or null when there is nothing to do. */
  take(): Ready | null {
    this.seal();
    return this.sealed.shift() ?? null;
  }
}
