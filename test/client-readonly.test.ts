// The session-level client with canBeReadOnly on a three-member ensemble run
// with readonlymode.enabled (ZooKeeper's members also with localSessionsEnabled,
// which 3.8 needs to serve read-only sessions), the same body on Paddock and on
// ZooKeeper 3.8 members: with two members killed, the survivor serves the
// client read-only (ConnectedReadOnly; reads answer, writes fail with
// NotReadOnlyError) and refuses a client that did not ask for read-only; when
// the two return, the survivor rejoins and closes its read-only connections,
// and the client, which has never seen a read-write server, reconnects with a
// new session as ZooKeeper's client does, and writes again.
//
// The read-write probe: a lone member of a three-member ensemble (read-only for
// good) and a standalone server behind a proxy that refuses connections at
// first. The client takes the lone member read-only; once the proxy lets
// connections through, the client's `isro` probe finds the standalone answering
// "rw" and moves there by itself (the lone member never closes the connection).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect, ConnectionLossError, Err, NotReadOnlyError, type SessionState } from '../src/client/index.ts';
import { TestEnsemble } from './support/ensemble.ts';
import { TcpProxy } from './support/proxy.ts';
import { startServer } from './support/servers.ts';
import { waitFor } from './support/wait.ts';

const WAIT_MS = 60_000;

for (const kind of ['paddock', 'zookeeper'] as const) {
  describe(`client read-only on a ${kind} ensemble`, { timeout: 300_000 }, () => {
    let ens: TestEnsemble;
    before(async () => {
      const cfg: Record<string, string | number> = { maxSessionTimeout: 30_000, ...(kind === 'zookeeper' ? { localSessionsEnabled: 'true' } : {}) };
      ens = await TestEnsemble.create(`client-readonly-${kind}`, [1, 2, 3].map((id) => ({ id, kind, jvmFlags: ['-Dreadonlymode.enabled=true'] })), { tickTime: 300, cfg, waitMs: WAIT_MS });
      await ens.startAll();
    });
    after(() => ens?.close());

    it('canBeReadOnly: ConnectedReadOnly on a member cut off from its quorum, then read-write with a new session', async () => {
      const writer = await connect(ens.connectString([1]));
      await writer.create('/ro', 'before');
      await writer.close();
      await Promise.all([ens.kill(2), ens.kill(3)]);
      await waitFor('member 1 to serve read-only', WAIT_MS, async () => (await ens.fourLetter(1, 'isro')) === 'ro');

      await assert.rejects(connect(ens.connectString([1]), { establishTimeout: 3000 }), ConnectionLossError, 'a client that did not ask for read-only gets no session');
      const zk = await connect(ens.connectString([1]), { canBeReadOnly: true, sessionTimeout: 20_000 });
      try {
        const seen: SessionState[] = [];
        zk.on('state', (s) => seen.push(s));
        assert.equal(zk.state, 'ConnectedReadOnly');
        assert.equal((await zk.getData('/ro')).data.toString(), 'before');
        await assert.rejects(zk.create('/ro/during'), (e: unknown) => e instanceof NotReadOnlyError && e.code === Err.notReadOnly && e.path === '/ro/during');
        const readOnlySession = zk.sessionId;

        await Promise.all([ens.start(2), ens.start(3)]);
        await ens.settled();
        await waitFor('the client to be read-write', WAIT_MS, () => zk.state === 'Connected');
        assert.ok(seen.includes('Disconnected'), `the read-only connection was closed: ${seen.join(', ')}`);
        assert.notEqual(zk.sessionId, readOnlySession, 'a new session: the read-only one was never seen by a read-write server');
        assert.equal(await zk.create('/ro/after', 'rw'), '/ro/after');
      } finally {
        await zk.close();
      }
    });
  });
}

for (const kind of ['paddock', 'zookeeper'] as const) {
  describe(`client read-write probe, ${kind} servers`, { timeout: 300_000 }, () => {
    it('a read-only session moves by itself to a server that answers isro with rw, with a new session', async () => {
      const cfg: Record<string, string | number> = kind === 'zookeeper' ? { localSessionsEnabled: 'true' } : {};
      const lone = await TestEnsemble.create(`client-rwprobe-${kind}`, [1, 2, 3].map((id) => ({ id, kind, jvmFlags: ['-Dreadonlymode.enabled=true'] })), { tickTime: 300, cfg, waitMs: WAIT_MS });
      const standalone = await startServer(kind, { tickTime: 300 });
      const proxy = await TcpProxy.start(standalone);
      try {
        await lone.start(1, { noWait: true });
        await waitFor('the lone member to serve read-only', WAIT_MS, async () => (await lone.fourLetter(1, 'isro')) === 'ro');
        proxy.refuse();
        const zk = await connect(`${lone.connectString([1])},${proxy.connectString}`, { canBeReadOnly: true, sessionTimeout: 20_000 });
        try {
          assert.equal(zk.state, 'ConnectedReadOnly');
          const readOnlySession = zk.sessionId;
          const seen: SessionState[] = [];
          zk.on('state', (s) => seen.push(s));
          proxy.refuse(false);
          await waitFor('the client to move to the read-write server', WAIT_MS, () => zk.state === 'Connected');
          assert.deepEqual(seen, ['Disconnected', 'Connected']);
          assert.equal(zk.server, proxy.connectString);
          assert.notEqual(zk.sessionId, readOnlySession, 'a new session: no read-write server had seen the read-only one');
          assert.equal(await zk.create('/moved', 'rw'), '/moved');
          const direct = await connect(standalone.connectString);
          assert.equal((await direct.getData('/moved')).data.toString(), 'rw', 'the write went to the standalone server');
          await direct.close();
        } finally {
          await zk.close();
        }
      } finally {
        await proxy.close();
        await standalone.stop();
        await lone.close();
      }
    });
  });
}
