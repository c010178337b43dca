// Operations of an ensemble member, Paddock against ZooKeeper 3.8: the same
// scenario runs on an ensemble of ZooKeeper QuorumPeerMain processes and on one
// of `paddock server` processes (three participants and an observer each,
// autopurge on, snapshots every ~10 txns), and what an operator sees is
// compared: conf line by line (ports and paths normalised), srvr's proposal
// sizes, mntr's quorum keys per role (names and counts), the role-change log
// lines, the start-up and leader snapshots, and autopurge at a restart.

import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { bounded, TestEnsemble, type ServerKind, type Settled } from './support/ensemble.ts';
import { waitFor } from './support/wait.ts';

const WAIT_MS = 60_000;
const RETAIN = 3;

/** The quorum keys Paddock prints as ZooKeeper 3.8 does (the role decides which appear). */
const QUORUM_KEYS = [
  'zk_peer_state', 'zk_quorum_size', 'zk_learners', 'zk_synced_followers', 'zk_synced_non_voting_followers', 'zk_synced_observers',
  'zk_pending_syncs', 'zk_leader_uptime', 'zk_observer_master_id', 'zk_last_proposal_size', 'zk_min_proposal_size', 'zk_max_proposal_size',
  'zk_proposal_count', 'zk_commit_count', 'zk_learner_proposal_received_count', 'zk_learner_commit_received_count', 'zk_diff_count',
  'zk_snap_count', 'zk_looking_count', 'zk_sync_processor_request_queued', 'zk_request_commit_queued',
];
const SUMMARIES = ['election_time', 'follower_sync_time', 'observer_sync_time', 'unavailable_time', 'leader_unavailable_time'];
const SUMMARY_KEYS = SUMMARIES.flatMap((s) => ['avg', 'min', 'max', 'cnt', 'sum'].map((p) => `zk_${p}_${s}`));

/**
 * What ZooKeeper 3.8 prints in an ensemble member's mntr and Paddock leaves out, and why:
 * - standalone metrics (ServerMetrics counters a standalone 3.8 prints too; README: Paddock has the core keys);
 * - quorum SASL (Paddock has none), the observer master port and dynamic reconfig (not implemented);
 * - internals of ZooKeeper's processor threads and queues, which Paddock's single pipeline does not have;
 * - the latency and size summaries (avg/min/max/cnt/sum, percentiles) of those, and per-namespace,
 *   per-learner-handler ones, which need per-request timing Paddock does not keep;
 */
const LEFT_OUT = new Set([
  // standalone metrics
  'zk_last_client_response_size', 'zk_watch_bytes', 'zk_outstanding_changes_removed', 'zk_outstanding_changes_queued', 'zk_throttled_ops',
  'zk_stale_requests_dropped', 'zk_large_requests_rejected', 'zk_insecure_admin_count', 'zk_connection_rejected',
  'zk_cnxn_closed_without_zk_server_running', 'zk_sessionless_connections_expired', 'zk_dead_watchers_queued', 'zk_stale_requests',
  'zk_connection_drop_count', 'zk_dead_watchers_cleared', 'zk_response_packet_cache_hits', 'zk_response_packet_cache_misses',
  'zk_response_packet_get_children_cache_hits', 'zk_response_packet_get_children_cache_misses', 'zk_bytes_received_count',
  'zk_add_dead_watcher_stall_time', 'zk_request_throttle_wait_count', 'zk_stale_replies', 'zk_connection_request_count', 'zk_response_bytes',
  'zk_unrecoverable_error_count', 'zk_unsuccessful_handshake', 'zk_stale_sessions_expired', 'zk_tls_handshake_exceeded',
  'zk_prep_processor_request_queued', 'zk_connection_revalidate_count', 'zk_revalidate_count',
  // quorum SASL, reconfig
  'zk_ensemble_auth_success', 'zk_ensemble_auth_fail', 'zk_ensemble_auth_skip', 'zk_quit_leading_due_to_disloyal_voter',
  // ZooKeeper's processor threads
  'zk_requests_not_forwarded_to_commit_processor', 'zk_skip_learner_request_to_next_processor_count',
]);
const leftOut = (key: string) => LEFT_OUT.has(key) || (/^zk_(avg|min|max|cnt|sum|p50|p95|p99|p999)_/.test(key) && !SUMMARY_KEYS.includes(key));

