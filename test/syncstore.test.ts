// Storage for Zab's sync phase (src/persistence/sync.ts): the log read as a
// stream from a zxid and measured for DIFF-from-disk, TRUNC, and the epoch
// files — each checked against what ZooKeeper 3.8 itself reads and writes.
// The SNAP payload is in snapstream.test.ts.

import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { ZooKeeperClient } from '../src/client/index.ts';
import { SILENT as quiet } from '../src/log.ts';
import { OpCode } from '../src/proto/constants.ts';
import type { Txn } from '../src/proto/txn.ts';
import { DataDir } from '../src/persistence/datadir.ts';
import { listSnapshots, writeSnapshot } from '../src/persistence/snapshot.ts';
import {
  diffFromDiskAllowed,
  EpochFileError,
  loadEpochs,
  measureLogAfter,
  readEpochFile,
  truncateLogTo,
  TruncateError,
  txnsAfter,
  writeEpochFile,
} from '../src/persistence/sync.ts';
import { encodeEntry, listTxnLogs, replayTxnLogs, TxnLogError, TxnLogWriter, type LoggedTxn, type TornTail } from '../src/persistence/txnlog.ts';
import { OPEN_ACL_UNSAFE } from '../src/tree/acl.ts';
import { DataTree } from '../src/tree/datatree.ts';
import { fourLetterWord, freePort, startZooKeeper, waitForServing, ZK_CLASSPATH } from './support/servers.ts';
import { dataDirOptions, scratchRoot } from './support/datadirs.ts';

/** Recovery's read of the log, collected: the txns after fromZxid and the torn tail. */
function scanTxnLogs(dir: string, fromZxid: number, opts: { repair?: boolean } = {}): { txns: LoggedTxn[]; tornTail: TornTail | null } {
  const txns: LoggedTxn[] = [];
  const { tornTail } = replayTxnLogs(dir, fromZxid, (t) => txns.push(t), opts);
  return { txns, tornTail };
}

const run = promisify(execFile);
const scratch = scratchRoot('syncstore');
after(() => rmSync(scratch.root, { recursive: true, force: true }));

const EPOCH = 0x100000000;
const zx = (epoch: number, counter: number): number => epoch * EPOCH + counter;
const hex = (n: number): string => `0x${n.toString(16)}`;

/** A create of /n<counter> with `size` bytes of data at zxid. */
function create(zxid: number, size = 8): Txn {
  const name = `/n${hex(zxid)}`;
  return {
    hdr: { clientId: 0n, cxid: zxid % EPOCH, zxid, time: 1_700_000_000_000 + (zxid % EPOCH), type: OpCode.create },
    body: { type: OpCode.create, path: name, data: Buffer.alloc(size, zxid % 251), acl: OPEN_ACL_UNSAFE, ephemeral: false, parentCVersion: -1 },
  };
}

/**
 * Write `files` log files into dir, each a list of zxids (sizes cycle through
 * `sizes` so entries land across and beyond the reader's 64 KiB chunks).
 */
async function writeLogs(dir: string, files: number[][], sizes = [8, 70_000, 300, 150_000, 40_000], preAllocSize = 64 * 1024): Promise<Txn[]> {
  const w = new TxnLogWriter(dir, { preAllocSize, forceSync: false });
  const all: Txn[] = [];
  let i = 0;
  for (const zxids of files) {
    w.roll();
    for (const z of zxids) {
      const t = create(z, sizes[i++ % sizes.length]!);
      w.append(t);
      all.push(t);
    }
    await w.flush();
  }
  await w.close();
  return all;
}

const range = (epoch: number, from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, k) => zx(epoch, from + k));
const zxidsOf = (txns: Iterable<{ hdr: { zxid: number } }>): string[] => [...txns].map((t) => hex(t.hdr.zxid));

