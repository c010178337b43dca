// A distributed FIFO queue, mirroring Curator's SimpleDistributedQueue (the ZooKeeper recipe "Queues"): an item is
// a persistent-sequential node `<path>/qn-NNNNNNNNNN` holding its data; consumers take the lowest sequence first.
// put() creates an item, take() waits for one and removes it, poll() removes one if there is any.
//
// Invariants:
//  - Each item is taken by exactly one consumer, and put once, even across ConnectionLoss: a take is the item's
//    deletion, a put its creation, each applied exactly once by commitOnce (receipt.ts); a consumer that loses
//    the race for an item (NoNode) tries the next. Items are immutable, so the data read before the deletion is
//    the item's. Only an expired session can leave a put or take of its own in doubt (at most once then).
//  - A waiting take watches the queue's children and looks again on every change or reconnect (every waiting
//    consumer wakes for a new item, as in the recipe); it ends by taking an item, its timeout/abort, or
//    SessionExpiredError. Receipts in the queue are not items (their names lack the `qn-` prefix before a sequence).
//  - The queue's node is created as a container (the server removes it once empty, as Curator's ensurePath does).

import { CreateMode } from '../client/acl.ts';
import { NoNodeError } from '../client/errors.ts';
import { op, type Data } from '../client/ops.ts';
import { validatePath, type CallOptions, type ZooKeeper } from '../client/zookeeper.ts';
import { changeOf, contenders, ensureContainers, ifAbsent, retrying, waitSignal } from './contenders.ts';
import type { AcquireOptions } from './lock.ts';
import { commitOnce } from './receipt.ts';

const PREFIX = 'qn-';

export class DistributedQueue {
  constructor(
    readonly zk: ZooKeeper,
    readonly path: string,
  ) {
    validatePath(path);
  }

  /** Add an item at the tail (Curator's offer); resolves once it is in the queue, exactly once. */
  async put(data: Data, options: CallOptions = {}): Promise<void> {
    const item = op.create(`${this.path}/${PREFIX}`, data, { mode: CreateMode.persistentSequential });
    for (;;) {
      try {
        await commitOnce(this.zk, this.path, [item], options.signal);
        return;
      } catch (e) {
        if (!(e instanceof NoNodeError)) throw e;
        await ensureContainers(this.zk, this.path, options.signal);
      }
    }
  }

  /** Remove the head item and resolve to its data, waiting for one; rejects on timeout/abort or SessionExpiredError. */
  async take(options: AcquireOptions = {}): Promise<Buffer> {
    const signal = waitSignal(options);
    for (;;) {
      const data = await this.poll({ signal });
      if (data) return data;
      await ensureContainers(this.zk, this.path, signal);
      // resolves at once if an item came meanwhile; NoNode: the empty container was removed just now
      await changeOf(this.zk, this.path, signal, { queue: [], prefixes: [PREFIX] }).catch(ifAbsent(undefined));
    }
  }

  /** Remove the head item and resolve to its data, or to undefined when the queue is empty. */
  async poll(options: CallOptions = {}): Promise<Buffer | undefined> {
    const { signal } = options;
    for (const name of await contenders(this.zk, this.path, [PREFIX], signal).catch(ifAbsent([]))) {
      const item = `${this.path}/${name}`;
      const read = await retrying(this.zk, signal, () => this.zk.getData(item, { signal })).catch(ifAbsent(undefined));
      if (!read) continue; // taken by another consumer
      const taken = await commitOnce(this.zk, this.path, [op.delete(item)], signal).then(() => true, ifAbsent(false));
      if (taken) return read.data;
    }
    return undefined;
  }
}

/** A FIFO queue at `path`: `await q.put('job')` on one side, `const data = await q.take()` on the other. */
export const distributedQueue = (zk: ZooKeeper, path: string): DistributedQueue => new DistributedQueue(zk, path);
