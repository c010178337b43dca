// The transaction log file format (src/persistence/txnlog.ts): round trips,
// preallocation, group commit, torn tails, damage, gaps, roll, purge, failed
// writes, and byte compatibility with Apache ZooKeeper 3.8 in both directions
// (ZooKeeper's logs read by us; ours read by TxnLogToolkit and replayed by
// ZooKeeper itself).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs, { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { open as openFile } from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { deflateSync } from 'node:zlib';
import { CreateMode, OPEN_ACL_UNSAFE, ZooKeeperClient, op } from '../src/client/index.ts';
import { Err, OpCode } from '../src/proto/constants.ts';
import { JuteWriter } from '../src/jute/archive.ts';
import type { ACL } from '../src/proto/records.ts';
import type { Txn, TxnBody } from '../src/proto/txn.ts';
import {
  decodePayload,
  encodeEntry,
  formatTxnLog,
  listTxnLogs,
  readLogFile,
  purgeTxnLogs,
  replayTxnLogs,
  TxnLogError,
  TxnLogWriter,
  type LoggedTxn,
  type TornTail,
} from '../src/persistence/txnlog.ts';
import { startServer, ZK_CLASSPATH } from './support/servers.ts';

/** Recovery's read of the log, collected: the txns after fromZxid and the torn tail. */
function scanTxnLogs(dir: string, fromZxid: number, opts: { repair?: boolean } = {}): { txns: LoggedTxn[]; tornTail: TornTail | null } {
  const txns: LoggedTxn[] = [];
  const { tornTail } = replayTxnLogs(dir, fromZxid, (t) => txns.push(t), opts);
  return { txns, tornTail };
}

const run = promisify(execFile);
// Every assert.ok here carries a message: without one, assert re-reads the (tsx-compiled) source to
// quote the expression, which can take minutes.

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'txnlog-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const SESSION = 0x1000002a1b30000n;
const DIGEST_ACL: ACL[] = [{ perms: 31, id: { scheme: 'digest', id: 'bob:vvSj2BQeYJlaYzWkP0BR4ya0Ltc=' } }];

/** An independent model of ZooKeeper's FilePadding: a log file's length as entries are written (after its 16-byte header). */
function paddingModel(P: number) {
  let pos = 16;
  let size = 16;
  return {
    add(entryLen: number) {
      if (pos + 4096 >= size) size = pos > size ? Math.floor((pos + P) / P) * P : size + P;
      pos += entryLen;
    },
    get length() {
      return Math.max(size, pos);
    },
  };
}

function txn(zxid: number, body: TxnBody, extra: Partial<LoggedTxn> = {}): LoggedTxn {
  const type = body.type;
  return { hdr: { clientId: SESSION, cxid: zxid, zxid, time: 1_700_000_000_000 + zxid, type }, body, ...extra };
}

/** One txn of every type ZooKeeper logs, zxids 1..n (with the digest on some). */
function everyType(): LoggedTxn[] {
  const acl = OPEN_ACL_UNSAFE;
  const bodies: TxnBody[] = [
    { type: OpCode.createSession, timeOut: 30000 },
    { type: OpCode.create, path: '/a', data: Buffer.from('hello'), acl, ephemeral: false, parentCVersion: 1 },
    { type: OpCode.create2, path: '/a/b', data: null, acl: DIGEST_ACL, ephemeral: false, parentCVersion: 1 },
    { type: OpCode.create, path: '/e', data: Buffer.alloc(0), acl, ephemeral: true, parentCVersion: 2 },
    { type: OpCode.createContainer, path: '/c', data: Buffer.from('cont'), acl, parentCVersion: 3 },
    { type: OpCode.createTTL, path: '/t', data: Buffer.from([0, 1, 2, 255]), acl, parentCVersion: 4, ttl: 100_000 },
    { type: OpCode.setData, path: '/a', data: Buffer.from('world'), version: 1 },
    { type: OpCode.setACL, path: '/a', acl: [...acl, ...DIGEST_ACL], version: 1 },
    { type: OpCode.check, path: '/a', version: 1 },
    { type: OpCode.delete, path: '/a/b' },
    {
      type: OpCode.multi,
      txns: [
        { type: OpCode.create, path: '/m', data: Buffer.from('x'), acl, ephemeral: false, parentCVersion: 5 },
        { type: OpCode.setData, path: '/m', data: Buffer.from('y'), version: 1 },
        { type: OpCode.check, path: '/a', version: 2 },
        { type: OpCode.delete, path: '/m' },
      ],
    },
    // a failed multi: the ops up to the failure, then the error, as ZooKeeper logs it
    { type: OpCode.multi, txns: [{ type: OpCode.error, err: Err.ok }, { type: OpCode.error, err: Err.noNode }] },
    { type: OpCode.error, err: Err.noNode },
    { type: OpCode.deleteContainer, path: '/c' },
    { type: OpCode.closeSession, paths: ['/e'] },
  ];
  return bodies.map((b, i) => txn(i + 1, b, i % 3 === 0 ? {} : { digest: { version: 2, treeDigest: BigInt(0x51c6d660 + i) * 0x1_0000_0001n } }));
}

async function writeLog(dir: string, txns: LoggedTxn[], opts = { preAllocSize: 0, forceSync: false }): Promise<TxnLogWriter> {
  const w = new TxnLogWriter(dir, opts);
  for (const t of txns) w.append(t);
  await w.close();
  return w;
}

const seq = (from: number, to: number, body: (z: number) => TxnBody = (z) => ({ type: OpCode.setData, path: '/x', data: Buffer.from(`v${z}`), version: z })) =>
  Array.from({ length: to - from + 1 }, (_, i) => txn(from + i, body(from + i)));

const zxids = (txns: Txn[]): number[] => txns.map((t) => t.hdr.zxid);

function expectLogError(fn: () => unknown, file: string, offset: number, pattern: RegExp): TxnLogError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof TxnLogError, `expected TxnLogError, got ${String(caught)}`);
  assert.equal(caught.file, file);
  assert.equal(caught.offset, offset);
  assert.match(caught.message, pattern);
  assert.ok(caught.message.includes(file) && caught.message.includes(`offset ${offset}`), caught.message);
  return caught;
}

