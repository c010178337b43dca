// Four-letter words: the plain-text admin commands on the client port, in
// ZooKeeper's output formats (monitoring scripts parse them). The values come
// from inspect.ts, as the AdminServer's do; this file only formats them.

import { join } from 'node:path';
import { sessionHex } from './sessions.ts';
import type { Connection } from './connection.ts';
import {
  connectionInfo,
  dirSizes,
  environment,
  ephemeralsBySession,
  monitorValues,
  READ_ONLY,
  resetConnectionStats,
  serverSummary,
  sessionsByExpiry,
  TRACE_MASK,
  watchesByPath,
  watchesBySession,
  watchSummary,
  type ServerView,
} from './inspect.ts';

export { PADDOCK_MNTR_KEYS, type ServerView } from './inspect.ts';

export const FOUR_LETTER_WORDS = ['ruok', 'srvr', 'stat', 'mntr', 'conf', 'cons', 'envi', 'wchs', 'wchc', 'wchp', 'isro', 'dirs', 'dump', 'srst', 'crst', 'gtmk'] as const;
const KNOWN = new Set<string>([...FOUR_LETTER_WORDS, 'stmk', 'hash', 'orst']);

/** ZooKeeper's answer (FourLetterCommands.ZK_NOT_SERVING) to the words that read the server while it is not running. */
export const NOT_SERVING = 'This ZooKeeper instance is not currently serving requests';
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
      return ['Environment:', ...environment().map(([k, v]) => `${k}=${v}`)].join('\n') + '\n';
    case 'mntr':
      return monitorValues(view).map(([k, v]) => `zk_${k}\t${v}\n`).join('');
    case 'wchs': {
      const w = watchSummary(view);
      return `${w.connections} connections watching ${w.paths} paths\nTotal watches:${w.total}\n`;
    }
    case 'wchc':
      return grouped([...watchesBySession(view)].map(([id, paths]) => [`0x${sessionHex(id)}`, [...paths]]));
    case 'wchp':
      return grouped([...watchesByPath(view)].map(([path, ids]) => [path, [...ids].map((id) => `0x${sessionHex(id)}`)]));
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
      resetConnectionStats(view);
      return 'Connection stats reset.\n';
    case 'gtmk':
      return String(TRACE_MASK);
    default:
      return `${word} is not supported by Paddock.\n`;
  }
}

function serverStats(view: ServerView, withClients: boolean): string {
  const s = serverSummary(view);
  const lines = [`Zookeeper version: ${s.version}`];
  if (s.readOnly) lines.push('READ-ONLY mode; serving only read-only clients');
  if (withClients) {
    lines.push('Clients:');
    for (const c of view.connections) lines.push(consLine(c, false).trimEnd());
    lines.push('');
  }
  lines.push(
    `Latency min/avg/max: ${s.minLatency}/${s.avgLatency.toFixed(1)}/${s.maxLatency}`,
    `Received: ${s.packetsReceived}`,
    `Sent: ${s.packetsSent}`,
    `Connections: ${s.connections}`,
    `Outstanding: ${s.outstanding}`,
    `Zxid: 0x${s.zxid.toString(16)}`,
    `Mode: ${s.mode}`,
    `Node count: ${s.nodeCount}`,
  );
  const sizes = s.proposalSizes;
  if (sizes) lines.push(`Proposal sizes last/min/max: ${sizes.last}/${sizes.min}/${sizes.max}`);
  return lines.join('\n') + '\n';
}

function consLine(c: Connection, full: boolean): string {
  const i = connectionInfo(c, !full || c.sessionId === 0n);
  let line = ` /${i.remote_socket_address}[${i.interest_ops}](queued=${i.outstanding_requests},recved=${i.packets_received},sent=${i.packets_sent}`;
  if ('session_id' in i) {
    line +=
      `,sid=0x${sessionHex(c.sessionId)},lop=${i.last_operation},est=${i.established},to=${i.session_timeout}` +
      `,lcxid=0x${i.last_cxid.toString(16)},lzxid=0x${i.last_zxid.toString(16)},lresp=${i.last_response_time}` +
      `,llat=${i.last_latency},minlat=${i.min_latency},avglat=${i.avg_latency},maxlat=${i.max_latency}`;
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

/** wchc and wchp: each key, then its items indented by a tab. */
function grouped(groups: [string, string[]][]): string {
  return groups.map(([key, items]) => `${key}\n${items.map((i) => `\t${i}\n`).join('')}`).join('') + '\n';
}

function dump(view: ServerView): string {
  const bySession = sessionsByExpiry(view);
  let out = 'SessionTracker dump:\n';
  out += `Session Sets (${bySession.length})/(${view.processor.sessions.size}):\n`;
  for (const [at, ids] of bySession) {
    out += `${ids.length} expire at ${new Date(at).toUTCString()}:\n${ids.map((id) => `\t0x${sessionHex(id)}\n`).join('')}`;
  }
  out += 'ephemeral nodes dump:\n';
  const owners = ephemeralsBySession(view);
  out += `Sessions with Ephemerals (${owners.size}):\n`;
  for (const [id, paths] of owners) out += `0x${sessionHex(id)}:\n${[...paths].map((e) => `\t${e}\n`).join('')}`;
  out += 'Connections dump:\n';
  out += `Connections Sets (1)/(${view.connections.size}):\n`;
  for (const c of view.connections) out += `\tip: /${c.remoteAddress}:${c.remotePort} sessionId: 0x${sessionHex(c.sessionId)}\n`;
  return out;
}
