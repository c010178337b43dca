// A seeded, deterministic simulation of an ensemble built from the real Zab core
// (src/zab): virtual time, a network of FIFO connections that delays, breaks and
// partitions, disks that lose what was not fsynced (and may keep part of it), and
// crashes and restarts. Every Ready is carried out as the runtime contract in
// src/zab/ready.ts says, and invariants are checked as it goes.
//
// The replicated state is the server's DataTree, changed only by DataTree.apply
// of real txns that the leader prepares with the server's Prep. Clients open
// sessions, create registers and ephemerals, set registers with an expected
// version, read them after a sync and close their sessions; they move between
// members (reattaching there: REVALIDATE to the leader) and ping when a request
// keeps them waiting. Each member tracks the sessions with the server's
// SessionAuthority: a learner reports the sessions its clients kept alive in
// its PING replies, and the leader expires the others after their timeout
// (sessions.ts checks it does so neither early nor late). Their history is
// checked for linearizability at the end (history.ts). Invariants beyond Zab's own: every
// non-error txn applies cleanly (prep checked it against the state it applies
// to); peers that applied a committed zxid hold trees of one digest; a session
// leaves a tree only by its closeSession, and takes its ephemerals with it; an
// ephemeral is created only for a live session.

import assert from 'node:assert/strict';
import { Err, OpCode } from '../../src/proto/constants.ts';
import type { Request } from '../../src/proto/records.ts';
import type { Txn, TxnBody } from '../../src/proto/txn.ts';
import { Prep } from '../../src/server/prep.ts';
import { SessionAuthority } from '../../src/server/session-authority.ts';
import { OPEN_ACL_UNSAFE } from '../../src/tree/acl.ts';
import { DataTree, ZNode, type ApplyResult } from '../../src/tree/datatree.ts';
import type { ZabSettings } from '../../src/zab/context.ts';
import { majorityQuorum, type QuorumVerifier } from '../../src/zab/quorum.ts';
import type { Notification } from '../../src/zab/election.ts';
import type { ZabMessage } from '../../src/zab/messages.ts';
import { Peer } from '../../src/zab/peer.ts';
import type { Ready } from '../../src/zab/ready.ts';
import { epochOf, zxidFollows, zxidHex } from '../../src/zxid.ts';
import { History, type Op } from './history.ts';
import { SessionWatch, type Packet } from './sessions.ts';
import { Rand } from '../support/random.ts';

/** The replicated state: the tree, and the zxids applied to reach it. */
export interface AppState {
  applied: number;
  tree: DataTree;
  chain: number[];
}

const emptyState = (): AppState => ({ applied: 0, tree: new DataTree(), chain: [] });
const cloneState = (s: AppState): AppState => ({ applied: s.applied, tree: cloneTree(s.tree), chain: [...s.chain] });

/** A deep copy of a tree, rebuilt as a snapshot load rebuilds one (pre-order, digest recounted). */
function cloneTree(tree: DataTree): DataTree {
  const nodes: [string, ZNode][] = [];
  const visit = (path: string) => {
    const n = tree.get(path)!;
    nodes.push([path, new ZNode(n.data, n.acl, n.czxid, n.mzxid, n.ctime, n.mtime, n.version, n.cversion, n.aversion, n.ephemeralOwner, n.pzxid)]);
    for (const name of n.children) visit(path === '/' ? `/${name}` : `${path}/${name}`);
  };
  visit('/');
  const copy = DataTree.fromSnapshot(nodes, tree.sessions, tree.lastProcessedZxid);
  assert.equal(copy.digest, tree.digest, 'a copied tree has the digest of its original');
  return copy;
}

/** Every session's timeout, in ms of the leader's clock. */
const SESSION_TIMEOUT = 4000;

interface Disk {
  snapshot: AppState;
  log: Txn[];
  /** how many log entries are durable */
  durable: number;
  epochs: { accepted: number; current: number };
}

export interface SimOptions {
  seed: number;
  peers: number;
  /** virtual milliseconds to run */
  duration: number;
  tickMs?: number;
  initLimit?: number;
  syncLimit?: number;
  clients?: number;
  /** ms a client waits for an answer before it gives up and moves on */
  clientTimeout?: number;
  keys?: number;
  /**
   * chance per nemesis step of each fault; pause is SIGSTOP/SIGCONT of a peer
   * (often the leader); powerFailure crashes every peer at once
   */
  faults?: { crash?: number; partition?: number; breakConn?: number; pause?: number; powerFailure?: number };
  /** the longest an fsync takes, in ms (slow disks widen the window an fsync leaves open) */
  fsyncMs?: number;
  /** observers, ids after the voters */
  observers?: number;
  /**
   * Break the core on purpose, to show the checkers catch it; forgetPending breaks
   * the leader's prep instead: it checks each request against the applied tree,
   * blind to the txns prepared but not applied yet (ZooKeeper's outstanding changes).
   */
  sabotage?: NonNullable<ZabSettings['sabotage']> | 'forgetPending';
}

/** Voters 1..n (a majority of them is a quorum), and the given observers. */
export const majority = (n: number, observers: readonly number[] = []): QuorumVerifier =>
  majorityQuorum([...Array.from({ length: n }, (_, i) => i + 1), ...observers].map((id) => ({ id, host: '127.0.0.1', quorumPort: 1, electionPort: 2, observer: id > n })));