describe('txn log: format', () => {
  test('every txn type round-trips through an entry and through a file, digests kept', async () => {
    const txns = everyType();
    for (const t of txns) assert.deepEqual(decodePayload(encodeEntry(t).subarray(12, -1)), t);
    const dir = tempDir();
    await writeLog(dir, txns);
    const scan = scanTxnLogs(dir, 0);
    assert.deepEqual(scan.txns, txns);
    assert.equal(scan.tornTail, null);
    assert.deepEqual(listTxnLogs(dir), [{ path: join(dir, 'log.1'), zxid: 1 }]);
    assert.deepEqual(zxids(scanTxnLogs(dir, 10).txns), [11, 12, 13, 14, 15]);
    assert.deepEqual(scanTxnLogs(dir, 15).txns, []);
  });

  test('file header and entry layout, byte for byte', async () => {
    const dir = tempDir();
    await writeLog(dir, [txn(1, { type: OpCode.createSession, timeOut: 4000 }, { digest: { version: 2, treeDigest: 0x51c6d660n } })]);
    const b = readFileSync(join(dir, 'log.1'));
    assert.equal(b.toString('latin1', 0, 4), 'ZKLG');
    assert.equal(b.readInt32BE(4), 2); // version
    assert.equal(b.readBigInt64BE(8), 0n); // dbid
    const len = b.readInt32BE(24);
    assert.equal(len, 32 + 4 + 12); // TxnHeader + CreateSessionTxn + TxnDigest
    // the checksum is Adler-32 of the payload: zlib's stream trailer computes the same
    const payload = b.subarray(28, 28 + len);
    assert.equal(b.readBigUInt64BE(16), BigInt(deflateSync(payload).readUInt32BE(deflateSync(payload).length - 4)));
    assert.equal(b[28 + len], 0x42);
    assert.equal(b.length, 28 + len + 1); // preAllocSize 0: no padding
  });

  test('a txn decoded from a payload is logged as those very bytes (a follower logs its PROPOSAL as received)', async () => {
    // ZooKeeper with zookeeper.closeSessionTxn.enabled=false: a closeSession with no record, only the digest.
    const w = new JuteWriter();
    w.bigLong(SESSION).int(7).long(1).long(1_700_000_000_001).int(OpCode.closeSession).int(2).bigLong(0x1234n);
    const recordless = w.toBuffer();
    const setData = encodeEntry(seq(2, 2)[0]!).subarray(12, -1);
    const decoded = [decodePayload(Buffer.from(recordless)), decodePayload(Buffer.from(setData))];
    for (const [i, t] of decoded.entries()) {
      const entry = encodeEntry(t);
      assert.deepEqual(entry.subarray(12, -1), [recordless, setData][i], `txn ${t.hdr.zxid}: the logged payload is the received one`);
    }
    const dir = tempDir();
    await writeLog(dir, decoded);
    assert.deepEqual(scanTxnLogs(dir, 0).txns, decoded, 'and it reads back as the txn that was applied');
  });

  test('preallocation: the file grows in preAllocSize steps, as FilePadding', async () => {
    // Default 64 MiB: a fresh file is 67108880 bytes (sparse).
    const big = tempDir();
    await writeLog(big, [txn(1, { type: OpCode.createSession, timeOut: 4000 })], { preAllocSize: 64 * 1024 * 1024, forceSync: true });
    assert.equal(statSync(join(big, 'log.1')).size, 67108880);

    // Small steps, checked against an independent model of ZooKeeper's rule.
    const P = 8192;
    const dir = tempDir();
    const w = new TxnLogWriter(dir, { preAllocSize: P, forceSync: false });
    const model = paddingModel(P);
    let zxid = 0;
    for (const [count, dataLen] of [[1, 10], [5, 700], [1, 20_000], [3, 100], [12, 900]] as const) {
      for (let i = 0; i < count; i++) {
        const t = txn(++zxid, { type: OpCode.setData, path: '/p', data: Buffer.alloc(dataLen, 7), version: zxid });
        model.add(encodeEntry(t).length);
        w.append(t);
      }
      await w.flush();
      assert.equal(statSync(join(dir, 'log.1')).size, model.length, `after zxid ${zxid}`);
    }
    await w.close();
    assert.ok(model.length > 3 * P, `grew to ${model.length}`);
    assert.equal(scanTxnLogs(dir, 0).txns.length, zxid);
  });

  test('with forceSync the hole just past the data is written with zeros ahead of need, never over data nor past the length', async () => {
    const AHEAD = 256 * 1024; // FILL_AHEAD
    const written = (path: string) => statSync(path).blocks * 512; // bytes the file system allocated
    const P = 1 << 20;
    const dir = tempDir();
    const file = join(dir, 'log.1');
    const w = new TxnLogWriter(dir, { preAllocSize: P, forceSync: true });
    const model = paddingModel(P);
    let zxid = 0;
    // Batches of 1..40 KiB entries: fills are due now and then, and the file grows past P (a sparse step) on the way.
    for (const [count, dataLen] of [[1, 10], [30, 1000], [1, 40_000], [200, 1000], [10, 40_000], [700, 1000]] as const) {
      for (let i = 0; i < count; i++) {
        const t = txn(++zxid, { type: OpCode.setData, path: '/p', data: Buffer.alloc(dataLen, 7), version: zxid });
        model.add(encodeEntry(t).length);
        w.append(t);
      }
      await w.flush();
      const parsed = readLogFile(file);
      assert.equal(parsed.records.length, zxid, 'every txn reads back: no zeros over data');
      assert.equal(parsed.end.kind, 'clean');
      const dataEnd = parsed.end.offset;
      const size = statSync(file).size;
      assert.equal(size, model.length, 'the length is FilePadding\'s, as without the zeros');
      assert.ok(written(file) >= Math.min(size, dataEnd + AHEAD / 2), `after zxid ${zxid}: ${written(file)} bytes written, data ends at ${dataEnd}`);
      assert.ok(written(file) < size, 'the rest is still a hole');
    }
    assert.ok(model.length > 2 * P, `grew to ${model.length}`);
    assert.equal(w.stats.writes, w.stats.flushes, 'the zeros are not counted as the batch\'s write');
    assert.ok(w.stats.zeroFilled >= AHEAD, `${w.stats.zeroFilled} bytes of zeros`);
    await w.close();

    // Without forceSync there is no fdatasync to spare: the file stays sparse past the data.
    const lazy = tempDir();
    const l = new TxnLogWriter(lazy, { preAllocSize: P, forceSync: false });
    for (let i = 1; i <= 30; i++) l.append(txn(i, { type: OpCode.setData, path: '/p', data: Buffer.alloc(1000, 7), version: i }));
    await l.close();
    assert.equal(l.stats.zeroFilled, 0);
    assert.ok(written(join(lazy, 'log.1')) < 64 * 1024, `${written(join(lazy, 'log.1'))} bytes written`);
  });

  test('group commit: many appends, one flush = one write and one sync; queued flushes cover later appends', async () => {
    const dir = tempDir();
    const w = new TxnLogWriter(dir, { preAllocSize: 1 << 20, forceSync: true });
    for (const t of seq(1, 2000)) w.append(t);
    assert.equal(w.lastZxid, 2000);
    await w.flush();
    assert.deepEqual({ writes: w.stats.writes, syncs: w.stats.syncs, flushes: w.stats.flushes }, { writes: 1, syncs: 1, flushes: 1 });
    assert.equal(scanTxnLogs(dir, 0).txns.length, 2000);

    // While one flush is in flight, appends gather; the next flush writes them all at once.
    w.append(seq(2001, 2001)[0]!);
    const first = w.flush();
    await new Promise((r) => setImmediate(r)); // let the first one start
    for (const t of seq(2002, 2100)) w.append(t);
    const second = w.flush();
    const third = w.flush(); // nothing new by the time it runs
    await second;
    assert.deepEqual(zxids(scanTxnLogs(dir, 2000).txns), seq(2001, 2100).map((t) => t.hdr.zxid));
    await Promise.all([first, third]);
    assert.ok(w.stats.flushes <= 3 && w.stats.syncs === w.stats.flushes, JSON.stringify(w.stats));
    assert.equal(w.stats.writes, w.stats.flushes);
    await w.close();
    await assert.rejects(w.flush(), /closed/);
    assert.throws(() => w.append(seq(2101, 2101)[0]!), /closed/);
  });

  test('append refuses a zxid that does not increase and a record that does not match its header', () => {
    const w = new TxnLogWriter(tempDir(), { preAllocSize: 0, forceSync: false });
    w.append(txn(5, { type: OpCode.delete, path: '/a' }));
    assert.throws(() => w.append(txn(5, { type: OpCode.delete, path: '/a' })), RangeError);
    const bad = txn(6, { type: OpCode.delete, path: '/a' });
    bad.hdr.type = OpCode.setData;
    assert.throws(() => w.append(bad), TypeError);
    assert.equal(w.lastZxid, 5);
  });

  test('roll: the next append starts log.<hex zxid>; the old file is finished first', async () => {
    const dir = tempDir();
    const w = new TxnLogWriter(dir, { preAllocSize: 4096, forceSync: true });
    for (const t of seq(1, 3)) w.append(t);
    await w.flush();
    assert.equal(w.currentFile, join(dir, 'log.1'));
    w.roll();
    for (const t of seq(4, 5)) w.append(t);
    assert.equal(w.currentFile, join(dir, 'log.4'));
    w.roll(); // roll + appends in the same batch: both files written by one flush
    w.append(seq(6, 6)[0]!);
    w.roll();
    w.roll(); // nothing appended since: no empty file
    w.append(txn(0x100000001, { type: OpCode.createSession, timeOut: 1 }));
    await w.close();
    assert.deepEqual(
      listTxnLogs(dir).map((l) => [basename(l.path), l.zxid]),
      [['log.1', 1], ['log.4', 4], ['log.6', 6], ['log.100000001', 0x100000001]],
    );
    assert.equal(w.stats.files, 4);
    assert.deepEqual(zxids(scanTxnLogs(dir, 0).txns), [1, 2, 3, 4, 5, 6, 0x100000001]);
    // scanning from the middle starts at the newest file at or before the point
    assert.deepEqual(zxids(scanTxnLogs(dir, 4).txns), [5, 6, 0x100000001]);
  });

  test('purge keeps the newest file starting at or before the snapshot, and everything later', async () => {
    const dir = tempDir();
    const w = new TxnLogWriter(dir, { preAllocSize: 0, forceSync: false });
    for (const [from, to] of [[1, 4], [5, 9], [10, 19], [20, 25]] as const) {
      w.roll();
      for (const t of seq(from, to)) w.append(t);
    }
    await w.close();
    const names = () => listTxnLogs(dir).map((l) => basename(l.path));
    assert.deepEqual(names(), ['log.1', 'log.5', 'log.a', 'log.14']);
    assert.deepEqual(purgeTxnLogs(dir, 0), []);
    assert.deepEqual(purgeTxnLogs(dir, 4), []);
    assert.deepEqual(purgeTxnLogs(dir, 0xb).map((p) => basename(p)), ['log.1', 'log.5']);
    assert.deepEqual(names(), ['log.a', 'log.14']);
    assert.deepEqual(zxids(scanTxnLogs(dir, 0xb).txns), seq(12, 25).map((t) => t.hdr.zxid));
    assert.deepEqual(purgeTxnLogs(dir, 0x14).map((p) => basename(p)), ['log.a']);
    assert.deepEqual(purgeTxnLogs(dir, 1000), []);
    assert.deepEqual(names(), ['log.14']);
  });

  test('formatTxnLog: a line per txn like TxnLogToolkit, or JSON lines', async () => {
    const dir = tempDir();
    await writeLog(dir, everyType());
    const file = join(dir, 'log.1');
    const text = formatTxnLog(file, false).trimEnd().split('\n');
    assert.equal(text[0], 'ZooKeeper Transactional Log File with dbid 0 txnlog format version 2');
    assert.match(text[1]!, /session 0x1000002a1b30000 cxid 0x1 zxid 0x1 createSession 30000$/);
    assert.match(text[2]!, / zxid 0x2 create \/a,hello,\[31,world:anyone\],false,1$/);
    assert.match(text[11]!, / zxid 0xb multi create:\/m,x,.*;setData:\/m,y,1;check:\/a,2;delete:\/m$/);
    assert.match(text[15]!, / zxid 0xf closeSession \[\/e\]$/);
    assert.equal(text.at(-1), 'EOF reached after 15 txns.');
    const json = formatTxnLog(file, true).trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(json[0], { fileHeader: { magic: '0x5a4b4c47', version: 2, dbid: 0 } });
    assert.deepEqual(json[2], { offset: json[2].offset, time: 1_700_000_000_002, session: '0x1000002a1b30000', cxid: 2, zxid: 2, zxidHex: '0x2', type: 'create', path: '/a', data: 'hello', acl: OPEN_ACL_UNSAFE, ephemeral: false, parentCVersion: 1, digest: json[2].digest });
    assert.equal(json[6].dataBase64, Buffer.from([0, 1, 2, 255]).toString('base64'));
    assert.deepEqual(json.at(-1), { end: 'eof', offset: json.at(-1).offset, txns: 15 });
  });
});

