// The quorum port: binds a Zab core (src/zab Peer) to sockets and to storage
// (Replica). It is what ZooKeeper's Leader/LearnerCnxAcceptor/LearnerHandler
// and Learner's connection code are, without their protocol logic, which is
// the core's. It listens on this server's quorum address (a learner connection
// is identified by its FOLLOWERINFO/OBSERVERINFO), dials the leader's when the
// core first sends to it, maps ZabMessages to QuorumPackets (zab-wire.ts), and
// carries each Ready in the contract's order (src/zab/ready.ts):
// truncate → epochs → commit → append → messages → votes (on the election
// port, ElectionNet) → requests, touches, revalidations, syncs, disconnects,
// role. It also runs the core's clock (election timers and Zab ticks).
//
// In a serving Paddock server the request pipeline (src/server/processor.ts)
// carries the Readies instead (carryWith): the pipeline does commit, append,
// requests, touches, revalidations and syncs, and this runtime is its
// QuorumLink (truncate and epochs before, messages, votes, disconnects and
// role after) and hands it the state TRUNC and SNAP rebuild
// (Pipeline.replaceState).
//
// Invariants:
// - Readies are carried one at a time, in order; the one async storage step
//   (TRUNC) holds the next Ready back until it is done;
// - per connection, packets leave in the order the core sent them, those of
//   one pass of the event loop encoded into one buffer and written once the
//   I/O callbacks of the pass have run (the proposals, ACKs or COMMITs that
//   the packets received together produce cost one syscall); a SNAP's
//   snapshot stream (written from the tree as of the SNAP's zxid, fuzzy and
//   sliced like ZooKeeper's) holds back whatever follows it;
// - a received SNAP is installed durably (Replica.install) before the core
//   hears of it, and no later packet of that connection is stepped before;
//   its snapshot stream is loaded while it arrives (the decoder's SnapStream
//   into persistence's readSnapStream), and the socket is paused while the
//   SnapStream holds its high-water mark, so a learner never holds more than
//   that (plus one item and a socket chunk) of the stream besides the tree;
// - a connection that breaks is reported to the core (disconnected) unless the
//   runtime closed it itself (a role change closes every quorum connection of
//   the old role; the core's `disconnect` list closes one);
// - bad bytes from a peer close that connection only;
// - with quorum SASL (quorum-auth.ts) a connection carries no packet either
//   way before its handshake passed (a learner's connection, dialled or accepted);
// - every role change is logged in the words ZooKeeper 3.8 uses (LOOKING,
//   LEADING, FOLLOWING, OBSERVING, "Peer state changed", "LEADER ELECTION
//   TOOK"), with the leader, the epoch and the last zxid, and counted (stats);
//   its structured fields (event looking/elected/established) carry the same;
// - a learner logs one `synced` line per sync it completes (DIFF, TRUNC or
//   SNAP, the txns it was sent, how long until it served).

import net from 'node:net';
import type { PeerAddress } from '../config/config.ts';
import { JuteWriter } from '../jute/archive.ts';
import type { Logger } from '../log.ts';
import { readSnapStream, writeSnapStream } from '../persistence/snapshot.ts';
import { decodeLearnerInfo, encodePacket, packetName, PacketType, QuorumPacketDecoder, QuorumWireError, writePacket, type QuorumPacket, type SnapStream } from '../proto/quorum.ts';
import type { Txn } from '../proto/txn.ts';
import type { ApplyResult, DataTree } from '../tree/datatree.ts';
import type { MessageOf, ZabMessage } from '../zab/messages.ts';
import type { Peer } from '../zab/peer.ts';
import type { Ready, Role, RoleChange } from '../zab/ready.ts';
import { zxidHex } from '../zxid.ts';
import type { QuorumLink } from '../server/processor.ts';
import type { ElectionNet } from './election-net.ts';
import type { QuorumAuth } from './quorum-auth.ts';
import { QuorumStats } from './quorum-stats.ts';
import { PLAINTEXT, type PeerTransport } from './transport.ts';
import type { Replica } from './replica.ts';
import { fromPacket, toPacket, type WireContext } from './zab-wire.ts';

