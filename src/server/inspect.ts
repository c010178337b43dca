// What the operator surfaces read from a running server: the four-letter
// words (fourletter.ts, text), the AdminServer's commands (src/admin, JSON)
// and the Prometheus endpoint (src/metrics). Each value is computed here
// once, so the surfaces cannot disagree; each of them only formats. Mirrors
// the getters ZooKeeper's commands call on ZooKeeperServer, ServerStats,
// ServerCnxn and DataTree.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { arch, freemem, hostname, release, totalmem, type, userInfo } from 'node:os';
import { join } from 'node:path';
import type { ServerConfig } from '../config/config.ts';
import type { StorageStats } from '../persistence/datadir.ts';
import type { SizeStats } from '../metrics/summary.ts';
import type { WatchTable } from '../tree/watches.ts';
import { PADDOCK_VERSION, VERSION_LINE } from '../version.ts';
import type { FlowControl } from './backpressure.ts';
import type { Connection } from './connection.ts';
import type { QuorumView } from './member.ts';
import type { Processor } from './processor.ts';

/** What the surfaces read from a running server. */
export interface ServerView {
  readonly config: ServerConfig;
  readonly processor: Processor;
  readonly flow: FlowControl;
  readonly connections: ReadonlySet<Connection>;
  readonly startedAt: number;
  /** standalone, leader, follower, observer or read-only; null while an ensemble member is not serving */
  readonly mode: string | null;
  /** fsync and snapshot times, the last snapshot */
  readonly storage: StorageStats;
  /** an ensemble member's mntr keys (peer state, quorum size, the leader's learner counts); empty standalone */
  quorumMetrics?(): [string, number | string][];
  /** an ensemble member's conf lines after serverId (limits, ports, peer type, membership); empty standalone */
  readonly quorumConf?: readonly string[];
  /** an ensemble member's role, leader and membership; null standalone */
  quorumView?(): QuorumView | null;
  /** srvr's Zxid on an ensemble member: on a leader the last zxid assigned (ZooKeeper's hzxid); default the last applied */
  readonly zxid?: number;
  /** the leader's proposal sizes (srvr, stat); null on any other role and standalone */
  readonly proposalSizes?: SizeStats | null;
  /** committed txns whose TxnDigest differed from the tree's (ZooKeeper's digest_mismatches_count) */
  readonly digestMismatches?: number;
  resetStats(): void;
  /** observer_connection_stat_reset; absent standalone */
  resetObserverConnectionStats?(): void;
}

/** The mode of a member serving read-only clients while it looks for its quorum (readonly.ts). */
export const READ_ONLY = 'read-only';

/** ZooKeeper's ZooTrace default text trace mask (gtmk, get_trace_mask); Paddock has no trace levels to set. */
export const TRACE_MASK = 306;

/** mntr keys of Paddock's own: back-pressure (backpressure.ts) has no ZooKeeper metric. */
export const PADDOCK_MNTR_KEYS: ReadonlySet<string> = new Set(['zk_read_throttled_count', 'zk_backpressure_disconnect_count']);

/**
 * mntr's keys without the zk_ prefix, with their values. A string value that
 * is a number carries Java's formatting (avg_latency 0.0); the JSON surfaces
 * print it as a number.
 */
