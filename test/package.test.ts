// The package as its users get it. `npm pack` (which builds dist/ first) makes
// the tarball; it is installed offline into an empty project, where:
//  - a node:test file run by plain `node --test` imports `paddock` and
//    `paddock/testing`, starts a 3-peer ensemble with startEnsemble, writes and
//    reads with the package's own client, kills and restarts every peer in
//    turn (a write and read with each peer down, then through the restarted
//    peer, which must hold every write so far), expires a session on demand,
//    and closes everything, leaving no temporary directory; the README's
//    "Testing your app" example runs there too;
//  - `tsc --strict` with moduleResolution nodenext type-checks a TypeScript
//    file that uses both entry points.
// The tarball holds dist/, bin/, README and LICENSE and nothing of test/,
// bench/ or src/; the installed package pulls in no dependency and has no
// install-time script; its version banner gives the build time.
// Last, it prints how long a server takes from spawn to its first answered
// read, and its RSS then: the installed (built) package, the sources run
// through tsx (as bin/paddock.js did before the build), and ZooKeeper 3.8.
// Numbers only, never assertions.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ZooKeeperClient } from '../src/client/index.ts';
import { ZOOKEEPER_COMPAT_VERSION } from '../src/proto/constants.ts';
import { freePort, ROOT, ZK_CLASSPATH } from './support/servers.ts';

const run = promisify(execFile);
const TYPESCRIPT = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const NODE_TYPES = join(ROOT, 'node_modules', '@types');

/** The consumer's node:test file: only the package's public surface, as a user writes it. */
const CONSUMER_TEST = `
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, it } from 'node:test';
import { CreateMode, Err, ZkError, ZooKeeperClient } from 'paddock';
import { startEnsemble } from 'paddock/testing';

const WAIT_MS = 60_000;
let ensemble;
before(async () => (ensemble = await startEnsemble({ size: 3 })));
after(() => ensemble?.close());

/** op on a fresh session of connectString, tried again until WAIT_MS pass (an election may be under way). */
async function withSession(connectString, op) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    let client;
    try {
      client = await ZooKeeperClient.connect(connectString, { connectTimeout: 5000 });
      return await op(client);
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 250));
    } finally {
      await client?.close().catch(() => undefined);
    }
  }
}

/** Create path = value (an earlier try may have created it before its connection went), then read it after sync. */
const writeAndRead = (connectString, path, value) =>
  withSession(connectString, async (c) => {
    await c.create(path, value).catch((e) => {
      if (!(e instanceof ZkError && e.code === Err.nodeExists)) throw e;
    });
    await c.sync('/');
    return (await c.getData(path)).data.toString();
  });

const readAll = (connectString, paths) =>
  withSession(connectString, async (c) => {
    await c.sync('/');
    return Promise.all(paths.map(async (p) => (await c.getData(p)).data.toString()));
  });

const written = new Map();
async function write(connectString, path, value) {
  assert.equal(await writeAndRead(connectString, path, value), value);
  written.set(path, value);
}

it('survives kill and restart of every peer in turn', async () => {
  await write(ensemble.connectString, '/app', 'made with every peer up');
  for (const n of [1, 2, 3]) {
    await ensemble.kill(n);
    const others = [1, 2, 3].filter((m) => m !== n).map((m) => ensemble.address(m)).join(',');
    await write(others, '/app/peer' + n + '-down', 'written while peer ' + n + ' was down');
    await ensemble.restart(n);
    await write(ensemble.address(n), '/app/peer' + n + '-back', 'written through peer ' + n + ' after its restart');
    assert.deepEqual(await readAll(ensemble.address(n), [...written.keys()]), [...written.values()]);
  }
});

it('expires a session on demand', async () => {
  const owner = await ZooKeeperClient.connect(ensemble.address(1));
  await owner.create('/app/owned', 'ephemeral', { mode: CreateMode.ephemeral });
  await ensemble.expireSession(owner);
  const after = await withSession(ensemble.address(2), async (c) => (await c.sync('/'), c.exists('/app/owned')));
  assert.equal(after, null);
  const reattach = await ZooKeeperClient.connect(ensemble.address(3), { sessionId: owner.sessionId, password: owner.password }).then(
    (c) => (c.disconnect(), 'reattached'),
    (e) => (e instanceof ZkError ? e.code : String(e)),
  );
  assert.equal(reattach, Err.sessionExpired);
  owner.disconnect();
  writeFileSync('result.json', JSON.stringify({ written: Object.fromEntries(written), ephemeralAfterExpiry: after, reattach }));
});
`;

