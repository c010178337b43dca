// Recovery streams the transaction log (replayTxnLogs in
// src/persistence/txnlog.ts): a real `paddock server` recovering a dataDir
// whose log files are preallocated to 64 MiB, one of them a sparse 5 GiB file,
// keeps its peak RSS (VmHWM from /proc/<pid>/status, read once it serves)
// within 32 MiB of the same server recovering an empty dataDir — less than
// one preallocated file, which recovery used to read whole — and serves the
// tree the log holds. And a dataDir written by ZooKeeper 3.8 itself, with its
// default preAllocSize (64 MiB), recovers to the tree ZooKeeper served.
// Times are printed (bench/recovery.md has them), never asserted.

import assert from 'node:assert/strict';
import { closeSync, existsSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ZooKeeperClient } from '../src/client/index.ts';
import { OpCode } from '../src/proto/constants.ts';
import type { Stat } from '../src/proto/records.ts';
import type { Txn } from '../src/proto/txn.ts';
import { listTxnLogs, TxnLogWriter } from '../src/persistence/txnlog.ts';
import { OPEN_ACL_UNSAFE } from '../src/tree/acl.ts';
import { scratchRoot } from './support/datadirs.ts';
import { startServer, type RunningServer } from './support/servers.ts';

const scratch = scratchRoot('recovery');
const servers = new Set<RunningServer>();
after(async () => {
  for (const s of servers) await s.stop();
  rmSync(scratch.root, { recursive: true, force: true });
});

const HAVE_ZK = existsSync('/usr/share/java/zookeeper.jar');
const MiB = 1024 * 1024;
const PREALLOC = 64 * MiB;

