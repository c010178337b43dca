// The collections that every write churns: the zxid ring (src/zab/zxid-queue.ts)
// against an array model, and the copies Renewal asks for (src/churn.ts), in
// isolation and inside the tree and prep, which must behave as if nothing was
// copied.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Renewal } from '../src/churn.ts';
import { OpCode } from '../src/proto/constants.ts';
import { OPEN_ACL_UNSAFE } from '../src/tree/acl.ts';
import { DataTree } from '../src/tree/datatree.ts';
import { treeDigest } from '../src/tree/digest.ts';
import { ZxidQueue } from '../src/zab/zxid-queue.ts';
import { rng } from './support/random.ts';

describe('ZxidQueue', () => {
  test('follows an array model through pushes, shifts, lookups, cuts and clears, across growth and wrap-around', () => {
    const random = rng(20261206);
    const q = new ZxidQueue<{ z: number }>(4);
    let model: { zxid: number; value: { z: number } }[] = [];
    let next = 0x100000001;
    for (let step = 0; step < 20_000; step++) {
      const r = random();
      if (r < 0.45) {
        next += 1 + Math.floor(random() * 3);
        const value = { z: next };
        q.push(next, value);
        model.push({ zxid: next, value });
      } else if (r < 0.8) {
        if (model.length === 0) assert.throws(() => q.shift(), /empty/);
        else assert.equal(q.shift(), model.shift()!.value);
      } else if (r < 0.9) {
        const probe = model.length > 0 && random() < 0.7 ? model[Math.floor(random() * model.length)]!.zxid : next - Math.floor(random() * 50);
        assert.equal(q.get(probe), model.find((e) => e.zxid === probe)?.value, `get ${probe} at step ${step}`);
      } else if (r < 0.98) {
        const cut = model.length > 0 ? model[Math.floor(random() * model.length)]!.zxid : next;
        q.dropAfter(cut);
        model = model.filter((e) => e.zxid <= cut);
        next = Math.max(cut, model.length > 0 ? model[model.length - 1]!.zxid : cut);
      } else {
        q.clear();
        model = [];
      }
      assert.equal(q.size, model.length);
      if (model.length > 0) {
        assert.equal(q.firstZxid(), model[0]!.zxid);
        assert.equal(q.first(), model[0]!.value);
      }
      // Slots outside the queue hold nothing: what the ring gave up can be collected.
      const held = (q as unknown as { values: unknown[] }).values.filter((v) => v !== undefined).length;
      assert.equal(held, model.length, `step ${step}: the ring holds ${held} values for ${model.length} entries`);
    }
    assert.deepEqual([...q].map(([z, v]) => [z, v]), model.map((e) => [e.zxid, e.value]));
  });

  test('refuses a zxid that does not follow the last one, and an empty front', () => {
    const q = new ZxidQueue<string>();
    q.push(5, 'a');
    assert.throws(() => q.push(5, 'b'), /does not follow/);
    assert.throws(() => q.push(4, 'b'), /does not follow/);
    q.shift();
    assert.throws(() => q.firstZxid(), /empty/);
    assert.throws(() => new ZxidQueue(3), /power of two/);
  });
});

describe('Renewal', () => {
  test('asks for a copy after max(2048, size) deletes, and never for a collection over 4096 entries', () => {
    const small = new Renewal();
    const dues: number[] = [];
    for (let i = 1; i <= 5000; i++) if (small.due(10)) dues.push(i);
    assert.deepEqual(dues, [2048, 4096]);
    const sized = new Renewal();
    let first = 0;
    for (let i = 1; first === 0 && i <= 10_000; i++) if (sized.due(3000)) first = i;
    assert.equal(first, 3000);
    const large = new Renewal();
    for (let i = 0; i < 50_000; i++) assert.equal(large.due(4097), false);
  });

  test('a tree whose nodes and children churn past many copies reads as one that never copied', () => {
    const tree = new DataTree();
    let zxid = 0;
    const apply = (body: Parameters<DataTree['apply']>[1]) => {
      zxid++;
      const r = tree.apply({ clientId: 0x100n, cxid: 1, zxid, time: 1000 + zxid, type: body.type }, body);
      assert.equal(r.err, 0, `txn ${zxid} ${body.type} failed`);
    };
    const create = (path: string) => apply({ type: OpCode.create, path, data: Buffer.from(path), acl: OPEN_ACL_UNSAFE, ephemeral: false, parentCVersion: -1 });
    create('/bench');
    const nodesOf = () => (tree as unknown as { nodes: Map<string, unknown> }).nodes;
    const firstMap = nodesOf();
    const live = new Set<string>();
    // 10,000 deletes: several copies of the node map and of /bench's children.
    for (let i = 0; i < 10_000; i++) {
      const path = `/bench/n${i}`;
      create(path);
      live.add(path);
      if (live.size > 150) {
        const victim = live.values().next().value!;
        apply({ type: OpCode.delete, path: victim });
        live.delete(victim);
      }
    }
    assert.notEqual(nodesOf(), firstMap, 'the node map was copied');
    const bench = tree.get('/bench')!;
    assert.deepEqual([...bench.children].sort(), [...live].map((p) => p.slice('/bench/'.length)).sort());
    assert.equal(bench.stat().numChildren, live.size);
    for (const p of live) assert.equal(tree.get(p)?.data?.toString(), p);
    assert.equal(tree.get('/bench/n0'), undefined);
    assert.equal(tree.nodeCount, 1 + 1 + 2 + 1 + live.size, 'root, /zookeeper and its two children, /bench and the live nodes');
    assert.equal(tree.digest, treeDigest(tree), 'the digest kept as nodes changed equals one computed afresh');
  });
});
