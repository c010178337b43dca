// The README's client guide runs: examples/client/*.ts against a Paddock server
// and against ZooKeeper 3.8, with the same expected output from both; and the
// README's code block is made of lines of those examples.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { basics } from '../examples/client/basics.ts';
import { cache } from '../examples/client/cache.ts';
import { coordination } from '../examples/client/coordination.ts';
import { recipes } from '../examples/client/recipes.ts';
import { watches } from '../examples/client/watches.ts';
import { ROOT, startServer, type RunningServer } from './support/servers.ts';

it('every line of the README\'s client code blocks is a line of the examples', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Using the client'), readme.indexOf('## Testing your app'));
  const block = [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!).join('\n');
  const examples = ['basics.ts', 'watches.ts', 'recipes.ts', 'cache.ts', 'coordination.ts'].map((f) => readFileSync(join(ROOT, 'examples', 'client', f), 'utf8')).join('\n');
  const lines = new Set(examples.split('\n').map((l) => l.trim()));
  for (const line of block.split('\n').filter((l) => l.trim())) assert.ok(lines.has(line.trim()), `README line not in the examples: ${line}`);
});

for (const kind of ['paddock', 'zookeeper'] as const) {
  describe(`client guide examples against ${kind}`, { timeout: 120_000 }, () => {
    let server: RunningServer;
    before(async () => (server = await startServer(kind, { tickTime: 300 })));
    after(() => server?.stop());

    it('basics', async () => {
      assert.deepEqual(await basics(server.connectString), [
        'read hello at version 0',
        'BadVersionError for /guide',
        'NodeExistsError: KeeperErrorCode = NodeExists for /guide',
        'created /guide/member-N',
        'transaction failed on /guide; /guide/a exists: false',
        'transaction: create, setData',
        'gone',
      ]);
    });

    it('recipes', async () => {
      assert.deepEqual(await recipes(server.connectString), [
        'holding: true, lost: false',
        'the other session: TimeoutError',
        'after release, lost: true, reason: lock /locks/report released',
        'a third lease: TimeoutError',
        'worker-1 leads',
        'leader: worker-1',
        'worker-1 steps down',
      ]);
    });

    it('tree cache and service registry', async () => {
      assert.deepEqual(await cache(server.connectString), [
        'created /settings',
        'cached: v1',
        'changed /settings',
        '/settings: v1 -> v2',
        'api: 10.0.0.5:8080',
        'names: api, payload: {"version":3}',
        'api: none',
      ]);
    });

    it('coordination', async () => {
      assert.deepEqual(await coordination(server.connectString), [
        'led in turn: worker-1, worker-2',
        'both entered',
        'took job-1, then job-2',
        'set to 10: true, after increment(5): 15',
      ]);
    });

    it('watches', async () => {
      assert.deepEqual(await watches(server.connectString), [
        'one-shot: NodeDataChanged /config',
        'recursive: NodeCreated /jobs',
        'recursive: NodeDataChanged /config',
        'recursive: NodeDeleted /jobs',
        'recursive: NodeDeleted /config',
      ]);
    });
  });
}