export interface QuorumNetOptions {
  myId: number;
  /** every server.N line, ours included: we listen on our own quorum address */
  servers: readonly PeerAddress[];
  peer: Peer;
  replica: Replica;
  /** the core's tick (tickTime) */
  tickMs: number;
  logger: Logger;
  /** the quorum config as text, for NEWLEADER (ZooKeeper's QuorumVerifier.toString()) */
  config: string | null;
  /** a committed txn was applied to the replica's tree */
  onCommit?: (txn: Txn, result: ApplyResult) => void;
  /** leader: client requests learners forwarded */
  onRequests?: (requests: Ready['requests']) => void;
  /** leader: sessions the learners' clients kept alive (their PING replies) */
  onTouches?: (touches: Ready['touches']) => void;
  /** leader: learners' clients reattaching (REVALIDATE); answer each with Peer.revalidated */
  onRevalidations?: (asks: Ready['revalidations']) => void;
  /** learner: the leader's REVALIDATE answers */
  onRevalidated?: (answers: Ready['revalidated']) => void;
  onRole?: (change: RoleChange) => void;
  /** the election port: the core's votes go out on it and what it hears goes to the core */
  electionNet?: ElectionNet;
  /** quorum SASL: its handshake opens every learner connection */
  auth?: QuorumAuth;
  /** how connections are made and taken: plaintext unless sslQuorum/portUnification (src/tls/quorum.ts) */
  transport?: PeerTransport;
  /** learner: how much of a SNAP's snapshot stream waits for the loader before the socket is paused (DEFAULT_SNAP_HIGH_WATER) */
  snapHighWaterBytes?: number;
}

/** The request pipeline when it carries the core's Readies (Processor). */
export interface Pipeline {
  /** carry every Ready the core has */
  drive(): void;
  /** run a storage step no Ready may interleave with */
  hold(step: () => Promise<void>): Promise<void>;
  /** continue on the state TRUNC or SNAP left, the log durable up to `logAt` */
  replaceState(tree: DataTree, logAt: number): void;
}

/** A learner's connection as the leader's observers admin command reports it. */
export interface LearnerConnection {
  /** "/host:port" as ZooKeeper prints a socket address */
  remoteAddress: string | null;
  /** when it was accepted (ms since the epoch) */
  established: number;
  queuedPackets: number;
  queuedBytes: number;
  packetsReceived: number;
  packetsSent: number;
  requests: number;
}

/** How often the core's clock is advanced: its election timers want finer steps than a tick. */
const CLOCK_MS = 20;

/** One quorum connection; its peer id is known once dialled or once the learner named itself. */
class QuorumConn {
  peerId: number | null;
  /** closed by this runtime: not reported to the core */
  closedByUs = false;
  /** dialled: the bytes sent until the leader's first packet, for a redial to send again */
  unanswered: Buffer[] | null;
  private pumping = false;
  /** a received SNAP being loaded and installed: true once the core has it, false if it failed (the connection then goes) */
  private installing: Promise<boolean> | null = null;
  /** the socket is paused until the loader reads what its SnapStream holds */
  private waitingForLoader = false;
  /** packets held back behind a snapshot stream being written */
  private held: Buffer[] | null = null;
  /** the packets of this pass of the event loop, written as one buffer once its I/O callbacks have run */
  private readonly batch = new JuteWriter(2048);
  private batchScheduled = false;
  /** packets in `batch` */
  private batchPackets = 0;
  /** what the observers admin command shows of a learner's connection (ZooKeeper's LearnerHandler counters) */
  readonly established = Date.now();
  packetsReceived = 0;
  packetsSent = 0;
  /** REQUEST packets received (writes a learner forwarded) */
  requests = 0;

  constructor(
    readonly sock: net.Socket,
    /** we accepted it: we lead on it (else we dialled our leader) */
    readonly accepted: boolean,
    peerId: number | null,
    /** the far end, host:port (kept: Node forgets a socket's once it is reset) */
    private readonly remote: string,
    /** a SNAP comes with its snapshot stream, still arriving, to load from */
    private readonly receive: (conn: QuorumConn, p: QuorumPacket, snap: SnapStream | null) => void | Promise<void>,
    private readonly logger: Logger,
    private readonly decoder: QuorumPacketDecoder,
    /** quorum SASL's handshake (quorum-auth.ts), resolving with the bytes behind it: packets wait for it */
    authenticated: Promise<Buffer> | null = null,
  ) {
    this.peerId = peerId;
    this.unanswered = accepted ? null : [];
    sock.setNoDelay(true);
    sock.setKeepAlive(true);
    sock.on('error', (e) => this.logger.warn(`quorum connection ${this.describe()}: ${e.message}`, { event: 'connection-error', server: this.peerId ?? undefined }));
    sock.on('close', () => this.decoder.abortSnap('the connection closed'));
    // --- quorum SASL hook: until the handshake is over, packets are held and nothing is read ---
    if (!authenticated) {
      this.read(Buffer.alloc(0));
      return;
    }
    const held: Buffer[] = (this.held = []);
    authenticated.then(
      (rest) => {
        this.read(rest);
        this.release(held);
      },
      () => sock.destroy(),
    );
  }

  /** Decode what the peer sends, from `first` on. */
  private read(first: Buffer): void {
    this.sock.on('data', (chunk: Buffer) => {
      this.decoder.push(chunk);
      void this.pump();
    });
    if (first.length > 0) {
      this.decoder.push(first);
      void this.pump();
    }
  }

