// The fault suite's history: every client operation as an `invoke` event and
// one completion — `ok`, `fail` (the server answered with an error: the
// operation did not take effect) or `info` (no answer: connection lost or timed
// out; it may or may not have taken effect) — with timestamps in ms since the
// run began, written as JSON lines so a run can be checked again later.
//
// Invariants: a process has at most one operation outstanding (a process whose
// operation ended `info` is never used again: its worker continues as a new
// process, as in Jepsen); every invoke has at most one completion, and an
// invoke without one is read as `info`.
//
// Mirrors nothing in ZooKeeper: it is Jepsen's history format, kept small.

import { appendFileSync } from 'node:fs';

export type Status = 'ok' | 'fail' | 'info';

/** What an operation does. Register ops name a key; creates name their parent; lock ops the lock. */
export type Fn = 'read-sync' | 'read-quorum' | 'write' | 'cas' | 'create' | 'create-seq' | 'create-eph' | 'own-ephemerals' | 'close' | 'acquire' | 'hold';

export interface Event {
  type: 'invoke' | Status;
  process: number;
  time: number;
  f: Fn;
  key: string;
  /** invoke: the op's input; ok: its output (see `Op`) */
  value?: unknown;
  /** fail / info: why */
  error?: string;
  /** the peer the process talks to */
  peer?: number;
}

/** A register's state as a read sees it or a write makes it. */
export interface Versioned {
  value: string;
  version: number;
}

/**
 * One operation, invoke and completion paired. Inputs and outputs by `f`:
 * read-*: output Versioned; write: input { value }, output Versioned;
 * cas: input { expected, value }, output Versioned; create: input { name },
 * output { path }; create-seq: input { prefix }, output { path }; create-eph:
 * input { name, session }, output { path }; own-ephemerals: input { session },
 * output { children }; close: input { session }; acquire: input and output
 * { session }, failing with 'timeout' (output: the queue the session saw
 * then, and its state), 'expired' or 'unexpected: …'; hold:
 * input { session }, output { end: 'released' | 'lost', reason? }.
 */
export interface Op {
  /** position in the history, for reports */
  index: number;
  process: number;
  f: Fn;
  key: string;
  input: any;
  output: any;
  status: Status;
  error?: string;
  invoke: number;
  /** Infinity for `info`: it may take effect at any time after its invoke */
  complete: number;
  peer?: number;
}

export class History {
  readonly events: Event[] = [];
  private readonly start = performance.now();

  /** `file`: append every event to it as a JSON line as it happens. */
  constructor(private readonly file?: string) {}

  now(): number {
    return Math.round((performance.now() - this.start) * 1000) / 1000;
  }

  add(e: Omit<Event, 'time'>): Event {
    const event = { ...e, time: this.now() };
    this.events.push(event);
    if (this.file) appendFileSync(this.file, JSON.stringify(event) + '\n');
    return event;
  }
}

/** Invokes paired with their completions; an invoke never completed is `info`. */
export function pair(events: readonly Event[]): Op[] {
  const open = new Map<number, Op>();
  const ops: Op[] = [];
  events.forEach((e, index) => {
    if (e.type === 'invoke') {
      if (open.has(e.process)) throw new Error(`process ${e.process} invoked at event ${index} with an operation outstanding`);
      const op: Op = { index, process: e.process, f: e.f, key: e.key, input: e.value, output: undefined, status: 'info', invoke: e.time, complete: Infinity, peer: e.peer };
      open.set(e.process, op);
      ops.push(op);
      return;
    }
    const op = open.get(e.process);
    if (!op) throw new Error(`event ${index}: ${e.type} of process ${e.process}, which has nothing outstanding`);
    open.delete(e.process);
    op.status = e.type;
    op.output = e.value;
    op.error = e.error;
    if (e.type !== 'info') op.complete = e.time;
  });
  return ops;
}

/** JSON lines back into events. */
export function parseHistory(text: string): Event[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Event);
}

/** One line per op, for a report. */
export function describe(op: Op): string {
  const when = `${op.invoke.toFixed(1)}..${op.complete === Infinity ? '?' : op.complete.toFixed(1)} ms`;
  const out = op.status === 'ok' ? ` → ${JSON.stringify(op.output)}` : op.error ? ` (${op.error})` : '';
  return `#${op.index} p${op.process}${op.peer === undefined ? '' : `@${op.peer}`} ${op.f} ${op.key} ${JSON.stringify(op.input ?? null)} ${op.status}${out} [${when}]`;
}