// ------------------------------------------------------------ damage

/** Five setData txns in log.1 (optionally preallocated); returns the file and its entry offsets. */
async function fiveTxnLog(preAllocSize: number): Promise<{ dir: string; file: string; offsets: number[]; ends: number[] }> {
  const dir = tempDir();
  await writeLog(dir, seq(1, 5), { preAllocSize, forceSync: false });
  const file = join(dir, 'log.1');
  const parsed = readLogFile(file);
  const offsets = parsed.records.map((r) => r.offset);
  const ends = parsed.records.map((_r, i) => (offsets[i + 1] ?? parsed.end.offset) - 1); // offset of each 'B'
  return { dir, file, offsets, ends };
}

function patch(file: string, at: number, bytes: number[] | Buffer): void {
  const b = readFileSync(file);
  Buffer.from(bytes).copy(b, at);
  writeFileSync(file, b);
}

describe('txn log: torn tails and damage', () => {
  const tornVariants: [string, number, (f: { file: string; offsets: number[]; ends: number[] }) => void][] = [
    ['truncated mid-record at EOF', 0, ({ file, offsets }) => truncateSync(file, offsets[4]! + 20)],
    ['truncated inside the entry prefix', 0, ({ file, offsets }) => truncateSync(file, offsets[4]! + 5)],
    ['mid-record, rest zeros (preallocated)', 4096, ({ file, offsets, ends }) => patch(file, offsets[4]! + 20, Buffer.alloc(ends[4]! + 1 - offsets[4]! - 20))],
    ['zeroed checksum', 4096, ({ file, offsets }) => patch(file, offsets[4]!, Buffer.alloc(8))],
    ['zeroed checksum, no preallocation', 0, ({ file, offsets }) => patch(file, offsets[4]!, Buffer.alloc(8))],
    ['partial: no B at EOF', 0, ({ file, ends }) => truncateSync(file, ends[4]!)],
    ['partial: B zeroed (preallocated)', 4096, ({ file, ends }) => patch(file, ends[4]!, [0])],
  ];
  for (const [name, prealloc, damage] of tornVariants) {
    test(`torn tail, ${name}: reported, repaired, and the log continues`, async () => {
      const log = await fiveTxnLog(prealloc);
      damage(log);
      const scan = scanTxnLogs(log.dir, 0);
      assert.deepEqual(zxids(scan.txns), [1, 2, 3, 4]);
      assert.deepEqual(scan.tornTail, { file: log.file, offset: log.offsets[4] });
      assert.match(formatTxnLog(log.file, false), new RegExp(`zxid 0x4 setData .*\\nincomplete last entry \\(torn write\\) at offset ${log.offsets[4]}: .*\\nStopped after 4 txns\\.\\n$`));
      const repaired = scanTxnLogs(log.dir, 0, { repair: true });
      assert.deepEqual(repaired.tornTail, scan.tornTail);
      assert.equal(statSync(log.file).size, log.offsets[4]);
      const again = scanTxnLogs(log.dir, 0);
      assert.equal(again.tornTail, null);
      assert.deepEqual(zxids(again.txns), [1, 2, 3, 4]);
      // the lost txn gets its zxid again, in a new file
      await writeLog(log.dir, seq(5, 6), { preAllocSize: prealloc, forceSync: true });
      assert.deepEqual(zxids(scanTxnLogs(log.dir, 0).txns), [1, 2, 3, 4, 5, 6]);
    });
  }

  test('torn first entry: the file is removed on repair; a header-only file is replaced by the writer', async () => {
    const log = await fiveTxnLog(4096);
    // A zeroed first entry with intact entries after it is corruption, not a torn write.
    patch(log.file, 16, Buffer.alloc(log.ends[0]! - 16));
    expectLogError(() => scanTxnLogs(log.dir, 0, { repair: true }), log.file, 16, /zero checksum and length followed by non-zero data/);

    const dir = tempDir();
    await writeLog(dir, seq(1, 1), { preAllocSize: 4096, forceSync: false });
    const file = join(dir, 'log.1');
    truncateSync(file, 30);
    assert.deepEqual(scanTxnLogs(dir, 0, { repair: true }).tornTail, { file, offset: 16 });
    assert.deepEqual(listTxnLogs(dir), []);

    // ZooKeeper can crash after writing the header and padding only: an empty log, replaced on reuse.
    writeFileSync(file, Buffer.concat([readFileSync(join(log.dir, 'log.1')).subarray(0, 16), Buffer.alloc(4096)]));
    assert.deepEqual(scanTxnLogs(dir, 0), { txns: [], tornTail: null });
    await writeLog(dir, seq(1, 2), { preAllocSize: 0, forceSync: true });
    assert.deepEqual(zxids(scanTxnLogs(dir, 0).txns), [1, 2]);
    // but a file with entries is never overwritten
    const w = new TxnLogWriter(dir, { preAllocSize: 0, forceSync: false });
    w.append(seq(1, 1)[0]!);
    await assert.rejects(w.flush(), (e) => e instanceof TxnLogError && /refusing to overwrite/.test(e.message));
    assert.throws(() => w.append(seq(2, 2)[0]!), /failed earlier/);
    await w.close();
    assert.deepEqual(zxids(scanTxnLogs(dir, 0).txns), [1, 2]);
  });

  test('a flipped byte, anywhere but a torn tail, is an error naming file and offset; never repaired', async () => {
    for (const [what, prealloc, at, entry] of [
      ['payload of entry 2', 4096, (o: number[]) => o[1]! + 30, 1],
      ['length of entry 2', 4096, (o: number[]) => o[1]! + 10, 1],
      ['length of entry 2, no preallocation', 0, (o: number[]) => o[1]! + 10, 1],
      ['checksum of entry 3', 0, (o: number[]) => o[2]! + 6, 2],
      ['payload of the last entry', 4096, (o: number[]) => o[4]! + 40, 4],
      ['payload of the last entry, no preallocation', 0, (o: number[]) => o[4]! + 40, 4],
    ] as const) {
      const log = await fiveTxnLog(prealloc);
      const b = readFileSync(log.file);
      const pos = at(log.offsets);
      b[pos] ^= 0x10;
      writeFileSync(log.file, b);
      const e = expectLogError(() => scanTxnLogs(log.dir, 0, { repair: true }), log.file, log.offsets[entry]!, /./);
      assert.deepEqual(readFileSync(log.file), b, `${what}: file untouched (${e.message})`);
      const dump = formatTxnLog(log.file, true).trimEnd().split('\n').map((l) => JSON.parse(l));
      assert.deepEqual({ ...dump.at(-1), reason: undefined }, { end: 'corrupt', offset: log.offsets[entry], reason: undefined, txns: entry });
    }
    // a missing 'B' with intact entries after it
    const log = await fiveTxnLog(0);
    patch(log.file, log.ends[1]!, [0x41]);
    expectLogError(() => scanTxnLogs(log.dir, 0), log.file, log.offsets[1]!, /not 'B'/);
    patch(log.file, log.ends[1]!, [0]);
    expectLogError(() => scanTxnLogs(log.dir, 0, { repair: true }), log.file, log.offsets[1]!, /not 'B'/);
    // zeros in the middle followed by intact entries: not an end of file
    patch(log.file, log.offsets[1]!, Buffer.alloc(log.ends[1]! + 1 - log.offsets[1]!));
    expectLogError(() => scanTxnLogs(log.dir, 0), log.file, log.offsets[1]!, /zero checksum and length followed/);
  });

  test('wrong magic, and torn-looking damage in an older file, are errors', async () => {
    const dir = tempDir();
    const w = new TxnLogWriter(dir, { preAllocSize: 0, forceSync: false });
    for (const t of seq(1, 3)) w.append(t);
    w.roll();
    for (const t of seq(4, 6)) w.append(t);
    await w.close();
    const [older, newer] = listTxnLogs(dir).map((l) => l.path) as [string, string];
    const olderBytes = readFileSync(older);
    const lastOfOlder = readLogFile(older).records[2]!.offset;
    truncateSync(older, olderBytes.length - 3);
    expectLogError(() => scanTxnLogs(dir, 0, { repair: true }), older, lastOfOlder, /past the end/);
    writeFileSync(older, olderBytes);
    // An older file is read only up to its end marker (its preallocated zeros are not read), so a
    // zeroed stretch there hides the entries after it: the next file then shows the gap.
    const olderOffsets = readLogFile(older).records.map((r) => r.offset);
    patch(older, olderOffsets[1]!, Buffer.alloc(olderOffsets[2]! - olderOffsets[1]!));
    expectLogError(() => scanTxnLogs(dir, 0, { repair: true }), newer, 16, /gap: zxid 0x4 after 0x1/);
    assert.deepEqual(zxids(scanTxnLogs(dir, 3).txns), [4, 5, 6], 'a hidden stretch the starting point covers is not needed');
    writeFileSync(older, olderBytes);
    patch(newer, 0, Buffer.from('ZKSN'));
    expectLogError(() => scanTxnLogs(dir, 0), newer, 0, /bad magic/);
    patch(newer, 0, Buffer.from('ZKLG'));
    patch(newer, 4, [0, 0, 0, 3]);
    expectLogError(() => scanTxnLogs(dir, 0), newer, 0, /version 3/);
    // an all-zero newest file (crash before the header reached the disk) is a torn tail at 0
    writeFileSync(newer, Buffer.alloc(4096));
    assert.deepEqual(scanTxnLogs(dir, 0, { repair: true }).tornTail, { file: newer, offset: 0 });
    assert.deepEqual(listTxnLogs(dir).map((l) => l.path), [older]);
  });

  test('gaps and zxids going backwards are errors, within and across files; a new epoch restarts at 1', async () => {
    const gap = tempDir();
    await writeLog(gap, [...seq(1, 2), ...seq(4, 5)]);
    const file = join(gap, 'log.1');
    const offsets = readLogFile(file).records.map((r) => r.offset);
    expectLogError(() => scanTxnLogs(gap, 0), file, offsets[2]!, /gap: zxid 0x4 after 0x2/);
    expectLogError(() => scanTxnLogs(gap, 1), file, offsets[2]!, /gap: zxid 0x4 after 0x2/);
    // a gap below the starting point is not checked (a snapshot covers it) ...
    assert.deepEqual(zxids(scanTxnLogs(gap, 3).txns), [4, 5]);
    // ... but the log must connect to the starting point
    const late = tempDir();
    await writeLog(late, seq(7, 9));
    expectLogError(() => scanTxnLogs(late, 0), join(late, 'log.7'), 16, /gap: zxid 0x7 after the starting point 0x0/);
    assert.deepEqual(zxids(scanTxnLogs(late, 6).txns), [7, 8, 9]);

    const across = tempDir();
    const w = new TxnLogWriter(across, { preAllocSize: 0, forceSync: false });
    for (const t of seq(1, 3)) w.append(t);
    w.roll();
    for (const t of seq(5, 6)) w.append(t);
    await w.close();
    expectLogError(() => scanTxnLogs(across, 0), join(across, 'log.5'), 16, /gap: zxid 0x5 after 0x3/);

    const epochs = tempDir();
    await writeLog(epochs, [...seq(1, 2), ...seq(0x300000001, 0x300000002), ...seq(0x400000002, 0x400000002)]);
    const eo = readLogFile(join(epochs, 'log.1')).records.map((r) => r.offset);
    expectLogError(() => scanTxnLogs(epochs, 0), join(epochs, 'log.1'), eo[4]!, /gap: zxid 0x400000002 after 0x300000002/);
    truncateSync(join(epochs, 'log.1'), eo[4]!);
    assert.deepEqual(zxids(scanTxnLogs(epochs, 0).txns), [1, 2, 0x300000001, 0x300000002]);
    assert.deepEqual(zxids(scanTxnLogs(epochs, 2).txns), [0x300000001, 0x300000002]);

    // backwards: a later file repeating a zxid of an earlier one
    const back = tempDir();
    await writeLog(back, seq(1, 3));
    await writeLog(back, seq(3, 4));
    expectLogError(() => scanTxnLogs(back, 0), join(back, 'log.3'), 16, /zxid 0x3 does not follow 0x3/);
    // a file whose first txn is older than its name
    const renamed = tempDir();
    await writeLog(renamed, seq(1, 3));
    writeFileSync(join(renamed, 'log.2'), readFileSync(join(renamed, 'log.1')));
    rmSync(join(renamed, 'log.1'));
    expectLogError(() => scanTxnLogs(renamed, 0), join(renamed, 'log.2'), 16, /older than the file name/);
  });
});

