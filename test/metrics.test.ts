// The Prometheus endpoint (metricsProvider.className=…PrometheusMetricsProvider).
// Debian's ZooKeeper 3.8 has no Prometheus provider, so the names are checked
// against the metrics a running ZooKeeper 3.8 reports through mntr (the same
// ServerMetrics its provider would export: a summary X as avg_X…cnt_X in mntr,
// X{quantile}, X_count, X_sum in Prometheus). The text is checked with a small
// strict parser of the 0.0.4 text format and with the Prometheus project's own
// parser (Python's prometheus_client, Debian's python3-prometheus-client, run by
// /usr/bin/python3), which must read the same families, types and samples; and
// values are checked to follow a workload.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { ZooKeeperClient } from '../src/client/index.ts';
import { parseConfig } from '../src/config/config.ts';
import { PADDOCK_MNTR_KEYS } from '../src/server/inspect.ts';
import { TestEnsemble } from './support/ensemble.ts';
import { httpGet } from './support/http.ts';
import { fourLetterWord, freePort, startPaddock, startZooKeeper, type RunningServer } from './support/servers.ts';

const PROMETHEUS = 'org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider';

interface Family {
  type: string;
  samples: { name: string; labels: Record<string, string>; value: number }[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$/;
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"$/;

/** Parse Prometheus text format 0.0.4 strictly: every line a TYPE comment or a sample of a declared family; throws on anything else. */
function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  assert.ok(text.endsWith('\n'), 'the text ends with a newline');
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [name, type, ...rest] = line.slice(7).split(' ');
      assert.ok(NAME.test(name!) && ['gauge', 'counter', 'summary', 'histogram', 'untyped'].includes(type!) && rest.length === 0, `bad TYPE line: ${line}`);
      assert.ok(!families.has(name!), `${name} declared twice`);
      families.set(name!, { type: type!, samples: [] });
      continue;
    }
    assert.ok(!line.startsWith('#') || line.startsWith('# HELP '), `bad comment: ${line}`);
    if (line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    assert.ok(m, `bad sample line: ${line}`);
    const [, name, labelText, valueText] = m;
    const value = Number(valueText);
    assert.ok(!Number.isNaN(value) || valueText === 'NaN', `bad value: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of labelText ? labelText.split(',') : []) {
      const l = LABEL.exec(pair);
      assert.ok(l, `bad label: ${line}`);
      labels[l[1]!] = l[2]!;
    }
    const family = families.get(name!) ?? families.get(name!.replace(/_(count|sum)$/, ''));
    assert.ok(family, `sample of an undeclared family: ${line}`);
    if (family.type === 'summary' && 'quantile' in labels) assert.ok(Number(labels.quantile) >= 0 && Number(labels.quantile) <= 1, line);
    family.samples.push({ name: name!, labels, value });
  }
  return families;
}

/** The value of the unlabelled sample `name` (a gauge, or a summary's X_count or X_sum). */
function sample(families: Map<string, Family>, name: string): number | undefined {
  for (const f of families.values()) {
    const found = f.samples.find((s) => s.name === name && Object.keys(s.labels).length === 0);
    if (found) return found.value;
  }
  return undefined;
}

/** The metric names ZooKeeper's ServerMetrics gives, from its mntr: summaries by their cnt_ key, the rest as they are. */
function zooKeeperNames(mntr: string): Set<string> {
  const keys = mntr.trim().split('\n').map((l) => l.split('\t')[0]!.replace(/^zk_/, ''));
  const summaries = keys.filter((k) => k.startsWith('cnt_')).map((k) => k.slice(4));
  const parts = new Set(summaries.flatMap((s) => ['avg', 'min', 'max', 'cnt', 'sum', 'p50', 'p95', 'p99', 'p999'].map((p) => `${p}_${s}`)));
  return new Set([...summaries, ...keys.filter((k) => !parts.has(k))]);
}

describe('Prometheus /metrics', () => {
  let zk: RunningServer;
  let pd: RunningServer;
  let metricsPort: number;
  let client: ZooKeeperClient;
  const scrape = async () => {
    const r = await httpGet(`http://127.0.0.1:${metricsPort}/metrics`);
    assert.equal(r.status, 200);
    assert.match(r.type, /^text\/plain; version=0\.0\.4/);
    return parsePrometheus(r.body);
  };

  before(async () => {
    metricsPort = await freePort();
    zk = await startZooKeeper();
    pd = await startPaddock({
      cfg: {
        'metricsProvider.className': PROMETHEUS,
        'metricsProvider.httpHost': '127.0.0.1',
        'metricsProvider.httpPort': metricsPort,
      },
    });
    client = await ZooKeeperClient.connect(pd.connectString);
    const zkClient = await ZooKeeperClient.connect(zk.connectString);
    for (const c of [client, zkClient]) {
      await c.create('/m', 'x');
      await c.getData('/m', true);
    }
    await zkClient.close();
  });

  after(async () => {
    await client?.close();
    await pd?.stop();
    await zk?.stop();
  });

  test("the text parses; ZooKeeper's names for what both have, Node's under nodejs_/process_", async () => {
    const families = await scrape();
    const zkNames = zooKeeperNames(await fourLetterWord(zk.host, zk.port, 'mntr'));
    const own = new Set([...PADDOCK_MNTR_KEYS].map((k) => k.replace(/^zk_/, '')));
    const paddockNames = [...families.keys()].filter((n) => !/^(nodejs|process)_/.test(n));
    for (const n of paddockNames) assert.ok(zkNames.has(n) || own.has(n), `ZooKeeper has no metric ${n}`);
    for (const n of ['znode_count', 'watch_count', 'ephemerals_count', 'approximate_data_size', 'outstanding_requests', 'packets_received', 'num_alive_connections', 'readlatency', 'updatelatency', 'fsynctime', 'snapshottime']) {
      assert.ok(families.has(n), `no ${n}`);
      assert.ok(zkNames.has(n), `ZooKeeper has no ${n}`);
    }
    for (const n of ['readlatency', 'updatelatency', 'fsynctime', 'snapshottime']) assert.equal(families.get(n)!.type, 'summary', n);
    assert.deepEqual(families.get('updatelatency')!.samples.filter((s) => s.labels.quantile).map((s) => s.labels.quantile), ['0.5', '0.95', '0.99', '0.999']);
    for (const n of ['nodejs_eventloop_delay_seconds', 'nodejs_heap_used_bytes', 'nodejs_gc_duration_seconds', 'process_resident_memory_bytes']) assert.ok(families.has(n), `no ${n}`);
    assert.ok(sample(families, 'nodejs_heap_used_bytes')! > 0);
    assert.equal(sample(families, 'watch_count'), 1);
  });

  test("Prometheus's own parser (prometheus_client) reads the same families, types and samples", async () => {
    const r = await httpGet(`http://127.0.0.1:${metricsPort}/metrics`);
    const ours = parsePrometheus(r.body);
    // text_string_to_metric_families raises on malformed text; print what it read as JSON.
    const script = [
      'import json, sys',
      'from prometheus_client.parser import text_string_to_metric_families',
      'out = {}',
      'for f in text_string_to_metric_families(sys.stdin.read()):',
      '    out[f.name] = {"type": f.type, "samples": [[s.name, s.labels, s.value] for s in f.samples]}',
      'print(json.dumps(out))',
    ].join('\n');
    const run = spawnSync('/usr/bin/python3', ['-c', script], { input: r.body, encoding: 'utf8' });
    assert.equal(run.status, 0, `prometheus_client could not parse /metrics: ${run.stderr}`);
    const theirs = JSON.parse(run.stdout) as Record<string, { type: string; samples: [string, Record<string, string>, number][] }>;
    // prometheus_client names a counter's family without its _total suffix (its samples keep it)
    const familyName = (name: string, f: Family) => (f.type === 'counter' ? name.replace(/_total$/, '') : name);
    assert.deepEqual(Object.keys(theirs).sort(), [...ours].map(([name, f]) => familyName(name, f)).sort());
    const samples = (list: { name: string; labels: Record<string, string>; value: number }[]) => list.map((x) => JSON.stringify([x.name, x.labels, x.value])).sort();
    for (const [name, f] of ours) {
      const their = theirs[familyName(name, f)]!;
      assert.equal(their.type, f.type, name);
      assert.deepEqual(samples(their.samples.map(([n, labels, value]) => ({ name: n, labels, value }))), samples(f.samples), name);
    }
  });

  test('values follow the workload: N creates add N znodes and N update latencies; an ephemeral counts', async () => {
    const N = 25;
    const before = await scrape();
    for (let i = 0; i < N; i++) await client.create(`/m/n${i}`, `v${i}`);
    await client.create('/m/eph', '', { mode: 1 });
    const after = await scrape();
    assert.equal(sample(after, 'znode_count')! - sample(before, 'znode_count')!, N + 1);
    assert.ok(sample(after, 'updatelatency_count')! - sample(before, 'updatelatency_count')! >= N + 1);
    assert.equal(sample(after, 'ephemerals_count'), 1);
    assert.ok(sample(after, 'approximate_data_size')! > sample(before, 'approximate_data_size')!);
    assert.ok(sample(after, 'fsynctime_count')! > sample(before, 'fsynctime_count')!, 'group commits timed');
    // the same values as mntr: one source
    const mntr = await fourLetterWord(pd.host, pd.port, 'mntr');
    assert.match(mntr, new RegExp(`^zk_znode_count\\t${sample(after, 'znode_count')}$`, 'm'));
  });

  test('anything but /metrics is 404, and the endpoint keeps serving', async () => {
    assert.equal((await httpGet(`http://127.0.0.1:${metricsPort}/nope`)).status, 404);
    assert.ok((await scrape()).has('znode_count'));
  });
});

