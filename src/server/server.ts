// A Paddock server: its data directories, the client port, the timers that
// expire sessions, reap containers and purge old files, and a clean shutdown
// that frees the port at once. Standalone, or one member of an ensemble
// (member.ts): the same request pipeline then orders through the member's Zab
// core; clients are served only while the member's role allows it, and every
// client connection is closed when a serving role ends (as ZooKeeper's
// QuorumPeer shuts its ZooKeeperServer down). With readonlymode.enabled, a
// member looking for its quorum serves read-only clients meanwhile
// (readonly.ts); its connections close when the mode ends. With TLS configured
// (src/tls), also the secure client port, and TLS on the plain port with port
// unification.

import net from 'node:net';
import { dataDirOptions, type ServerConfig } from '../config/config.ts';
import type { Fields, Logger } from '../log.ts';
import type { Id } from '../proto/records.ts';
import { AdminServer } from '../admin/server.ts';
import { PrometheusServer } from '../metrics/prometheus.ts';
import { TlsFront } from '../tls/front.ts';
import { secureContextOptions, tlsSettings, type TlsSettings } from '../tls/settings.ts';
import { DataDir, type StorageStats } from '../persistence/datadir.ts';
import type { SizeStats } from '../metrics/summary.ts';
import type { RoleChange } from '../zab/ready.ts';
import type { DataTree } from '../tree/datatree.ts';
import { FlowControl } from './backpressure.ts';
import { Connection, type ConnectionHost } from './connection.ts';
import { fourLetterWord } from './fourletter.ts';
import type { ServerView } from './inspect.ts';
import { EnsembleMember, type QuorumView } from './member.ts';
import { Processor, type TxnSink } from './processor.ts';
import { readOnlyDelay, ReadOnlySwitch } from './readonly.ts';
import { sessionHex } from './sessions.ts';

export class PaddockServer implements ServerView, ConnectionHost {
  readonly processor: Processor;
  readonly connections = new Set<Connection>();
  readonly startedAt = Date.now();
  readonly maxBuffer: number;
  readonly flow: FlowControl;
  private readonly perIp = new Map<string, number>();
  private readonly listener: net.Server;
  /** the secure client port's listener, when secureClientPort is set */
  private readonly secureListener: net.Server | null;
  private readonly tls: TlsFront | null;
  private readonly timers: NodeJS.Timeout[] = [];
  /** ensemble member with readonlymode.enabled: serves read-only while it looks for a quorum */
  private readonly readOnlySwitch: ReadOnlySwitch | null;
  /** the AdminServer (admin.enableServer) and the Prometheus endpoint (metricsProvider), once listening */
  private admin: AdminServer | null = null;
  private metrics: PrometheusServer | null = null;

  /** Recover the data directories, then build the server (not yet listening). */
  static async open(config: ServerConfig, logger: Logger): Promise<PaddockServer> {
    // TLS first: a bad setting or store stops start-up before any data is touched.
    const tls = tlsSettings(config);
    if (tls) secureContextOptions(tls);
    if (!config.standalone) {
      const member = await EnsembleMember.open(config, logger);
      return new PaddockServer(config, member.logger, member.replica.tree, member.replica.log, null, member, tls);
    }
    const { dataDir, tree } = await DataDir.open(dataDirOptions(config), logger);
    return new PaddockServer(config, logger, tree, dataDir, dataDir, null, tls);
  }

