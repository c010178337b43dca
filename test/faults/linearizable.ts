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
// For a violation the report names the shortest failing prefix of the key's
// history (found by bisection: a prefix cut at time t keeps ops invoked before
// t, those still running read as `info`), the op whose answer makes it fail,
// the ops acknowledged just before that op began and those running alongside.
//
// Mirrors nothing in ZooKeeper: the checker Jepsen runs on its histories.

import { describe, type Op, type Versioned } from './history.ts';

export const INITIAL: Versioned = { value: 'init', version: 0 };

/** How far before a failing op the window of a violation reaches for ops running alongside it. */
const WINDOW_LEAD_MS = 1000;

/** The model's next state after `op`, or null if `op` cannot take effect in `state`. */
function step(state: Versioned, op: Op): Versioned | null {
  switch (op.f) {
    case 'read-sync':
    case 'read-quorum':
      return op.output.value === state.value && op.output.version === state.version ? state : null;
    case 'write': {
      const next = { value: op.input.value as string, version: state.version + 1 };
      return op.status !== 'ok' || op.output.version === next.version ? next : null;
    }
    case 'cas': {
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
export function linearizable(ops: readonly Op[], initial: Versioned = INITIAL, budget = 2_000_000): Verdict {
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
  const stack: { entry: Entry; state: Versioned }[] = [];
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

/** Ops invoked before `t`, those not yet complete at `t` read as `info`. */
function prefix(ops: readonly Op[], t: number): Op[] {
  return relevant(ops.filter((op) => op.invoke < t).map((op) => (op.complete <= t ? op : { ...op, status: 'info' as const, output: undefined, complete: Infinity })));
}

export interface KeyReport {
  key: string;
  ops: number;
  verdict: Verdict;
  /** for a violation: the shortest failing prefix's end and the ops around it */
  window?: { until: number; ops: string[] };
}

/** Check one key's ops (any statuses); for a violation, bisect to the shortest failing prefix. */
export function checkRegister(key: string, ops: readonly Op[], initial: Versioned = INITIAL): KeyReport {
  const verdict = linearizable(relevant(ops), initial);
  const report: KeyReport = { key, ops: ops.length, verdict };
  if (verdict.valid !== false) return report;
  // Cut points: just after each completion; the last one fails.
  const cuts = [...new Set(ops.filter((op) => op.complete !== Infinity).map((op) => op.complete + 1e-6))].sort((a, b) => a - b);
  let lo = 0;
  let hi = cuts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (linearizable(prefix(ops, cuts[mid]!), initial).valid === false) hi = mid;
    else lo = mid + 1;
  }
  const until = cuts[hi]!;
  const culprit = ops.find((op) => Math.abs(op.complete + 1e-6 - until) < 1e-9)!;
  // The window: the ops acknowledged last before the culprit began, and those running alongside it
  // (invoked at most WINDOW_LEAD_MS before it: an op without an answer from long before overlaps everything).
  const before = ops
    .filter((op) => op.complete < culprit.invoke && op.status !== 'fail')
    .sort((a, b) => a.complete - b.complete)
    .slice(-3);
  const during = ops.filter((op) => op.invoke < until && op.complete > culprit.invoke && op.invoke > culprit.invoke - WINDOW_LEAD_MS && op !== culprit).slice(0, 12);
  const window = [...new Set([...before, ...during, culprit])].sort((a, b) => a.invoke - b.invoke);
  report.window = { until, ops: window.map((op) => (op === culprit ? `${describe(op)}  ← the prefix fails here` : describe(op))) };
  return report;
}