describe('txn log from a zxid, as a stream', () => {
  test('txnsAfter yields what scanTxnLogs returns, from every starting point, across files and chunk boundaries', async () => {
    const dir = scratch.freshDir('stream');
    // epoch 1: 1..12 in two files, epoch 2: 1..10 in two files (the second starts a new epoch mid-way)
    const files = [range(1, 1, 7), range(1, 8, 12), [...range(2, 1, 4)], range(2, 5, 10)];
    const all = await writeLogs(dir, files);
    assert.equal(listTxnLogs(dir).length, 4);
    const starts = [0, zx(1, 0), zx(1, 1), zx(1, 6), zx(1, 7), zx(1, 8), zx(1, 12), zx(2, 0), zx(2, 4), zx(2, 9), zx(2, 10)];
    for (const from of starts) {
      const streamed = [...txnsAfter(dir, from)];
      const scanned = scanTxnLogs(dir, from).txns;
      assert.deepEqual(zxidsOf(streamed), zxidsOf(scanned), `from ${hex(from)}`);
      // whole txns, data included
      assert.deepEqual(streamed, scanned, `from ${hex(from)}: records equal`);
    }
    assert.deepEqual(zxidsOf(txnsAfter(dir, zx(1, 5), zx(2, 2))), zxidsOf(all.filter((t) => t.hdr.zxid > zx(1, 5) && t.hdr.zxid <= zx(2, 2))));
    assert.deepEqual(zxidsOf(txnsAfter(dir, zx(2, 10))), []);
  });

  test('reads in chunks: a log preallocated to 5 GiB (sparse), more than a Buffer holds, streams and measures', async () => {
    const dir = scratch.freshDir('huge');
    await writeLogs(dir, [range(1, 1, 5)]);
    const file = listTxnLogs(dir)[0]!.path;
    const fd = openSync(file, 'r+');
    ftruncateSync(fd, 5 * 1024 ** 3); // readFileSync fails on it: a Buffer holds at most 4 GiB
    closeSync(fd);
    assert.throws(() => readFileSync(file), /ERR_FS_FILE_TOO_LARGE|larger than|RangeError/);
    assert.deepEqual(zxidsOf(txnsAfter(dir, 0)), zxidsOf(range(1, 1, 5).map((z) => create(z))));
    assert.equal(measureLogAfter(dir, zx(1, 2)).txnCount, 3);
  });

  test('damage is a TxnLogError naming the file and offset; order and gaps are checked', async () => {
    const dir = scratch.freshDir('damage');
    await writeLogs(dir, [range(1, 1, 6)]);
    const file = listTxnLogs(dir)[0]!.path;
    const records = [...(function* () {
      let off = 16;
      for (const z of range(1, 1, 6)) {
        const len = encodeEntry(create(z, [8, 70_000, 300, 150_000, 40_000][(z % EPOCH) - 1]!)).length;
        yield { z, off, len };
        off += len;
      }
    })()];
    const fourth = records[3]!;
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.from([0xff]), 0, 1, fourth.off + 60); // a byte inside the 4th entry's payload
    closeSync(fd);
    const got: string[] = [];
    assert.throws(
      () => {
        for (const t of txnsAfter(dir, 0)) got.push(hex(t.hdr.zxid));
      },
      (e: unknown) => e instanceof TxnLogError && e.file === file && e.offset === fourth.off && /checksum mismatch/.test(e.message),
    );
    assert.deepEqual(got, zxidsOf(range(1, 1, 3).map((z) => create(z))), 'the intact entries before the damage come out first');
    // a stop before the damage never reads it
    assert.deepEqual(zxidsOf(txnsAfter(dir, 0, zx(1, 3))), [hex(zx(1, 1)), hex(zx(1, 2)), hex(zx(1, 3))]);
    // measuring past it, or truncating to a zxid beyond it, is the same error, and changes nothing
    const damaged = readFileSync(file);
    const atFourth = (e: unknown) => e instanceof TxnLogError && e.file === file && e.offset === fourth.off;
    assert.throws(() => measureLogAfter(dir, zx(1, 0)), atFourth);
    assert.throws(() => truncateLogTo(dir, scratch.freshDir('damage-snaps'), zx(1, 5)), atFourth);
    assert.deepEqual(readFileSync(file), damaged, 'the damaged file is untouched');

    const gap = scratch.freshDir('gap');
    await writeLogs(gap, [range(1, 1, 3), range(1, 5, 6)]);
    assert.throws(() => [...txnsAfter(gap, 0)], (e: unknown) => e instanceof TxnLogError && /gap: zxid 0x100000005 after 0x100000003/.test(e.message));
  });

  test('measureLogAfter: reachability, the previous logged zxid, exact bytes; and the snapshotSizeFactor rule', async () => {
    const dir = scratch.freshDir('measure');
    const all = await writeLogs(dir, [range(1, 5, 9), range(1, 10, 12), range(3, 1, 3)]);
    const bytesAfter = (z: number): number => all.filter((t) => t.hdr.zxid > z).reduce((n, t) => n + encodeEntry(t).length, 0);
    // the log starts at 1:5
    assert.deepEqual(measureLogAfter(dir, zx(1, 3)), { reachable: false, prevZxid: null, txnCount: 0, txnBytes: 0 });
    assert.deepEqual(measureLogAfter(dir, zx(1, 4)), { reachable: true, prevZxid: null, txnCount: 11, txnBytes: bytesAfter(zx(1, 4)) });
    assert.deepEqual(measureLogAfter(dir, zx(1, 9)), { reachable: true, prevZxid: zx(1, 9), txnCount: 6, txnBytes: bytesAfter(zx(1, 9)) });
    assert.deepEqual(measureLogAfter(dir, zx(3, 3)), { reachable: true, prevZxid: zx(3, 3), txnCount: 0, txnBytes: 0 });
    // a peer that holds 1:13 and 1:14, never committed: the log goes 1:12 → 3:1, so it must be truncated to 1:12 first
    assert.deepEqual(measureLogAfter(dir, zx(1, 14)), { reachable: true, prevZxid: zx(1, 12), txnCount: 3, txnBytes: bytesAfter(zx(1, 14)) });
    assert.deepEqual(measureLogAfter(scratch.freshDir('empty'), 0), { reachable: false, prevZxid: null, txnCount: 0, txnBytes: 0 });

    const m = measureLogAfter(dir, zx(1, 9));
    const snapFor = (limit: number, factor: number): number => Math.ceil(limit / factor);
    assert.equal(diffFromDiskAllowed(m, snapFor(m.txnBytes, 0.33)), true, 'at the limit');
    assert.equal(diffFromDiskAllowed(m, Math.floor((m.txnBytes - 1) / 0.33)), false, 'over the limit');
    assert.equal(diffFromDiskAllowed(m, 0), true, 'no snapshot: no limit, as ZooKeeper');
    assert.equal(diffFromDiskAllowed(m, 10 ** 9, -1), false, 'a negative factor disables it');
    assert.equal(diffFromDiskAllowed(m, snapFor(m.txnBytes, 0.33), 5), true, 'a factor above 1 counts as 0.33');
    assert.equal(diffFromDiskAllowed(measureLogAfter(dir, zx(1, 3)), 10 ** 9), false, 'unreachable');
  });
});