// ------------------------------------------------------------ failed writes

/** Patch FileHandle.prototype.<method> for the duration of fn. */
async function withFileHandlePatch(method: 'datasync', impl: (orig: (...a: unknown[]) => Promise<unknown>) => (...a: unknown[]) => Promise<unknown>, fn: () => Promise<void>): Promise<void> {
  const probe = await openFile(join(tempDir(), 'probe'), 'w');
  const proto = Object.getPrototypeOf(probe) as Record<string, unknown>;
  await probe.close();
  const orig = proto[method] as (...a: unknown[]) => Promise<unknown>;
  proto[method] = impl(orig);
  try {
    await fn();
  } finally {
    proto[method] = orig;
  }
}

type WriteSync = (fd: number, buf: Buffer, off: number, len: number, pos: number) => number;

/** Patch fs.writeSync (the log writes its batches with it) for the duration of fn. */
async function withWriteSyncPatch(impl: (orig: WriteSync) => WriteSync, fn: () => Promise<void>): Promise<void> {
  const orig = fs.writeSync as WriteSync;
  fs.writeSync = impl(orig) as typeof fs.writeSync;
  syncBuiltinESMExports(); // the log imports writeSync by name
  try {
    await fn();
  } finally {
    fs.writeSync = orig as typeof fs.writeSync;
    syncBuiltinESMExports();
  }
}

