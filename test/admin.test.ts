// The AdminServer against ZooKeeper 3.8's (Jetty, from Debian's package):
// a standalone ZooKeeper and a standalone Paddock take the same workload, then
// every command of 3.8 is fetched from both, by its name and by each alias;
// the JSON key sets must agree (the differences Paddock keeps are listed
// below, each with its reason) and so must the values the workload fixes.
// Then an ensemble of each kind (three participants and an observer) for
// leader, voting_view, zabstate and observers.

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { CreateMode, ZooKeeperClient } from '../src/client/index.ts';
import { parseConfig } from '../src/config/config.ts';
import { PADDOCK_MNTR_KEYS } from '../src/server/inspect.ts';
import { TestEnsemble, type ServerKind } from './support/ensemble.ts';
import { httpGet } from './support/http.ts';
import { freePort, startServer, type RunningServer } from './support/servers.ts';

/** ZooKeeper 3.8's Commands: primary name, then aliases. */
const COMMANDS: string[][] = [
  ['connection_stat_reset', 'crst'], ['configuration', 'conf', 'config'], ['connections', 'cons'], ['hash'], ['dirs'], ['dump'],
  ['environment', 'env', 'envi'], ['get_trace_mask', 'gtmk'], ['initial_configuration', 'icfg'], ['is_read_only', 'isro'],
  ['last_snapshot', 'lsnp'], ['leader', 'lead'], ['monitor', 'mntr'], ['observer_connection_stat_reset', 'orst'], ['ruok'],
  ['set_trace_mask', 'stmk'], ['server_stats', 'srvr'], ['stats', 'stat'], ['stat_reset', 'srst'], ['observers', 'obsr'],
  ['system_properties', 'sysp'], ['voting_view'], ['watches', 'wchc'], ['watches_by_path', 'wchp'], ['watch_summary', 'wchs'], ['zabstate'],
];

/** Fields whose keys are data (session ids, paths, times, server ids), not names: their keys count as one, `*`. */
const DATA_KEYED = new Set(['expiry_time_to_session_ids', 'session_id_to_ephemeral_paths', 'session_id_to_watched_paths', 'path_to_session_ids', 'current_config']);

/** Key paths ZooKeeper 3.8 prints that Paddock leaves out, and why. */
const ZOOKEEPER_ONLY: Record<string, string> = {
  // 3.8.0's zabstate hands Jackson its MultipleAddresses objects, which it dumps getter by getter
  ...Object.fromEntries(
    ['quorum_address', 'election_address'].flatMap((a) =>
      ['', '.empty', '.all_addresses', '.all_reachable_addresses', '.one', '.reachable_address', '.wildcard_addresses', '.all_ports', '.all_host_strings', '.all_reachable_addresses_or_all', '.reachable_or_one'].map((k) => [`${a}${k}`, 'a Java object dump, not a format']),
    ),
  ),
};
/** Key paths only Paddock prints. */
const PADDOCK_ONLY = new Set(['paddock.version', 'node.version']);
/** Commands whose keys are the runtime's own, not a format: only the envelope is compared. */
const RUNTIME_KEYED = new Set(['system_properties', 'monitor']);

/** Every key path of a reply: "a.b" for nested objects, "a[].b" for the objects of a list. */
function keyPaths(value: unknown, prefix = '', out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) {
    for (const v of value) keyPaths(v, `${prefix}[]`, out);
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const path = prefix ? `${prefix}.${k}` : k;
      out.add(path);
      if (DATA_KEYED.has(k)) {
        for (const inner of Object.values(v as object)) keyPaths(inner, `${path}.*`, out);
        if (Object.keys(v as object).length > 0) out.add(`${path}.*`);
      } else keyPaths(v, path, out);
    }
  }
  return out;
}

async function command(port: number, name: string, query = ''): Promise<Record<string, any>> {
  const r = await httpGet(`http://127.0.0.1:${port}/commands/${name}${query}`);
  assert.equal(r.status, 200, `${name}: HTTP ${r.status} ${r.body}`);
  assert.match(r.type, /^application\/json/);
  return JSON.parse(r.body);
}

