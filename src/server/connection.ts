// One client TCP connection: length-prefixed frames in, replies and watch
// notifications out. Before the handshake the first four bytes may instead be a
// four-letter word. Replies produced while handling one burst of input are
// encoded into one buffer and written with a single socket write.

import type { Socket } from 'node:net';
import { JuteError, JuteReader, JuteWriter } from '../jute/archive.ts';
import { Err, KeeperState, OpCode, OpName, Xid } from '../proto/constants.ts';
import { readConnectRequest, readRequest, writeConnectResponse, type Id } from '../proto/records.ts';
import { writeReplyHeader, writeResponse, type Response } from '../proto/responses.ts';
import type { Client, Processor } from './processor.ts';

export interface ConnectionHost {
  readonly processor: Processor;
  readonly maxBuffer: number;
  /** The reply to a four-letter word, or null when `word` is not one. */
  fourLetterWord(word: string, conn: Connection): string | null;
  closed(conn: Connection): void;
  log(message: string): void;
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
  private pending: Buffer | null = null;
  private out = new JuteWriter(4096);
  private flushScheduled = false;
  private sessionlessTimer: NodeJS.Timeout | null;
  /** receipt time of the request being handled, for latency */
  private received = 0;

  constructor(
    private readonly socket: Socket,
    private readonly host: ConnectionHost,
  ) {
    this.remoteAddress = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    this.remotePort = socket.remotePort ?? 0;
    this.authIds = [{ scheme: 'ip', id: this.remoteAddress }];
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => socket.resume());
    socket.on('error', () => this.teardown());
    socket.on('close', () => this.teardown());
    this.sessionlessTimer = setTimeout(() => this.close('no ConnectRequest in time'), SESSIONLESS_TIMEOUT_MS);
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  private onData(chunk: Buffer): void {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = null;
    let pos = 0;
    while (this.state === 'new' || this.state === 'open') {
      if (buf.length - pos < 4) break;
      if (this.state === 'new' && this.tryFourLetterWord(buf.subarray(pos, pos + 4))) return;
      const len = buf.readInt32BE(pos);
      if (len < 0 || len > this.host.maxBuffer) {
        this.host.log(`closing ${this.describe()}: frame length ${len} outside 0..${this.host.maxBuffer} (jute.maxbuffer)`);
        this.close('bad frame length');
        return;
      }
      if (buf.length - pos - 4 < len) break;
      const frame = buf.subarray(pos + 4, pos + 4 + len);
      pos += 4 + len;
      this.onFrame(frame);
    }
    if (pos < buf.length && (this.state === 'new' || this.state === 'open')) this.pending = buf.subarray(pos);
    this.flush();
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
      this.reply(xid, -1, Err.unimplemented, type);
      this.close(`unknown opcode ${type}`);
      return;
    }
    let req;
    try {
      req = readRequest(type, r);
    } catch (e) {
      if (!(e instanceof JuteError)) throw e;
      this.host.log(`${this.describe()}: malformed ${OpName[type]} request: ${e.message}`);
      if (type === OpCode.auth) return this.close('malformed auth packet');
      this.host.processor.malformed(this, xid, type, this.received);
      return;
    }
    this.lastOp = LAST_OP[type] ?? 'NA';
    if (xid > 0) this.lastCxid = xid;
    this.host.processor.handle(this, xid, req, this.received);
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
    // Requests that follow queue behind the session's creation in the processor.
    this.state = 'open';
    this.host.processor.connect(this, req, (res) => {
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
      this.scheduleFlush();
    });
  }

  reply(xid: number, zxid: number, err: number, type: number, body?: Response): void {
    if (this.state === 'closed') return;
    const out = this.out;
    const at = out.beginFrame();
    writeReplyHeader(out, xid, zxid, err);
    if (body) writeResponse(out, type, body);
    out.endFrame(at);
    this.packetsSent++;
    if (xid !== Xid.ping && xid > 0) this.lastZxid = zxid;
    this.lastResponseTime = Date.now();
    const latency = this.lastResponseTime - this.received;
    this.lastLatency = latency;
    if (this.latencyCount === 0 || latency < this.minLatency) this.minLatency = latency;
    if (latency > this.maxLatency) this.maxLatency = latency;
    this.totalLatency += latency;
    this.latencyCount++;
    this.scheduleFlush();
  }

  notify(type: number, path: string): void {
    if (this.state !== 'open') return;
    const out = this.out;
    const at = out.beginFrame();
    writeReplyHeader(out, Xid.notification, -1, 0);
    out.int(type).int(KeeperState.syncConnected).ustring(path);
    out.endFrame(at);
    this.packetsSent++;
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    process.nextTick(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.out.length === 0 || this.state === 'closed') return;
    const bytes = this.out.take();
    if (!this.socket.write(bytes)) this.socket.pause(); // resumed on 'drain'
  }

  close(reason: string): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.state = 'closing';
    this.clearSessionlessTimer();
    if (this.sessionId !== 0n) this.host.log(`closing ${this.describe()}: ${reason}`);
    this.flush();
    this.socket.end();
    // A peer that never reads must not keep the socket forever.
    setTimeout(() => this.socket.destroy(), 5000).unref();
  }

  /** Drop the connection at once (server shutdown). */
  abort(): void {
    this.socket.destroy();
  }

  private clearSessionlessTimer(): void {
    if (this.sessionlessTimer) clearTimeout(this.sessionlessTimer);
    this.sessionlessTimer = null;
  }

  private teardown(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.clearSessionlessTimer();
    this.socket.destroy();
    this.host.closed(this);
  }

  describe(): string {
    return `client ${this.remoteAddress}:${this.remotePort}${this.sessionId !== 0n ? ` session 0x${BigInt.asUintN(64, this.sessionId).toString(16)}` : ''}`;
  }
}
