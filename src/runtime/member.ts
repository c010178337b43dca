// One ensemble member without its client port: durable state (Replica), the
// Zab core (Peer), the quorum port (QuorumNet) and fast leader election
// (Election over ElectionNet) wired together — ZooKeeper's QuorumPeer main
// loop: look → lead | follow | observe → look … The server wires its request
// pipeline to `peer` and `replica` (onCommit, onRequests).
//
// Invariants: the core is told to lead or follow only while it is looking,
// and only by a decision of the election round begun when it last started
// looking; when a role ends, a new round begins from the core's last zxid and
// current epoch; once this peer leads an established epoch, the vote it
// answers lookers with names that epoch (QuorumPeer.updateElectionVote).

import type { PeerAddress } from '../config/config.ts';
import type { Logger } from '../log.ts';
import type { DataDirOptions } from '../persistence/datadir.ts';
import type { ApplyResult } from '../tree/datatree.ts';
import type { Txn } from '../proto/txn.ts';
import { Election, PeerState, type Decision } from '../zab/election.ts';
import type { ForwardedRequest } from '../zab/messages.ts';
import { Peer } from '../zab/peer.ts';
import { majorityQuorum } from '../zab/quorum.ts';
import type { RoleChange } from '../zab/ready.ts';
import { ElectionDriver, ElectionNet } from './election-net.ts';
import { QuorumNet } from './quorum-net.ts';
import { Replica } from './replica.ts';
import { quorumConfigText } from './zab-wire.ts';

export interface MemberOptions {
  myId: number;
  /** every server.N line, ours included */
  servers: readonly PeerAddress[];
  dataDir: DataDirOptions;
  tickMs: number;
  initLimit: number;
  syncLimit: number;
  logger: Logger;
  onCommit?: (txn: Txn, result: ApplyResult) => void;
  onRequests?: (requests: { from: number; request: ForwardedRequest }[]) => void;
  onRole?: (change: RoleChange) => void;
}

export class Member {
  private constructor(
    readonly replica: Replica,
    readonly peer: Peer,
    readonly quorumNet: QuorumNet,
    private readonly election: Election,
    private readonly electionNet: ElectionNet,
    private readonly driver: ElectionDriver,
  ) {}

  /** Recover the data directories, open both ports and start looking. */
  static async start(opts: MemberOptions): Promise<Member> {
    const replica = await Replica.open(opts.dataDir, opts.logger);
    const config = quorumConfigText(opts.servers);
    replica.showQuorumConfig(config);
    const quorum = majorityQuorum(opts.servers);
    const peer = new Peer({
      settings: { id: opts.myId, quorum, initLimit: opts.initLimit, syncLimit: opts.syncLimit },
      epochs: { ...replica.epochs },
      history: replica.historyInit(),
    });
    const election = new Election({ myId: opts.myId, quorum, lastZxid: peer.lastZxid, currentEpoch: peer.epochs.current, now: performance.now() });
    const electionNet = new ElectionNet({ myId: opts.myId, servers: opts.servers });
    let member: Member | null = null;
    const quorumNet = new QuorumNet({
      myId: opts.myId,
      servers: opts.servers,
      peer,
      replica,
      tickMs: opts.tickMs,
      logger: opts.logger,
      config,
      onCommit: opts.onCommit,
      onRequests: opts.onRequests,
      onRole: (change) => {
        member?.roleChanged(change);
        opts.onRole?.(change);
      },
    });
    const driver = new ElectionDriver(election, electionNet, (d) => member?.decided(d));
    member = new Member(replica, peer, quorumNet, election, electionNet, driver);
    await quorumNet.listen();
    await electionNet.listen();
    quorumNet.start();
    driver.start();
    return member;
  }

  private decided(d: Decision): void {
    if (this.peer.role !== 'looking') return;
    if (d.state === PeerState.leading) this.peer.lead();
    else this.peer.follow(d.vote.leader, d.state === PeerState.observing);
    this.quorumNet.drive();
  }

  private roleChanged(change: RoleChange): void {
    if (change.role === 'looking') {
      this.election.restart({ lastZxid: this.peer.lastZxid, currentEpoch: this.peer.epochs.current, now: performance.now() });
      this.driver.pump();
    } else if (change.role === 'leading' && change.serving) {
      this.election.updateElectionVote(change.epoch);
    }
  }

  async close(): Promise<void> {
    this.driver.stop();
    await this.electionNet.close();
    await this.quorumNet.close();
    await this.replica.close();
  }
}
