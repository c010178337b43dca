// The Zab SNAP payload (writeSnapStream / readSnapStream in
// src/persistence/snapshot.ts): compared both ways with Apache ZooKeeper's own
// SerializeUtils and DataTree (test/java/SnapStreamProbe.java, compiled here
// against the Debian jars), streamed over a socket with back-pressure and
// the bytes after it handed back, fuzzy while the tree changes, and refusing
// malformed input with a clear error.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { JuteWriter } from '../src/jute/archive.ts';
import { OpCode } from '../src/proto/constants.ts';
import type { ACL } from '../src/proto/records.ts';
import type { Txn, TxnBody } from '../src/proto/txn.ts';
import { readSnapStream, SnapshotError, writeSnapStream } from '../src/persistence/snapshot.ts';
import { OPEN_ACL_UNSAFE } from '../src/tree/acl.ts';
import { DataTree } from '../src/tree/datatree.ts';
import { ZK_CLASSPATH } from './support/servers.ts';
import { scratchRoot } from './support/datadirs.ts';

const run = promisify(execFile);
const scratch = scratchRoot('snapstream');
after(() => rmSync(scratch.root, { recursive: true, force: true }));

const EPOCH = 0x100000000;
const DIGEST_ACL: ACL[] = [{ perms: 31, id: { scheme: 'digest', id: 'bob:vvSj2BQeYJlaYzWkP0BR4ya0Ltc=' } }];
const MIXED_ACL: ACL[] = [
  { perms: 1, id: { scheme: 'world', id: 'anyone' } },
  { perms: 31, id: { scheme: 'ip', id: '127.0.0.1' } },
];

// ---------------------------------------------------------------- the printed form SnapStreamProbe prints

const dataText = (d: Buffer | null): string =>
  d === null ? 'null' : d.length <= 64 ? d.toString('hex') : `len=${d.length},sha256=${createHash('sha256').update(d).digest('hex')}`;

