// Barriers, mirroring Curator's DistributedBarrier and DistributedDoubleBarrier.
//
// Barrier: while the node at `path` exists, waitOnBarrier() waits; removeBarrier() deletes it and every waiter
// goes on. Each waiter watches the one node (one event wakes each waiter once; nothing else wakes them).
//
// DoubleBarrier (the ZooKeeper recipe "Double Barriers"): `memberQty` members enter together and leave together.
// enter() creates the member's ephemeral node `<path>/<uuid>` and waits for `<path>/ready`, which the member that
// finds memberQty members present creates (the one event that wakes the others). leave() deletes the member's
// node and waits until every member's is gone, herd-free: the lowest node waits for the highest, every other
// member deletes its node and waits for the lowest; the lowest goes last, removing `ready` first, so that the
// path can serve another round once every member has left (a leaver counts only the members present when it
// began to leave: one that has left may already be entering the next round).
//
// Invariants:
//  - A member's node lives as long as its session: a disconnect changes nothing (waits re-check on reconnect); an
//    expired member counts as gone (its node went with the session) and its own wait ends with SessionExpiredError.
//  - If the lowest member's session ends while the others leave, nobody removes `ready` (a leaver cannot tell it
//    from the next round's): a later round on that path would pass enter() at once, so it must delete `ready`
//    first (or use a new path).
//  - A member that gives up entering or leaving (timeout, abort) withdraws its node (in the background, as a lock's
//    waiter does), so it no longer counts.
//  - Requests are retried across ConnectionLoss; each is safe to repeat (create and delete accept NodeExists /
//    NoNode from a first attempt that was applied).

import { randomUUID } from 'node:crypto';
import { CreateMode } from '../client/acl.ts';
import { NodeExistsError, NoNodeError } from '../client/errors.ts';
import { validatePath, type ZooKeeper } from '../client/zookeeper.ts';
import { changeOf, ensureContainers, ifAbsent, retrying, waitSignal, withdraw } from './contenders.ts';
import type { AcquireOptions } from './lock.ts';

const READY = 'ready';

/** Create `path` with `mode`, its missing ancestors as containers; NodeExists is success. */
async function createOnce(zk: ZooKeeper, path: string, mode: number, signal?: AbortSignal): Promise<void> {
  for (;;) {
    try {
      await retrying(zk, signal, () => zk.create(path, undefined, { mode, signal }));
      return;
    } catch (e) {
      if (e instanceof NodeExistsError) return; // a first attempt lost with the connection was applied, or another's
      if (!(e instanceof NoNodeError)) throw e;
      await ensureContainers(zk, path.slice(0, path.lastIndexOf('/')), signal);
    }
  }
}

/** Delete `path`; NoNode is success. */
const deleteOnce = (zk: ZooKeeper, path: string, signal?: AbortSignal): Promise<void> =>
  retrying(zk, signal, () => zk.delete(path, { signal })).catch(ifAbsent(undefined));

export class Barrier {
  constructor(
    readonly zk: ZooKeeper,
    readonly path: string,
  ) {
    validatePath(path);
  }

  /** Raise the barrier (create its node; its parents as containers). Idempotent. */
  setBarrier(): Promise<void> {
    return createOnce(this.zk, this.path, CreateMode.persistent);
  }

  /** Lower it: every waiter goes on. Idempotent. */
  removeBarrier(): Promise<void> {
    return deleteOnce(this.zk, this.path);
  }

  /** Resolves once the barrier is down (at once if it is); rejects on timeout/abort or with SessionExpiredError. */
  async waitOnBarrier(options: AcquireOptions = {}): Promise<void> {
    const signal = waitSignal(options);
    while (await retrying(this.zk, signal, () => this.zk.exists(this.path, { signal }))) await changeOf(this.zk, this.path, signal);
  }
}

export class DoubleBarrier {
  /** this member's node name (a fresh one per enter) */
  private member = '';
  private readonly ready: string;

  constructor(
    readonly zk: ZooKeeper,
    readonly path: string,
    readonly memberQty: number,
  ) {
    validatePath(path);
    if (!Number.isInteger(memberQty) || memberQty < 1) throw new RangeError(`double barrier ${path}: memberQty must be a positive integer, not ${memberQty}`);
    this.ready = `${path}/${READY}`;
  }

  /** Join, and resolve once memberQty members have joined; rejects on timeout/abort (withdrawing) or SessionExpiredError. */
  async enter(options: AcquireOptions = {}): Promise<void> {
    if (this.member) throw new Error(`double barrier ${this.path}: already entered by this object`);
    const signal = waitSignal(options);
    this.member = randomUUID();
    try {
      await createOnce(this.zk, `${this.path}/${this.member}`, CreateMode.ephemeral, signal);
      for (;;) {
        if (await retrying(this.zk, signal, () => this.zk.exists(this.ready, { signal }))) return;
        if ((await this.members(signal)).length >= this.memberQty) return await createOnce(this.zk, this.ready, CreateMode.persistent, signal);
        await changeOf(this.zk, this.ready, signal);
      }
    } catch (e) {
      this.withdraw();
      throw e;
    }
  }

  /** Leave, and resolve once every member has left; rejects on timeout/abort (withdrawing) or SessionExpiredError. */
  async leave(options: AcquireOptions = {}): Promise<void> {
    if (!this.member) throw new Error(`double barrier ${this.path}: not entered by this object`);
    const signal = waitSignal(options);
    const mine = this.member;
    try {
      // Only this round's members count: one that has left may already have entered the next round anew.
      const round = new Set(await this.members(signal));
      for (;;) {
        const members = (await this.members(signal)).filter((m) => round.has(m));
        const at = members.indexOf(mine);
        if (members.length === 0) break;
        if (at >= 0 && members.length === 1) {
          await deleteOnce(this.zk, this.ready, signal); // before our node: whoever sees it gone may enter the next round
          await deleteOnce(this.zk, `${this.path}/${mine}`, signal);
          break;
        }
        if (at === 0) {
          await changeOf(this.zk, `${this.path}/${members.at(-1)!}`, signal);
          continue;
        }
        if (at > 0) await deleteOnce(this.zk, `${this.path}/${mine}`, signal);
        await changeOf(this.zk, `${this.path}/${members[0]!}`, signal);
      }
      this.member = '';
    } catch (e) {
      this.withdraw();
      throw e;
    }
  }

  /** The members' node names, sorted (the ZooKeeper recipe's order for leaving); none once the path is gone. */
  private async members(signal: AbortSignal | undefined): Promise<string[]> {
    const children = await retrying(this.zk, signal, () => this.zk.getChildren(this.path, { signal })).catch(ifAbsent([]));
    return children.filter((c) => c !== READY).sort();
  }

  /** Delete this member's node in the background (retried across a disconnect; it goes with the session anyway). */
  private withdraw(): void {
    void withdraw(this.zk, this.path, this.member);
    this.member = '';
  }
}

/** A barrier at `path`: one side calls setBarrier() / removeBarrier(), the others waitOnBarrier(). */
export const barrier = (zk: ZooKeeper, path: string): Barrier => new Barrier(zk, path);

/** A double barrier at `path` for `memberQty` members: `await b.enter()`, work, `await b.leave()`. */
export const doubleBarrier = (zk: ZooKeeper, path: string, memberQty: number): DoubleBarrier => new DoubleBarrier(zk, path, memberQty);
