// Four-letter words: the same commands, in the same shapes, as Apache ZooKeeper
// 3.8 gives for the same state. Both servers get the same sessions, nodes and
// watches; outputs are compared line by line after masking run-specific values.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createRequire } from 'node:module';
import { fourLetterWord, startServer, type RunningServer } from './support/servers.ts';
import { PADDOCK_MNTR_KEYS } from '../src/server/fourletter.ts';

const require = createRequire(import.meta.url);
const zookeeper = require('node-zookeeper-client');

interface NzkClient {
  connect(): void;
  close(): void;
  once(event: string, fn: () => void): void;
  getSessionId(): Buffer;
  create(path: string, data: Buffer | null, mode: number, cb: (err: Error | null) => void): void;
  getData(path: string, watcher: () => void, cb: (err: Error | null) => void): void;
  getChildren(path: string, watcher: () => void, cb: (err: Error | null) => void): void;
}

const call = <T extends unknown[]>(fn: (...args: [...T, (err: Error | null) => void]) => void, ...args: T) =>
  new Promise<void>((resolve, reject) => fn(...args, (err) => (err ? reject(err) : resolve())));

async function connect(server: RunningServer): Promise<NzkClient> {
  const client: NzkClient = zookeeper.createClient(server.connectString, { sessionTimeout: 10_000 });
  const connected = new Promise<void>((resolve) => client.once('connected', resolve));
  client.connect();
  await connected;
  return client;
}

/** The same state on both servers: two nodes, an ephemeral, a data watch and a child watch. */
async function populate(server: RunningServer): Promise<{ client: NzkClient; sessionHex: string }> {
  const client = await connect(server);
  await call(client.create.bind(client), '/a', Buffer.from('x'), 0);
  await call(client.create.bind(client), '/e', null, 1);
  await call(client.getData.bind(client), '/a', () => {});
  await call(client.getChildren.bind(client), '/', () => {});
  return { client, sessionHex: '0x' + client.getSessionId().toString('hex').replace(/^0+/, '') };
}

const servers: Record<'zookeeper' | 'paddock', { server: RunningServer; client: NzkClient; sessionHex: string }> = {} as never;

before(async () => {
  for (const kind of ['zookeeper', 'paddock'] as const) {
    const server = await startServer(kind);
    servers[kind] = { server, ...(await populate(server)) };
  }
});

after(async () => {
  for (const s of Object.values(servers)) {
    s.client.close();
    await s.server.stop();
  }
});

const both = async (word: string) => ({
  zk: await fourLetterWord(servers.zookeeper.server.host, servers.zookeeper.server.port, word),
  pd: await fourLetterWord(servers.paddock.server.host, servers.paddock.server.port, word),
});

