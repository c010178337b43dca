// Quorum verifiers: which sets of servers make a quorum, as ZooKeeper 3.8 computes it.
// Mirrors QuorumMaj (a majority of the participants) and QuorumHierarchical (group.G /
// weight.N lines: a majority of the groups of non-zero weight, each by more than half
// of its own weight), with SyncedLearnerTracker's rule that only voters count towards a
// quorum. `configText` is QuorumVerifier.toString(), the text that travels in election
// notifications. Pure: no I/O.

import type { PeerAddress } from '../config/config.ts';

export interface QuorumVerifier {
  readonly kind: 'majority' | 'hierarchical';
  /** the participants: they vote and may lead */
  readonly voters: ReadonlySet<number>;
  readonly observers: ReadonlySet<number>;
  /** the configuration version (the `version=` line; 0 for a static config) */
  readonly version: number;
  /** server.N lines plus version=<hex>, as ZooKeeper sends it in notifications */
  readonly configText: string;
  /** a voter's weight; 0 for anyone else. A weight-0 server never wins an election. */
  weight(id: number): number;
  /** do the voters among `ids` make a quorum? (`ids` may repeat one) */
  containsQuorum(ids: Iterable<number>): boolean;
}

export interface QuorumDescription {
  servers: readonly PeerAddress[];
  /** group.G lines; non-empty makes the quorum hierarchical */
  groups?: ReadonlyMap<number, readonly number[]>;
  weights?: ReadonlyMap<number, number>;
  version?: number;
}

/** The verifier QuorumPeerConfig would build: hierarchical when there are group lines. */
export function quorumVerifier(d: QuorumDescription): QuorumVerifier {
  return d.groups && d.groups.size > 0
    ? hierarchicalQuorum(d.servers, d.groups, d.weights ?? new Map(), d.version)
    : majorityQuorum(d.servers, d.version);
}

/** `ids` without repeats: a Set as it is (the leader asks with one on every ack). */
const distinct = (ids: Iterable<number>): ReadonlySet<number> => (ids instanceof Set ? ids : new Set(ids));

function members(servers: readonly PeerAddress[]) {
  return {
    voters: new Set(servers.filter((s) => !s.observer).map((s) => s.id)),
    observers: new Set(servers.filter((s) => s.observer).map((s) => s.id)),
  };
}

/** QuorumServer.toString() per line, then the version in hex, as QuorumMaj.toString() writes it. */
function configText(servers: readonly PeerAddress[], version: number, extra: string[] = []): string {
  const host = (h: string) => (h.includes(':') ? `[${h}]` : h);
  const lines = servers.map((s) => {
    const client = s.clientPort === undefined ? '' : `;${host(s.clientHost ?? '0.0.0.0')}:${s.clientPort}`;
    return `server.${s.id}=${host(s.host)}:${s.quorumPort}:${s.electionPort}:${s.observer ? 'observer' : 'participant'}${client}`;
  });
  return [...lines, ...extra, `version=${version.toString(16)}`].join('\n');
}

export function majorityQuorum(servers: readonly PeerAddress[], version = 0): QuorumVerifier {
  const { voters, observers } = members(servers);
  return {
    kind: 'majority',
    voters,
    observers,
    version,
    configText: configText(servers, version),
    weight: (id) => (voters.has(id) ? 1 : 0),
    containsQuorum(ids) {
      let count = 0;
      for (const id of distinct(ids)) if (voters.has(id)) count++;
      return count > Math.floor(voters.size / 2);
    },
  };
}

export function hierarchicalQuorum(
  servers: readonly PeerAddress[],
  groups: ReadonlyMap<number, readonly number[]>,
  weights: ReadonlyMap<number, number>,
  version = 0,
): QuorumVerifier {
  const { voters, observers } = members(servers);
  const groupOf = new Map<number, number>();
  for (const [gid, ids] of groups) for (const id of ids) groupOf.set(id, gid);
  for (const id of voters) {
    if (!groupOf.has(id)) throw new Error(`hierarchical quorum: participant ${id} is in no group`);
  }
  // As in ZooKeeper, a grouped participant without a weight line weighs 1.
  const weightOf = (id: number): number => {
    const w = weights.get(id) ?? (voters.has(id) ? 1 : undefined);
    if (w === undefined) throw new Error(`hierarchical quorum: server ${id} is in a group but has no weight and is not a participant`);
    return w;
  };
  const groupWeight = new Map<number, number>();
  for (const [id, gid] of groupOf) groupWeight.set(gid, (groupWeight.get(gid) ?? 0) + weightOf(id));
  // Groups of weight 0 take no part in the count of groups.
  const countedGroups = [...groupWeight.values()].filter((w) => w !== 0).length;
  const extra = [
    ...[...groups].map(([gid, ids]) => `group.${gid}=${ids.join(':')}`),
    ...[...weights].map(([id, w]) => `weight.${id}=${w}`),
  ];
  return {
    kind: 'hierarchical',
    voters,
    observers,
    version,
    configText: configText(servers, version, extra),
    weight: (id) => (voters.has(id) ? weightOf(id) : 0),
    containsQuorum(ids) {
      const perGroup = new Map<number, number>();
      for (const id of distinct(ids)) {
        const gid = groupOf.get(id);
        if (gid === undefined || !voters.has(id)) continue;
        perGroup.set(gid, (perGroup.get(gid) ?? 0) + weightOf(id));
      }
      let majorities = 0;
      for (const [gid, w] of perGroup) if (w > Math.trunc(groupWeight.get(gid)! / 2)) majorities++; // Java long division
      return majorities > Math.floor(countedGroups / 2);
    },
  };
}
