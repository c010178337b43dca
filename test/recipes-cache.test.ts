// The tree cache and the service registry (src/recipes/tree-cache.ts, service-registry.ts) against a Paddock
// server and against ZooKeeper 3.8, the same tests for both. The tree cache: its load, events with old and new
// nodes, get / children / iteration / the events iterator; changes made while its connection was down (for which
// ZooKeeper sends no event on reconnect) caught by its walk after the reconnect; an unreadable node left out
// with readError; a stop at session expiry and a resume through a new session; a 1,555-node load; and a random
// bounded sequence of creates, sets, deep creates and deletes of whole subtrees by another client, with the
// cache's connection cut and refused through a TcpProxy between the steps and its session expired once (the
// cache resumes through a new one), after which the cache equals a fresh full read of the tree and the events
// it emitted replay to the same contents. The service registry: register / instances / names / unregister, and
// a view whose instances appear and disappear as a registering session closes or expires, and come back when
// the registry resumes.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { digestACL, NoNodeError, SessionExpiredError, serviceRegistry, treeCache, type CacheEvent, type ServiceInstance, type ServiceView, type TreeCache, type ZooKeeper } from '../src/client/index.ts';
import { expireSession } from '../src/testing/index.ts';
import { Rand } from './support/random.ts';
import { recipeFixture } from './support/recipe-fixture.ts';
import { waitFor } from './support/wait.ts';

const WAIT_MS = 60_000;
const SESSION_MS = 6000;
const SEED = Number(process.env.CACHE_SEED ?? Math.floor(Math.random() * 2 ** 31));
const ROUNDS = 10;
const OPS_PER_ROUND = 30;

const childPath = (parent: string, name: string) => (parent === '/' ? `/${name}` : `${parent}/${name}`);

/** What a cache and a fresh read are compared on: the data and the Stat fields that change with it. */
type View = Map<string, string>;
const viewOf = (path: string, data: Buffer, stat: { czxid: number; mzxid: number; version: number; ephemeralOwner: bigint }) =>
  [path, `${data.toString('hex')} c${stat.czxid} m${stat.mzxid} v${stat.version} o${stat.ephemeralOwner}`] as const;
const sorted = (m: View): View => new Map([...m].sort(([a], [b]) => (a < b ? -1 : 1)));
const cacheView = (cache: TreeCache): View => sorted(new Map([...cache].map((n) => viewOf(n.path, n.data, n.stat))));

/** Every node of the subtree at `root` as `zk` reads it now (empty when there is none). */
async function freshRead(zk: ZooKeeper, root: string): Promise<View> {
  const out: View = new Map();
  const walk = async (path: string): Promise<void> => {
    try {
      const { data, stat } = await zk.getData(path);
      out.set(...viewOf(path, data, stat));
      for (const name of await zk.getChildren(path)) await walk(childPath(path, name));
    } catch (e) {
      if (!(e instanceof NoNodeError)) throw e; // deleted between the reads: a retry of the comparison sees it
    }
  };
  await walk(root);
  return sorted(out);
}

/** The contents a cache's events replay to, and every event that did not fit what came before it. */
function replay(cache: TreeCache): { contents: View; misfits: string[] } {
  const contents: View = new Map();
  const misfits: string[] = [];
  cache.on('change', (e) => {
    const before = e.type === 'created' ? undefined : viewOf(e.path, e.old.data, e.old.stat)[1];
    if (contents.get(e.path) !== before) misfits.push(`${e.type} ${e.path}`);
    if (e.type === 'deleted') contents.delete(e.path);
    else contents.set(...viewOf(e.path, e.node.data, e.node.stat));
  });
  return { contents, misfits };
}

