// Client histories of the simulator and their check. Each key is a register;
// every write has a unique value, and the ensemble's zxids give the writes a
// total order, so linearizability reduces to checks against that order
// (the known-version-order case of register linearizability):
// - an acknowledged write was committed, at the zxid it was acknowledged with;
// - writes: if w1 completed before w2 was invoked, w1's zxid is smaller;
// - a read returns the value of a write invoked before the read completed, and
//   no write to that key with a larger zxid completed before the read began;
// - reads: if r1 completed before r2 was invoked, r2 sees a zxid >= r1's.

import assert from 'node:assert/strict';

export interface Op {
  client: number;
  kind: 'write' | 'read';
  key: string;
  /** written value; for a read, the value read */
  value: string | null;
  invoke: number;
  complete: number | null;
  /** zxid of the write, or of the write a read saw (0: the initial empty value) */
  zxid: number | null;
  outcome: 'pending' | 'ok' | 'failed';
  server: number;
  why?: string;
}

export class History {
  readonly ops: Op[] = [];

  invoke(client: number, kind: Op['kind'], key: string, value: string | null, now: number, server: number): Op {
    const op: Op = { client, kind, key, value, invoke: now, complete: null, zxid: null, outcome: 'pending', server };
    this.ops.push(op);
    return op;
  }

  complete(op: Op, now: number, zxid: number, value: string | null): void {
    op.complete = now;
    op.zxid = zxid;
    op.value = value;
    op.outcome = 'ok';
  }

  fail(op: Op, now: number, why: string): void {
    op.complete = now;
    op.outcome = 'failed';
    op.why = why;
  }

  *acknowledgedWrites(): Iterable<Op> {
    for (const op of this.ops) if (op.kind === 'write' && op.outcome === 'ok') yield op;
  }

  /** `committed`: zxid → "client:cxid:path=value" of every txn any peer applied. */
  check(committed: ReadonlyMap<number, string>): void {
    const writeByValue = new Map<string, Op>();
    for (const op of this.ops) if (op.kind === 'write') writeByValue.set(op.value!, op);
    // zxid at which each write's value was committed (acknowledged or not)
    const committedAt = new Map<string, number>();
    for (const [zxid, what] of committed) committedAt.set(what.slice(what.indexOf('=') + 1), zxid);

    const byKey = new Map<string, Op[]>();
    for (const op of this.ops) {
      let list = byKey.get(op.key);
      if (!list) byKey.set(op.key, (list = []));
      list.push(op);
    }
    for (const [key, ops] of byKey) {
      const writes = ops.filter((o) => o.kind === 'write');
      for (const w of writes) {
        if (w.outcome !== 'ok') continue;
        assert.equal(committedAt.get(w.value!), w.zxid, `write ${w.value} acknowledged at zxid ${w.zxid} but committed at ${committedAt.get(w.value!)}`);
      }
      // One sweep in time order: at each invocation, nothing completed before it may be newer than what it saw or wrote.
      const events: { at: number; invoke: boolean; op: Op }[] = [];
      for (const op of ops) {
        if (op.outcome === 'ok' || (op.kind === 'write' && committedAt.has(op.value!))) events.push({ at: op.invoke, invoke: true, op });
        if (op.outcome === 'ok') events.push({ at: op.complete!, invoke: false, op });
      }
      events.sort((a, b) => a.at - b.at || Number(b.invoke) - Number(a.invoke));
      let lastWrite: Op | null = null;
      let lastRead: Op | null = null;
      for (const { invoke, op } of events) {
        if (!invoke) {
          if (op.kind === 'write' && (!lastWrite || op.zxid! > lastWrite.zxid!)) lastWrite = op;
          if (op.kind === 'read' && (!lastRead || op.zxid! > lastRead.zxid!)) lastRead = op;
          continue;
        }
        if (op.kind === 'write') {
          const z = committedAt.get(op.value!)!;
          if (lastWrite) assert.ok(lastWrite.zxid! < z, `${key}: write ${lastWrite.value} (zxid ${lastWrite.zxid}) completed before ${op.value} began, yet ${op.value} has the smaller zxid ${z}`);
        } else {
          if (lastWrite) assert.ok(lastWrite.zxid! <= op.zxid!, `${key}: stale read at server ${op.server}: saw zxid ${op.zxid} (${op.value}) after write ${lastWrite.value} (zxid ${lastWrite.zxid}) had completed`);
          if (lastRead) assert.ok(lastRead.zxid! <= op.zxid!, `${key}: read went back in time: ${op.zxid} after ${lastRead.zxid}`);
          if (op.value !== null) {
            const w = writeByValue.get(op.value);
            assert.ok(w, `${key}: read returned ${op.value}, which no client wrote`);
            assert.ok(w.invoke <= op.complete!, `${key}: read returned ${op.value} before it was written`);
            assert.equal(committedAt.get(op.value), op.zxid, `${key}: read saw ${op.value} at a zxid it was not committed at`);
          }
        }
      }
    }
  }

  summary(): string {
    const count = (k: Op['kind'], o: Op['outcome']) => this.ops.filter((x) => x.kind === k && x.outcome === o).length;
    return `writes ok ${count('write', 'ok')} failed ${count('write', 'failed')}, reads ok ${count('read', 'ok')} failed ${count('read', 'failed')}`;
  }
}