interface Observed {
  settled: Settled;
  /** conf by member id */
  conf: Map<number, string[]>;
  srvr: Map<string, string>;
  /** the leader's stat */
  stat: string;
  /** the leader's mntr after srst */
  afterReset: Map<string, string>;
  mntr: Map<string, Map<string, string>>;
  /** snapshot zxids each member had once it served */
  startSnapshots: Map<number, number[]>;
  /** the restarted follower's snapshots before, and its files after its start-up purge */
  purged: { before: number; snapshots: number[]; logs: number[] };
  /** the zxid everyone had when the leader was killed, and the new leader's snapshots */
  killedAt: number;
  newLeader: Settled;
  /** the new leader's snapshots before the old one was killed, and once it leads */
  snapshotsBeforeKill: number[];
  newLeaderSnapshots: number[];
  output: Map<number, string>;
}

const files = (dir: string, prefix: string) =>
  readdirSync(join(dir, 'version-2'))
    .filter((f) => f.startsWith(`${prefix}.`))
    .map((f) => parseInt(f.slice(prefix.length + 1), 16))
    .sort((a, b) => a - b);

/** Replace every port of the ensemble's server lines by its role (q1, e1, c1, …) and the paths and sizes by placeholders. */
function normaliseConf(lines: string[]): string[] {
  const names = new Map<string, string>();
  const me = lines.find((l) => l.startsWith('serverId='))!.slice('serverId='.length);
  names.set(lines.find((l) => l.startsWith('clientPort='))!.slice('clientPort='.length), `c${me}`);
  for (const l of lines) {
    const m = /^server\.(\d+)=127\.0\.0\.1:(\d+):(\d+):\w+(?:;127\.0\.0\.1:(\d+))?$/.exec(l);
    if (m) [names.set(m[2]!, `q${m[1]}`), names.set(m[3]!, `e${m[1]}`), m[4] && names.set(m[4], `c${m[1]}`)];
  }
  return lines.map((l) =>
    l
      .replace(/^(dataDir|dataLogDir)=.*$/, '$1=<dir>')
      .replace(/^(dataDirSize|dataLogSize)=\d+$/, '$1=<size>')
      .replace(/\b\d{4,5}\b/g, (port) => names.get(port) ?? port),
  );
}

/** conf of every member of a three-member ensemble of `kind` with a hierarchical quorum and no client addresses in the server lines. */
async function hierarchicalConf(kind: ServerKind): Promise<Map<number, string[]>> {
  const groups = { 'group.2': '2:1', 'group.1': '3', 'weight.2': 2, 'weight.1': 1 };
  const ens = await TestEnsemble.create(`ensemble-ops-conf-${kind}`, [1, 2, 3].map((id) => ({ id, kind })), { tickTime: 300, waitMs: WAIT_MS, cfg: groups });
  try {
    await ens.startAll();
    return new Map(await Promise.all(ens.ids.map(async (id) => [id, normaliseConf((await ens.fourLetter(id, 'conf')).trimEnd().split('\n'))] as const)));
  } finally {
    await ens.close();
  }
}

const roles = (s: Settled) => ({ leader: s.leader, follower: s.followers[0]!, observer: s.observers[0]! });

