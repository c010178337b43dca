// The tree digest kept as the tree changes, and the digest prep foresees for
// each txn (the TxnDigest a leader proposes), against the digest computed by
// walking the whole tree: random txn sequences of every type, prepared
// several at a time ahead of applying them (as a pipelined leader does), and
// after every applied txn the three must agree. Then the check a peer makes
// of a txn's digest (DigestCheck): it counts and logs mismatches as
// ZooKeeper's DataTree does. (The digest values themselves are ZooKeeper's:
// quorum-net*.test.ts and snapshot.test.ts compare them with ZooKeeper 3.8.)

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { OpCode } from '../src/proto/constants.ts';
import type { ACL, Request } from '../src/proto/records.ts';
import type { LoggedTxn, TxnBody } from '../src/proto/txn.ts';
import { Prep } from '../src/server/prep.ts';
import { OPEN_ACL_UNSAFE } from '../src/tree/acl.ts';
import { DataTree, type ZNode } from '../src/tree/datatree.ts';
import { DIGEST_VERSION, DigestCheck, treeDigest } from '../src/tree/digest.ts';

const PATHS = ['/a', '/a/b', '/a/b/c', '/a/x', '/c', '/c/d', '/zookeeper/quota/q', '/zookeeper/z'];
const COMMON = ['/a', '/a/b', '/c'];
const SESSIONS = [0x101n, 0x102n, 0x103n];
const READ_ONLY: ACL[] = [{ perms: 1, id: { scheme: 'world', id: 'anyone' } }];

const path = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...COMMON) }, fc.constantFrom(...PATHS));
const data = fc.option(fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)), { freq: 4 });
const version = fc.constantFrom(-1, -1, 0, 1, 2);

/** create in every mode: persistent, ephemeral, sequential, container, TTL */
const createOp = fc.record({ path, data, flags: fc.integer({ min: 0, max: 6 }) }).map(({ path, data, flags }): Request => {
  if (flags === 4) return { type: OpCode.createContainer, path, data, acl: OPEN_ACL_UNSAFE, flags };
  if (flags >= 5) return { type: OpCode.createTTL, path, data, acl: OPEN_ACL_UNSAFE, flags, ttl: 5000 };
  return { type: OpCode.create, path, data, acl: OPEN_ACL_UNSAFE, flags };
});
const multiOp: fc.Arbitrary<Request> = fc.oneof(
  createOp,
  fc.record({ path, version }).map(({ path, version }): Request => ({ type: OpCode.delete, path, version })),
  fc.record({ path, data, version }).map(({ path, data, version }): Request => ({ type: OpCode.setData, path, data, version })),
  fc.record({ path, version }).map(({ path, version }): Request => ({ type: OpCode.check, path, version })),
);

type Step = { kind: 'request'; session: bigint; request: Request } | { kind: 'createSession'; session: bigint } | { kind: 'closeSession'; session: bigint } | { kind: 'apply'; count: number };

const session = fc.constantFrom(...SESSIONS);
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ session, request: multiOp }).map((r): Step => ({ kind: 'request', ...r })) },
  { weight: 2, arbitrary: fc.record({ session, request: fc.array(multiOp, { minLength: 1, maxLength: 4 }).map((ops): Request => ({ type: OpCode.multi, ops })) }).map((r): Step => ({ kind: 'request', ...r })) },
  { weight: 1, arbitrary: fc.record({ session, path, acl: fc.constantFrom(OPEN_ACL_UNSAFE, READ_ONLY) }).map(({ session, path, acl }): Step => ({ kind: 'request', session, request: { type: OpCode.setACL, path, acl, version: -1 } })) },
  { weight: 1, arbitrary: path.map((path): Step => ({ kind: 'request', session: 0n, request: { type: OpCode.deleteContainer, path } })) },
  { weight: 1, arbitrary: session.map((session): Step => ({ kind: 'createSession', session })) },
  { weight: 1, arbitrary: session.map((session): Step => ({ kind: 'closeSession', session })) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 6 }).map((count): Step => ({ kind: 'apply', count })) },
);

/** Most ops need a parent: a few to start with. */
const START: Step[] = ['/a', '/a/b', '/c'].map((path) => ({ kind: 'request', session: 0x101n, request: { type: OpCode.create, path, data: Buffer.from(path), acl: OPEN_ACL_UNSAFE, flags: 0 } }));

const walked = (tree: DataTree): bigint => BigInt.asIntN(64, treeDigest(tree));

/** Prepare steps ahead of applying them; after each apply, the kept, foreseen and walked digests agree. */
function run(steps: Step[]): { applied: number; changed: number } {
  const tree = new DataTree();
  const prep = new Prep(tree, { extendedTypesEnabled: true, reconfigEnabled: false, skipACL: false });
  const prepared: LoggedTxn[] = [];
  let zxid = 0;
  let applied = 0;
  let changed = 0;
  const applyNext = (count: number): void => {
    for (const txn of prepared.splice(0, count)) {
      const before = tree.digest;
      tree.apply(txn.hdr, txn.body);
      prep.applied(txn.hdr.zxid);
      applied++;
      if (tree.digest !== before) changed++;
      assert.equal(tree.digest, walked(tree), `kept digest = walked digest after 0x${txn.hdr.zxid.toString(16)} (${JSON.stringify(txn.body, (_, v) => (typeof v === 'bigint' ? String(v) : v))})`);
      assert.equal(txn.digest!.treeDigest, tree.digest, `the digest prep foresaw for 0x${txn.hdr.zxid.toString(16)} is the tree's once applied`);
    }
  };
  for (const s of steps) {
    if (s.kind === 'apply') {
      applyNext(s.count);
      continue;
    }
    zxid++;
    const time = 1_700_000_000_000 + zxid * 7;
    const ctx = { sessionId: s.session, authIds: [], zxid, time };
    let body: TxnBody;
    if (s.kind === 'createSession') body = { type: OpCode.createSession, timeOut: 4000 };
    else if (s.kind === 'closeSession') body = prep.prepareCloseSession(ctx);
    else body = prep.prepare(s.request, ctx);
    prepared.push({ hdr: { clientId: s.session, cxid: zxid, zxid, time, type: body.type }, body, digest: { version: DIGEST_VERSION, treeDigest: prep.digest } });
  }
  applyNext(prepared.length);
  return { applied, changed };
}

