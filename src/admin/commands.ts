// The AdminServer's commands, as ZooKeeper 3.8's Commands registers them:
// each has a primary name (the URL path's last part and the `command` of its
// reply) and aliases (mostly its four-letter word); a reply is a JSON object
// with the command's fields plus `command` and `error` (null on success).
// Every value comes from inspect.ts, which the four-letter words read too.
//
// Invariants:
// - an unknown name, a missing server and a bad argument are replies with an
//   `error`, never exceptions (ZooKeeper answers them with HTTP 200 too);
// - a command that needs a serving server answers ZooKeeper's not-serving
//   error while an ensemble member looks for its leader or syncs.

import { join } from 'node:path';
import { NOT_SERVING } from '../server/fourletter.ts';
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
} from '../server/inspect.ts';
import type { SizeStats } from '../metrics/summary.ts';
import type { Json } from './json.ts';

type Fields = { [key: string]: Json | undefined };

interface AdminCommand {
  names: readonly string[];
  /** answered only while the server serves (ZooKeeper's CommandBase.serverRequired) */
  serverRequired: boolean;
  run(view: ServerView, args: URLSearchParams): Fields;
}

const COMMANDS: AdminCommand[] = [
  command(['connection_stat_reset', 'crst'], true, (view) => {
    resetConnectionStats(view);
    return {};
  }),
  command(['configuration', 'conf', 'config'], true, (view) => {
    const c = view.config;
    return {
      client_port: c.clientPort,
      data_dir: join(c.dataDir, 'version-2'),
      data_log_dir: join(c.dataLogDir, 'version-2'),
      tick_time: c.tickTime,
      max_client_cnxns: c.maxClientCnxns,
      min_session_timeout: c.minSessionTimeout,
      max_session_timeout: c.maxSessionTimeout,
      server_id: c.myid ?? 0,
      client_port_listen_backlog: -1,
    };
  }),
  command(['connections', 'cons'], true, (view) => connections(view, false)),
  command(['hash'], true, (view) => ({
    digests: view.processor.tree.digestLog.map((d) => ({ zxid: d.zxid, digest_version: 2, digest: d.digest })),
  })),
  command(['dirs'], true, (view) => {
    const sizes = dirSizes(view.config);
    return { datadir_size: sizes.dataDir, logdir_size: sizes.dataLogDir };
  }),
  command(['dump'], true, (view) => ({
    expiry_time_to_session_ids: Object.fromEntries(sessionsByExpiry(view).map(([at, ids]) => [String(at), ids])),
    session_id_to_ephemeral_paths: Object.fromEntries([...ephemeralsBySession(view)].map(([id, paths]) => [String(id), [...paths]])),
  })),
  command(['environment', 'env', 'envi'], false, () => Object.fromEntries(environment())),
  command(['get_trace_mask', 'gtmk'], false, () => ({ tracemask: TRACE_MASK })),
  command(['initial_configuration', 'icfg'], true, (view) => ({ initial_configuration: view.config.initialConfig })),
  command(['is_read_only', 'isro'], true, (view) => ({ read_only: view.mode === READ_ONLY })),
  command(['last_snapshot', 'lsnp'], true, (view) => {
    const last = view.storage.lastSnapshot;
    // Java's Long.toHexString(-1) when there is none
    return last ? { zxid: last.zxid.toString(16), timestamp: last.timestamp } : { zxid: 'ffffffffffffffff', timestamp: -1 };
  }),
  command(['leader', 'lead'], true, (view) => {
    const q = view.quorumView?.();
    if (!q) return { error: 'server is not initialized' };
    return { is_leader: q.leading, leader_id: q.leaderId, leader_ip: q.leaderHost };
  }),
  command(['monitor', 'mntr'], false, (view) =>
    // Java's formatting (a string such as "0.0") is mntr's; JSON has numbers.
    Object.fromEntries(monitorValues(view).map(([k, v]) => [k, typeof v === 'string' && NUMBER.test(v) ? Number(v) : v])),
  ),
  command(['observer_connection_stat_reset', 'orst'], true, (view) => {
    view.resetObserverConnectionStats?.();
    return {};
  }),
  command(['ruok'], true, () => ({})),
  command(['set_trace_mask', 'stmk'], false, (_view, args) => {
    const mask = args.get('traceMask');
    if (mask === null) return { error: 'setTraceMask requires long traceMask argument' };
    if (!/^[+-]?\d+$/.test(mask)) return { error: `setTraceMask requires long traceMask argument, got ${mask}` };
    return { error: `Paddock has no trace levels; the trace mask stays ${TRACE_MASK}` };
  }),
  command(['server_stats', 'srvr'], true, (view) => serverStats(view)),
  command(['stats', 'stat'], true, (view) => ({ ...serverStats(view), ...connections(view, true) })),
  command(['stat_reset', 'srst'], true, (view) => {
    view.resetStats();
    return {};
  }),
  command(['observers', 'obsr'], true, (view) => {
    const observers = view.quorumView?.()?.observers ?? [];
    return {
      synced_observers: observers.length,
      // LearnerHandler.getLearnerHandlerInfo's fields, in its order (a java.util.Date is milliseconds in Jackson's JSON)
      observers: observers.map((o) => ({
        remote_socket_address: o.remoteAddress ?? null,
        sid: o.sid,
        established: o.established ?? null,
        queued_packets: o.queuedPackets ?? 0,
        queued_packets_size: o.queuedBytes ?? 0,
        packets_received: o.packetsReceived ?? 0,
        packets_sent: o.packetsSent ?? 0,
        requests: o.requests ?? 0,
        last_zxid: o.lastZxid,
      })),
    };
  }),
  command(['system_properties', 'sysp'], false, (view) => Object.fromEntries([...view.config.properties].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))),
  command(['voting_view'], true, (view) => ({
    current_config: Object.fromEntries(
      (view.quorumView?.()?.votingView ?? []).map(([id, a]) => [
        String(id),
        { server_addresses: [a.quorum], election_addresses: [a.election], client_address: a.client, learner_type: 'participant' },
      ]),
    ),
  })),
  command(['watches', 'wchc'], true, (view) => ({
    session_id_to_watched_paths: Object.fromEntries([...watchesBySession(view)].map(([id, paths]) => [String(id), [...paths]])),
  })),
  command(['watches_by_path', 'wchp'], true, (view) => ({
    path_to_session_ids: Object.fromEntries([...watchesByPath(view)].map(([path, ids]) => [path, [...ids]])),
  })),
  command(['watch_summary', 'wchs'], true, (view) => {
    const w = watchSummary(view);
    return { num_connections: w.connections, num_paths: w.paths, num_total_watches: w.total };
  }),
  command(['zabstate'], false, (view) => {
    const q = view.quorumView?.();
    if (!q) return { voting: false, zabstate: '' };
    const zxid = view.processor.zxid;
    return {
      myid: q.myid,
      is_leader: q.leading,
      client_address: `${view.config.clientPortAddress}:${view.config.clientPort}`,
      last_zxid: `0x${zxid.toString(16)}`,
      zab_epoch: q.epoch,
      zab_counter: zxid % 2 ** 32,
      voting: q.voting,
      zabstate: q.zabState,
    };
  }),
];

