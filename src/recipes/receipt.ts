// Writes applied exactly once across ConnectionLoss, for the recipes whose writes must not be repeated (a queue's
// put and take, a counter's compare-and-set). ZooKeeper's answer to a request lost with the connection is
// unknown: it may have been applied. Repeating a create would duplicate an item, repeating a take would find the
// item gone and skip it (lost), and repeating a versioned setData fails with BadVersion though the value is ours.
// So the write is a multi that also creates an ephemeral receipt `<dir>/receipt-<uuid>`: once the session is back,
// the receipt's presence says whether the multi was applied (only this session could have created it, and only it
// deletes it). If it was not, the multi is sent again; if it was, the receipt is deleted and the write is done.
// Curator's recipes (SimpleDistributedQueue, SharedCount) have no such guard: a retried take can lose an item.
//
// Invariants:
//  - commitOnce resolves only if the ops were applied, exactly once; it rejects with the error of the failing op
//    when they were not (nothing applied), with the signal's reason (checked only before each attempt: once a
//    multi is sent, its outcome is waited for, so an applied take is never dropped by a timeout), or
//    SessionExpiredError. An expired session leaves the outcome of the last attempt unknown (its receipt went
//    with the session).
//  - A receipt lives only between the multi and its deletion (or the session's end); names never collide (uuids).

import { randomUUID } from 'node:crypto';
import { CreateMode } from '../client/acl.ts';
import { ConnectionLossError } from '../client/errors.ts';
import { op } from '../client/ops.ts';
import type { OpResult } from '../client/transaction.ts';
import type { ZooKeeper } from '../client/zookeeper.ts';
import type { Request } from '../proto/records.ts';
import { retrying, whenConnected } from './contenders.ts';

/** The names of receipts, which the recipes' listings skip. */
export const RECEIPT_PREFIX = 'receipt-';

/**
 * Apply `ops` atomically and exactly once, `dir` (existing) holding the receipt. Resolves to the ops' results, or to
 * undefined when the multi was found applied after a ConnectionLoss (its reply, so its results, lost).
 */
export async function commitOnce(zk: ZooKeeper, dir: string, ops: Request[], signal?: AbortSignal): Promise<OpResult[] | undefined> {
  const receipt = `${dir}/${RECEIPT_PREFIX}${randomUUID()}`;
  for (;;) {
    signal?.throwIfAborted();
    let results: OpResult[] | undefined;
    try {
      // Not abortable once sent: giving up before the outcome is known could drop a write that was applied.
      results = await zk.multi([...ops, op.create(receipt, undefined, { mode: CreateMode.ephemeral })]);
    } catch (e) {
      if (!(e instanceof ConnectionLossError)) throw e;
      await whenConnected(zk);
      if (!(await retrying(zk, undefined, () => zk.exists(receipt)))) continue; // not applied: send it again (unless aborted)
    }
    // Applied: whatever befalls the receipt now (already gone, the session ending) changes nothing of that.
    await retrying(zk, undefined, () => zk.delete(receipt)).catch(() => undefined);
    return results?.slice(0, ops.length);
  }
}
