// paddock/testing (src/testing) from the repository's own tests: startServer
// keeps a server's data across kill -9 and restart on the same port, refuses
// peers it does not have, and close() leaves no temporary directory; a
// process that never calls close() still exits, taking its servers and their
// directories with it;
// expireSession ends a session the way its owner sees on ZooKeeper 3.8 and
// on Paddock alike (connection closed, ephemerals gone, reattach refused as
// expired). The 3-peer ensemble is proven through the packed package
// (test/package.test.ts).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { CreateMode, Err, ZkError, ZooKeeperClient } from '../src/client/index.ts';
import { expireSession, startServer } from '../src/testing/index.ts';
import { bounded } from './support/ensemble.ts';
import { ROOT, startZooKeeper } from './support/servers.ts';
import { waitFor } from './support/wait.ts';

const run = promisify(execFile);

const WAIT_MS = 60_000;

/** What connecting to `connectString` with `session`'s id and password yields: 'reattached' or the error code. */
async function reattach(connectString: string, session: ZooKeeperClient): Promise<string | number> {
  return ZooKeeperClient.connect(connectString, { sessionId: session.sessionId, password: session.password }).then(
    (c) => (c.disconnect(), 'reattached'),
    (e: unknown) => (e instanceof ZkError ? e.code : String(e)),
  );
}

/** fn() with os.tmpdir() (which reads TMPDIR at each call) at `dir`. */
async function withTmpdir<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  try {
    return await fn();
  } finally {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
  }
}

/** fn(dir) with a fresh temporary directory, removed afterwards. */
async function inScratch(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'testing-scratch-'));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const clusterDirs = (scratch: string) => readdirSync(scratch).filter((d) => d.startsWith('paddock-testing-'));

describe('paddock/testing', () => {
  it('startServer: data survive kill -9 and restart on the same port; close() removes the temporary directory', () =>
    inScratch(async (scratch) => {
      const server = await withTmpdir(scratch, () => startServer());
      try {
        assert.equal(clusterDirs(scratch).length, 1, 'the server lives in one temporary directory');
        assert.equal(server.size, 1);
        assert.equal(server.connectString, server.address(1));
        const c = await ZooKeeperClient.connect(server.connectString);
        await c.create('/kept', 'across a kill');
        await c.close();

        await server.kill();
        assert.notEqual(await ZooKeeperClient.connect(server.connectString, { connectTimeout: 2000 }).then(() => 'connected', () => 'refused'), 'connected');
        await server.restart();
        const again = await ZooKeeperClient.connect(server.connectString);
        assert.equal((await again.getData('/kept')).data?.toString(), 'across a kill');
        await again.close();

        await assert.rejects(server.kill(2), RangeError);
        await assert.rejects(server.restart(0), RangeError);
      } finally {
        await server.close();
      }
      assert.deepEqual(clusterDirs(scratch), []);
    }),
  );

  it('a cluster the caller never closes neither keeps its process alive nor outlives it', () =>
    inScratch(async (scratch) => {
      const forgetful = `import { startServer } from './src/testing/index.ts'; const s = await startServer(); console.log(s.connectString);`;
      const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', forgetful], { cwd: ROOT, env: { ...process.env, TMPDIR: scratch }, timeout: WAIT_MS * 2 });
      const connectString = stdout.trim();
      assert.match(connectString, /^127\.0\.0\.1:\d+$/);
      await waitFor('the abandoned server to be gone', WAIT_MS, () => ZooKeeperClient.connect(connectString, { connectTimeout: 2000 }).then((c) => (c.disconnect(), false), () => true));
      assert.deepEqual(clusterDirs(scratch), []);
    }),
  );

  for (const kind of ['paddock', 'zookeeper'] as const) {
    it(`expireSession on ${kind}: the owner's connection closes, its ephemeral goes, its reattach is refused as expired`, async () => {
      const server =
        kind === 'paddock'
          ? await startServer().then((s) => ({ connectString: s.connectString, stop: () => s.close() }))
          : await startZooKeeper().then((s) => ({ connectString: s.connectString, stop: () => s.stop() }));
      try {
        const owner = await ZooKeeperClient.connect(server.connectString, { sessionTimeout: 30_000 });
        await owner.create('/owned', 'by the session', { mode: CreateMode.ephemeral });
        const closed = new Promise((resolve) => owner.once('close', resolve));

        await expireSession(server.connectString, owner);
        await bounded('the owner to see its connection closed', WAIT_MS, closed);
        const other = await ZooKeeperClient.connect(server.connectString);
        assert.equal(await other.exists('/owned'), null);
        await other.close();
        assert.equal(await reattach(server.connectString, owner), Err.sessionExpired);
        // expiring it again is no error: it has already gone
        await expireSession(server.connectString, owner);
      } finally {
        await server.stop();
      }
    });
  }
});