  private constructor(
    readonly config: ServerConfig,
    private readonly logger: Logger,
    tree: DataTree,
    log: TxnSink,
    /** standalone: the data directories (start-up snapshot, purge) */
    private readonly dataDir: DataDir | null,
    /** ensemble: this server's member */
    private readonly member: EnsembleMember | null,
    tls: TlsSettings | null,
  ) {
    this.maxBuffer = config.maxBuffer;
    this.flow = new FlowControl(config.globalOutstandingLimit, config.maxBuffer);
    this.processor = new Processor(
      {
        serverId: config.myid ?? 1,
        tickTime: config.tickTime,
        minSessionTimeout: config.minSessionTimeout,
        maxSessionTimeout: config.maxSessionTimeout,
        extendedTypesEnabled: config.extendedTypesEnabled,
        reconfigEnabled: config.reconfigEnabled,
        skipACL: config.skipACL,
        superDigest: config.superDigest,
        // A quorum feature: a standalone server's sessions are all its own anyway.
        localSessions: member && config.localSessionsEnabled ? { upgrading: config.localSessionsUpgradingEnabled } : null,
        clientAuth: config.clientAuth,
        containerMaxNeverUsedIntervalMs: config.containerMaxNeverUsedIntervalMs,
        perturbDigest: config.testPerturbDigest,
      },
      Date.now,
      tree,
      log,
      (e) => this.logFailed(e),
      member?.peer,
      member?.quorumNet.link,
    );
    this.tls = tls && new TlsFront(tls, logger, (socket, authIds) => this.serve(socket, authIds));
    const unified = this.tls?.settings.portUnification ? this.tls : null;
    this.listener = net.createServer((socket) => {
      if (!this.admit(socket)) return;
      if (unified) unified.accept(socket, (plain) => this.serve(plain, []));
      else this.serve(socket, []);
    });
    this.secureListener =
      config.secureClientPort === 0 || !this.tls
        ? null
        : net.createServer((socket) => {
            if (this.admit(socket)) this.tls!.accept(socket, null);
          });
    this.readOnlySwitch =
      member && config.readOnlyModeEnabled
        ? new ReadOnlySwitch(
            readOnlyDelay(config.tickTime),
            () => this.enterReadOnly(),
            () => this.leaveReadOnly(),
          )
        : null;
  }

  /**
   * The transaction log could not be written (disk full, I/O error). Like
   * ZooKeeper, stop: nothing after the failure was acknowledged, and a restart
   * recovers what reached the disk.
   */
  private logFailed(e: Error): void {
    this.logger.error(`transaction log write failed: ${e.message}; no write after this point was acknowledged; exiting`, { event: 'log-write-failed' });
    for (const c of this.connections) c.abort();
    this.listener.close();
    this.secureListener?.close();
    process.exit(3);
  }

  /** standalone, read-only, or the member's serving role (leader, follower, observer); null while it is not serving */
  get mode(): string | null {
    if (!this.member) return 'standalone';
    return this.readOnly ? 'read-only' : this.member.mode;
  }

  /** Serving read-only: only clients that ask for read-only are taken, and only reads are answered. */
  get readOnly(): boolean {
    return this.processor.readOnly;
  }

  /** mntr's quorum keys; none while read-only (ZooKeeper's read-only server has no quorum to report) */
  quorumMetrics(): [string, number | string][] {
    if (!this.member || this.readOnly) return [];
    return this.member.quorumMetrics();
  }

  get quorumConf(): readonly string[] {
    return this.member?.confLines ?? [];
  }

  get zxid(): number | undefined {
    return this.member?.zxid;
  }

  get proposalSizes(): SizeStats | null {
    return this.member?.proposalSizes ?? null;
  }

  get storage(): StorageStats {
    return this.member?.replica.storageStats ?? this.dataDir!.stats;
  }

  /** The member's quorum view; none while read-only (ZooKeeper's read-only server is not a quorum server either) */
  quorumView(): QuorumView | null {
    if (!this.member || this.readOnly) return null;
    return this.member.quorumView();
  }

  /** Committed txns whose TxnDigest was not the tree's (an ensemble member checks them; standalone has none to check). */
  get digestMismatches(): number {
    return this.member?.replica.digests.mismatches ?? 0;
  }

  /** New client sessions are taken (an ensemble member only while its role serves). */
  get serving(): boolean {
    return this.member ? this.member.serving || this.readOnly : true;
  }

  /** A serving role ended: its clients must find a serving server (ZooKeeper closes every connection then). */
  private roleChanged(change: RoleChange): void {
    this.readOnlySwitch?.roleIs(change.role);
    if (change.serving) return;
    this.closeSessions(`this server stopped serving (${change.role})`);
  }

