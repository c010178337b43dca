// A seeded, deterministic simulation of an ensemble built from the real Zab core
// (src/zab): virtual time, a network of FIFO connections that delays, breaks and
// partitions, disks that lose what was not fsynced (and may keep part of it), and
// crashes and restarts. Every Ready is carried out as the runtime contract in
// src/zab/ready.ts says, and invariants are checked as it goes; clients write
// registers and read them after a sync, and their history is checked for
// linearizability at the end (history.ts).

import assert from 'node:assert/strict';
import { OpCode } from '../../src/proto/constants.ts';
import type { Txn } from '../../src/proto/txn.ts';
import { majorityQuorum, type QuorumVerifier } from '../../src/zab/quorum.ts';
import type { Notification } from '../../src/zab/election.ts';
import type { ZabMessage } from '../../src/zab/messages.ts';
import { Peer } from '../../src/zab/peer.ts';
import type { Ready } from '../../src/zab/ready.ts';
import { epochOf, zxidHex } from '../../src/zxid.ts';
import { History, type Op } from './history.ts';
import { Rand } from '../support/random.ts';

/** The replicated state: registers, and the zxids applied to reach it. */
export interface AppState {
  applied: number;
  kv: Map<string, { value: string; zxid: number }>;
  chain: number[];
}

const emptyState = (): AppState => ({ applied: 0, kv: new Map(), chain: [] });
const cloneState = (s: AppState): AppState => ({ applied: s.applied, kv: new Map(s.kv), chain: [...s.chain] });

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
  /** chance per nemesis step of each fault; pause is SIGSTOP/SIGCONT of a peer (often the leader) */
  faults?: { crash?: number; partition?: number; breakConn?: number; pause?: number };
  /** observers, ids after the voters */
  observers?: number;
  /** break the core on purpose, to show the checkers catch it */
  sabotage?: 'ackBeforeFsync' | 'commitShortOfQuorum' | 'unconfirmedSync';
}

/** Voters 1..n (a majority of them is a quorum), and the given observers. */
export const majority = (n: number, observers: readonly number[] = []): QuorumVerifier =>
  majorityQuorum([...Array.from({ length: n }, (_, i) => i + 1), ...observers].map((id) => ({ id, host: '127.0.0.1', quorumPort: 1, electionPort: 2, observer: id > n })));

class SimPeer {
  alive = true;
  peer!: Peer;
  state: AppState = emptyState();
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
  seq: number;
  deadline: number;
}

export class Cluster {
  readonly rng: Rand;
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
  /** zxid → what was committed there, across all peers */
  private readonly committed = new Map<number, string>();
  private readonly epochLeaders = new Map<number, number>();
  readonly log: string[] = [];
  private readonly tickMs: number;