const ioError = (code: string, syscall: string) => Object.assign(new Error(`${code}: simulated, ${syscall}`), { code, syscall });

describe('txn log: failed writes are never acknowledged', () => {
  test('ENOSPC part-way through a batch: flush rejects, the writer refuses everything after, the tail is repairable', async () => {
    const dir = tempDir();
    const w = new TxnLogWriter(dir, { preAllocSize: 0, forceSync: true });
    for (const t of seq(1, 10)) w.append(t);
    await w.flush();
    for (const t of seq(11, 20)) w.append(t);
    let calls = 0;
    await withWriteSyncPatch(
      (orig) => (fd, buf, off, len, pos) => {
        // the first call writes half of what it was given, the next one finds the disk full
        if (calls++ === 0) return orig(fd, buf, off, Math.floor(len / 2) + 13, pos);
        throw ioError('ENOSPC', 'write');
      },
      async () => {
        const failing = w.flush();
        const queued = w.flush(); // queued behind it: must not resolve either
        await assert.rejects(failing, (e: NodeJS.ErrnoException) => e.code === 'ENOSPC');
        await assert.rejects(queued, /failed earlier/);
      },
    );
    assert.ok(w.failed, 'writer marked failed');
    assert.throws(() => w.append(seq(21, 21)[0]!), /failed earlier.*ENOSPC/);
    await assert.rejects(w.flush(), /failed earlier/);
    assert.throws(() => w.roll(), /failed earlier/);
    await w.close(); // closing a failed writer does not throw again
    // After "restart": what was durable is there, the half-written entry is a torn tail.
    const scan = scanTxnLogs(dir, 0, { repair: true });
    assert.ok(scan.tornTail, 'torn tail found');
    assert.ok(scan.txns.length >= 10 && scan.txns.length < 20, `${scan.txns.length} txns`);
    assert.deepEqual(zxids(scan.txns), seq(1, scan.txns.length).map((t) => t.hdr.zxid));
    assert.equal(scanTxnLogs(dir, 0).tornTail, null);
  });

  test('EIO from fdatasync: flush rejects and the writer is done', async () => {
    const dir = tempDir();
    const w = new TxnLogWriter(dir, { preAllocSize: 4096, forceSync: true });
    w.append(seq(1, 1)[0]!);
    await withFileHandlePatch(
      'datasync',
      () => () => Promise.reject(ioError('EIO', 'fdatasync')),
      async () => {
        await assert.rejects(w.flush(), (e: NodeJS.ErrnoException) => e.code === 'EIO');
      },
    );
    assert.throws(() => w.append(seq(2, 2)[0]!), /failed earlier/);
    await w.close();
  });

  test('an unwritable log directory: the first flush rejects', async () => {
    const base = tempDir();
    const dir = join(base, 'version-2');
    const w = new TxnLogWriter(dir, { preAllocSize: 0, forceSync: true });
    rmSync(dir, { recursive: true });
    writeFileSync(dir, 'not a directory');
    w.append(seq(1, 1)[0]!);
    await assert.rejects(w.flush(), (e: NodeJS.ErrnoException) => e.code === 'ENOTDIR');
    assert.throws(() => w.append(seq(2, 2)[0]!), /failed earlier/);
    await w.close();
  });
});

