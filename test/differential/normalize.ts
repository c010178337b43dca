// Turns a Recording into plain JSON-able data that two conforming servers
// produce identically:
//  - zxids become offsets from the zxid of the run's first reply (both servers
//    must spend zxids the same way: createSession, every write including failed
//    ones, closeSession). -1 (notifications on 3.8) stays "none", 0 (initial nodes,
//    auth replies) is "zero".
//  - ctime/mtime: wall-clock values cannot match, so each becomes "t@<zxid offset>"
//    of the txn that stamped it (czxid for ctime, mzxid for mtime) after checking it
//    is 0 (initial nodes) or inside the run's wall-clock window, and that every
//    timestamp of one txn is the same value ("t@5 inconsistent" otherwise).
//    Equality between timestamps of *different* txns is not kept: whether two txns
//    land in the same millisecond is timing, not behaviour. Times must not go
//    backwards in zxid order (summary.timesMonotonic).
//  - session ids (connect replies, ephemeralOwner) become S0, S1, ... in the
//    order the run created them, plus the id's offset from S0 and its high byte
//    (ZooKeeper: server id 1 in the top byte, +1 per session).
//  - passwords: only their length (and, on reattach, whether the same came back).
//  - children lists (and getEphemerals) are sorted: ZooKeeper returns hash-set order.
//  - data: printable text as a JSON string, other bytes as hex, big values as length + hash.

import { createHash } from 'node:crypto';
import type { WatchEvent } from '../../src/client/client.ts';
import type { Stat } from '../../src/proto/records.ts';
import type { MultiResult, Response } from '../../src/proto/responses.ts';
import type { Outcome, RecordedReply, Recording } from './runner.ts';

export interface NormStep {
  i: number;
  s: string;
  op: string;
  out: unknown;
  events: unknown[];
}

export interface Normalised {
  steps: NormStep[];
  summary: {
    zxidBaseFound: boolean;
    sessions: number;
    timesMonotonic: boolean;
    leftovers: Record<string, unknown[]>;
  };
}

const WINDOW_SLACK_MS = 2000;

export function normalise(rec: Recording): Normalised {
  const firstReply = rec.steps.map((s) => s.outcome).find((o): o is Extract<Outcome, { kind: 'reply' }> => o.kind === 'reply' && o.reply.xid > 0);
  const base = firstReply ? firstReply.reply.zxid : 0;
  const sessions = new Map<bigint, string>();
  let firstSession: bigint | undefined;
  const times = new Map<number, number>();
  const lo = rec.startedAt - WINDOW_SLACK_MS;
  const hi = rec.endedAt + WINDOW_SLACK_MS;

  const nz = (z: number): number | string => (z === -1 ? 'none' : z === 0 ? 'zero' : z - base);
  const nt = (t: number, z: number): string | number => {
    if (t === 0) return 0;
    if (t < lo || t > hi) return `out-of-window(${t - rec.startedAt} ms from start)`;
    const known = times.get(z);
    if (known === undefined) times.set(z, t);
    return known === undefined || known === t ? `t@${nz(z)}` : `t@${nz(z)} inconsistent`;
  };
  const ns = (id: bigint): string | number => (id === 0n ? 0 : (sessions.get(id) ?? `unknown-session`));
  const stat = (s: Stat) => ({
    czxid: nz(s.czxid),
    mzxid: nz(s.mzxid),
    ctime: nt(s.ctime, s.czxid),
    mtime: nt(s.mtime, s.mzxid),
    version: s.version,
    cversion: s.cversion,
    aversion: s.aversion,
    ephemeralOwner: ns(s.ephemeralOwner),
    dataLength: s.dataLength,
    numChildren: s.numChildren,
    pzxid: nz(s.pzxid),
  });
  const data = (b: Buffer | null | undefined): string | null => {
    if (b === null || b === undefined) return null;
    if (b.length > 64) return `<${b.length} bytes sha1:${createHash('sha1').update(b).digest('hex').slice(0, 16)}>`;
    const text = b.toString('latin1');
    return /^[\x20-\x7e]*$/.test(text) ? JSON.stringify(text) : `hex:${b.toString('hex')}`;
  };
  const body = (r: Response): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    if (r.path !== undefined) out.path = r.path;
    if ('data' in r) out.data = data(r.data);
    if (r.stat) out.stat = stat(r.stat);
    if (r.acl) out.acl = r.acl.map((a) => `${a.perms}:${a.id.scheme}:${a.id.id}`);
    if (r.children) out.children = [...r.children].sort();
    if (r.count !== undefined) out.count = r.count;
    // whoAmI lists the connection's auth ids in ZooKeeper's hash-set order: sorted here
    if (r.clientInfo) out.clientInfo = r.clientInfo.map((c) => `${c.authScheme}:${c.user}`).sort();
    if (r.results) out.results = r.results.map((m: MultiResult) => ({ type: m.type, err: m.err, ...body(m) }));
    return out;
  };
  const reply = (r: RecordedReply) => {
    const out: Record<string, unknown> = { xid: r.xid, zxid: nz(r.zxid), err: r.err, bodyBytes: r.raw.length };
    if (r.err === 0) Object.assign(out, body(r.body));
    else if (r.raw.length > 0) out.bodyHex = r.raw.toString('hex');
    return out;
  };
  const event = (e: WatchEvent) => ({ type: e.type, state: e.state, path: e.path, zxid: nz(e.zxid) });
  const outcome = (o: Outcome): unknown => {
    switch (o.kind) {
      case 'reply':
        return o.closed === undefined ? reply(o.reply) : { ...reply(o.reply), connectionClosed: o.closed };
      case 'noReply':
        return o.closed === undefined ? { noReply: o.why } : { noReply: o.why, connectionClosed: o.closed };
      case 'connected': {
        if (!sessions.has(o.sessionId)) sessions.set(o.sessionId, `S${sessions.size}`);
        firstSession ??= o.sessionId;
        return {
          session: ns(o.sessionId),
          idOffset: Number(o.sessionId - firstSession),
          idHighByte: Number(BigInt.asUintN(64, o.sessionId) >> 56n),
          timeOut: o.timeOut,
          passwdLength: o.passwd.length,
          readOnly: o.readOnly,
          ...(o.samePassword !== undefined ? { samePassword: o.samePassword } : {}),
        };
      }
      case 'connectFailed':
        return { connectFailed: o.why };
      case 'pipeline':
        return o.replies.map((r) => ({ arrival: r.rank, out: outcome(r.outcome), events: r.events.map(event) }));
      case 'close': {
        const evs = (m: Record<string, WatchEvent[]>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v.map(event)]));
        return { ...(outcome(o.outcome) as object), pendingElsewhere: evs(o.pendingElsewhere), causedElsewhere: evs(o.causedElsewhere) };
      }
      case 'closed':
        return { connectionClosed: o.closed };
      case 'none':
        return null;
    }
  };

  const steps = rec.steps.map((s) => ({ i: s.i, s: s.s, op: s.desc, out: outcome(s.outcome), events: s.events.map(event) }));
  const byZxid = [...times.entries()].sort((a, b) => a[0] - b[0]);
  const timesMonotonic = byZxid.every(([, t], k) => k === 0 || byZxid[k - 1][1] <= t);
  return {
    steps,
    summary: {
      zxidBaseFound: firstReply !== undefined,
      sessions: sessions.size,
      timesMonotonic,
      leftovers: Object.fromEntries(Object.entries(rec.leftovers).map(([k, v]) => [k, v.map(event)])),
    },
  };
}