for (const kind of ['paddock', 'zookeeper'] as const) {
  describe(`tree cache and service registry against ${kind}`, { timeout: 180_000 }, () => {
    const fixture = recipeFixture(kind, { sessionMs: SESSION_MS });
    const { session, proxied } = fixture;
    /** the client that changes the tree: the fixture's admin session */
    let writer: ZooKeeper;
    const closers: (() => Promise<void>)[] = [];
    const started = (zk: ZooKeeper, path: string) => {
      const cache = treeCache(zk, path);
      closers.push(() => cache.close());
      return cache;
    };

    before(() => (writer = fixture.admin));
    after(async () => {
      for (const close of closers) await close();
    });

    describe('tree cache', () => {
      it('loads the subtree, then follows creates, changes and deletes with the old and new nodes', async () => {
        await writer.create('/t1', 'root');
        await writer.create('/t1/a', 'x');
        await writer.create('/t1/a/b', 'deep');
        const cache = started(await session(), '/t1');
        const loaded: string[] = [];
        cache.on('change', (e) => loaded.push(`${e.type} ${e.path}`));
        cache.start();
        assert.throws(() => cache.start(), /cannot be started twice/);
        assert.throws(() => treeCache(writer, 't1'), TypeError);
        await cache.initialized;
        assert.deepEqual(loaded.sort(), ['created /t1', 'created /t1/a', 'created /t1/a/b']);
        assert.equal(cache.get('/t1/a')?.data.toString(), 'x');
        assert.equal(cache.get('/t1/a/b')?.stat.version, 0);
        assert.equal(cache.get('/t1/missing'), undefined);
        assert.deepEqual(cache.children('/t1'), ['a']);
        assert.deepEqual([...cache].map((n) => n.path).sort(), ['/t1', '/t1/a', '/t1/a/b']);

        const iterated: string[] = [];
        const consumer = (async () => {
          for await (const e of cache.events()) {
            iterated.push(`${e.type} ${e.path}`);
            if (iterated.length === 4) break;
          }
        })();
        const heard: CacheEvent[] = [];
        cache.on('change', (e) => heard.push(e));
        await writer.setData('/t1/a', 'y');
        await writer.create('/t1/c', 'new');
        await writer.transaction().delete('/t1/a/b').delete('/t1/a').commit();
        await waitFor('the four events', WAIT_MS, () => heard.length === 4);
        await consumer;
        const [changed, created, ...deleted] = heard;
        assert.ok(changed?.type === 'changed');
        assert.deepEqual([changed.path, changed.old.data.toString(), changed.node.data.toString(), changed.node.stat.version], ['/t1/a', 'x', 'y', 1]);
        assert.ok(created?.type === 'created');
        assert.deepEqual([created.path, created.node.data.toString()], ['/t1/c', 'new']);
        assert.deepEqual(
          deleted.map((e) => (e.type === 'deleted' ? `${e.path} was ${e.old.data}` : e.type)),
          ['/t1/a/b was deep', '/t1/a was y'],
        );
        assert.deepEqual(iterated, heard.map((e) => `${e.type} ${e.path}`), 'the iterator yields what the listener hears');
        assert.deepEqual(await freshRead(writer, '/t1'), cacheView(cache));
        await cache.close();
        assert.equal(cache.size, 0);
        assert.equal(cache.state, 'CLOSED');
      });

      it('follows a root that does not exist yet, and its removal', async () => {
        const cache = started(await session(), '/t2/root');
        cache.start();
        await cache.initialized;
        assert.equal(cache.size, 0);
        await writer.create('/t2');
        await writer.create('/t2/root', 'r');
        await writer.create('/t2/root/child');
        await writer.create('/t2/sibling'); // outside the cache
        await waitFor('the root and its child', WAIT_MS, () => cache.size === 2);
        await writer.delete('/t2/root/child');
        await writer.delete('/t2/root');
        await waitFor('the root gone', WAIT_MS, () => cache.size === 0);
      });

      it('leaves out a node its session may not read, saying so with readError', async () => {
        await writer.create('/t7');
        await writer.create('/t7/open', 'o');
        await writer.create('/t7/secret', 's', { acl: [digestACL('owner', 'pw')] });
        const cache = started(await session(), '/t7');
        const unreadable: string[] = [];
        cache.on('readError', (e, path) => unreadable.push(`${path}: ${e.name}`));
        cache.start();
        await cache.initialized;
        assert.deepEqual([...cache].map((n) => n.path).sort(), ['/t7', '/t7/open']);
        assert.deepEqual(unreadable, ['/t7/secret: NoAuthError']);
        assert.equal(cache.state, 'STARTED');
      });

      it('changes made while its connection was down (no event comes for them) are read after the reconnect', async () => {
        await writer.create('/t3');
        await writer.create('/t3/kept', 'k');
        await writer.create('/t3/gone');
        await writer.create('/t3/gone/below');
        const { proxy, zk } = await proxied();
        const cache = started(zk, '/t3');
        const events = replay(cache);
        cache.start();
        await cache.initialized;
        proxy.refuse();
        proxy.cut();
        await once(zk, 'Disconnected');
        await writer.setData('/t3/kept', 'changed');
        await writer.transaction().delete('/t3/gone/below').delete('/t3/gone').commit();
        await writer.create('/t3/new');
        await writer.create('/t3/new/deeper', 'd');
        proxy.refuse(false);
        await once(zk, 'Connected');
        await waitFor('the cache to catch up', WAIT_MS, async () => (await freshRead(writer, '/t3')).size === cache.size && cache.get('/t3/kept')?.data.toString() === 'changed');
        assert.deepEqual(cacheView(cache), await freshRead(writer, '/t3'));
        assert.deepEqual(events.misfits, []);
        assert.deepEqual(sorted(events.contents), cacheView(cache), 'the events replay to the contents');
        assert.equal(cache.get('/t3/new/deeper')?.data.toString(), 'd');
      });

      it('stops when its session expires, keeping its contents; resume() follows through a new session and emits what changed', async () => {
        await writer.create('/t4');
        await writer.create('/t4/a', '1');
        const zk = await session();
        const cache = started(zk, '/t4');
        cache.start();
        await cache.initialized;
        const stopped = once(cache, 'stopped');
        const iterator = cache.events();
        await expireSession(fixture.server.connectString, { sessionId: zk.sessionId, password: zk.password });
        const [reason] = await stopped;
        assert.ok(reason instanceof SessionExpiredError, String(reason));
        assert.equal(cache.state, 'STOPPED');
        await assert.rejects(iterator.next(), SessionExpiredError, 'an iterator ends with the reason');
        assert.equal(cache.get('/t4/a')?.data.toString(), '1', 'the contents are kept');

        await writer.setData('/t4/a', '2');
        await writer.create('/t4/b');
        const heard: string[] = [];
        cache.on('change', (e) => heard.push(`${e.type} ${e.path}`));
        await cache.resume(await session());
        assert.equal(cache.state, 'STARTED');
        assert.deepEqual(heard.sort(), ['changed /t4/a', 'created /t4/b']);
        await writer.delete('/t4/b');
        await waitFor('the delete followed through the new session', WAIT_MS, () => cache.get('/t4/b') === undefined);
        assert.deepEqual(cacheView(cache), await freshRead(writer, '/t4'));
      });

      it('loads a tree of 1,555 nodes (fan-out 6, four levels) and follows the deletion of all of it in one transaction', async () => {
        const root = '/t6';
        const levels: string[][] = [[root]];
        for (let depth = 1; depth <= 4; depth++) levels.push(levels.at(-1)!.flatMap((p) => Array.from({ length: 6 }, (_, i) => `${p}/c${i}`)));
        const all = levels.flat();
        for (let at = 0; at < all.length; at += 200) {
          const txn = writer.transaction();
          for (const p of all.slice(at, at + 200)) txn.create(p, p);
          await txn.commit();
        }
        const cache = started(await session(), root);
        const events = replay(cache);
        const began = performance.now();
        cache.start();
        await cache.initialized;
        const loadMs = performance.now() - began;
        assert.equal(cache.size, all.length);
        assert.deepEqual(cacheView(cache), await freshRead(writer, root));
        const doomed = [...all].reverse();
        for (let at = 0; at < doomed.length; at += 500) {
          const txn = writer.transaction();
          for (const p of doomed.slice(at, at + 500)) txn.delete(p);
          await txn.commit();
        }
        await waitFor('every node gone from the cache', WAIT_MS, () => cache.size === 0);
        assert.deepEqual(events.misfits, []);
        assert.equal(events.contents.size, 0);
        console.log(`# ${kind} tree cache: loaded ${all.length} nodes in ${Math.round(loadMs)} ms`);
      });

      it(`a random sequence of ${ROUNDS * OPS_PER_ROUND} creates, sets and subtree deletes with its connection cut between steps and its session expired once ends equal to a fresh read (seed ${SEED})`, async () => {
        const rand = new Rand(SEED + (kind === 'zookeeper' ? 1 : 0));
        const root = '/t5';
        await writer.create(root);
        let link = await proxied(); // the cache's session, and the proxy its connection goes through
        let reconnects = 0;
        link.zk.on('Connected', () => reconnects++);
        const cache = started(link.zk, root);
        const events = replay(cache);
        cache.start();
        await cache.initialized;

        const nodes = new Set([root]); // the tree as the writer made it
        const subtree = (p: string) => [...nodes].filter((n) => n === p || n.startsWith(`${p}/`)).sort((a, b) => b.length - a.length);
        let resumed: Promise<void> | undefined;
        const tally = { creates: 0, sets: 0, deletes: 0, subtrees: 0, cuts: 0, refusals: 0 };
        const step = async () => {
          const all = [...nodes];
          const below = all.filter((n) => n !== root);
          const r = rand.next();
          if (r < 0.45 || below.length === 0) {
            // a create, or a chain of up to four under a random node
            let parent = rand.pick(all);
            for (let depth = rand.chance(0.3) ? rand.int(2, 4) : 1; depth > 0 && parent.split('/').length < 8; depth--) {
              const path = childPath(parent, `n${rand.int(0, 5)}`);
              if (nodes.has(path)) break;
              await writer.create(path, rand.chance(0.5) ? `v${rand.int(0, 99)}` : undefined);
              nodes.add(path);
              tally.creates++;
              parent = path;
            }
          } else if (r < 0.82) {
            await writer.setData(rand.pick(below), `v${rand.int(0, 99)}`);
            tally.sets++;
          } else {
            const depth = (p: string) => p.split('/').length;
            const top = [rand.pick(below), rand.pick(below)].sort((a, b) => depth(b) - depth(a))[0]!; // the deeper of two: the tree grows
            const doomed = subtree(top);
            if (rand.chance(0.5)) {
              const txn = writer.transaction();
              for (const p of doomed) txn.delete(p);
              await txn.commit();
            } else for (const p of doomed) await writer.delete(p);
            for (const p of doomed) nodes.delete(p);
            tally.deletes += doomed.length;
            if (doomed.length > 1) tally.subtrees++;
          }
        };
        for (let round = 0; round < ROUNDS; round++) {
          for (let i = 0; i < OPS_PER_ROUND; i++) await step();
          // each fault hits a live connection (often while the cache walks the tree after the last one)
          await waitFor("the cache's session connected again", WAIT_MS, () => link.zk.connected);
          if (round === ROUNDS / 2) {
            // the session expires: the cache stops, and resumes through a new one while the steps go on
            const stopped = once(cache, 'stopped');
            await expireSession(fixture.server.connectString, { sessionId: link.zk.sessionId, password: link.zk.password });
            await stopped;
            link = await proxied();
            link.zk.on('Connected', () => reconnects++);
            resumed = cache.resume(link.zk);
          } else if (rand.chance(0.5)) {
            link.proxy.cut();
            tally.cuts++;
          } else {
            // down for a while: the steps of the next round happen while the cache cannot hear them
            const { proxy } = link;
            proxy.refuse();
            proxy.cut();
            tally.refusals++;
            setTimeout(() => proxy.refuse(false), rand.int(200, 1200));
          }
        }
        link.proxy.refuse(false);
        await resumed;
        let fresh: View = new Map();
        await waitFor('the cache to equal a fresh read', WAIT_MS, async () => {
          fresh = await freshRead(writer, root);
          return link.zk.connected && JSON.stringify([...fresh]) === JSON.stringify([...cacheView(cache)]);
        });
        assert.deepEqual(cacheView(cache), fresh);
        assert.equal(fresh.size, nodes.size, "the writer's model agrees with the server");
        assert.deepEqual(events.misfits, [], 'every event fits what the events before it said');
        assert.deepEqual(sorted(events.contents), cacheView(cache), 'the events replay to the contents');
        assert.ok(reconnects >= ROUNDS - 1, `the cache's sessions reconnected (${reconnects} times)`);
        assert.equal(cache.state, 'STARTED');
        console.log(`# ${kind} tree cache, seed ${SEED}: ${tally.creates} creates, ${tally.sets} sets, ${tally.deletes} deletes (${tally.subtrees} subtrees), ${tally.cuts} cuts, ${tally.refusals} refusals, 1 expiry, ${reconnects} reconnects, ${fresh.size} nodes at the end`);
      });
    });

    describe('service registry', () => {
      it('registers instances as ephemeral JSON nodes; instances(), names(), unregister(); bad input is refused', async () => {
        const zk = await session();
        const registry = serviceRegistry(zk, '/s1/services');
        const a = await registry.register({ name: 'api', id: 'a', address: '10.0.0.1', port: 8080, payload: { zone: 'x' } });
        await registry.register({ name: 'api', address: '10.0.0.2', port: 8081 });
        await registry.register({ name: 'db', id: 'main', address: 'db.local', port: 5432 });
        const stat = await writer.exists('/s1/services/api/a');
        assert.equal(stat?.ephemeralOwner, zk.sessionId);
        assert.deepEqual(JSON.parse((await writer.getData('/s1/services/api/a')).data.toString()), a);
        assert.deepEqual(await registry.names(), ['api', 'db']);
        const api = await serviceRegistry(writer, '/s1/services').instances<{ zone: string } | null>('api');
        assert.deepEqual(api.map((i) => [i.address, i.port, i.payload]).sort(), [['10.0.0.1', 8080, { zone: 'x' }], ['10.0.0.2', 8081, null]]);
        await writer.create('/s1/services/api/not-json', 'garbage');
        assert.equal((await registry.instances('api')).length, 2, 'a node without an instance is skipped');
        await registry.unregister(a);
        await registry.unregister(a); // gone already: a no-op
        assert.deepEqual((await registry.instances('api')).map((i) => i.address), ['10.0.0.2']);
        assert.deepEqual(await registry.instances('nothing'), []);
        await assert.rejects(registry.register({ name: 'a/b', address: 'h', port: 1 }), TypeError);
        await assert.rejects(registry.register({ name: 'api', id: '..', address: 'h', port: 1 }), TypeError);
        await assert.rejects(registry.register({ name: 'api', address: 'h', port: 70000 }), RangeError);
      });

      it('a view sees instances come, and go when their session closes or expires; resume() registers them again', async () => {
        const watcherZk = await session();
        const view: ServiceView = await serviceRegistry(watcherZk, '/s2').view('api');
        closers.push(() => view.close());
        const ids = () => view.instances().map((i: ServiceInstance) => i.id);
        assert.deepEqual(ids(), []);
        const changes: string[][] = [];
        view.on('change', (list) => changes.push(list.map((i) => i.id)));

        const [one, two] = [await session(), await session()];
        const regOne = serviceRegistry(one, '/s2');
        await regOne.register({ name: 'api', id: 'one', address: 'h1', port: 1 });
        await serviceRegistry(two, '/s2').register({ name: 'api', id: 'two', address: 'h2', port: 2 });
        await waitFor('both instances in the view', WAIT_MS, () => ids().length === 2);
        assert.deepEqual(ids(), ['one', 'two']);

        await two.close();
        await waitFor("the closed session's instance gone", WAIT_MS, () => ids().join() === 'one');

        await expireSession(fixture.server.connectString, { sessionId: one.sessionId, password: one.password });
        await waitFor("the expired session's instance gone", WAIT_MS, () => ids().length === 0);
        await waitFor('the owner to learn its session expired', WAIT_MS, () => one.state === 'Expired');

        await regOne.resume(await session());
        await waitFor('the instance registered again through the new session', WAIT_MS, () => ids().join() === 'one');
        assert.deepEqual(changes.at(-1), ['one']);
        assert.ok(changes.some((c) => c.length === 2) && changes.some((c) => c.length === 0), JSON.stringify(changes));
      });

      it("registering an id held by another live session takes it over (Curator's re-registration)", async () => {
        const [old, fresh] = [await session(), await session()];
        await serviceRegistry(old, '/s3').register({ name: 'api', id: 'x', address: 'old', port: 1 });
        await serviceRegistry(fresh, '/s3').register({ name: 'api', id: 'x', address: 'new', port: 1 });
        assert.equal((await writer.exists('/s3/api/x'))?.ephemeralOwner, fresh.sessionId);
        assert.deepEqual((await serviceRegistry(writer, '/s3').instances('api')).map((i) => i.address), ['new']);
      });

      it('a view stops when its session expires and follows again after the registry resumes', async () => {
        const zk = await session();
        const registry = serviceRegistry(zk, '/s4');
        await registry.register({ name: 'api', id: 'mine', address: 'h', port: 1 });
        const view = await registry.view('api');
        closers.push(() => view.close());
        const stopped = once(view, 'stopped');
        await expireSession(fixture.server.connectString, { sessionId: zk.sessionId, password: zk.password });
        await stopped;
        await serviceRegistry(writer, '/s4').register({ name: 'api', id: 'other', address: 'h', port: 2 });
        await registry.resume(await session());
        assert.deepEqual(view.instances().map((i) => i.id), ['mine', 'other']);
      });
    });
  });
}