  /** packets sent but not yet written to the socket, and the bytes not yet taken by it */
  get queuedPackets(): number {
    return this.batchPackets + (this.held?.length ?? 0);
  }

  get queuedBytes(): number {
    return this.batch.length + this.sock.writableLength + (this.held?.reduce((n, b) => n + b.length, 0) ?? 0);
  }

  describe(): string {
    return `${this.peerId === null ? 'unidentified' : `with server ${this.peerId}`} (${this.remote})`;
  }

  /**
   * Decode and hand over packets one at a time; an async receive holds back
   * the rest. A SNAP is handed over at once, with its snapshot stream, and
   * the packets after the stream wait for its install.
   */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.sock.destroyed) {
        if (this.decoder.snapStream) {
          if (!this.feedSnap(this.decoder.snapStream)) break;
          continue;
        }
        if (this.installing) {
          const installed = await this.installing;
          this.installing = null;
          if (!installed) break;
          continue;
        }
        const p = this.decoder.next();
        if (p === null) break;
        this.unanswered = null;
        this.packetsReceived++;
        if (p.type === PacketType.REQUEST) this.requests++;
        if (p.type === PacketType.SNAP) {
          this.installing = this.install(p, this.decoder.snapStream!);
          continue;
        }
        const r = this.receive(this, p, null);
        if (r) await r;
      }
    } catch (e) {
      this.broken(e as Error);
    } finally {
      this.pumping = false;
    }
  }

  /** Hand the loader what has arrived of the snapshot stream; true once all of it has. */
  private feedSnap(stream: SnapStream): boolean {
    if (this.waitingForLoader) return false;
    const fed = this.decoder.feedSnapStream();
    if (fed === 'full') {
      // Bounded: the leader waits (TCP) until the loader has read what is there.
      this.waitingForLoader = true;
      this.sock.pause();
      void stream.wanted().then(() => {
        this.waitingForLoader = false;
        this.sock.resume();
        void this.pump();
      });
    }
    return fed === 'done';
  }

  /** Receive a SNAP while its stream arrives; a failure (bad stream, closed connection, storage) takes the connection. */
  private async install(p: QuorumPacket, stream: SnapStream): Promise<boolean> {
    try {
      await this.receive(this, p, stream);
      // Settled before the stream's end only if the SNAP was dropped (the connection is going): read no further.
      if (this.decoder.snapStream === stream) throw new QuorumWireError('the SNAP was dropped before its snapshot stream arrived');
      return true;
    } catch (e) {
      // A connection already gone was reported (as lost, or for the bad bytes that failed the stream).
      if (!this.sock.destroyed) this.broken(e as Error);
      return false;
    }
  }

  /** Bad bytes or a failed receive: this connection goes. */
  private broken(e: Error): void {
    const event = e instanceof QuorumWireError ? 'bad-packet' : 'connection-failed';
    this.logger.warn(`quorum connection ${this.describe()} closed: ${e.message}`, { event, server: this.peerId ?? undefined });
    this.sock.destroy();
  }

  send(p: QuorumPacket): void {
    this.packetsSent++;
    this.batchPackets++;
    if (this.unanswered || this.held) {
      const bytes = encodePacket(p);
      this.unanswered?.push(bytes);
      if (this.held) return void this.held.push(bytes);
      this.batch.raw(bytes);
    } else writePacket(this.batch, p);
    if (this.batchScheduled) return;
    this.batchScheduled = true;
    setImmediate(() => this.flushBatch());
  }

  /** What an earlier connection sent unanswered, sent again (a redial). */
  resend(bytes: Buffer): void {
    this.unanswered!.push(bytes);
    if (this.held) this.held.push(bytes);
    else this.sock.write(bytes);
  }

  /** Write this pass's packets: the proposals, ACKs or COMMITs that the packets received together produce cost one syscall. */
  private flushBatch(): void {
    this.batchScheduled = false;
    this.batchPackets = 0;
    if (this.batch.length > 0 && !this.sock.destroyed) this.sock.write(this.batch.take());
  }

  /** Send what was held back (behind a handshake or a snapshot stream), in one write. */
  private release(held: Buffer[]): void {
    this.held = null;
    if (held.length > 0) this.sock.write(Buffer.concat(held));
  }

  /** SNAP, then the tree's snapshot stream; packets sent meanwhile wait for it. */
  sendSnap(zxid: number, tree: DataTree): void {
    if (tree.lastProcessedZxid !== zxid) throw new Error(`SNAP at ${zxidHex(zxid)}, but the tree is at ${zxidHex(tree.lastProcessedZxid)}`);
    if (this.held) throw new Error(`SNAP to ${this.describe()} while another snapshot stream is being written`);
    this.send({ type: PacketType.SNAP, zxid, data: null, authinfo: null });
    this.flushBatch(); // the stream follows the SNAP packet directly
    const held: Buffer[] = (this.held = []);
    writeSnapStream(tree, this.sock).then(
      () => this.release(held),
      (e: Error) => {
        this.logger.warn(`SNAP to ${this.describe()} failed: ${e.message}`, { event: 'sync-failed', server: this.peerId ?? undefined });
        this.sock.destroy();
      },
    );
  }

  close(): void {
    this.closedByUs = true;
    this.sock.destroy();
  }
}