describe('Prometheus /metrics of ensemble members', () => {
  const ports = new Map<number, number>();
  let ens: TestEnsemble;
  let leader: number;
  const scrape = async (id: number) => parsePrometheus((await httpGet(`http://127.0.0.1:${ports.get(id)}/metrics`)).body);

  before(async () => {
    ens = await TestEnsemble.create('metrics', [1, 2, 3].map((id) => ({ id })), { tickTime: 300, waitMs: 60_000 });
    for (const id of ens.ids) {
      ports.set(id, await freePort());
      await ens.start(id, { noWait: true, cfg: { 'metricsProvider.className': PROMETHEUS, 'metricsProvider.httpHost': '127.0.0.1', 'metricsProvider.httpPort': ports.get(id)!, 'metricsProvider.exportJvmInfo': 'false' } });
    }
    ({ leader } = await ens.settled());
  });

  after(async () => {
    await ens?.close();
  });

  test('quorum size, election and sync times, proposals and commits: the leader counts N writes, followers receive them', async () => {
    const followers = ens.ids.filter((id) => id !== leader);
    const before = new Map(await Promise.all(ens.ids.map(async (id) => [id, await scrape(id)] as const)));
    const N = 12;
    const c = await ens.connect(leader);
    for (let i = 0; i < N; i++) await c.create(`/q${i}`, 'x');
    await c.close();
    for (const id of followers) await ens.readAfterSync(id, `/q${N - 1}`);
    const lead = await scrape(leader);
    assert.equal(sample(lead, 'quorum_size'), 3);
    assert.ok(sample(lead, 'proposal_count')! - sample(before.get(leader)!, 'proposal_count')! >= N, 'proposals');
    assert.ok(sample(lead, 'commit_count')! - sample(before.get(leader)!, 'commit_count')! >= N, 'commits');
    assert.ok(sample(lead, 'election_time_count')! >= 1, 'the election is timed');
    assert.equal(sample(lead, 'synced_followers'), 2);
    for (const id of followers) {
      const f = await scrape(id);
      assert.ok(sample(f, 'follower_sync_time_count')! >= 1, `${id}: its sync is timed`);
      assert.ok(sample(f, 'learner_commit_received_count')! - sample(before.get(id)!, 'learner_commit_received_count')! >= N, `${id}: commits received`);
      assert.ok(!f.has('nodejs_heap_used_bytes'), 'exportJvmInfo=false leaves out the runtime metrics');
    }
    // the same numbers as mntr on the same member
    const mntr = await ens.mntr(leader);
    assert.equal(Number(mntr.get('zk_quorum_size')), sample(lead, 'quorum_size'));
  });
});

