// Session bookkeeping as ZooKeeper does it: ids with the server id in the top
// byte, passwords derived from the id, and expiry in tickTime buckets. Pure:
// the caller passes the time in and gets expired sessions out.

const MASK48 = (1n << 48n) - 1n;
const MULTIPLIER = 0x5deece66dn;
const PASSWORD_SECRET = 0xb3415c00n;
const CONTAINER_OWNER = -0x8000000000000000n;

/** 16 bytes of java.util.Random(sessionId ^ secret).nextBytes(): every ZooKeeper server derives the same password. */
export function sessionPassword(sessionId: bigint): Buffer {
  let seed = (BigInt.asUintN(64, sessionId ^ PASSWORD_SECRET) ^ MULTIPLIER) & MASK48;
  const out = Buffer.alloc(16);
  for (let i = 0; i < 16; ) {
    seed = (seed * MULTIPLIER + 0xbn) & MASK48;
    let rnd = Number(BigInt.asIntN(32, seed >> 16n));
    for (let n = 4; n-- > 0 && i < 16; rnd >>= 8) out[i++] = rnd & 0xff;
  }
  return out;
}

/** The first session id a server with this id hands out, from the clock (SessionTrackerImpl). */
export function firstSessionId(serverId: number, nowMs: number): bigint {
  let id = (BigInt.asUintN(64, BigInt(nowMs) << 24n) >> 8n) | (BigInt(serverId) << 56n);
  id = BigInt.asIntN(64, id);
  return id === CONTAINER_OWNER ? id + 1n : id;
}

export const sessionHex = (id: bigint): string => BigInt.asUintN(64, id).toString(16);

interface Tracked {
  timeout: number;
  expiresAt: number;
  closing: boolean;
}

export class SessionTracker {
  private readonly sessions = new Map<bigint, Tracked>();
  /** bucket deadline → sessions due then */
  private readonly buckets = new Map<number, Set<bigint>>();
  private nextId: bigint;

  constructor(
    private readonly tickTime: number,
    serverId: number,
    nowMs: number,
  ) {
    this.nextId = firstSessionId(serverId, nowMs);
  }

  /** Allocate an id for a new session (not yet tracked). */
  newSessionId(): bigint {
    const id = this.nextId;
    this.nextId = BigInt.asIntN(64, this.nextId + 1n);
    if (this.nextId === CONTAINER_OWNER) this.nextId++;
    return id;
  }

  private bucketOf(t: number): number {
    return (Math.floor(t / this.tickTime) + 1) * this.tickTime;
  }

  private place(id: bigint, s: Tracked, now: number): void {
    const at = this.bucketOf(now + s.timeout);
    if (at === s.expiresAt && this.buckets.get(at)?.has(id)) return;
    this.buckets.get(s.expiresAt)?.delete(id);
    s.expiresAt = at;
    let b = this.buckets.get(at);
    if (!b) this.buckets.set(at, (b = new Set()));
    b.add(id);
  }

  add(id: bigint, timeout: number, now: number): void {
    const s: Tracked = { timeout, expiresAt: 0, closing: false };
    this.sessions.set(id, s);
    this.place(id, s, now);
  }

  /** Push the deadline out; false when the session is unknown or closing. */
  touch(id: bigint, now: number, timeout?: number): boolean {
    const s = this.sessions.get(id);
    if (!s || s.closing) return false;
    if (timeout !== undefined) s.timeout = timeout;
    this.place(id, s, now);
    return true;
  }

  isAlive(id: bigint): boolean {
    const s = this.sessions.get(id);
    return s !== undefined && !s.closing;
  }

  timeoutOf(id: bigint): number | undefined {
    return this.sessions.get(id)?.timeout;
  }

  /** Mark closing (a close is under way); it will not expire again. */
  setClosing(id: bigint): void {
    const s = this.sessions.get(id);
    if (s) s.closing = true;
  }

  remove(id: bigint): void {
    const s = this.sessions.get(id);
    if (!s) return;
    this.buckets.get(s.expiresAt)?.delete(id);
    this.sessions.delete(id);
  }

  /** Sessions whose deadline has passed; they are marked closing. */
  expire(now: number): bigint[] {
    const out: bigint[] = [];
    for (const [at, ids] of this.buckets) {
      if (at > now) continue;
      for (const id of ids) {
        const s = this.sessions.get(id)!;
        if (!s.closing) {
          s.closing = true;
          out.push(id);
        }
      }
      this.buckets.delete(at);
    }
    return out;
  }

  get size(): number {
    return this.sessions.size;
  }

  entries(): IterableIterator<[bigint, Tracked]> {
    return this.sessions.entries();
  }
}
