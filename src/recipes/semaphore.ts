// A counting semaphore of leases, mirroring Curator's InterProcessSemaphoreV2: at most `maxLeases` leases are held
// at once across every client using `path` (all must agree on maxLeases, as in Curator).
//
// Design (Curator's): a lease is a protected ephemeral-sequential node `<path>/leases/_c_<uuid>-lease-N`; a lease
// is granted when the leases number at most maxLeases. Only the holder of the gate, a lock at `<path>/locks`
// (lock.ts), creates a lease node and waits (watching the leases' children) for room, so waiters queue herd-free
// on the gate and never fill every slot with waiting nodes. The gate is let go once the lease is granted.
//
// Invariants:
//  - A lease node exists for every granted lease while it is held, so a grant never sees fewer nodes than
//    holders. A lease ends at release() or when the session leaves Connected (its signal aborts, 'lost'), as a
//    lock does; its node is withdrawn then.
//  - If the gate is lost while waiting for room (a disconnect), the waiting lease node is withdrawn and the
//    acquire starts over at the gate: two waiting nodes could otherwise each wait for the other's slot.

import { validatePath, type ZooKeeper } from '../client/zookeeper.ts';
import { NoNodeError, SessionExpiredError } from '../client/errors.ts';
import { changeOf, contenders, createProtected, eitherSignal, Hold, protectionTag, waitSignal, whenConnected, withdraw } from './contenders.ts';
import { Lock, type AcquireOptions } from './lock.ts';

const PREFIX = 'lease-';

export interface Lease {
  /** aborts when the lease ends (released, or lost with the connection), with the reason */
  readonly signal: AbortSignal;
  readonly held: boolean;
  /** give the lease back; resolves once its node is deleted (or the session is final); a no-op after a loss */
  release(): Promise<void>;
}

export class Semaphore {
  private readonly leases: string;

  constructor(
    readonly zk: ZooKeeper,
    readonly path: string,
    readonly maxLeases: number,
  ) {
    validatePath(path);
    if (!Number.isInteger(maxLeases) || maxLeases < 1) throw new RangeError(`semaphore ${path}: maxLeases must be a positive integer, not ${maxLeases}`);
    this.leases = `${path}/leases`;
  }

  /** Wait for a lease; rejects with the signal's reason (TimeoutError after timeoutMs) or SessionExpiredError. */
  async acquire(options: AcquireOptions = {}): Promise<Lease> {
    const signal = waitSignal(options);
    for (;;) {
      const gate = new Lock(this.zk, `${this.path}/locks`);
      const gateHeld = await gate.acquire({ signal });
      const tag = protectionTag();
      try {
        return await this.waitForRoom(tag, eitherSignal(signal, gateHeld)!);
      } catch (e) {
        await withdraw(this.zk, this.leases, tag);
        // the caller's signal wins, even when it aborted during the withdrawal after another failure
        if (signal?.aborted) throw signal.reason;
        if (!gateHeld.aborted || e instanceof SessionExpiredError) throw e;
        // the gate was lost with the connection: queue at the gate again
      } finally {
        await gate.release();
      }
    }
  }

  /** Create this lease's node and wait until the leases number at most maxLeases. */
  private async waitForRoom(tag: string, signal: AbortSignal): Promise<Lease> {
    const mine = await createProtected(this.zk, this.leases, tag, PREFIX, undefined, signal);
    for (;;) {
      const leases = await contenders(this.zk, this.leases, [PREFIX], signal);
      if (!leases.includes(mine)) throw new NoNodeError(`${this.leases}/${mine}`);
      if (leases.length <= this.maxLeases && this.zk.state === 'Connected') {
        const hold = new Hold(this.zk, this.leases, tag, `lease ${this.leases}/${mine}`, () => undefined);
        return { signal: hold.signal, get held() { return hold.held; }, release: () => hold.end(new Error(`lease ${mine} released`)) };
      }
      if (this.zk.state !== 'Connected') await whenConnected(this.zk, signal);
      else await changeOf(this.zk, this.leases, signal, { queue: leases, prefixes: [PREFIX] });
    }
  }
}

/** A semaphore of `maxLeases` leases at `path`: `const lease = await semaphore(zk, '/pools/db', 3).acquire()`. */
export const semaphore = (zk: ZooKeeper, path: string, maxLeases: number): Semaphore => new Semaphore(zk, path, maxLeases);
