// Paddock's client library (src/client) against Apache ZooKeeper 3.8.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  AddWatchMode,
  CREATOR_ALL_ACL,
  CreateMode,
  Err,
  EventType,
  FrameDecoder,
  MultiError,
  OpCode,
  Perm,
  WatcherType,
  ZkError,
  ZooKeeperClient,
  digestACL,
  digestId,
  op,
  type WatchEvent,
} from '../src/client/index.ts';
import { startServer, type RunningServer } from './support/servers.ts';

function frame(payload: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeInt32BE(payload.length);
  return Buffer.concat([len, payload]);
}

describe('FrameDecoder', () => {
  const frames = [Buffer.from('hello'), Buffer.alloc(0), Buffer.alloc(70_000, 7), Buffer.from([1, 2, 3])];
  const wire = Buffer.concat(frames.map(frame));

  test('one byte at a time', () => {
    const d = new FrameDecoder(1 << 20);
    const got: Buffer[] = [];
    for (let i = 0; i < wire.length; i++) got.push(...d.push(wire.subarray(i, i + 1)));
    assert.deepEqual(got, frames);
    assert.equal(d.buffered, 0);
  });

  test('all frames coalesced, and odd-sized chunks', () => {
    assert.deepEqual(new FrameDecoder(1 << 20).push(wire), frames);
    for (const size of [3, 4, 5, 4096, 65_537]) {
      const d = new FrameDecoder(1 << 20);
      const got: Buffer[] = [];
      for (let i = 0; i < wire.length; i += size) got.push(...d.push(wire.subarray(i, i + size)));
      assert.deepEqual(got, frames, `chunk size ${size}`);
    }
  });

  test('rejects impossible lengths', () => {
    assert.throws(() => new FrameDecoder(100).push(frame(Buffer.alloc(101))), /out of range/);
    assert.throws(() => new FrameDecoder(100).push(Buffer.from([0xff, 0xff, 0xff, 0xff])), /out of range/);
  });
});