// ---------------------------------------------------------------- TRUNC


/** Txns as a server logs them: create /t<i> (i from 0), in epoch 1 then epoch 2 from `epochTwoAt`. */
function serverTxns(count: number, epochTwoAt: number): Txn[] {
  const out: Txn[] = [];
  for (let i = 0; i < count; i++) {
    const zxid = i < epochTwoAt ? zx(1, i + 1) : zx(2, i - epochTwoAt + 1);
    out.push({
      hdr: { clientId: 0n, cxid: i, zxid, time: 1_700_000_000_000 + i, type: OpCode.create },
      body: { type: OpCode.create, path: `/t${String(i).padStart(3, '0')}`, data: Buffer.from(`v${i}`), acl: OPEN_ACL_UNSAFE, ephemeral: false, parentCVersion: -1 },
    });
  }
  return out;
}

/** Log and apply txns through a DataDir (snapshots and rolls every ~snapCount), then close it. */
async function fillDataDir(dir: string, txns: Txn[], snapCount: number): Promise<void> {
  const { dataDir, tree } = await DataDir.open(dataDirOptions(dir, snapCount), quiet);
  for (const t of txns) {
    dataDir.append(t);
    await dataDir.flush();
    tree.apply(t.hdr, t.body);
    dataDir.committed(tree);
  }
  await dataDir.close();
}

