// The lock workload and its checker. Lock workers (one pinned to each peer, so
// every fault finds the holder's peer with the same odds, and a holder cut off
// with its peer may lose its session) contend for the lock recipe (src/recipes/lock.ts) at /lock: acquire, hold a
// little, release, again. Each round is two history ops on the worker's
// process: `acquire` (invoke at the call; ok when acquire() resolved, fail at
// a timeout or a final session) and `hold`, invoked the instant the lock was
// acquired and completed when the worker stopped believing it held: when it
// decided to release (before the delete is sent), or when the hold's signal
// aborted because the session left Connected (Disconnected observed: the
// session may already be expired on the server, so a holder must not believe
// past that point). A hold never completed (the run was cut short) lasts for
// ever.
//
// Checked:
// - exclusion: no two holds overlap in real time. The clocks are one (every
//   worker runs in the suite's process), a belief starts when the client
//   learned it held and ends when it learned it might not: the indeterminacy
//   is all on the holder's side, so an overlap is a real double holding.
// - progress: nobody waits for ever after heal: every lock worker acquires
//   again after the last fault was healed and the ensemble settled, and no
//   attempt invoked after that times out.
// - an attempt ends only holding, by its timeout or with its session (final);
// - no node is left behind: once every session closed or timed out, /lock has
//   no children on any peer.
//
// Mirrors nothing in ZooKeeper: Jepsen's lock checks, for Curator's
// InterProcessMutex as src/recipes builds it.

import { connect, lock, SessionExpiredError, type ZooKeeper } from '../../src/client/index.ts';
import type { Rand } from '../support/random.ts';
import { describe, type History, type Op } from './history.ts';

export const LOCK_PATH = '/lock';

export interface LockWorkerOptions {
  sessionTimeoutMs: number;
  /** an acquire gives up after this long (a timeout after heal fails progress) */
  acquireTimeoutMs: number;
}

/** How long a holder holds, ms: long enough that a fault often finds the lock held (the handover between holders takes a few round trips). */
const HOLD_MS: [number, number] = [100, 500];
/** Pause between rounds, at most. */
const THINK_MS = 100;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const isTimeout = (e: unknown) => e instanceof DOMException && e.name === 'TimeoutError';

export class LockWorker {
  private zk: ZooKeeper | undefined;
  /** when this worker last acquired (history time), or -Infinity */
  lastAcquired = -Infinity;

  constructor(
    readonly process: number,
    private readonly connectString: string,
    private readonly history: History,
    private readonly rand: Rand,
    private readonly opts: LockWorkerOptions,
  ) {}

  /** Contend until `running()` turns false, with a fresh session whenever the last one is final. */
  async run(running: () => boolean): Promise<void> {
    while (running()) {
      if (!this.zk || ['Expired', 'Closed', 'AuthFailed'].includes(this.zk.state)) {
        this.zk = await connect(this.connectString, { sessionTimeout: this.opts.sessionTimeoutMs }).catch(() => undefined);
        if (!this.zk) await sleep(100 + this.rand.int(0, 200));
        continue;
      }
      await this.round(this.zk);
      await sleep(this.rand.int(0, THINK_MS));
    }
  }

  private async round(zk: ZooKeeper): Promise<void> {
    const session = zk.sessionId.toString(16);
    const add = (type: 'invoke' | 'ok' | 'fail', f: 'acquire' | 'hold', extra: { value?: unknown; error?: string } = {}) =>
      this.history.add({ type, process: this.process, f, key: LOCK_PATH, ...extra });
    const l = lock(zk, LOCK_PATH);
    add('invoke', 'acquire', { value: { session } });
    let held: AbortSignal;
    try {
      held = await l.acquire({ timeoutMs: this.opts.acquireTimeoutMs });
    } catch (e) {
      // After a timeout, the queue as this session now sees it (for a post-mortem: was the node waited for still there?).
      const queue = isTimeout(e) ? await Promise.race([zk.getChildren(LOCK_PATH).catch((err: Error) => err.message), sleep(2000).then(() => 'no answer')]) : undefined;
      add('fail', 'acquire', { error: isTimeout(e) ? 'timeout' : e instanceof SessionExpiredError ? 'expired' : `unexpected: ${e instanceof Error ? e.message : String(e)}`, value: queue && { queue, state: zk.state } });
      return;
    }
    add('ok', 'acquire', { value: { session } });
    this.lastAcquired = this.history.now();
    add('invoke', 'hold', { value: { session } });
    // The belief ends the instant the signal aborts (a loss) or the worker decides to let go, whichever is first.
    let over = false;
    const end = (how: 'released' | 'lost', reason?: string) => {
      if (over) return;
      over = true;
      add('ok', 'hold', { value: { end: how, reason } });
    };
    held.addEventListener('abort', () => end('lost', String((held.reason as Error)?.message ?? held.reason)), { once: true });
    await Promise.race([sleep(this.rand.int(...HOLD_MS)), new Promise((r) => held.addEventListener('abort', r, { once: true }))]);
    end('released');
    await l.release();
  }