class SimPeer {
  alive = true;
  peer!: Peer;
  state: AppState = emptyState();
  /** while leading: prep over this peer's tree (dropped whenever that tree is replaced or the role changes) */
  prep: Prep | null = null;
  /** the global sessions as this member tracks them (the server's own tracker) */
  sessions!: SessionAuthority;
  /** bumps on every role change and crash: a report's link to the leader is whole while neither end's stint changed */
  stint = 0;
  /** while serving: its leader (itself when leading), and since when it serves */
  leader: number | null = null;
  servingSince = 0;
  disk: Disk = { snapshot: emptyState(), log: [], durable: 0, epochs: { accepted: 0, current: 0 } };
  /** bumps on every crash: stale timers and fsyncs check it */
  incarnation = 0;
  fsyncScheduled = false;
  /** SIGSTOP: nothing of this peer runs before this time */
  pausedUntil = 0;
  /** how fast this peer's clock runs against real time (skew) */
  readonly rate: number;
  constructor(
    readonly id: number,
    readonly observer: boolean,
    rng: Rand,
  ) {
    this.rate = 0.9 + rng.next() * 0.2;
  }
}

interface Wire {
  msg: ZabMessage;
  snap?: AppState;
}

interface Client {
  id: number;
  server: number | null;
  op: Op | null;
  /** cxid of the last request */
  seq: number;
  deadline: number;
  /** the session in use (its createSession may still be in flight); null: open one next */
  session: bigint | null;
  /** sessions opened so far (the low half of the next session id) */
  sessions: number;
  /** the member the session's connection is on; elsewhere it must reattach first */
  attached: number | null;
  /** a reattach under way at this member, or null */
  reattaching: number | null;
  /** when the client last sent a packet (it pings when a request keeps it waiting) */
  lastSent: number;
  /** the version last seen of each register, to expect in the next set */
  versions: Map<string, number>;
}

export class Cluster {
  readonly rng: Rand;
  /** the election ports' guesses of who is unreachable: a stream of its own, so the rest of a seed's schedule stays */
  private readonly reachRng: Rand;
  now = 0;
  private seq = 0;
  private readonly queue: { at: number; seq: number; run: () => void }[] = [];
  readonly peers: SimPeer[] = [];
  private readonly conns = new Map<string, number>();
  /** per direction "from>to": messages in flight, in order, and whether a delivery is scheduled */
  private readonly channels = new Map<string, { queue: { at: number; conn: number; w: Wire }[]; pumping: boolean }>();
  /** partition groups: peer id → group; null when the network is whole */
  private groups: Map<number, number> | null = null;
  readonly quorum: QuorumVerifier;
  readonly history = new History();
  private readonly clients: Client[] = [];
  /** zxid → the txn committed there, across all peers */
  private readonly committed = new Map<number, Txn>();
  /** zxid → the tree digest of every peer that committed it, once applied */
  private readonly digests = new Map<number, bigint>();
  private readonly epochLeaders = new Map<number, number>();
  readonly log: string[] = [];
  private readonly tickMs: number;
  readonly sessions: SessionWatch;

  constructor(readonly opts: SimOptions) {
    this.rng = new Rand(opts.seed);
    this.reachRng = this.rng.fork(1);
    this.tickMs = opts.tickMs ?? 100;
    this.sessions = new SessionWatch(SESSION_TIMEOUT, this.tickMs, opts.syncLimit ?? 5, (p) => this.linked(p));
    const observers = Array.from({ length: opts.observers ?? 0 }, (_, i) => opts.peers + 1 + i);
    this.quorum = majority(opts.peers, observers);
    for (let id = 1; id <= opts.peers + observers.length; id++) this.peers.push(new SimPeer(id, id > opts.peers, this.rng));
    for (const p of this.peers) this.boot(p);
    for (let c = 0; c < (opts.clients ?? 3); c++) {
      this.clients.push({ id: c + 1, server: null, op: null, seq: 0, deadline: 0, session: null, sessions: 0, attached: null, reattaching: null, lastSent: 0, versions: new Map() });
    }
  }

  // ---- event loop ----