function treeOf(txns: Txn[]): DataTree {
  const tree = new DataTree();
  for (const t of txns) tree.apply(t.hdr, t.body);
  return tree;
}

function dump(tree: DataTree): string[] {
  const out: string[] = [];
  const walk = (path: string): void => {
    const node = tree.get(path)!;
    out.push(`${path} ${node.data?.toString('hex') ?? 'null'} ${JSON.stringify(node.stat(), (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}`);
    for (const c of [...node.children].sort()) walk(path === '/' ? `/${c}` : `${path}/${c}`);
  };
  walk('/');
  return out;
}

describe('TRUNC: truncateLogTo', () => {
  test('cuts right after the zxid, deletes later files and newer snapshots; recovery ends exactly there', async () => {
    const dir = scratch.freshDir('trunc');
    const txns = serverTxns(60, 40);
    await fillDataDir(dir, txns, 12);
    const logDir = join(dir, 'log', 'version-2');
    const snapDir = join(dir, 'data', 'version-2');
    const logsBefore = listTxnLogs(logDir);
    const snapsBefore = listSnapshots(snapDir);
    assert.ok(logsBefore.length >= 5 && snapsBefore.length >= 5, `${logsBefore.length} logs, ${snapsBefore.length} snapshots`);
    // the second txn of a file in the middle: the cut falls inside that file
    const holding = logsBefore[Math.floor(logsBefore.length / 2)]!;
    const zIndex = txns.findIndex((t) => t.hdr.zxid === holding.zxid) + 1;
    const z = txns[zIndex]!.hdr.zxid;
    assert.ok(logsBefore.some((l) => l.zxid > z), 'later files exist');

    const result = truncateLogTo(logDir, snapDir, z);
    const endOfZ = 16 + txns.filter((t) => t.hdr.zxid >= holding.zxid && t.hdr.zxid <= z).reduce((n, t) => n + encodeEntry(t).length, 0);
    assert.deepEqual(result.cut, { file: holding.path, offset: endOfZ });
    assert.equal(statSync(holding.path).size, endOfZ, 'cut right after the entry, preallocated zeros gone (as FileTxnLog.truncate)');
    assert.deepEqual(result.removedLogs.sort(), logsBefore.filter((l) => l.zxid > z).map((l) => l.path).sort());
    assert.deepEqual(result.removedSnapshots.sort(), snapsBefore.filter((s) => s.zxid > z).map((s) => s.path).sort());
    assert.ok(result.removedSnapshots.length > 0, 'there were snapshots after the zxid');
    assert.deepEqual(zxidsOf(scanTxnLogs(logDir, 0).txns).at(-1), hex(z));

    // ZooKeeper's own reader: every remaining file reads cleanly, CRCs checked, the last txn is z
    const seen: string[] = [];
    for (const l of listTxnLogs(logDir)) {
      const { stdout, stderr } = await run('java', ['-cp', ZK_CLASSPATH, 'org.apache.zookeeper.server.persistence.TxnLogToolkit', '-d', l.path], { timeout: 60_000 });
      assert.doesNotMatch(stdout + stderr, /CRC ERROR|Exception|partial/i, l.path);
      const zxids = [...stdout.matchAll(/ zxid (0x[0-9a-f]+) /g)].map((m) => m[1]!);
      assert.match(stdout, new RegExp(`EOF reached after ${zxids.length} txns\\.`), l.path);
      seen.push(...zxids);
    }
    assert.deepEqual(seen, zxidsOf(txns.slice(0, zIndex + 1)).slice(-seen.length), 'the remaining files end exactly at the zxid');
    assert.equal(seen.at(-1), hex(z));

    // Paddock's recovery: exactly the txns up to z
    const reopened = await DataDir.open(dataDirOptions(dir, 1_000_000), quiet);
    assert.equal(reopened.tree.lastProcessedZxid, z);
    assert.deepEqual(dump(reopened.tree), dump(treeOf(txns.slice(0, zIndex + 1))));
    await reopened.dataDir.close();

    // and ZooKeeper's: it serves the nodes created up to z and none after
    const zk = await startZooKeeper({ dataDir: join(dir, 'data'), cfg: { dataLogDir: join(dir, 'log') } });
    try {
      const c = await ZooKeeperClient.connect(zk.connectString);
      const children = (await c.getChildren('/')).filter((n) => n.startsWith('t')).sort();
      assert.deepEqual(children, txns.slice(0, zIndex + 1).map((t) => (t.body as { path: string }).path.slice(1)));
      await c.close();
    } finally {
      await zk.stop();
    }
  });

  test('truncating at the last txn of a file, at a snapshot, and to a zxid nothing holds', async () => {
    const dir = scratch.freshDir('trunc-edges');
    const logDir = join(dir, 'log', 'version-2');
    const snapDir = join(dir, 'data', 'version-2');
    mkdirSync(snapDir, { recursive: true });
    const all = await writeLogs(logDir, [range(1, 1, 4), range(1, 5, 8), range(2, 1, 3)], [10]);
    // a snapshot at 1:6 and one at 2:2
    const tree = treeOf(all.slice(0, 6));
    await writeSnapshot(tree, zx(1, 6), snapDir);
    const tree2 = treeOf(all.slice(0, 10));
    await writeSnapshot(tree2, zx(2, 2), snapDir);

    assert.throws(() => truncateLogTo(logDir, snapDir, zx(1, 9)), (e: unknown) => e instanceof TruncateError && /neither the log nor a snapshot holds it/.test(e.message));
    assert.equal(listTxnLogs(logDir).length, 3, 'a refused truncation changes nothing');

    const r = truncateLogTo(logDir, snapDir, zx(1, 8));
    assert.equal(r.cut!.file, join(logDir, 'log.100000005'));
    assert.deepEqual(r.removedLogs, [join(logDir, 'log.200000001')]);
    assert.deepEqual(r.removedSnapshots, [join(snapDir, 'snapshot.200000002')]);
    const reopened = await DataDir.open(dataDirOptions(dir, 1_000_000), quiet);
    assert.equal(reopened.tree.lastProcessedZxid, zx(1, 8));
    assert.deepEqual(dump(reopened.tree), dump(treeOf(all.slice(0, 8))));
    await reopened.dataDir.close();

    // after a SNAP sync the log may start past the snapshot: truncating to the snapshot's zxid empties the log
    const snapOnly = scratch.freshDir('trunc-snapshot');
    const soLog = join(snapOnly, 'log', 'version-2');
    const soSnap = join(snapOnly, 'data', 'version-2');
    mkdirSync(soSnap, { recursive: true });
    await writeLogs(soLog, [range(1, 5, 7), range(1, 8, 9)], [10]);
    const base = treeOf(all.slice(0, 4));
    await writeSnapshot(base, zx(1, 4), soSnap);
    const r2 = truncateLogTo(soLog, soSnap, zx(1, 4));
    assert.deepEqual({ cut: r2.cut, logs: r2.removedLogs.length, snaps: r2.removedSnapshots }, { cut: null, logs: 2, snaps: [] });
    assert.deepEqual(listTxnLogs(soLog), []);
    const fromSnap = await DataDir.open(dataDirOptions(snapOnly, 1_000_000), quiet);
    assert.equal(fromSnap.tree.lastProcessedZxid, zx(1, 4));
    assert.deepEqual(dump(fromSnap.tree), dump(base));
    await fromSnap.dataDir.close();
  });
});

