// Reads zoo.cfg the way Apache ZooKeeper 3.8 does: the keys QuorumPeerConfig parses
// itself, the server.N / group / weight quorum lines (inline or in a dynamic file),
// <dataDir>/myid, and the JVM system properties that ZooKeeper's other classes read.
// Those come from -D flags and from every zoo.cfg key ZooKeeper does not know, which it
// sets as zookeeper.<key>. A config ZooKeeper refuses stops start-up with one
// ConfigError naming file, line and key; one it accepts is accepted, and whatever
// Paddock does not implement is listed in `ignored` for the server to log.

import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FORMATS, LEVELS, parseFormat, parseLevel, type Level, type LogFormat } from '../log.ts';
import type { DataDirOptions } from '../persistence/datadir.ts';
import { CLIENT_AUTH_PROPERTIES, clientAuthConfig, type ClientAuthConfig } from './auth.ts';
import { jvmSystemProperties, type SystemProperty } from './jvmflags.ts';
import { quorumAuthConfig, type QuorumAuthConfig } from './quorum-auth.ts';

export class ConfigError extends Error {
  constructor(message: string, readonly key?: string, readonly line?: number) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface PeerAddress {
  id: number;
  host: string;
  quorumPort: number;
  electionPort: number;
  observer: boolean;
  /** from `;[host:]port`; host defaults to 0.0.0.0 */
  clientHost?: string;
  clientPort?: number;
}

export interface ServerConfig {
  configPath: string | null;
  /** the zoo.cfg text as read (ZooKeeper's initial configuration) */
  initialConfig: string;
  tickTime: number;
  initLimit: number | null;
  syncLimit: number | null;
  dataDir: string;
  dataLogDir: string;
  clientPort: number;
  clientPortAddress: string;
  /** the TLS client port (src/tls); 0 = none */
  secureClientPort: number;
  secureClientPortAddress: string;
  /** per client IP; 0 or less = unlimited */
  maxClientCnxns: number;
  /** all clients; 0 or less = unlimited */
  maxCnxns: number;
  minSessionTimeout: number;
  maxSessionTimeout: number;
  /** server.N lines, sorted by id */
  servers: PeerAddress[];
  /** group.G lines (group id to member ids); empty unless the quorum is hierarchical */
  groups: Map<number, number[]>;
  /** weight.N lines; a participant in a group without one weighs 1 */
  weights: Map<number, number>;
  myid: number | null;
  standalone: boolean;
  fourLetterWords: Set<string> | 'all';
  snapCount: number;
  preAllocSizeKb: number;
  forceSync: boolean;
  autopurgeSnapRetainCount: number;
  autopurgePurgeIntervalHours: number;
  globalOutstandingLimit: number;
  maxBuffer: number;
  extendedTypesEnabled: boolean;
  /** reconfig requests are accepted (ZooKeeper 3.8 standalone then answers Unimplemented; Paddock too, until it has dynamic reconfig) */
  reconfigEnabled: boolean;
  superDigest: string | null;
  /** new sessions are local to the member they are made on (no createSession txn; an ensemble only) */
  localSessionsEnabled: boolean;
  /** a local session that creates an ephemeral is first made global (else EphemeralOnLocalSession) */
  localSessionsUpgradingEnabled: boolean;
  readOnlyModeEnabled: boolean;
  skipACL: boolean;
  /** auth providers, SASL (JAAS) and enforcement of client authentication */
  clientAuth: ClientAuthConfig;
  /** quorum SASL between ensemble members; null when off (quorum.auth.enableSasl) or standalone */
  quorumAuth: QuorumAuthConfig | null;
  containerCheckIntervalMs: number;
  containerMaxPerMinute: number;
  containerMaxNeverUsedIntervalMs: number;
  /** ZooKeeper's AdminServer (src/admin), from the zookeeper.admin.* system properties (zoo.cfg's admin.* keys become them) */
  admin: AdminConfig;
  /** metricsProvider.className=…PrometheusMetricsProvider: /metrics on httpHost:httpPort (src/metrics); null for the default provider (mntr only) */
  prometheus: PrometheusConfig | null;
  /** paddock.logLevel (DEBUG, INFO, WARN, ERROR); null: not set (PADDOCK_LOG_LEVEL, else INFO) */
  logLevel: Level | null;
  /** paddock.logFormat (json, text); null: not set (PADDOCK_LOG_FORMAT, else json unless stdout is a terminal) */
  logFormat: LogFormat | null;
  /** test only (zoo.cfg paddock.test.perturbDigest=true): every TxnDigest this server orders is off by one */
  testPerturbDigest: boolean;
  /** quorum and election connections are TLS (the ssl.quorum.* properties say how; src/tls/quorum.ts) */
  sslQuorum: boolean;
  /** the quorum and election ports also take what sslQuorum does not dial: TLS and plaintext both */
  portUnification: boolean;
  /** the ssl.quorum stores are read again when their files change */
  sslQuorumReloadCertFiles: boolean;
  properties: Map<string, string>;
  ignored: string[];
}

export interface AdminConfig {
  enabled: boolean;
  address: string;
  port: number;
  /** the path the commands are under: <commandUrl>/<name> */
  commandUrl: string;
  /** ms a connection may stay idle (Jetty's idle timeout) */
  idleTimeoutMs: number;
  /** Paddock's own `backup` command (src/backup), which hands out every node whatever its ACL: admin.backup.enabled, default false */
  backupEnabled: boolean;
}

export interface PrometheusConfig {
  host: string;
  port: number;
  /** also export the runtime's own metrics (ZooKeeper: the JVM's; Paddock: Node's) */
  exportJvmInfo: boolean;
}

const DEFAULT_METRICS_PROVIDER = 'org.apache.zookeeper.metrics.impl.DefaultMetricsProvider';
const PROMETHEUS_METRICS_PROVIDER = 'org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider';

type Kind = 'int' | 'long' | 'bool' | 'port' | 'text';

// Keys QuorumPeerConfig parses itself (so they never become system properties) that Paddock honours.
const HONOURED: Record<string, Kind> = {
  dataDir: 'text', dataLogDir: 'text', clientPort: 'port', clientPortAddress: 'text',
  tickTime: 'int', maxClientCnxns: 'int', minSessionTimeout: 'int', maxSessionTimeout: 'int',
  initLimit: 'int', syncLimit: 'int', standaloneEnabled: 'bool', dynamicConfigFile: 'text',
  'autopurge.snapRetainCount': 'int', 'autopurge.purgeInterval': 'int', electionAlg: 'int', peerType: 'text',
  reconfigEnabled: 'bool', localSessionsEnabled: 'bool', localSessionsUpgradingEnabled: 'bool',
  secureClientPort: 'port', secureClientPortAddress: 'text',
  // quorum SASL (quorum-auth.ts); Paddock's handshakes need no thread pool, so quorum.cnxn.threads.size changes nothing
  'quorum.auth.enableSasl': 'bool', 'quorum.auth.serverRequireSasl': 'bool', 'quorum.auth.learnerRequireSasl': 'bool',
  'quorum.auth.learner.saslLoginContext': 'text', 'quorum.auth.server.saslLoginContext': 'text',
  'quorum.auth.kerberos.servicePrincipal': 'text', 'quorum.cnxn.threads.size': 'int',
  sslQuorum: 'bool', portUnification: 'bool', sslQuorumReloadCertFiles: 'bool',
  // PrometheusMetricsProvider's settings (src/metrics); parseConfig reports them with any other provider
  'metricsProvider.className': 'text', 'metricsProvider.httpHost': 'text', 'metricsProvider.httpPort': 'port', 'metricsProvider.exportJvmInfo': 'text',
};

// Keys QuorumPeerConfig parses and checks that Paddock does not implement, with ZooKeeper's
// default where it has one: a key left at its default changes nothing, so is not reported.
const UNSUPPORTED: Record<string, [Kind, string?]> = {
  observerMasterPort: ['int'],
  clientPortListenBacklog: ['int', '-1'], connectToLearnerMasterLimit: ['int', '0'],
  quorumListenOnAllIPs: ['bool', 'false'], syncEnabled: ['bool', 'true'],
  'jvm.pause.monitor': ['bool', 'false'],
  'jvm.pause.info-threshold.ms': ['long'], 'jvm.pause.warn-threshold.ms': ['long'], 'jvm.pause.sleep.time.ms': ['long'],
  'multiAddress.enabled': ['bool', 'false'], 'multiAddress.reachabilityCheckEnabled': ['bool', 'true'],
  'multiAddress.reachabilityCheckTimeoutMs': ['int'], oraclePath: ['text'],
};

// zookeeper.* system properties (named here without the prefix) that Paddock reads.
const USED_PROPERTIES = new Set([
  'maxCnxns', 'snapCount', 'preAllocSize', 'forceSync', 'globalOutstandingLimit', '4lw.commands.whitelist',
  'extendedTypesEnabled', 'DigestAuthenticationProvider.superDigest', 'skipACL', 'paddock.test.perturbDigest', 'paddock.logLevel', 'paddock.logFormat', ...CLIENT_AUTH_PROPERTIES,
  // client TLS (src/tls/settings.ts), besides the ssl.* keys
  'serverCnxnFactory', 'client.portUnification', 'client.certReload', 'X509AuthenticationProvider.superUser',
  // the AdminServer (src/admin)
  'admin.enableServer', 'admin.serverAddress', 'admin.serverPort', 'admin.commandURL', 'admin.idleTimeout', 'admin.backup.enabled',
]);
// The TLS keys: ssl.* the client port's, ssl.quorum.* the quorum's (src/tls/settings.ts).
const TLS_KEY = /^ssl\./;
// ZooKeeper reads these without the zookeeper. prefix, so in zoo.cfg they do nothing.
const JVM_ONLY = /^(jute\.maxbuffer|readonlymode\.enabled|znode\.container\.)/;
const QUORUM_KEY = /^(server\.|group|weight)/;
const WILDCARD = /^(0\.0\.0\.0|::|0:0:0:0:0:0:0:0)$/;
const SERVER_FORMAT = 'host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]';

interface Entry {
  key: string;
  value: string;
  line: number;
}

/** A file in java.util.Properties format; as there, the last entry of a key wins. */
class PropsFile {
  readonly entries = new Map<string, Entry>();
  readonly overridden: Entry[] = [];

