// Linearizability of a versioned register, one key at a time (linearizability
// is local: a history is linearizable iff each key's sub-history is).
//
// The search is Wing & Gong's with Lowe's memoisation (as in Porcupine and
// Knossos' WGL): walk the invoke/complete entries in time order, try to
// linearize each invoked op against the model, lift it out of the list, and
// backtrack when a completion is reached whose op has not been linearized; a
// (set of linearized ops, model state) pair seen before is never explored
// again. An `info` op completes at +∞, so it may take effect at any point
// after its invoke, or (in effect) never.
//
// The model: a znode's data and version, made at setup as ("init", 0). A read
// returns both; a write (setData, version -1) sets the value and bumps the
// version; a cas (setData with an expected version) does so only if the
// version matches and otherwise fails with BadVersion, which is itself an
// observation (the version was not the expected one). Ops that failed any
// other way, and reads without an answer, constrain nothing and are dropped.
//
// For a violation the report gives a minimised failing window: first the
// shortest failing prefix of the key's history (found by bisection: a prefix
// cut at time t keeps ops invoked before t, those still running read as
// `info`), whose last answer is the op that makes it fail; then the latest
// start from which the prefix's tail still fails on its own, checked from an
// unknown state (ops before the start are forgotten, those running across it
// may take effect in the window or not: read as `info`); then every read and
// BadVersion inside the window that is not needed to fail is dropped. Each
// step only relaxes the history (forgets constraints), so the window that
// remains is a witness: no history containing it is linearizable.
//
// Mirrors nothing in ZooKeeper: the checker Jepsen runs on its histories.

import { describe, type Op, type Versioned } from './history.ts';

export const INITIAL: Versioned = { value: 'init', version: 0 };

/** The model's state; a field is undefined while unknown (only from a window's unknown start). */
type State = Partial<Versioned>;
const UNKNOWN: State = {};

/** A failing window longer than this is not searched for observations it could do without (each try is a search). */
const MINIMISE_UP_TO = 400;

/**
 * The model's next state after `op`, or null if `op` cannot take effect in `state`. From a known state the step
 * is exact; what is unknown is learnt from the op's answer, and where the op could go either way (a cas against
 * an unknown version) the next state forgets what it cannot know, which only allows more.
 */
function step(state: State, op: Op): State | null {
  switch (op.f) {
    case 'read-sync':
    case 'read-quorum': {
      const { value, version } = op.output as Versioned;
      return (state.value ?? value) === value && (state.version ?? version) === version ? { value, version } : null;
    }
    case 'write': {
      const next = { value: op.input.value as string, version: state.version === undefined ? undefined : state.version + 1 };
      if (op.status !== 'ok') return next;
      return (next.version ?? op.output.version) === op.output.version ? { ...next, version: op.output.version } : null;
    }
    case 'cas': {
      if (state.version === undefined) {
        if (op.status === 'fail') return state;
        if (op.status === 'info') return UNKNOWN;
        return op.output.version === op.input.expected + 1 ? { value: op.input.value, version: op.output.version } : null;
      }
      const matches = state.version === op.input.expected;
      if (op.status === 'fail') return matches ? null : state;
      if (op.status === 'info') return matches ? { value: op.input.value, version: state.version + 1 } : state;
      return matches && op.output.version === state.version + 1 ? { value: op.input.value, version: state.version + 1 } : null;
    }
    default:
      throw new Error(`not a register op: ${op.f}`);
  }
}

/** The ops of a register history that constrain it. */
export function relevant(ops: readonly Op[]): Op[] {
  return ops.filter((op) => {
    if (op.f === 'read-sync' || op.f === 'read-quorum') return op.status === 'ok';
    if (op.f === 'cas' && op.status === 'fail') return op.error === 'badVersion';
    return op.status !== 'fail';
  });
}

interface Entry {
  op: Op;
  /** index of op in the search's array (its bit) */
  id: number;
  call: boolean;
  time: number;
  match?: Entry;
  prev?: Entry;
  next?: Entry;
}

export type Verdict = { valid: true } | { valid: false } | { valid: 'unknown'; why: string };

