// What every recipe built from sequential-ephemeral children shares (the part of Curator's LockInternals,
// StandardLockInternalsDriver and CreateBuilder.withProtection the recipes need):
//
//  - Protected nodes: a contender's node is named `_c_<uuid>-<prefix><sequence>`. A create whose reply is lost
//    at ConnectionLoss may still have been applied; the uuid lets the contender find its node again after the
//    reconnect instead of creating a second one and orphaning the first (which would block everyone behind it
//    until the session ends).
//  - Order is the sequence suffix (the last 10 digits), never the whole name: the uuids differ.
//  - Herd-free waiting: a contender watches only the node just before its own and re-checks when that one
//    changes, is deleted, or the session reconnects; nobody is woken by a change that cannot concern them.
//  - Connection loss is retried once the session is connected again; a final session (Expired, Closed,
//    AuthFailed) ends every wait with SessionExpiredError, so no one waits forever.

import { randomUUID } from 'node:crypto';
import { CreateMode } from '../client/acl.ts';
import { ConnectionLossError, NodeExistsError, NoNodeError, SessionExpiredError } from '../client/errors.ts';
import type { ZooKeeper } from '../client/zookeeper.ts';

const FINAL_STATES = new Set(['Expired', 'Closed', 'AuthFailed']);

/** A fresh protected-name tag: `_c_<uuid>-`. */
export const protectionTag = (): string => `_c_${randomUUID()}-`;

/** The sequence number ZooKeeper appended to `name`. */
export const sequenceOf = (name: string): number => Number(name.slice(-10));

/** `a` and `b` as one signal (AbortSignal.any, which Node 20's types lack); undefined when neither is given. */
export function eitherSignal(a: AbortSignal | undefined, b: AbortSignal | undefined): AbortSignal | undefined {
  if (!a || !b) return a ?? b;
  const ctl = new AbortController();
  for (const s of [a, b]) {
    if (s.aborted) ctl.abort(s.reason);
    else s.addEventListener('abort', () => ctl.abort(s.reason), { once: true });
  }
  return ctl.signal;
}

/** The one signal of a wait's options: its `signal`, or its `timeoutMs` running out (a TimeoutError), whichever comes first. */
export const waitSignal = (options: { signal?: AbortSignal; timeoutMs?: number }): AbortSignal | undefined =>
  eitherSignal(options.signal, options.timeoutMs === undefined ? undefined : AbortSignal.timeout(options.timeoutMs));

/** A catch handler answering `value` for NoNode (a node gone is often an answer, not an error) and rethrowing the rest. */
export const ifAbsent =
  <T>(value: T) =>
  (e: unknown): T => {
    if (e instanceof NoNodeError) return value;
    throw e;
  };

/** Resolves once the session is connected (read-write); rejects when it is final or `signal` aborts. */
export function whenConnected(zk: ZooKeeper, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (signal?.aborted) return finish(signal.reason);
      if (zk.state === 'Connected') return finish();
      if (FINAL_STATES.has(zk.state)) return finish(new SessionExpiredError(undefined));
    };
    const onAbort = () => finish(signal!.reason);
    const finish = (e?: unknown) => {
      zk.off('state', check);
      signal?.removeEventListener('abort', onAbort);
      if (e === undefined) resolve();
      else reject(e);
    };
    zk.on('state', check);
    signal?.addEventListener('abort', onAbort, { once: true });
    check();
  });
}

/** Run `op`, again after each ConnectionLoss once the session is back (so `op` must be safe to repeat). */
export async function retrying<T>(zk: ZooKeeper, signal: AbortSignal | undefined, op: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await op();
    } catch (e) {
      if (!(e instanceof ConnectionLossError)) throw e;
      await whenConnected(zk, signal);
    }
  }
}

/** Create `path` and its missing ancestors as container nodes (the server removes them once empty, as Curator's do). */
export async function ensureContainers(zk: ZooKeeper, path: string, signal?: AbortSignal): Promise<void> {
  let prefix = '';
  for (const segment of path.slice(1).split('/')) {
    prefix += `/${segment}`;
    if (await retrying(zk, signal, () => zk.exists(prefix, { signal }))) continue;
    await retrying(zk, signal, () => zk.create(prefix, undefined, { mode: CreateMode.container, signal })).catch((e: unknown) => {
      if (!(e instanceof NodeExistsError)) throw e;
    });
  }
}

/**
 * Create this contender's ephemeral-sequential node `<dir>/<tag><prefix>NNNNNNNNNN` and return its name. After a
 * ConnectionLoss the create may have been applied: the node is looked up by its tag before trying again.
 */
export async function createProtected(zk: ZooKeeper, dir: string, tag: string, prefix: string, data: Buffer | undefined, signal?: AbortSignal): Promise<string> {
  for (;;) {
    try {
      const path = await zk.create(`${dir}/${tag}${prefix}`, data, { mode: CreateMode.ephemeralSequential, signal });
      return path.slice(dir.length + 1);
    } catch (e) {
      if (e instanceof NoNodeError) await ensureContainers(zk, dir, signal);
      else if (e instanceof ConnectionLossError) {
        await whenConnected(zk, signal);
        const found = await findTagged(zk, dir, tag, signal);
        if (found[0] !== undefined) return found[0];
      } else throw e;
    }
  }
}