/** The JSON type of each leaf (and list) at its key path; lists of leaves by their items' type. */
function leafTypes(value: unknown, prefix = '', out = new Map<string, string>()): Map<string, string> {
  if (Array.isArray(value)) {
    if (value.length > 0 && value.every((v) => v === null || typeof v !== 'object')) out.set(prefix, `list of ${typeof value[0]}`);
    for (const v of value) leafTypes(v, `${prefix}[]`, out);
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const path = prefix ? `${prefix}.${k}` : k;
      if (DATA_KEYED.has(k)) for (const inner of Object.values(v as object)) leafTypes(inner, `${path}.*`, out);
      else leafTypes(v, path, out);
    }
  } else out.set(prefix, value === null ? 'null' : typeof value);
  return out;
}

/** The same key paths (but for the listed differences), and the same JSON types where both have a value. */
function assertSameKeys(name: string, zk: object, pd: object): void {
  const z = keyPaths(zk);
  const p = keyPaths(pd);
  const missing = [...z].filter((k) => !p.has(k) && !(k in ZOOKEEPER_ONLY));
  const extra = [...p].filter((k) => !z.has(k) && !PADDOCK_ONLY.has(k));
  assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, `${name}: key sets differ`);
  const zt = leafTypes(zk);
  const differing = [...leafTypes(pd)].filter(([k, t]) => zt.has(k) && zt.get(k) !== t && k !== 'error').map(([k, t]) => `${k}: ${t}, ZooKeeper ${zt.get(k)}`);
  assert.deepEqual(differing, [], `${name}: JSON types differ`);
}

interface Admin {
  server: RunningServer;
  adminPort: number;
}

async function startWithAdmin(kind: ServerKind): Promise<Admin> {
  const adminPort = await freePort();
  const server = await startServer(kind, { cfg: { 'admin.enableServer': 'true', 'admin.serverAddress': '127.0.0.1', 'admin.serverPort': adminPort } });
  return { server, adminPort };
}

/** The workload: 130 nodes (past zxid 128, where the digest log takes its first entry), an ephemeral, data and exist watches. */
async function workload(connectString: string): Promise<ZooKeeperClient> {
  const c = await ZooKeeperClient.connect(connectString);
  await c.create('/a', 'x');
  for (let i = 0; i < 128; i++) await c.create(`/a/n${i}`);
  await c.create('/e', '', { mode: CreateMode.ephemeral });
  await c.getData('/a', true);
  await c.exists('/nope', true);
  return c;
}