describe('tree digest', () => {
  test('a new tree: the kept digest is the walked one (/ and /zookeeper count, /zookeeper/* does not)', () => {
    const tree = new DataTree();
    assert.notEqual(tree.digest, 0n);
    assert.equal(tree.digest, walked(tree));
  });

  test('random txns of every type, prepared ahead of applying: kept = foreseen = walked digest after each', () => {
    let applied = 0;
    let changed = 0;
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 60 }), (steps) => {
        const r = run([...START, ...steps]);
        applied += r.applied;
        changed += r.changed;
      }),
      { numRuns: 300 },
    );
    // The sequences must mostly change the tree, or the property proves little.
    assert.ok(changed > applied / 4, `txns that changed the digest: ${changed} of ${applied}`);
  });

  test('a tree loaded from a snapshot keeps the digest of the tree it was written from', () => {
    const steps: Step[] = [
      { kind: 'request', session: 0x101n, request: { type: OpCode.create, path: '/a', data: Buffer.from('x'), acl: OPEN_ACL_UNSAFE, flags: 0 } },
      { kind: 'request', session: 0x101n, request: { type: OpCode.create, path: '/a/b', data: null, acl: OPEN_ACL_UNSAFE, flags: 1 } },
      { kind: 'apply', count: 2 },
    ];
    run(steps);
    const tree = new DataTree();
    tree.apply({ clientId: 1n, cxid: 1, zxid: 1, time: 5, type: OpCode.create }, { type: OpCode.create, path: '/a', data: Buffer.from('x'), acl: OPEN_ACL_UNSAFE, ephemeral: false, parentCVersion: -1 });
    const nodes: [string, ZNode][] = [];
    const walk = (p: string): void => {
      nodes.push([p, tree.get(p)!]);
      for (const c of tree.get(p)!.children) walk(p === '/' ? `/${c}` : `${p}/${c}`);
    };
    walk('/');
    const loaded = DataTree.fromSnapshot(nodes, tree.sessions, 1);
    assert.equal(loaded.digest, tree.digest);
    assert.equal(loaded.digest, walked(loaded));
  });
});

describe('DigestCheck: a peer checks the TxnDigest of each txn it applies', () => {
  /** A setData applied to `tree`, carrying the tree's digest after it plus `off` (none: no digest). */
  const txnAt = (tree: DataTree, zxid: number, off?: bigint): LoggedTxn => {
    const body: TxnBody = { type: OpCode.setData, path: '/zookeeper', data: Buffer.from(String(zxid)), version: zxid };
    const txn: LoggedTxn = { hdr: { clientId: 5n, cxid: zxid, zxid, time: zxid, type: body.type }, body };
    tree.apply(txn.hdr, body);
    if (off !== undefined) txn.digest = { version: DIGEST_VERSION, treeDigest: tree.digest + off };
    return txn;
  };

  test('counts a digest that is not the tree’s; logs the first at ERROR and the run at WARN as ZooKeeper does', () => {
    const lines: string[] = [];
    let now = 0;
    const check = new DigestCheck({ warn: (m) => lines.push(`WARN ${m}`), error: (m) => lines.push(`ERROR ${m}`) }, () => now);
    const tree = new DataTree();
    assert.equal(check.check(tree, txnAt(tree, 1, 0n)), true, 'the digest of the tree after the txn');
    assert.equal(check.check(tree, txnAt(tree, 2)), true, 'no digest: nothing to compare');
    let t = txnAt(tree, 3);
    t.digest = { version: 1, treeDigest: tree.digest + 1n };
    assert.equal(check.check(tree, t), true, 'another digest version: not compared');
    assert.equal(check.mismatches, 0);
    assert.deepEqual(lines, []);

    const fourth = txnAt(tree, 4, 1n);
    assert.equal(check.check(tree, fourth), false);
    now += 1000;
    check.check(tree, txnAt(tree, 5, -1n));
    check.check(tree, txnAt(tree, 6, 1n));
    assert.equal(check.mismatches, 3);
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.equal(lines[0], `ERROR First digest mismatch on txn: 0x4 (type 5, session 0x5, cxid 4), expected digest is {version 2, treeDigest ${fourth.digest!.treeDigest}}, actual digest is ${fourth.digest!.treeDigest - 1n}`);
    assert.equal(lines[1], 'WARN Message:Digests are not matching. Value is Zxid. Value:4');
    // A matching digest ends the run: the rate-limited ones are told.
    assert.equal(check.check(tree, txnAt(tree, 7, 0n)), true);
    assert.equal(lines[2], 'WARN [2 times] Message: Digests are not matching. Value is Zxid. Last value:6');
    check.check(tree, txnAt(tree, 8, 2n));
    assert.equal(check.mismatches, 4);
    assert.equal(lines[3], 'WARN Message:Digests are not matching. Value is Zxid. Value:8', 'the next run logs at once; ERROR only for the first ever');
    assert.equal(lines.length, 4);
  });
});