// ---------------------------------------------------------------- epochs

describe('epoch files', () => {
  test('decimal ASCII without newline, atomic rewrite, clear errors on garbage', () => {
    const dir = scratch.freshDir('epochs');
    writeEpochFile(dir, 'currentEpoch', 7);
    writeEpochFile(dir, 'acceptedEpoch', 4294967295);
    assert.equal(readFileSync(join(dir, 'currentEpoch'), 'latin1'), '7');
    assert.equal(readFileSync(join(dir, 'acceptedEpoch'), 'latin1'), '4294967295');
    assert.deepEqual(readdirSync(dir).sort(), ['acceptedEpoch', 'currentEpoch'], 'no temporary file left');
    writeEpochFile(dir, 'currentEpoch', 12);
    assert.equal(readEpochFile(dir, 'currentEpoch'), 12);
    assert.equal(readEpochFile(dir, 'acceptedEpoch'), 4294967295);
    assert.equal(readEpochFile(scratch.freshDir('none'), 'currentEpoch'), null);
    // what ZooKeeper's reader takes: the first line, Long.parseLong
    writeFileSync(join(dir, 'currentEpoch'), '9\n');
    assert.equal(readEpochFile(dir, 'currentEpoch'), 9);
    for (const garbage of ['', 'x', '1.5', ' 3', '0x10', '99999999999999999999', '-1', '4294967296']) {
      writeFileSync(join(dir, 'currentEpoch'), garbage);
      assert.throws(() => readEpochFile(dir, 'currentEpoch'), (e: unknown) => e instanceof EpochFileError && e.message.startsWith(join(dir, 'currentEpoch')), JSON.stringify(garbage));
    }
    assert.throws(() => writeEpochFile(dir, 'currentEpoch', -1), RangeError);
  });

  test("loadEpochs follows QuorumPeer.loadDataBase: create when missing, take currentEpoch.tmp, refuse inconsistency", () => {
    const lines: string[] = [];
    const log = (m: string) => lines.push(m);
    const fresh = scratch.freshDir('load');
    assert.deepEqual(loadEpochs(fresh, zx(3, 17), log), { currentEpoch: 3, acceptedEpoch: 3 });
    assert.equal(readFileSync(join(fresh, 'currentEpoch'), 'latin1'), '3');
    assert.equal(readFileSync(join(fresh, 'acceptedEpoch'), 'latin1'), '3');
    assert.equal(lines.length, 2);

    const behind = scratch.freshDir('behind');
    writeEpochFile(behind, 'currentEpoch', 2);
    writeEpochFile(behind, 'acceptedEpoch', 5);
    assert.throws(() => loadEpochs(behind, zx(4, 1)), (e: unknown) => e instanceof EpochFileError && /current epoch 2 is older than the last zxid 0x400000001/.test(e.message));
    writeFileSync(join(behind, 'currentEpoch.tmp'), '4'); // a crash between writing and renaming
    assert.deepEqual(loadEpochs(behind, zx(4, 1), log), { currentEpoch: 4, acceptedEpoch: 5 });
    assert.equal(readFileSync(join(behind, 'currentEpoch'), 'latin1'), '4');

    const inverted = scratch.freshDir('inverted');
    writeEpochFile(inverted, 'currentEpoch', 6);
    writeEpochFile(inverted, 'acceptedEpoch', 5);
    assert.throws(() => loadEpochs(inverted, zx(6, 0)), (e: unknown) => e instanceof EpochFileError && /accepted epoch 5 is less than the current epoch 6/.test(e.message));
  });
});