/** Connections to a leader that say nothing before closing are tried this often (ZooKeeper: 5). */
const DIAL_ATTEMPTS = 5;
/** ...this long apart (ZooKeeper: zookeeper.leaderConnectDelayDuringRetryMs, 100 ms). */
const REDIAL_MS = 100;

export class QuorumNet {
  private server: net.Server | null = null;
  /** identified connections by peer id */
  private readonly conns = new Map<number, QuorumConn>();
  /** accepted connections that have not named their server yet */
  private readonly unidentified = new Set<QuorumConn>();
  /** connections accepted while we look, unread until we know whether we lead (bounded by the server count) */
  private readonly held = new Set<net.Socket>();
  /** a Ready (or an exclusive storage step) is being carried */
  private carrying = false;
  private readonly carriedWaiters: (() => void)[] = [];
  private role: Role = 'looking';
  private roleLeader: number | null = null;
  private serving = false;
  /** mntr's and srvr's quorum counters */
  readonly stats = new QuorumStats(performance.now());
  private ticker: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly peer: Peer;
  private readonly replica: Replica;
  private readonly logger: Logger;
  /** how packets map on a connection we lead, and on one to our leader */
  private readonly leaderWire: WireContext;
  private readonly learnerWire: WireContext;
  /** learner: the sync under way with our leader, for its `synced` line (a SNAP's bytes are counted by its stream as they arrive) */
  private sync: { type: string; zxid: number; started: number; txns: number; snap: SnapStream | null } | null = null;
  /** carries the Readies when set (carryWith); else this runtime carries them */
  private pipeline: Pipeline | null = null;
  /** the quorum part of a Ready, for a pipeline that carries them */
  readonly link: QuorumLink = {
    prepare: (r) => this.prepare(r) ?? undefined,
    dispatch: (r) => {
      try {
        this.dispatch(r);
      } catch (e) {
        this.failed(e as Error);
      }
    },
  };

  constructor(private readonly opts: QuorumNetOptions) {
    this.leaderWire = { myId: opts.myId, leading: true, config: opts.config };
    this.learnerWire = { ...this.leaderWire, leading: false };
    this.peer = opts.peer;
    this.replica = opts.replica;
    this.logger = opts.logger;
    this.replica.onDurable = (zxid) => {
      if (this.closed) return;
      this.peer.persisted(zxid);
      this.drive();
    };
    if (opts.electionNet) {
      opts.electionNet.onNotification = (n) => {
        if (this.closed) return;
        this.peer.receiveVote(n);
        this.drive();
      };
      opts.electionNet.onReachability = (unreachable) => {
        if (this.closed) return;
        this.peer.reachability(unreachable);
        this.drive();
      };
    }
  }

  /** The leader of the role being carried out (ourselves when leading), or null while looking. */
  get leaderId(): number | null {
    return this.roleLeader;
  }

  /** Our leader, when we are a learner. */
  private learnerOf(): number | null {
    return this.role === 'following' || this.role === 'observing' ? this.roleLeader : null;
  }

  private address(id: number): PeerAddress {
    const a = this.opts.servers.find((s) => s.id === id);
    if (!a) throw new Error(`no server.${id} line`);
    return a;
  }

  private newDecoder(): QuorumPacketDecoder {
    return new QuorumPacketDecoder(undefined, this.opts.snapHighWaterBytes);
  }

  private wire(conn: QuorumConn): WireContext {
    return conn.accepted ? this.leaderWire : this.learnerWire;
  }

  /** From now on `pipeline` carries the core's Readies, with `link` as its QuorumLink. */
  carryWith(pipeline: Pipeline): void {
    this.pipeline = pipeline;
  }

  /** Listen on this server's quorum address (learners connect to it while this peer leads). */
  listen(): Promise<void> {
    const me = this.address(this.opts.myId);
    return new Promise((resolve, reject) => {
      const transport = this.opts.transport ?? PLAINTEXT;
      const server = net.createServer(transport.acceptor('quorum', (sock) => this.accepted(sock)));
      server.once('error', reject);
      server.listen(me.quorumPort, me.host, () => {
        server.off('error', reject);
        server.on('error', (e) => this.logger.error(`quorum port: ${e.message}`));
        this.logger.info(`quorum port listening on ${me.host}:${me.quorumPort}`, { event: 'listening', port: me.quorumPort });
        this.server = server;
        resolve();
      });
    });
  }

