// `paddock backup` / `paddock restore` under write load. A 3-peer Paddock
// ensemble holds a bulk of nodes (so the fuzzy snapshot walk takes several
// slices) while writers run a bounded load of creates, updates and deletes;
// each write is a multi that also sets the writer's stamp node, whose Stat
// gives the write's zxid, so the acknowledged history is known exactly.
// Backups are taken from the leader and from a follower during the load,
// through the real CLI. Each is restored (real CLI) into a fresh dataDir for
// Paddock and one for Apache ZooKeeper 3.8, and both servers, started on
// them, serve exactly the state at the zxid the backup reports: every write
// with a zxid at or below it, none after it, and (from the leader, which
// applies each write before any peer acknowledges it) every write
// acknowledged before the backup began. ZooKeeper and Paddock agree on every
// node's Stat. One backup restored into every member of a mixed ensemble
// (two Paddock, one ZooKeeper) is served alike by all three. The answer is a
// plain tar; bad input is refused without touching existing data.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { connect, op, ZooKeeperClient, type ZooKeeper } from '../src/client/index.ts';
import { startEnsemble, type TestCluster } from '../src/testing/index.ts';
import { fileHeader, readTar, tarEnd, tarEntry, TarError } from '../src/backup/tar.ts';
import { fourLetterWord } from '../src/testing/probe.ts';
import { TestEnsemble } from './support/ensemble.ts';
import { ROOT, startPaddock, startZooKeeper } from './support/servers.ts';

const run = promisify(execFile);
const PADDOCK = join(ROOT, 'bin', 'paddock.js');

const BULK_NODES = 20_000;
const BULK_BATCH = 500;
const WRITERS = 4;
const WRITES_PER_WRITER = 300;
/** the backups start once this many writes are acknowledged */
const ACKS_BEFORE_BACKUP = 200;

/** One acknowledged write: its zxid and what it did to /load. */
interface Ack {
  zxid: number;
  change: { path: string; data: string | null };
  stamp: { path: string; data: string };
}

interface Backup {
  peer: number;
  dir: string;
  /** the zxid of the state the backup restores to, as `paddock backup` reported it */
  zxid: number;
  txnsAfterSnapshot: number;
  /** how many writes were acknowledged before the backup began */
  ackedBefore: number;
}

const hexZxid = (s: string): number => Number.parseInt(s.replace(/^0x/, ''), 16);

async function paddock(args: string[]): Promise<{ out: string; err: string; code: number }> {
  return run(process.execPath, [PADDOCK, ...args]).then(
    ({ stdout, stderr }) => ({ out: stdout, err: stderr, code: 0 }),
    (e: { stdout: string; stderr: string; code: number }) => ({ out: e.stdout, err: e.stderr, code: e.code }),
  );
}

/** Writer i's load: create, update, and delete a node created five writes before, each with the stamp set in the same multi. */
async function writeLoad(zk: ZooKeeper, i: number, history: Ack[]): Promise<void> {
  const stamp = `/load/stamp-${i}`;
  for (let j = 0; j < WRITES_PER_WRITER; j++) {
    const node = (k: number) => `/load/w${i}-${k}`;
    const [change, request] =
      j % 3 === 0
        ? [{ path: node(j), data: `created ${j}` }, op.create(node(j), `created ${j}`)]
        : j % 3 === 1
          ? [{ path: node(j - 1), data: `updated ${j}` }, op.setData(node(j - 1), `updated ${j}`)]
          : j >= 5
            ? [{ path: node(j - 5), data: null }, op.delete(node(j - 5))]
            : [{ path: node(j - 2), data: `updated ${j}` }, op.setData(node(j - 2), `updated ${j}`)];
    const results = await zk.multi([request, op.setData(stamp, String(j))]);
    const stat = (results[1] as { stat: { mzxid: number | bigint } }).stat;
    history.push({ zxid: Number(stat.mzxid), change, stamp: { path: stamp, data: String(j) } });
  }
}

/** /load as the history says it was at `zxid`: path → data. */
function modelAt(history: Ack[], zxid: number): Map<string, string> {
  const model = new Map<string, string>([['/load', '']]);
  for (let i = 0; i < WRITERS; i++) model.set(`/load/stamp-${i}`, 'start');
  for (const ack of [...history].sort((a, b) => a.zxid - b.zxid)) {
    if (ack.zxid > zxid) break;
    if (ack.change.data === null) model.delete(ack.change.path);
    else model.set(ack.change.path, ack.change.data);
    model.set(ack.stamp.path, ack.stamp.data);
  }
  return model;
}

