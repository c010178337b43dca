// Four-letter words: the plain-text admin commands on the client port, in
// ZooKeeper's output formats (monitoring scripts parse them).

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { hostname, userInfo, freemem, totalmem, arch, release, type } from 'node:os';
import { join } from 'node:path';
import type { ServerConfig } from '../config/config.ts';
import { sessionHex } from './sessions.ts';
import type { FlowControl } from './backpressure.ts';
import type { Connection } from './connection.ts';
import type { Processor } from './processor.ts';
import type { ProposalSizes } from '../runtime/quorum-stats.ts';
import { PADDOCK_VERSION, VERSION_LINE } from '../version.ts';

/** What the commands read from a running server. */
export interface ServerView {
  readonly config: ServerConfig;
  readonly processor: Processor;
  readonly flow: FlowControl;
  readonly connections: ReadonlySet<Connection>;
  readonly startedAt: number;
  /** standalone, leader, follower, observer or read-only; null while an ensemble member is not serving */
  readonly mode: string | null;
  /** an ensemble member's mntr keys (peer state, quorum size, the leader's learner counts); empty standalone */
  quorumMetrics?(): [string, number | string][];
  /** an ensemble member's conf lines after serverId (limits, ports, peer type, membership); empty standalone */
  readonly quorumConf?: readonly string[];
  /** the leader's proposal sizes (srvr, stat); null on any other role and standalone */
  readonly proposalSizes?: ProposalSizes | null;
  resetStats(): void;
}

export const FOUR_LETTER_WORDS = ['ruok', 'srvr', 'stat', 'mntr', 'conf', 'cons', 'envi', 'wchs', 'wchc', 'wchp', 'isro', 'dirs', 'dump', 'srst', 'crst', 'gtmk'] as const;
const KNOWN = new Set<string>([...FOUR_LETTER_WORDS, 'stmk', 'hash', 'orst']);

/** ZooKeeper's answer (FourLetterCommands.ZK_NOT_SERVING) to the words that read the server while it is not running. */
const NOT_SERVING = 'This ZooKeeper instance is not currently serving requests';
/** The mode of a member serving read-only clients while it looks for its quorum (readonly.ts). */
const READ_ONLY = 'read-only';
const NEED_SERVER = new Set(['srvr', 'stat', 'cons', 'conf', 'mntr', 'wchs', 'wchc', 'wchp', 'dirs', 'dump', 'srst', 'crst']);

/** The reply to `word`, or null when it is not a four-letter word at all. */
export function fourLetterWord(word: string, view: ServerView): string | null {
  if (!KNOWN.has(word)) return null;
  const allowed = view.config.fourLetterWords;
  if (allowed !== 'all' && !allowed.has(word)) return `${word} is not executed because it is not in the whitelist.\n`;
  if (view.mode === null && NEED_SERVER.has(word)) return `${NOT_SERVING}\n`;
  switch (word) {
    case 'ruok':
      return 'imok';
    case 'srvr':
      return serverStats(view, false);
    case 'stat':
      return serverStats(view, true);
    case 'cons':
      return [...view.connections].map((c) => consLine(c, true)).join('') + '\n';
    case 'conf':
      return conf(view);
    case 'envi':
      return envi();
    case 'mntr':
      return mntr(view);
    case 'wchs':
      return wchs(view);
    case 'wchc':
      return watchesBy(view, 'session');
    case 'wchp':
      return watchesBy(view, 'path');
    case 'isro':
      if (view.mode === null) return 'null'; // ZooKeeper has no server to ask while not serving
      return view.mode === READ_ONLY ? 'ro' : 'rw';
    case 'dirs': {
      const { dataDir, dataLogDir } = dirSizes(view.config);
      return `datadir_size: ${dataDir}\nlogdir_size: ${dataLogDir}\n`;
    }
    case 'dump':
      return dump(view);
    case 'srst':
      view.resetStats();
      return 'Server stats reset.\n';
    case 'crst':
      for (const c of view.connections) {
        c.packetsReceived = c.packetsSent = c.latencyCount = c.totalLatency = c.minLatency = c.maxLatency = 0;
      }
      return 'Connection stats reset.\n';
    case 'gtmk':
      return '306';
    default:
      return `${word} is not supported by Paddock.\n`;
  }
}