describe('AdminServer: every ZooKeeper 3.8 command, standalone, side by side with ZooKeeper', () => {
  const side: Partial<Record<ServerKind, Admin & { client: ZooKeeperClient; replies: Map<string, Record<string, any>> }>> = {};

  before(async () => {
    for (const kind of ['zookeeper', 'paddock'] as const) {
      const admin = await startWithAdmin(kind);
      const client = await workload(admin.server.connectString);
      const replies = new Map<string, Record<string, any>>();
      // the resets last: they would zero what the others report
      const order = COMMANDS.map(([n]) => n!).sort((a, b) => Number(a.includes('reset')) - Number(b.includes('reset')));
      for (const name of order) replies.set(name, await command(admin.adminPort, name));
      side[kind] = { ...admin, client, replies };
    }
  });

  after(async () => {
    for (const s of Object.values(side)) {
      await s.client.close();
      await s.server.stop();
    }
  });

  const zk = () => side.zookeeper!;
  const pd = () => side.paddock!;

  test('the command URL lists the same commands', async () => {
    const list = async (port: number) => {
      const r = await httpGet(`http://127.0.0.1:${port}/commands`);
      assert.equal(r.status, 200);
      return [...r.body.matchAll(/<a href="\/commands\/([a-z_]+)">\1<\/a>/g)].map((m) => m[1]).sort();
    };
    const expected = COMMANDS.map(([n]) => n).sort();
    assert.deepEqual(await list(zk().adminPort), expected);
    assert.deepEqual(await list(pd().adminPort), expected);
  });

  for (const [name] of COMMANDS) {
    test(`${name}: the same fields, in the command/error envelope`, () => {
      const z = zk().replies.get(name!)!;
      const p = pd().replies.get(name!)!;
      assert.equal(p.command, name);
      assert.equal(z.command, name);
      assert.equal(p.error, z.error, 'error');
      if (RUNTIME_KEYED.has(name!)) assertSameKeys(name!, { command: z.command, error: z.error }, { command: p.command, error: p.error });
      else assertSameKeys(name!, z, p);
    });
  }

  test('every alias answers as its command', async () => {
    for (const [primary, ...aliases] of COMMANDS) {
      for (const alias of aliases) {
        for (const s of [zk(), pd()]) assert.equal((await command(s.adminPort, alias)).command, primary, `${s.server.kind} ${alias}`);
      }
    }
  });

  test('values the workload fixes agree', () => {
    const both = (name: string, pick: (r: Record<string, any>) => unknown) => assert.deepEqual(pick(pd().replies.get(name)!), pick(zk().replies.get(name)!), name);
    both('ruok', (r) => r);
    both('is_read_only', (r) => r.read_only);
    both('get_trace_mask', (r) => r.tracemask);
    both('leader', (r) => r.error);
    both('zabstate', (r) => [r.voting, r.zabstate]);
    both('voting_view', (r) => r.current_config);
    both('observers', (r) => [r.synced_observers, r.observers]);
    both('server_stats', (r) => [r.node_count, r.read_only, r.server_stats.server_state, r.server_stats.last_processed_zxid]);
    both('server_stats', (r) => [r.client_response.min_buffer_size, r.client_response.max_buffer_size]);
    both('watch_summary', (r) => [r.num_connections, r.num_paths, r.num_total_watches]);
    both('watches_by_path', (r) => Object.keys(r.path_to_session_ids).sort());
    both('watches', (r) => Object.values(r.session_id_to_watched_paths).map((paths: any) => [...paths].sort()));
    both('dump', (r) => Object.values(r.session_id_to_ephemeral_paths));
    both('hash', (r) => r.digests.map((d: { zxid: number }) => d.zxid));
    both('connections', (r) => r.connections.length);
    both('configuration', (r) => [r.tick_time, r.max_client_cnxns, r.min_session_timeout, r.max_session_timeout, r.server_id]);
    both('system_properties', (r) => [r['zookeeper.admin.serverAddress'], r['zookeeper.4lw.commands.whitelist']]);
    for (const k of ['znode_count', 'watch_count', 'ephemerals_count', 'approximate_data_size', 'global_sessions', 'server_state', 'num_alive_connections']) {
      both('monitor', (r) => r[k]);
    }
    assert.equal(pd().replies.get('hash')!.digests.length, 1);
    assert.equal(pd().replies.get('initial_configuration')!.initial_configuration.includes(`admin.serverPort=${pd().adminPort}`), true);
  });

  test("monitor: every key Paddock prints is one of ZooKeeper's (or Paddock's own back-pressure pair)", () => {
    const z = zk().replies.get('monitor')!;
    const own = new Set([...PADDOCK_MNTR_KEYS].map((k) => k.replace(/^zk_/, '')));
    for (const [k, v] of Object.entries(pd().replies.get('monitor')!)) {
      assert.ok(k in z || own.has(k), `ZooKeeper's monitor has no ${k}`);
      if (k in z) assert.equal(typeof v, typeof z[k], `${k}: ${v} is not of the type of ZooKeeper's ${z[k]}`);
    }
    for (const k of ['avg_readlatency', 'p99_readlatency', 'cnt_updatelatency', 'avg_fsynctime', 'cnt_snapshottime']) {
      assert.ok(k in pd().replies.get('monitor')!, `monitor lacks ${k}`);
    }
    assert.ok(pd().replies.get('monitor')!.cnt_updatelatency >= 130, 'every create counted');
  });

  test('bad requests: an unknown command, a wrong method, a bad argument', async () => {
    for (const s of [zk(), pd()]) {
      assert.deepEqual(await command(s.adminPort, 'nosuch'), { command: 'nosuch', error: 'Unknown command: nosuch' });
      const post = await httpGet(`http://127.0.0.1:${s.adminPort}/commands/ruok`, 'POST');
      assert.equal(post.status, 405, s.server.kind);
      const noArg = await command(s.adminPort, 'set_trace_mask');
      assert.equal(noArg.error, 'setTraceMask requires long traceMask argument');
      const badArg = await command(s.adminPort, 'set_trace_mask', '?traceMask=x');
      assert.equal(badArg.error, 'setTraceMask requires long traceMask argument, got x');
    }
    const post = await httpGet(`http://127.0.0.1:${pd().adminPort}/commands/ruok`, 'POST');
    assert.deepEqual(JSON.parse(post.body), { command: 'ruok', error: 'HTTP method POST is not supported by this URL' });
    // and the server still serves
    assert.equal((await command(pd().adminPort, 'ruok')).error, null);
  });
});