/** The consumer's TypeScript: both entry points, types spelled out so tsc checks them. */
const CONSUMER_TS = `
import { CreateMode, ZkError, ZooKeeperClient, type Stat } from 'paddock';
import { expireSession, startEnsemble, startServer, type SessionCredentials, type TestCluster } from 'paddock/testing';

export async function check(): Promise<number> {
  const server: TestCluster = await startServer({ tickTime: 200, cfg: { extendedTypesEnabled: 'true' } });
  const client: ZooKeeperClient = await ZooKeeperClient.connect(server.connectString);
  const path: string = await client.create('/x', 'data', { mode: CreateMode.ephemeral });
  const read: { data: Buffer | null; stat: Stat } = await client.getData(path);
  const credentials: SessionCredentials = client;
  await server.expireSession(credentials);
  await expireSession(server.connectString, { sessionId: client.sessionId, password: client.password });
  await server.kill(1);
  await server.restart(1);
  await server.close();
  const ensemble: TestCluster = await startEnsemble({ size: 3, startTimeout: 60_000 });
  const where: string = ensemble.address(2);
  await ensemble.close();
  return read.stat.version + where.length + (new ZkError(0, 'x') instanceof Error ? 1 : 0);
}
`;

describe('the packed package, installed into an empty project', () => {
  let work: string;
  let app: string;
  let packed: string[];

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'paddock-package-'));
    app = join(work, 'app');
    mkdirSync(app);
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT, maxBuffer: 16 << 20, timeout: 300_000 });
    const [info] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
    packed = info!.files.map((f) => f.path);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    await run('npm', ['install', '--offline', '--no-audit', '--no-fund', join(work, info!.filename)], { cwd: app, timeout: 300_000 });
  });

  after(() => rmSync(work, { recursive: true, force: true }));

  it('ships dist/, bin/, README and LICENSE only, with no runtime dependency and no install script', () => {
    const top = [...new Set(packed.map((p) => p.split('/')[0]))].sort();
    assert.deepEqual(top, ['LICENSE', 'README.md', 'bin', 'dist', 'package.json']);
    for (const entry of ['bin/paddock.js', 'dist/cli.js', 'dist/client/index.js', 'dist/client/index.d.ts', 'dist/testing/index.js', 'dist/testing/index.d.ts', 'dist/client/client.js.map', 'dist/build-info.json', 'dist/admin/dashboard/index.html', 'dist/admin/dashboard/app.js', 'dist/admin/dashboard/style.css']) {
      assert.ok(packed.includes(entry), `the tarball holds ${entry}`);
    }
    assert.deepEqual(packed.filter((p) => /(^|\/)(test|bench|src)\/|\.test\.|\.ts$/.test(p) && !p.endsWith('.d.ts')), []);
    assert.deepEqual(readdirSync(join(app, 'node_modules')).filter((d) => !d.startsWith('.')), ['paddock'], 'the package pulls in nothing else');
    const manifest = JSON.parse(readFileSync(join(app, 'node_modules', 'paddock', 'package.json'), 'utf8'));
    assert.equal(manifest.dependencies, undefined);
    for (const hook of ['preinstall', 'install', 'postinstall', 'prepare']) assert.equal(manifest.scripts[hook], undefined, `no ${hook} script`);
  });

  it("the installed command's version banner gives the build time dist/build-info.json holds, not a file's date", async () => {
    const buildInfo = join(app, 'node_modules', 'paddock', 'dist', 'build-info.json');
    assert.ok(!Number.isNaN(Date.parse(JSON.parse(readFileSync(buildInfo, 'utf8')).builtOn)), 'the build wrote its time');
    writeFileSync(buildInfo, JSON.stringify({ builtOn: '2001-02-03T04:05:06.789Z' })); // a time no file of it has
    const { stdout } = await run(process.execPath, [join(app, 'node_modules', '.bin', 'paddock'), 'version'], { timeout: 60_000 });
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    assert.equal(stdout, `${ZOOKEEPER_COMPAT_VERSION}-paddock-${version}, built on 2001-02-03 04:05 UTC\n`);
  });

  it("plain node --test: a 3-peer ensemble from paddock/testing survives kill and restart of each peer; a session expires on demand; the README's example passes", async () => {
    writeFileSync(join(app, 'ensemble.test.mjs'), CONSUMER_TEST);
    writeFileSync(join(app, 'readme.test.mjs'), readmeExample());
    const scratch = join(work, 'tmp');
    mkdirSync(scratch);
    // NODE_TEST_CONTEXT would make the inner `node --test` report to this runner instead of printing
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const result = await run(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=tap', 'ensemble.test.mjs', 'readme.test.mjs'], { cwd: app, env: { ...env, TMPDIR: scratch }, timeout: 540_000, maxBuffer: 16 << 20 }).catch(
      (e: { stdout: string; stderr: string }) => assert.fail(`the consumer's test failed:\n${e.stdout}\n${e.stderr}`),
    );
    assert.match(result.stdout, /^# pass 3$/m);
    assert.match(result.stdout, /^# fail 0$/m);
    const outcome = JSON.parse(readFileSync(join(app, 'result.json'), 'utf8'));
    const expected: Record<string, string> = { '/app': 'made with every peer up' };
    for (const n of [1, 2, 3]) {
      expected[`/app/peer${n}-down`] = `written while peer ${n} was down`;
      expected[`/app/peer${n}-back`] = `written through peer ${n} after its restart`;
    }
    assert.deepEqual(outcome, { written: expected, ephemeralAfterExpiry: null, reattach: -112 });
    assert.deepEqual(readdirSync(scratch), [], 'close() removed every temporary directory');
  });

  it('tsc --strict with moduleResolution nodenext type-checks both entry points', async () => {
    writeFileSync(join(app, 'check.ts'), CONSUMER_TS);
    const compilerOptions = { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', noEmit: true, types: ['node'], typeRoots: [NODE_TYPES] };
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['check.ts'] }));
    await run(process.execPath, [TYPESCRIPT, '-p', 'tsconfig.json'], { cwd: app, timeout: 300_000 }).catch((e: { stdout: string }) => assert.fail(`tsc failed:\n${e.stdout}`));
    // and it does reject a wrong use, so the check above checked something
    writeFileSync(join(app, 'check.ts'), `${CONSUMER_TS}\nexport const wrong: number = (await import('paddock/testing')).startServer;\n`);
    const rejected = await run(process.execPath, [TYPESCRIPT, '-p', 'tsconfig.json'], { cwd: app, timeout: 300_000 }).then(
      () => '',
      (e: { stdout: string }) => e.stdout,
    );
    assert.match(rejected, /check\.ts\(\d+,\d+\): error TS2322/);
  });

  it('prints start-up to first read: built package, sources through tsx, ZooKeeper', async (t) => {
    const RUNS = 3;
    const variants: [string, (cfg: string) => { cmd: string; args: string[]; cwd: string }][] = [
      ['paddock (built, installed)', (cfg) => ({ cmd: process.execPath, args: [join(app, 'node_modules', 'paddock', 'bin', 'paddock.js'), 'server', cfg], cwd: app })],
      ['paddock (sources via tsx)', (cfg) => ({ cmd: process.execPath, args: ['--import', 'tsx', '-e', `import('./src/cli.ts').then((m) => m.main(['server', ${JSON.stringify(cfg)}]))`], cwd: ROOT })],
      ['zookeeper 3.8', (cfg) => ({ cmd: 'java', args: ['-Xmx1g', '-cp', ZK_CLASSPATH, 'org.apache.zookeeper.server.ZooKeeperServerMain', cfg], cwd: work })],
    ];
    const samples = new Map<string, { ms: number; rssMb: number }[]>(variants.map(([name]) => [name, []]));
    for (let i = 0; i < RUNS; i++) {
      for (const [name, command] of variants) {
        const dir = mkdtempSync(join(work, 'startup-'));
        const port = await freePort();
        writeFileSync(join(dir, 'zoo.cfg'), `tickTime=2000\ndataDir=${join(dir, 'data')}\nclientPort=${port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n`);
        samples.get(name)!.push(await startupToFirstRead(command(join(dir, 'zoo.cfg')), port));
      }
    }
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const [built] = variants[0]!;
    const builtMs = median(samples.get(built)!.map((s) => s.ms));
    for (const [name, got] of samples) {
      const ms = median(got.map((s) => s.ms));
      t.diagnostic(`${name}: start-up to first read ${ms.toFixed(0)} ms (median of ${RUNS}; ${(ms / builtMs).toFixed(2)}× the built package), RSS then ${median(got.map((s) => s.rssMb)).toFixed(0)} MB`);
    }
  });
});

/** The JavaScript example of the README's "Testing your app" section. */
function readmeExample(): string {
  const section = readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n## Testing your app\n')[1]!;
  return /```js\n([\s\S]*?)```/.exec(section)![1]!;
}

/** Spawn a server and time it until a client's first getData('/') is answered; its RSS at that moment. */
async function startupToFirstRead({ cmd, args, cwd }: { cmd: string; args: string[]; cwd: string }, port: number): Promise<{ ms: number; rssMb: number }> {
  const started = performance.now();
  const proc = spawn(cmd, args, { cwd, stdio: 'ignore' });
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  try {
    for (;;) {
      assert.ok(performance.now() - started < 60_000, `${cmd} ${args.join(' ')} served no read within 60 s`);
      assert.equal(proc.exitCode, null, `${cmd} exited during start-up`);
      const c = await ZooKeeperClient.connect(`127.0.0.1:${port}`, { connectTimeout: 2000 }).catch(() => null);
      if (c) {
        const answered = await c.getData('/').then(() => true, () => false);
        const ms = performance.now() - started;
        c.disconnect();
        if (answered) return { ms, rssMb: Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'))![1]) / 1024 };
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    proc.kill('SIGKILL');
    await exited;
  }
}