  constructor(readonly label: string, text: string) {
    const lines = text.split(/\r\n|\r|\n/);
    const indent = /^[ \t\f]+/;
    for (let i = 0; i < lines.length; i++) {
      const line = i + 1;
      let logical = lines[i].replace(indent, '');
      if (logical === '' || logical[0] === '#' || logical[0] === '!') continue;
      // An odd number of trailing backslashes continues the entry on the next line, minus its indent.
      while (/(?<!\\)(\\\\)*\\$/.test(logical)) {
        logical = logical.slice(0, -1);
        if (++i >= lines.length) break;
        logical += lines[i].replace(indent, '');
      }
      this.add(logical, line);
    }
  }

  private add(text: string, line: number): void {
    // The key ends at the first unescaped '=', ':' or blank; then blanks, one '=' or ':', blanks.
    let end = 0;
    while (end < text.length && !/[=: \t\f]/.test(text[end])) end += text[end] === '\\' ? 2 : 1;
    const rest = text.slice(end).replace(/^[ \t\f]*[=:]?[ \t\f]*/, '');
    const key = javaTrim(this.unescape(text.slice(0, end), line));
    const entry = { key, value: javaTrim(this.unescape(rest, line)), line };
    const previous = this.entries.get(key);
    if (previous) this.overridden.push(previous);
    this.entries.set(key, entry);
  }

