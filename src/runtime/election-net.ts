// The election port: Paddock's QuorumCnxManager. Listens on this server's election address,
// dials the other servers, and carries notifications (src/proto/election.ts) between them and
// an Election (src/zab/election.ts), which ElectionDriver feeds with the network and a clock.
//
// Invariants, as in ZooKeeper:
// - at most one connection per pair of servers, and it is the one dialled by the higher id:
//   a dialler with the lower id sends its header and hangs up; a listener with the higher id
//   hangs up on a lower id and dials it back; a connection from our own id is dropped;
// - what waits for a peer is bounded (sendQueueLimit, oldest dropped first; by default 1, like
//   ZooKeeper's SEND_CAPACITY) and so is what is handed to a socket (its write buffer);
// - a send to a server we have no connection to dials it; nothing else reconnects, since the
//   election resends while it looks; a new connection repeats the last message if none waits;
// - a server is unreachable (onReachability) from the moment its connection closes or a dial
//   to it fails until a connection with it works again: the election's guess of who can vote;
// - bad bytes from a peer never stop the service: a bad header or frame length closes that
//   connection, a bad notification is logged and skipped;
// - with quorum SASL (quorum-auth.ts) its handshake follows the header on every connection,
//   whichever way it goes, and a connection is used (or dialled back) only once it passed.
//
// Use:
//   const election = new Election({ myId, quorum, lastZxid, currentEpoch, now: performance.now() });
//   const net = new ElectionNet({ myId, servers });
//   const driver = new ElectionDriver(election, net, (decision) => ...);
//   await net.listen(); driver.start();
// A peer that owns the Election itself instead sets net.onNotification and sends its outbox.

import net from 'node:net';
import type { PeerAddress } from '../config/config.ts';
import { SILENT, type Logger } from '../log.ts';
import {
  decodeConnectHeader,
  decodeNotification,
  encodeConnectHeader,
  encodeNotification,
  frame,
  FrameReader,
  type PeerAddr,
} from '../proto/election.ts';
import { PeerState, type Decision, type Election, type Notification } from '../zab/election.ts';
import { zxidHex } from '../zxid.ts';
import type { QuorumAuth } from './quorum-auth.ts';
import { PLAINTEXT, type PeerTransport } from './transport.ts';

export interface ElectionNetOptions {
  myId: number;
  /** every server.N line, ours included: we listen on our own election address */
  servers: readonly PeerAddress[];
  log?: Logger;
  /** messages kept per peer while it cannot take them; the oldest go first */
  sendQueueLimit?: number;
  /** give up a dial, or a connection that sends no header, after this long */
  connectTimeoutMs?: number;
  /** quorum SASL: its handshake follows the header on every connection, both ways */
  auth?: QuorumAuth;
  /** how connections are made and taken: plaintext unless sslQuorum/portUnification (src/tls/quorum.ts) */
  transport?: PeerTransport;
}

/** stop handing frames to a socket whose unsent bytes pass this */
const SOCKET_HIGH_WATER = 1 << 20;

interface Peer {
  queue: Buffer[];
  socket: net.Socket | null;
  dialling: boolean;
  lastSent: Buffer | null;
  /** where to dial: the server line, or the address an unknown server told us */
  addr: PeerAddr | null;
}

export class ElectionNet {
  /** called with each notification a peer sends us */
  onNotification: (n: Notification) => void = () => {};
  /** called with the servers we cannot reach now, whenever that set changes */
  onReachability: (unreachable: ReadonlySet<number>) => void = () => {};
  /** servers whose connection closed or whose last dial failed, until a connection with them works again */
  private readonly unreachable = new Set<number>();
  private readonly myId: number;
  private readonly own: PeerAddress;
  private readonly log: Logger;
  private readonly queueLimit: number;
  private readonly timeoutMs: number;
  private readonly auth: QuorumAuth | undefined;
  private readonly transport: PeerTransport;
  private readonly peers = new Map<number, Peer>();
  private readonly sockets = new Set<net.Socket>();
  private server: net.Server | null = null;
  private closed = false;

