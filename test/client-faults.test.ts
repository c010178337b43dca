// The session-level client under faults, the same test body against a Paddock
// server and against ZooKeeper 3.8: the server killed (SIGKILL) with requests
// in flight, connections cut by a TCP proxy the test controls, a silent
// partition only the read timeout notices, a session expired on purpose the way
// Curator's KillSession does it (a second connection with the same id and
// password that then closes), and a server behind the client's lastZxid. What
// the client reports is what ZooKeeper's Java client reports: ConnectionLoss for
// requests in flight at a disconnect, SessionExpired once the session is gone,
// the same session after a reconnect, and a one-shot watch whose node changed
// while disconnected firing once after the reconnect.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  ConnectionLossError,
  connect,
  CreateMode,
  Err,
  SessionExpiredError,
  ZooKeeperClient,
  type SessionState,
  type WatchEvent,
  type ZooKeeper,
} from '../src/client/index.ts';
import { rejectsWith } from './support/client-asserts.ts';
import { TcpProxy } from './support/proxy.ts';
import { startServer, type RunningServer } from './support/servers.ts';
import { waitFor } from './support/wait.ts';

const WAIT_MS = 60_000;
/** Long enough for a server to restart within a session; pings every 4 s, read timeout 8 s. */
const SESSION_MS = 12_000;

/** Every state a session goes through, in order. */
function states(zk: ZooKeeper): SessionState[] {
  const seen: SessionState[] = [];
  zk.on('state', (s) => seen.push(s));
  return seen;
}

const untilState = (zk: ZooKeeper, state: SessionState) => waitFor(`state ${state} (now ${zk.state})`, WAIT_MS, () => zk.state === state);

