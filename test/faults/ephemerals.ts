// The ephemerals-and-sessions checker. Workers create ephemeral children of
// /eph (each name used once, the creating session in the op's input). A
// worker whose connection dropped abandons its session (it starts a new one,
// never reattaching), so that session must expire; at the end each worker
// still connected lists /eph through its own session ("own-ephemerals") and
// closes it (closeSession, answered). Then every peer's /eph is read after a
// sync twice: at once, and after twice the session timeout. Checked:
// - a live session keeps its ephemerals: its own listing holds every
//   ephemeral it created and got acknowledged before, through every failover;
// - ephemerals of a closed session are gone at once: the first reading holds
//   none of a session whose closeSession was answered;
// - ephemerals of crashed (abandoned) sessions are gone after their timeout:
//   the second reading is empty on every peer.
//
// Mirrors nothing in ZooKeeper: the session guarantees of its programmer's
// guide, as a Jepsen-style check.

import { describe, type Op } from './history.ts';

export const EPHEMERAL_PARENT = '/eph';

/** Each peer's children of /eph right after the sessions closed, and after their timeout. */
export interface EphemeralReadings {
  afterClose: ReadonlyMap<number, readonly string[]>;
  afterTimeout: ReadonlyMap<number, readonly string[]>;
}

export interface EphemeralReport {
  valid: boolean;
  acknowledged: number;
  /** sessions whose own listing was checked */
  liveSessions: number;
  closedSessions: number;
  problems: string[];
}

export function checkEphemerals(ops: readonly Op[], readings: EphemeralReadings): EphemeralReport {
  const creates = ops.filter((op) => op.f === 'create-eph');
  const problems: string[] = [];
  const sessionOf = new Map(creates.map((op) => [op.input.name as string, op.input.session as string]));

  const listings = ops.filter((op) => op.f === 'own-ephemerals' && op.status === 'ok');
  for (const listing of listings) {
    const held = new Set(listing.output.children as string[]);
    for (const op of creates) {
      if (op.status === 'ok' && op.input.session === listing.input.session && op.complete < listing.invoke && !held.has(op.input.name)) {
        problems.push(`live session ${listing.input.session} lost its ephemeral ${op.input.name}: ${describe(op)}; its listing: ${describe(listing)}`);
      }
    }
  }

  const closed = new Set(ops.filter((op) => op.f === 'close' && op.status === 'ok').map((op) => op.input.session as string));
  for (const [peer, children] of readings.afterClose) {
    for (const child of children) {
      const session = sessionOf.get(child);
      if (session === undefined) problems.push(`peer ${peer}: ${EPHEMERAL_PARENT}/${child} is present but no client created it`);
      else if (closed.has(session)) problems.push(`peer ${peer}: ${EPHEMERAL_PARENT}/${child} of closed session ${session} is still present after the close was answered`);
    }
  }
  for (const [peer, children] of readings.afterTimeout) {
    if (children.length > 0) problems.push(`peer ${peer}: ephemerals outlived every session's timeout: ${children.slice(0, 5).join(', ')}${children.length > 5 ? ', …' : ''}`);
  }
  return { valid: problems.length === 0, acknowledged: creates.filter((op) => op.status === 'ok').length, liveSessions: listings.length, closedSessions: closed.size, problems };
}