describe('AdminServer: leader, voting_view, zabstate and observers of an ensemble, side by side with ZooKeeper', () => {
  const views: Partial<Record<ServerKind, { leader: number; replies: Map<number, Map<string, Record<string, any>>> }>> = {};

  before(async () => {
    for (const kind of ['zookeeper', 'paddock'] as const) {
      const ports = new Map<number, number>();
      for (const id of [1, 2, 3, 4]) ports.set(id, await freePort());
      const ens = await TestEnsemble.create(
        `admin-${kind}`,
        [1, 2, 3, 4].map((id) => ({ id, kind, observer: id === 4, jvmFlags: [`-Dzookeeper.admin.serverPort=${ports.get(id)}`] })),
        { tickTime: 300, waitMs: 60_000, cfg: { 'admin.enableServer': 'true', 'admin.serverAddress': '127.0.0.1' } },
      );
      try {
        const { leader } = await ens.startAll();
        const c = await ens.connect(leader);
        await c.create('/w', 'x');
        await c.close();
        const viaObserver = await ens.connect(4); // a write the observer forwards: a REQUEST on its connection
        await viaObserver.create('/o', 'x');
        await viaObserver.close();
        const replies = new Map<number, Map<string, Record<string, any>>>();
        for (const id of [1, 2, 3, 4]) {
          const own = new Map<string, Record<string, any>>();
          for (const name of ['leader', 'voting_view', 'zabstate', 'observers']) own.set(name, await command(ports.get(id)!, name));
          replies.set(id, own);
        }
        const atLeader = replies.get(leader)!;
        atLeader.set('observer_connection_stat_reset', await command(ports.get(leader)!, 'observer_connection_stat_reset'));
        atLeader.set('observers after reset', await command(ports.get(leader)!, 'observers'));
        views[kind] = { leader, replies };
      } finally {
        await ens.close();
      }
    }
  });

  test('the same fields on each role', () => {
    const zk = views.zookeeper!;
    const pd = views.paddock!;
    const roleOf = (v: typeof zk, id: number) => (id === v.leader ? 'leader' : id === 4 ? 'observer' : 'follower');
    for (const role of ['leader', 'follower', 'observer']) {
      const z = [1, 2, 3, 4].find((id) => roleOf(zk, id) === role)!;
      const p = [1, 2, 3, 4].find((id) => roleOf(pd, id) === role)!;
      for (const name of ['leader', 'voting_view', 'zabstate', 'observers']) {
        const zr = zk.replies.get(z)!.get(name)!;
        const pr = pd.replies.get(p)!.get(name)!;
        assert.equal(pr.error, null, `${role} ${name}: ${pr.error}`);
        assertSameKeys(`${role} ${name}`, zr, pr);
      }
    }
  });

  test('values: who leads, the voting members, the Zab phase, the synced observer', () => {
    for (const [kind, v] of Object.entries(views)) {
      for (const [id, r] of v.replies) {
        const is = `${kind} member ${id}`;
        assert.deepEqual(r.get('leader'), { is_leader: id === v.leader, leader_id: v.leader, leader_ip: '127.0.0.1', command: 'leader', error: null }, is);
        const view = r.get('voting_view')!.current_config;
        assert.deepEqual(Object.keys(view), ['1', '2', '3'], is);
        for (const s of Object.values(view) as Record<string, unknown>[]) {
          assert.equal(s.learner_type, 'participant', is);
          assert.match((s.server_addresses as string[])[0]!, /^127\.0\.0\.1:\d+$/, is);
          assert.match((s.election_addresses as string[])[0]!, /^127\.0\.0\.1:\d+$/, is);
          assert.equal(typeof s.client_address, 'string', is);
        }
        assert.deepEqual([r.get('zabstate')!.voting, r.get('zabstate')!.zabstate], [id !== 4, 'broadcast'], is);
        const obs = r.get('observers')!;
        if (id === v.leader) {
          assert.equal(obs.synced_observers, 1, is);
          assert.equal(obs.observers[0].sid, 4, is);
          assert.match(obs.observers[0].remote_socket_address, /^\/127\.0\.0\.1:\d+$/, is);
          const [before, after] = [obs.observers[0], r.get('observers after reset')!.observers[0]];
          assert.ok(Math.abs(before.established - Date.now()) < 10 * 60_000, `${is}: established ${before.established} (ms)`);
          assert.ok(before.packets_sent > 0 && before.packets_received > 0 && before.requests >= 1, `${is}: ${JSON.stringify(before)}`);
          assert.equal(r.get('observer_connection_stat_reset')!.error, null, is);
          assert.ok(after.requests === 0 && after.packets_received < before.packets_received && after.established === before.established, `${is} after orst: ${JSON.stringify(after)}`);
        } else assert.deepEqual([obs.synced_observers, obs.observers], [0, []], is);
      }
    }
  });
});

