// A learner's side of a SNAP (src/proto/quorum.ts with persistence's
// readSnapStream): QuorumPacketDecoder hands the snapshot stream out as it
// arrives, item by item, through a SnapStream that readSnapStream loads from
// meanwhile; while the loader does not read, what waits in the SnapStream
// stays under its high-water mark plus one item (and the decoder takes no
// more, so its socket can be paused); a wrong signature, a negative count or
// a connection that closes mid-stream fail the decoder and the loader alike
// with a QuorumWireError. The same through real sockets and a ZooKeeper
// leader: test/quorum-wire.test.ts and test/quorum-net.test.ts.

import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { JuteWriter } from '../src/jute/archive.ts';
import { readSnapStream, SNAP_SIGNATURE, writeSnapStream } from '../src/persistence/snapshot.ts';
import { OpCode } from '../src/proto/constants.ts';
import { encodeNewLeader, encodePacket, PacketType, QuorumPacketDecoder, QuorumWireError, type QuorumPacket, type SnapFeed, type SnapStream } from '../src/proto/quorum.ts';
import type { ACL } from '../src/proto/records.ts';
import type { TxnBody } from '../src/proto/txn.ts';
import { OPEN_ACL_UNSAFE } from '../src/tree/acl.ts';
import { DataTree } from '../src/tree/datatree.ts';
import { makeZxid } from '../src/zxid.ts';
import { nodesText, treeNodes } from './support/trees.ts';

const HIGH_WATER = 4096;
/** what one socket read brings */
const CHUNK = 1000;
const READ_ONLY: ACL[] = [{ perms: 1, id: { scheme: 'world', id: 'anyone' } }];

/** A leader's tree: two sessions, two ACL lists, `count` small nodes and, if asked, one node of `bigData` bytes. */
function leaderTree(count: number, bigData = 0): DataTree {
  const tree = new DataTree();
  let zxid = makeZxid(1, 0);
  const apply = (body: TxnBody, clientId = 0n): void => {
    zxid++;
    assert.equal(tree.apply({ clientId, cxid: 1, zxid, time: 1_700_000_000_000, type: body.type }, body).err, 0);
  };
  const create = (path: string, data: Buffer, acl = OPEN_ACL_UNSAFE): void => {
    const parent = tree.get(path.slice(0, path.lastIndexOf('/')) || '/')!;
    apply({ type: OpCode.create, path, data, acl, ephemeral: false, parentCVersion: parent.cversion + 1 });
  };
  apply({ type: OpCode.createSession, timeOut: 30_000 }, 0x100000000000001n);
  apply({ type: OpCode.createSession, timeOut: 4_000 }, 0x100000000000002n);
  create('/app', Buffer.from('app'));
  for (let i = 0; i < count; i++) create(`/app/n${i}`, Buffer.from(`value-${i}`), i % 2 ? READ_ONLY : OPEN_ACL_UNSAFE);
  if (bigData > 0) create('/app/big', Buffer.alloc(bigData, 7));
  return tree;
}

/** What a leader sends for a SNAP of `tree`: the packet, the snapshot stream (signature apart), then NEWLEADER. */
async function snapBytes(tree: DataTree): Promise<{ snap: QuorumPacket; body: Buffer; signature: Buffer; newLeader: QuorumPacket }> {
  const parts: Buffer[] = [];
  const sink = new Writable({
    write(c: Buffer, _e, done) {
      parts.push(c);
      done();
    },
  });
  const zxid = await writeSnapStream(tree, sink);
  const stream = Buffer.concat(parts);
  const signature = new JuteWriter().ustring(SNAP_SIGNATURE).toBuffer();
  assert.ok(stream.subarray(stream.length - signature.length).equals(signature));
  return {
    snap: { type: PacketType.SNAP, zxid, data: null, authinfo: null },
    body: stream.subarray(0, stream.length - signature.length),
    signature,
    newLeader: { type: PacketType.NEWLEADER, zxid: makeZxid(2, 0), data: encodeNewLeader('version=0'), authinfo: null },
  };
}

const chunked = (bytes: Buffer, size = CHUNK): Buffer[] => Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size));

/** A decoder that has just decoded the SNAP packet, and its snapshot stream. */
function afterSnap(snap: QuorumPacket): { d: QuorumPacketDecoder; stream: SnapStream } {
  const d = new QuorumPacketDecoder(undefined, HIGH_WATER);
  d.push(encodePacket(snap));
  assert.deepEqual(d.next(), snap);
  return { d, stream: d.snapStream! };
}

/**
 * Deliver chunks as QuorumConn does from its socket: the next chunk only once
 * the decoder wants bytes ('more'), waiting for the loader while the stream is
 * 'full', one chunk per turn of the event loop. Returns the last feed and the
 * most the SnapStream held meanwhile.
 */
async function deliver(d: QuorumPacketDecoder, stream: SnapStream, chunks: Buffer[]): Promise<{ fed: SnapFeed; mostHeld: number }> {
  let fed: SnapFeed = 'more';
  let mostHeld = 0;
  for (const chunk of chunks) {
    d.push(chunk);
    while ((fed = d.feedSnapStream()) === 'full') {
      mostHeld = Math.max(mostHeld, stream.readableLength);
      await stream.wanted();
    }
    mostHeld = Math.max(mostHeld, stream.readableLength);
    await nextTurn();
  }
  return { fed, mostHeld };
}

const sameTree = (got: DataTree, want: DataTree): void => {
  assert.equal(nodesText(treeNodes(got)), nodesText(treeNodes(want)));
  assert.deepEqual(got.sessions, want.sessions);
  assert.equal(got.digest, want.digest);
  assert.equal(got.lastProcessedZxid, want.lastProcessedZxid);
};

