// One client TCP connection (ZooKeeper's NIOServerCnxn): length-prefixed
// frames in, replies and watch notifications out. Before the handshake the
// first four bytes may instead be a four-letter word. Replies are encoded into
// one buffer and written in batches (one write per burst of input, or per
// WRITE_BATCH bytes), so the buffer never holds more than a batch plus one reply.
// Back-pressure (backpressure.ts): the connection takes its next request only
// while its unsent output is under the bound and the server is under its
// outstanding limit; otherwise the request stays unread in the socket.

import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { JuteError, JuteReader, JuteWriter } from '../jute/archive.ts';
import type { Fields } from '../log.ts';
import { Err, KeeperState, OpCode, OpName, Xid } from '../proto/constants.ts';
import { readConnectRequest, readRequest, writeConnectResponse, type Id, type Request } from '../proto/records.ts';
import { writeReplyHeader, writeResponse, type Response } from '../proto/responses.ts';
import { WRITE_BATCH, type FlowControl } from './backpressure.ts';
import { FrameReader } from './framing.ts';
import { isWrite, type Client, type Processor } from './processor.ts';

export interface ConnectionHost {
  readonly processor: Processor;
  readonly maxBuffer: number;
  readonly flow: FlowControl;
  /** false: new sessions are refused (an ensemble member not in a serving role); absent: always serving */
  readonly serving?: boolean;
  /** serving read-only (readonly.ts): only clients that ask for read-only are taken */
  readonly readOnly?: boolean;
  /** The reply to a four-letter word, or null when `word` is not one. */
  fourLetterWord(word: string, conn: Connection): string | null;
  closed(conn: Connection): void;
  log(message: string, fields?: Fields): void;
}

/** The operation names ZooKeeper shows as `lop` in cons. */
const LAST_OP: Record<number, string> = {
  [OpCode.ping]: 'PING',
  [OpCode.multi]: 'MULT',
  [OpCode.multiRead]: 'MLTR',
  [OpCode.create]: 'CREA',
  [OpCode.create2]: 'CREA',
  [OpCode.createTTL]: 'CREA',
  [OpCode.createContainer]: 'CREA',
  [OpCode.delete]: 'DELE',
  [OpCode.setData]: 'SETD',
  [OpCode.reconfig]: 'RECO',
  [OpCode.setACL]: 'SETA',
  [OpCode.closeSession]: 'CLOS',
  [OpCode.sync]: 'SYNC',
  [OpCode.check]: 'CHEC',
  [OpCode.exists]: 'EXIS',
  [OpCode.getData]: 'GETD',
  [OpCode.setWatches]: 'SETW',
  [OpCode.setWatches2]: 'STW2',
  [OpCode.addWatch]: 'ADDW',
  [OpCode.getACL]: 'GETA',
  [OpCode.getChildren]: 'GETC',
  [OpCode.getChildren2]: 'GETC',
  [OpCode.getAllChildrenNumber]: 'GETACN',
  [OpCode.checkWatches]: 'CHKW',
  [OpCode.removeWatches]: 'REMW',
  [OpCode.whoAmI]: 'HOMI',
  [OpCode.getEphemerals]: 'GETE',
};

/** How long a connection may stay without a ConnectRequest (zookeeper.nio.sessionlessCnxnTimeout). */
const SESSIONLESS_TIMEOUT_MS = 10_000;

/**
 * Why a connection is not taking requests: its unsent output is over the bound
 * ('output'), the server is over its outstanding limit ('outstanding'), or its
 * own requests must be answered first ('own').
 */
type Stop = 'output' | 'outstanding' | 'own';

export class Connection implements Client {
  sessionId = 0n;
  readonly authIds: Id[];
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly established = Date.now();
  // per-connection statistics (cons)
  packetsReceived = 0;
  packetsSent = 0;
  lastOp = 'NA';
  lastCxid = -1;
  lastZxid = -1;
  lastResponseTime = 0;
  lastLatency = 0;
  minLatency = 0;
  maxLatency = 0;
  totalLatency = 0;
  latencyCount = 0;
  sessionTimeout = 0;

