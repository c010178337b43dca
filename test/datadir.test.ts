// The data directories: snapshots every ~snapCount txns, recovery of the exact
// tree from snapshot + log, and autopurge keeping snapRetainCount snapshots and
// the logs they need.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { recordingLogger } from '../src/log.ts';
import { OpCode } from '../src/proto/constants.ts';
import type { Txn } from '../src/proto/txn.ts';
import { DataDir } from '../src/persistence/datadir.ts';
import { listSnapshots } from '../src/persistence/snapshot.ts';
import { listTxnLogs } from '../src/persistence/txnlog.ts';
import { OPEN_ACL_UNSAFE } from '../src/tree/acl.ts';
import type { DataTree } from '../src/tree/datatree.ts';
import { dataDirOptions } from './support/datadirs.ts';
import { ROOT, startPaddock } from './support/servers.ts';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'paddock-datadir-'));
  dirs.push(d);
  return d;
};

const lines: string[] = [];
const logger = recordingLogger((l) => lines.push(l.message), 'INFO');

/** Log `count` creates under /n and apply them, as the pipeline does: append, flush, apply, count. */
async function writeNodes(dataDir: DataDir, tree: DataTree, from: number, count: number): Promise<void> {
  for (let i = from; i < from + count; i++) {
    const zxid = tree.lastProcessedZxid + 1;
    const txn: Txn = {
      hdr: { clientId: 0n, cxid: i, zxid, time: 1_700_000_000_000 + i, type: OpCode.create },
      body: { type: OpCode.create, path: `/n${i}`, data: Buffer.from(`v${i}`), acl: OPEN_ACL_UNSAFE, ephemeral: false, parentCVersion: -1 },
    };
    dataDir.append(txn);
    await dataDir.flush();
    tree.apply(txn.hdr, txn.body);
    dataDir.committed(tree);
  }
  await dataDir.close(); // waits for a snapshot in progress
}

/** Every node as path → [data, stat], for comparing trees. */
function dump(tree: DataTree): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (path: string) => {
    const node = tree.get(path)!;
    out.set(path, JSON.stringify([node.data?.toString('hex') ?? null, node.stat()], (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
    for (const c of node.children) walk(path === '/' ? `/${c}` : `${path}/${c}`);
  };
  walk('/');
  return out;
}

describe('data directories', () => {
  test('snapshots roughly every snapCount txns; reopening gives the exact tree from the newest snapshot plus the log', async () => {
    const dir = tempDir();
    const first = await DataDir.open(dataDirOptions(dir, 40), logger);
    await writeNodes(first.dataDir, first.tree, 0, 200);
    const snaps = listSnapshots(join(dir, 'data', 'version-2'));
    // snapCount 40: a snapshot after 20..39 txns each, so 5..10 of them for 200 txns
    assert.ok(snaps.length >= 5 && snaps.length <= 10, `${snaps.length} snapshots`);
    assert.ok(listTxnLogs(join(dir, 'log', 'version-2')).length >= 5, 'the log rolls at each snapshot');
    const again = await DataDir.open(dataDirOptions(dir, 40), logger);
    assert.deepEqual(dump(again.tree), dump(first.tree));
    assert.equal(again.tree.lastProcessedZxid, 200);
    await again.dataDir.close();
  });

  test('purge keeps snapRetainCount snapshots and the logs they need; what remains still recovers', async () => {
    const dir = tempDir();
    const first = await DataDir.open(dataDirOptions(dir, 20), logger);
    await writeNodes(first.dataDir, first.tree, 0, 300);
    const snapDir = join(dir, 'data', 'version-2');
    const logDir = join(dir, 'log', 'version-2');
    assert.ok(listSnapshots(snapDir).length > 3);
    const reopened = await DataDir.open(dataDirOptions(dir, 20), logger);
    const logsBefore = listTxnLogs(logDir).length;
    reopened.dataDir.purge();
    const kept = listSnapshots(snapDir);
    assert.equal(kept.length, 3);
    const oldestKept = kept[2]!.zxid;
    const logs = listTxnLogs(logDir);
    assert.ok(logs[0]!.zxid <= oldestKept + 1, 'the log file holding the txns right after the oldest kept snapshot stays');
    assert.ok(logs.length < logsBefore, `${logsBefore} log files before the purge, ${logs.length} after`);
    await reopened.dataDir.close();
    const last = await DataDir.open(dataDirOptions(dir, 20), logger);
    assert.deepEqual(dump(last.tree), dump(first.tree));
    await last.dataDir.close();
  });

  test('autopurge runs at start-up when purgeInterval is set, as ZooKeeper\'s purge task does', async () => {
    const dir = tempDir();
    const data = join(dir, 'data');
    const first = await DataDir.open({ ...dataDirOptions(dir, 20), dataLogDir: data }, logger);
    await writeNodes(first.dataDir, first.tree, 0, 200);
    const before = listSnapshots(join(data, 'version-2')).length;
    assert.ok(before > 4, `${before} snapshots before`);
    const server = await startPaddock({ cfg: { dataDir: data, 'autopurge.purgeInterval': 1, 'autopurge.snapRetainCount': 3 } });
    try {
      // the start-up snapshot (in the background, once serving) makes one more, then the purge leaves three
      for (let i = 0; i < 100 && !/purged \d+ snapshots/.test(server.output()); i++) await new Promise((r) => setTimeout(r, 100));
      assert.match(server.output(), /purged \d+ snapshots/);
      assert.equal(listSnapshots(join(data, 'version-2')).length, 3, server.output());
    } finally {
      await server.stop();
    }
    // and the server keeps serving the same tree
    const res = spawnSync(process.execPath, [join(ROOT, 'bin', 'paddock.js'), 'snapshot', listSnapshots(join(data, 'version-2'))[0]!.path], { encoding: 'utf8' });
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stdout, /\/n199/);
  });
});