  /** Start the core's clock (election timers, Zab ticks) and carry whatever it has to do already. */
  start(): void {
    this.logger.info(`Peer state changed: looking; ${this.lookingLine(this.peer.epochs.current)}`, { event: 'looking', zxid: zxidHex(this.peer.lastZxid) });
    this.ticker = setInterval(() => {
      this.peer.clock(performance.now());
      this.drive();
    }, Math.min(CLOCK_MS, this.opts.tickMs));
    this.drive();
  }

  /** Stop: close every connection and the port; resolves once no storage step is under way. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.ticker) clearInterval(this.ticker);
    for (const c of [...this.conns.values(), ...this.unidentified]) c.close();
    this.conns.clear();
    this.unidentified.clear();
    this.releaseHeld();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    await this.whenCarried();
  }

  // ---- connections ----

  private accepted(sock: net.Socket): void {
    // A learner may decide a little before its leader does (each ends its own finalizeWait):
    // held, its connection is served as soon as we lead, instead of refused and redialled later.
    if (!this.closed && this.peer.role === 'looking' && this.held.size < this.opts.servers.length) {
      this.held.add(sock);
      sock.on('error', () => {});
      sock.once('close', () => this.held.delete(sock));
      return;
    }
    if (this.closed || this.peer.role !== 'leading') {
      sock.destroy();
      return;
    }
    const remote = `${sock.remoteAddress}:${sock.remotePort}`;
    const authenticated = this.opts.auth?.asServer(sock, Buffer.alloc(0), `learner at ${remote} (quorum port)`) ?? null;
    const conn = this.track(new QuorumConn(sock, true, null, remote, (c, p, s) => this.received(c, p, s), this.logger, this.newDecoder(), authenticated));
    this.unidentified.add(conn);
  }

  /** The connections held while we looked: served if we now lead, else closed (kept while we still look). */
  private releaseHeld(): void {
    if (!this.closed && this.peer.role === 'looking') return;
    const held = [...this.held];
    this.held.clear();
    for (const sock of held) {
      if (sock.destroyed) continue;
      if (this.closed || this.peer.role !== 'leading') sock.destroy();
      else this.accepted(sock);
    }
  }

  /**
   * Connect to our leader. The election may name it before it leads (it then
   * refuses us): as ZooKeeper's Learner.connectToLeader, a connection lost
   * before the leader said anything is tried again, REDIAL_MS later, up to
   * DIAL_ATTEMPTS times, with what we had sent on it; only then is the loss
   * reported.
   */
  private dial(id: number, attempt = 1, resend: Buffer[] = []): QuorumConn {
    const a = this.address(id);
    // SASL may start at once: what it writes waits for the transport's ready (transport.ts).
    const sock = (this.opts.transport ?? PLAINTEXT).dial({ host: a.host, port: a.quorumPort }, undefined, () => {});
    const authenticated = this.opts.auth?.asLearner(sock, `leader ${id} (quorum port)`) ?? null;
    const conn = this.track(new QuorumConn(sock, false, id, `${a.host}:${a.quorumPort}`, (c, p, s) => this.received(c, p, s), this.logger, this.newDecoder(), authenticated), attempt);
    this.conns.set(id, conn);
    for (const bytes of resend) conn.resend(bytes);
    return conn;
  }

  private redial(id: number, attempt: number, resend: Buffer[]): void {
    setTimeout(() => {
      if (this.closed || this.conns.has(id) || this.learnerOf() !== id) return;
      this.dial(id, attempt, resend);
    }, REDIAL_MS);
  }

  private track(conn: QuorumConn, attempt = 1): QuorumConn {
    conn.sock.on('close', () => {
      this.unidentified.delete(conn);
      const id = conn.peerId;
      if (id === null || this.conns.get(id) !== conn) return;
      this.conns.delete(id);
      if (conn.closedByUs || this.closed) return;
      if (conn.unanswered && attempt < DIAL_ATTEMPTS) {
        this.logger.info(`leader ${id} did not answer (attempt ${attempt} of ${DIAL_ATTEMPTS}); connecting again`);
        return this.redial(id, attempt + 1, conn.unanswered);
      }
      this.logger.warn(`quorum connection with server ${id} lost`, { event: 'peer-lost', server: id });
      this.peer.disconnected(id);
      this.drive();
    });
    return conn;
  }

