// The dashboard's ensemble view: every member of the configuration with its
// role, last zxid, that zxid's epoch, and its lag behind the leader. This
// member answers for itself; the others are asked with `srvr` on their client
// ports (the four-letter word ZooKeeper always allows; it works on ZooKeeper
// members too). A member whose server line has no client address cannot be
// asked: it shows as unknown. ZooKeeper's own view of this is the
// voting_view and leader commands, one member at a time.
//
// Invariants:
// - every member is asked at once, each for at most POLL_MS: a dead member
//   costs the view that long, never more;
// - the leader is who this member follows (or itself); when this member
//   follows no one, whoever says it leads.

import type { ServerView } from '../server/inspect.ts';
import { fourLetterWord } from '../testing/probe.ts';

const POLL_MS = 1000;
const WILDCARD = /^(0\.0\.0\.0|::|0:0:0:0:0:0:0:0)?$/;

/** `host` to connect to: `otherwise` when it is a wildcard (or unset), which names no one host. */
export const reachable = (host: string | undefined, otherwise: string): string => (WILDCARD.test(host ?? '') ? otherwise : host!);

export interface MemberRow {
  id: number;
  observer: boolean;
  /** the dashboard's own member */
  self: boolean;
  /** its client address, host:port ('' when its server line has none) */
  client: string;
  /** leader, follower, observer, standalone, read-only; looking (not serving); unreachable; unknown */
  mode: string;
  zxid: number | null;
  /** the epoch of its last zxid */
  epoch: number | null;
  /** txns behind the leader (same epoch only), null when unknown */
  lag: number | null;
  leader: boolean;
  /** why the member could not be asked */
  error?: string;
}

const epochOf = (zxid: number) => Math.floor(zxid / 2 ** 32);

export async function ensembleView(view: ServerView): Promise<MemberRow[]> {
  const q = view.quorumView?.() ?? null;
  const c = view.config;
  const selfRow = (): MemberRow => {
    const zxid = view.processor.zxid;
    return { id: c.myid ?? 0, observer: false, self: true, client: `${reachable(c.clientPortAddress, '127.0.0.1')}:${c.clientPort}`, mode: view.mode ?? 'looking', zxid, epoch: epochOf(zxid), lag: null, leader: q?.leading ?? false };
  };
  if (c.standalone || c.servers.length === 0) return [selfRow()];
  const rows = await Promise.all(
    c.servers.map(async (s): Promise<MemberRow> => {
      if (s.id === c.myid) return { ...selfRow(), observer: s.observer };
      const host = reachable(s.clientHost, s.host);
      const row: MemberRow = { id: s.id, observer: s.observer, self: false, client: s.clientPort === undefined ? '' : `${host}:${s.clientPort}`, mode: 'unknown', zxid: null, epoch: null, lag: null, leader: false };
      if (s.clientPort === undefined) return { ...row, error: 'its server line has no client address' };
      try {
        return { ...row, ...parseSrvr(await fourLetterWord(host, s.clientPort, 'srvr', POLL_MS)) };
      } catch (e) {
        return { ...row, mode: 'unreachable', error: (e as Error).message };
      }
    }),
  );
  const leaderId = q && q.leaderId >= 0 && view.mode !== null ? q.leaderId : rows.find((r) => r.mode === 'leader')?.id;
  const leader = rows.find((r) => r.id === leaderId);
  for (const r of rows) {
    r.leader = r === leader;
    if (leader?.zxid != null && r.zxid !== null && epochOf(r.zxid) === epochOf(leader.zxid)) r.lag = Math.max(0, leader.zxid - r.zxid);
  }
  return rows;
}

/** The mode and zxid of a `srvr` reply; a member not serving says so instead. */
function parseSrvr(text: string): Partial<MemberRow> {
  const mode = /^Mode: (.+)$/m.exec(text)?.[1];
  const zxid = /^Zxid: (0x[0-9a-f]+)$/im.exec(text)?.[1];
  if (!mode || !zxid) return { mode: 'looking', error: text.trim() || 'no reply' };
  const n = Number(BigInt(zxid));
  return { mode, zxid: n, epoch: epochOf(n) };
}
