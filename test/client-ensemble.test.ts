// The session-level client on a three-member ensemble (TestEnsemble), the same
// test body on Paddock members and on ZooKeeper 3.8 members: when the member
// the client is connected to is killed (SIGKILL), the client moves to another
// member with the same session, its ephemeral node lives on, and the watches
// it set before (a one-shot data watch and a persistent recursive one) fire on
// the next change, made through another member.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect, CreateMode, type WatchEvent, type ZooKeeper } from '../src/client/index.ts';
import { TestEnsemble } from './support/ensemble.ts';
import { waitFor } from './support/wait.ts';

const WAIT_MS = 60_000;

for (const kind of ['paddock', 'zookeeper'] as const) {
  describe(`client failover on a three-member ${kind} ensemble`, { timeout: 300_000 }, () => {
    let ens: TestEnsemble;
    before(async () => {
      ens = await TestEnsemble.create(`client-ensemble-${kind}`, [1, 2, 3].map((id) => ({ id, kind })), { tickTime: 300, cfg: { maxSessionTimeout: 30_000 }, waitMs: WAIT_MS });
      await ens.startAll();
    });
    after(() => ens?.close());

    it('the member the client is on is killed: same session, ephemerals and watches on another member', async () => {
      const zk: ZooKeeper = await connect(ens.connectString(), { sessionTimeout: 20_000 });
      const writer: ZooKeeper = await connect(ens.connectString(), { sessionTimeout: 20_000 });
      try {
        await zk.create('/moving', 'v0');
        const eph = await zk.create('/moving/eph', 'mine', { mode: CreateMode.ephemeral });
        const oneShot: WatchEvent[] = [];
        await zk.getData('/moving', { watch: (e) => oneShot.push(e) });
        const recursive: WatchEvent[] = [];
        await zk.addWatch('/moving', (e) => recursive.push(e), 'persistentRecursive');
        const session = zk.sessionId;
        const on = ens.ids.find((id) => zk.server === `127.0.0.1:${ens.clientPort(id)}`)!;
        assert.ok(on, `connected to a member (${zk.server})`);
        await ens.kill(on);
        await waitFor(`the client to move off member ${on}`, WAIT_MS, () => zk.state === 'Connected' && zk.server !== `127.0.0.1:${ens.clientPort(on)}`);
        assert.equal(zk.sessionId, session, 'same session');
        await zk.sync('/'); // answered after setWatches2 on the new connection: the recursive watch (which fires for no change it missed) is armed
        await waitFor('the writer to be connected', WAIT_MS, () => writer.state === 'Connected');
        assert.equal((await writer.getData(eph)).data.toString(), 'mine', 'the ephemeral node lived on');
        await writer.setData('/moving', 'v1');
        await writer.create('/moving/new');
        await waitFor('the watches to fire', WAIT_MS, () => oneShot.length === 1 && recursive.length === 2);
        assert.deepEqual(oneShot, [{ type: 'NodeDataChanged', state: 'SyncConnected', path: '/moving' }]);
        assert.deepEqual(
          recursive.map((e) => `${e.type} ${e.path}`),
          ['NodeDataChanged /moving', 'NodeCreated /moving/new'],
        );
        await zk.sync('/');
        assert.equal((await zk.getData('/moving')).data.toString(), 'v1', 'reads on the new member see the write');
        await ens.start(on);
      } finally {
        await zk.close();
        await writer.close();
      }
    });
  });
}
