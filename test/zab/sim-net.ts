// An in-memory network of Election instances on one virtual clock, for the scripted and the
// seeded election tests. Messages wait in flight until delivered; the test decides what is
// delivered, dropped, duplicated or delayed, and when time moves.

import { Election, PeerState, type Notification, type Vote } from '../../src/zab/election.ts';
import { majorityQuorum, type QuorumVerifier } from '../../src/zab/quorum.ts';
import type { PeerAddress } from '../../src/config/config.ts';

export interface InFlight {
  from: number;
  to: number;
  n: Notification;
  /** virtual time at which it may be delivered */
  at: number;
}

export interface PeerData {
  zxid: number;
  epoch: number;
}

export function addresses(voters: number[], observers: number[] = []): PeerAddress[] {
  return [...voters, ...observers]
    .sort((a, b) => a - b)
    .map((id) => ({ id, host: '127.0.0.1', quorumPort: 2000 + id, electionPort: 3000 + id, observer: observers.includes(id) }));
}

export const zxid = (epoch: number, counter: number) => epoch * 2 ** 32 + counter;

export class SimNet {
  now = 0;
  readonly peers = new Map<number, Election>();
  readonly data = new Map<number, PeerData>();
  inFlight: InFlight[] = [];
  /** ids cut off from everyone: what they send and what is sent to them is lost */
  readonly isolated = new Set<number>();
  /** decides each message's delay when it is sent; 0 by default */
  delay: (m: InFlight) => number = () => 0;
  /** every message ever sent, for assertions on what went over the wire */
  readonly sent: InFlight[] = [];

  constructor(readonly quorum: QuorumVerifier) {}

  static majority(voters: number[], observers: number[] = []): SimNet {
    return new SimNet(majorityQuorum(addresses(voters, observers)));
  }

  /** Start (or restart, keeping its round) the election on peer `id`. */
  start(id: number, data: PeerData): Election {
    this.data.set(id, data);
    let e = this.peers.get(id);
    if (e) e.restart({ lastZxid: data.zxid, currentEpoch: data.epoch, now: this.now });
    else {
      e = new Election({ myId: id, quorum: this.quorum, lastZxid: data.zxid, currentEpoch: data.epoch, now: this.now });
      this.peers.set(id, e);
    }
    this.collect(id);
    return e;
  }

  /** A crashed peer forgets everything, its round too; messages to it are lost until it starts. */
  crash(id: number): void {
    this.peers.delete(id);
    this.inFlight = this.inFlight.filter((m) => m.to !== id && m.from !== id);
  }

  collect(id: number): void {
    const e = this.peers.get(id)!;
    for (const { to, n } of e.takeOutbox()) {
      const m: InFlight = { from: id, to, n, at: this.now };
      m.at = this.now + this.delay(m);
      this.sent.push(m);
      if (!this.isolated.has(id) && !this.isolated.has(to)) this.inFlight.push(m);
    }
  }

  deliver(m: InFlight): void {
    this.inFlight.splice(this.inFlight.indexOf(m), 1);
    const e = this.peers.get(m.to);
    if (!e || this.isolated.has(m.to) || this.isolated.has(m.from)) return;
    e.receive(m.n, this.now);
    this.collect(m.to);
  }

  /** Deliver every message that is due, in send order, until none is; bounded. */
  flush(): void {
    for (let i = 0; i < 100_000; i++) {
      const due = this.inFlight.find((m) => m.at <= this.now);
      if (!due) return;
      this.deliver(due);
    }
    throw new Error('flush: messages keep coming');
  }

  /** Move the clock by ms in steps of `step`, ticking every peer and delivering what is due. */
  advance(ms: number, step = 10): void {
    const end = this.now + ms;
    while (this.now < end) {
      this.flush();
      this.now = Math.min(end, this.now + step);
      for (const [id, e] of this.peers) {
        e.tick(this.now);
        this.collect(id);
      }
    }
    this.flush();
  }

  /** Run until `done` holds or maxMs pass; says whether it held. */
  runUntil(done: () => boolean, maxMs: number): boolean {
    const end = this.now + maxMs;
    while (!done() && this.now < end) this.advance(10);
    return done();
  }

  allDecided(ids: Iterable<number> = this.peers.keys()): boolean {
    for (const id of ids) if (!this.peers.get(id)?.decision) return false;
    return true;
  }

  leaderOf(id: number): number | undefined {
    return this.peers.get(id)?.decision?.vote.leader;
  }

  stateOf(id: number): PeerState {
    return this.peers.get(id)!.peerState;
  }

  /** The vote a peer's data makes: (id, zxid, epoch). */
  voteOf(id: number): Vote {
    const d = this.data.get(id)!;
    return { leader: id, zxid: d.zxid, peerEpoch: d.epoch };
  }
}

/** (epoch, zxid, id) order of votes: negative if a < b. */
export function compareVotes(a: Vote, b: Vote): number {
  return a.peerEpoch - b.peerEpoch || a.zxid - b.zxid || a.leader - b.leader;
}
