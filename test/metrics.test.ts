// The Prometheus endpoint (metricsProvider.className=…PrometheusMetricsProvider).
// Debian's ZooKeeper 3.8 has no Prometheus provider, so the names are checked
// against the metrics a running ZooKeeper 3.8 reports through mntr (the same
// ServerMetrics its provider would export: a summary X as avg_X…cnt_X in mntr,
// X{quantile}, X_count, X_sum in Prometheus). The text is checked with a small
// parser of the 0.0.4 text format, and values are checked to follow a workload.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ZooKeeperClient } from '../src/client/index.ts';
import { httpGet } from './support/http.ts';
import { fourLetterWord, freePort, startPaddock, startZooKeeper, type RunningServer } from './support/servers.ts';

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
  const value = (f: Map<string, Family>, family: string, sample = family) => f.get(family)?.samples.find((s) => s.name === sample)?.value;

  before(async () => {
    metricsPort = await freePort();
    zk = await startZooKeeper();
    pd = await startPaddock({
      cfg: {
        'metricsProvider.className': 'org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider',
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
    const own = new Set(['read_throttled_count', 'backpressure_disconnect_count']);
    const paddockNames = [...families.keys()].filter((n) => !/^(nodejs|process)_/.test(n));
    for (const n of paddockNames) assert.ok(zkNames.has(n) || own.has(n), `ZooKeeper has no metric ${n}`);
    for (const n of ['znode_count', 'watch_count', 'ephemerals_count', 'approximate_data_size', 'outstanding_requests', 'packets_received', 'num_alive_connections', 'readlatency', 'updatelatency', 'fsynctime', 'snapshottime']) {
      assert.ok(families.has(n), `no ${n}`);
      assert.ok(zkNames.has(n), `ZooKeeper has no ${n}`);
    }
    for (const n of ['readlatency', 'updatelatency', 'fsynctime', 'snapshottime']) assert.equal(families.get(n)!.type, 'summary', n);
    assert.deepEqual(families.get('updatelatency')!.samples.filter((s) => s.labels.quantile).map((s) => s.labels.quantile), ['0.5', '0.95', '0.99', '0.999']);
    for (const n of ['nodejs_eventloop_delay_seconds', 'nodejs_heap_used_bytes', 'nodejs_gc_duration_seconds', 'process_resident_memory_bytes']) assert.ok(families.has(n), `no ${n}`);
    assert.ok(value(families, 'nodejs_heap_used_bytes')! > 0);
    assert.equal(value(families, 'watch_count'), 1);
  });

  test('values follow the workload: N creates add N znodes and N update latencies; an ephemeral counts', async () => {
    const N = 25;
    const before = await scrape();
    for (let i = 0; i < N; i++) await client.create(`/m/n${i}`, `v${i}`);
    await client.create('/m/eph', '', { mode: 1 });
    const after = await scrape();
    assert.equal(value(after, 'znode_count')! - value(before, 'znode_count')!, N + 1);
    assert.ok(value(after, 'updatelatency', 'updatelatency_count')! - value(before, 'updatelatency', 'updatelatency_count')! >= N + 1);
    assert.equal(value(after, 'ephemerals_count'), 1);
    assert.ok(value(after, 'approximate_data_size')! > value(before, 'approximate_data_size')!);
    assert.ok(value(after, 'fsynctime', 'fsynctime_count')! > value(before, 'fsynctime', 'fsynctime_count')!, 'group commits timed');
    // the same values as mntr: one source
    const mntr = await fourLetterWord(pd.host, pd.port, 'mntr');
    assert.match(mntr, new RegExp(`^zk_znode_count\\t${value(after, 'znode_count')}$`, 'm'));
  });

  test('anything but /metrics is 404, and the endpoint keeps serving', async () => {
    assert.equal((await httpGet(`http://127.0.0.1:${metricsPort}/nope`)).status, 404);
    assert.ok((await scrape()).has('znode_count'));
  });
});
