// Client histories of the simulator and their check against a sequential model.
//
// The ensemble's zxids give every write (whatever its outcome: an error txn has
// a zxid too) a total order, so linearizability reduces to checks against that
// order (the known-write-order case):
// - the model: sessions (live or not) and versioned registers (absent, or a value
//   and its version), advanced by each committed txn's *request* in zxid order. It
//   never looks at the DataTree or at prep, so a wrong version check, a lost
//   session or a misapplied txn shows as an outcome the model disagrees with;
// - an acknowledged write was committed at the zxid it was acknowledged with, and
//   its outcome (error code, new version) is the model's at that zxid;
// - writes: if w1 completed before w2 was invoked, w1's zxid is smaller (globally);
// - a read of a register returns a state the model had, at a point p between that
//   state's zxid and the register's next change; p is chosen as early as real time
//   allows (after every write to that register and every read of it that completed
//   before the read began), and every write invoked after the read completed must
//   come after p. Greedy earliest points are optimal here, so this is exact.

import assert from 'node:assert/strict';
import { Err } from '../../src/proto/constants.ts';
import type { Txn } from '../../src/proto/txn.ts';

export type OpKind = 'createSession' | 'closeSession' | 'create' | 'ephemeral' | 'set' | 'read';

export interface Op {
  client: number;
  kind: OpKind;
  session: bigint;
  cxid: number;
  /** register key (create, set, read) or ephemeral path */
  key: string;
  /** written value; for a read, the value read (null: absent) */
  value: string | null;
  /** set: the version it expects (-1: any) */
  expectedVersion: number;
  /** after completion: the version written or read */
  version: number;
  invoke: number;
  complete: number | null;
  /** zxid of the write, or the mzxid of the node a read saw (0: absent) */
  zxid: number | null;
  /** ZooKeeper error code of the outcome */
  err: number;
  outcome: 'pending' | 'ok' | 'failed';
  server: number;
  why?: string;
  /** read: the model point it was linearized at */
  point?: number;
}

const isWrite = (op: Op) => op.kind !== 'read';

/** One state of a register, from the zxid that made it. */
interface RegisterState {
  zxid: number;
  value: string | null;
  version: number;
}

export class History {
  readonly ops: Op[] = [];

  invoke(fields: Pick<Op, 'client' | 'kind' | 'session' | 'cxid' | 'key' | 'value' | 'expectedVersion' | 'server'>, now: number): Op {
    const op: Op = { ...fields, version: -1, invoke: now, complete: null, zxid: null, err: Err.ok, outcome: 'pending' };
    this.ops.push(op);
    return op;
  }

  complete(op: Op, now: number, result: { zxid: number; err: number; version: number; value?: string | null }): void {
    op.complete = now;
    op.zxid = result.zxid;
    op.err = result.err;
    op.version = result.version;
    if (result.value !== undefined) op.value = result.value;
    op.outcome = 'ok';
  }

  fail(op: Op, now: number, why: string): void {
    op.complete = now;
    op.outcome = 'failed';
    op.why = why;
  }

  *acknowledgedWrites(): Iterable<Op> {
    for (const op of this.ops) if (isWrite(op) && op.outcome === 'ok') yield op;
  }