  private unescape(text: string, line: number): string {
    const named: Record<string, string> = { t: '\t', n: '\n', r: '\r', f: '\f' };
    return text.replace(/\\(u[0-9a-fA-F]{4}|u|[^]?)/g, (_, esc: string) => {
      if (esc === 'u') throw new ConfigError(`${this.label} line ${line}: malformed \\uxxxx escape`, undefined, line);
      return esc.length === 5 ? String.fromCharCode(parseInt(esc.slice(1), 16)) : named[esc] ?? esc;
    });
  }

  get(key: string): string | undefined {
    return this.entries.get(key)?.value;
  }

  where(key: string): string {
    const line = this.entries.get(key)?.line;
    return line === undefined ? this.label : `${this.label} line ${line}`;
  }

  fail(key: string, detail: string): ConfigError {
    return new ConfigError(`${this.where(key)}: ${key}: ${detail}`, key, this.entries.get(key)?.line);
  }
}

/** String.trim() of Java, which ZooKeeper applies to keys and values: strips chars <= ' '. */
function javaTrim(s: string): string {
  return s.replace(/^[\x00-\x20]+|[\x00-\x20]+$/g, '');
}

/** String.split() of Java, which drops trailing empty strings. */
function javaSplit(s: string, sep: string): string[] {
  const parts = s.split(sep);
  while (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/** Integer.parseInt: optional sign, decimal digits, 32-bit range. */
function parseInt32(s: string): number | null {
  const n = /^[+-]?\d+$/.test(s) ? Number(s) : NaN;
  return n >= -(2 ** 31) && n < 2 ** 31 ? n : null;
}

/** Integer.decode / Long.decode, used by Integer.getInteger for system properties: also 0x, # and 0 (octal) prefixes. */
function decodeJavaInt(s: string, bits: 32 | 64): number | null {
  const m = /^([+-]?)(0x|0X|#|0(?=.))?(.+)$/.exec(s);
  if (!m) return null;
  const radix = m[2] === undefined ? 10 : m[2] === '0' ? 8 : 16;
  const digits = radix === 8 ? /^[0-7]+$/ : radix === 10 ? /^\d+$/ : /^[\da-f]+$/i;
  if (!digits.test(m[3])) return null;
  const n = (m[1] === '-' ? -1 : 1) * parseInt(m[3], radix);
  return bits === 32 ? (n >= -(2 ** 31) && n < 2 ** 31 ? n : null) : Number.isSafeInteger(n) ? n : null;
}

function valueProblem(kind: Kind, value: string): string | null {
  switch (kind) {
    case 'bool':
      return /^(true|false)$/i.test(value) ? null : `'${value}' is not true or false`;
    case 'long':
      return /^[+-]?\d+$/.test(value) && BigInt.asIntN(64, BigInt(value)) === BigInt(value) ? null : `'${value}' is not a number`;
    case 'int':
      return parseInt32(value) === null ? `'${value}' is not a number` : null;
    case 'port':
      return portProblem(value);
    case 'text':
      return null;
  }
}

function portProblem(value: string): string | null {
  const n = parseInt32(value);
  if (n === null) return `'${value}' is not a number`;
  return n < 0 || n > 65535 ? `port ${n} is out of range (0-65535)` : null;
}

/** A note for a zoo.cfg key that ZooKeeper turned into system property zookeeper.<key>, or null if Paddock uses it. */
function unusedKeyNote(key: string, value: string): string | null {
  if (USED_PROPERTIES.has(key) || TLS_KEY.test(key) || key.startsWith('authProvider.')) return null;
  if (JVM_ONLY.test(key)) return `${key} has no effect in zoo.cfg (ZooKeeper reads it only as a JVM flag); use -D${key}=${value} in SERVER_JVMFLAGS`;
  if (key.startsWith('zookeeper.')) return `${key} becomes system property zookeeper.${key}, which nothing reads; write ${key.slice(10)}=${value}`;
  return `${key}=${value} is not a setting Paddock uses (ZooKeeper would set system property zookeeper.${key}); ignored`;
}

export function parseConfig(
  text: string,
  opts: { path: string | null; env?: NodeJS.ProcessEnv; readFile?: (p: string) => string },
): ServerConfig {
  const readFile = opts.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const cfg = new PropsFile(opts.path ?? 'built-in config', text);
  const ignored: string[] = [];
  let props: Map<string, SystemProperty>;
  try {
    props = jvmSystemProperties(opts.env ?? process.env);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  for (const old of cfg.overridden) {
    ignored.push(`${cfg.label} line ${old.line}: ${old.key} is set again on line ${cfg.entries.get(old.key)!.line}; the later value wins`);
  }

  const dynamicConfigFile = cfg.get('dynamicConfigFile');
  let quorumEntries: Entry[] = [];
  for (const e of cfg.entries.values()) {
    const kind = HONOURED[e.key] ?? UNSUPPORTED[e.key]?.[0] ?? (e.key.startsWith('metricsProvider.') ? 'text' : undefined);
    if (kind) {
      const problem = valueProblem(kind, e.value);
      if (problem) throw cfg.fail(e.key, problem);
      const normal = kind === 'bool' ? e.value.toLowerCase() : kind === 'int' ? String(parseInt32(e.value)) : e.value;
      if (!(e.key in HONOURED) && UNSUPPORTED[e.key]?.[1] !== normal) {
        ignored.push(`${cfg.where(e.key)}: ${e.key}=${e.value} is not supported yet; ignored`);
      }
    } else if (QUORUM_KEY.test(e.key) || (e.key === 'version' && dynamicConfigFile === undefined)) {
      if (dynamicConfigFile !== undefined) throw cfg.fail(e.key, 'must be in the dynamic config file, as dynamicConfigFile is set');
      quorumEntries.push(e);
    } else {
      // ZooKeeper sets these after the JVM started, so zoo.cfg wins over a -D flag of the same name.
      props.set(`zookeeper.${e.key}`, { value: e.value, from: `${cfg.where(e.key)} (${e.key})` });
      const note = unusedKeyNote(e.key, e.value);
      if (note) ignored.push(`${cfg.where(e.key)}: ${note}`);
    }
  }

  const num = (key: string, dflt: number): number => {
    const v = cfg.get(key);
    return v === undefined ? dflt : parseInt32(v)!;
  };
  const flag = (key: string, dflt: boolean): boolean => {
    const v = cfg.get(key);
    return v === undefined ? dflt : v.toLowerCase() === 'true';
  };

  // ZooKeeper refuses quorum SASL settings under which no learner could ever join.
  const sasl = (k: string) => flag(`quorum.auth.${k}`, false);
  for (const [k, needs] of [['serverRequireSasl', 'enableSasl'], ['learnerRequireSasl', 'enableSasl'], ['serverRequireSasl', 'learnerRequireSasl']]) {
    if (sasl(k) && !sasl(needs)) throw cfg.fail(`quorum.auth.${k}`, `needs quorum.auth.${needs}=true`);
  }
  if (num('electionAlg', 3) !== 3) throw cfg.fail('electionAlg', 'only 3 (fast leader election) is supported');
  const peerType = cfg.get('peerType')?.toLowerCase();
  if (peerType !== undefined && peerType !== 'participant' && peerType !== 'observer') {
    throw cfg.fail('peerType', `'${cfg.get('peerType')}' is not participant or observer`);
  }

  const dataDirValue = cfg.get('dataDir');
  if (!dataDirValue) throw cfg.fail('dataDir', dataDirValue === undefined ? 'not set' : 'empty');
  // Relative directories are taken from the working directory, as Java's File does.
  const dataDir = resolve(dataDirValue);
  const dataLogDir = cfg.get('dataLogDir') ? resolve(cfg.get('dataLogDir')!) : dataDir;

  let clientPort = num('clientPort', 0); // 0 means "not set" to ZooKeeper 3.8
  let clientPortAddress = cfg.get('clientPortAddress');
  if (clientPort === 0 && clientPortAddress !== undefined) throw cfg.fail('clientPortAddress', 'set, but clientPort is not');
  if (num('secureClientPort', 0) === 0 && cfg.get('secureClientPortAddress') !== undefined) {
    throw cfg.fail('secureClientPortAddress', 'set, but secureClientPort is not');
  }

  const tickTime = num('tickTime', 3000);
  if (tickTime <= 0) throw cfg.fail('tickTime', `${tickTime} is not a positive number of milliseconds`);
  // -1, like absence, asks for the default.
  const timeout = (key: string, dflt: number) => (num(key, -1) === -1 ? dflt : num(key, -1));
  const minSessionTimeout = timeout('minSessionTimeout', 2 * tickTime);
  const maxSessionTimeout = timeout('maxSessionTimeout', 20 * tickTime);
  if (minSessionTimeout > maxSessionTimeout) {
    const key = cfg.get('minSessionTimeout') !== undefined ? 'minSessionTimeout' : 'maxSessionTimeout';
    throw cfg.fail(key, `minSessionTimeout ${minSessionTimeout} ms is larger than maxSessionTimeout ${maxSessionTimeout} ms`);
  }
  let autopurgeSnapRetainCount = num('autopurge.snapRetainCount', 3);
  if (autopurgeSnapRetainCount < 3) {
    ignored.push(`${cfg.where('autopurge.snapRetainCount')}: autopurge.snapRetainCount=${autopurgeSnapRetainCount} is below 3; using 3, as ZooKeeper does`);
    autopurgeSnapRetainCount = 3;
  }

  // System properties. Where ZooKeeper reads a number with Integer.getInteger it silently
  // falls back to the default on a bad value; Paddock does the same, but says so.
  const prop = (name: string) => props.get(name)?.value;
  const propInt = (name: string, dflt: number, bits: 32 | 64 = 32): number => {
    const p = props.get(name);
    const n = p === undefined ? dflt : decodeJavaInt(p.value, bits);
    if (n === null) ignored.push(`${p!.from}: ${name}='${p!.value}' is not a number; using ${dflt}, as ZooKeeper does`);
    return n ?? dflt;
  };
  // Paddock's own settings: a value it cannot use stops start-up (a log level silently ignored hides the very lines wanted).
  const choice = <T>(name: string, parse: (s: string) => T | null, names: readonly string[]): T | null => {
    const p = props.get(`zookeeper.${name}`);
    if (p === undefined) return null;
    const value = parse(p.value);
    if (value === null) throw new ConfigError(`${p.from}: ${name}='${p.value}' is not one of ${names.join(', ')}`, name);
    return value;
  };
  const logLevel = choice('paddock.logLevel', parseLevel, LEVELS);
  const logFormat = choice('paddock.logFormat', parseFormat, FORMATS);
  const extendedTypesEnabled = prop('zookeeper.extendedTypesEnabled')?.toLowerCase() === 'true';
  const readOnlyModeEnabled = prop('readonlymode.enabled')?.toLowerCase() === 'true';
  let clientAuth: ClientAuthConfig;
  try {
    clientAuth = clientAuthConfig(props, readFile, ignored);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }

  // The quorum: server lines, inline or (with dynamicConfigFile) in their own file.
  let quorumFile = cfg;
  if (dynamicConfigFile !== undefined) {
    quorumFile = readDynamicFile(cfg, resolve(dynamicConfigFile), readFile);
    quorumEntries = [...quorumFile.entries.values()];
  }
  // Only the JVM flag enables several addresses per server: zoo.cfg's multiAddress.enabled does not, in 3.8.
  const multiAddress = prop('zookeeper.multiAddress.enabled')?.toLowerCase() === 'true';
  const { servers, groups, weights, keyOf } = parseQuorum(quorumFile, quorumEntries, multiAddress, ignored);
  const standaloneEnabled = flag('standaloneEnabled', true);
  const voters = servers.filter((s) => !s.observer).length;
  const observer = servers.find((s) => s.observer);
  if (voters === 0 && !standaloneEnabled) throw cfg.fail('standaloneEnabled', 'false needs at least one participant server.N line');
  if (observer && voters < 2 && standaloneEnabled) {
    throw quorumFile.fail(keyOf(observer.id), 'observers need a quorum: at least 2 participants, or standaloneEnabled=false');
  }
  const standalone = servers.length === 0 || (standaloneEnabled && voters < 2);
  if (standalone && servers.length > 0) {
    ignored.push(`${quorumFile.where(keyOf(servers[0].id))}: a single server line runs standalone (set standaloneEnabled=false for a quorum of one)`);
  }

  let quorumAuth: QuorumAuthConfig | null = null;
  try {
    if (!standalone) quorumAuth = quorumAuthConfig(cfg, props, readFile, ignored);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }

  const myidPath = join(dataDir, 'myid');
  const myid = servers.length > 0 ? readMyid(myidPath, readFile) : null;
  const own = servers.find((s) => s.id === myid);
  if (!standalone) {
    for (const key of ['initLimit', 'syncLimit']) {
      if (num(key, 0) === 0) throw cfg.fail(key, 'must be set (and not 0) to run a quorum');
    }
    if (myid === null) throw new ConfigError(`${myidPath}: myid: missing; each quorum member needs its server id there`, 'myid');
    if (!own) throw new ConfigError(`${myidPath} line 1: myid: ${myid} has no server.${myid} line`, 'myid', 1);
    // TTL and container node ids keep the server id in one byte with 0xff reserved.
    if (extendedTypesEnabled && myid > 254) {
      throw new ConfigError(`${myidPath} line 1: myid: ${myid} is above 254, the limit with extendedTypesEnabled`, 'myid', 1);
    }
  }
  if (own && peerType !== undefined && peerType !== (own.observer ? 'observer' : 'participant')) {
    ignored.push(`${cfg.where('peerType')}: peerType=${peerType} disagrees with ${keyOf(own.id)}; the server line wins, as in ZooKeeper`);
  }
  // This server's own line may give its client address; a static one must then agree with it.
  if (own?.clientPort !== undefined) {
    const staticHost = clientPortAddress ?? '0.0.0.0';
    if (clientPort !== 0 && (clientPort !== own.clientPort || (!WILDCARD.test(staticHost) && staticHost !== own.clientHost))) {
      throw cfg.fail(
        cfg.get('clientPortAddress') !== undefined ? 'clientPortAddress' : 'clientPort',
        `${staticHost}:${clientPort} differs from ${own.clientHost}:${own.clientPort} on ${keyOf(own.id)}`,
      );
    }
    clientPort = own.clientPort;
    clientPortAddress = own.clientHost;
  }
  // ZooKeeper would start without a client port and serve nobody; that is never what was meant.
  if (clientPort === 0) {
    throw cfg.fail('clientPort', own ? `not set, and ${keyOf(own.id)} has no ;clientPort either` : 'not set');
  }

  const whitelist = prop('zookeeper.4lw.commands.whitelist');
  const admin: AdminConfig = {
    enabled: (prop('zookeeper.admin.enableServer') ?? 'true').toLowerCase() === 'true',
    address: prop('zookeeper.admin.serverAddress') ?? '0.0.0.0',
    port: propInt('zookeeper.admin.serverPort', 8080),
    commandUrl: prop('zookeeper.admin.commandURL') ?? '/commands',
    idleTimeoutMs: propInt('zookeeper.admin.idleTimeout', 30_000),
    backupEnabled: (prop('zookeeper.admin.backup.enabled') ?? 'false').toLowerCase() === 'true',
  };
  const metricsProvider = cfg.get('metricsProvider.className') ?? DEFAULT_METRICS_PROVIDER;
  const prometheus: PrometheusConfig | null =
    metricsProvider === PROMETHEUS_METRICS_PROVIDER
      ? {
          host: cfg.get('metricsProvider.httpHost') ?? '0.0.0.0',
          port: num('metricsProvider.httpPort', 7000),
          exportJvmInfo: (cfg.get('metricsProvider.exportJvmInfo') ?? 'true').toLowerCase() === 'true',
        }
      : null;
  if (metricsProvider !== DEFAULT_METRICS_PROVIDER && !prometheus) {
    ignored.push(`${cfg.where('metricsProvider.className')}: metricsProvider.className=${metricsProvider} is not a provider Paddock has (it has ${PROMETHEUS_METRICS_PROVIDER}); mntr only`);
  }
  for (const key of ['metricsProvider.httpHost', 'metricsProvider.httpPort', 'metricsProvider.exportJvmInfo']) {
    if (!prometheus && cfg.get(key) !== undefined) ignored.push(`${cfg.where(key)}: ${key} is read only by ${PROMETHEUS_METRICS_PROVIDER}; ignored`);
  }
  return {
    configPath: opts.path === null ? null : resolve(opts.path),
    initialConfig: text,
    tickTime,
    initLimit: cfg.get('initLimit') === undefined ? null : num('initLimit', 0),
    syncLimit: cfg.get('syncLimit') === undefined ? null : num('syncLimit', 0),
    dataDir,
    dataLogDir,
    clientPort,
    clientPortAddress: clientPortAddress ?? '0.0.0.0',
    secureClientPort: num('secureClientPort', 0),
    secureClientPortAddress: cfg.get('secureClientPortAddress') ?? '0.0.0.0',
    maxClientCnxns: num('maxClientCnxns', 60),
    maxCnxns: propInt('zookeeper.maxCnxns', 0),
    minSessionTimeout,
    maxSessionTimeout,
    servers,
    groups,
    weights,
    myid,
    standalone,
    fourLetterWords: fourLetterWords(whitelist, readOnlyModeEnabled),
    // SyncRequestProcessor needs at least 2; ZooKeeper raises smaller values to it.
    snapCount: Math.max(2, propInt('zookeeper.snapCount', 100_000)),
    preAllocSizeKb: propInt('zookeeper.preAllocSize', 65_536, 64),
    forceSync: prop('zookeeper.forceSync') !== 'no',
    autopurgeSnapRetainCount,
    autopurgePurgeIntervalHours: num('autopurge.purgeInterval', 0),
    globalOutstandingLimit: propInt('zookeeper.globalOutstandingLimit', 1000),
    maxBuffer: propInt('jute.maxbuffer', 0xfffff),
    extendedTypesEnabled,
    reconfigEnabled: flag('reconfigEnabled', false),
    superDigest: prop('zookeeper.DigestAuthenticationProvider.superDigest') ?? null,
    localSessionsEnabled: flag('localSessionsEnabled', false),
    localSessionsUpgradingEnabled: flag('localSessionsUpgradingEnabled', false),
    readOnlyModeEnabled,
    skipACL: prop('zookeeper.skipACL') === 'yes',
    clientAuth,
    quorumAuth,
    containerCheckIntervalMs: propInt('znode.container.checkIntervalMs', 60_000),
    containerMaxPerMinute: propInt('znode.container.maxPerMinute', 10_000),
    containerMaxNeverUsedIntervalMs: propInt('znode.container.maxNeverUsedIntervalMs', 0, 64),
    admin,
    prometheus,
    logLevel,
    logFormat,
    testPerturbDigest: prop('zookeeper.paddock.test.perturbDigest') === 'true',
    sslQuorum: flag('sslQuorum', false),
    portUnification: flag('portUnification', false),
    sslQuorumReloadCertFiles: flag('sslQuorumReloadCertFiles', false),
    properties: new Map([...props].map(([name, p]) => [name, p.value])),
    ignored,
  };
}

function fourLetterWords(list: string | undefined, readOnly: boolean): Set<string> | 'all' {
  const words = (list ?? '').split(',').map((w) => w.trim()).filter(Boolean);
  if (words.includes('*')) return 'all';
  // ZooKeeper always allows srvr (zkServer.sh status uses it), and isro in read-only mode.
  return new Set([...words, 'srvr', ...(readOnly ? ['isro'] : [])]);
}

function readDynamicFile(cfg: PropsFile, path: string, readFile: (p: string) => string): PropsFile {
  let text: string;
  try {
    text = readFile(path);
  } catch (err) {
    throw cfg.fail('dynamicConfigFile', `cannot read ${path}: ${(err as Error).message}`);
  }
  const dyn = new PropsFile(path, text);
  for (const key of dyn.entries.keys()) {
    if (key === 'version') throw dyn.fail(key, 'not allowed here; ZooKeeper takes the version from the file name (zoo.cfg.dynamic.<hex>)');
    if (!QUORUM_KEY.test(key)) throw dyn.fail(key, 'only server.N, group.N and weight.N lines belong in a dynamic config file');
  }
  return dyn;
}

function parseId(f: PropsFile, key: string, s: string): number {
  if (!/^\+?\d+$/.test(s) || !Number.isSafeInteger(Number(s))) throw f.fail(key, `'${s}' is not an id (a whole number)`);
  return Number(s);
}

/** server.N lines, and the group.G / weight.N lines of hierarchical quorums, which are checked but not used. */
function parseQuorum(f: PropsFile, entries: Entry[], multiAddress: boolean, ignored: string[]) {
  const servers = new Map<number, PeerAddress>();
  const keys = new Map<number, string>();
  const groupOf = new Map<number, string>();
  const groups = new Map<number, number[]>();
  const weights = new Map<number, number>();
  let hierarchical = false;
  for (const e of entries) {
    if (e.key.startsWith('server.')) {
      const id = parseId(f, e.key, e.key.slice('server.'.length));
      if (servers.has(id)) throw f.fail(e.key, `server id ${id} is already given by ${keys.get(id)}`);
      servers.set(id, parsePeer(f, e, id, multiAddress, ignored));
      keys.set(id, e.key);
    } else if (e.key === 'version') {
      if (!/^[+-]?[\da-f]+$/i.test(e.value)) throw f.fail(e.key, `'${e.value}' is not a hexadecimal number`);
    } else {
      hierarchical = true;
      // Like ZooKeeper: the id follows the first dot; a key without one (groupX) is its own, invalid, id.
      const id = parseId(f, e.key, e.key.slice(e.key.indexOf('.') + 1));
      if (e.key.startsWith('weight')) {
        if (!/^[+-]?\d+$/.test(e.value) || !Number.isSafeInteger(Number(e.value))) throw f.fail(e.key, `'${e.value}' is not a number`);
        weights.set(id, Number(e.value));
        continue;
      }
      const members: number[] = [];
      for (const member of javaSplit(e.value, ':')) {
        const sid = parseId(f, e.key, member);
        if (groupOf.has(sid)) throw f.fail(e.key, `server ${sid} is also in ${groupOf.get(sid)}`);
        groupOf.set(sid, e.key);
        members.push(sid);
      }
      groups.set(id, members);
    }
  }
  if (hierarchical) {
    for (const [id, s] of servers) {
      if (!s.observer && !groupOf.has(id)) throw f.fail(keys.get(id)!, `server ${id} is in no group`);
    }
  }
  return {
    servers: [...servers.values()].sort((a, b) => a.id - b.id),
    groups,
    weights,
    keyOf: (id: number) => keys.get(id)!,
  };
}

function parsePeer(f: PropsFile, e: Entry, id: number, multiAddress: boolean, ignored: string[]): PeerAddress {
  const bad = (detail = `'${e.value}' is not ${SERVER_FORMAT}`) => f.fail(e.key, detail);
  const port = (s: string, what: string) => {
    const problem = portProblem(s);
    if (problem) throw bad(`${what}: ${problem}`);
    return Number(s);
  };
  const [serverPart, clientPart, ...extra] = javaSplit(e.value, ';');
  if (extra.length > 0) throw bad();
  const addresses = javaSplit(serverPart, '|').map((address) => {
    const [host, quorum, election, role, ...rest] = hostAndPort(address, bad);
    if (election === undefined || rest.length > 0) throw bad();
    const quorumPort = port(quorum, 'quorum port');
    const electionPort = port(election, 'election port');
    if (quorumPort === electionPort) throw bad(`quorum and election port must differ (both are ${quorumPort})`);
    const type = role?.trim().toLowerCase();
    if (type !== undefined && type !== 'participant' && type !== 'observer') throw bad(`'${role}' is not participant or observer`);
    return { host, quorumPort, electionPort, type };
  });
  if (addresses.length > 1) {
    if (!multiAddress) throw bad('several |-separated addresses need -Dzookeeper.multiAddress.enabled=true');
    ignored.push(`${f.where(e.key)}: ${e.key} has ${addresses.length} addresses; Paddock uses only the first`);
  }
  const types = new Set(addresses.map((a) => a.type).filter((t) => t !== undefined));
  if (types.size > 1) throw bad('all addresses of a server must have the same role');
  const { host, quorumPort, electionPort } = addresses[0];
  const peer: PeerAddress = { id, host, quorumPort, electionPort, observer: types.has('observer') };
  if (clientPart !== undefined) {
    const parts = hostAndPort(clientPart, bad);
    if (parts.length > 2) throw bad();
    peer.clientHost = parts.length === 2 ? parts[0] : '0.0.0.0';
    peer.clientPort = port(parts[parts.length - 1], 'client port');
  }
  return peer;
}

/** Split host:port:...; an IPv6 host is written in brackets: [::1]:2888:3888. */
function hostAndPort(s: string, bad: (detail?: string) => ConfigError): string[] {
  if (!s.startsWith('[')) return javaSplit(s, ':');
  const end = s.indexOf(']');
  if (end < 0 || end + 2 === s.length) throw bad(`'${s}' is not [IPv6 address]:port`);
  return [s.slice(1, end), ...(end + 2 < s.length ? javaSplit(s.slice(end + 2), ':') : [])];
}

/** <dataDir>/myid: the first line is the server id. Absent (or not a file) gives null. */
function readMyid(path: string, readFile: (p: string) => string): number | null {
  let text: string;
  try {
    text = readFile(path);
  } catch (err) {
    if (['ENOENT', 'EISDIR', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '')) return null;
    throw new ConfigError(`${path}: myid: cannot read: ${(err as Error).message}`, 'myid');
  }
  // Like ZooKeeper's Long.parseLong, no blanks around the number are allowed.
  const first = text.split(/\r\n|\r|\n/)[0];
  if (!/^\+?\d+$/.test(first) || !Number.isSafeInteger(Number(first))) {
    throw new ConfigError(`${path} line 1: myid: '${first}' is not a server id (a whole number)`, 'myid', 1);
  }
  return Number(first);
}

// Used without a zoo.cfg: a development server on loopback (the AdminServer too) with every four-letter word on.
const BUILT_IN = `
tickTime=2000
dataDir=data
clientPort=2181
clientPortAddress=127.0.0.1
admin.serverAddress=127.0.0.1
4lw.commands.whitelist=*
`;

export function loadConfig(path: string | null, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  if (path === null) return parseConfig(BUILT_IN, { path: null, env });
  let text: string;
  try {
    // ZooKeeper reads zoo.cfg as ISO-8859-1; UTF-8 lets non-ASCII paths work.
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${path}: cannot read: ${(err as Error).message}`);
  }
  return parseConfig(text, { path, env });
}

/** The data directories' settings, as the server and an ensemble member open them. */
export function dataDirOptions(config: ServerConfig): DataDirOptions {
  return {
    dataDir: config.dataDir,
    dataLogDir: config.dataLogDir,
    snapCount: config.snapCount,
    preAllocSizeKb: config.preAllocSizeKb,
    forceSync: config.forceSync,
    snapRetainCount: config.autopurgeSnapRetainCount,
  };
}