/** Every node under /load of a server: path → data and Stat. */
async function loadNodes(connectString: string): Promise<{ data: Map<string, string>; stats: Map<string, string>; bulk: number; zxid: number }> {
  // srvr before the client's session, whose createSession is a txn of its own
  const zxid = hexZxid(/^Zxid: (\S+)$/m.exec(await fourLetterWord('127.0.0.1', Number(connectString.split(':')[1]), 'srvr'))![1]!);
  const client = await ZooKeeperClient.connect(connectString);
  try {
    const data = new Map<string, string>();
    const stats = new Map<string, string>();
    const walk = async (path: string): Promise<void> => {
      const got = await client.getData(path);
      data.set(path, (got.data ?? Buffer.alloc(0)).toString());
      stats.set(path, JSON.stringify(got.stat, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
      for (const child of (await client.getChildren(path)).sort()) await walk(`${path}/${child}`);
    };
    await walk('/load');
    const bulk = (await client.getChildren('/bulk')).length;
    return { data, stats, bulk, zxid };
  } finally {
    await client.close();
  }
}

describe('paddock backup and restore', () => {
  let cluster: TestCluster;
  let scratch: string;
  const history: Ack[] = [];
  const backups: Backup[] = [];

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'paddock-backup-test-'));
    cluster = await startEnsemble({ size: 3, tickTime: 300, adminServer: true, cfg: { 'admin.backup.enabled': 'true', snapCount: 500 } });
    const setup = await connect(cluster.connectString, { sessionTimeout: 30_000 });
    await setup.create('/bulk');
    for (let from = 0; from < BULK_NODES; from += BULK_BATCH) {
      await setup.multi(Array.from({ length: BULK_BATCH }, (_, k) => op.create(`/bulk/n${from + k}`, 'b'.repeat(64))));
    }
    await setup.create('/load');
    for (let i = 0; i < WRITERS; i++) await setup.create(`/load/stamp-${i}`, 'start');
    await setup.close();

    const roles = await Promise.all([1, 2, 3].map(async (n) => /^Mode: (\S+)$/m.exec(await fourLetterWord('127.0.0.1', Number(cluster.address(n).split(':')[1]), 'srvr'))?.[1]));
    const leader = roles.indexOf('leader') + 1;
    const follower = roles.indexOf('follower') + 1;
    assert.ok(leader > 0 && follower > 0, `roles: ${roles}`);

    const writers = await Promise.all(Array.from({ length: WRITERS }, () => connect(cluster.connectString, { sessionTimeout: 30_000 })));
    const load = Promise.all(writers.map((zk, i) => writeLoad(zk, i, history)));
    try {
      while (history.length < ACKS_BEFORE_BACKUP) await new Promise((r) => setTimeout(r, 10));
      for (const peer of [leader, follower]) {
        const ackedBefore = history.length;
        const dir = join(scratch, `backup-of-peer${peer}`);
        const admin = new URL(cluster.adminUrl(peer)!).host;
        const r = await paddock(['backup', '--server', admin, dir]);
        assert.equal(r.code, 0, r.err);
        const m = /the state at zxid (0x[0-9a-f]+), \d+ nodes \(snapshot at 0x[0-9a-f]+ \+ (\d+) txns?\)/.exec(r.out);
        assert.ok(m, r.out);
        backups.push({ peer, dir, zxid: hexZxid(m[1]!), txnsAfterSnapshot: Number(m[2]), ackedBefore });
      }
    } finally {
      await load;
      await Promise.all(writers.map((zk) => zk.close()));
    }
  });

  after(async () => {
    await cluster?.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  test('each backup holds a snapshot and the log after it, and the load went on past it', () => {
    assert.equal(backups.length, 2);
    for (const b of backups) {
      const files = readdirSync(join(b.dir, 'version-2')).sort();
      assert.match(files.at(-1)!, /^snapshot\.[0-9a-f]+$/);
      assert.equal(files.length, b.txnsAfterSnapshot > 0 ? 2 : 1, `${files}`);
      assert.ok(history.some((a) => a.zxid > b.zxid), 'some writes came after the backup');
    }
    // The log part is exercised: while the snapshot walked the bulk, the writers' txns were applied.
    assert.ok(backups.some((b) => b.txnsAfterSnapshot > 0), `txns after the snapshot: ${backups.map((b) => b.txnsAfterSnapshot)}`);
    console.log(`backups: ${backups.map((b) => `peer ${b.peer} at 0x${b.zxid.toString(16)}, ${b.txnsAfterSnapshot} txns after its snapshot, ${b.ackedBefore} writes acknowledged before it`).join('; ')}; ${history.length} writes in all`);
  });

  for (const role of ['leader', 'follower'] as const) {
    test(`the backup from the ${role}, restored, is started by Paddock and by ZooKeeper 3.8 with the exact tree at its zxid`, async () => {
      const b = backups[role === 'leader' ? 0 : 1]!;
      const dataDirs = { paddock: join(scratch, `${role}-paddock`), zookeeper: join(scratch, `${role}-zookeeper`) };
      for (const dataDir of Object.values(dataDirs)) {
        const r = await paddock(['restore', b.dir, '--data-dir', dataDir]);
        assert.equal(r.code, 0, r.err);
        assert.match(r.out, new RegExp(`^restored the state at zxid 0x${b.zxid.toString(16)}, `));
      }
      const expected = modelAt(history, b.zxid);
      if (role === 'leader') {
        const missing = history.slice(0, b.ackedBefore).filter((a) => a.zxid > b.zxid);
        assert.deepEqual(missing, [], 'every write acknowledged before the backup began is in it');
      }
      const servers = [await startPaddock({ dataDir: dataDirs.paddock }), await startZooKeeper({ dataDir: dataDirs.zookeeper })];
      try {
        const [onPaddock, onZooKeeper] = [await loadNodes(servers[0]!.connectString), await loadNodes(servers[1]!.connectString)];
        for (const restored of [onPaddock, onZooKeeper]) {
          assert.equal(restored.zxid, b.zxid, 'the restored server is at the zxid the backup reported');
          assert.equal(restored.bulk, BULK_NODES);
          assert.deepEqual(restored.data, expected);
        }
        assert.deepEqual(onZooKeeper.stats, onPaddock.stats, 'ZooKeeper and Paddock restore the same Stats');
      } finally {
        await Promise.all(servers.map((s) => s.stop()));
      }
    });
  }

  test("the leader's backup restored into every member of a mixed ensemble (two Paddock, one ZooKeeper 3.8): a leader is elected and each member serves the exact tree", async () => {
    const b = backups[0]!;
    const ens = await TestEnsemble.create('backup-ensemble', [{ id: 1 }, { id: 2 }, { id: 3, kind: 'zookeeper' }]);
    try {
      for (const id of ens.ids) {
        const r = await paddock(['restore', b.dir, '--data-dir', ens.dataDir(id)]);
        assert.equal(r.code, 0, r.err);
      }
      await ens.startAll();
      const expected = modelAt(history, b.zxid);
      const members = [];
      for (const id of ens.ids) members.push(await loadNodes(`127.0.0.1:${ens.clientPort(id)}`));
      for (const restored of members) {
        assert.equal(restored.bulk, BULK_NODES);
        assert.deepEqual(restored.data, expected);
        assert.deepEqual(restored.stats, members[0]!.stats);
      }
    } finally {
      await ens.close();
    }
  });

  test('the command answers a plain tar: GNU tar extracts a backup that restore accepts', async () => {
    const res = await fetch(`${cluster.adminUrl(1)}commands/backup`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/x-tar');
    const archive = join(scratch, 'backup.tar');
    writeFileSync(archive, Buffer.from(await res.arrayBuffer()));
    const extracted = join(scratch, 'extracted');
    mkdirSync(extracted);
    await run('tar', ['-xf', archive, '-C', extracted]);
    assert.match(readdirSync(join(extracted, 'version-2')).join(' '), /snapshot\.[0-9a-f]+/);
    const r = await paddock(['restore', extracted, '--data-dir', join(scratch, 'from-tar')]);
    assert.equal(r.code, 0, r.err);
    assert.ok(Number(/^restored the state at zxid 0x[0-9a-f]+, (\d+) nodes/.exec(r.out)?.[1]) > BULK_NODES, r.out);
  });

  test('bad input is refused and loses nothing', async () => {
    const admin = new URL(cluster.adminUrl(1)!).host;
    // an existing backup is never overwritten
    const existing = backups[0]!.dir;
    const before = readdirSync(join(existing, 'version-2'));
    let r = await paddock(['backup', '--server', admin, existing]);
    assert.equal(r.code, 1);
    assert.match(r.err, /already holds .*snapshot\./);
    assert.deepEqual(readdirSync(join(existing, 'version-2')), before);
    // a restore into a dataDir with data in it
    const used = join(scratch, 'used');
    mkdirSync(join(used, 'version-2'), { recursive: true });
    writeFileSync(join(used, 'version-2', 'log.1'), 'precious');
    r = await paddock(['restore', existing, '--data-dir', used]);
    assert.equal(r.code, 1);
    assert.match(r.err, /already holds log\.1/);
    assert.deepEqual(readdirSync(join(used, 'version-2')), ['log.1']);
    // a directory that is no backup
    r = await paddock(['restore', used, '--data-dir', join(scratch, 'fresh')]);
    assert.equal(r.code, 1);
    assert.match(r.err, /holds no snapshot: not a backup/);
    // a server that does not serve backups, and one that is not there
    const plain = await startPaddock({ cfg: { 'admin.enableServer': 'true', 'admin.serverAddress': '127.0.0.1', 'admin.serverPort': 0 } });
    try {
      const port = /AdminServer on 127\.0\.0\.1:(\d+)/.exec(plain.output())?.[1];
      assert.ok(port, plain.output());
      r = await paddock(['backup', '--server', `127.0.0.1:${port}`, join(scratch, 'refused')]);
      assert.equal(r.code, 1);
      assert.match(r.err, /the backup command is off: set admin\.backup\.enabled=true/);
    } finally {
      await plain.stop();
    }
    r = await paddock(['backup', '--server', '127.0.0.1:1', join(scratch, 'unreachable')]);
    assert.equal(r.code, 1);
    assert.match(r.err, /cannot reach http:\/\/127\.0\.0\.1:1\/commands\/backup/);
    r = await paddock(['backup', join(scratch, 'x')]);
    assert.equal(r.code, 2);
    assert.match(r.err, /usage:/);
  });
});

describe('the backup archive (tar)', () => {
  const archiveOf = async (files: [string, Buffer][]): Promise<Buffer> => {
    const parts: Buffer[] = [];
    for (const [name, data] of files) for await (const b of tarEntry(name, data.length, [data])) parts.push(b);
    return Buffer.concat([...parts, tarEnd()]);
  };
  const read = async (bytes: Buffer, chunk = 7): Promise<{ name: string; data: string }[]> => {
    const chunks = Array.from({ length: Math.ceil(bytes.length / chunk) }, (_, i) => bytes.subarray(i * chunk, (i + 1) * chunk));
    const out = [];
    for await (const f of readTar(Readable.from(chunks))) out.push({ name: f.name, data: f.data.toString() });
    return out;
  };

  test('files come back whole, in order, however the bytes are split', async () => {
    const bytes = await archiveOf([['version-2/snapshot.1f', Buffer.from('x'.repeat(1000))], ['version-2/log.20', Buffer.from('')], ['a', Buffer.from('y'.repeat(512))]]);
    assert.deepEqual(await read(bytes), [{ name: 'version-2/snapshot.1f', data: 'x'.repeat(1000) }, { name: 'version-2/log.20', data: '' }, { name: 'a', data: 'y'.repeat(512) }]);
    assert.deepEqual(await read(bytes, 65536), await read(bytes, 1));
  });

  test('damage is refused with a clear error', async () => {
    const good = await archiveOf([['version-2/snapshot.1', Buffer.from('z'.repeat(700))]]);
    const flipped = Buffer.from(good);
    flipped[10] ^= 1;
    await assert.rejects(read(flipped), (e: Error) => e instanceof TarError && /bad checksum/.test(e.message));
    await assert.rejects(read(good.subarray(0, 900)), (e: Error) => e instanceof TarError && /ends/.test(e.message));
    await assert.rejects(read(good.subarray(0, 1536)), (e: Error) => e instanceof TarError && /without its end blocks/.test(e.message));
    const escaping = Buffer.concat([fileHeader('../etc/passwd', 0), tarEnd()]);
    await assert.rejects(read(escaping), (e: Error) => e instanceof TarError && /not a relative name/.test(e.message));
    await assert.rejects(read(Buffer.from('not a tar at all'.repeat(40))), (e: Error) => e instanceof TarError);
  });
});