  constructor(opts: ElectionNetOptions) {
    this.myId = opts.myId;
    const own = opts.servers.find((s) => s.id === opts.myId);
    if (!own) throw new Error(`election: no server.${opts.myId} line`);
    this.own = own;
    this.log = opts.log ?? SILENT;
    this.queueLimit = opts.sendQueueLimit ?? 1;
    this.timeoutMs = opts.connectTimeoutMs ?? 5000;
    this.auth = opts.auth;
    this.transport = opts.transport ?? PLAINTEXT;
    for (const s of opts.servers) if (s.id !== this.myId) this.peer(s.id).addr = { host: s.host, port: s.electionPort };
  }

  /** Listen on our election address; resolves once listening. */
  async listen(): Promise<void> {
    const server = net.createServer(this.transport.acceptor('election', (socket) => this.accepted(socket)));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.own.electionPort, this.own.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (e) => this.log.error(`election port: ${e.message}`));
    this.log.info(`election port listening on ${this.own.host}:${this.own.electionPort} as server ${this.myId}`, { event: 'listening', port: this.own.electionPort });
  }

  /** Queue a notification for server `to` and dial it if we are not connected. */
  send(to: number, n: Notification): void {
    if (this.closed || to === this.myId) return;
    const peer = this.peer(to);
    peer.queue.push(frame(encodeNotification(n)));
    if (peer.queue.length > this.queueLimit) peer.queue.shift();
    if (peer.socket) this.drain(to, peer);
    else this.dial(to);
  }

  /** the connection held for each server: its id and the socket's local and remote ports */
  connections(): { peer: number; localPort: number; remotePort: number }[] {
    return [...this.peers]
      .filter(([, p]) => p.socket !== null)
      .map(([peer, p]) => ({ peer, localPort: p.socket!.localPort!, remotePort: p.socket!.remotePort! }));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private peer(id: number): Peer {
    let p = this.peers.get(id);
    if (!p) this.peers.set(id, (p = { queue: [], socket: null, dialling: false, lastSent: null, addr: null }));
    return p;
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => {}); // reported by 'close'; the election resends
    socket.on('close', () => this.sockets.delete(socket));
  }

  private dial(sid: number): void {
    const peer = this.peer(sid);
    if (peer.dialling || peer.socket || this.closed) return;
    if (!peer.addr) {
      this.log.warn(`election: no address for server ${sid}; notification dropped`);
      return;
    }
    peer.dialling = true;
    let connected = false;
    const socket = this.transport.dial(peer.addr, this.timeoutMs, () => {
      connected = true;
      this.noteReachable(sid, true);
      socket.setTimeout(0);
      socket.write(encodeConnectHeader(this.myId, [{ host: this.own.host, port: this.own.electionPort }]));
      // --- quorum SASL hook (quorum-auth.ts): the dial is over once its handshake is ---
      const authenticated = this.auth?.asLearner(socket, `server ${sid} (election)`) ?? Promise.resolve(Buffer.alloc(0));
      authenticated.then((rest) => {
        peer.dialling = false;
        // Only connections from the higher id survive: the other side dials us back.
        if (sid > this.myId) socket.end();
        else this.use(sid, socket, rest);
      }, () => socket.destroy());
    });
    this.track(socket);
    socket.once('timeout', () => socket.destroy());
    socket.once('close', () => {
      peer.dialling = false;
      if (!connected) this.noteReachable(sid, false);
    });
  }

  /** Note whether server `sid` can be reached now; tell onReachability when that changes. */
  private noteReachable(sid: number, yes: boolean): void {
    if (yes === !this.unreachable.has(sid)) return;
    if (yes) this.unreachable.delete(sid);
    else this.unreachable.add(sid);
    this.onReachability(new Set(this.unreachable));
  }

  private accepted(socket: net.Socket): void {
    this.track(socket);
    if (this.closed) return void socket.destroy();
    socket.setTimeout(this.timeoutMs, () => socket.destroy());
    let pending = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      let decoded;
      try {
        decoded = decodeConnectHeader(pending);
      } catch (e) {
        this.log.warn(`election: refused a connection from ${socket.remoteAddress}:${socket.remotePort}: ${(e as Error).message}`);
        return void socket.destroy();
      }
      if (!decoded) return;
      socket.off('data', onData);
      socket.setTimeout(0);
      const { header, length } = decoded;
      const sid = header.sid;
      if (sid === null) {
        this.log.warn('election: an observer without a server id connected; not supported, closed');
        return void socket.destroy();
      }
      if (sid === this.myId) {
        this.log.warn(`election: a connection claims our own id ${sid}; closed`);
        return void socket.destroy();
      }
      // --- quorum SASL hook (quorum-auth.ts): the peer's handshake follows its header ---
      const rest = pending.subarray(length);
      const authenticated = this.auth?.asServer(socket, rest, `server ${sid} (election, ${socket.remoteAddress}:${socket.remotePort})`) ?? Promise.resolve(rest);
      authenticated.then((rest) => {
        const peer = this.peer(sid);
        if (!peer.addr && header.addresses.length > 0) peer.addr = header.addresses[0];
        if (sid < this.myId) {
          socket.destroy();
          this.dial(sid);
        } else {
          this.use(sid, socket, rest);
        }
      }, () => socket.destroy());
    };
    socket.on('data', onData);
  }

  /** Make `socket` the connection to `sid`, replacing any older one. */
  private use(sid: number, socket: net.Socket, initial: Buffer): void {
    const peer = this.peer(sid);
    if (peer.socket && peer.socket !== socket) peer.socket.destroy();
    peer.socket = socket;
    this.noteReachable(sid, true);
    socket.on('close', () => {
      if (peer.socket !== socket) return; // replaced by a newer connection
      peer.socket = null;
      if (!this.closed) this.noteReachable(sid, false);
    });
    const frames = new FrameReader();
    const onData = (chunk: Buffer) => {
      let payloads: Buffer[];
      try {
        payloads = frames.push(chunk);
      } catch (e) {
        this.log.warn(`election: server ${sid} sent a bad frame, closing: ${(e as Error).message}`, { event: 'bad-packet', server: sid });
        return void socket.destroy();
      }
      for (const p of payloads) {
        let n: Notification;
        try {
          n = decodeNotification(p, sid);
        } catch (e) {
          this.log.warn(`election: skipped a notification from server ${sid}: ${(e as Error).message}`, { event: 'bad-packet', server: sid });
          continue;
        }
        if (socket.destroyed) return; // replaced meanwhile
        if (this.log.enabled('DEBUG')) {
          this.log.debug(`election: notification from server ${sid}: state ${PeerState[n.state]}, votes for ${n.vote.leader} (zxid ${zxidHex(n.vote.zxid)}, epoch ${n.vote.peerEpoch}), round ${n.round}`);
        }
        this.onNotification(n);
      }
    };
    socket.on('data', onData);
    socket.on('drain', () => this.drain(sid, peer));
    if (peer.queue.length === 0 && peer.lastSent) peer.queue.push(peer.lastSent);
    this.drain(sid, peer);
    if (initial.length > 0) onData(initial);
  }

  private drain(sid: number, peer: Peer): void {
    const socket = peer.socket;
    if (!socket) return;
    while (peer.queue.length > 0 && socket.writableLength < SOCKET_HIGH_WATER && !socket.destroyed) {
      const msg = peer.queue.shift()!;
      peer.lastSent = msg;
      socket.write(msg);
    }
    if (peer.queue.length > 0 && socket.destroyed) this.dial(sid);
  }
}

/**
 * Runs an Election over an ElectionNet: notifications in, outbox out, ticks from a timer on a
 * monotonic clock. The decision callback fires once per decided election.
 */
export class ElectionDriver {
  private timer: NodeJS.Timeout | null = null;
  private reported: Decision | null = null;

  constructor(
    readonly election: Election,
    readonly net: ElectionNet,
    private readonly onDecision: (d: Decision) => void = () => {},
    private readonly clock: () => number = () => performance.now(),
    private readonly tickMs = 20,
  ) {
    net.onNotification = (n) => {
      election.receive(n, this.clock());
      this.pump();
    };
    net.onReachability = (unreachable) => {
      election.reachability(unreachable, this.clock());
      this.pump();
    };
  }

  get now(): number {
    return this.clock();
  }

  start(): void {
    this.pump();
    this.timer = setInterval(() => {
      this.election.tick(this.clock());
      this.pump();
    }, this.tickMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Send what the election queued; report a new decision. */
  pump(): void {
    for (const { to, n } of this.election.takeOutbox()) this.net.send(to, n);
    const d = this.election.decision;
    if (d && d !== this.reported) {
      this.reported = d;
      this.onDecision(d);
    }
  }
}