  private state: 'new' | 'open' | 'closing' | 'closed' = 'new';
  private readonly input = new FrameReader();
  private out = new JuteWriter(4096);
  private flushScheduled = false;
  /** sizes of the requests handed to the pipeline and not answered yet, oldest first (answers come in request order) */
  private readonly inFlight: number[] = [];
  private inFlightBytes = 0;
  /** why requests are not being taken, or null while they are */
  private stopped: Stop | null = null;
  private pumping = false;
  private sessionlessTimer: NodeJS.Timeout | null;
  /** running while the socket has refused output (write() returned false) and not drained */
  private blockedTimer: NodeJS.Timeout | null = null;
  /** receipt time of the request being handled, for latency */
  private received = 0;
  /** Take requests again, once the current turn's work is done (not from inside the pipeline that made room). */
  private readonly resume = () => process.nextTick(() => this.pump());

  constructor(
    private readonly socket: Socket,
    private readonly host: ConnectionHost,
    /** ids the transport already proved (a TLS client certificate's x509 id) */
    transportIds: Id[] = [],
  ) {
    this.remoteAddress = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    this.remotePort = socket.remotePort ?? 0;
    // As ZooKeeper: the handshake's ids come before the IP id, which is added when the connection is served.
    this.authIds = [...transportIds, { scheme: 'ip', id: this.remoteAddress }];
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.input.push(chunk);
      this.pump();
    });
    socket.on('drain', () => this.drained());
    socket.on('error', () => this.teardown());
    socket.on('close', () => this.teardown());
    this.sessionlessTimer = setTimeout(() => this.close('no ConnectRequest in time'), SESSIONLESS_TIMEOUT_MS);
  }

  /** over TLS (the secure client port, or TLS on the client port with port unification) */
  get secure(): boolean {
    return this.socket instanceof TLSSocket;
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Requests handed to the pipeline and not answered yet. */
  get outstanding(): number {
    return this.inFlight.length;
  }

  /** Bytes of replies and notifications not yet taken by the kernel. */
  get unsent(): number {
    return this.out.length + this.socket.writableLength;
  }

  /** Take complete frames from the input while back-pressure allows; stop reading the socket while it does not. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    const wasThrottled = this.stopped === 'output' || this.stopped === 'outstanding';
    this.stopped = null;
    const input = this.input;
    while (this.state === 'new' || this.state === 'open') {
      const len = input.length();
      if (len === null) break;
      if (this.state === 'new' && this.tryFourLetterWord(input.head()!)) break;
      if (len < 0 || len > this.host.maxBuffer) {
        this.host.log(`closing ${this.describe()}: frame length ${len} outside 0..${this.host.maxBuffer} (jute.maxbuffer)`, { event: 'bad-packet' });
        this.close('bad frame length');
        break;
      }
      this.stopped = this.mustWait(len);
      if (this.stopped) break;
      const frame = input.take();
      if (!frame) break;
      this.onFrame(frame);
    }
    this.pumping = false;
    if (this.state !== 'new' && this.state !== 'open') {
      input.release();
      return;
    }
    this.flush();
    if (!this.stopped) {
      this.socket.resume();
      return;
    }
    this.socket.pause();
    if (this.stopped !== 'own' && !wasThrottled) this.host.flow.throttled++;
    // 'output' resumes on 'drain' (the flush above left the socket refusing more), 'own' when this connection's last answer goes out.
    if (this.stopped === 'outstanding') this.host.flow.waitForRoom(this.resume);
  }

  /** Why the next request (a frame of `len` bytes) must stay in the input for now, or null when it may be taken. */
  private mustWait(len: number): Stop | null {
    const flow = this.host.flow;
    if (this.unsent >= flow.pauseAt) return 'output';
    if (this.inFlight.length === 0) return null;
    if (this.inFlightBytes >= flow.pauseAt) return 'own';
    // A read would only wait in the pipeline behind this session's writes, then answer all at once: it waits here.
    const type = len >= 8 ? this.input.peekInt(8) : null;
    if (type !== null && !isWrite(type)) return 'own';
    return flow.overLimit ? 'outstanding' : null;
  }

  private drained(): void {
    if (this.blockedTimer) clearTimeout(this.blockedTimer);
    this.blockedTimer = null;
    if (this.stopped === 'output') this.pump();
  }

  private tryFourLetterWord(first4: Buffer): boolean {
    const word = first4.toString('latin1');
    const reply = this.host.fourLetterWord(word, this);
    if (reply === null) return false;
    this.state = 'closing';
    this.clearSessionlessTimer();
    this.socket.end(reply);
    return true;
  }

  private onFrame(frame: Buffer): void {
    this.received = Date.now();
    if (this.state === 'new') return this.onConnect(frame);
    this.packetsReceived++;
    const r = new JuteReader(frame, 0, frame.length, this.host.maxBuffer);
    let xid: number;
    let type: number;
    try {
      xid = r.int();
      type = r.int();
    } catch {
      this.close('truncated request header');
      return;
    }
    if (!(type in OpName) || type === OpCode.notification || type === OpCode.createSession || type === OpCode.error) {
      this.issued(frame.length);
      this.reply(xid, -1, Err.unimplemented, type);
      this.close(`unknown opcode ${type}`);
      return;
    }
    let req;
    try {
      req = readRequest(type, r);
    } catch (e) {
      if (!(e instanceof JuteError)) throw e;
      this.host.log(`${this.describe()}: malformed ${OpName[type]} request: ${e.message}`, { event: 'bad-packet' });
      if (type === OpCode.auth || type === OpCode.sasl) return this.close(`malformed ${OpName[type]} packet`);
      this.issued(frame.length);
      this.host.processor.malformed(this, xid, type, this.received);
      return;
    }
    ownData(req);
    this.lastOp = LAST_OP[type] ?? 'NA';
    if (xid > 0) this.lastCxid = xid;
    this.issued(frame.length);
    this.host.processor.handle(this, xid, req, this.received);
  }

  /** A request goes to the pipeline; every one comes back as exactly one answer (or the connection closes). */
  private issued(size: number): void {
    this.inFlight.push(size);
    this.inFlightBytes += size;
    this.host.flow.issued();
  }

  /** The oldest request in the pipeline was answered. */
  private settled(): void {
    const size = this.inFlight.shift();
    if (size === undefined) return;
    this.inFlightBytes -= size;
    this.host.flow.answered();
    if (this.stopped === 'own') this.resume();
  }

  private onConnect(frame: Buffer): void {
    this.clearSessionlessTimer();
    let req;
    try {
      req = readConnectRequest(new JuteReader(frame, 0, frame.length, this.host.maxBuffer));
    } catch (e) {
      this.close(`malformed ConnectRequest: ${(e as Error).message}`);
      return;
    }
    // As ZooKeeper when its ZooKeeperServer is not running: no session, the client tries another server.
    if (this.host.serving === false) {
      this.close('this server is not serving clients (no established leader, or still syncing)');
      return;
    }
    // As ZooKeeper's read-only server: a client that did not ask for read-only is closed without a reply.
    if (this.host.readOnly && req.readOnly !== true) {
      this.close('this server is read-only and the client did not ask for read-only');
      return;
    }
    // Requests that follow wait for the session's creation, like those behind a write.
    this.state = 'open';
    this.issued(frame.length);
    this.host.processor.connect(this, req, (res) => {
      this.settled();
      if (this.state !== 'open') return;
      if (!res) {
        this.close(`client has seen zxid 0x${req.lastZxidSeen.toString(16)}, beyond this server's`);
        return;
      }
      const at = this.out.beginFrame();
      writeConnectResponse(this.out, res);
      this.out.endFrame(at);
      if (res.sessionId === 0n) {
        this.close('invalid or expired session');
        return;
      }
      this.sessionTimeout = res.timeOut;
      this.queued();
    });
  }

  reply(xid: number, zxid: number, err: number, type: number, body?: Response): void {
    this.settled();
    if (this.state !== 'open') return;
    const out = this.out;
    const at = out.beginFrame();
    writeReplyHeader(out, xid, zxid, err);
    if (body) writeResponse(out, type, body);
    out.endFrame(at);
    this.host.processor.stats.responseSizes.add(out.length - at - 4);
    this.packetsSent++;
    if (xid !== Xid.ping && xid > 0) this.lastZxid = zxid;
    this.lastResponseTime = Date.now();
    const latency = this.lastResponseTime - this.received;
    this.lastLatency = latency;
    if (this.latencyCount === 0 || latency < this.minLatency) this.minLatency = latency;
    if (latency > this.maxLatency) this.maxLatency = latency;
    this.totalLatency += latency;
    this.latencyCount++;
    this.queued();
  }

  notify(type: number, path: string): void {
    if (this.state !== 'open') return;
    // header 16 + type 4 + state 4 + path length 4 + path, after the frame's own length 4
    const size = 32 + Buffer.byteLength(path);
    if (this.unsent + size > this.host.flow.disconnectAt) {
      this.drop(`${this.unsent} bytes unsent, a notification would pass the bound of ${this.host.flow.disconnectAt}`);
      return;
    }
    const out = this.out;
    const at = out.beginFrame();
    writeReplyHeader(out, Xid.notification, -1, 0);
    out.int(type).int(KeeperState.syncConnected).ustring(path);
    out.endFrame(at);
    this.packetsSent++;
    this.queued();
  }

  /** Something was added to the output: write a full batch now, else at the end of this turn. */
  private queued(): void {
    if (this.out.length >= WRITE_BATCH) return this.flush();
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    process.nextTick(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.out.length === 0 || this.state === 'closed' || this.socket.destroyed) return;
    if (this.socket.write(this.out.take()) || this.blockedTimer || this.state !== 'open') return;
    // The socket holds the rest until 'drain'; a peer that never takes it is dropped after its session timeout.
    const patience = this.sessionTimeout || SESSIONLESS_TIMEOUT_MS;
    this.blockedTimer = setTimeout(() => this.drop(`output blocked for ${patience} ms`), patience);
  }

  /** Flush what is queued and close the socket; the session's watches go at once. */
  close(reason: string): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.state = 'closing';
    if (this.sessionId !== 0n) this.host.log(`closing ${this.describe()}: ${reason}`);
    this.detach();
    this.flush();
    this.socket.end();
    // A peer that never reads must not keep the socket forever.
    setTimeout(() => this.socket.destroy(), 5000).unref();
  }

  /** Drop a connection that does not take its output; its session lives on. */
  private drop(reason: string): void {
    if (this.state !== 'new' && this.state !== 'open') return;
    this.state = 'closing';
    this.host.flow.backpressureDisconnects++;
    this.host.log(`dropping ${this.describe()}: ${reason}`);
    this.detach();
    this.socket.destroy();
  }

  /** Drop the connection at once (server shutdown). */
  abort(): void {
    this.socket.destroy();
  }

  private clearSessionlessTimer(): void {
    if (this.sessionlessTimer) clearTimeout(this.sessionlessTimer);
    this.sessionlessTimer = null;
  }

  /** Leave the pipeline: stop timers, give back outstanding requests, drop watches. Idempotent. */
  private detach(): void {
    this.clearSessionlessTimer();
    if (this.blockedTimer) clearTimeout(this.blockedTimer);
    this.blockedTimer = null;
    this.host.flow.forget(this.resume);
    this.host.flow.answered(this.inFlight.length);
    this.inFlight.length = 0;
    this.inFlightBytes = 0;
    this.input.release();
    this.host.processor.disconnected(this);
  }

  private teardown(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.detach();
    this.socket.destroy();
    this.host.closed(this);
  }

  describe(): string {
    return `client ${this.remoteAddress}:${this.remotePort}${this.sessionId !== 0n ? ` session 0x${BigInt.asUintN(64, this.sessionId).toString(16)}` : ''}`;
  }
}

/** Copy the data a request carries out of the socket's chunk, so that the tree never pins a chunk. */
function ownData(req: Request): void {
  if (req.type === OpCode.multi) {
    for (const op of req.ops) ownData(op);
  } else if ('data' in req && req.data) {
    const copy = Buffer.allocUnsafeSlow(req.data.length);
    req.data.copy(copy);
    req.data = copy;
  }
}
