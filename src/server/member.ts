// One server of an ensemble, as the client-facing server sees it: its durable
// state (Replica), its Zab core (Peer, which runs fast leader election) and the
// quorum and election ports (QuorumNet, ElectionNet). It is what ZooKeeper's
// QuorumPeer is around its Leader/Follower/ObserverZooKeeperServer.
//
// Invariants:
// - the request pipeline (Processor) carries every Ready of the core; this
//   member's QuorumNet is its QuorumLink and does TRUNC and SNAP installs
//   while the member is not serving, handing the pipeline the rebuilt state;
// - the member serves clients only while its role says so (leader
//   established, learner synced); `onRole` hears of every role change;
// - besides one every ~snapCount txns, a snapshot is written where ZooKeeper
//   3.8 writes one: of the recovered state at start-up when no snapshot holds
//   it (a fresh member writes snapshot.0), of the state a leader begins its
//   epoch with, of a SNAP's state as installed (Replica.install). 3.8 also
//   snapshots after a TRUNC; Paddock's TRUNC cuts the files themselves, so
//   its log on disk already is that state;
// - with quorum SASL on (quorum.auth.enableSasl), both ports run its handshakes (QuorumAuth);
// - autopurge runs as on a standalone server (at start-up after that
//   snapshot, then every purgeInterval hours), and the core then forgets the
//   purged history (QuorumNet.purge);
// - every line its parts log (`logger`) carries its role and epoch of the
//   moment: the context object is updated on each role change.

import { dataDirOptions, type ServerConfig } from '../config/config.ts';
import type { Logger } from '../log.ts';
import { ElectionNet } from '../runtime/election-net.ts';
import { QuorumAuth } from '../runtime/quorum-auth.ts';
import { QuorumNet, type LearnerConnection } from '../runtime/quorum-net.ts';
import type { SizeStats } from '../metrics/summary.ts';
import { Replica } from '../runtime/replica.ts';
import type { PeerTransport } from '../runtime/transport.ts';
import { quorumConfigText } from '../runtime/zab-wire.ts';
import { Peer } from '../zab/peer.ts';
import { quorumVerifier } from '../zab/quorum.ts';
import type { Role, RoleChange } from '../zab/ready.ts';
import { quorumTransport } from '../tls/quorum.ts';
import type { Processor } from './processor.ts';

/** ZooKeeper's defaults when zoo.cfg leaves them out (QuorumPeerConfig requires them; its sample has these). */
const DEFAULT_INIT_LIMIT = 10;
const DEFAULT_SYNC_LIMIT = 5;

/** An ensemble member as the AdminServer's leader, voting_view, zabstate and observers commands show it. */
export interface QuorumView {
  myid: number;
  /** the epoch of the current role (0 while looking at start-up) */
  epoch: number;
  leading: boolean;
  leaderId: number;
  /** the leader's quorum host, as ZooKeeper's QuorumPeer.getLeaderAddress */
  leaderHost: string;
  voting: boolean;
  /** ZooKeeper's ZabState, lower case: election, synchronization (role chosen, not serving yet) or broadcast */
  zabState: 'election' | 'synchronization' | 'broadcast';
  /** each voting member's addresses (ZooKeeper 3.8.0's QuorumServerView) */
  votingView: [number, { quorum: string; election: string; client: string }][];
  /** the leader's synced observers and their connections (null on any other role) */
  observers: ({ sid: number; lastZxid: number | null } & Partial<LearnerConnection>)[] | null;
}

/** What srvr/stat/mntr call each serving role. */
const MODE: Record<RoleChange['role'], string | null> = { leading: 'leader', following: 'follower', observing: 'observer', looking: null };

export class EnsembleMember {
  readonly peer: Peer;
  readonly quorumNet: QuorumNet;
  private readonly electionNet: ElectionNet;
  /** conf's quorum lines (QuorumZooKeeperServer.dumpConf), fixed for the life of the process */
  readonly confLines: readonly string[];
  private role: RoleChange = { role: 'looking', leader: null, epoch: 0, serving: false };
  private readonly servers: ServerConfig['servers'];
  /** when the current role (or its serving) began */
  private roleSince = Date.now();
  /** the pipeline's learner touches, reported to the leader in PING replies */
  private touches: () => Iterable<[bigint, number]> = () => [];

  /** Recover the data directories and epochs; nothing listens yet. */
  static async open(config: ServerConfig, logger: Logger): Promise<EnsembleMember> {
    // Quorum TLS first: a bad setting or store stops start-up before any data is touched.
    const transport = quorumTransport(config, logger);
    const where: { role: Role; epoch?: number } = { role: 'looking' };
    const memberLogger = logger.with(where);
    const replica = await Replica.open(dataDirOptions(config), memberLogger);
    where.epoch = replica.epochs.current;
    return new EnsembleMember(config, memberLogger, where, replica, transport);
  }