/** Whether `ops` (one key's, relevant ones) are linearizable from `initial`; gives up after `budget` search steps. */
export function linearizable(ops: readonly Op[], initial: State = INITIAL, budget = 2_000_000): Verdict {
  const entries: Entry[] = [];
  ops.forEach((op, id) => {
    const call: Entry = { op, id, call: true, time: op.invoke };
    const ret: Entry = { op, id, call: false, time: op.complete };
    call.match = ret;
    entries.push(call, ret);
  });
  // Calls before completions at equal times: the lenient reading of a tie.
  entries.sort((a, b) => a.time - b.time || Number(b.call) - Number(a.call));
  const head: Entry = { op: undefined as never, id: -1, call: false, time: -Infinity };
  let prev = head;
  for (const e of entries) {
    prev.next = e;
    e.prev = prev;
    prev = e;
  }
  const lift = (e: Entry) => {
    for (const x of [e, e.match!]) {
      x.prev!.next = x.next;
      if (x.next) x.next.prev = x.prev;
    }
  };
  const unlift = (e: Entry) => {
    for (const x of [e.match!, e]) {
      x.prev!.next = x;
      if (x.next) x.next.prev = x;
    }
  };

  const linearized = new Uint32Array(Math.ceil(ops.length / 32) || 1);
  const flip = (id: number) => (linearized[id >>> 5]! ^= 1 << (id & 31));
  const seen = new Set<string>();
  const stack: { entry: Entry; state: State }[] = [];
  let state = initial;
  let entry = head.next;
  let steps = 0;
  while (head.next) {
    if (++steps > budget) return { valid: 'unknown', why: `search gave up after ${budget} steps (${ops.length} ops)` };
    if (!entry) throw new Error('linearizability search ran off the end of the history');
    if (entry.call) {
      const next = step(state, entry.op);
      if (next) {
        flip(entry.id);
        const key = `${linearized.join(',')}|${next.version}|${next.value}`;
        if (!seen.has(key)) {
          seen.add(key);
          stack.push({ entry, state });
          state = next;
          lift(entry);
          entry = head.next;
          continue;
        }
        flip(entry.id);
      }
      entry = entry.next;
    } else {
      const top = stack.pop();
      if (!top) return { valid: false };
      flip(top.entry.id);
      state = top.state;
      unlift(top.entry);
      entry = top.entry.next;
    }
  }
  return { valid: true };
}

const asInfo = (op: Op): Op => ({ ...op, status: 'info', output: undefined, complete: Infinity });

/** Ops invoked before `t`, those not yet complete at `t` read as `info`. */
function prefix(ops: readonly Op[], t: number): Op[] {
  return relevant(ops.filter((op) => op.invoke < t).map((op) => (op.complete <= t ? op : asInfo(op))));
}

/** The prefix cut at `until`, from `from` on: ops done before `from` forgotten, those running across it (and not failed) as `info`. */
function tail(ops: readonly Op[], from: number, until: number): Op[] {
  return relevant(prefix(ops, until).filter((op) => op.invoke >= from || (op.complete > from && op.status !== 'fail')).map((op) => (op.invoke >= from ? op : asInfo(op))));
}

/** Whether the window of `ops` from `from` (from an unknown state) to `until` fails on its own: if it does, so does every history holding it. */
export function windowFails(ops: readonly Op[], from: number, until: number): boolean {
  return linearizable(tail(ops, from, until), UNKNOWN).valid === false;
}

export interface KeyReport {
  key: string;
  ops: number;
  verdict: Verdict;
  /**
   * for a violation: a minimised failing window, from `from` (null: the key's start, its initial state known) to
   * the end `until` of the shortest failing prefix, and its ops (those marked "running at the start" as `info`)
   */
  window?: { from: number | null; until: number; ops: string[] };
}

/** Check one key's ops (any statuses); for a violation, minimise a failing window (see the header). */
export function checkRegister(key: string, ops: readonly Op[], initial: Versioned = INITIAL): KeyReport {
  const verdict = linearizable(relevant(ops), initial);
  const report: KeyReport = { key, ops: ops.length, verdict };
  if (verdict.valid !== false) return report;
  const fails = (window: readonly Op[], start: State) => linearizable(window, start).valid === false;
  // The shortest failing prefix: cut points just after each completion; the last one fails.
  const cuts = [...new Set(ops.filter((op) => op.complete !== Infinity).map((op) => op.complete + 1e-6))].sort((a, b) => a - b);
  let lo = 0;
  let hi = cuts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (fails(prefix(ops, cuts[mid]!), initial)) hi = mid;
    else lo = mid + 1;
  }
  const until = cuts[hi]!;
  const culprit = ops.find((op) => Math.abs(op.complete + 1e-6 - until) < 1e-9)!;
  // The latest start from which the tail fails from an unknown state (none: the whole prefix, from the known start).
  const starts = [...new Set(ops.filter((op) => op.invoke <= culprit.invoke).map((op) => op.invoke))].sort((a, b) => a - b);
  let from: number | null = null;
  for (let [l, h] = [0, starts.length - 1]; l <= h; ) {
    const mid = (l + h) >> 1;
    if (windowFails(ops, starts[mid]!, until)) [from, l] = [starts[mid]!, mid + 1];
    else h = mid - 1;
  }
  const start = from === null ? initial : UNKNOWN;
  let window = from === null ? prefix(ops, until) : tail(ops, from, until);
  // Drop each observation (a read, a BadVersion) the window fails without; never the culprit.
  if (window.length <= MINIMISE_UP_TO) {
    for (const op of window.filter((o) => o.index !== culprit.index && (o.f.startsWith('read-') || o.status === 'fail'))) {
      const without = window.filter((o) => o !== op);
      if (fails(without, start)) window = without;
    }
  }
  const lines = window.map((op) => {
    const original = ops.find((o) => o.index === op.index)!;
    if (original.index === culprit.index) return `${describe(original)}  ← the prefix fails here`;
    if (op.status === original.status) return describe(original);
    return `${describe(original)}  (${original.invoke < (from ?? -Infinity) ? "running at the window's start" : 'answered after the window'}: read as info)`;
  });
  report.window = { from, until, ops: lines };
  return report;
}
