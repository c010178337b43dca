// The data tree and its watches, in process: Stat bookkeeping and ZooKeeper's
// triggering rules for one-shot, persistent and persistent-recursive watches.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EventType, OpCode, Perm } from '../src/proto/constants.ts';
import type { ACL, Id } from '../src/proto/records.ts';
import type { TxnBody } from '../src/proto/txn.ts';
import { digestOf, OPEN_ACL_UNSAFE, SUPER } from '../src/tree/acl.ts';
import { DataTree } from '../src/tree/datatree.ts';
import { pathProblem } from '../src/tree/path.ts';
import type { Watcher } from '../src/tree/watches.ts';

class Recorder implements Watcher {
  constructor(readonly authIds: Id[] = []) {}
  events: string[] = [];
  notify(type: number, path: string): void {
    this.events.push(`${type}:${path}`);
  }
}

let zxid = 0;
function apply(tree: DataTree, body: TxnBody, session = 0x100n) {
  zxid++;
  return tree.apply({ clientId: session, cxid: 1, zxid, time: 1000 + zxid, type: body.type }, body);
}
const create = (tree: DataTree, path: string, opts: { ephemeral?: boolean; session?: bigint; acl?: ACL[] } = {}) =>
  apply(tree, { type: OpCode.create, path, data: Buffer.from(path), acl: opts.acl ?? OPEN_ACL_UNSAFE, ephemeral: opts.ephemeral ?? false, parentCVersion: -1 }, opts.session);
const del = (tree: DataTree, path: string) => apply(tree, { type: OpCode.delete, path });
const setData = (tree: DataTree, path: string) => apply(tree, { type: OpCode.setData, path, data: Buffer.from('v'), version: 1 });

describe('stat bookkeeping', () => {
  test('initial tree: /zookeeper reads cversion -2, /zookeeper/config aversion -1', () => {
    const tree = new DataTree();
    assert.equal(tree.get('/zookeeper')!.stat().cversion, -2);
    assert.equal(tree.get('/zookeeper/config')!.stat().aversion, -1);
    assert.equal(tree.get('/')!.stat().numChildren, 1);
  });

  test('client cversion counts creates and deletes; pzxid follows both; delete leaves persisted cversion', () => {
    const tree = new DataTree();
    create(tree, '/p');
    create(tree, '/p/a');
    const afterCreate = zxid;
    create(tree, '/p/b');
    del(tree, '/p/a');
    const p = tree.get('/p')!;
    assert.equal(p.cversion, 2, 'persisted cversion counts creates only');
    assert.equal(p.stat().cversion, 3, 'clients see 2*2-1');
    assert.equal(p.stat().pzxid, zxid);
    assert.ok(p.stat().pzxid > afterCreate);
    assert.equal(p.stat().numChildren, 1);
  });

  test('closeSession deletes the session\'s ephemerals, including ones the txn does not list', () => {
    const tree = new DataTree();
    create(tree, '/e1', { ephemeral: true, session: 7n });
    create(tree, '/e2', { ephemeral: true, session: 7n });
    create(tree, '/keep', { ephemeral: true, session: 8n });
    apply(tree, { type: OpCode.closeSession, paths: ['/e1'] }, 7n);
    assert.equal(tree.get('/e1'), undefined);
    assert.equal(tree.get('/e2'), undefined);
    assert.ok(tree.get('/keep'));
    assert.equal(tree.ephemeralsOf(7n).size, 0);
  });

  test('a multi holding an error applies nothing and reports OK for the ops before it', () => {
    const tree = new DataTree();
    const r = apply(tree, {
      type: OpCode.multi,
      txns: [
        { type: OpCode.create, path: '/m', data: null, acl: OPEN_ACL_UNSAFE, ephemeral: false, parentCVersion: -1 },
        { type: OpCode.error, err: -101 },
        { type: OpCode.error, err: -2 },
      ],
    });
    assert.equal(tree.get('/m'), undefined);
    assert.deepEqual(
      r.results!.map((x) => x.err),
      [0, -101, -2],
    );
  });
});