  private constructor(
    config: ServerConfig,
    /** logs with this member's role and epoch */
    readonly logger: Logger,
    private readonly where: { role: Role; epoch?: number },
    readonly replica: Replica,
    private readonly transport: PeerTransport,
  ) {
    const id = config.myid!;
    this.servers = config.servers;
    const quorumText = quorumConfigText(config.servers, 0, { groups: config.groups, weights: config.weights });
    replica.showQuorumConfig(quorumText);
    const initLimit = config.initLimit ?? DEFAULT_INIT_LIMIT;
    const syncLimit = config.syncLimit ?? DEFAULT_SYNC_LIMIT;
    const me = config.servers.find((s) => s.id === id)!;
    this.confLines = [
      `initLimit=${initLimit}`,
      `syncLimit=${syncLimit}`,
      'electionAlg=3',
      `electionPort=${me.electionPort}`,
      `quorumPort=${me.quorumPort}`,
      `peerType=${me.observer ? 1 : 0}`,
      'membership: ',
      ...quorumText.split('\n'),
    ];
    this.peer = new Peer({
      settings: {
        id,
        quorum: quorumVerifier({ servers: config.servers, groups: config.groups, weights: config.weights }),
        tickTime: config.tickTime,
        initLimit,
        syncLimit,
      },
      epochs: { ...replica.epochs },
      history: replica.historyInit(),
      now: performance.now(),
      touches: () => this.touches(),
    });
    // Quorum SASL's handshakes are bounded as ZooKeeper bounds them: by the socket timeout, tickTime × syncLimit.
    const auth = config.quorumAuth ? new QuorumAuth(config.quorumAuth, logger, config.tickTime * syncLimit) : undefined;
    this.electionNet = new ElectionNet({ myId: id, servers: config.servers, log: logger, auth, transport });
    this.quorumNet = new QuorumNet({
      myId: id,
      servers: config.servers,
      peer: this.peer,
      replica,
      tickMs: config.tickTime,
      logger,
      config: quorumText,
      electionNet: this.electionNet,
      auth,
      transport,
      onRole: (change) => {
        this.role = change;
        this.where.role = change.role;
        this.where.epoch = change.epoch;
        this.roleSince = Date.now();
        if (change.role === 'leading' && !change.serving) void this.replica.snapshot();
        this.onRole(change);
      },
    });
  }

  /** Told of every role change (set before start). */
  onRole: (change: RoleChange) => void = () => {};

  /** Does this member serve clients now? */
  get serving(): boolean {
    return this.role.serving;
  }

  /** leader, follower or observer while serving; null otherwise. */
  get mode(): string | null {
    return this.role.serving ? MODE[this.role.role] : null;
  }

  /** mntr's quorum keys, as ZooKeeper 3.8 prints them for a serving member (checked against a 3.8 ensemble). */
  quorumMetrics(): [string, number | string][] {
    const metrics: [string, number | string][] = [
      ['peer_state', `${this.role.role} - broadcast`],
      ['quorum_size', this.peer.quorumSize],
    ];
    const counts = this.peer.learnerCounts;
    if (counts) {
      metrics.push(
        ['learners', counts.learners],
        ['synced_followers', counts.syncedFollowers],
        ['synced_non_voting_followers', 0],
        ['synced_observers', counts.syncedObservers],
        ['pending_syncs', counts.pendingSyncs],
        ['leader_uptime', Date.now() - this.roleSince],
      );
    }
    if (this.role.role === 'observing' && this.role.leader !== null) metrics.push(['observer_master_id', this.role.leader]);
    const sizes = this.proposalSizes;
    if (sizes) metrics.push(['last_proposal_size', sizes.last], ['min_proposal_size', sizes.min], ['max_proposal_size', sizes.max]);
    metrics.push(...this.quorumNet.stats.metrics());
    return metrics;
  }

  quorumView(): QuorumView {
    const { role, leader, serving } = this.role;
    const me = this.servers.find((s) => s.id === this.peer.id)!;
    return {
      myid: this.peer.id,
      epoch: this.role.epoch,
      leading: role === 'leading',
      leaderId: leader ?? -1,
      leaderHost: this.servers.find((s) => s.id === leader)?.host ?? '',
      voting: !me.observer,
      zabState: role === 'looking' ? 'election' : serving ? 'broadcast' : 'synchronization',
      votingView: this.servers
        .filter((s) => !s.observer)
        .map((s) => [s.id, { quorum: `${s.host}:${s.quorumPort}`, election: `${s.host}:${s.electionPort}`, client: s.clientPort === undefined ? '' : `${s.clientHost}:${s.clientPort}` }]),
      observers:
        this.peer.syncedObservers?.map((o) => ({ sid: o.id, lastZxid: o.lastZxid, ...this.quorumNet.learnerConnection(o.id) })) ?? null,
    };
  }

  /** srvr's Zxid: a leader's is the last it assigned (ZooKeeper's hzxid, epoch<<32 before any txn), another member's the last applied. */
  get zxid(): number {
    return Math.max(this.replica.tree.lastProcessedZxid, (this.role.role === 'leading' && this.peer.lastProposedZxid) || 0);
  }

  /** The leader's proposal sizes (srvr's "Proposal sizes last/min/max"); null on any other role. */
  get proposalSizes(): SizeStats | null {
    return this.role.role === 'leading' ? this.quorumNet.stats.proposalSizes : null;
  }

  /** orst: the observers' connection counters start afresh. */
  resetObserverConnectionStats(): void {
    this.quorumNet.resetLearnerConnectionStats();
  }

  /** srst: the quorum counters start afresh, as 3.8's ServerMetrics and proposal sizes do. */
  resetStats(): void {
    this.quorumNet.stats.reset();
  }

  /** Snapshot the recovered state unless a snapshot holds it already (start-up, in the background). */
  snapshotRecovered(): Promise<void> {
    return this.replica.snapshot({ onlyIfRecovered: true });
  }

  /** autopurge (QuorumNet.purge). */
  purge(): Promise<void> {
    return this.quorumNet.purge();
  }

  /** Listen on the quorum and election ports and start the core, its Readies carried by `pipeline`. */
  async start(pipeline: Processor): Promise<void> {
    this.touches = () => pipeline.takeTouches();
    this.quorumNet.carryWith(pipeline);
    await this.quorumNet.listen();
    await this.electionNet.listen();
    this.quorumNet.start();
  }

  async close(): Promise<void> {
    await this.electionNet.close();
    await this.quorumNet.close();
    this.transport.close();
    await this.replica.close();
  }
}