  /** A learner named itself: it replaces any older connection of that server. */
  private identify(conn: QuorumConn, p: QuorumPacket): void {
    const info = decodeLearnerInfo(p.data);
    const id = info.serverId;
    if (id === this.opts.myId || !this.opts.servers.some((s) => s.id === id)) throw new QuorumWireError(`${packetName(p.type)} from server ${id}, which is not another server of this ensemble`);
    this.unidentified.delete(conn);
    conn.peerId = id;
    const old = this.conns.get(id);
    this.conns.set(id, conn);
    if (old) {
      old.close();
      this.peer.disconnected(id);
    }
  }

  /**
   * A packet from a peer, stepped at once; only a SNAP returns a promise (its
   * install), which the connection's later packets wait for. Not async
   * otherwise: every packet of every write comes through here.
   */
  private received(conn: QuorumConn, p: QuorumPacket, snap: SnapStream | null): void | Promise<void> {
    if (this.closed) return;
    if (conn.peerId === null) {
      if (p.type !== PacketType.FOLLOWERINFO && p.type !== PacketType.OBSERVERINFO) throw new QuorumWireError(`${packetName(p.type)} before FOLLOWERINFO/OBSERVERINFO`);
      this.identify(conn, p);
    }
    const from = conn.peerId!;
    if (this.conns.get(from) !== conn) return; // superseded
    const msg = fromPacket(p, this.wire(conn));
    if (this.serving && from === this.learnerOf()) {
      if (msg.type === 'proposal') this.stats.proposalsReceived++;
      else if (msg.type === 'commit' || msg.type === 'inform') this.stats.commitsReceived++;
    } else if (from === this.learnerOf()) {
      if (msg.type === 'diff' || msg.type === 'trunc' || msg.type === 'snap') {
        this.sync = { type: msg.type.toUpperCase(), zxid: msg.zxid, started: performance.now(), txns: 0, snap };
      } else if (msg.type === 'proposal' && this.sync) this.sync.txns++;
    }
    if (msg.type === 'snap') return this.receivedSnap(conn, from, msg, snap!);
    this.peer.step(from, msg);
    this.drive();
  }

  /** A SNAP: durable before the core hears of it (ZOOKEEPER-3911); only from the leader we follow. */
  private async receivedSnap(conn: QuorumConn, from: number, msg: MessageOf<'snap'>, snap: SnapStream): Promise<void> {
    if (this.learnerOf() !== from) throw new QuorumWireError(`SNAP from server ${from}, which is not our leader`);
    const tree = await readSnapStream(snap, msg.zxid); // while the stream arrives
    await this.exclusively(async () => {
      await this.replica.install(tree, msg.zxid);
      this.pipeline?.replaceState(tree, msg.zxid);
    });
    if (this.closed) return;
    if (this.conns.get(from) !== conn) {
      // The role ended while the snapshot was installed: the disk now holds the
      // leader's state at msg.zxid, and the core's view of the log must say so.
      this.peer.history.restore(msg.zxid);
      return;
    }
    this.peer.step(from, msg);
    this.drive();
  }

  // ---- carrying Readies ----

  /** Resolves once no Ready (nor exclusive step) is being carried. */
  private whenCarried(): Promise<void> {
    if (!this.carrying) return Promise.resolve();
    return new Promise((resolve) => this.carriedWaiters.push(resolve));
  }

  /** Run a storage step no Ready may interleave with (a SNAP install). */
  private async exclusively(step: () => Promise<void>): Promise<void> {
    if (this.pipeline) return this.pipeline.hold(step);
    while (this.carrying) await this.whenCarried();
    this.carrying = true;
    try {
      await step();
    } finally {
      this.carrying = false;
      for (const w of this.carriedWaiters.splice(0)) w();
      this.drive(); // what the core produced meanwhile
    }
  }

  /** Carry every Ready the core has, in order. */
  drive(): void {
    if (this.pipeline) {
      if (this.closed) return;
      try {
        this.pipeline.drive();
      } catch (e) {
        this.failed(e as Error);
        setImmediate(() => this.drive());
      }
      return;
    }
    if (this.carrying || this.closed) return;
    this.carrying = true;
    void this.carryAll();
  }

  private async carryAll(): Promise<void> {
    let failed = false;
    try {
      for (let r: Ready | null; !this.closed && (r = this.peer.ready()); ) {
        const pending = this.carry(r);
        if (pending) await pending;
      }
    } catch (e) {
      this.failed(e as Error);
      failed = true;
    } finally {
      this.carrying = false;
      for (const w of this.carriedWaiters.splice(0)) w();
    }
    if (failed) setImmediate(() => this.drive());
  }

  /** Storage or a socket write failed under the role: give the role up; its connections go with it. */
  private failed(e: Error): void {
    this.logger.error(`quorum runtime: ${e.stack ?? e}`, { event: 'runtime-failure' });
    this.peer.look(`runtime failure: ${e.message}`);
  }