// ------------------------------------------------------------ ZooKeeper 3.8

describe('txn log: compatibility with Apache ZooKeeper 3.8', () => {
  test('a log written by ZooKeeper (several files) is read with the expected txns', async () => {
    const zk = await startServer('zookeeper', { cfg: { snapCount: 8, extendedTypesEnabled: 'true' } });
    let sessionId: bigint;
    try {
      const c = await ZooKeeperClient.connect(zk.connectString);
      sessionId = c.sessionId;
      await c.create('/a', 'hello');
      await c.create2('/a/b', null, { acl: [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }] });
      await c.create('/e', 'eph', { mode: CreateMode.ephemeral });
      await c.create('/s-', 'seq', { mode: CreateMode.persistentSequential });
      await c.create('/c', 'cont', { mode: CreateMode.container });
      await c.create('/t', 'ttl', { mode: CreateMode.persistentWithTTL, ttl: 100_000 });
      await c.setData('/a', 'world');
      await c.setACL('/a', OPEN_ACL_UNSAFE, 0);
      await c.delete('/a/b');
      await c.multi([op.create('/m1', 'x'), op.setData('/m1', 'y'), op.check('/a', 1), op.delete('/m1')]);
      await assert.rejects(c.multi([op.create('/m2', 'x'), op.delete('/nonexistent')]));
      await assert.rejects(c.delete('/nonexistent'));
      await c.create('/c/child', 'x');
      await c.delete('/c/child');
      await c.close();
    } finally {
      await zk.stop({ keepDir: true });
      dirs.push(zk.dir);
    }
    const dir = join(zk.dir, 'data', 'version-2');
    const files = listTxnLogs(dir);
    assert.ok(files.length >= 2, `ZooKeeper rolled its log (snapCount 8): ${files.map((f) => basename(f.path))}`);
    for (const f of files) assert.equal(statSync(f.path).size % (64 * 1024 * 1024), 16, 'preallocated');
    const scan = scanTxnLogs(dir, 0);
    assert.equal(scan.tornTail, null);
    const got = scan.txns.map((t) => {
      assert.equal(t.hdr.clientId, sessionId);
      const b = t.body as Record<string, unknown>;
      const data = b.data instanceof Buffer ? b.data.toString() : b.data;
      return { zxid: t.hdr.zxid, type: t.hdr.type, path: b.path, data, digest: t.digest?.version };
    });
    const D = 2; // TxnDigest version ZooKeeper 3.8 appends
    assert.deepEqual(got, [
      { zxid: 1, type: OpCode.createSession, path: undefined, data: undefined, digest: D },
      { zxid: 2, type: OpCode.create, path: '/a', data: 'hello', digest: D },
      { zxid: 3, type: OpCode.create2, path: '/a/b', data: null, digest: D },
      { zxid: 4, type: OpCode.create, path: '/e', data: 'eph', digest: D },
      { zxid: 5, type: OpCode.create, path: '/s-0000000002', data: 'seq', digest: D },
      { zxid: 6, type: OpCode.createContainer, path: '/c', data: 'cont', digest: D },
      { zxid: 7, type: OpCode.createTTL, path: '/t', data: 'ttl', digest: D },
      { zxid: 8, type: OpCode.setData, path: '/a', data: 'world', digest: D },
      { zxid: 9, type: OpCode.setACL, path: '/a', data: undefined, digest: D },
      { zxid: 10, type: OpCode.delete, path: '/a/b', data: undefined, digest: D },
      { zxid: 11, type: OpCode.multi, path: undefined, data: undefined, digest: D },
      { zxid: 12, type: OpCode.multi, path: undefined, data: undefined, digest: D },
      { zxid: 13, type: OpCode.error, path: undefined, data: undefined, digest: undefined },
      { zxid: 14, type: OpCode.create, path: '/c/child', data: 'x', digest: D },
      { zxid: 15, type: OpCode.delete, path: '/c/child', data: undefined, digest: D },
      { zxid: 16, type: OpCode.closeSession, path: undefined, data: undefined, digest: D },
    ]);
    const byZxid = (z: number) => scan.txns[z - 1]!.body;
    assert.deepEqual(byZxid(1), { type: OpCode.createSession, timeOut: 30000 });
    assert.deepEqual(byZxid(4), { type: OpCode.create, path: '/e', data: Buffer.from('eph'), acl: OPEN_ACL_UNSAFE, ephemeral: true, parentCVersion: 2 });
    assert.deepEqual(byZxid(7), { type: OpCode.createTTL, path: '/t', data: Buffer.from('ttl'), acl: OPEN_ACL_UNSAFE, parentCVersion: 5, ttl: 100_000 });
    assert.deepEqual(byZxid(9), { type: OpCode.setACL, path: '/a', acl: OPEN_ACL_UNSAFE, version: 1 });
    assert.deepEqual(
      (byZxid(11) as { txns: TxnBody[] }).txns.map((t) => t.type),
      [OpCode.create, OpCode.setData, OpCode.check, OpCode.delete],
    );
    const failed = (byZxid(12) as { txns: TxnBody[] }).txns;
    assert.deepEqual(failed.at(-1), { type: OpCode.error, err: Err.noNode });
    assert.deepEqual(byZxid(13), { type: OpCode.error, err: Err.noNode });
    assert.deepEqual(byZxid(16), { type: OpCode.closeSession, paths: ['/e'] });
    // from a snapshot's zxid, as recovery reads it
    const snaps = readdirSync(dir).filter((n) => n.startsWith('snapshot.')).map((n) => Number.parseInt(n.slice(9), 16));
    for (const z of snaps) assert.deepEqual(zxids(scanTxnLogs(dir, z).txns), seq(z + 1, 16).map((t) => t.hdr.zxid));
    // the dump reads them too
    for (const f of files) assert.match(formatTxnLog(f.path, false), /EOF reached after \d+ txns\.\n$/);
    // ZooKeeper's files are repaired like ours: the newest file's last entry torn by a crash
    const newest = files.at(-1)!.path;
    const last = readLogFile(newest).records.at(-1)!.offset;
    patch(newest, last + 30, Buffer.alloc(20));
    patch(newest, last + 12 + readFileSync(newest).readInt32BE(last + 8), [0]);
    assert.deepEqual(scanTxnLogs(dir, 0, { repair: true }).tornTail, { file: newest, offset: last });
    assert.equal(scanTxnLogs(dir, 0).txns.length, 15);
  });

  test('a log written by TxnLogWriter passes TxnLogToolkit (CRCs checked) and shows our txns', async () => {
    const dir = tempDir();
    // Without the lone check txn: ZooKeeper 3.8 logs one for a lone check request, but its own
    // reader (SerializeUtils.deserializeTxn) rejects type 13 at top level ("Unsupported Txn"), so
    // neither TxnLogToolkit nor a restarting ZooKeeper can read such a log. (Ours can.)
    const txns = everyType()
      .filter((t) => t.hdr.type !== OpCode.check)
      .map((t, i) => ({ ...t, hdr: { ...t.hdr, cxid: i + 1, zxid: i + 1 } }));
    await writeLog(dir, txns, { preAllocSize: 64 * 1024 * 1024, forceSync: true });
    const file = join(dir, 'log.1');
    const { stdout, stderr } = await run('java', ['-cp', ZK_CLASSPATH, 'org.apache.zookeeper.server.persistence.TxnLogToolkit', '-d', file], { timeout: 30_000 });
    const out = stdout.trimEnd().split('\n');
    assert.doesNotMatch(stdout + stderr, /CRC ERROR|Exception|partial/i);
    assert.equal(out[0], 'ZooKeeper Transactional Log File with dbid 0 txnlog format version 2');
    assert.equal(out.at(-1), `EOF reached after ${txns.length} txns.`);
    const dump = stdout.replace(/\n(?!.* session 0x)/g, ' '); // Jute's toString puts newlines inside records
    const expectations: [number, RegExp][] = [
      [1, /createSession 30000/],
      [2, /create \/a,hello,\[31,s\{'world,'anyone\} *\],false,1/],
      [3, /create2 \/a\/b,,\[31,s\{'digest,'bob:vvSj2BQeYJlaYzWkP0BR4ya0Ltc=\} *\],false,1/],
      [4, /create \/e,,\[31,s\{'world,'anyone\} *\],true,2/],
      [5, /createContainer \/c,cont,.*,3/],
      [6, /createTtl \/t,.*,4,100000/],
      [7, /setData \/a,world,1/],
      [8, /setACL '\/a,v\{s\{31,s\{'world,'anyone\}\},s\{31,s\{'digest,'bob:.*\}\}\},1/],
      [9, /delete '\/a\/b/],
      [10, /multi create:.*;setData:.*;check:.*;delete:/],
      [11, /multi error:.*;error:/],
      [12, /error -101/],
      [13, /deleteContainer '\/c/],
      [14, /closeSession v\{'\/e\}/],
    ];
    for (const [zxid, re] of expectations) {
      const line = dump.split('\n').find((l) => l.includes(` session 0x1000002a1b30000 cxid 0x${zxid.toString(16)} zxid 0x${zxid.toString(16)} `));
      assert.ok(line, `zxid ${zxid} in the dump:\n${stdout}`);
      assert.match(line, re);
    }
  });

  test('ZooKeeper replays a log written by TxnLogWriter', async () => {
    const dataDir = tempDir();
    const logDir = join(dataDir, 'version-2');
    mkdirSync(logDir);
    const acl = OPEN_ACL_UNSAFE;
    const s = 0x7700000000000001n;
    const t0 = Date.now();
    const bodies: TxnBody[] = [
      { type: OpCode.createSession, timeOut: 30000 },
      { type: OpCode.create, path: '/x', data: Buffer.from('one'), acl, ephemeral: false, parentCVersion: 1 },
      { type: OpCode.create, path: '/x/eph', data: null, acl, ephemeral: true, parentCVersion: 1 },
      { type: OpCode.setData, path: '/x', data: Buffer.from('two'), version: 1 },
      { type: OpCode.createTTL, path: '/ttl', data: Buffer.from('t'), acl, parentCVersion: 2, ttl: 3_600_000 },
      { type: OpCode.createContainer, path: '/box', data: null, acl, parentCVersion: 3 },
      {
        type: OpCode.multi,
        txns: [
          { type: OpCode.create, path: '/box/m', data: Buffer.from('m'), acl, ephemeral: false, parentCVersion: 1 },
          { type: OpCode.setData, path: '/box/m', data: Buffer.from('mm'), version: 1 },
        ],
      },
      { type: OpCode.multi, txns: [{ type: OpCode.error, err: 0 }, { type: OpCode.error, err: Err.noNode }] },
      { type: OpCode.error, err: Err.noNode },
      { type: OpCode.setACL, path: '/x', acl: [{ perms: 1, id: { scheme: 'world', id: 'anyone' } }], version: 1 },
      { type: OpCode.create, path: '/gone', data: null, acl, ephemeral: false, parentCVersion: 4 },
      { type: OpCode.delete, path: '/gone' },
      { type: OpCode.closeSession, paths: ['/x/eph'] },
    ];
    const w = new TxnLogWriter(logDir, { preAllocSize: 65536, forceSync: true });
    bodies.forEach((body, i) => {
      w.append({ hdr: { clientId: s, cxid: i, zxid: i + 1, time: t0 + i, type: body.type }, body });
      if (i === 6) w.roll(); // two files
    });
    await w.close();
    assert.equal(listTxnLogs(logDir).length, 2);
    const zk = await startServer('zookeeper', {
      cfg: { dataDir, extendedTypesEnabled: 'true' },
      jvmFlags: ['-Dzookeeper.snapshot.trust.empty=true'],
    });
    try {
      const c = await ZooKeeperClient.connect(zk.connectString);
      const x = await c.getData('/x');
      assert.equal(x.data?.toString(), 'two');
      assert.deepEqual([x.stat.version, x.stat.aversion, x.stat.czxid, x.stat.mzxid, x.stat.pzxid], [1, 1, 2, 4, 13]);
      assert.deepEqual((await c.getACL('/x')).acl, [{ perms: 1, id: { scheme: 'world', id: 'anyone' } }]);
      assert.deepEqual(await c.getChildren('/x'), []); // the ephemeral went with its session
      assert.equal((await c.getData('/ttl')).data?.toString(), 't');
      assert.equal((await c.getData('/box/m')).data?.toString(), 'mm');
      assert.equal(await c.exists('/gone'), null);
      const root = await c.getChildren2('/');
      assert.deepEqual(root.children.sort(), ['box', 'ttl', 'x', 'zookeeper']);
      // ZooKeeper continues the log where ours ended: zxid 14 is our client's session, 15 the create
      const { stat } = await c.create2('/after', 'z');
      assert.equal(stat.czxid, 15);
      await c.close();
    } finally {
      await zk.stop();
    }
    // and the combined log (ours, then ZooKeeper's) reads back as one
    const scan = scanTxnLogs(logDir, 0);
    assert.deepEqual(zxids(scan.txns), seq(1, 16).map((t) => t.hdr.zxid));
    assert.deepEqual(
      scan.txns.slice(13).map((t) => t.hdr.type),
      [OpCode.createSession, OpCode.create2, OpCode.closeSession],
    );
  });
});