/** Mask what differs between any two runs: numbers, ports, paths of temp dirs, session ids. */
function shape(text: string, kind: 'zookeeper' | 'paddock'): string {
  const { server, sessionHex } = servers[kind];
  return text
    .replaceAll(sessionHex, '<session>')
    .replaceAll(server.dir, '<dir>')
    .replace(/:\d+\[/g, ':<port>[')
    .replace(/\d+(\.\d+)?/g, 'N');
}

const keys = (text: string, sep: string) =>
  text
    .split('\n')
    .filter((l) => l.includes(sep))
    .map((l) => l.slice(0, l.indexOf(sep)));

describe('four-letter words match Apache ZooKeeper 3.8', () => {
  test('ruok', async () => {
    const { zk, pd } = await both('ruok');
    assert.equal(pd, zk);
  });

  test('srvr: same lines, same node count and mode; version claims 3.8 with Paddock beside it', async () => {
    const { zk, pd } = await both('srvr');
    assert.deepEqual(keys(pd, ':'), keys(zk, ':'));
    const line = (t: string, k: string) => t.split('\n').find((l) => l.startsWith(k));
    assert.equal(line(pd, 'Node count:'), line(zk, 'Node count:'));
    assert.equal(line(pd, 'Mode:'), line(zk, 'Mode:'));
    assert.match(line(pd, 'Zookeeper version:')!, /^Zookeeper version: 3\.8\.\d+-paddock-\d+\.\d+\.\d+, built on \d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
  });

  test('stat: a Clients section, then the srvr lines', async () => {
    const { zk, pd } = await both('stat');
    assert.equal(shape(pd, 'paddock').replace(/^Zookeeper version: .*$/m, ''), shape(zk, 'zookeeper').replace(/^Zookeeper version: .*$/m, ''));
  });

  test('cons: one line per connection with the session fields', async () => {
    const { zk, pd } = await both('cons');
    const withSession = (t: string, kind: 'zookeeper' | 'paddock') => shape(t, kind).split('\n').filter((l) => l.includes('sid='));
    assert.deepEqual(withSession(pd, 'paddock'), withSession(zk, 'zookeeper'));
  });

  test('conf: same keys in the same order', async () => {
    const { zk, pd } = await both('conf');
    assert.deepEqual(keys(pd, '='), keys(zk, '='));
  });

  test('envi: Environment header, zookeeper.version first, every ZooKeeper key present', async () => {
    const { zk, pd } = await both('envi');
    assert.equal(pd.split('\n')[0], 'Environment:');
    assert.match(pd.split('\n')[1]!, /^zookeeper\.version=3\.8\.\d+-paddock-/);
    for (const k of keys(zk, '=')) assert.ok(keys(pd, '=').includes(k), `envi lacks ${k}`);
  });

  test('mntr: tab-separated zk_ keys, all of them known to ZooKeeper, with the same counts', async () => {
    const { zk, pd } = await both('mntr');
    const parse = (t: string) => new Map(t.trim().split('\n').map((l) => l.split('\t') as [string, string]));
    const z = parse(zk);
    const p = parse(pd);
    for (const k of p.keys()) assert.ok(z.has(k) || PADDOCK_MNTR_KEYS.has(k), `ZooKeeper has no ${k}`);
    for (const k of ['zk_server_state', 'zk_znode_count', 'zk_watch_count', 'zk_ephemerals_count', 'zk_global_sessions', 'zk_approximate_data_size']) {
      assert.equal(p.get(k), z.get(k), k);
    }
  });

  for (const word of ['wchs', 'wchc', 'wchp', 'dump', 'dirs', 'isro', 'gtmk', 'srst', 'crst']) {
    test(word, async () => {
      const { zk, pd } = await both(word);
      let [a, b] = [shape(pd, 'paddock'), shape(zk, 'zookeeper')];
      if (word === 'dump') {
        // Connection sets are grouped by idle deadline in ZooKeeper; compare the session and ephemeral parts.
        [a, b] = [a.split('Connections dump:')[0]!, b.split('Connections dump:')[0]!];
        // The expiry bucket's date differs by run; an emptied bucket lingers in ZooKeeper's list until its deadline
        // passes, so whether one shows depends on when the session was last touched: compare the buckets that hold sessions.
        const buckets = (t: string) => t.replace(/expire at .*:/g, 'expire at <date>:').replace(/^N expire at <date>:\n(?!\t)/gm, '');
        [a, b] = [buckets(a), buckets(b)];
      }
      assert.equal(a, b);
    });
  }

  test('a command outside 4lw.commands.whitelist is refused with ZooKeeper\'s message', async () => {
    const paddock = await startServer('paddock', { cfg: { '4lw.commands.whitelist': 'srvr, ruok' } });
    const zk = await startServer('zookeeper', { cfg: { '4lw.commands.whitelist': 'srvr, ruok' } });
    try {
      for (const word of ['mntr', 'stat', 'envi']) {
        assert.equal(await fourLetterWord(paddock.host, paddock.port, word), await fourLetterWord(zk.host, zk.port, word));
      }
      assert.match(await fourLetterWord(paddock.host, paddock.port, 'srvr'), /^Zookeeper version: /);
    } finally {
      await paddock.stop();
      await zk.stop();
    }
  });
});