  private carry(r: Ready): Promise<void> | null {
    const prepared = this.prepare(r);
    if (prepared) return prepared.then(() => this.carryPrepared(r));
    this.carryPrepared(r);
    return null;
  }

  /** Steps 1–2: truncate (async: the log is reopened), then the epochs. */
  private prepare(r: Ready): Promise<void> | null {
    if (r.truncate === null) {
      if (r.epochs) this.replica.writeEpochs(r.epochs);
      return null;
    }
    const zxid = r.truncate;
    return this.replica.truncate(zxid).then(() => {
      // Everything up to the cut is on disk (the log was flushed and fsynced on close).
      this.peer.persisted(Math.min(zxid, this.peer.history.lastAppended));
      this.pipeline?.replaceState(this.replica.tree, zxid);
      if (r.epochs) this.replica.writeEpochs(r.epochs);
    });
  }

  private carryPrepared(r: Ready): void {
    for (const txn of r.commit) {
      const result = this.replica.apply(txn);
      this.opts.onCommit?.(txn, result);
    }
    for (const txn of r.append) this.replica.append(txn);
    this.dispatch(r);
    if (r.touches.length > 0) this.opts.onTouches?.(r.touches);
    if (r.revalidations.length > 0) {
      if (this.opts.onRevalidations) this.opts.onRevalidations(r.revalidations);
      else this.logger.warn(`left ${r.revalidations.length} REVALIDATE unanswered: no session tracker is attached`);
    }
    if (r.revalidated.length > 0) this.opts.onRevalidated?.(r.revalidated);
    if (r.requests.length > 0) {
      if (this.opts.onRequests) this.opts.onRequests(r.requests);
      else this.logger.warn(`dropped ${r.requests.length} forwarded requests: no request pipeline is attached`);
    }
    for (const token of r.syncs) if (typeof token === 'function') (token as () => void)();
  }

  /** Steps 5–7, the quorum's part: messages, votes, disconnects, role. */
  private dispatch(r: Ready): void {
    this.stats.logged += r.append.length;
    // A learner's syncs, answered by the leader, go through its commit queue too (3.8 counts them there).
    if (this.serving) this.stats.committed += r.commit.length + (this.role === 'leading' ? 0 : r.syncs.length);
    if (this.role === 'leading') this.stats.commits += r.commit.length;
    for (const { to, msg } of r.messages) this.sendTo(to, msg);
    for (const { to, n } of r.votes) this.opts.electionNet?.send(to, n);
    for (const id of r.disconnect) {
      this.conns.get(id)?.close();
      this.conns.delete(id);
    }
    for (const line of r.notes) this.logger.info(line);
    if (r.role) this.changeRole(r.role);
  }

  private sendTo(to: number, msg: ZabMessage): void {
    let conn = this.conns.get(to);
    if (!conn) {
      // A learner dials its leader on its first message; a leader only answers connected learners.
      if (this.learnerOf() !== to) return;
      conn = this.dial(to);
    }
    if (msg.type === 'diff' || msg.type === 'trunc' || msg.type === 'snap') {
      this.logger.info(`syncing server ${to} by ${msg.type.toUpperCase()} at ${zxidHex(msg.zxid)}`, { event: 'sync', server: to, sync: msg.type.toUpperCase(), zxid: zxidHex(msg.zxid) });
      if (msg.type === 'snap') this.stats.snapSyncs++;
      else this.stats.diffSyncs++;
    }
    if (msg.type === 'replay') {
      this.replay(conn, msg.from, msg.to);
    } else if (msg.type === 'snap') {
      conn.sendSnap(msg.zxid, this.replica.tree);
    } else {
      const packet = toPacket(msg, this.wire(conn));
      if (msg.type === 'proposal') this.stats.proposed(msg.txn.hdr.zxid, packet.data?.length ?? 0);
      conn.send(packet);
    }
  }

  /**
   * A DIFF's txns from the log on disk. Should autopurge have removed them
   * since the core chose the DIFF, only this learner's connection goes (as a
   * failed SNAP stream's does): it syncs again, and the core, told of the
   * purge, sends a SNAP then.
   */
  private replay(conn: QuorumConn, from: number, to: number): void {
    try {
      for (const txn of this.replica.logged(from, to)) {
        conn.send(toPacket({ type: 'proposal', txn }, this.wire(conn)));
        conn.send(toPacket({ type: 'commit', zxid: txn.hdr.zxid }, this.wire(conn)));
      }
    } catch (e) {
      this.logger.warn(`DIFF to ${conn.describe()} from ${zxidHex(from)}: the log cannot supply it (${(e as Error).message}); dropping the connection`, { event: 'sync-failed', server: conn.peerId ?? undefined });
      conn.sock.destroy(); // as a broken one: the core hears of it
    }
  }