function serverStats(view: ServerView, withClients: boolean): string {
  const p = view.processor;
  const s = p.stats;
  const lines = [`Zookeeper version: ${VERSION_LINE}`];
  if (view.mode === READ_ONLY) lines.push('READ-ONLY mode; serving only read-only clients');
  if (withClients) {
    lines.push('Clients:');
    for (const c of view.connections) lines.push(consLine(c, false).trimEnd());
    lines.push('');
  }
  const avg = s.latencyCount ? (s.totalLatency / s.latencyCount).toFixed(1) : '0.0';
  lines.push(
    `Latency min/avg/max: ${s.minLatency}/${avg}/${s.maxLatency}`,
    `Received: ${s.packetsReceived}`,
    `Sent: ${s.packetsSent}`,
    `Connections: ${view.connections.size}`,
    `Outstanding: ${view.flow.outstanding}`,
    `Zxid: 0x${p.zxid.toString(16)}`,
    `Mode: ${view.mode}`,
    // ZooKeeper files the root twice ("" and "/"), and counts both.
    `Node count: ${p.tree.nodeCount + 1}`,
  );
  const sizes = view.proposalSizes;
  if (sizes) lines.push(`Proposal sizes last/min/max: ${sizes.last}/${sizes.min}/${sizes.max}`);
  return lines.join('\n') + '\n';
}

function consLine(c: Connection, full: boolean): string {
  let line = ` /${c.remoteAddress}:${c.remotePort}[${c.isOpen ? 1 : 0}](queued=${c.outstanding},recved=${c.packetsReceived},sent=${c.packetsSent}`;
  if (full && c.sessionId !== 0n) {
    const avg = c.latencyCount ? Math.floor(c.totalLatency / c.latencyCount) : 0;
    line +=
      `,sid=0x${sessionHex(c.sessionId)},lop=${c.lastOp},est=${c.established},to=${c.sessionTimeout}` +
      `,lcxid=0x${c.lastCxid.toString(16)},lzxid=0x${c.lastZxid.toString(16)},lresp=${c.lastResponseTime}` +
      `,llat=${c.lastLatency},minlat=${c.minLatency},avglat=${avg},maxlat=${c.maxLatency}`;
  }
  return line + ')\n';
}

function conf(view: ServerView): string {
  const c = view.config;
  const sizes = dirSizes(c);
  const lines = [
    `clientPort=${c.clientPort}`,
    'secureClientPort=-1',
    `dataDir=${join(c.dataDir, 'version-2')}`,
    `dataDirSize=${sizes.dataDir}`,
    `dataLogDir=${join(c.dataLogDir, 'version-2')}`,
    `dataLogSize=${sizes.dataLogDir}`,
    `tickTime=${c.tickTime}`,
    `maxClientCnxns=${c.maxClientCnxns}`,
    `minSessionTimeout=${c.minSessionTimeout}`,
    `maxSessionTimeout=${c.maxSessionTimeout}`,
    'clientPortListenBacklog=-1',
    `serverId=${c.myid ?? 0}`,
    ...(view.quorumConf ?? []),
  ];
  return lines.join('\n') + '\n';
}

function envi(): string {
  const mb = (n: number) => `${Math.floor(n / 1048576)}MB`;
  const mem = process.memoryUsage();
  const lines = [
    'Environment:',
    `zookeeper.version=${VERSION_LINE}`,
    `host.name=${hostname()}`,
    `paddock.version=${PADDOCK_VERSION}`,
    `node.version=${process.version}`,
    `java.version=${process.version}`,
    'java.vendor=Paddock (Node.js)',
    `java.home=${process.execPath}`,
    'java.class.path=',
    'java.library.path=',
    `java.io.tmpdir=${process.env.TMPDIR ?? '/tmp'}`,
    'java.compiler=<NA>',
    `os.name=${type()}`,
    `os.arch=${arch() === 'x64' ? 'amd64' : arch()}`,
    `os.version=${release()}`,
    `user.name=${userInfo().username}`,
    `user.home=${userInfo().homedir}`,
    `user.dir=${process.cwd()}`,
    `os.memory.free=${mb(freemem())}`,
    `os.memory.max=${mb(totalmem())}`,
    `os.memory.total=${mb(mem.rss)}`,
  ];
  return lines.join('\n') + '\n';
}