  private at(delay: number, run: () => void): void {
    const e = { at: this.now + delay, seq: this.seq++, run };
    const q = this.queue;
    q.push(e);
    // binary-heap sift-up
    let i = q.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (before(q[parent]!, e)) break;
      q[i] = q[parent]!;
      i = parent;
    }
    q[i] = e;
  }

  private pop(): { at: number; run: () => void } | undefined {
    const q = this.queue;
    const top = q[0];
    const last = q.pop();
    if (q.length > 0 && last) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        let best = last;
        if (l < q.length && before(q[l]!, best)) (m = l), (best = q[l]!);
        if (r < q.length && before(q[r]!, best)) (m = r), (best = q[r]!);
        if (m === i) break;
        q[i] = q[m]!;
        i = m;
      }
      q[i] = last;
    }
    return top;
  }

  run(): void {
    const faults = this.opts.faults ?? {};
    this.at(0, () => this.clientLoop());
    if (Object.values(faults).some((p) => p > 0)) this.at(500, () => this.nemesis());
    while (this.queue.length > 0) {
      const e = this.pop()!;
      if (e.at > this.opts.duration) break;
      this.now = e.at;
      e.run();
    }
  }

  /** Run `fn` as peer p, unless p crashed since `inc`; a paused peer runs it when it resumes. */
  private onPeer(p: SimPeer, inc: number, fn: () => void): void {
    if (!p.alive || p.incarnation !== inc) return;
    if (this.now < p.pausedUntil) {
      // On SIGCONT, what piled up from different sources runs in no set order.
      this.at(p.pausedUntil - this.now + this.rng.int(0, 30), () => this.onPeer(p, inc, fn));
      return;
    }
    fn();
    this.carry(p);
  }

  trace(line: string): void {
    this.log.push(`${this.now} ${line}`);
    if (this.log.length > 400) this.log.shift();
  }

  // ---- peers ----

  private boot(p: SimPeer): void {
    const inc = p.incarnation;
    p.alive = true;
    p.prep = null;
    p.leader = null;
    p.state = cloneState(p.disk.snapshot);
    // As ZooKeeper, a restart applies the whole log; its uncommitted tail is truncated by the next sync if need be.
    for (const t of p.disk.log) if (t.hdr.zxid > p.state.applied) this.apply(p, t, 'replay');
    p.sessions = new SessionAuthority(this.tickMs, p.id, this.clockOf(p));
    p.sessions.adopt(p.state.tree.sessions, this.clockOf(p));
    p.peer = new Peer({
      settings: {
        id: p.id,
        quorum: this.quorum,
        tickTime: this.tickMs,
        initLimit: this.opts.initLimit ?? 10,
        syncLimit: this.opts.syncLimit ?? 5,
        sabotage: this.opts.sabotage === 'forgetPending' ? undefined : this.opts.sabotage,
      },
      epochs: { ...p.disk.epochs },
      history: { logStart: p.disk.snapshot.applied, logged: p.disk.log.map((t) => t.hdr.zxid) },
      now: this.clockOf(p),
      touches: () => p.sessions.takeReports(),
    });
    this.carry(p);
    this.reportReachability();
    // The runtime's timer: the peer reads its (skewed) clock every 20 ms.
    const tick = () => {
      if (p.incarnation !== inc) return;
      if (this.now < p.pausedUntil) {
        // A stopped process's timer fires once when it resumes, in no set order with its sockets.
        this.at(p.pausedUntil - this.now + this.rng.int(0, 30), tick);
        return;
      }
      this.onPeer(p, inc, () => {
        p.peer.clock(this.clockOf(p));
        this.expireSessions(p);
      });
      this.at(20, tick);
    };
    this.at(20, tick);
  }

  private clockOf(p: SimPeer): number {
    return Math.floor(this.now * p.rate);
  }

  private crash(p: SimPeer): void {
    this.trace(`crash ${p.id} (${p.peer.describe()})`);
    p.alive = false;
    p.incarnation++;
    p.stint++;
    p.fsyncScheduled = false;
    // What was written but not fsynced may or may not have reached the disk.
    const kept = p.disk.durable + this.rng.int(0, p.disk.log.length - p.disk.durable);
    p.disk.log.length = kept;
    p.disk.durable = kept;
    this.dropConnections(p.id);
    this.failClientsOf(p.id);
    this.reportReachability();
    const inc = p.incarnation;
    this.at(this.rng.int(200, 3000), () => {
      if (p.incarnation !== inc) return;
      this.trace(`restart ${p.id}`);
      this.boot(p);
    });
  }

  /** Apply a committed txn — or, with 'replay', a logged one being reloaded, which proves nothing committed. */
  private apply(p: SimPeer, t: Txn, how: 'commit' | 'replay' = 'commit'): ApplyResult {
    const z = t.hdr.zxid;
    // (Messages are built only on failure: this runs for every txn at every peer.)
    holds(zxidFollows(p.state.applied, z), () => `peer ${p.id} applies ${zxidHex(z)} after ${zxidHex(p.state.applied)}: commits out of zxid order, or a txn skipped`);
    if (how === 'commit') this.registerCommit(p, t);
    else this.checkAgainstCommitted(p, t);
    const tree = p.state.tree;
    const { hdr, body } = t;
    const session = hdr.clientId;
    const hadSession = tree.sessions.has(session);
    const sessions = tree.sessions.size;
    if (body.type === OpCode.create && body.ephemeral) holds(hadSession, () => `peer ${p.id}: ephemeral ${body.path} created at ${zxidHex(z)} for session ${session}, which is not live`);
    const result = tree.apply(hdr, body);
    if (body.type !== OpCode.error) holds(result.err === Err.ok, () => `peer ${p.id}: ${describeTxn(t)} at ${zxidHex(z)} fails to apply (${result.err}): prep checked it against another state`);
    // Only createSession adds a session, only closeSession removes one: its own.
    const added = body.type === OpCode.createSession && !hadSession ? 1 : 0;
    const removed = body.type === OpCode.closeSession && hadSession ? 1 : 0;
    holds(tree.sessions.size === sessions + added - removed && tree.sessions.has(session) === (body.type === OpCode.closeSession ? false : hadSession || added === 1), () => `peer ${p.id}: sessions changed by ${describeTxn(t)} at ${zxidHex(z)}, not by a createSession or closeSession of their own`);
    if (body.type === OpCode.closeSession) holds(tree.ephemeralsOf(session).size === 0, () => `peer ${p.id}: ephemerals of session ${session} outlive its closeSession`);
    if (how === 'commit') {
      // Peers that committed the same zxids hold the same tree.
      const digest = this.digests.get(z);
      if (digest === undefined) this.digests.set(z, tree.digest);
      else holds(tree.digest === digest, () => `peer ${p.id}: tree digest after ${zxidHex(z)} differs from another peer's`);
    }
    p.state.applied = z;
    p.state.chain.push(z);
    if (p.prep) p.prep.applied(z);
    return result;
  }

  /** Invariant: no two peers commit different txns at one zxid. */
  private checkAgainstCommitted(p: SimPeer, t: Txn): void {
    const seen = this.committed.get(t.hdr.zxid);
    if (seen === undefined || seen === t) return;
    const what = describeTxn(t);
    holds(describeTxn(seen) === what, () => `two txns at ${zxidHex(t.hdr.zxid)}: ${describeTxn(seen)} committed, ${what} at peer ${p.id}`);
  }

  private registerCommit(p: SimPeer, t: Txn): void {
    this.checkAgainstCommitted(p, t);
    this.committed.set(t.hdr.zxid, t);
  }

  /** Carry out every Ready of peer p, as the runtime would. */
  private carry(p: SimPeer): void {
    for (let r: Ready | null; p.alive && (r = p.peer.ready()); ) this.carryOne(p, r);
  }

  private carryOne(p: SimPeer, r: Ready): void {
    const disk = p.disk;
    if (r.truncate !== null) {
      const t = r.truncate;
      assert.ok(t >= disk.snapshot.applied, `peer ${p.id} truncates to ${zxidHex(t)}, below its snapshot ${zxidHex(disk.snapshot.applied)}`);
      disk.log = disk.log.filter((x) => x.hdr.zxid <= t);
      disk.durable = Math.min(disk.durable, disk.log.length);
      if (p.state.applied > t) {
        p.prep = null;
        p.state = cloneState(disk.snapshot);
        for (const x of disk.log) this.apply(p, x, 'replay');
        p.sessions.adopt(p.state.tree.sessions, this.clockOf(p));
      }
    }
    if (r.epochs) disk.epochs = { ...disk.epochs, ...r.epochs };
    for (const t of r.commit) {
      this.completeWrite(p, t, this.apply(p, t));
      p.sessions.committed(t.hdr.clientId, t.body, this.clockOf(p));
    }
    if (r.append.length > 0) {
      for (const t of r.append) disk.log.push(t);
      this.scheduleFsync(p);
    }
    for (const { to, msg } of r.messages) this.send(p, to, msg);
    for (const { to, n } of r.votes) this.sendVote(p, to, n);
    for (const { request } of r.requests) this.leaderWrite(p, request.payload as Op);
    p.sessions.reported(r.touches, this.clockOf(p));
    for (const { from, sessionId, timeout } of r.revalidations) p.peer.revalidated(from, sessionId, this.revalidate(p, sessionId, timeout));
    for (const { sessionId, valid } of r.revalidated) this.reattached(p, sessionId, valid);
    for (const token of r.syncs) this.completeRead(p, token as Op);
    for (const other of r.disconnect) this.breakConn(p.id, other);
    for (const n of r.notes) this.trace(`peer ${p.id}: ${n}`);
    if (r.role) {
      p.prep = null;
      p.stint++;
      p.leader = r.role.serving ? r.role.leader : null;
      p.servingSince = this.now;
      if (r.role.serving) p.sessions.adopt(p.state.tree.sessions, this.clockOf(p));
      this.trace(`peer ${p.id} → ${r.role.role}${r.role.serving ? ' serving' : ''} leader ${r.role.leader} epoch ${r.role.epoch}${r.role.reason ? ` (${r.role.reason})` : ''}`);
      if (r.role.serving) {
        // A peer serves only what is committed: so is everything it has applied, replayed at start-up or not.
        for (const t of disk.log) if (t.hdr.zxid <= p.state.applied) this.registerCommit(p, t);
      }
      if (r.role.role === 'leading' && r.role.serving) this.leaderEstablished(p, r.role.epoch);
      if (!r.role.serving) {
        this.failClientsOf(p.id);
        if (r.role.role === 'looking') this.dropConnections(p.id);
      }
    }
  }

  private scheduleFsync(p: SimPeer): void {
    if (p.fsyncScheduled) return;
    p.fsyncScheduled = true;
    const inc = p.incarnation;
    this.at(this.rng.int(1, this.opts.fsyncMs ?? 15), () =>
      this.onPeer(p, inc, () => {
        p.fsyncScheduled = false;
        const d = p.disk;
        if (d.durable === d.log.length) return;
        d.durable = d.log.length;
        p.peer.persisted(d.log[d.log.length - 1]!.hdr.zxid);
      }),
    );
  }

  /** Invariant: an epoch has one leader, and it holds every write of earlier epochs a client was told succeeded. */
  private leaderEstablished(p: SimPeer, epoch: number): void {
    const other = this.epochLeaders.get(epoch);
    assert.ok(other === undefined || other === p.id, `epoch ${epoch} has two leaders: ${other} and ${p.id}`);
    this.epochLeaders.set(epoch, p.id);
    const chain = new Set(p.state.chain);
    for (const op of this.history.acknowledgedWrites()) {
      // Writes of later epochs are no concern of this one: its leader may learn late (say, paused)
      // that a quorum acked its NEWLEADER, while the next epoch is already taking writes.
      if (epochOf(op.zxid!) >= epoch) continue;
      holds(chain.has(op.zxid!), () => `leader ${p.id} of epoch ${epoch} lacks acknowledged ${op.kind} ${op.key} (cxid ${op.cxid} of session ${op.session}) at ${zxidHex(op.zxid!)}`);
    }
  }

  // ---- network ----

  private pair(a: number, b: number): string {
    return a < b ? `${a}-${b}` : `${b}-${a}`;
  }

  private reachable(a: number, b: number): boolean {
    return !this.groups || this.groups.get(a) === this.groups.get(b);
  }

  private send(from: SimPeer, to: number, msg: ZabMessage): void {
    const target = this.peers[to - 1];
    if (!target) return;
    if (msg.type === 'replay') {
      for (const t of from.disk.log) {
        if (t.hdr.zxid <= msg.from || t.hdr.zxid > msg.to) continue;
        this.send(from, to, { type: 'proposal', txn: t });
        this.send(from, to, { type: 'commit', zxid: t.hdr.zxid });
      }
      return;
    }
    const key = this.pair(from.id, to);
    const conn = this.conns.get(key) ?? 0;
    const w: Wire = msg.type === 'snap' ? { msg, snap: cloneState(from.state) } : { msg };
    if (w.snap) assert.equal(w.snap.applied, msg.type === 'snap' ? msg.zxid : 0, 'a SNAP carries the state as of its zxid');
    const dir = `${from.id}>${to}`;
    let ch = this.channels.get(dir);
    if (!ch) this.channels.set(dir, (ch = { queue: [], pumping: false }));
    const last = ch.queue[ch.queue.length - 1];
    ch.queue.push({ at: Math.max(this.now + this.rng.int(1, 20), last?.at ?? 0), conn, w });
    // Only a message into an idle channel starts its pump: a channel that holds
    // messages is pumping already, or waits for heal(). Pumping it from here
    // could deliver to a peer in the middle of its own Ready (say, a leader whose
    // proposal to one learner brings back a request): the nested Ready's messages
    // would then overtake the outer one's on the wire, which TCP never does.
    if (ch.queue.length === 1) this.pump(dir);
  }

  /**
   * Deliver the messages of one direction strictly in order (TCP): the head
   * waits for its time, for a paused receiver and for a partition to heal; a
   * message of a connection since closed is dropped.
   */
  private pump(dir: string): void {
    const ch = this.channels.get(dir)!;
    // Busy: a delivery is scheduled, or this channel is being pumped further up the stack.
    if (ch.pumping) return;
    const [from, to] = dir.split('>').map(Number) as [number, number];
    const target = this.peers[to - 1]!;
    ch.pumping = true;
    while (ch.queue.length > 0) {
      const head = ch.queue[0]!;
      if ((this.conns.get(this.pair(from, to)) ?? 0) !== head.conn || !target.alive) {
        ch.queue.shift();
        continue;
      }
      if (!this.reachable(from, to)) break; // heal() pumps again
      // A paused receiver takes it on SIGCONT, in no set order across connections.
      const at = Math.max(head.at, target.pausedUntil > this.now ? target.pausedUntil + this.rng.int(0, 30) : 0);
      if (at > this.now) {
        this.at(at - this.now, () => {
          ch.pumping = false;
          this.pump(dir);
        });
        return;
      }
      ch.queue.shift();
      this.deliver(from, target, head.w);
    }
    ch.pumping = false;
  }

  private deliver(from: number, target: SimPeer, w: Wire): void {
    if (w.snap) {
      // The runtime installs and makes durable a SNAP's state before the core sees it.
      target.prep = null;
      target.state = cloneState(w.snap);
      target.disk.snapshot = cloneState(w.snap);
      target.disk.log = [];
      target.disk.durable = 0;
      target.sessions.adopt(target.state.tree.sessions, this.clockOf(target));
    }
    target.peer.step(from, w.msg);
    this.carry(target);
  }

  private breakConn(a: number, b: number): void {
    const key = this.pair(a, b);
    this.conns.set(key, (this.conns.get(key) ?? 0) + 1);
    for (const [self, other] of [
      [a, b],
      [b, a],
    ] as const) {
      const p = this.peers[self - 1]!;
      const inc = p.incarnation;
      this.at(0, () => this.onPeer(p, inc, () => p.peer.disconnected(other)));
    }
  }

  private dropConnections(id: number): void {
    for (const p of this.peers) if (p.id !== id) this.breakConn(id, p.id);
  }

  private heal(): void {
    this.trace('heal');
    this.groups = null;
    for (const dir of this.channels.keys()) this.pump(dir);
    this.reportReachability();
  }

  /**
   * Each live peer's election port learns, a moment later, whom it cannot reach: the crashed
   * and the partitioned, mostly; now and then also a live one (a dial that failed) or not a
   * dead one (a close not seen yet). Only the election's timing may depend on it.
   */
  private reportReachability(): void {
    for (const p of this.peers) {
      if (!p.alive) continue;
      const unreachable = new Set<number>();
      for (const q of this.peers) {
        const down = !q.alive || !this.reachable(p.id, q.id);
        if (q !== p && down !== this.reachRng.chance(0.1)) unreachable.add(q.id);
      }
      const inc = p.incarnation;
      this.at(this.reachRng.int(0, 50), () => this.onPeer(p, inc, () => p.peer.reachability(unreachable)));
    }
  }

  // ---- election port ----

  /**
   * Notifications travel on their own connections, with ZooKeeper's one-slot
   * send queues: they may be lost (a partition, a full queue), duplicated and
   * reordered, and the election copes.
   */
  private sendVote(from: SimPeer, to: number, n: Notification): void {
    const target = this.peers[to - 1];
    if (!target || !this.reachable(from.id, to) || this.rng.chance(0.02)) return;
    const copies = this.rng.chance(0.02) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const inc = target.incarnation;
      this.at(this.rng.int(1, 20), () => {
        if (this.reachable(from.id, to)) this.onPeer(target, inc, () => target.peer.receiveVote(n));
      });
    }
  }

  // ---- nemesis ----

  private partitions = 0;

  private nemesis(): void {
    const f = this.opts.faults ?? {};
    const alive = this.peers.filter((p) => p.alive);
    const leader = alive.find((p) => p.peer.role === 'leading');
    // Prefer the leader half the time: that is where the interesting failures are.
    const victim = () => (leader && this.rng.chance(0.5) ? leader : this.rng.pick(alive));
    let roll = this.rng.next();
    const chance = (p: number | undefined) => (roll -= p ?? 0) < 0;
    if (chance(f.crash)) {
      if (alive.length > 0) this.crash(victim());
    } else if (chance(f.partition)) {
      if (this.groups) this.heal();
      else this.partition(victim());
    } else if (chance(f.breakConn)) {
      const a = this.rng.int(1, this.peers.length);
      const b = this.rng.int(1, this.peers.length);
      if (a !== b) {
        this.trace(`break connection ${a}-${b}`);
        this.breakConn(a, b);
      }
    } else if (chance(f.powerFailure)) {
      this.trace('power failure');
      for (const p of alive) this.crash(p);
    } else if (chance(f.pause)) {
      const p = victim();
      if (p) {
        // A second pause of a paused peer never cuts the first short: what reached the peer
        // meanwhile waits for the first pause's end (onPeer), and would come late.
        p.pausedUntil = Math.max(p.pausedUntil, this.now + this.rng.int(500, 5000));
        this.trace(`pause ${p.id} until ${p.pausedUntil}`);
      }
    }
    this.reportReachability();
    this.at(this.rng.int(200, 1500), () => this.nemesis());
  }

  /** Split the peers in two, `side` on the smaller side; heal after a while. */
  private partition(side: SimPeer | undefined): void {
    const n = this.peers.length;
    const small = this.rng.int(1, Math.floor(n / 2));
    const others = this.peers.filter((p) => p !== side).sort(() => 0).map((p) => p.id);
    const minority = new Set<number>(side ? [side.id] : []);
    while (minority.size < small) minority.add(this.rng.pick(others));
    this.groups = new Map(this.peers.map((p) => [p.id, minority.has(p.id) ? 1 : 0]));
    const id = ++this.partitions;
    this.trace(`partition ${[...minority].join(',')} | rest`);
    this.reportReachability();
    this.at(this.rng.int(500, 4000), () => {
      if (this.groups && this.partitions === id) this.heal();
    });
  }

  // ---- clients ----

  private clientLoop(): void {
    for (const c of this.clients) {
      if ((c.op || c.reattaching !== null) && this.now > c.deadline) this.giveUp(c, 'timeout');
      if (!c.op && c.reattaching === null) this.nextOp(c);
      else if (c.op && this.now - c.lastSent >= SESSION_TIMEOUT / 3) this.ping(c);
    }
    this.at(10, () => this.clientLoop());
  }

  private nextOp(c: Client): void {
    const serving = this.peers.filter((p) => p.alive && p.peer.serving);
    if (serving.length === 0) return;
    if (c.server === null || !serving.some((p) => p.id === c.server) || this.rng.chance(0.002)) c.server = this.rng.pick(serving).id;
    const server = this.peers[c.server - 1]!;
    // Now and then a client goes away without closing its session: the leader must expire it.
    if (c.session !== null && this.rng.chance(0.005)) {
      this.trace(`client ${c.id} abandons session ${c.session}`);
      c.session = null;
      c.attached = null;
    }
    c.deadline = this.now + (this.opts.clientTimeout ?? 4000);
    c.lastSent = this.now;
    if (c.session !== null && c.attached !== server.id) return this.reattach(c, server);
    c.seq++;
    const op = (c.op = this.history.invoke(this.plan(c, server.id), this.now));
    if (op.kind === 'createSession') c.attached = server.id;
    // The request reaches the server a moment later (later still if the server is paused).
    this.at(this.rng.int(1, 5), () =>
      this.onPeer(server, server.incarnation, () => {
        if (c.op !== op) return;
        if (!server.peer.serving) return this.giveUp(c, 'not serving');
        if (op.kind === 'createSession') {
          // The member tracks a session it creates from the start (the server's connect).
          server.sessions.add(op.session, SESSION_TIMEOUT, this.clockOf(server));
          this.sessions.packet(op.session, this.now, this.linkOf(server));
        } else if (!this.clientPacket(server, op.session)) {
          return this.toldExpired(c);
        }
        if (op.kind === 'read') {
          if (!server.peer.sync(op, { sessionId: op.session, cxid: op.cxid, op: OpCode.sync, payload: null })) this.giveUp(c, 'not serving');
        } else if (server.peer.role === 'leading') {
          this.leaderWrite(server, op);
        } else {
          // As the server's closeSessionTxn: the session is closing here from now on.
          if (op.kind === 'closeSession') server.sessions.setClosing(op.session);
          server.peer.forward({ sessionId: op.session, cxid: op.cxid, op: OPCODE_OF[op.kind], payload: op });
        }
      }),
    );
  }

  /** A client waiting for an answer pings its member now and then (ZooKeeper's client: every third of its timeout). */
  private ping(c: Client): void {
    c.lastSent = this.now;
    const server = c.attached === null ? null : this.peers[c.attached - 1]!;
    const session = c.session;
    if (!server || session === null) return;
    this.at(this.rng.int(1, 5), () =>
      this.onPeer(server, server.incarnation, () => {
        if (c.session === session && c.attached === server.id && server.peer.serving && !this.clientPacket(server, session)) this.toldExpired(c);
      }),
    );
  }

  /** A packet of `session`'s client reaches serving member m: alive there? (As the server's touch on every packet.) */
  private clientPacket(m: SimPeer, session: bigint): boolean {
    const alive = m.sessions.clientActive(session, this.clockOf(m), m.peer.leads);
    this.sessions.packet(session, this.now, alive ? this.linkOf(m) : null);
    return alive;
  }

  /** The link from serving member m to its leader now, along which m's reports travel. */
  private linkOf(m: SimPeer): Packet | null {
    if (m.leader === null) return null;
    const l = this.peers[m.leader - 1]!;
    return { at: this.now, member: m.id, leader: l.id, memberStint: m.stint, leaderStint: l.stint, conn: m.id === l.id ? 0 : (this.conns.get(this.pair(m.id, l.id)) ?? 0) };
  }

  private linked(p: Packet): boolean {
    const m = this.peers[p.member - 1]!;
    const l = this.peers[p.leader - 1]!;
    return m.alive && l.alive && m.stint === p.memberStint && l.stint === p.leaderStint && (m === l || (this.conns.get(this.pair(m.id, l.id)) ?? 0) === p.conn);
  }

  /** The member answered SessionExpired and closed the connection: the client opens a new session. */
  private toldExpired(c: Client): void {
    if (c.op) this.history.fail(c.op, this.now, 'session expired');
    c.op = null;
    c.session = null;
    c.attached = null;
    c.reattaching = null;
  }

  /** The client connects to another member with its session: that member asks the leader (REVALIDATE) unless it leads. */
  private reattach(c: Client, server: SimPeer): void {
    const session = c.session!;
    c.reattaching = server.id;
    this.at(this.rng.int(1, 5), () =>
      this.onPeer(server, server.incarnation, () => {
        if (c.reattaching !== server.id || c.session !== session) return;
        if (!server.peer.serving) return this.giveUp(c, 'not serving');
        if (server.peer.leads) return this.reattached(server, session, this.revalidate(server, session, SESSION_TIMEOUT));
        if (!server.peer.revalidate(session, SESSION_TIMEOUT)) this.giveUp(c, 'not serving');
      }),
    );
  }

  /** Leader: is a reattaching session alive? Then it lives a full timeout from now (the server's revalidate). */
  private revalidate(leader: SimPeer, session: bigint, timeout: number): boolean {
    const alive = leader.sessions.touch(session, this.clockOf(leader), timeout);
    if (alive) this.sessions.packet(session, this.now, this.linkOf(leader));
    return alive;
  }

  /** Member p has the answer for a session reattaching there. */
  private reattached(p: SimPeer, session: bigint, valid: boolean): void {
    const c = this.clients.find((x) => x.reattaching === p.id && x.session === session);
    if (!c) return; // the client gave up meanwhile
    if (!valid) return this.toldExpired(c);
    if (!p.peer.leads) p.sessions.reattached(session, SESSION_TIMEOUT, this.clockOf(p));
    c.reattaching = null;
    c.attached = p.id;
  }

  /** The client's next request: open a session first; then mostly sets and reads of the registers. */
  private plan(c: Client, server: number): Parameters<History['invoke']>[0] {
    const base = { client: c.id, cxid: c.seq, server, key: '', value: null, expectedVersion: -1 };
    if (c.session === null) {
      c.session = (BigInt(c.id) << 32n) | BigInt(++c.sessions);
      return { ...base, kind: 'createSession', session: c.session };
    }
    const session = c.session;
    const key = `/k${this.rng.int(0, (this.opts.keys ?? 3) - 1)}`;
    const value = `c${c.id}-${c.seq}`;
    const roll = this.rng.next();
    if (roll < 0.04) return { ...base, kind: 'closeSession', session };
    if (roll < 0.12) return { ...base, kind: 'ephemeral', session, key: `/e${c.id}-${c.seq}`, value };
    if (roll < 0.2) return { ...base, kind: 'create', session, key, value };
    if (roll < 0.6) return { ...base, kind: 'set', session, key, value, expectedVersion: this.rng.chance(0.2) ? -1 : (c.versions.get(key) ?? 0) };
    return { ...base, kind: 'read', session, key };
  }

  /** The leader's prep, made over its tree on first use. */
  private prepOf(leader: SimPeer): Prep {
    const newPrep = () => new Prep(leader.state.tree, { extendedTypesEnabled: false, reconfigEnabled: false, skipACL: true });
    if (this.opts.sabotage === 'forgetPending') return (leader.prep = newPrep());
    return (leader.prep ??= newPrep());
  }

  /** Order a client's write: the txn is prepared as its zxid is given. */
  private leaderWrite(leader: SimPeer, op: Op): void {
    const prep = this.prepOf(leader);
    const sessions = leader.sessions;
    // As the server's pipeline: a createSession is tracked from the moment it is ordered, a closeSession is closing from then.
    if (op.kind === 'createSession' && sessions.timeoutOf(op.session) === undefined) sessions.add(op.session, SESSION_TIMEOUT, this.clockOf(leader));
    const alive = sessions.isAlive(op.session);
    if (op.kind === 'closeSession') sessions.setClosing(op.session);
    leader.peer.propose((zxid) => {
      const ctx = { sessionId: op.session, authIds: [], zxid, time: this.now };
      const request = requestOf(op);
      const body: TxnBody =
        op.kind === 'createSession' ? { type: OpCode.createSession, timeOut: SESSION_TIMEOUT }
        : !alive ? { type: OpCode.error, err: Err.sessionExpired }
        : request ? prep.prepare(request, ctx)
        : prep.prepareCloseSession(ctx);
      return { hdr: { clientId: op.session, cxid: op.cxid, zxid, time: this.now, type: body.type }, body };
    });
  }

  /**
   * Peer p's timer, when it leads: expire the sessions whose time is up (a
   * paused leader's clock jumps on resume, as a real one's does), by a
   * closeSession txn with cxid 0, as ZooKeeper's expiry request; and check
   * that none it should have expired is left.
   */
  private expireSessions(p: SimPeer): void {
    if (!p.peer.leads) return;
    const view = { id: p.id, rate: p.rate, servingSince: Math.max(p.servingSince, p.pausedUntil), sessions: p.state.tree.sessions.keys(), zxid: p.state.applied };
    for (const session of p.sessions.expire(this.clockOf(p))) {
      this.trace(`leader ${p.id} expires session ${session}`);
      this.sessions.expiring(session, view, this.now);
      const prep = this.prepOf(p);
      p.peer.propose((zxid) => {
        const body = prep.prepareCloseSession({ sessionId: session, authIds: [], zxid, time: this.now });
        return { hdr: { clientId: session, cxid: 0, zxid, time: this.now, type: body.type }, body };
      });
    }
    this.sessions.overdue(view, this.now);
  }

  private completeWrite(p: SimPeer, t: Txn, result: ApplyResult): void {
    const c = this.clients.find((x) => x.server === p.id && x.op && x.op.kind !== 'read' && x.op.session === t.hdr.clientId && x.op.cxid === t.hdr.cxid);
    if (!c) return;
    const op = c.op!;
    const version = result.stat?.version ?? 0;
    this.history.complete(op, this.now, { zxid: t.hdr.zxid, err: result.err, version });
    if ((op.kind === 'set' || op.kind === 'create') && result.err === Err.ok) c.versions.set(op.key, version);
    if (op.kind === 'closeSession' || result.err === Err.sessionExpired) {
      c.session = null;
      c.attached = null;
    }
    c.op = null;
  }

  private completeRead(p: SimPeer, op: Op): void {
    const c = this.clients[op.client - 1]!;
    if (c.op !== op || c.server !== p.id) return;
    const node = p.state.tree.get(op.key);
    this.history.complete(op, this.now, {
      zxid: node?.mzxid ?? 0,
      err: node ? Err.ok : Err.noNode,
      version: node?.version ?? -1,
      value: node ? node.data!.toString() : null,
    });
    if (node) c.versions.set(op.key, node.version);
    c.op = null;
  }

  private giveUp(c: Client, why: string): void {
    if (c.op) {
      this.history.fail(c.op, this.now, why);
      // Unsure whether its session opened or closed, the client leaves it to the leader's expiry.
      if (c.op.kind === 'createSession' || c.op.kind === 'closeSession') c.session = null;
    }
    c.op = null;
    c.server = null;
    c.attached = null;
    c.reattaching = null;
  }

  private failClientsOf(id: number): void {
    for (const c of this.clients) if (c.server === id) this.giveUp(c, `server ${id} stopped serving`);
  }

  /** After the run: the history is linearizable. */
  check(): void {
    this.history.check(this.committed);
  }
}