describe('watch triggering', () => {
  test('one-shot data watch fires once on setData; exists watch on a missing node fires on create', () => {
    const tree = new DataTree();
    const w = new Recorder();
    create(tree, '/a');
    tree.addDataWatch('/a', w);
    tree.addDataWatch('/missing', w);
    setData(tree, '/a');
    setData(tree, '/a');
    create(tree, '/missing');
    assert.deepEqual(w.events, [`${EventType.nodeDataChanged}:/a`, `${EventType.nodeCreated}:/missing`]);
  });

  test('delete fires NodeDeleted once for a watcher holding both data and child watches, and the parent\'s child watch', () => {
    const tree = new DataTree();
    const w = new Recorder();
    create(tree, '/p');
    create(tree, '/p/c');
    tree.addDataWatch('/p/c', w);
    tree.addChildWatch('/p/c', w);
    tree.addChildWatch('/p', w);
    del(tree, '/p/c');
    assert.deepEqual(w.events, [`${EventType.nodeDeleted}:/p/c`, `${EventType.nodeChildrenChanged}:/p`]);
  });

  test('persistent watch keeps firing for data and children of its node only', () => {
    const tree = new DataTree();
    const w = new Recorder();
    create(tree, '/p');
    tree.addPersistentWatch('/p', w, false);
    setData(tree, '/p');
    create(tree, '/p/c');
    create(tree, '/p/c/d');
    setData(tree, '/p');
    assert.deepEqual(w.events, [`${EventType.nodeDataChanged}:/p`, `${EventType.nodeChildrenChanged}:/p`, `${EventType.nodeDataChanged}:/p`]);
  });

  test('persistent-recursive watch sees every descendant, but no NodeChildrenChanged', () => {
    const tree = new DataTree();
    const w = new Recorder();
    create(tree, '/r');
    tree.addPersistentWatch('/r', w, true);
    create(tree, '/r/a');
    create(tree, '/r/a/b');
    setData(tree, '/r/a/b');
    del(tree, '/r/a/b');
    create(tree, '/other');
    assert.deepEqual(w.events, [
      `${EventType.nodeCreated}:/r/a`,
      `${EventType.nodeCreated}:/r/a/b`,
      `${EventType.nodeDataChanged}:/r/a/b`,
      `${EventType.nodeDeleted}:/r/a/b`,
    ]);
  });

  test('an event reaches only watchers that may READ the node it names, unless skipACL', () => {
    const user: Id = { scheme: 'digest', id: digestOf('u:p') };
    const secret: ACL[] = [{ perms: Perm.all, id: user }];
    for (const skipACL of [false, true]) {
      const tree = new DataTree();
      tree.skipACL = skipACL;
      const [anon, owner, admin] = [new Recorder(), new Recorder([user]), new Recorder([SUPER])];
      create(tree, '/r');
      for (const w of [anon, owner, admin]) tree.addPersistentWatch('/r', w, true);
      tree.addChildWatch('/r', anon);
      create(tree, '/r/open');
      create(tree, '/r/secret', { acl: secret });
      setData(tree, '/r/secret');
      const all = [`${EventType.nodeCreated}:/r/open`, `${EventType.nodeCreated}:/r/secret`, `${EventType.nodeDataChanged}:/r/secret`];
      // the child watch on the open parent fired once, for /r/open
      assert.deepEqual(anon.events, skipACL ? [all[0], `${EventType.nodeChildrenChanged}:/r`, ...all.slice(1)] : [all[0], `${EventType.nodeChildrenChanged}:/r`]);
      assert.deepEqual(owner.events, all);
      assert.deepEqual(admin.events, all);
    }
  });

  test('a connection that goes away loses its watches', () => {
    const tree = new DataTree();
    const w = new Recorder();
    create(tree, '/a');
    tree.addDataWatch('/a', w);
    tree.addPersistentWatch('/', w, true);
    tree.removeWatcher(w);
    setData(tree, '/a');
    assert.deepEqual(w.events, []);
    assert.equal(tree.dataWatches.watchCount + tree.childWatches.watchCount, 0);
  });

  test('setWatches fires for what changed since the client\'s zxid and re-arms the rest', () => {
    const tree = new DataTree();
    const w = new Recorder();
    create(tree, '/same');
    create(tree, '/changed');
    const seen = zxid;
    setData(tree, '/changed');
    create(tree, '/appeared');
    tree.setWatches(seen, ['/same', '/changed', '/gone'], ['/appeared', '/still-missing'], ['/same'], [], [], w);
    assert.deepEqual(w.events, [`${EventType.nodeDataChanged}:/changed`, `${EventType.nodeDeleted}:/gone`, `${EventType.nodeCreated}:/appeared`]);
    w.events = [];
    setData(tree, '/same');
    create(tree, '/still-missing');
    assert.deepEqual(w.events, [`${EventType.nodeDataChanged}:/same`, `${EventType.nodeCreated}:/still-missing`]);
  });
});

describe('path rules', () => {
  test('valid and invalid paths as ZooKeeper judges them', () => {
    for (const ok of ['/', '/a', '/a/b', '/a.b', '/..a', '/a/.b', '/zookeeper', '/ü']) assert.equal(pathProblem(ok), null, ok);
    for (const bad of ['', 'a', '/a/', '//a', '/a//b', '/a/./b', '/a/../b', '/.', '/..', '/a\u0000b', '/a\u0001', '/a\u007f', '/\ud800', '/\ufff0']) {
      assert.notEqual(pathProblem(bad), null, JSON.stringify(bad));
    }
  });
});
