// The set-of-creates checker. Clients create named children (each name used
// once) and sequential children (prefix carrying the op's own tag, so a node
// names the op that made it) under fixed parents; after the faults are healed
// every peer's children of each parent are read after a sync. Checked:
// - every acknowledged create is present on every peer, under the path its
//   reply named;
// - nothing that definitely failed (the server answered with an error) is
//   present, and nothing present was never asked for;
// - every peer holds the same children;
// - sequence numbers (the 10-digit suffix) are unique per parent, and
//   increasing in real time: a create acknowledged before another was invoked
//   got the smaller number.
// Creates without an answer (`info`) may be present or not.
//
// Mirrors nothing in ZooKeeper: Jepsen's set checker, with ZooKeeper's
// sequential numbering added.

import { describe, type Op } from './history.ts';

export interface SetReport {
  valid: boolean;
  acknowledged: number;
  failed: number;
  indeterminate: number;
  /** indeterminate creates found present */
  indeterminatePresent: number;
  problems: string[];
}

/** The child name an op's create makes (named) or begins with (sequential). */
const childOf = (op: Op): string => (op.f === 'create' ? op.input.name : op.input.prefix);

/** `final`: peer → parent → children names, read after heal and sync. */
export function checkSets(ops: readonly Op[], final: ReadonlyMap<number, ReadonlyMap<string, readonly string[]>>): SetReport {
  const creates = ops.filter((op) => op.f === 'create' || op.f === 'create-seq');
  const problems: string[] = [];
  const peers = [...final.keys()];
  const childrenOn = (peer: number, parent: string) => new Set(final.get(peer)?.get(parent) ?? []);

  // Same children everywhere.
  const parents = new Set(creates.map((op) => op.key));
  for (const parent of parents) {
    const [first, ...rest] = peers;
    const reference = [...childrenOn(first!, parent)].sort().join(',');
    for (const peer of rest) {
      if ([...childrenOn(peer, parent)].sort().join(',') !== reference) problems.push(`peers ${first} and ${peer} hold different children of ${parent}`);
    }
  }

  // Which op made each child present (by the name or prefix it carries).
  const byChild = new Map<string, Op>();
  for (const op of creates) byChild.set(`${op.key}/${childOf(op)}`, op);
  const madeBy = (parent: string, child: string): Op | undefined => byChild.get(`${parent}/${child}`) ?? byChild.get(`${parent}/${child.replace(/\d{10}$/, '')}`);

  let indeterminatePresent = 0;
  for (const peer of peers) {
    for (const parent of parents) {
      const present = childrenOn(peer, parent);
      for (const child of present) {
        const op = madeBy(parent, child);
        if (!op) problems.push(`peer ${peer}: ${parent}/${child} is present but no client created it`);
        else if (op.status === 'fail') problems.push(`peer ${peer}: ${parent}/${child} is present but its create definitely failed: ${describe(op)}`);
        else if (op.status === 'info' && peer === peers[0]) indeterminatePresent++;
      }
      for (const op of creates) {
        if (op.key !== parent || op.status !== 'ok') continue;
        const child = op.output.path.slice(parent.length + 1);
        if (!present.has(child)) problems.push(`peer ${peer}: acknowledged ${op.output.path} is missing: ${describe(op)}`);
      }
    }
  }

  // Sequence numbers per parent: unique, and increasing in real time.
  for (const parent of parents) {
    const numbered = [...childrenOn(peers[0]!, parent)].flatMap((child) => {
      const op = madeBy(parent, child);
      const seq = /(\d{10})$/.exec(child);
      return op?.f === 'create-seq' && seq ? [{ op, child, seq: Number(seq[1]) }] : [];
    });
    const bySeq = new Map<number, string>();
    for (const n of numbered) {
      const other = bySeq.get(n.seq);
      if (other !== undefined) problems.push(`${parent}: sequence number ${n.seq} taken by both ${other} and ${n.child}`);
      bySeq.set(n.seq, n.child);
    }
    const acked = numbered.filter((n) => n.op.status === 'ok').sort((a, b) => a.op.complete - b.op.complete);
    // Each create must number above every create acknowledged before it was invoked.
    let i = 0;
    let highest = -1;
    let highestChild = '';
    for (const n of [...numbered].sort((a, b) => a.op.invoke - b.op.invoke)) {
      while (i < acked.length && acked[i]!.op.complete < n.op.invoke) {
        if (acked[i]!.seq > highest) [highest, highestChild] = [acked[i]!.seq, acked[i]!.child];
        i++;
      }
      if (n.seq <= highest) problems.push(`${parent}: ${n.child} (${describe(n.op)}) was invoked after ${highestChild} was acknowledged, yet numbers below it`);
    }
  }

  const count = (s: Op['status']) => creates.filter((op) => op.status === s).length;
  return { valid: problems.length === 0, acknowledged: count('ok'), failed: count('fail'), indeterminate: count('info'), indeterminatePresent, problems };
}