/** The opcode of each kind of request of the workload. */
const OPCODE_OF: Record<Op['kind'], number> = {
  createSession: OpCode.createSession,
  closeSession: OpCode.closeSession,
  create: OpCode.create,
  ephemeral: OpCode.create,
  set: OpCode.setData,
  read: OpCode.sync,
};

/** The client request behind a write of the workload. */
function requestOf(op: Op): Request | null {
  const data = Buffer.from(op.value ?? '');
  switch (op.kind) {
    case 'create':
    case 'ephemeral':
      return { type: OpCode.create, path: op.key, data, acl: OPEN_ACL_UNSAFE, flags: op.kind === 'ephemeral' ? 1 : 0 };
    case 'set':
      return { type: OpCode.setData, path: op.key, data, version: op.expectedVersion };
    default:
      return null;
  }
}

/** assert.ok, with the message made only when it fails */
function holds(ok: boolean, message: () => string): void {
  if (!ok) assert.fail(message());
}

function before(a: { at: number; seq: number }, b: { at: number; seq: number }): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

function describeTxn(t: Txn): string {
  const b = t.body;
  const what =
    b.type === OpCode.error ? `error ${b.err}`
    : b.type === OpCode.closeSession ? `closeSession ${b.paths.join(',')}`
    : 'path' in b ? `${b.type} ${b.path}${'data' in b ? `=${b.data?.toString()}` : ''}${'version' in b ? ` v${b.version}` : ''}`
    : `${b.type}`;
  return `${t.hdr.clientId}:${t.hdr.cxid}:${what}`;
}