function printTree(tree: DataTree): string {
  const lines: string[] = [];
  for (const [id, timeout] of [...tree.sessions].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) lines.push(`session ${id} ${timeout}`);
  const walk = (path: string): void => {
    const n = tree.get(path)!;
    const acl = n.acl.map((a) => `${a.perms}:${a.id.scheme}:${a.id.id}`).join(',');
    lines.push(
      `node ${path} ${dataText(n.data)} ${n.czxid} ${n.mzxid} ${n.ctime} ${n.mtime} ${n.version} ${n.cversion} ${n.aversion} ${n.ephemeralOwner} ${n.pzxid} ${acl}`,
    );
    for (const c of [...n.children].sort()) walk(path === '/' ? `/${c}` : `${path}/${c}`);
  };
  walk('/');
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------- building trees with txns, as a server does

class TxnSource {
  zxid = EPOCH;
  readonly applied: Txn[] = [];
  constructor(readonly tree: DataTree) {}

  apply(body: TxnBody, clientId = 0n): void {
    const zxid = ++this.zxid;
    const txn: Txn = { hdr: { clientId, cxid: zxid % EPOCH, zxid, time: 1_700_000_000_000 + (zxid % EPOCH), type: body.type }, body };
    const r = this.tree.apply(txn.hdr, txn.body);
    assert.equal(r.err, 0, `${JSON.stringify(body, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))} failed: ${r.err}`);
    this.applied.push(txn);
  }

  create(path: string, data: Buffer | null, acl: ACL[] = OPEN_ACL_UNSAFE, owner?: { session?: bigint; container?: boolean; ttl?: number }): void {
    const parent = this.tree.get(path.slice(0, path.lastIndexOf('/')) || '/')!;
    const parentCVersion = parent.cversion + 1;
    if (owner?.container) this.apply({ type: OpCode.createContainer, path, data, acl, parentCVersion });
    else if (owner?.ttl) this.apply({ type: OpCode.createTTL, path, data, acl, parentCVersion, ttl: owner.ttl });
    else this.apply({ type: OpCode.create, path, data, acl, ephemeral: owner?.session !== undefined, parentCVersion }, owner?.session ?? 0n);
  }
}

const SESSION_A = 0x1000000abcdefn;
const SESSION_B = 0x2000000000001n;

/** A tree with every kind of node, ACL lists shared and not, data null/empty/large, and `many` leaves. */
function richTree(many: number): TxnSource {
  const src = new TxnSource(new DataTree());
  src.apply({ type: OpCode.createSession, timeOut: 30000 }, SESSION_A);
  src.apply({ type: OpCode.createSession, timeOut: 10000 }, SESSION_B);
  src.create('/app', Buffer.from('hello'), DIGEST_ACL);
  src.create('/app/eph', Buffer.alloc(0), OPEN_ACL_UNSAFE, { session: SESSION_A });
  src.create('/app/big', Buffer.alloc(200_000, 7), MIXED_ACL);
  src.create('/cont', null, OPEN_ACL_UNSAFE, { container: true });
  src.create('/ttl', Buffer.from('t'), OPEN_ACL_UNSAFE, { ttl: 5000 });
  src.create('/\u00fcnicode-\u65e5\u672c', Buffer.from('\u2603'), MIXED_ACL);
  src.create('/many', null);
  for (let i = 0; i < many; i++) src.create(`/many/n${i}`, Buffer.from(`v${i}`), i % 3 === 0 ? DIGEST_ACL : OPEN_ACL_UNSAFE);
  src.apply({ type: OpCode.setData, path: '/app', data: Buffer.from('changed'), version: 1 });
  src.apply({ type: OpCode.setACL, path: '/ttl', acl: MIXED_ACL, version: 1 });
  src.apply({ type: OpCode.delete, path: '/many/n5' });
  return src;
}

async function snapToFile(tree: DataTree, file: string): Promise<number> {
  const out = createWriteStream(file);
  const zxid = await writeSnapStream(tree, out);
  out.end();
  await finished(out);
  return zxid;
}

// ---------------------------------------------------------------- ZooKeeper's side

let classes = '';
const probe = async (...args: string[]): Promise<string> =>
  (await run('java', ['-cp', `${classes}:${ZK_CLASSPATH}`, 'SnapStreamProbe', ...args], { timeout: 120_000, maxBuffer: 256 << 20 })).stdout;

before(async () => {
  classes = scratch.freshDir('classes');
  await run('javac', ['-nowarn', '-cp', '/usr/share/java/zookeeper.jar', '-d', classes, join(import.meta.dirname, 'java', 'SnapStreamProbe.java')], { timeout: 120_000 });
});

describe('SNAP payload against ZooKeeper 3.8', () => {
  test("ZooKeeper's serializeSnapshot + signature, read by readSnapStream in small chunks, gives the same tree", { timeout: 300_000 }, async () => {
    const file = join(scratch.freshDir('from-zk'), 'snap');
    const theirs = await probe('write', file);
    assert.ok(theirs.split('\n').length > 6000, 'the probe printed its tree');
    const tree = await readSnapStream(createReadStream(file, { highWaterMark: 1000 }), 0x500000000);
    assert.equal(printTree(tree), theirs);
    assert.equal(tree.lastProcessedZxid, 0x500000000);
    assert.deepEqual([...tree.ephemeralsOf(0x1000000abcdefn)], ['/app/eph'], 'ephemerals indexed');
    assert.deepEqual([...tree.containers], ['/cont']);

    // and back: Paddock's writer, ZooKeeper's reader
    const again = join(scratch.freshDir('roundtrip'), 'snap');
    assert.equal(await snapToFile(tree, again), 0x500000000);
    assert.equal(await probe('read', again), theirs);
  });

  test("a tree Paddock built from txns, written by writeSnapStream, reads in ZooKeeper's DataTree as Paddock has it", { timeout: 300_000 }, async () => {
    const src = richTree(9000);
    const file = join(scratch.freshDir('from-paddock'), 'snap');
    assert.equal(await snapToFile(src.tree, file), src.zxid);
    const ours = printTree(src.tree);
    assert.equal(await probe('read', file), ours);
    assert.equal(printTree(await readSnapStream(createReadStream(file), src.zxid)), ours);
  });
});

/** Run `use` on the two ends of a loopback TCP connection (the reading end paused). */
async function socketPair(use: (writer: net.Socket, reader: net.Socket) => Promise<void>): Promise<void> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  try {
    const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
    const writer = net.connect(port, '127.0.0.1');
    const reader = await accepted;
    reader.pause();
    await use(writer, reader);
  } finally {
    server.close();
  }
}