  /** Close the session (bounded: a session that cannot close times out on the server). */
  async finish(): Promise<void> {
    const zk = this.zk;
    if (!zk) return;
    await Promise.race([zk.close().catch(() => undefined), sleep(this.opts.sessionTimeoutMs)]);
  }
}

export interface LockReport {
  valid: boolean;
  acquired: number;
  released: number;
  lost: number;
  timeouts: number;
  expired: number;
  /** per lock process: ms from the last heal (settled) to its first acquisition after it (null: none) */
  afterHealMs: (number | null)[];
  problems: string[];
}

/**
 * `ops`: the history's ops (any); `healedAt`: the history time at which the last fault was healed and the
 * ensemble settled (0 without faults); `lockChildren`: each peer's children of /lock once every session ended.
 */
export function checkLocks(ops: readonly Op[], healedAt: number, lockChildren: ReadonlyMap<number, readonly string[]>): LockReport {
  const mine = ops.filter((op) => op.key === LOCK_PATH);
  const holds = mine.filter((op) => op.f === 'hold').sort((a, b) => a.invoke - b.invoke);
  const acquires = mine.filter((op) => op.f === 'acquire');
  const problems: string[] = [];

  // Exclusion: sweep the holds in order of their start, keeping the one that believes longest so far.
  let longest: Op | undefined;
  for (const hold of holds) {
    if (longest && hold.invoke < longest.complete) problems.push(`two holders at once: ${describe(longest)} and ${describe(hold)}`);
    if (!longest || hold.complete > longest.complete) longest = hold;
  }

  for (const op of acquires) if (op.status !== 'ok' && !['timeout', 'expired'].includes(op.error ?? '')) problems.push(`an attempt ended neither holding nor by its timeout or session: ${describe(op)}`);

  // Progress after heal.
  const processes = [...new Set(acquires.map((op) => op.process))].sort((a, b) => a - b);
  const afterHealMs = processes.map((p) => {
    const first = Math.min(...acquires.filter((op) => op.process === p && op.status === 'ok' && op.complete >= healedAt).map((op) => op.complete));
    return Number.isFinite(first) ? first - healedAt : null;
  });
  processes.forEach((p, i) => afterHealMs[i] === null && problems.push(`lock process ${p} never acquired after the last heal (${healedAt.toFixed(0)} ms)`));
  for (const op of acquires) if (op.invoke >= healedAt && op.error === 'timeout') problems.push(`waited for the lock until its timeout after the last heal: ${describe(op)}; then: ${JSON.stringify(op.output)}`);

  for (const [peer, children] of lockChildren) if (children.length > 0) problems.push(`peer ${peer}: ${LOCK_PATH} still has ${children.join(', ')} after every session ended`);

  const count = (pred: (op: Op) => boolean) => mine.filter(pred).length;
  return {
    valid: problems.length === 0,
    acquired: count((op) => op.f === 'acquire' && op.status === 'ok'),
    released: count((op) => op.f === 'hold' && op.output?.end === 'released'),
    lost: count((op) => op.f === 'hold' && op.output?.end === 'lost'),
    timeouts: count((op) => op.f === 'acquire' && op.error === 'timeout'),
    expired: count((op) => op.f === 'acquire' && op.error === 'expired'),
    afterHealMs,
    problems,
  };
}