  constructor(readonly opts: SimOptions) {
    this.rng = new Rand(opts.seed);
    this.tickMs = opts.tickMs ?? 100;
    const observers = Array.from({ length: opts.observers ?? 0 }, (_, i) => opts.peers + 1 + i);
    this.quorum = majority(opts.peers, observers);
    for (let id = 1; id <= opts.peers + observers.length; id++) this.peers.push(new SimPeer(id, id > opts.peers, this.rng));
    for (const p of this.peers) this.boot(p);
    for (let c = 0; c < (opts.clients ?? 3); c++) this.clients.push({ id: c + 1, server: null, op: null, seq: 0, deadline: 0 });
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
    if (faults.crash || faults.partition || faults.breakConn || faults.pause) this.at(500, () => this.nemesis());
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
    p.state = cloneState(p.disk.snapshot);
    // As ZooKeeper, a restart applies the whole log; its uncommitted tail is truncated by the next sync if need be.
    for (const t of p.disk.log) if (t.hdr.zxid > p.state.applied) this.apply(p, t, 'replay');
    p.peer = new Peer({
      settings: {
        id: p.id,
        quorum: this.quorum,
        tickTime: this.tickMs,
        initLimit: this.opts.initLimit ?? 10,
        syncLimit: this.opts.syncLimit ?? 5,
        sabotage: this.opts.sabotage,
      },
      epochs: { ...p.disk.epochs },
      history: { logStart: p.disk.snapshot.applied, logged: p.disk.log.map((t) => t.hdr.zxid) },
      now: this.clockOf(p),
    });
    this.carry(p);
    // The runtime's timer: the peer reads its (skewed) clock every 20 ms.
    const tick = () => {
      if (p.incarnation !== inc) return;
      if (this.now < p.pausedUntil) {
        // A stopped process's timer fires once when it resumes, in no set order with its sockets.
        this.at(p.pausedUntil - this.now + this.rng.int(0, 30), tick);
        return;
      }
      this.onPeer(p, inc, () => p.peer.clock(this.clockOf(p)));
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
    p.fsyncScheduled = false;
    // What was written but not fsynced may or may not have reached the disk.
    const kept = p.disk.durable + this.rng.int(0, p.disk.log.length - p.disk.durable);
    p.disk.log.length = kept;
    p.disk.durable = kept;
    this.dropConnections(p.id);
    this.failClientsOf(p.id);
    const inc = p.incarnation;
    this.at(this.rng.int(200, 3000), () => {
      if (p.incarnation !== inc) return;
      this.trace(`restart ${p.id}`);
      this.boot(p);
    });
  }

  /** Apply a committed txn — or, with 'replay', a logged one being reloaded, which proves nothing committed. */
  private apply(p: SimPeer, t: Txn, how: 'commit' | 'replay' = 'commit'): void {
    const z = t.hdr.zxid;
    assert.ok(z > p.state.applied, `peer ${p.id} applies ${zxidHex(z)} after ${zxidHex(p.state.applied)}: commits out of zxid order`);
    if (how === 'commit') this.registerCommit(p, t);
    else this.checkAgainstCommitted(p, t);
    p.state.applied = z;
    p.state.chain.push(z);
    if (t.body.type === OpCode.setData) p.state.kv.set(t.body.path, { value: t.body.data!.toString(), zxid: z });
  }

  /** Invariant: no two peers commit different txns at one zxid. */
  private checkAgainstCommitted(p: SimPeer, t: Txn): string {
    const what = describeTxn(t);
    const seen = this.committed.get(t.hdr.zxid);
    assert.ok(seen === undefined || seen === what, `two txns at ${zxidHex(t.hdr.zxid)}: ${seen} committed, ${what} at peer ${p.id}`);
    return what;
  }

  private registerCommit(p: SimPeer, t: Txn): void {
    this.committed.set(t.hdr.zxid, this.checkAgainstCommitted(p, t));
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
        p.state = cloneState(disk.snapshot);
        for (const x of disk.log) this.apply(p, x, 'replay');
      }
    }
    if (r.epochs) disk.epochs = { ...disk.epochs, ...r.epochs };
    for (const t of r.commit) {
      this.apply(p, t);
      this.completeWrite(p, t);
    }
    if (r.append.length > 0) {
      for (const t of r.append) disk.log.push(t);
      this.scheduleFsync(p);
    }
    for (const { to, msg } of r.messages) this.send(p, to, msg);
    for (const { to, n } of r.votes) this.sendVote(p, to, n);
    for (const { request } of r.requests) this.leaderWrite(p, request.payload as PendingWrite);
    for (const token of r.syncs) this.completeRead(p, token as Op);
    for (const other of r.disconnect) this.breakConn(p.id, other);
    for (const n of r.notes) this.trace(`peer ${p.id}: ${n}`);
    if (r.role) {
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
    this.at(this.rng.int(1, 15), () =>
      this.onPeer(p, inc, () => {
        p.fsyncScheduled = false;
        const d = p.disk;
        if (d.durable === d.log.length) return;
        d.durable = d.log.length;
        p.peer.persisted(d.log[d.log.length - 1]!.hdr.zxid);
      }),
    );
  }

  /** Invariant: an epoch has one leader, and it holds every write a client was told succeeded. */
  private leaderEstablished(p: SimPeer, epoch: number): void {
    const other = this.epochLeaders.get(epoch);
    assert.ok(other === undefined || other === p.id, `epoch ${epoch} has two leaders: ${other} and ${p.id}`);
    this.epochLeaders.set(epoch, p.id);
    const chain = new Set(p.state.chain);
    for (const op of this.history.acknowledgedWrites()) {
      assert.ok(chain.has(op.zxid!), `leader ${p.id} of epoch ${epoch} lacks acknowledged write ${op.value} at ${zxidHex(op.zxid!)}`);
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
    this.pump(dir);
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
      target.state = cloneState(w.snap);
      target.disk.snapshot = cloneState(w.snap);
      target.disk.log = [];
      target.disk.durable = 0;
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
    } else if (chance(f.pause)) {
      const p = victim();
      if (p) {
        p.pausedUntil = this.now + this.rng.int(500, 5000);
        this.trace(`pause ${p.id} until ${p.pausedUntil}`);
      }
    }
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
    this.at(this.rng.int(500, 4000), () => {
      if (this.groups && this.partitions === id) this.heal();
    });
  }