  /** `committed`: zxid → the txn committed there, across all peers. */
  check(committed: ReadonlyMap<number, Txn>): void {
    const byRequest = new Map<string, Op>();
    for (const op of this.ops) if (isWrite(op)) byRequest.set(`${op.session}:${op.cxid}`, op);
    const committedAt = new Map<Op, number>();
    const registers = new Map<string, RegisterState[]>();
    const live = new Set<bigint>();
    const states = (key: string) => {
      let list = registers.get(key);
      if (!list) registers.set(key, (list = [{ zxid: 0, value: null, version: -1 }]));
      return list;
    };

    // The model, in zxid order.
    for (const zxid of [...committed.keys()].sort((a, b) => a - b)) {
      const { hdr } = committed.get(zxid)!;
      const op = byRequest.get(`${hdr.clientId}:${hdr.cxid}`);
      if (!op) {
        // Only the leader's expiry of a session writes without a client request.
        assert.equal(hdr.cxid, 0, `txn at ${zxid} (session ${hdr.clientId}, cxid ${hdr.cxid}) answers no client request`);
        assert.ok(live.delete(hdr.clientId), `the leader expired session ${hdr.clientId}, which is not live`);
        continue;
      }
      assert.ok(!committedAt.has(op), `${op.kind} ${op.key} of session ${op.session} committed twice: at ${committedAt.get(op)} and ${zxid}`);
      committedAt.set(op, zxid);
      let expect: { err: number; version: number };
      if (op.kind === 'createSession') {
        live.add(op.session);
        expect = { err: Err.ok, version: 0 };
      } else if (!live.has(op.session)) {
        expect = { err: Err.sessionExpired, version: 0 };
      } else if (op.kind === 'closeSession') {
        live.delete(op.session);
        expect = { err: Err.ok, version: 0 };
      } else if (op.kind === 'ephemeral') {
        expect = { err: Err.ok, version: 0 };
      } else {
        const list = states(op.key);
        const now = list[list.length - 1]!;
        if (op.kind === 'create') {
          expect = now.value !== null ? { err: Err.nodeExists, version: 0 } : { err: Err.ok, version: 0 };
          if (now.value === null) list.push({ zxid, value: op.value, version: 0 });
        } else if (now.value === null) {
          expect = { err: Err.noNode, version: 0 };
        } else if (op.expectedVersion !== -1 && op.expectedVersion !== now.version) {
          expect = { err: Err.badVersion, version: 0 };
        } else {
          expect = { err: Err.ok, version: now.version + 1 };
          list.push({ zxid, value: op.value, version: now.version + 1 });
        }
      }
      if (op.outcome !== 'ok') continue;
      assert.equal(op.zxid, zxid, `${op.kind} ${op.key} of session ${op.session} acknowledged at zxid ${op.zxid} but committed at ${zxid}`);
      assert.equal(op.err, expect.err, `${op.kind} ${op.key} (expected version ${op.expectedVersion}) at zxid ${zxid}: outcome ${op.err}, the model says ${expect.err}`);
      if (expect.err === Err.ok && op.kind === 'set') assert.equal(op.version, expect.version, `set ${op.key} at zxid ${zxid} wrote version ${op.version}, the model says ${expect.version}`);
    }

    // Writes, globally: real-time order agrees with zxid order.
    this.sweep(
      this.ops.filter((o) => isWrite(o) && committedAt.has(o)),
      (op) => committedAt.get(op)!,
      () => {},
    );
    // Registers, one at a time.
    const byKey = new Map<string, Op[]>();
    for (const op of this.ops) {
      if (op.kind !== 'create' && op.kind !== 'set' && op.kind !== 'read') continue;
      if (op.kind === 'read' ? op.outcome !== 'ok' : !committedAt.has(op)) continue;
      let list = byKey.get(op.key);
      if (!list) byKey.set(op.key, (list = []));
      list.push(op);
    }
    for (const [key, ops] of byKey) {
      const list = states(key);
      this.sweep(
        ops,
        (op) => committedAt.get(op)!,
        (read, after) => {
          const i = list.findIndex((s) => s.zxid === read.zxid);
          assert.ok(i >= 0, `${key}: read at server ${read.server} saw mzxid ${read.zxid}, at which the register did not change`);
          const seen = list[i]!;
          assert.ok(seen.value === read.value && (seen.value === null || seen.version === read.version), `${key}: read saw ${read.value} v${read.version} at mzxid ${read.zxid}, the model has ${seen.value} v${seen.version}`);
          const next = list[i + 1]?.zxid ?? Infinity;
          read.point = Math.max(read.zxid!, after);
          assert.ok(read.point < next, `${key}: stale read at server ${read.server}: saw ${read.value} (zxid ${read.zxid}) though zxid ${after} had completed before it began and changed the register at ${next}`);
        },
      );
    }
  }

  /**
   * One pass over `ops` in time order. Writes: one completed before another began
   * has the smaller zxid, and a read completed before a write began has an earlier
   * point. `placeRead` gets each read with the largest zxid (or point) of the ops
   * completed before it began, and sets its point.
   */
  private sweep(ops: Op[], zxidOf: (op: Op) => number, placeRead: (read: Op, after: number) => void): void {
    const events: { at: number; invoke: boolean; op: Op }[] = [];
    for (const op of ops) {
      events.push({ at: op.invoke, invoke: true, op });
      if (op.outcome === 'ok') events.push({ at: op.complete!, invoke: false, op });
    }
    events.sort((a, b) => a.at - b.at || Number(b.invoke) - Number(a.invoke));
    let lastWrite: Op | null = null;
    let lastRead = 0;
    for (const { invoke, op } of events) {
      if (!invoke) {
        if (op.kind !== 'read' && (!lastWrite || zxidOf(op) > zxidOf(lastWrite))) lastWrite = op;
        if (op.kind === 'read') lastRead = Math.max(lastRead, op.point!);
        continue;
      }
      const after = lastWrite ? zxidOf(lastWrite) : 0;
      if (op.kind === 'read') {
        placeRead(op, Math.max(after, lastRead));
        continue;
      }
      const z = zxidOf(op);
      if (lastWrite) assert.ok(after < z, `${op.kind} ${op.key} of session ${op.session} (zxid ${z}) began after ${lastWrite.kind} ${lastWrite.key} (zxid ${after}) completed, yet has the smaller zxid`);
      assert.ok(lastRead < z, `${op.kind} ${op.key} (zxid ${z}) began after a read placed at ${lastRead} completed, yet has the smaller zxid`);
    }
  }

  summary(): string {
    const count = (w: boolean, o: Op['outcome']) => this.ops.filter((x) => isWrite(x) === w && x.outcome === o).length;
    return `writes ok ${count(true, 'ok')} failed ${count(true, 'failed')}, reads ok ${count(false, 'ok')} failed ${count(false, 'failed')}`;
  }
}