async function observe(kind: ServerKind): Promise<Observed> {
  const specs = [{ id: 1, kind }, { id: 2, kind }, { id: 3, kind }, { id: 4, kind, observer: true }];
  const ens = await TestEnsemble.create(`ensemble-ops-${kind}`, specs, {
    tickTime: 300,
    waitMs: WAIT_MS,
    zkLog: true,
    clientAddressInServerLines: true,
    cfg: { snapCount: 10, 'autopurge.snapRetainCount': RETAIN, 'autopurge.purgeInterval': 1 },
  });
  try {
    const settled = await ens.startAll();
    const startSnapshots = new Map<number, number[]>();
    for (const id of ens.ids) {
      // Paddock writes its start-up snapshot in the background once it runs.
      startSnapshots.set(id, await waitFor(`member ${id}'s start-up snapshot`, WAIT_MS, () => files(ens.dataDir(id), 'snapshot').length > 0 && files(ens.dataDir(id), 'snapshot')));
    }

    // Before any txn, srvr's Zxid is the new epoch's zxid 0 on the leader (ZooKeeper's hzxid, the last it assigned).
    // A learner says 0, or that same zxid when it was synced from the leader's state as of it (ZooKeeper's SNAP does so).
    const zxidOf = async (id: number) => parseInt(/^Zxid: 0x([0-9a-f]+)$/m.exec(await ens.fourLetter(id, 'srvr'))![1]!, 16);
    const leaderZxid = await zxidOf(settled.leader);
    assert.ok(leaderZxid > 0 && leaderZxid % 2 ** 32 === 0, `the leader's srvr Zxid 0x${leaderZxid.toString(16)}`);
    for (const id of [...settled.followers, ...settled.observers]) assert.ok([0, leaderZxid].includes(await zxidOf(id)), `member ${id}'s srvr Zxid`);

    // One workload, the same on both kinds: its last proposal is a setData of 100 bytes.
    const c = await ens.connect(settled.leader);
    await bounded('create /ops', WAIT_MS, c.create('/ops', ''));
    for (let i = 0; i < 60; i++) await bounded(`create /ops/n${i}`, WAIT_MS, c.create(`/ops/n${i}`, 'x'.repeat(i * 7)));
    for (const id of ens.ids) assert.equal(await ens.readAfterSync(id, '/ops/n59'), 'x'.repeat(59 * 7), `member ${id} has the writes`);
    await bounded('setData /ops', WAIT_MS, c.setData('/ops', 'y'.repeat(100)));
    const allAt = async () => {
      const zxid = await zxidOf(settled.leader);
      for (const id of ens.runningIds) {
        let at = -1;
        await waitFor(`member ${id} at the leader's zxid 0x${zxid.toString(16)}`, WAIT_MS, async () => (at = await zxidOf(id)) === zxid).catch(async (e: Error) => {
          const leaderNow = await zxidOf(settled.leader);
          throw new Error(`${e.message} (it is at 0x${at.toString(16)}, the leader now at 0x${leaderNow.toString(16)})\n${ens.tails(ens.runningIds)}`);
        });
      }
      return zxid;
    };
    await allAt();

    const conf = new Map<number, string[]>();
    for (const id of ens.ids) conf.set(id, normaliseConf((await ens.fourLetter(id, 'conf')).trimEnd().split('\n')));
    const srvr = new Map<string, string>();
    const mntr = new Map<string, Map<string, string>>();
    for (const [role, id] of Object.entries(roles(settled))) {
      srvr.set(role, await ens.fourLetter(id, 'srvr'));
      mntr.set(role, await ens.mntr(id));
    }
    const stat = await ens.fourLetter(settled.leader, 'stat');
    assert.equal(await ens.fourLetter(settled.leader, 'srst'), 'Server stats reset.\n');
    const afterReset = await ens.mntr(settled.leader);
    await c.close();

    // A restarted follower purges at start-up: RETAIN snapshots, and the logs after the oldest.
    const follower = settled.followers[0]!;
    const before = files(ens.dataDir(follower), 'snapshot').length;
    await ens.stop(follower);
    await ens.start(follower);
    await ens.settled();
    const purged = await waitFor(`member ${follower} to purge`, WAIT_MS, () => {
      const snapshots = files(ens.dataDir(follower), 'snapshot');
      return snapshots.length === RETAIN && { before, snapshots, logs: files(ens.dataDir(follower), 'log') };
    });
    assert.equal((await ens.readAfterSync(follower, '/ops'))?.length, 100, 'the purged member serves its data after the restart');

    // Kill the leader once every member has every txn: the new leader snapshots the state it begins with.
    const killedAt = await allAt();
    const snapshotsBefore = new Map(ens.ids.map((id) => [id, files(ens.dataDir(id), 'snapshot')]));
    await ens.kill(settled.leader);
    const newLeader = await ens.settled();
    const snapshotsBeforeKill = snapshotsBefore.get(newLeader.leader)!;
    const newLeaderSnapshots = await waitFor('the new leader\'s snapshot', WAIT_MS, () => files(ens.dataDir(newLeader.leader), 'snapshot').includes(killedAt) && files(ens.dataDir(newLeader.leader), 'snapshot'));

    const output = new Map(ens.runningIds.map((id) => [id, ens.server(id).output()]));
    return { settled, conf, srvr, stat, afterReset, mntr, startSnapshots, purged, killedAt, newLeader, snapshotsBeforeKill, newLeaderSnapshots, output };
  } finally {
    await ens.close();
  }
}

