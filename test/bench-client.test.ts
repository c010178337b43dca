// Smoke test of the client benchmark's load process (bench/client-worker.ts):
// for the two clients always at hand, Paddock's built client (dist/, which
// `npm test` builds first) and node-zookeeper-client, a short run of getData
// and of setData against a real Paddock server finishes with a result whose
// figures hang together, and setData really wrote: the znode then holds that
// worker's payload, with at least as many versions as ops were counted. No
// timing is asserted. The `zookeeper` C-binding client is compiled at bench
// time (bench/client.ts), so it is not run here. Also: the nearest-rank
// percentile the worker reports.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runWorker, type ClientName, type WorkerSpec } from '../bench/client-worker.ts';
import { percentile } from '../bench/common.ts';
import { ZooKeeperClient } from '../src/client/index.ts';
import { startPaddock, type RunningServer } from './support/servers.ts';

const ZNODE = '/bench';
const WINDOW = 4;

describe('bench/client-worker.ts', () => {
  let server: RunningServer;
  let zk: ZooKeeperClient;
  before(async () => {
    server = await startPaddock();
    zk = await ZooKeeperClient.connect(server.connectString);
    await zk.create(ZNODE, Buffer.alloc(1024));
  });
  after(async () => {
    await zk?.close();
    await server?.stop();
  });

  const spec = (client: ClientName, op: WorkerSpec['op']): WorkerSpec => ({
    client, connectString: server.connectString, path: ZNODE, op, window: WINDOW, size: 1024, warmup: 0.1, duration: 0.3,
  });

  for (const client of ['paddock', 'node-zookeeper-client'] as const) {
    it(`${client}: setData writes the payload and is counted`, async () => {
      const before = (await zk.getData(ZNODE)).stat.version;
      const outcome = await runWorker(spec(client, 'set'));
      assert.ok(outcome.ok, outcome.ok ? '' : outcome.error);
      assert.ok(outcome.result.ops >= WINDOW, `each of the ${WINDOW} loops issues a request: ${outcome.result.ops} ops`);
      const { data, stat } = await zk.getData(ZNODE);
      assert.deepEqual(data, Buffer.alloc(1024, client[0]));
      assert.ok(stat.version - before >= outcome.result.ops, `${stat.version - before} writes seen, ${outcome.result.ops} counted`);
    });

    it(`${client}: getData reports consistent figures`, async () => {
      const outcome = await runWorker(spec(client, 'get'));
      assert.ok(outcome.ok, outcome.ok ? '' : outcome.error);
      const r = outcome.result;
      assert.ok(r.ops >= WINDOW);
      assert.ok(r.p50_us > 0 && r.p50_us <= r.p99_us && r.p99_us <= r.max_us, JSON.stringify(r));
      assert.ok(r.cpu_us_per_op > 0 && r.rss_mib > 0, JSON.stringify(r));
    });
  }

  it('fails with the library error when the znode is missing', async () => {
    const outcome = await runWorker({ ...spec('paddock', 'get'), path: '/missing' });
    assert.equal(outcome.ok, false);
    assert.match(outcome.ok ? '' : outcome.error, /NoNode|no node/i);
  });
});

it('percentile is nearest-rank', () => {
  const xs = [5, 1, 4, 2, 3];
  assert.equal(percentile(xs, 50), 3);
  assert.equal(percentile(xs, 99), 5);
  assert.equal(percentile(xs, 100), 5);
  assert.equal(percentile(xs, 20), 1);
  assert.equal(percentile(xs, 21), 2);
  assert.equal(percentile([], 99), undefined);
  assert.deepEqual(xs, [5, 1, 4, 2, 3], 'the samples are left unsorted');
});
