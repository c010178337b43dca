// Leader election by taking turns, mirroring Curator's LeaderSelector: participants queue on a mutex at `path`
// (lock.ts: protected ephemeral-sequential nodes, each watching only its predecessor); whoever holds it leads and
// runs the user's `takeLeadership(signal)`. Leadership is given up when that function settles, and the participant
// queues again at the back (autoRequeue, on by default here), so every participant gets its turn in queue order.
//
// Invariants:
//  - `hasLeadership` is true only while takeLeadership runs and its signal has not aborted. The signal aborts the
//    moment the session leaves Connected (Curator cancels leadership at SUSPENDED and LOST: the session may
//    already be expired on the server and another participant leading) or at close(). The function should stop
//    then; the participant requeues only once it has returned, so one participant runs one turn at a time.
//  - A participant's node carries its id: getLeader() and getParticipants() read them in queue order.
//  - Expired (or Closed) is final for the session, so for the selector: state 'CLOSED', 'closed' is emitted with
//    the reason. A new session needs a new selector.
//  - A throwing takeLeadership ends the turn as a return does; the error is emitted as 'leadershipError'.

import { EventEmitter } from 'node:events';
import { validatePath, type ZooKeeper } from '../client/zookeeper.ts';
import { eitherSignal, participantIds } from './contenders.ts';
import { Lock } from './lock.ts';

/** the prefix of a mutex's nodes (lock.ts), so of a selector's */
const PREFIX = 'lock-';

export type SelectorState = 'LATENT' | 'STARTED' | 'CLOSED';

export interface LeaderSelectorListener {
  /** This participant leads until the returned promise settles or `signal` aborts (then it should stop soon). */
  takeLeadership(signal: AbortSignal): Promise<void>;
  /** queue again after each turn (default true; false: call requeue() for another turn) */
  autoRequeue?: boolean;
}

interface SelectorEvents {
  /** takeLeadership threw or rejected; the turn ended */
  leadershipError: [unknown];
  /** the selector is final: close() was called (no reason) or the session ended (the reason) */
  closed: [Error | undefined];
}

export class LeaderSelector extends EventEmitter<SelectorEvents> {
  state: SelectorState = 'LATENT';
  private readonly mutex: Lock;
  private readonly closing = new AbortController();
  /** the current turn's signal, while it runs */
  private turn: AbortSignal | undefined;
  private running: Promise<void> | undefined;

  constructor(
    readonly zk: ZooKeeper,
    readonly path: string,
    /** this participant's id, stored in its node */
    readonly id: string,
    private readonly listener: LeaderSelectorListener,
  ) {
    super();
    validatePath(path);
    this.mutex = new Lock(zk, path, undefined, Buffer.from(id));
  }

  get hasLeadership(): boolean {
    return this.turn !== undefined && !this.turn.aborted;
  }

  /** Join the queue; takeLeadership is called at this participant's turn. */
  start(): void {
    if (this.state !== 'LATENT') throw new Error(`leader selector ${this.path} cannot be started twice`);
    this.state = 'STARTED';
    this.requeue();
  }

  /** Queue for another turn (needed only without autoRequeue); false when already queued or leading, or not started. */
  requeue(): boolean {
    if (this.state !== 'STARTED' || this.running) return false;
    this.running = this.run().finally(() => (this.running = undefined));
    return true;
  }

  /** The id of the current leader, or undefined when there is none. */
  async getLeader(): Promise<string | undefined> {
    return (await this.getParticipants())[0];
  }

  /** The ids of every participant queued, in turn order (the leader first). */
  getParticipants(): Promise<string[]> {
    return participantIds(this.zk, this.path, PREFIX);
  }

  /** Leave: a turn in progress is cancelled (its signal aborts); resolves once it returned and the node is gone. Idempotent. */
  async close(): Promise<void> {
    this.finish(undefined);
    await this.running;
  }

  private finish(reason: Error | undefined): void {
    if (this.state === 'CLOSED') return;
    this.state = 'CLOSED';
    this.closing.abort(reason);
    this.emit('closed', reason);
  }

  /** Turns, one after another while autoRequeue, until closed or the session is final. */
  private async run(): Promise<void> {
    do {
      let held: AbortSignal;
      try {
        held = await this.mutex.acquire({ signal: this.closing.signal });
      } catch (e) {
        // closed meanwhile, or the session is final (SessionExpiredError), or an error every turn would meet (NoAuth)
        if (!this.closing.signal.aborted) this.finish(e as Error);
        await this.mutex.release(); // resolves once the abandoned node is withdrawn
        return;
      }
      this.turn = eitherSignal(held, this.closing.signal)!;
      try {
        await this.listener.takeLeadership(this.turn);
      } catch (e) {
        this.emit('leadershipError', e);
      } finally {
        this.turn = undefined;
        await this.mutex.release();
      }
    } while (this.listener.autoRequeue !== false && this.state === 'STARTED');
  }
}

/**
 * A participant in the take-turns election at `path`: `leaderSelector(zk, '/election/jobs', 'worker-1', {
 * takeLeadership: async (signal) => { ...lead until done or signal aborts... } }).start()`.
 */
export const leaderSelector = (zk: ZooKeeper, path: string, id: string, listener: LeaderSelectorListener): LeaderSelector =>
  new LeaderSelector(zk, path, id, listener);
