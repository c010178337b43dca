// A watch set by a request is armed when its reply is read, before any frame
// that follows it: the event of a change the server made just after answering
// can arrive in the same read as the reply (here forced by a proxy that holds
// the server's bytes to the watcher until both are sent), and must not be lost.
// Found by the fault suite: a lock waiter whose exists() watch on its
// predecessor was lost waited until its timeout while everyone queued behind
// it (test/faults/locks.ts). Java's ClientCnxn registers a watch as it
// finishes the reply's packet, before the next frame; so does this client.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, CreateMode, type ZooKeeper } from '../src/client/index.ts';
import { TcpProxy } from './support/proxy.ts';
import { startServer, type RunningServer } from './support/servers.ts';

for (const kind of ['paddock', 'zookeeper'] as const) {
  describe(`a watch whose event arrives in the same read as the reply that set it (${kind})`, { timeout: 120_000 }, () => {
    let server: RunningServer;
    let proxy: TcpProxy;
    let watcher: ZooKeeper;
    let changer: ZooKeeper;
    before(async () => {
      server = await startServer(kind, { tickTime: 300 });
      proxy = await TcpProxy.start(server);
      [watcher, changer] = [await connect(proxy.connectString, { sessionTimeout: 10_000 }), await connect(server.connectString, { sessionTimeout: 10_000 })];
    });
    after(async () => {
      await watcher?.close();
      await changer?.close();
      await proxy?.close();
      await server?.stop();
    });

    /** Arm a watch on `path` while the server's bytes to the watcher are held, change `path`, release them together: times the watch fired. */
    const raced = async (arm: (path: string, watch: () => void) => Promise<unknown>, change: (path: string) => Promise<unknown>, path: string) => {
      let fired = 0;
      proxy.stall('replies');
      try {
        void arm(path, () => fired++);
        await sleep(200); // the watching request reached the server, its reply is held
        await change(path);
        await sleep(200); // the change's event is held behind the reply
      } finally {
        proxy.unstall();
      }
      for (let i = 0; i < 40 && fired === 0; i++) await sleep(50);
      return fired;
    };

    it('exists() on a node deleted right after: the NodeDeleted is delivered', async () => {
      for (let round = 0; round < 3; round++) {
        const path = await changer.create('/race-', 'x', { mode: CreateMode.ephemeralSequential });
        const fired = await raced((p, w) => watcher.exists(p, { watch: w }), (p) => changer.delete(p), path);
        assert.equal(fired, 1, `round ${round}: the watch on ${path} fired once`);
      }
    });

    it('getData() and getChildren() on a node changed right after: the events are delivered', async () => {
      await changer.create('/race-data', 'a');
      assert.equal(await raced((p, w) => watcher.getData(p, { watch: w }), (p) => changer.setData(p, 'b'), '/race-data'), 1, 'NodeDataChanged delivered');
      assert.equal(await raced((p, w) => watcher.getChildren(p, { watch: w }), (p) => changer.create(`${p}/c`, ''), '/race-data'), 1, 'NodeChildrenChanged delivered');
    });
  });
}
