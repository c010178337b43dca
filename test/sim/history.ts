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
      const reads = ops.filter((o) => o.kind === 'read' && o.outcome === 'ok');
      for (const w of writes) {
        if (w.outcome !== 'ok') continue;
        assert.equal(committedAt.get(w.value!), w.zxid, `write ${w.value} acknowledged at zxid ${w.zxid} but committed at ${committedAt.get(w.value!)}`);
      }
      const okWrites = writes.filter((w) => w.outcome === 'ok').sort((a, b) => a.complete! - b.complete!);
      for (const w1 of okWrites) {
        for (const w2 of writes) {
          const z2 = committedAt.get(w2.value!);
          if (z2 !== undefined && w1.complete! < w2.invoke) assert.ok(w1.zxid! < z2, `${key}: write ${w1.value} (zxid ${w1.zxid}) completed before ${w2.value} began, yet ${w2.value} has the smaller zxid ${z2}`);
        }
      }
      for (const r of reads) {
        if (r.value !== null) {
          const w = writeByValue.get(r.value);
          assert.ok(w, `${key}: read returned ${r.value}, which no client wrote`);
          assert.ok(w.invoke <= r.complete!, `${key}: read returned ${r.value} before it was written`);
          assert.equal(committedAt.get(r.value), r.zxid, `${key}: read saw ${r.value} at a zxid it was not committed at`);
        }
        for (const w of okWrites) {
          if (w.complete! < r.invoke) assert.ok(w.zxid! <= r.zxid!, `${key}: stale read at server ${r.server}: saw zxid ${r.zxid} (${r.value}) after write ${w.value} (zxid ${w.zxid}) had completed`);
        }
      }
      const byComplete = [...reads].sort((a, b) => a.complete! - b.complete!);
      for (const r1 of byComplete) {
        for (const r2 of reads) if (r1.complete! < r2.invoke) assert.ok(r2.zxid! >= r1.zxid!, `${key}: read went back in time: ${r2.zxid} after ${r1.zxid}`);
      }
    }
  }

  summary(): string {
    const count = (k: Op['kind'], o: Op['outcome']) => this.ops.filter((x) => x.kind === k && x.outcome === o).length;
    return `writes ok ${count('write', 'ok')} failed ${count('write', 'failed')}, reads ok ${count('read', 'ok')} failed ${count('read', 'failed')}`;
  }
}