describe('ensemble operations, Paddock against ZooKeeper 3.8', { timeout: 600_000 }, () => {
  let zk: Observed;
  let pd: Observed;

  it('the same scenario runs on a ZooKeeper 3.8 ensemble and on a Paddock one', async () => {
    zk = await observe('zookeeper');
    pd = await observe('paddock');
  });

  it('conf prints the quorum lines and the membership as 3.8 does, participants and observer alike', () => {
    for (const [id, z] of zk.conf) {
      assert.ok(z.includes('membership: ') && z.some((l) => l.startsWith('server.4=') && l.includes(':observer;')), `ZooKeeper's member ${id} prints its membership:\n${z.join('\n')}`);
      assert.deepEqual(pd.conf.get(id), z, `conf on member ${id}`);
    }
  });

  it('conf of a hierarchical quorum lists its groups and weights as 3.8 does; a server line without a client address stays without', async () => {
    const z = await hierarchicalConf('zookeeper');
    const p = await hierarchicalConf('paddock');
    assert.ok(z.get(1)!.includes('group.2=1:2') && z.get(1)!.includes('weight.3=1'), `ZooKeeper's conf:\n${z.get(1)!.join('\n')}`);
    for (const [id, lines] of z) assert.deepEqual(p.get(id), lines, `conf on member ${id}`);
  });

  it('srvr and stat on the leader print "Proposal sizes last/min/max" as 3.8 does; other roles do not', () => {
    const sizes = (reply: string) => /^Proposal sizes last\/min\/max: (-?\d+)\/(-?\d+)\/(-?\d+)$/m.exec(reply)?.slice(1).map(Number);
    const [z, p] = [sizes(zk.srvr.get('leader')!), sizes(pd.srvr.get('leader')!)];
    assert.ok(z && p, `both leaders print the line:\n${pd.srvr.get('leader')}`);
    // last: the setData of 100 bytes; min: createSession; max: the largest create.
    assert.deepEqual(p, z, 'proposal sizes last/min/max, TxnDigest included, as ZooKeeper 3.8 counts them');
    for (const role of ['follower', 'observer']) {
      assert.equal(sizes(zk.srvr.get(role)!), undefined);
      assert.equal(sizes(pd.srvr.get(role)!), undefined);
    }
    assert.deepEqual(sizes(pd.stat), p, 'stat prints the line too');
    assert.deepEqual(sizes(zk.stat), z);
    const m = pd.mntr.get('leader')!;
    assert.deepEqual([m.get('zk_last_proposal_size'), m.get('zk_min_proposal_size'), m.get('zk_max_proposal_size')], p.map(String), 'mntr agrees with srvr');
  });

  it('mntr: every key a 3.8 member prints for its role is printed by Paddock, or is on the documented list left out', () => {
    for (const role of ['leader', 'follower', 'observer']) {
      const [z, p] = [zk.mntr.get(role)!, pd.mntr.get(role)!];
      const missing = [...z.keys()].filter((k) => !p.has(k) && !leftOut(k));
      assert.deepEqual(missing, [], `${role}: keys ZooKeeper prints that Paddock lacks`);
      for (const k of [...QUORUM_KEYS, ...SUMMARY_KEYS]) assert.equal(p.has(k), z.has(k), `${role}: ${k} printed by ZooKeeper ${z.has(k)}, by Paddock ${p.has(k)}`);
    }
  });

  it('mntr: the quorum counters count the same things as 3.8\'s for the same workload', () => {
    const same = {
      leader: ['zk_proposal_count', 'zk_commit_count', 'zk_learner_proposal_received_count', 'zk_sync_processor_request_queued', 'zk_request_commit_queued', 'zk_synced_followers', 'zk_synced_observers', 'zk_learners', 'zk_quorum_size'],
      follower: ['zk_proposal_count', 'zk_commit_count', 'zk_learner_proposal_received_count', 'zk_learner_commit_received_count', 'zk_diff_count', 'zk_sync_processor_request_queued', 'zk_request_commit_queued'],
      observer: ['zk_proposal_count', 'zk_learner_proposal_received_count', 'zk_learner_commit_received_count', 'zk_sync_processor_request_queued', 'zk_request_commit_queued', 'zk_observer_master_id'],
    };
    for (const [role, keys] of Object.entries(same)) {
      const [z, p] = [zk.mntr.get(role)!, pd.mntr.get(role)!];
      for (const k of keys) {
        // zk_observer_master_id names the leader, whose id may differ between the runs.
        const expected = k === 'zk_observer_master_id' ? String(pd.settled.leader) : z.get(k);
        assert.equal(p.get(k), expected, `${role}: ${k}`);
      }
      assert.ok(Number(p.get('zk_looking_count')) >= 1);
      // A summary counts on the roles 3.8's does (an observer's election is not timed), and is consistent.
      for (const s of SUMMARIES) {
        assert.equal(Number(p.get(`zk_cnt_${s}`)) > 0, Number(z.get(`zk_cnt_${s}`)) > 0, `${role}: ${s} counted`);
        const [avg, min, max, cnt, sum] = ['avg', 'min', 'max', 'cnt', 'sum'].map((x) => Number(p.get(`zk_${x}_${s}`)));
        assert.ok(min! <= avg! && avg! <= max! && (cnt === 0 ? sum === 0 : sum! >= max!), `${role}: ${s} ${[avg, min, max, cnt, sum]}`);
      }
    }
    assert.ok(Number(pd.mntr.get('leader')!.get('zk_proposal_count')) > 60, 'the leader counted the workload');
    // Every learner was synced (again, should it have reconnected); by DIFF or SNAP depends, on 3.8, on when it
    // connected (a fresh one may get a SNAP). Paddock sends an empty DIFF, as 3.8 mostly does.
    const syncs = (m: Map<string, string>) => Number(m.get('zk_diff_count')) + Number(m.get('zk_snap_count'));
    for (const o of [zk, pd]) assert.ok(syncs(o.mntr.get('leader')!) >= 3, `syncs served by the leader: ${syncs(o.mntr.get('leader')!)}`);
    assert.equal(pd.mntr.get('leader')!.get('zk_snap_count'), '0');
  });

  it('srst resets the quorum counters and the proposal sizes, as 3.8\'s does', () => {
    for (const k of [...QUORUM_KEYS, ...SUMMARY_KEYS].filter((k) => !/learners|synced|pending|uptime|peer_state|quorum_size/.test(k))) {
      assert.equal(pd.afterReset.get(k), zk.afterReset.get(k), `${k} after srst`);
    }
    assert.equal(pd.afterReset.get('zk_last_proposal_size'), '-1');
    assert.equal(pd.afterReset.get('zk_proposal_count'), '0');
  });

  it('every member writes a start-up snapshot on a fresh directory (snapshot.0), as 3.8 does', () => {
    for (const o of [zk, pd]) for (const [id, snaps] of o.startSnapshots) assert.equal(snaps[0], 0, `member ${id}: ${snaps}`);
  });

  it('a restarted member keeps autopurge.snapRetainCount snapshots and the logs after the oldest, and serves', () => {
    for (const o of [zk, pd]) {
      const oldest = o.purged.snapshots[0]!;
      const before = o.purged.logs.filter((z) => z <= oldest);
      assert.ok(o.purged.before > RETAIN, `there was something to purge: ${o.purged.before} snapshots`);
      assert.equal(o.purged.snapshots.length, RETAIN);
      assert.ok(before.length <= 1, `only the log file holding the txns after snapshot ${oldest.toString(16)} starts before it: ${o.purged.logs.map((z) => z.toString(16))}`);
    }
  });

  it('the new leader snapshots the state it begins its epoch with, as 3.8 does', () => {
    const snapshotLine = { zookeeper: (hex: string) => new RegExp(`Snapshotting: 0x${hex} to`), paddock: (hex: string) => new RegExp(`wrote snapshot \\S*snapshot\\.${hex}(\\s|$)`, 'm') };
    for (const [kind, o] of [['zookeeper', zk], ['paddock', pd]] as const) {
      const hex = o.killedAt.toString(16);
      assert.ok(o.newLeaderSnapshots.includes(o.killedAt), `${kind}: snapshot.${hex} on the new leader`);
      // Unless an earlier snapCount snapshot landed on that very zxid, the leader wrote it as it began leading.
      if (o.snapshotsBeforeKill.includes(o.killedAt)) continue;
      const log = o.output.get(o.newLeader.leader)!;
      const leading = log.search(kind === 'zookeeper' ? /QuorumPeer\S* - LEADING$/m : /LEADING - leader \d+ \(me\) - LEADER ELECTION TOOK/);
      assert.ok(leading >= 0, `${kind}: the new leader logged LEADING`);
      assert.match(log.slice(leading), snapshotLine[kind](hex), `${kind}: the snapshot follows LEADING in the log`);
    }
  });

  it('role changes are logged with the words 3.8 uses, and say who leads, in which epoch, at which zxid', () => {
    const words = [/Peer state changed: looking/, /Peer state changed: leading/, /Peer state changed: following/, /\bLOOKING\b/, /\bLEADING\b/, /\bFOLLOWING\b/, /LEADER ELECTION TOOK - \d+ MS/, /New election\. My id = \d+, proposed zxid=0x[0-9a-f]+/];
    for (const [name, o] of [['ZooKeeper', zk], ['Paddock', pd]] as const) {
      const all = [...o.output.values()].join('\n');
      for (const w of words) assert.match(all, w, `${name}'s log`);
    }
    const leader = pd.newLeader.leader;
    const epoch = Math.floor(pd.killedAt / 2 ** 32) + 1;
    assert.match(pd.output.get(leader)!, new RegExp(`LEADING - leader ${leader} \\(me\\) established epoch ${epoch}; serving clients at zxid 0x[0-9a-f]+`));
    for (const id of pd.newLeader.followers) assert.match(pd.output.get(id)!, new RegExp(`FOLLOWING - leader ${leader} established epoch ${epoch}; serving clients at zxid 0x[0-9a-f]+`));
    for (const id of pd.newLeader.observers) assert.match(pd.output.get(id)!, new RegExp(`OBSERVING - leader ${leader} established epoch ${epoch}`));
    assert.match(pd.output.get(leader)!, new RegExp(`LEADING - leader ${leader} \\(me\\) - LEADER ELECTION TOOK - \\d+ MS; my current epoch ${epoch - 1}, last zxid 0x${pd.killedAt.toString(16)}`));
  });
});