  private closeSessions(reason: string): void {
    for (const c of this.connections) if (c.sessionId !== 0n) c.close(reason);
  }

  private enterReadOnly(): void {
    this.processor.enterReadOnly();
    this.logger.info(`read-only mode: no quorum for ${readOnlyDelay(this.config.tickTime)} ms; serving read-only clients`);
  }

  /** The election ended: the read-only sessions end with the mode (ZooKeeper's read-only server closes every connection). */
  private leaveReadOnly(): void {
    this.processor.leaveReadOnly();
    this.closeSessions('read-only mode ended');
    this.logger.info('read-only mode ended: this member rejoins its quorum');
  }

  /** Listen on the client port, then snapshot the recovered state in the background. */
  async start(): Promise<void> {
    const c = this.config;
    await this.startOperatorEndpoints();
    await listen(this.listener, c.clientPort, c.clientPortAddress);
    this.listener.on('error', (e) => this.logger.error(`client port: ${e.message}`));
    if (this.secureListener) {
      await listen(this.secureListener, c.secureClientPort, c.secureClientPortAddress);
      this.secureListener.on('error', (e) => this.logger.error(`secure client port: ${e.message}`));
      this.logger.info(`secure client port ${c.secureClientPortAddress}:${this.securePort} open (TLS, ssl.clientAuth=${this.tls!.settings.clientAuth})`, { event: 'listening', port: this.securePort });
    }
    if (this.tls?.settings.portUnification) this.logger.info('client.portUnification: the client port takes TLS and plaintext');
    // Sessions expire in tickTime buckets: check at each bucket's deadline, as ZooKeeper's ExpiryQueue does.
    const toNextTick = c.tickTime - (Date.now() % c.tickTime) + 5;
    this.timers.push(
      setTimeout(() => {
        this.expireSessions();
        this.every(c.tickTime, () => this.expireSessions());
      }, toNextTick),
    );
    const reapBatch = Math.max(1, Math.floor((c.containerMaxPerMinute * c.containerCheckIntervalMs) / 60_000));
    this.every(c.containerCheckIntervalMs, () => this.processor.reapContainers(reapBatch));
    let storage: { snapshotRecovered(): Promise<void>; purge(): unknown };
    if (this.member) {
      this.logger.info(`client port ${c.clientPortAddress}:${this.port} open; clients are served once this member is in a serving role`, { event: 'listening', port: this.port });
      this.member.onRole = (change) => this.roleChanged(change);
      await this.member.start(this.processor);
      this.readOnlySwitch?.roleIs(this.member.peer.role);
      storage = this.member;
    } else {
      this.logger.info(`serving clients on ${c.clientPortAddress}:${this.port}`, { event: 'listening', port: this.port });
      const dataDir = this.dataDir!;
      storage = { snapshotRecovered: () => dataDir.snapshotRecovered(this.processor.tree), purge: () => dataDir.purge() };
    }
    const recovered = storage.snapshotRecovered();
    if (c.autopurgePurgeIntervalHours > 0) {
      // As ZooKeeper's purge task: once at start-up (here, after the start-up snapshot), then every interval.
      void recovered.then(() => storage.purge());
      this.every(c.autopurgePurgeIntervalHours * 3_600_000, () => void storage.purge());
    }
  }

  /**
   * The Prometheus endpoint first: as ZooKeeper's metrics provider, a port it
   * cannot take stops start-up. Then the AdminServer; one that cannot listen
   * is logged and the server goes on without it (as a ZooKeeper ensemble
   * member does; a standalone ZooKeeper exits).
   */
  private async startOperatorEndpoints(): Promise<void> {
    const { admin, prometheus } = this.config;
    if (prometheus) {
      const metrics = new PrometheusServer(prometheus, this, this.logger);
      const port = await metrics.listen().catch((e: Error) => {
        throw new Error(`metrics endpoint ${prometheus.host}:${prometheus.port}: ${e.message}`);
      });
      this.metrics = metrics;
      this.logger.info(`Prometheus metrics on http://${prometheus.host}:${port}/metrics`, { event: 'listening', port });
    }
    if (admin.enabled) {
      const server = new AdminServer(admin, this, this.logger);
      try {
        const port = await server.listen();
        this.admin = server;
        this.logger.info(`AdminServer on ${admin.address}:${port}, commands under ${admin.commandUrl}`, { event: 'listening', port });
      } catch (e) {
        this.logger.warn(`AdminServer not started on ${admin.address}:${admin.port}: ${(e as Error).message}; serving without it (admin.enableServer=false turns it off)`);
      }
    }
  }