describe('ZooKeeperClient against ZooKeeper 3.8', () => {
  let server: RunningServer;
  const clients: ZooKeeperClient[] = [];
  const connect = async (opts: Parameters<typeof ZooKeeperClient.connect>[1] = {}) => {
    const c = await ZooKeeperClient.connect(server.connectString, opts);
    clients.push(c);
    return c;
  };
  const code = (c: number) => (e: unknown) => e instanceof ZkError && e.code === c;
  const nextEvent = (c: ZooKeeperClient) => new Promise<WatchEvent>((resolve) => c.once('watch', resolve));

  before(async () => {
    server = await startServer('zookeeper', { cfg: { extendedTypesEnabled: 'true' } });
  });
  after(async () => {
    for (const c of clients) await c.close();
    await server?.stop();
  });

  test('handshake: session id, password, negotiated timeout', async () => {
    const c = await connect({ sessionTimeout: 1000 });
    assert.notEqual(c.sessionId, 0n);
    assert.equal(c.password.length, 16);
    assert.equal(c.sessionTimeout, 4000, 'clamped up to 2 x tickTime');
    assert.equal(c.readOnly, false);
    assert.ok(c.connected);
  });

  test('create / exists / getData / setData / delete, with errors as ZkError codes', async () => {
    const c = await connect();
    assert.equal(await c.create('/crud', 'v0'), '/crud');
    await assert.rejects(c.create('/crud'), code(Err.nodeExists));
    const { path, stat } = await c.create2('/crud/kid', null);
    assert.equal(path, '/crud/kid');
    assert.equal(stat.version, 0);
    assert.equal(stat.czxid, stat.mzxid);

    const got = await c.getData('/crud');
    assert.equal(got.data?.toString(), 'v0');
    assert.equal(got.stat.numChildren, 1);
    assert.equal((await c.getData('/crud/kid')).data, null, 'null data stays null');

    const s1 = await c.setData('/crud', 'v1', 0);
    assert.equal(s1.version, 1);
    await assert.rejects(c.setData('/crud', 'v2', 0), code(Err.badVersion));
    await assert.rejects(c.delete('/crud'), code(Err.notEmpty));
    await c.delete('/crud/kid', 0);
    assert.deepEqual(await c.getChildren('/crud'), []);
    await c.delete('/crud');
    assert.equal(await c.exists('/crud'), null);
    await assert.rejects(c.getData('/crud'), code(Err.noNode));
    await assert.rejects(c.create('/bad/'), code(Err.noNode));
    await assert.rejects(c.create('//bad'), code(Err.badArguments));
  });

  test('raw request() reports server errors without throwing', async () => {
    const c = await connect();
    const r = await c.request({ type: OpCode.getData, path: '/does-not-exist', watch: false });
    assert.equal(r.err, Err.noNode);
    assert.deepEqual(r.body, {});
    assert.ok(r.xid > 0);
    const ok = await c.request({ type: OpCode.exists, path: '/', watch: false });
    assert.equal(ok.err, 0);
    assert.equal(ok.xid, r.xid + 1);
    assert.ok(ok.body.stat);
    const unknown = await c.send(999);
    assert.equal(unknown.err, Err.unimplemented);
  });

  test('sequential nodes, getChildren2, getAllChildrenNumber, sync', async () => {
    const c = await connect();
    await c.create('/seq');
    const a = await c.create('/seq/n-', 'a', { mode: CreateMode.persistentSequential });
    const b = await c.create('/seq/n-', 'b', { mode: CreateMode.persistentSequential });
    assert.equal(a, '/seq/n-0000000000');
    assert.equal(b, '/seq/n-0000000001');
    const { children, stat } = await c.getChildren2('/seq');
    assert.deepEqual(children.sort(), ['n-0000000000', 'n-0000000001']);
    assert.equal(stat.numChildren, 2);
    assert.equal(stat.cversion, 2);
    assert.equal(await c.getAllChildrenNumber('/seq'), 2);
    assert.equal(await c.sync('/seq'), '/seq');
  });

  test('ephemerals vanish when their session closes', async () => {
    const owner = await connect();
    const other = await connect();
    await owner.create('/eph', 'x', { mode: CreateMode.ephemeral });
    assert.deepEqual(await owner.getEphemerals('/'), ['/eph']);
    assert.deepEqual(await other.getEphemerals('/'), []);
    assert.equal((await other.exists('/eph'))?.ephemeralOwner, owner.sessionId);
    const gone = nextEvent(other);
    await other.exists('/eph', true);
    await owner.close();
    await owner.close(); // idempotent
    assert.deepEqual(await gone, { type: EventType.nodeDeleted, state: 3, path: '/eph', zxid: -1 });
    assert.equal(await other.exists('/eph'), null);
    await assert.rejects(owner.getData('/'), code(Err.sessionExpired));
  });

  test('one-shot watches arrive before the reply that shows the change', async () => {
    const watcher = await connect();
    const writer = await connect();
    const events: WatchEvent[] = [];
    watcher.on('watch', (e: WatchEvent) => events.push(e));
    assert.equal(await watcher.exists('/w', true), null);
    await writer.create('/w', 'a');
    await watcher.getData('/w', true);
    await watcher.getChildren('/w', true);
    await writer.setData('/w', 'b');
    await writer.setData('/w', 'c'); // data watch already fired
    await writer.create('/w/kid');
    await watcher.sync('/'); // everything before this reply has been delivered
    assert.deepEqual(
      events.map((e) => [e.type, e.path]),
      [
        [EventType.nodeCreated, '/w'],
        [EventType.nodeDataChanged, '/w'],
        [EventType.nodeChildrenChanged, '/w'],
      ],
    );
  });

  test('persistent watches and removeWatches', async () => {
    const c = await connect();
    const w = await connect();
    const events: WatchEvent[] = [];
    w.on('watch', (e: WatchEvent) => events.push(e));
    await w.addWatch('/pw', AddWatchMode.persistentRecursive);
    await c.create('/pw');
    await c.create('/pw/a');
    await c.setData('/pw/a', 'x');
    await w.removeWatches('/pw', WatcherType.any);
    await assert.rejects(w.removeWatches('/pw', WatcherType.any), code(Err.noWatcher));
    await c.delete('/pw/a');
    await w.sync('/');
    assert.deepEqual(
      events.map((e) => [e.type, e.path]),
      [
        [EventType.nodeCreated, '/pw'],
        [EventType.nodeCreated, '/pw/a'],
        [EventType.nodeDataChanged, '/pw/a'],
      ],
    );
  });

  test('multi: all or nothing; multiRead: per-op results', async () => {
    const c = await connect();
    const results = await c.multi([op.create('/m', 'm'), op.create('/m/a'), op.setData('/m', 'm1', 0), op.check('/m', 1)]);
    assert.deepEqual(
      results.map((r) => [r.type, r.err]),
      [
        [OpCode.create, 0],
        [OpCode.create, 0],
        [OpCode.setData, 0],
        [OpCode.check, 0],
      ],
    );
    const failed = await c.multi([op.create('/m/b'), op.delete('/nope'), op.create('/m/c')]).catch((e: unknown) => e);
    assert.ok(failed instanceof MultiError);
    assert.equal(failed.code, Err.noNode);
    assert.deepEqual(
      failed.results.map((r) => r.err),
      [0, Err.noNode, Err.runtimeInconsistency],
    );
    assert.equal(await c.exists('/m/b'), null, 'rolled back');
    const reads = await c.multiRead([op.getData('/m'), op.getChildren('/m'), op.getData('/nope')]);
    assert.equal(reads[0].data?.toString(), 'm1');
    assert.deepEqual(reads[1].children, ['a']);
    assert.equal(reads[2].err, Err.noNode);
  });

  test('digest auth and ACLs; a rejected auth closes the connection', async () => {
    const alice = await connect();
    const bob = await connect();
    await alice.addAuth('digest', 'alice:pw');
    assert.deepEqual((await alice.whoAmI()).map((i) => `${i.authScheme}:${i.user}`).sort(), ['digest:alice', 'ip:127.0.0.1']);
    await alice.create('/secret', 's', { acl: CREATOR_ALL_ACL });
    assert.deepEqual((await alice.getACL('/secret')).acl, [{ perms: Perm.all, id: { scheme: 'digest', id: digestId('alice', 'pw') } }]);
    await assert.rejects(bob.getData('/secret'), code(Err.noAuth));
    await assert.rejects(bob.create('/x', null, { acl: CREATOR_ALL_ACL }), code(Err.invalidACL));
    await bob.addAuth('digest', 'alice:pw');
    assert.equal((await bob.getData('/secret')).data?.toString(), 's');
    const st = await alice.setACL('/secret', [digestACL('alice', 'pw'), { perms: Perm.read, id: { scheme: 'world', id: 'anyone' } }], 0);
    assert.equal(st.aversion, 1);
    await assert.rejects(alice.setACL('/secret', [digestACL('alice', 'pw')], 0), code(Err.badVersion));

    const eve = await connect();
    const closed = new Promise((r) => eve.once('close', r));
    await assert.rejects(eve.addAuth('bogus', 'x'), code(Err.authFailed));
    await closed;
    assert.equal(eve.connected, false);
  });

  test('TTL and container nodes (extendedTypesEnabled)', async () => {
    const c = await connect();
    const ttl = await c.create2('/ttl', 't', { mode: CreateMode.persistentWithTTL, ttl: 60_000 });
    assert.equal(ttl.stat.ephemeralOwner, 0n);
    await assert.rejects(c.create('/ttl0', 't', { mode: CreateMode.persistentWithTTL, ttl: 0 }), code(Err.badArguments));
    assert.equal(await c.create('/ctr', null, { mode: CreateMode.container }), '/ctr');
  });

  test('pipelining: many requests in flight, replies matched in order', async () => {
    const c = await connect();
    await c.create('/pipe');
    const n = 300;
    const writes = Array.from({ length: n }, (_, i) => c.create(`/pipe/${i}`, Buffer.alloc(i * 10, i)));
    const reads = Array.from({ length: n }, (_, i) => c.request({ type: OpCode.getData, path: `/pipe/${i}`, watch: false }));
    assert.deepEqual(await Promise.all(writes), Array.from({ length: n }, (_, i) => `/pipe/${i}`));
    const replies = await Promise.all(reads);
    replies.forEach((r, i) => {
      assert.equal(r.err, 0);
      assert.equal(r.body.data?.length, i * 10);
    });
    for (let i = 1; i < n; i++) assert.equal(replies[i].xid, replies[i - 1].xid + 1);
    assert.equal(await c.getAllChildrenNumber('/pipe'), n);
  });

  test('pings keep flowing at a third of the session timeout', async () => {
    const c = await connect({ sessionTimeout: 4000 });
    const before = c.received;
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(c.received > before, 'a ping reply arrived without any request');
    const pong = await c.ping();
    assert.equal(pong.xid, -2);
    assert.equal(pong.err, 0);
  });

  test('reattach with session id and password; a wrong password is refused', async () => {
    const c = await connect();
    await c.create('/mine', null, { mode: CreateMode.ephemeral });
    c.disconnect();
    await assert.rejects(c.exists('/'), code(Err.connectionLoss));
    const again = await connect({ sessionId: c.sessionId, password: c.password });
    assert.equal(again.sessionId, c.sessionId);
    assert.deepEqual(await again.getEphemerals('/'), ['/mine']);
    const wrong = Buffer.from(c.password.map((b) => b ^ 1));
    await assert.rejects(ZooKeeperClient.connect(server.connectString, { sessionId: c.sessionId, password: wrong }), code(Err.sessionExpired));
  });
});
