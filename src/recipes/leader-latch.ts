// Leader election by latch, mirroring Curator's LeaderLatch: every participant started on the same path joins a
// queue of protected ephemeral-sequential `latch-` nodes (see contenders.ts); the first is the leader until it
// closes or loses its connection. Each participant watches only its predecessor (no herd).
//
// Invariants:
//  - `hasLeadership` is true only while the session is Connected and this participant's node is first. When the
//    session leaves Connected, leadership ends at once ('notLeader'), as Curator's standard error policy treats
//    SUSPENDED: the session may already be expired on the server and a new leader chosen. On the reconnect the
//    participant withdraws its old node and queues again with a new one (Curator's reset()).
//  - Expired (or Closed) is final for the session, so for the latch too: state 'CLOSED', 'closed' is emitted with
//    the reason; await() rejects. A new session needs a new latch.
//  - close() ends leadership ('notLeader' if it was held) and resolves once the node is deleted (or the session
//    is final).

import { EventEmitter } from 'node:events';
import { SessionExpiredError } from '../client/errors.ts';
import { validatePath, type ZooKeeper } from '../client/zookeeper.ts';
import { changeOf, contenders, createProtected, eitherSignal, participantIds, protectionTag, waitSignal, whenConnected, withdraw } from './contenders.ts';

const PREFIX = 'latch-';

export type LatchState = 'LATENT' | 'STARTED' | 'CLOSED';

interface LatchEvents {
  isLeader: [];
  notLeader: [];
  /** the latch is final: close() was called (no reason) or the session ended (the reason) */
  closed: [Error | undefined];
}

export class LeaderLatch extends EventEmitter<LatchEvents> {
  state: LatchState = 'LATENT';
  private leader = false;
  private readonly closing = new AbortController();
  private running: Promise<void> = Promise.resolve();
  private withdrawal: Promise<void> = Promise.resolve();

  constructor(
    readonly zk: ZooKeeper,
    readonly path: string,
    /** this participant's id, stored in its node (Curator's participant id); getLeader() reads it */
    readonly id = '',
  ) {
    super();
    validatePath(path);
  }

  get hasLeadership(): boolean {
    return this.leader;
  }

  /** Join the election; leadership comes later ('isLeader', await()). */
  start(): void {
    if (this.state !== 'LATENT') throw new Error(`leader latch ${this.path} cannot be started twice`);
    this.state = 'STARTED';
    this.running = this.run();
  }

  /** Resolves once this participant leads; rejects on timeout (TimeoutError), abort, or when the latch is closed. */
  await(options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<void> {
    const signal = waitSignal(options);
    return new Promise((resolve, reject) => {
      const finish = (e?: unknown) => {
        this.off('isLeader', finish).off('closed', onClosed);
        signal?.removeEventListener('abort', onAbort);
        if (e === undefined) resolve();
        else reject(e);
      };
      const onClosed = (reason?: Error) => finish(reason ?? new Error(`leader latch ${this.path} closed`));
      const onAbort = () => finish(signal!.reason);
      if (this.leader) return resolve();
      if (this.state === 'CLOSED') return onClosed();
      if (signal?.aborted) return reject(signal.reason);
      this.on('isLeader', finish).on('closed', onClosed);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** The id of the current leader (the first node's data), or undefined when there is none. */
  async getLeader(): Promise<string | undefined> {
    return (await participantIds(this.zk, this.path, PREFIX))[0];
  }

  /** Leave the election: leadership ends now; resolves once this participant's node is gone. Idempotent. */
  async close(): Promise<void> {
    this.finish(undefined);
    await this.running;
    await this.withdrawal;
  }

  private finish(reason: Error | undefined): void {
    if (this.state === 'CLOSED') return;
    this.state = 'CLOSED';
    this.setLeadership(false);
    this.closing.abort(reason);
    this.emit('closed', reason);
  }

  private setLeadership(on: boolean): void {
    if (this.leader === on) return;
    this.leader = on;
    this.emit(on ? 'isLeader' : 'notLeader');
  }

  /** Rounds of queueing, one per connected stretch of the session, until closed or the session is final. */
  private async run(): Promise<void> {
    while (this.state === 'STARTED') {
      try {
        await whenConnected(this.zk, this.closing.signal);
      } catch (e) {
        if (this.state === 'STARTED') this.finish(e as Error);
        return;
      }
      await this.round();
    }
  }

  /** Queue with a fresh node while the session stays Connected; lead when first. Ends withdrawing the node. */
  private async round(): Promise<void> {
    const suspended = new AbortController();
    const onState = () => {
      if (this.zk.state === 'Connected') return;
      this.setLeadership(false);
      suspended.abort();
    };
    this.zk.on('state', onState);
    const signal = eitherSignal(this.closing.signal, suspended.signal)!;
    const tag = protectionTag();
    try {
      const mine = await createProtected(this.zk, this.path, tag, PREFIX, Buffer.from(this.id), signal);
      for (;;) {
        const queue = await contenders(this.zk, this.path, [PREFIX], signal);
        const at = queue.indexOf(mine);
        if (at < 0) return; // deleted by someone else: queue again
        if (at > 0) {
          await changeOf(this.zk, `${this.path}/${queue[at - 1]}`, signal);
          continue;
        }
        if (signal.aborted) return;
        this.setLeadership(true);
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        return;
      }
    } catch (e) {
      // Suspended, closed, or the session is final (the next whenConnected says so) end the round; anything
      // else (NoAuth on the path, say) would fail every round alike, so it closes the latch.
      if (!signal.aborted && !(e instanceof SessionExpiredError)) this.finish(e as Error);
    } finally {
      this.zk.off('state', onState);
      this.setLeadership(false);
      this.withdrawal = withdraw(this.zk, this.path, tag);
    }
  }
}

/** A participant in the leader election at `path`; call start(), then watch hasLeadership / 'isLeader' / 'notLeader'. */
export const leaderLatch = (zk: ZooKeeper, path: string, id?: string): LeaderLatch => new LeaderLatch(zk, path, id);