describe('SNAP payload as a stream', () => {
  test('over a socket: back-pressure on the writer, the bytes after the signature left for the next packet', async () => {
    const src = richTree(3000);
    await socketPair(async (writer, reader) => {
      const sent = (async () => {
        await writeSnapStream(src.tree, writer);
        writer.end('NEXT-PACKET');
      })();
      const tree = await readSnapStream(reader, src.zxid);
      await sent;
      assert.equal(printTree(tree), printTree(src.tree));
      const rest: Buffer[] = [];
      for await (const chunk of reader) rest.push(chunk as Buffer);
      assert.equal(Buffer.concat(rest).toString(), 'NEXT-PACKET');
    });
  });

  test('a connection lost half-way rejects both sides instead of hanging', async () => {
    const src = new TxnSource(new DataTree());
    for (let i = 0; i < 40; i++) src.create(`/big${i}`, Buffer.alloc(500_000, i));
    await socketPair(async (writer, reader) => {
      writer.on('error', () => {}); // the runtime owns the socket's errors; the write must still end
      const outcomes = Promise.allSettled([readSnapStream(reader, src.zxid), writeSnapStream(src.tree, writer)]);
      setTimeout(() => reader.destroy(), 50);
      const [read, written] = await outcomes;
      assert.ok(read.status === 'rejected' && read.reason instanceof SnapshotError && /the stream ended/.test(read.reason.message), String(read.status === 'rejected' && read.reason));
      assert.ok(written.status === 'rejected' && /closed before the snapshot was sent|EPIPE|ECONNRESET/.test(String(written.reason)), String(written.status === 'rejected' && written.reason));
    });
  });

  test('the writer waits for a slow consumer: bounded buffering for a 50 MB payload', async () => {
    const src = new TxnSource(new DataTree());
    for (let i = 0; i < 100; i++) src.create(`/big${i}`, Buffer.alloc(500_000, i));
    let total = 0;
    let maxBuffered = 0;
    const slow = new Writable({
      highWaterMark: 64 * 1024,
      write(chunk: Buffer, _enc, done) {
        total += chunk.length;
        maxBuffered = Math.max(maxBuffered, slow.writableLength);
        setImmediate(done);
      },
    });
    await writeSnapStream(src.tree, slow);
    assert.ok(total > 50_000_000, `${total} bytes sent`);
    assert.ok(maxBuffered < 8 << 20, `at most ${maxBuffered} bytes waited in the stream`);
  });

  test('fuzzy: writes while txns apply; the payload plus the txns after its zxid replays to the same tree', async () => {
    const src = richTree(20_000);
    const chunks: Buffer[] = [];
    const slow = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _enc, done) {
        chunks.push(chunk);
        setImmediate(done);
      },
    });
    const first = src.applied.length;
    let writing = true;
    let during = 0;
    const NEW_ACL: ACL[] = [{ perms: 3, id: { scheme: 'digest', id: 'eve:new' } }];
    const mutations: (() => void)[] = [
      () => src.create('/late', Buffer.from('late'), NEW_ACL), // created after the start, with an ACL list the table lacks
      () => src.create('/late/child', null, DIGEST_ACL),
      () => src.apply({ type: OpCode.setACL, path: '/many/n19999', acl: [{ perms: 1, id: { scheme: 'ip', id: '10.0.0.1' } }], version: 1 }),
      () => src.apply({ type: OpCode.setACL, path: '/app', acl: NEW_ACL, version: 1 }),
      () => src.apply({ type: OpCode.setData, path: '/many/n15000', data: Buffer.from('new'), version: 1 }),
      () => src.apply({ type: OpCode.delete, path: '/many/n17000' }),
      () => src.apply({ type: OpCode.delete, path: '/many/n3' }),
      () => src.apply({ type: OpCode.createSession, timeOut: 5000 }, 0x3000000000001n),
      () => src.apply({ type: OpCode.closeSession, paths: ['/app/eph'] }, SESSION_A),
      () => src.create('/many/n5', Buffer.from('again'), MIXED_ACL), // deleted before the start, created again
    ];
    const mutate = (): void => {
      const m = mutations.shift();
      if (!m || !writing) return;
      m();
      during++;
      setImmediate(mutate);
    };
    const written = writeSnapStream(src.tree, slow);
    setImmediate(mutate);
    const zxid = await written;
    writing = false;
    assert.equal(zxid, src.applied[first - 1]!.hdr.zxid, 'the payload stands for the zxid when the write began');
    assert.ok(during >= 5, `${during} txns were applied while the snapshot was being written`);
    for (const m of mutations) m(); // the rest, after

    const received = await readSnapStream(Readable.from([Buffer.concat(chunks)]), zxid);
    for (const t of src.applied.slice(first)) received.apply(t.hdr, t.body);
    assert.equal(printTree(received), printTree(src.tree));
  });
});