// ---------------------------------------------------------------- epochs: a real ZooKeeper ensemble

interface Peer {
  id: number;
  dataDir: string;
  clientPort: number;
  proc: ChildProcess | null;
  out: string;
}

/** Two peers of a three-server ZooKeeper 3.8 ensemble (a quorum), on loopback. */
async function zkEnsemble(root: string): Promise<{ peers: Peer[]; start(p: Peer): void; stop(p: Peer): Promise<void> }> {
  const ports = await Promise.all(Array.from({ length: 9 }, () => freePort()));
  const servers = [1, 2, 3].map((id) => `server.${id}=127.0.0.1:${ports[id * 3 - 3]}:${ports[id * 3 - 2]}`);
  const peers: Peer[] = [1, 2].map((id) => {
    const dataDir = join(root, `zk${id}`);
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, 'myid'), `${id}\n`);
    const clientPort = ports[id * 3 - 1]!;
    const cfg = [
      'tickTime=500',
      'initLimit=20',
      'syncLimit=10',
      `dataDir=${dataDir}`,
      `clientPort=${clientPort}`,
      'clientPortAddress=127.0.0.1',
      'admin.enableServer=false',
      '4lw.commands.whitelist=*',
      ...servers,
    ];
    writeFileSync(join(dataDir, 'zoo.cfg'), cfg.join('\n') + '\n');
    return { id, dataDir, clientPort, proc: null, out: '' };
  });
  return {
    peers,
    start(p) {
      p.proc = spawn('java', ['-Xmx256m', '-cp', ZK_CLASSPATH, 'org.apache.zookeeper.server.quorum.QuorumPeerMain', join(p.dataDir, 'zoo.cfg')], {
        cwd: p.dataDir,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      p.proc.stdout!.on('data', (d) => (p.out += d));
      p.proc.stderr!.on('data', (d) => (p.out += d));
    },
    async stop(p) {
      const proc = p.proc;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
      p.proc = null;
    },
  };
}

/** Wait until both peers serve, one leading; returns the leader's srvr reply. */
async function quorumServing(peers: Peer[]): Promise<string> {
  await Promise.all(peers.map((p) => waitForServing('127.0.0.1', p.clientPort, 90_000)));
  const replies = await Promise.all(peers.map((p) => fourLetterWord('127.0.0.1', p.clientPort, 'srvr')));
  const modes = replies.map((r) => /Mode: (\w+)/.exec(r)?.[1]).sort();
  assert.deepEqual(modes, ['follower', 'leader'], replies.join('\n'));
  return replies.find((r) => /Mode: leader/.test(r))!;
}

describe('epoch files against a ZooKeeper 3.8 ensemble', () => {
  test("ZooKeeper's epoch files read as ours write them, and ZooKeeper reads ours", { timeout: 300_000 }, async () => {
    const { peers, start, stop } = await zkEnsemble(scratch.freshDir('ensemble'));
    try {
      for (const p of peers) start(p);
      await quorumServing(peers);
      const c = await ZooKeeperClient.connect(`127.0.0.1:${peers[0]!.clientPort}`);
      await c.create('/epoch-test', 'x');
      await c.close();
      for (const p of peers) await stop(p);
      for (const p of peers) {
        const snapDir = join(p.dataDir, 'version-2');
        for (const name of ['currentEpoch', 'acceptedEpoch'] as const) {
          const theirs = readFileSync(join(snapDir, name));
          assert.equal(theirs.toString('latin1'), '1', `peer ${p.id} ${name} after the first election`);
          assert.equal(readEpochFile(snapDir, name), 1);
          writeEpochFile(snapDir, name, 1);
          assert.deepEqual(readFileSync(join(snapDir, name)), theirs, `our ${name} is byte for byte theirs`);
        }
        // now let ours speak: both peers accepted and acknowledged epoch 6
        writeEpochFile(snapDir, 'acceptedEpoch', 6);
        writeEpochFile(snapDir, 'currentEpoch', 6);
      }
      for (const p of peers) start(p);
      const leader = await quorumServing(peers);
      // the new epoch is one past the highest acceptedEpoch ZooKeeper read from our files
      assert.match(leader, /Zxid: 0x7[0-9a-f]{8}\n/, leader);
      for (const p of peers) {
        const snapDir = join(p.dataDir, 'version-2');
        assert.equal(readEpochFile(snapDir, 'currentEpoch'), 7);
        assert.equal(readEpochFile(snapDir, 'acceptedEpoch'), 7);
      }
    } finally {
      for (const p of peers) await stop(p);
    }
  });
});
