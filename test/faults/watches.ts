// The watch checker. Every worker session holds a persistent recursive watch
// on /reg, and each register op answered on it records how many change events
// (NodeDataChanged) of its key the session had received before the reply.
// A znode's version goes up by one per change, and ZooKeeper delivers a
// session's notifications in order with its replies: the event of a change
// comes before any reply that shows the change. So on one session, for one
// key, version − events is the same for every reply. A reply whose difference
// is larger than an earlier one's shows a change whose event had not arrived
// (missed, or late: delivered after the client could read the change); a
// smaller one means an event for a change the reply does not show (delivered
// twice, or before the change could be read).
//
// Mirrors nothing in ZooKeeper: its programmer's guide's watch guarantees
// (ordered with replies, once per change for persistent watches) as a check.

import { describe, type Op } from './history.ts';

export interface WatchReport {
  valid: boolean;
  /** session and key pairs with more than one reply */
  streams: number;
  replies: number;
  problems: string[];
}

export function checkWatches(ops: readonly Op[]): WatchReport {
  const streams = new Map<string, Op[]>();
  for (const op of ops) {
    if (op.status !== 'ok' || typeof op.output?.events !== 'number') continue;
    const id = `${op.output.session} ${op.key}`;
    streams.set(id, [...(streams.get(id) ?? []), op]);
  }
  const problems: string[] = [];
  let replies = 0;
  let counted = 0;
  for (const [id, stream] of streams) {
    if (stream.length < 2) continue;
    counted++;
    replies += stream.length;
    const [first, ...rest] = stream.sort((a, b) => a.complete - b.complete);
    const base = first!.output.version - first!.output.events;
    for (const op of rest) {
      const diff = op.output.version - op.output.events;
      if (diff === base) continue;
      const what = diff > base ? `${diff - base} change(s) shown before their event arrived` : `${base - diff} event(s) more than the changes shown`;
      problems.push(`session ${id.replace(' ', ', key ')}: ${what}: ${describe(first!)} then ${describe(op)}`);
      break;
    }
  }
  return { valid: problems.length === 0, streams: counted, replies, problems };
}