/** Children of `dir` carrying `tag` (normally none or one). */
async function findTagged(zk: ZooKeeper, dir: string, tag: string, signal?: AbortSignal): Promise<string[]> {
  const children = await retrying(zk, signal, () => zk.getChildren(dir, { signal })).catch((e: unknown) => {
    if (e instanceof NoNodeError) return [];
    throw e;
  });
  return children.filter((c) => c.startsWith(tag));
}

/** The `children` named with one of `prefixes` (before the sequence), in sequence order. */
const queued = (children: string[], prefixes: string[]): string[] =>
  children.filter((c) => prefixes.some((p) => c.slice(0, -10).endsWith(p))).sort((a, b) => sequenceOf(a) - sequenceOf(b));

/** The children of `dir` named with one of `prefixes` (before the sequence), in sequence order. */
export async function contenders(zk: ZooKeeper, dir: string, prefixes: string[], signal?: AbortSignal): Promise<string[]> {
  return queued(await retrying(zk, signal, () => zk.getChildren(dir, { signal })), prefixes);
}

/** The data (a participant's id) of each contender node `prefix` in `dir`, in queue order; one gone meanwhile is skipped. */
export async function participantIds(zk: ZooKeeper, dir: string, prefix: string): Promise<string[]> {
  const queue = await contenders(zk, dir, [prefix]).catch((e: unknown) => (e instanceof NoNodeError ? [] : Promise.reject(e)));
  const ids = await Promise.all(
    queue.map((name) => zk.getData(`${dir}/${name}`).then(({ data }) => data.toString(), (e: unknown) => (e instanceof NoNodeError ? undefined : Promise.reject(e)))),
  );
  return ids.filter((id) => id !== undefined);
}

/**
 * Resolves when `path` may have changed: its watch fired, the session reconnected, or it is final (the caller's next
 * request then fails with SessionExpiredError). Rejects when `signal` aborts. With `children`, the watch is on its
 * children, and it resolves at once if the contenders of `prefixes` among them are no longer the `queue` the caller
 * saw (a change between the caller's look and the watch, which the watch would never report).
 */
export function changeOf(zk: ZooKeeper, path: string, signal?: AbortSignal, children?: { queue: string[]; prefixes: string[] }): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const onState = () => {
      if (zk.state !== 'Disconnected') finish();
    };
    const onAbort = () => finish(signal!.reason);
    const finish = (e?: unknown) => {
      if (settled) return;
      settled = true;
      zk.off('state', onState);
      signal?.removeEventListener('abort', onAbort);
      if (e === undefined) resolve();
      else reject(e);
    };
    zk.on('state', onState);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) return onAbort();
    const watch = () => finish();
    const armed = children
      ? zk.getChildren(path, { watch, signal }).then((now) => queued(now, children.prefixes).join() === children.queue.join())
      : zk.exists(path, { watch, signal }).then((stat) => stat !== null);
    armed.then(
      (unchanged) => unchanged || finish(),
      (e: unknown) => (e instanceof ConnectionLossError ? undefined : finish(e)), // the reconnect (onState) re-checks
    );
  });
}

/**
 * Delete this contender's node(s) in `dir` (found by `tag`), retrying across connection loss. Resolves when they are
 * gone, or when the session is final (its ephemerals are then gone or going with it). Never rejects.
 */
export async function withdraw(zk: ZooKeeper, dir: string, tag: string): Promise<void> {
  try {
    for (const name of await findTagged(zk, dir, tag)) {
      await retrying(zk, undefined, () => zk.delete(`${dir}/${name}`)).catch((e: unknown) => {
        if (!(e instanceof NoNodeError)) throw e;
      });
    }
  } catch {
    // the session is final: nothing of it is left to delete
  }
}

/**
 * A contender's stake once it holds (a lock, a lease): `signal` aborts and the node is withdrawn on end() (a
 * release) or as soon as the session leaves Connected (then `onLost` hears the reason too).
 */
export class Hold {
  private readonly ctl = new AbortController();
  private withdrawal: Promise<void> | undefined;
  private readonly onState: () => void;

  constructor(
    private readonly zk: ZooKeeper,
    private readonly dir: string,
    private readonly tag: string,
    what: string,
    onLost: (reason: Error) => void,
  ) {
    this.onState = () => {
      if (zk.state === 'Connected') return;
      const reason = new Error(`${what} lost: session ${zk.state}`);
      void this.end(reason);
      onLost(reason);
    };
    zk.on('state', this.onState);
  }

  get held(): boolean {
    return !this.ctl.signal.aborted;
  }

  /** aborts when the hold ends, with the reason */
  get signal(): AbortSignal {
    return this.ctl.signal;
  }

  /** End the hold (once); resolves when the node is deleted or the session is final. */
  end(reason: Error): Promise<void> {
    if (!this.withdrawal) {
      this.zk.off('state', this.onState);
      this.withdrawal = withdraw(this.zk, this.dir, this.tag);
      this.ctl.abort(reason);
    }
    return this.withdrawal;
  }
}