const NUMBER = /^-?\d+(\.\d+)?$/;

function command(names: string[], serverRequired: boolean, run: AdminCommand['run']): AdminCommand {
  return { names, serverRequired, run };
}

const BY_NAME = new Map(COMMANDS.flatMap((c) => c.names.map((n) => [n, c] as const)));

/** The primary names, sorted (the command list the AdminServer serves at its command URL). */
export const PRIMARY_NAMES: readonly string[] = COMMANDS.map((c) => c.names[0]!).sort();

/** Run command `name` (a primary name or an alias): its fields, then `command` (the primary name) and `error`. */
export function runCommand(name: string, view: ServerView, args = new URLSearchParams()): Fields {
  const cmd = BY_NAME.get(name);
  if (!cmd) return { command: name, error: `Unknown command: ${name}` };
  const primary = cmd.names[0]!;
  if (cmd.serverRequired && view.mode === null) return { command: primary, error: NOT_SERVING };
  const { error = null, ...fields } = cmd.run(view, args);
  return { ...fields, command: primary, error };
}

function connections(view: ServerView, brief: boolean): Fields {
  const all = [...view.connections];
  return {
    connections: all.filter((c) => !c.secure).map((c) => connectionInfo(c, brief)),
    secure_connections: all.filter((c) => c.secure).map((c) => connectionInfo(c, brief)),
  };
}

/** ZooKeeper's BufferStats as JSON */
const bufferStats = (b: SizeStats): Fields => ({ last_buffer_size: b.last, min_buffer_size: b.min, max_buffer_size: b.max });

function serverStats(view: ServerView): Fields {
  const s = serverSummary(view);
  const sizes = dirSizes(view.config);
  const p = view.processor;
  const responses = bufferStats(p.stats.responseSizes);
  return {
    version: s.version,
    read_only: s.readOnly,
    server_stats: {
      packets_sent: s.packetsSent,
      packets_received: s.packetsReceived,
      fsync_threshold_exceed_count: view.storage.slowFsyncs,
      client_response_stats: responses,
      data_dir_size: sizes.dataDir,
      log_dir_size: sizes.dataLogDir,
      provider_null: false,
      server_state: s.mode ?? 'looking',
      last_processed_zxid: s.zxid,
      outstanding_requests: s.outstanding,
      avg_latency: s.avgLatency,
      max_latency: s.maxLatency,
      min_latency: s.minLatency,
      num_alive_client_connections: s.connections,
      uptime: Date.now() - view.startedAt,
      auth_failed_count: p.stats.authFailed,
      non_mtlsremote_conn_count: 0,
      non_mtlslocal_conn_count: 0,
    },
    client_response: responses,
    ...(s.proposalSizes && { proposal_stats: bufferStats(s.proposalSizes) }),
    node_count: s.nodeCount,
  };
}