/** mntr keys of Paddock's own: back-pressure (backpressure.ts) has no ZooKeeper metric. */
export const PADDOCK_MNTR_KEYS: ReadonlySet<string> = new Set(['zk_read_throttled_count', 'zk_backpressure_disconnect_count']);

function mntr(view: ServerView): string {
  const p = view.processor;
  const s = p.stats;
  const tree = p.tree;
  const avg = s.latencyCount ? s.totalLatency / s.latencyCount : 0;
  const metrics: [string, string | number][] = [
    ['version', VERSION_LINE],
    ['server_state', view.mode ?? 'looking'],
    ['avg_latency', avg.toFixed(1)],
    ['max_latency', s.maxLatency],
    ['min_latency', s.minLatency],
    ['packets_received', s.packetsReceived],
    ['packets_sent', s.packetsSent],
    ['num_alive_connections', view.connections.size],
    ['outstanding_requests', view.flow.outstanding],
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
    ['outstanding_tls_handshake', 0],
    ['non_mtls_remote_conn_count', 0],
    ['non_mtls_local_conn_count', 0],
    ['read_throttled_count', view.flow.throttled],
    ['backpressure_disconnect_count', view.flow.backpressureDisconnects],
    ...(view.quorumMetrics?.() ?? []),
  ];
  return metrics.map(([k, v]) => `zk_${k}\t${v}\n`).join('');
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

// wchs/wchc/wchp report the data-watch table only, as ZooKeeper's do.

function wchs(view: ServerView): string {
  const watchers = new Set<unknown>();
  const paths = new Set<string>();
  let total = 0;
  for (const [path, ws] of view.processor.tree.dataWatches.entries()) {
    paths.add(path);
    total += ws.size;
    for (const w of ws.keys()) watchers.add(w);
  }
  return `${watchers.size} connections watching ${paths.size} paths\nTotal watches:${total}\n`;
}

function watchesBy(view: ServerView, by: 'session' | 'path'): string {
  const groups = new Map<string, Set<string>>();
  for (const [path, ws] of view.processor.tree.dataWatches.entries()) {
    for (const w of ws.keys()) {
      const session = `0x${sessionHex((w as Connection).sessionId)}`;
      const [key, item] = by === 'session' ? [session, path] : [path, session];
      let g = groups.get(key);
      if (!g) groups.set(key, (g = new Set()));
      g.add(item);
    }
  }
  let out = '';
  for (const [key, items] of groups) out += `${key}\n${[...items].map((i) => `\t${i}\n`).join('')}`;
  return out + '\n';
}

function dump(view: ServerView): string {
  const p = view.processor;
  let out = 'SessionTracker dump:\n';
  const byDeadline = new Map<number, bigint[]>();
  for (const [id, s] of p.sessions.entries()) {
    const list = byDeadline.get(s.expiresAt) ?? [];
    list.push(id);
    byDeadline.set(s.expiresAt, list);
  }
  out += `Session Sets (${byDeadline.size})/(${p.sessions.size}):\n`;
  for (const [at, ids] of [...byDeadline].sort((a, b) => a[0] - b[0])) {
    out += `${ids.length} expire at ${new Date(at).toUTCString()}:\n${ids.map((id) => `\t0x${sessionHex(id)}\n`).join('')}`;
  }
  out += 'ephemeral nodes dump:\n';
  const owners = [...p.tree.sessions.keys()].filter((id) => p.tree.ephemeralsOf(id).size > 0);
  out += `Sessions with Ephemerals (${owners.length}):\n`;
  for (const id of owners) out += `0x${sessionHex(id)}:\n${[...p.tree.ephemeralsOf(id)].map((e) => `\t${e}\n`).join('')}`;
  out += 'Connections dump:\n';
  out += `Connections Sets (1)/(${view.connections.size}):\n`;
  for (const c of view.connections) out += `\tip: /${c.remoteAddress}:${c.remotePort} sessionId: 0x${sessionHex(c.sessionId)}\n`;
  return out;
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

function dirSizes(c: ServerConfig): { dataDir: number; dataLogDir: number } {
  return { dataDir: dirSize(c.dataDir), dataLogDir: dirSize(c.dataLogDir) };
}