describe('AdminServer settings', () => {
  const parse = (text: string, env: NodeJS.ProcessEnv = {}) => parseConfig(`dataDir=/var/paddock\nclientPort=2181\n${text}`, { path: 'zoo.cfg', env });

  test("ZooKeeper's defaults; zoo.cfg's admin.* keys and -Dzookeeper.admin.* flags set them, zoo.cfg winning", () => {
    assert.deepEqual(parse('').admin, { enabled: true, address: '0.0.0.0', port: 8080, commandUrl: '/commands', idleTimeoutMs: 30000, backupEnabled: false });
    const cfg = parse('admin.serverAddress=127.0.0.1\nadmin.serverPort=9090\nadmin.commandURL=/cmd\nadmin.idleTimeout=5000\n', {
      SERVER_JVMFLAGS: '-Dzookeeper.admin.serverPort=9999 -Dzookeeper.admin.enableServer=FALSE',
    });
    assert.deepEqual(cfg.admin, { enabled: false, address: '127.0.0.1', port: 9090, commandUrl: '/cmd', idleTimeoutMs: 5000, backupEnabled: false });
    assert.deepEqual(cfg.ignored, []);
    // Paddock's own backup command (src/backup), off unless asked for
    const backup = parse('admin.backup.enabled=true\n');
    assert.equal(backup.admin.backupEnabled, true);
    assert.deepEqual(backup.ignored, []);
  });

  test('a port that is not a number falls back to 8080, as ZooKeeper does, and says so', () => {
    const cfg = parse('admin.serverPort=eighty\n');
    assert.equal(cfg.admin.port, 8080);
    assert.deepEqual(cfg.ignored, ["zoo.cfg line 3 (admin.serverPort): zookeeper.admin.serverPort='eighty' is not a number; using 8080, as ZooKeeper does"]);
  });

  test('a port it cannot take is logged; the server serves clients without it', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const taken = (holder.address() as net.AddressInfo).port;
    const server = await startServer('paddock', { cfg: { 'admin.enableServer': 'true', 'admin.serverAddress': '127.0.0.1', 'admin.serverPort': taken } });
    try {
      assert.match(server.output(), new RegExp(`AdminServer not started on 127\\.0\\.0\\.1:${taken}: .*EADDRINUSE`));
      const c = await ZooKeeperClient.connect(server.connectString);
      assert.equal(await c.create('/ok'), '/ok');
      await c.close();
    } finally {
      await server.stop();
      holder.close();
    }
  });
});
