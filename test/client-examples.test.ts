// The README's client guide runs: examples/client/*.ts against a Paddock server
// and against ZooKeeper 3.8, with the same expected output from both.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { basics } from '../examples/client/basics.ts';
import { watches } from '../examples/client/watches.ts';
import { startServer, type RunningServer } from './support/servers.ts';

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