describe('metricsProvider settings', () => {
  const parse = (text: string) => parseConfig(`dataDir=/var/paddock\nclientPort=2181\n${text}`, { path: 'zoo.cfg', env: {} });

  test("Prometheus: ZooKeeper's defaults, and the settings read", () => {
    assert.equal(parse('').prometheus, null);
    assert.deepEqual(parse(`metricsProvider.className=${PROMETHEUS}\n`).prometheus, { host: '0.0.0.0', port: 7000, exportJvmInfo: true });
    const cfg = parse(`metricsProvider.className=${PROMETHEUS}\nmetricsProvider.httpHost=127.0.0.1\nmetricsProvider.httpPort=7001\nmetricsProvider.exportJvmInfo=false\n`);
    assert.deepEqual(cfg.prometheus, { host: '127.0.0.1', port: 7001, exportJvmInfo: false });
    assert.deepEqual(cfg.ignored, []);
  });

  test('a bad port stops start-up (ZooKeeper cannot start its provider either); other providers and their keys are reported', () => {
    assert.throws(() => parse(`metricsProvider.className=${PROMETHEUS}\nmetricsProvider.httpPort=x\n`), /zoo\.cfg line 4: metricsProvider\.httpPort: 'x' is not a number/);
    const other = parse('metricsProvider.className=com.example.Metrics\nmetricsProvider.httpPort=7000\n');
    assert.equal(other.prometheus, null);
    assert.deepEqual(other.ignored, [
      `zoo.cfg line 3: metricsProvider.className=com.example.Metrics is not a provider Paddock has (it has ${PROMETHEUS}); mntr only`,
      `zoo.cfg line 4: metricsProvider.httpPort is read only by ${PROMETHEUS}; ignored`,
    ]);
  });
});
