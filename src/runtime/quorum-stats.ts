// What an ensemble member counts of its quorum traffic and role changes, for
// mntr and srvr, under the names ZooKeeper 3.8's ServerMetrics and Leader's
// proposal BufferStats give them (checked against a 3.8 ensemble, per role).
//
// Invariants:
// - counters only grow, until srst resets them all (as 3.8's srst resets its
//   ServerMetrics and the leader's proposal sizes);
// - the proposal sizes are the current leadership's: they start afresh (-1)
//   each time this member begins leading;
// - durations are measured by the runtime's clock between role changes; the
//   core never sees them.

import { SizeStats, Summary } from '../metrics/summary.ts';
import type { RoleChange } from '../zab/ready.ts';

export class QuorumStats {
  /** PROPOSAL_COUNT: proposals this member made as leader */
  proposals = 0;
  /** COMMIT_COUNT: txns this member committed as leader */
  commits = 0;
  /** LEARNER_PROPOSAL_RECEIVED_COUNT / LEARNER_COMMIT_RECEIVED_COUNT: broadcast packets a serving learner got (COMMIT or INFORM) */
  proposalsReceived = 0;
  commitsReceived = 0;
  /** DIFF_COUNT (DIFF and TRUNC syncs) and SNAP_COUNT, as leader */
  diffSyncs = 0;
  snapSyncs = 0;
  /** LOOKING_COUNT: times this member began looking for a leader, start-up included */
  lookingCount = 1;
  /** SYNC_PROCESSOR_QUEUED: txns handed to the log; REQUEST_COMMIT_QUEUED: txns committed while serving (and a learner's syncs) */
  logged = 0;
  committed = 0;
  /** Leader.getProposalStats: the data sizes of this leadership's PROPOSAL packets */
  readonly proposalSizes = new SizeStats();
  /** LOOKING until a role is chosen (leaders and followers: ZooKeeper counts no observer's) */
  readonly electionTime = new Summary();
  /** role chosen until serving (follower, observer); LOOKING until serving (any role, and the leader's own) */
  readonly followerSyncTime = new Summary();
  readonly observerSyncTime = new Summary();
  readonly unavailableTime = new Summary();
  readonly leaderUnavailableTime = new Summary();

  private lookingSince: number;
  private roleSince: number;
  private serving = false;
  private lastProposal = -1;

  constructor(now: number) {
    this.lookingSince = this.roleSince = now;
  }

  /** A PROPOSAL packet of `size` data bytes was built for zxid (once per zxid counts). */
  proposed(zxid: number, size: number): void {
    if (zxid <= this.lastProposal) return;
    this.lastProposal = zxid;
    this.proposals++;
    this.proposalSizes.add(size);
  }

  /** srst: every counter and summary to zero, the proposal sizes to -1 (the role's clock marks stay). */
  reset(): void {
    this.proposals = this.commits = this.proposalsReceived = this.commitsReceived = 0;
    this.diffSyncs = this.snapSyncs = this.lookingCount = this.logged = this.committed = 0;
    for (const summary of [this.electionTime, this.followerSyncTime, this.observerSyncTime, this.unavailableTime, this.leaderUnavailableTime]) summary.reset();
    this.proposalSizes.reset();
  }

  /** Account for a role change at `now`; returns how long the election took when this change ends one. */
  roleChanged(change: RoleChange, now: number): number | null {
    if (change.role === 'looking') {
      this.lookingCount++;
      this.lookingSince = now;
      this.serving = false;
      return null;
    }
    if (change.serving) {
      if (this.serving) return null;
      this.serving = true;
      const unavailable = now - this.lookingSince;
      this.unavailableTime.add(unavailable);
      if (change.role === 'leading') this.leaderUnavailableTime.add(unavailable);
      else (change.role === 'following' ? this.followerSyncTime : this.observerSyncTime).add(now - this.roleSince);
      return null;
    }
    this.roleSince = now;
    if (change.role === 'leading') this.proposalSizes.reset();
    const took = now - this.lookingSince;
    if (change.role !== 'observing') this.electionTime.add(took);
    return took;
  }

  /** mntr's keys for these counts (every role prints them in ZooKeeper 3.8). */
  metrics(): [string, number | string][] {
    return [
      ['proposal_count', this.proposals],
      ['commit_count', this.commits],
      ['learner_proposal_received_count', this.proposalsReceived],
      ['learner_commit_received_count', this.commitsReceived],
      ['diff_count', this.diffSyncs],
      ['snap_count', this.snapSyncs],
      ['looking_count', this.lookingCount],
      ['sync_processor_request_queued', this.logged],
      ['request_commit_queued', this.committed],
      ...this.electionTime.metrics('election_time'),
      ...this.followerSyncTime.metrics('follower_sync_time'),
      ...this.observerSyncTime.metrics('observer_sync_time'),
      ...this.unavailableTime.metrics('unavailable_time'),
      ...this.leaderUnavailableTime.metrics('leader_unavailable_time'),
    ];
  }
}