export function monitorValues(view: ServerView): [string, number | string][] {
  const p = view.processor;
  const s = p.stats;
  const tree = p.tree;
  const avg = s.latencyCount ? s.totalLatency / s.latencyCount : 0;
  return [
    ['version', VERSION_LINE],
    ['server_state', view.mode ?? 'looking'],
    ['avg_latency', avg.toFixed(1)],
    ['max_latency', s.maxLatency],
    ['min_latency', s.minLatency],
    ['packets_received', s.packetsReceived],
    ['packets_sent', s.packetsSent],
    ['num_alive_connections', view.connections.size],
    ['outstanding_requests', view.flow.outstanding],
    // ZooKeeper files the root twice ("" and "/"), and counts both.
    ['znode_count', tree.nodeCount + 1],
    ['watch_count', tree.dataWatches.watchCount + tree.childWatches.watchCount],
    ['ephemerals_count', tree.ephemeralCount()],
    ['approximate_data_size', tree.approximateDataSize()],
    ['open_file_descriptor_count', openFds()],
    ['max_file_descriptor_count', maxFds()],
    ['uptime', Date.now() - view.startedAt],
    ['global_sessions', p.sessions.size],
    ['local_sessions', p.localSessionCount],
    ['connection_drop_probability', '0.0'],
    ['auth_failed_count', s.authFailed],
    ['digest_mismatches_count', view.digestMismatches ?? 0],
    ['outstanding_tls_handshake', 0],
    ['non_mtls_remote_conn_count', 0],
    ['non_mtls_local_conn_count', 0],
    ['last_client_response_size', s.responseSizes.last],
    ['min_client_response_size', s.responseSizes.min],
    ['max_client_response_size', s.responseSizes.max],
    ...s.readLatency.metrics('readlatency'),
    ...s.updateLatency.metrics('updatelatency'),
    ...view.storage.fsyncTime.metrics('fsynctime'),
    ...view.storage.snapshotTime.metrics('snapshottime'),
    ['read_throttled_count', view.flow.throttled],
    ['backpressure_disconnect_count', view.flow.backpressureDisconnects],
    ...(view.quorumMetrics?.() ?? []),
  ];
}

/** What srvr, stat and the server_stats command report. */
export interface ServerSummary {
  version: string;
  readOnly: boolean;
  mode: string | null;
  packetsReceived: number;
  packetsSent: number;
  minLatency: number;
  /** ZooKeeper's ServerStats.getAvgLatency: 4 decimals */
  avgLatency: number;
  maxLatency: number;
  connections: number;
  outstanding: number;
  zxid: number;
  nodeCount: number;
  proposalSizes: SizeStats | null;
}

export function serverSummary(view: ServerView): ServerSummary {
  const p = view.processor;
  const s = p.stats;
  return {
    version: VERSION_LINE,
    readOnly: view.mode === READ_ONLY,
    mode: view.mode,
    packetsReceived: s.packetsReceived,
    packetsSent: s.packetsSent,
    minLatency: s.minLatency,
    avgLatency: s.latencyCount ? Math.round((s.totalLatency / s.latencyCount) * 10_000) / 10_000 : 0,
    maxLatency: s.maxLatency,
    connections: view.connections.size,
    outstanding: view.flow.outstanding,
    zxid: view.zxid ?? p.zxid,
    nodeCount: p.tree.nodeCount + 1,
    proposalSizes: view.proposalSizes ?? null,
  };
}

/** A connection as ZooKeeper's ServerCnxn.getConnectionInfo names it; `brief` leaves out the session's part. */
export function connectionInfo(c: Connection, brief: boolean): Record<string, number | string | bigint> {
  const info: Record<string, number | string | bigint> = {
    remote_socket_address: `${c.remoteAddress}:${c.remotePort}`,
    interest_ops: c.isOpen ? 1 : 0,
    outstanding_requests: c.outstanding,
    packets_received: c.packetsReceived,
    packets_sent: c.packetsSent,
  };
  if (brief) return info;
  return Object.assign(info, {
    session_id: c.sessionId,
    last_operation: c.lastOp,
    established: c.established,
    session_timeout: c.sessionTimeout,
    last_cxid: c.lastCxid,
    last_zxid: c.lastZxid,
    last_response_time: c.lastResponseTime,
    last_latency: c.lastLatency,
    min_latency: c.minLatency,
    avg_latency: c.latencyCount ? Math.floor(c.totalLatency / c.latencyCount) : 0,
    max_latency: c.maxLatency,
  });
}

/** crst / connection_stat_reset */
export function resetConnectionStats(view: ServerView): void {
  for (const c of view.connections) c.packetsReceived = c.packetsSent = c.latencyCount = c.totalLatency = c.minLatency = c.maxLatency = 0;
}