describe('SNAP payload: bad input', () => {
  const payload = async (tree: DataTree): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    const sink = new Writable({
      write(c: Buffer, _e, done) {
        chunks.push(c);
        done();
      },
    });
    await writeSnapStream(tree, sink);
    return Buffer.concat(chunks);
  };
  const chunked = (b: Buffer, size = 7): Readable => Readable.from(Array.from({ length: Math.ceil(b.length / size) }, (_, i) => b.subarray(i * size, (i + 1) * size)));
  const rejects = (p: Promise<unknown>, re: RegExp) => assert.rejects(p, (e: unknown) => e instanceof SnapshotError && e.file === 'SNAP stream' && re.test(e.message));

  test('a stream that ends early, a wrong signature, absurd lengths, an orphan node', async () => {
    const good = await payload(richTree(10).tree);
    for (const cut of [0, 3, 20, good.length - 40, good.length - 1]) {
      await rejects(readSnapStream(chunked(good.subarray(0, cut)), 1), /the stream ended/);
    }
    const sig = Buffer.from(good);
    sig.write('BenWasHerf', sig.length - 10);
    await rejects(readSnapStream(chunked(sig), 1), /signature "BenWasHerf"/);

    // a node with a 1 GiB data length: refused before anything that large is buffered
    const w = new JuteWriter();
    w.int(0).int(0); // no sessions, no ACLs
    w.ustring('').int(1 << 30);
    await rejects(readSnapStream(Readable.from([w.toBuffer(), Buffer.alloc(100)]), 1), /buffer length 1073741824 exceeds limit 67108864/);
    // an ACL list claiming 2^30 entries: refused, not waited for
    const acl = new JuteWriter().int(0).int(1).long(1).int(1 << 30).toBuffer();
    await rejects(readSnapStream(Readable.from([acl, Buffer.alloc(100)]), 1), /a record of more than 67108864 bytes/);
    await rejects(readSnapStream(Readable.from([Buffer.from([0xff, 0xff, 0xff, 0xfe])]), 1), /bad session count -2/);

    const orphan = new JuteWriter();
    orphan.int(0).int(0);
    const node = (path: string) => orphan.ustring(path).int(-1).long(-1).long(1).long(1).long(0).long(0).int(0).int(0).int(0).long(0).long(1);
    node('');
    node('/a/b');
    await rejects(readSnapStream(Readable.from([orphan.toBuffer()]), 1), /\/a\/b before its parent/);
  });
});
