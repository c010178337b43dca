// The dashboard's writes: each one is a request of an ordinary client session
// that Paddock's own client (src/client) opens on this server's client port
// and authenticates with the browser's `addauth digest user:password`. So a
// write takes the whole request pipeline, as any client's: the pipeline's ACL
// checks with the session's ids (super when the password is the superDigest's),
// quorum ordering through the leader, versions, watches firing. ZooKeeper has
// no such thing; its AdminServer is read-only.
//
// Invariants:
// - one session per credential, opened on its first write and closed after
//   IDLE_MS without one (or when the AdminServer closes); at most
//   MAX_SESSIONS, the least recently used closed first;
// - a session that is no longer usable (expired, closed) is dropped and the
//   next write opens a new one;
// - no write ever runs on a session without the caller's credential.

import { connect, type ZooKeeper } from '../client/index.ts';

/** A session unused this long is closed. */
const IDLE_MS = 60_000;
const MAX_SESSIONS = 16;
/** how long opening a session may take before the write fails (this member may be looking for its leader) */
const ESTABLISH_MS = 5_000;

interface Open {
  session: Promise<ZooKeeper>;
  /** the session, once established */
  zk: ZooKeeper | null;
  idle: NodeJS.Timeout | null;
}

const ENDED = new Set(['Expired', 'Closed', 'AuthFailed']);

export class DashboardWriter {
  /** by `user:password`, least recently used first */
  private readonly open = new Map<string, Open>();

  /** `connectString`: this server's client port (null when it has none: writes are refused). */
  constructor(private readonly connectString: string | null) {}

  /** Run `write` on the session of credential `userPassword`. */
  async run<T>(userPassword: string, write: (zk: ZooKeeper) => Promise<T>): Promise<T> {
    return write(await this.sessionOf(userPassword).session);
  }

  /** The credential's session, opened if it has none that can still be used, and marked used now. */
  private sessionOf(userPassword: string): Open {
    let entry = this.open.get(userPassword);
    if (entry?.zk && ENDED.has(entry.zk.state)) {
      this.forget(userPassword, entry);
      entry = undefined;
    }
    if (!entry) {
      if (this.connectString === null) throw new Error('this server has no plaintext client port for the dashboard to write through');
      const opening: Open = { session: this.opened(userPassword, this.connectString), zk: null, idle: null };
      opening.session.then(
        (zk) => (opening.zk = zk),
        () => this.forget(userPassword, opening),
      );
      entry = opening;
    }
    if (entry.idle) clearTimeout(entry.idle);
    entry.idle = setTimeout(() => this.close(userPassword), IDLE_MS).unref();
    this.open.delete(userPassword);
    this.open.set(userPassword, entry);
    for (const oldest of this.open.keys()) {
      if (this.open.size <= MAX_SESSIONS) break;
      this.close(oldest);
    }
    return entry;
  }

  private async opened(userPassword: string, connectString: string): Promise<ZooKeeper> {
    const zk = await connect(connectString, { sessionTimeout: IDLE_MS / 2, establishTimeout: ESTABLISH_MS });
    try {
      await zk.addAuth('digest', userPassword);
    } catch (e) {
      await zk.close().catch(() => undefined);
      throw e;
    }
    return zk;
  }

  /** Drop `entry` if it is still the credential's (a newer one may have replaced it). */
  private forget(userPassword: string, entry: Open): void {
    if (this.open.get(userPassword) !== entry) return;
    if (entry.idle) clearTimeout(entry.idle);
    this.open.delete(userPassword);
  }

  private close(userPassword: string): void {
    const entry = this.open.get(userPassword);
    if (!entry) return;
    this.forget(userPassword, entry);
    entry.session.then((zk) => zk.close(), () => undefined).catch(() => undefined);
  }

  /** The ids of the sessions the dashboard writes through (the sessions view marks them). */
  get sessionIds(): Set<bigint> {
    return new Set([...this.open.values()].flatMap((e) => (e.zk ? [e.zk.sessionId] : [])));
  }

  closeAll(): void {
    for (const key of [...this.open.keys()]) this.close(key);
  }
}