describe('SNAP: the snapshot stream loaded while it arrives', () => {
  it('the loader reads the stream as it arrives, before the signature has come', async () => {
    const tree = leaderTree(3000);
    const { snap, body, signature, newLeader } = await snapBytes(tree);
    const { d, stream } = afterSnap(snap);
    let settled = false;
    const loaded = readSnapStream(stream, snap.zxid);
    void loaded.then(() => (settled = true), () => (settled = true));

    const { fed, mostHeld } = await deliver(d, stream, chunked(body));
    assert.equal(fed, 'more', 'without its signature the stream is not over');
    assert.equal(stream.bytes, body.length, 'every item of the stream was handed out as it came');
    const read = stream.bytes - stream.readableLength;
    assert.ok(body.length > 20 * HIGH_WATER, `a stream of ${body.length} bytes, far above the mark`);
    assert.ok(read >= body.length - CHUNK, `the loader had read ${read} of the ${body.length} bytes before the signature arrived`);
    assert.ok(mostHeld <= CHUNK + HIGH_WATER, `the stream held at most ${mostHeld} bytes`);
    assert.equal(settled, false, 'no tree before the signature');

    d.push(signature);
    d.push(encodePacket(newLeader));
    assert.equal(d.feedSnapStream(), 'done');
    assert.equal(d.snapStream, null);
    sameTree(await loaded, tree);
    assert.deepEqual(d.next(), newLeader, 'packets are decoded again after the stream');
    assert.equal(d.buffered, 0);
  });

  it('while the loader does not read, the stream holds no more than its high-water mark plus one item', async () => {
    const BIG = 20_000; // one node item far above the mark
    const tree = leaderTree(600, BIG);
    const { snap, body, signature, newLeader } = await snapBytes(tree);
    const largestItem = 4 + BIG + 8 + 60; // data, ACL ref, StatPersisted
    const { d, stream } = afterSnap(snap);
    const chunks = chunked(Buffer.concat([body, signature, encodePacket(newLeader)]));

    // A socket paused on 'full': nothing is read after it.
    let fed: SnapFeed = 'more';
    let sent = 0;
    while (fed === 'more') {
      d.push(chunks[sent++]!);
      fed = d.feedSnapStream();
      assert.ok(stream.readableLength <= HIGH_WATER + largestItem, `${stream.readableLength} bytes held`);
    }
    assert.equal(fed, 'full');
    assert.ok(sent < chunks.length / 10, `stopped after ${sent} of ${chunks.length} chunks`);
    assert.ok(stream.readableLength >= HIGH_WATER);
    assert.ok(d.buffered < largestItem + CHUNK, `${d.buffered} bytes wait undecoded`);
    const held = stream.readableLength;
    await nextTurn();
    assert.equal(d.feedSnapStream(), 'full', 'asked again, it still takes nothing');
    assert.equal(stream.readableLength, held);

    // The loader starts: the rest flows, never above the bound either.
    const loaded = readSnapStream(stream, snap.zxid);
    await stream.wanted();
    const rest = await deliver(d, stream, [Buffer.alloc(0), ...chunks.slice(sent)]);
    assert.equal(rest.fed, 'done');
    assert.ok(rest.mostHeld <= HIGH_WATER + largestItem, `${rest.mostHeld} bytes held at most`);
    sameTree(await loaded, tree);
    assert.deepEqual(d.next(), newLeader);
  });

  it('a wrong signature or a negative count fails the decoder and the loader alike', async () => {
    const { snap, body } = await snapBytes(leaderTree(200));
    const cases: [Buffer, RegExp][] = [
      [Buffer.concat([body, new JuteWriter().ustring('BenWasNotHere').toBuffer()]), /^snapshot stream: signature "BenWasNotHere", expected "BenWasHere"$/],
      [new JuteWriter().int(0).int(-1).toBuffer(), /^snapshot stream: negative ACL table size -1$/],
    ];
    for (const [bytes, message] of cases) {
      const { d, stream } = afterSnap(snap);
      const loaded = readSnapStream(stream, snap.zxid);
      const isIt = (e: unknown): boolean => e instanceof QuorumWireError && message.test(e.message);
      await assert.rejects(deliver(d, stream, chunked(bytes)), isIt, message.source);
      await assert.rejects(loaded, isIt, `the loader: ${message.source}`);
      assert.equal(d.snapStream, null);
    }
  });

  it('a connection that closes mid-stream fails the load with a QuorumWireError, loader listening or not', async () => {
    const { snap, body } = await snapBytes(leaderTree(500));
    const { d, stream } = afterSnap(snap);
    const loaded = readSnapStream(stream, snap.zxid);
    const { fed } = await deliver(d, stream, chunked(body.subarray(0, body.length >> 1)));
    assert.equal(fed, 'more');
    d.abortSnap('the connection closed');
    const closed = /^snapshot stream: the connection closed after \d+ bytes of it$/;
    await assert.rejects(loaded, (e: unknown) => e instanceof QuorumWireError && closed.test(e.message));
    assert.equal(d.snapStream, null);

    // Closed before any loader listened: the failure waits for it (the process does not crash on an unheard 'error').
    const early = afterSnap(snap);
    early.d.abortSnap('the connection closed');
    await nextTurn();
    await assert.rejects(readSnapStream(early.stream, snap.zxid), (e: unknown) => e instanceof QuorumWireError && closed.test(e.message));
  });
});