  get port(): number {
    const addr = this.listener.address();
    return addr && typeof addr === 'object' ? addr.port : this.config.clientPort;
  }

  /** The secure client port, once listening (0 when there is none). */
  get securePort(): number {
    const addr = this.secureListener?.address();
    return addr && typeof addr === 'object' ? addr.port : this.config.secureClientPort;
  }

  private every(ms: number, fn: () => void): void {
    this.timers.push(setInterval(fn, ms));
  }

  /**
   * Count a new socket against maxClientCnxns and maxCnxns until it closes (served or not:
   * a TLS handshake that fails counts too), or close it at once when it is over either.
   */
  private admit(socket: net.Socket): boolean {
    const ip = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    const { maxClientCnxns, maxCnxns } = this.config;
    const fromIp = this.perIp.get(ip) ?? 0;
    if ((maxClientCnxns > 0 && fromIp >= maxClientCnxns) || (maxCnxns > 0 && this.connections.size >= maxCnxns)) {
      this.logger.warn(`too many connections from ${ip} (${fromIp}, maxClientCnxns ${maxClientCnxns}); closing`);
      socket.destroy();
      return false;
    }
    this.perIp.set(ip, fromIp + 1);
    socket.once('close', () => this.release(ip));
    return true;
  }

  /** An admitted socket (plaintext, or TLS after its handshake) joins the request pipeline. */
  private serve(socket: net.Socket, authIds: Id[]): void {
    this.connections.add(new Connection(socket, this, authIds));
  }

  /** An admitted socket closed: it no longer counts against maxClientCnxns. */
  private release(ip: string): void {
    const n = (this.perIp.get(ip) ?? 1) - 1;
    if (n > 0) this.perIp.set(ip, n);
    else this.perIp.delete(ip);
  }

  private expireSessions(): void {
    for (const { id, timeout } of this.processor.expireSessions()) {
      this.logger.info(`Expiring session 0x${sessionHex(id)}, timeout of ${timeout}ms exceeded`, { event: 'session-expired', session: `0x${sessionHex(id)}`, timeoutMs: timeout });
    }
  }

  fourLetterWord(word: string): string | null {
    return fourLetterWord(word, this);
  }

  closed(conn: Connection): void {
    if (!this.connections.delete(conn)) return;
    this.processor.disconnected(conn);
  }

  log(message: string, fields?: Fields): void {
    this.logger.info(message, fields);
  }

  resetObserverConnectionStats(): void {
    this.member?.resetObserverConnectionStats();
  }

  resetStats(): void {
    const s = this.processor.stats;
    s.packetsReceived = s.packetsSent = s.minLatency = s.maxLatency = s.totalLatency = s.latencyCount = 0;
    s.readLatency.reset();
    s.updateLatency.reset();
    s.responseSizes.reset();
    this.storage.reset();
    this.member?.resetStats();
  }

  /** Stop listening and drop every connection; sessions are not closed (as when ZooKeeper stops). */
  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.readOnlySwitch?.dispose();
    const closed = [this.listener, this.secureListener].map((l) => l && new Promise<void>((resolve) => l.close(() => resolve())));
    this.tls?.close();
    for (const c of this.connections) c.abort();
    await Promise.all([...closed, this.admin?.close(), this.metrics?.close()]);
    await this.dataDir?.close();
    await this.member?.close();
  }
}

function listen(server: net.Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