for (const kind of ['paddock', 'zookeeper'] as const) {
  describe(`client faults against ${kind}`, { timeout: 300_000 }, () => {
    let server: RunningServer;
    let admin: ZooKeeper;
    const restart = async () => {
      server = await startServer(kind, { tickTime: 2000, port: server.port, dataDir: join(server.dir, 'data') });
    };
    const firstDir: string[] = [];
    /** Run `body` with a client connected through a fresh proxy to the server; both closed after. */
    const throughProxy = async (body: (zk: ZooKeeper, proxy: TcpProxy) => Promise<void>) => {
      const proxy = await TcpProxy.start(server);
      const zk = await connect(proxy.connectString, { sessionTimeout: SESSION_MS });
      try {
        await body(zk, proxy);
      } finally {
        await zk.close();
        await proxy.close();
      }
    };
    before(async () => {
      server = await startServer(kind, { tickTime: 2000 });
      firstDir.push(server.dir);
      admin = await connect(server.connectString, { sessionTimeout: SESSION_MS });
      await admin.create('/f', 'v0');
    });
    after(async () => {
      await admin?.close();
      await server?.stop();
      for (const d of firstDir) rmSync(d, { recursive: true, force: true });
    });

    it('server killed with requests in flight: ConnectionLoss, then the same session on the restarted server', async () => {
      await throughProxy(async (zk, proxy) => {
        const seen = states(zk);
        const eph = await zk.create('/f/eph', 'mine', { mode: CreateMode.ephemeral });
        const session = zk.sessionId;
        proxy.freeze(); // the requests below reach no one until the server is gone
        const inFlight = [zk.getData('/f'), zk.setData('/f', 'lost?'), zk.create('/f/new')];
        const settled = Promise.allSettled(inFlight); // they fail as the proxy closes, before the exit event below
        const killed = once(server.proc, 'exit');
        server.proc.kill('SIGKILL');
        await killed;
        proxy.thaw();
        await settled;
        await rejectsWith(inFlight[0]!, ConnectionLossError, Err.connectionLoss, '/f');
        await rejectsWith(inFlight[1]!, ConnectionLossError, Err.connectionLoss, '/f');
        await rejectsWith(inFlight[2]!, ConnectionLossError, Err.connectionLoss, '/f/new');
        await untilState(zk, 'Disconnected');
        // Nothing answers: a request made now fails when the next attempt fails.
        await rejectsWith(zk.exists('/f'), ConnectionLossError, Err.connectionLoss, '/f');
        await server.stop({ keepDir: true });
        await restart();
        await untilState(zk, 'Connected');
        assert.equal(zk.sessionId, session, 'same session');
        assert.equal((await zk.getData(eph)).data.toString(), 'mine', 'its ephemeral node lived on');
        assert.equal((await zk.getData('/f')).data.toString(), 'v0', 'the frozen write never reached the server');
        assert.deepEqual(seen, ['Disconnected', 'Connected']);
        await untilState(admin, 'Connected'); // admin reconnected too
        assert.equal((await admin.getData(eph)).data.toString(), 'mine');
      });
    });

    it('connection cut by a proxy: ConnectionLoss in flight, same session after, a watch whose node changed meanwhile fires once', async () => {
      await throughProxy(async (zk, proxy) => {
        const seen = states(zk);
        const session = zk.sessionId;
        const events: WatchEvent[] = [];
        await zk.getData('/f', { watch: (e) => events.push(e) });
        const childEvents: WatchEvent[] = [];
        await zk.getChildren('/f', { watch: (e) => childEvents.push(e) });
        const missing: WatchEvent[] = [];
        await zk.exists('/f/later', { watch: (e) => missing.push(e) });
        proxy.freeze();
        const pending = zk.getData('/f');
        proxy.refuse();
        proxy.cut();
        proxy.thaw();
        await rejectsWith(pending, ConnectionLossError, Err.connectionLoss, '/f');
        await untilState(zk, 'Disconnected');
        await admin.setData('/f', 'changed while away');
        await admin.create('/f/later');
        await rejectsWith(zk.getData('/f'), ConnectionLossError, Err.connectionLoss, '/f');
        assert.equal(events.length, 0);
        proxy.refuse(false);
        await untilState(zk, 'Connected');
        assert.equal(zk.sessionId, session);
        await waitFor('the watches re-armed by setWatches to fire', WAIT_MS, () => events.length === 1 && childEvents.length === 1 && missing.length === 1);
        assert.deepEqual(events, [{ type: 'NodeDataChanged', state: 'SyncConnected', path: '/f' }]);
        assert.deepEqual(childEvents, [{ type: 'NodeChildrenChanged', state: 'SyncConnected', path: '/f' }]);
        assert.deepEqual(missing, [{ type: 'NodeCreated', state: 'SyncConnected', path: '/f/later' }]);
        await admin.setData('/f', 'again');
        await zk.sync('/');
        assert.equal(events.length, 1, 'once: the watch was one-shot');
        assert.deepEqual(seen, ['Disconnected', 'Connected']);
        await admin.delete('/f/later');
      });
    });

    it('a silent partition: the read timeout notices, the session reconnects', async () => {
      await throughProxy(async (zk, proxy) => {
        const session = zk.sessionId;
        const persistent: WatchEvent[] = [];
        await zk.addWatch('/f', (e) => persistent.push(e), 'persistent');
        proxy.freeze();
        await untilState(zk, 'Disconnected');
        proxy.cut(); // the attempt that started while frozen
        proxy.thaw();
        await untilState(zk, 'Connected');
        assert.equal(zk.sessionId, session);
        const seen = states(zk);
        // A persistent watch fires for no change it missed: the write must come after the server took setWatches2
        // (the sync is answered after it, on the same connection).
        await zk.sync('/');
        await admin.setData('/f', 'after the partition');
        await waitFor('the persistent watch, re-armed by setWatches2', WAIT_MS, () => persistent.length > 0);
        await zk.sync('/');
        assert.deepEqual(persistent, [{ type: 'NodeDataChanged', state: 'SyncConnected', path: '/f' }], `states since: ${seen.join(', ')}`);
      });
    });

    it('session expired on purpose (Curator\'s way): Expired is final, requests fail with SessionExpired, watchers hear it', async () => {
      const zk = await connect(server.connectString, { sessionTimeout: SESSION_MS });
      const seen = states(zk);
      await zk.create('/f/doomed', 'x', { mode: CreateMode.ephemeral });
      const oneShot: WatchEvent[] = [];
      await zk.getData('/f', { watch: (e) => oneShot.push(e) });
      const iterator = zk.watch('/f', { recursive: true });
      const iterated = iterator.next().then(
        () => 'an event',
        (e: unknown) => e,
      );
      await zk.sync('/');
      const twin = await ZooKeeperClient.connect(server.connectString, { sessionId: zk.sessionId, password: zk.password, sessionTimeout: SESSION_MS });
      await twin.close();
      // The twin's attach drops zk's connection, and zk may reattach before the twin's closeSession lands (Curator's
      // KillSession has the same race): then it is dropped again and its next reattach is refused as expired.
      await untilState(zk, 'Expired');
      const expiredAt = seen.indexOf('Expired');
      await assert.rejects(zk.getData('/f'), (e: unknown) => e instanceof SessionExpiredError && e.code === Err.sessionExpired && e.path === '/f');
      assert.ok((await iterated) instanceof SessionExpiredError, 'the iterator throws SessionExpiredError');
      assert.deepEqual(oneShot, [{ type: 'None', state: 'Expired', path: '/f' }]);
      assert.equal(await admin.exists('/f/doomed'), null, 'its ephemeral node went with it');
      await zk.close(); // a no-op on an expired session
      assert.equal(zk.state, 'Expired');
      assert.deepEqual(seen.slice(expiredAt), ['Expired'], `Expired is final: ${seen.join(', ')}`);
    });

    it('a server behind the client\'s lastZxid is refused: the client never reads the past, it waits for one that is not behind', async () => {
      const behind = await startServer(kind, { tickTime: 2000 }); // a fresh server, zxid 0
      const toBehind = await TcpProxy.start(behind);
      const toCurrent = await TcpProxy.start(server);
      toBehind.refuse(); // wherever the shuffle put it, the session starts on the current server
      const zk = await connect(`${toCurrent.connectString},${toBehind.connectString}`, { sessionTimeout: SESSION_MS });
      toBehind.refuse(false);
      try {
        assert.equal(zk.server, toCurrent.connectString);
        await zk.setData('/f', 'seen');
        assert.ok(zk.lastZxid > 0);
        const session = zk.sessionId;
        toCurrent.refuse();
        toCurrent.cut();
        await untilState(zk, 'Disconnected');
        const tried = toBehind.accepted;
        await waitFor('the client to try the server behind twice', WAIT_MS, () => toBehind.accepted >= tried + 2);
        assert.equal(zk.state, 'Disconnected', 'refused by the server behind');
        toCurrent.refuse(false);
        await untilState(zk, 'Connected');
        assert.equal(zk.sessionId, session);
        assert.equal(zk.server, toCurrent.connectString);
        assert.equal((await zk.getData('/f')).data.toString(), 'seen');
      } finally {
        await zk.close();
        await toBehind.close();
        await toCurrent.close();
        await behind.stop();
      }
    });
  });
}
