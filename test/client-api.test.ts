// The session-level client's API, the same test body against a Paddock server
// and against ZooKeeper 3.8 with the same expectations: results of every
// request, one error class per code with `code` and `path`, chroot translated
// both ways, one-shot / persistent / recursive watches (callbacks and async
// iterators), removeWatches, addAuth and ACLs, AbortSignal, and bad input
// rejected before anything is sent.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  AuthFailedError,
  BadVersionError,
  connect,
  CreateMode,
  digestACL,
  Err,
  NoAuthError,
  NodeExistsError,
  NoNodeError,
  NotEmptyError,
  NoWatcherError,
  OPEN_ACL_UNSAFE,
  op,
  Perm,
  type WatchEvent,
  type ZooKeeper,
} from '../src/client/index.ts';
import { rejectsWith } from './support/client-asserts.ts';
import { TcpProxy } from './support/proxy.ts';
import { startServer, type RunningServer } from './support/servers.ts';
import { waitFor } from './support/wait.ts';

const WAIT_MS = 60_000;

/** A one-shot watcher and the events it got. */
function recorder(): { watcher: (e: WatchEvent) => void; events: WatchEvent[] } {
  const events: WatchEvent[] = [];
  return { watcher: (e) => events.push(e), events };
}

for (const kind of ['paddock', 'zookeeper'] as const) {
  describe(`client API against ${kind}`, { timeout: 180_000 }, () => {
    let server: RunningServer;
    let zk: ZooKeeper;
    let other: ZooKeeper;
    before(async () => {
      server = await startServer(kind, { tickTime: 300 });
      zk = await connect(server.connectString, { sessionTimeout: 6000 });
      other = await connect(server.connectString, { sessionTimeout: 6000 });
    });
    after(async () => {
      await zk?.close();
      await other?.close();
      await server?.stop();
    });

    it('connect resolves with an established session; requests give typed results', async () => {
      assert.equal(zk.state, 'Connected');
      assert.notEqual(zk.sessionId, 0n);
      assert.ok(zk.sessionTimeout > 0 && zk.sessionTimeout <= 6000);
      assert.equal(await zk.create('/api', 'root'), '/api');
      const { data, stat } = await zk.getData('/api');
      assert.equal(data.toString(), 'root');
      assert.equal(stat.version, 0);
      assert.equal(zk.lastZxid, stat.mzxid, 'the last reply carried the create zxid');
      const set = await zk.setData('/api', 'v1', 0);
      assert.equal(set.version, 1);
      assert.equal((await zk.exists('/api'))!.version, 1);
      assert.equal(await zk.exists('/api/missing'), null);
      const seq = await zk.create('/api/s-', null, { mode: CreateMode.persistentSequential });
      assert.match(seq, /^\/api\/s-\d{10}$/);
      assert.deepEqual(await zk.getChildren('/api'), [seq.slice('/api/'.length)]);
      assert.equal((await zk.getData(seq)).data.length, 0, 'a node without data reads as an empty buffer');
      const { children, stat: parent } = await zk.getChildren2('/api');
      assert.equal(children.length, 1);
      assert.equal(parent.numChildren, 1);
      assert.equal(await zk.getAllChildrenNumber('/api'), 1);
      await zk.sync('/api');
      await zk.delete(seq);
      const eph = await zk.create('/api/eph', 'x', { mode: CreateMode.ephemeral });
      assert.deepEqual(await zk.getEphemerals('/api'), [eph]);
      await zk.delete(eph, { version: 0 });
    });

    it('one error class per code, carrying code and path', async () => {
      await rejectsWith(zk.getData('/api/none'), NoNodeError, Err.noNode, '/api/none');
      await rejectsWith(zk.create('/api'), NodeExistsError, Err.nodeExists, '/api');
      await rejectsWith(zk.setData('/api', 'x', 7), BadVersionError, Err.badVersion, '/api');
      await zk.create('/api/child');
      await rejectsWith(zk.delete('/api'), NotEmptyError, Err.notEmpty, '/api');
      await rejectsWith(zk.create('/api/none/deeper'), NoNodeError, Err.noNode, '/api/none/deeper');
      const e = await zk.getData('/api/none').catch((x: unknown) => x);
      assert.equal((e as Error).message, 'KeeperErrorCode = NoNode for /api/none');
      assert.equal((e as Error).name, 'NoNodeError');
      await zk.delete('/api/child');
    });

    it('multi and the transaction builder: typed results, or the failing op\'s error and nothing applied', async () => {
      const results = await zk.transaction().create('/api/t1', 'a').setData('/api', 'v2').check('/api', 2).delete('/api/t1').commit();
      assert.deepEqual(
        results.map((r) => r.type),
        ['create', 'setData', 'check', 'delete'],
      );
      assert.deepEqual(results[0], { type: 'create', path: '/api/t1' });
      const failed = await zk.multi([op.create('/api/t2'), op.check('/api', 1)]).catch((x: unknown) => x);
      assert.ok(failed instanceof BadVersionError);
      assert.equal(failed.path, '/api');
      assert.deepEqual(
        failed.results!.map((r) => r.err),
        [Err.ok, Err.badVersion],
      );
      assert.equal(await zk.exists('/api/t2'), null, 'rolled back');
    });

    it('one-shot watches fire once; exists on a missing node waits for its creation; removeWatches', async () => {
      const data = recorder();
      const created = recorder();
      const kids = recorder();
      await zk.getData('/api', { watch: data.watcher });
      await zk.exists('/api/w', { watch: created.watcher });
      await zk.getChildren('/api', { watch: kids.watcher });
      await other.setData('/api', 'w1');
      await other.setData('/api', 'w2');
      await other.create('/api/w');
      await waitFor('three one-shot events', WAIT_MS, () => data.events.length + created.events.length + kids.events.length === 3);
      await zk.sync('/');
      assert.deepEqual(data.events, [{ type: 'NodeDataChanged', state: 'SyncConnected', path: '/api' }]);
      assert.deepEqual(created.events, [{ type: 'NodeCreated', state: 'SyncConnected', path: '/api/w' }]);
      assert.deepEqual(kids.events, [{ type: 'NodeChildrenChanged', state: 'SyncConnected', path: '/api' }]);

      const removed = recorder();
      await zk.getData('/api/w', { watch: removed.watcher });
      await zk.removeWatches('/api/w', 'data');
      assert.deepEqual(removed.events, [{ type: 'DataWatchRemoved', state: 'SyncConnected', path: '/api/w' }]);
      await other.delete('/api/w');
      await zk.sync('/');
      assert.equal(removed.events.length, 1, 'a removed watch does not fire');
      await rejectsWith(zk.removeWatches('/api', 'children'), NoWatcherError, Err.noWatcher, '/api');
    });

    it('persistent and recursive watches, as callbacks and as async iterators', async () => {
      const persistent = recorder();
      // (The server keeps one persistent mode per path and session, so these two watch different paths.)
      await zk.addWatch('/api/p', persistent.watcher, 'persistent');
      const recursive = zk.watch('/api', { recursive: true });
      const got: string[] = [];
      const loop = (async () => {
        for await (const e of recursive) {
          got.push(`${e.type} ${e.path}`);
          if (got.length === 4) break;
        }
      })();
      await zk.sync('/');
      await other.create('/api/p');
      await other.setData('/api/p', 'x');
      await other.setData('/api', 'p1');
      await other.delete('/api/p');
      await loop;
      assert.deepEqual(got, ['NodeCreated /api/p', 'NodeDataChanged /api/p', 'NodeDataChanged /api', 'NodeDeleted /api/p']);
      assert.deepEqual(
        persistent.events.map((e) => `${e.type} ${e.path}`),
        ['NodeCreated /api/p', 'NodeDataChanged /api/p', 'NodeDeleted /api/p'],
      );
      await zk.removeWatches('/api/p', 'persistent');
      assert.equal(persistent.events.at(-1)!.type, 'PersistentWatchRemoved');
      // Leaving the loop removed the recursive watch on the server too.
      await rejectsWith(zk.removeWatches('/api', 'persistentRecursive'), NoWatcherError, Err.noWatcher, '/api');
      await other.create('/api/p');
      await zk.sync('/');
      assert.equal(persistent.events.length, 4);
      await other.delete('/api/p');
    });

    it('an async-iterator watch ends on its signal', async () => {
      const controller = new AbortController();
      const events = zk.watch('/api', { signal: controller.signal });
      const first = events.next();
      await zk.sync('/');
      await other.setData('/api', 's1');
      assert.deepEqual((await first).value, { type: 'NodeDataChanged', state: 'SyncConnected', path: '/api' });
      const next = events.next();
      controller.abort();
      await assert.rejects(next, { name: 'AbortError' });
    });

    it('chroot: paths translated both ways, created paths and events included', async () => {
      await zk.create('/api/root');
      const rooted = await connect(`${server.connectString}/api/root`, { sessionTimeout: 6000 });
      try {
        assert.equal(rooted.chroot, '/api/root');
        assert.equal(await rooted.create('/a', 'in'), '/a');
        assert.equal((await zk.getData('/api/root/a')).data.toString(), 'in');
        const seq = await rooted.create('/q-', null, { mode: CreateMode.ephemeralSequential });
        assert.match(seq, /^\/q-\d{10}$/);
        assert.deepEqual(await rooted.getEphemerals(), [seq]);
        assert.deepEqual((await rooted.getChildren('/')).sort(), ['a', seq.slice(1)].sort());
        const results = await rooted.transaction().create('/b').commit();
        assert.deepEqual(results, [{ type: 'create', path: '/b' }]);
        const w = recorder();
        await rooted.getData('/a', { watch: w.watcher });
        const all = recorder();
        await rooted.addWatch('/', all.watcher, 'persistentRecursive');
        await zk.setData('/api/root/a', 'changed');
        await zk.delete('/api/root/b');
        await waitFor('chrooted events', WAIT_MS, () => all.events.length === 2);
        assert.deepEqual(w.events, [{ type: 'NodeDataChanged', state: 'SyncConnected', path: '/a' }]);
        assert.deepEqual(
          all.events.map((e) => `${e.type} ${e.path}`),
          ['NodeDataChanged /a', 'NodeDeleted /b'],
        );
        await rejectsWith(rooted.getData('/nothing'), NoNodeError, Err.noNode, '/nothing');
      } finally {
        await rooted.close();
      }
      for (const child of await zk.getChildren('/api/root')) await zk.delete(`/api/root/${child}`);
      await zk.delete('/api/root');
    });

    it('addAuth and ACLs', async () => {
      const acl = [digestACL('alice', 'secret', Perm.all)];
      await zk.create('/api/private', 'p', { acl });
      await rejectsWith(other.getData('/api/private'), NoAuthError, Err.noAuth, '/api/private');
      const alice = await connect(server.connectString);
      try {
        await alice.addAuth('digest', 'alice:secret');
        assert.equal((await alice.getData('/api/private')).data.toString(), 'p');
        const { acl: got, stat } = await alice.getACL('/api/private');
        assert.deepEqual(got, acl);
        const after = await alice.setACL('/api/private', OPEN_ACL_UNSAFE, stat.aversion);
        assert.equal(after.aversion, 1);
        assert.deepEqual(await alice.whoAmI(), [
          { authScheme: 'digest', user: 'alice' },
          { authScheme: 'ip', user: '127.0.0.1' },
        ]);
      } finally {
        await alice.close();
      }
      assert.equal((await other.getData('/api/private')).data.toString(), 'p');
      await zk.delete('/api/private');
    });

    it('a rejected credential: AuthFailedError, and the session is AuthFailed, which is final', async () => {
      const refused = await connect(server.connectString);
      try {
        const seen: string[] = [];
        refused.on('state', (s) => seen.push(s));
        await rejectsWith(refused.addAuth('nosuchscheme', 'x'), AuthFailedError, Err.authFailed, undefined);
        assert.equal(refused.state, 'AuthFailed');
        assert.deepEqual(seen, ['AuthFailed']);
        await rejectsWith(refused.getData('/api'), AuthFailedError, Err.authFailed, '/api');
      } finally {
        await refused.close();
      }
      assert.equal(refused.state, 'AuthFailed');
    });

    it('AbortSignal: an aborted call rejects with its reason; one aborted before it starts sends nothing', async () => {
      await assert.rejects(zk.create('/api/aborted', 'x', { signal: AbortSignal.abort() }), { name: 'AbortError' });
      assert.equal(await zk.exists('/api/aborted'), null);
      // A request the server never answers (the proxy holds its bytes) ends at the abort.
      const proxy = await TcpProxy.start(server);
      const held = await connect(proxy.connectString, { sessionTimeout: 6000 });
      try {
        proxy.freeze();
        const controller = new AbortController();
        const pending = held.getData('/api', { signal: controller.signal });
        controller.abort(new Error('caller gave up'));
        await assert.rejects(pending, /caller gave up/);
      } finally {
        proxy.thaw();
        await held.close();
        await proxy.close();
      }
    });

    it('bad input is refused before anything is sent', async () => {
      for (const bad of ['', 'relative', '/trailing/', '/a//b', '/a/./b', '/a/../b', '/nul\0']) {
        await assert.rejects(zk.getData(bad), TypeError, JSON.stringify(bad));
      }
      await assert.rejects(connect('127.0.0.1:x'), TypeError);
      await assert.rejects(connect('127.0.0.1:2181/bad/'), TypeError);
      assert.equal(zk.state, 'Connected', 'the session is unaffected');
    });
  });
}