/** Peak resident set size of a process, in bytes (VmHWM). */
function peakRss(pid: number): number {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(m, `no VmHWM in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** Start a Paddock server on dataDir; its VmHWM once it serves, and how long start-up (recovery included) took. */
async function recover(dataDir: string): Promise<{ server: RunningServer; peak: number; ms: number }> {
  const t0 = performance.now();
  const server = await startServer('paddock', { dataDir, cfg: { snapCount: 1_000_000 } });
  const ms = performance.now() - t0;
  servers.add(server);
  return { server, peak: peakRss(server.proc.pid!), ms };
}

async function stop(s: RunningServer): Promise<void> {
  servers.delete(s);
  await s.stop();
}

/** A create of /n<zxid> with `size` bytes of data (a byte pattern of the zxid). */
function create(zxid: number, size: number): Txn {
  return {
    hdr: { clientId: 0n, cxid: zxid, zxid, time: 1_700_000_000_000 + zxid, type: OpCode.create },
    body: { type: OpCode.create, path: `/n${zxid}`, data: Buffer.alloc(size, zxid % 251), acl: OPEN_ACL_UNSAFE, ephemeral: false, parentCVersion: -1 },
  };
}

interface NodeView {
  data: string | null;
  stat: Stat;
  children: string[];
}

/** Every node's data, Stat and children. */
async function treeOf(s: RunningServer): Promise<Map<string, NodeView>> {
  const c = await ZooKeeperClient.connect(s.connectString, { sessionTimeout: 30_000 });
  try {
    const out = new Map<string, NodeView>();
    let level = ['/'];
    while (level.length > 0) {
      const next: string[] = [];
      for (const path of level) {
        if (path === '/zookeeper' || path.startsWith('/zookeeper/')) continue; // the servers' own config nodes
        const [d, children] = await Promise.all([c.getData(path), c.getChildren(path)]);
        const sorted = [...children].sort();
        out.set(path, { data: d.data === null ? null : d.data.toString('base64'), stat: d.stat, children: sorted });
        for (const child of sorted) next.push(path === '/' ? `/${child}` : `${path}/${child}`);
      }
      level = next;
    }
    return out;
  } finally {
    await c.close();
  }
}

describe('recovery streams the transaction log', () => {
  test('log files preallocated to 64 MiB (one a sparse 5 GiB): peak RSS within 32 MiB of an empty dataDir, the tree served', async () => {
    const empty = scratch.freshDir('empty');
    const base = await recover(empty);
    await stop(base.server);

    // four files of 64 MiB (sizes across the reader's 64 KiB chunks), the second grown to 5 GiB:
    // more than a Buffer holds, so a whole-file read could not even start
    const dataDir = scratch.freshDir('prealloc');
    const logDir = join(dataDir, 'version-2');
    mkdirSync(logDir, { recursive: true });
    const w = new TxnLogWriter(logDir, { preAllocSize: PREALLOC, forceSync: false });
    const sizes = [10, 70_000, 300, 4_000];
    const txns: Txn[] = [];
    for (let file = 0; file < 4; file++) {
      w.roll();
      for (let k = 0; k < 25; k++) {
        const t = create(txns.length + 1, sizes[txns.length % sizes.length]!);
        w.append(t);
        txns.push(t);
      }
      await w.flush();
    }
    await w.close();
    const files = listTxnLogs(logDir);
    assert.equal(files.length, 4);
    for (const f of files) assert.equal(statSync(f.path).size, 16 + PREALLOC, `${f.path}: header + 64 MiB, as FilePadding`);
    const fd = openSync(files[1]!.path, 'r+');
    ftruncateSync(fd, 5 * 1024 * MiB);
    closeSync(fd);

    const run = await recover(dataDir);
    console.log(
      `recovery of ${txns.length} txns in 3 x 64 MiB + 1 x 5 GiB log files: start-up ${run.ms.toFixed(0)} ms (empty dataDir ${base.ms.toFixed(0)} ms), ` +
        `VmHWM ${(run.peak / MiB).toFixed(1)} MiB (empty dataDir ${(base.peak / MiB).toFixed(1)} MiB)`,
    );
    assert.match(run.server.output(), new RegExp(`replayed ${txns.length} txns from the log`));
    assert.ok(run.peak < base.peak + 32 * MiB, `VmHWM ${run.peak} vs ${base.peak} on an empty dataDir`);
    const tree = await treeOf(run.server);
    for (const t of txns) {
      const body = t.body as { path: string; data: Buffer };
      assert.equal(tree.get(body.path)?.data, body.data.toString('base64'), `${body.path} recovered`);
      assert.equal(tree.get(body.path)?.stat.czxid, t.hdr.zxid, `${body.path} czxid`);
    }
    assert.equal(tree.get('/')!.children.filter((c) => c !== 'zookeeper').length, txns.length);
    await stop(run.server);
  });

  test('a dataDir ZooKeeper 3.8 wrote with its default preAllocSize: the same tree', { skip: !HAVE_ZK && 'ZooKeeper 3.8 is not installed' }, async () => {
    const dataDir = scratch.freshDir('zk');
    const zk = await startServer('zookeeper', { dataDir });
    servers.add(zk);
    const c = await ZooKeeperClient.connect(zk.connectString, { sessionTimeout: 30_000 });
    await c.create('/app', 'root');
    for (let i = 0; i < 60; i++) await c.create(`/app/n${String(i).padStart(3, '0')}`, Buffer.alloc(i * 1000, i));
    for (let i = 0; i < 60; i += 7) await c.setData(`/app/n${String(i).padStart(3, '0')}`, `updated ${i}`);
    for (let i = 3; i < 60; i += 11) await c.delete(`/app/n${String(i).padStart(3, '0')}`);
    await c.create('/app/seq-', 'sequential', { mode: 2 });
    await c.close();
    const expected = await treeOf(zk);
    await stop(zk);

    const logs = readdirSync(join(dataDir, 'version-2')).filter((n) => n.startsWith('log.'));
    assert.ok(logs.length > 0, 'ZooKeeper wrote a log');
    for (const name of logs) assert.equal(statSync(join(dataDir, 'version-2', name)).size, 16 + PREALLOC, `${name}: header + ZooKeeper's default preAllocSize`);

    const run = await recover(dataDir);
    console.log(`recovery of ZooKeeper's dataDir (${logs.length} log file(s) of 64 MiB): start-up ${run.ms.toFixed(0)} ms, VmHWM ${(run.peak / MiB).toFixed(1)} MiB`);
    const actual = await treeOf(run.server);
    assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
    for (const [path, node] of expected) assert.deepEqual(actual.get(path), node, `node ${path}`);
    await stop(run.server);
  });
});