  /**
   * autopurge, as a storage step no Ready interleaves with: the old snapshots
   * and logs go, and the core's history then starts at the oldest snapshot kept.
   */
  purge(): Promise<void> {
    return this.exclusively(async () => {
      const oldestKept = this.replica.purge();
      if (oldestKept !== null) this.peer.history.forgetBefore(oldestKept);
    }).catch((e: Error) => this.logger.error(`autopurge: ${e.message}`, { event: 'purge-failed' }));
  }

  private changeRole(change: RoleChange): void {
    if (change.role !== this.role || change.leader !== this.roleLeader) {
      // A new role: the old one's connections go (the core already forgot them).
      for (const c of [...this.conns.values(), ...this.unidentified]) c.close();
      this.conns.clear();
      this.unidentified.clear();
      this.role = change.role;
      this.roleLeader = change.leader;
      this.releaseHeld();
    }
    if (change.serving && this.sync) this.logSynced(this.sync, change);
    if (change.serving || change.role === 'looking') this.sync = null;
    this.serving = change.serving;
    const electionMs = this.stats.roleChanged(change, performance.now());
    const event = change.role === 'looking' ? 'looking' : change.serving ? 'established' : 'elected';
    this.logger.info(this.roleLine(change, electionMs), {
      event,
      role: change.role,
      leader: change.leader ?? undefined,
      epoch: change.epoch,
      zxid: zxidHex(this.peer.lastZxid),
      electionMs: event === 'elected' && electionMs !== null ? Math.round(electionMs) : undefined,
      reason: change.reason,
    });
    this.opts.onRole?.(change);
  }

  /** A learner's sync with its leader is over: it serves. */
  private logSynced(sync: NonNullable<QuorumNet['sync']>, change: RoleChange): void {
    const ms = Math.round(performance.now() - sync.started);
    const bytes = sync.snap?.bytes;
    const what = sync.type === 'SNAP' ? `a ${bytes ?? 0}-byte snapshot` : `${sync.txns} txns`;
    this.logger.info(`synced with leader ${change.leader} by ${sync.type} at ${zxidHex(sync.zxid)}: ${what}, ${ms} ms`, {
      event: 'synced',
      leader: change.leader ?? undefined,
      sync: sync.type,
      zxid: zxidHex(sync.zxid),
      txns: sync.txns,
      bytes,
      ms,
    });
  }

  /** "Peer state changed: …" and ZooKeeper's word for the role, with who leads, the epoch and the last zxid. */
  private roleLine(change: RoleChange, electionMs: number | null): string {
    const word = change.role.toUpperCase();
    const zxid = zxidHex(this.peer.lastZxid);
    const leader = change.leader === this.opts.myId ? `leader ${change.leader} (me)` : `leader ${change.leader}`;
    if (change.role === 'looking') return `Peer state changed: looking; ${this.lookingLine(change.epoch)}${change.reason ? ` (${change.reason})` : ''}`;
    if (change.serving) return `Peer state changed: ${change.role} - broadcast; ${word} - ${leader} established epoch ${change.epoch}; serving clients at zxid ${zxid}`;
    return `Peer state changed: ${change.role} - discovery; ${word} - ${leader} - LEADER ELECTION TOOK - ${Math.round(electionMs ?? 0)} MS; my current epoch ${change.epoch}, last zxid ${zxid}`;
  }

  private lookingLine(epoch: number): string {
    return `LOOKING - New election. My id = ${this.opts.myId}, proposed zxid=${zxidHex(this.peer.lastZxid)}, current epoch ${epoch}`;
  }

  // ---- read by the AdminServer (src/admin) ----

  /** The remote address of the quorum connection with peer `id`, as Java prints a socket address ("/host:port"); null without one. */
  /** Learner `id`'s connection as the observers admin command shows it (ZooKeeper's LearnerHandler info), or null. */
  learnerConnection(id: number): LearnerConnection | null {
    const conn = this.conns.get(id);
    if (!conn) return null;
    const { sock } = conn;
    return {
      remoteAddress: sock.remoteAddress ? `/${sock.remoteAddress.replace(/^::ffff:/, '')}:${sock.remotePort}` : null,
      established: conn.established,
      queuedPackets: conn.queuedPackets,
      queuedBytes: conn.queuedBytes,
      packetsReceived: conn.packetsReceived,
      packetsSent: conn.packetsSent,
      requests: conn.requests,
    };
  }

  /** observer_connection_stat_reset: every learner connection's packet and request counts start afresh. */
  resetLearnerConnectionStats(): void {
    for (const conn of this.conns.values()) conn.packetsReceived = conn.packetsSent = conn.requests = 0;
  }
}