/** envi / environment: ZooKeeper's Environment.list, with Node's values where Java's would be. */
export function environment(): [string, string][] {
  const mb = (n: number) => `${Math.floor(n / 1048576)}MB`;
  return [
    ['zookeeper.version', VERSION_LINE],
    ['host.name', hostname()],
    ['paddock.version', PADDOCK_VERSION],
    ['node.version', process.version],
    ['java.version', process.version],
    ['java.vendor', 'Paddock (Node.js)'],
    ['java.home', process.execPath],
    ['java.class.path', ''],
    ['java.library.path', ''],
    ['java.io.tmpdir', process.env.TMPDIR ?? '/tmp'],
    ['java.compiler', '<NA>'],
    ['os.name', type()],
    ['os.arch', arch() === 'x64' ? 'amd64' : arch()],
    ['os.version', release()],
    ['user.name', userInfo().username],
    ['user.home', userInfo().homedir],
    ['user.dir', process.cwd()],
    ['os.memory.free', mb(freemem())],
    ['os.memory.max', mb(totalmem())],
    ['os.memory.total', mb(process.memoryUsage().rss)],
  ];
}

// The watch reports cover the data-watch table only, as ZooKeeper's do (the dashboard asks for the child watches too).

/** wchs / watch_summary */
export function watchSummary(view: ServerView): { connections: number; paths: number; total: number } {
  const watchers = new Set<unknown>();
  let paths = 0;
  let total = 0;
  for (const [, ws] of view.processor.tree.dataWatches.entries()) {
    paths++;
    total += ws.size;
    for (const w of ws.keys()) watchers.add(w);
  }
  return { connections: watchers.size, paths, total };
}

/** wchc / watches: session id → watched paths (of the data-watch table, or the dashboard's pick) */
export function watchesBySession(view: ServerView, table: WatchTable = view.processor.tree.dataWatches): Map<bigint, Set<string>> {
  const out = new Map<bigint, Set<string>>();
  for (const [path, ws] of table.entries()) {
    for (const w of ws.keys()) {
      const id = (w as Connection).sessionId;
      if (!out.has(id)) out.set(id, new Set());
      out.get(id)!.add(path);
    }
  }
  return out;
}

/** wchp / watches_by_path: path → watching session ids */
export function watchesByPath(view: ServerView): Map<string, Set<bigint>> {
  const out = new Map<string, Set<bigint>>();
  for (const [path, ws] of view.processor.tree.dataWatches.entries()) {
    out.set(path, new Set([...ws.keys()].map((w) => (w as Connection).sessionId)));
  }
  return out;
}

/** dump: the sessions by expiry deadline (ms), soonest first */
export function sessionsByExpiry(view: ServerView): [number, bigint[]][] {
  const byDeadline = new Map<number, bigint[]>();
  for (const [id, s] of view.processor.sessions.entries()) {
    const list = byDeadline.get(s.expiresAt) ?? [];
    list.push(id);
    byDeadline.set(s.expiresAt, list);
  }
  return [...byDeadline].sort((a, b) => a[0] - b[0]);
}

/** dump: the sessions that own ephemerals, with their paths */
export function ephemeralsBySession(view: ServerView): Map<bigint, ReadonlySet<string>> {
  const tree = view.processor.tree;
  const out = new Map<bigint, ReadonlySet<string>>();
  for (const id of tree.sessions.keys()) {
    const paths = tree.ephemeralsOf(id);
    if (paths.size > 0) out.set(id, paths);
  }
  return out;
}

/** dirs: bytes in <dataDir>/version-2 and <dataLogDir>/version-2 */
export function dirSizes(c: ServerConfig): { dataDir: number; dataLogDir: number } {
  return { dataDir: dirSize(c.dataDir), dataLogDir: dirSize(c.dataLogDir) };
}

function dirSize(dir: string): number {
  let total = 0;
  try {
    for (const f of readdirSync(join(dir, 'version-2'))) total += statSync(join(dir, 'version-2', f)).size;
  } catch {
    // no files yet
  }
  return total;
}

function openFds(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return -1;
  }
}

function maxFds(): number {
  try {
    const m = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : -1;
  } catch {
    return -1;
  }
}