  // ---- clients ----

  private clientLoop(): void {
    for (const c of this.clients) {
      if (c.op && this.now > c.deadline) this.giveUp(c, 'timeout');
      if (!c.op) this.nextOp(c);
    }
    this.at(10, () => this.clientLoop());
  }

  private nextOp(c: Client): void {
    const serving = this.peers.filter((p) => p.alive && p.peer.serving);
    if (serving.length === 0) return;
    if (c.server === null || !serving.some((p) => p.id === c.server) || this.rng.chance(0.05)) c.server = this.rng.pick(serving).id;
    const server = this.peers[c.server - 1]!;
    const key = `/k${this.rng.int(0, (this.opts.keys ?? 3) - 1)}`;
    c.seq++;
    c.deadline = this.now + (this.opts.clientTimeout ?? 4000);
    const write = this.rng.chance(0.5);
    const op = (c.op = this.history.invoke(c.id, write ? 'write' : 'read', key, write ? `c${c.id}-${c.seq}` : null, this.now, server.id));
    const cxid = c.seq;
    // The request reaches the server a moment later (later still if the server is paused).
    this.at(this.rng.int(1, 5), () =>
      this.onPeer(server, server.incarnation, () => {
        if (c.op !== op) return;
        if (!server.peer.serving) return this.giveUp(c, 'not serving');
        if (!write) {
          if (!server.peer.sync(op, { sessionId: BigInt(c.id), cxid, op: OpCode.sync, payload: null })) this.giveUp(c, 'not serving');
        } else if (server.peer.role === 'leading') {
          this.leaderWrite(server, { op, client: c.id, cxid });
        } else {
          server.peer.forward({ sessionId: BigInt(c.id), cxid, op: OpCode.setData, payload: { op, client: c.id, cxid } satisfies PendingWrite });
        }
      }),
    );
  }

  private leaderWrite(leader: SimPeer, w: PendingWrite): void {
    const { op } = w;
    leader.peer.propose((zxid) => ({
      hdr: { clientId: BigInt(w.client), cxid: w.cxid, zxid, time: 0, type: OpCode.setData },
      body: { type: OpCode.setData, path: op.key, data: Buffer.from(op.value!), version: 0 },
    }));
  }

  private completeWrite(p: SimPeer, t: Txn): void {
    const c = this.clients[Number(t.hdr.clientId) - 1];
    if (!c || !c.op || c.op.kind !== 'write' || c.server !== p.id || c.seq !== t.hdr.cxid) return;
    this.history.complete(c.op, this.now, t.hdr.zxid, c.op.value);
    c.op = null;
  }

  private completeRead(p: SimPeer, op: Op): void {
    const c = this.clients[op.client - 1]!;
    if (c.op !== op || c.server !== p.id) return;
    const cell = p.state.kv.get(op.key);
    this.history.complete(op, this.now, cell?.zxid ?? 0, cell?.value ?? null);
    c.op = null;
  }

  private giveUp(c: Client, why: string): void {
    if (c.op) this.history.fail(c.op, this.now, why);
    c.op = null;
    c.server = null;
  }

  private failClientsOf(id: number): void {
    for (const c of this.clients) if (c.server === id) this.giveUp(c, `server ${id} stopped serving`);
  }

  /** After the run: the history is linearizable, and every peer's state is a prefix of the committed sequence. */
  check(): void {
    this.history.check(this.committed);
    void epochOf;
  }
}

interface PendingWrite {
  op: Op;
  client: number;
  cxid: number;
}

function before(a: { at: number; seq: number }, b: { at: number; seq: number }): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

function describeTxn(t: Txn): string {
  const b = t.body;
  return `${t.hdr.clientId}:${t.hdr.cxid}:${b.type === OpCode.setData ? `${b.path}=${b.data?.toString()}` : b.type}`;
}
