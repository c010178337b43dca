// The request pipeline in read-only mode, in process with a clock the test
// moves: sessions made read-only are local (no txn, not in the tree's session
// table), expire here without a txn and end with the mode; a session made
// read-write is taken back read-only and is neither expired nor closed by a
// read-only server; writes and sync are answered NotReadOnly, reads from the tree. The
// same over real processes, against ZooKeeper 3.8: readonly.test.ts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Err, OpCode } from '../src/proto/constants.ts';
import type { ConnectResponse, Id, Request } from '../src/proto/records.ts';
import { Processor, type Client } from '../src/server/processor.ts';
import { sessionPassword } from '../src/server/sessions.ts';

const TICK = 100;

class TestClient implements Client {
  readonly remoteAddress = '127.0.0.1';
  sessionId = 0n;
  readonly authIds: Id[] = [];
  readonly replies = new Map<number, { err: number; zxid: number }>();
  closed: string | null = null;

  reply(xid: number, zxid: number, err: number): void {
    this.replies.set(xid, { err, zxid });
  }

  close(reason: string): void {
    this.closed ??= reason;
  }

  notify(): void {}
}

function connect(p: Processor, c: Client, sessionId = 0n): ConnectResponse | null {
  let res: ConnectResponse | null | undefined;
  p.connect(c, { protocolVersion: 0, lastZxidSeen: 0, timeOut: 10 * TICK, sessionId, passwd: sessionId === 0n ? Buffer.alloc(16) : sessionPassword(sessionId), readOnly: true }, (r) => (res = r));
  assert.notEqual(res, undefined, 'answered at once');
  return res!;
}

function ask(p: Processor, c: TestClient, xid: number, req: Request): number {
  p.handle(c, xid, req, 0);
  return c.replies.get(xid)!.err;
}

test('read-only: local sessions without txns, writes refused, a read-write session taken back, all local sessions gone with the mode', () => {
  let now = 1_000_000;
  const p = new Processor({ serverId: 3, tickTime: TICK, minSessionTimeout: 2 * TICK, maxSessionTimeout: 20 * TICK, extendedTypesEnabled: false, skipACL: false, superDigest: null, containerMaxNeverUsedIntervalMs: 0 }, () => now);
  const writer = new TestClient();
  const made = connect(p, writer)!;
  assert.equal(made.readOnly, false, 'read-write before the mode');
  p.handle(writer, 1, { type: OpCode.create, path: '/x', data: Buffer.from('v'), acl: [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }], flags: 0 }, 0);
  assert.equal(writer.replies.get(1)!.err, Err.ok);
  const zxid = p.zxid;

  p.enterReadOnly();
  assert.equal(p.readOnly, true);
  const local = new TestClient();
  const res = connect(p, local)!;
  assert.equal(res.readOnly, true);
  assert.equal(res.sessionId >> 56n, 3n, 'the id is minted as this server mints them');
  assert.equal(p.tree.sessions.has(res.sessionId), false, 'no createSession txn');
  assert.equal(p.zxid, zxid);
  assert.equal(p.localSessionCount, 1);
  assert.equal(ask(p, local, 1, { type: OpCode.getData, path: '/x', watch: false }), Err.ok);
  for (const [xid, req] of [
    [2, { type: OpCode.setData, path: '/x', data: Buffer.from('w'), version: -1 }],
    [3, { type: OpCode.sync, path: '/' }],
    [4, { type: OpCode.check, path: '/x', version: -1 }],
  ] as [number, Request][]) {
    assert.equal(ask(p, local, xid, req), Err.notReadOnly, `op ${req.type}`);
    assert.equal(local.replies.get(xid)!.zxid, zxid, 'answered with the tree\'s zxid');
  }
  assert.equal(p.tree.get('/x')!.data!.toString(), 'v');
  // A request of the wrong shape is refused by its op code, as ZooKeeper's read-only server does.
  p.malformed(local, 5, OpCode.create, 0);
  assert.equal(local.replies.get(5)!.err, Err.notReadOnly);

  // The session made read-write comes back read-only (ZooKeeper 3.8 refuses this).
  const back = new TestClient();
  const again = connect(p, back, made.sessionId)!;
  assert.deepEqual([again.sessionId, again.readOnly], [made.sessionId, true]);

  // Time passes: the local session expires here, without a txn; the read-write one waits for a leader.
  now += 30 * TICK;
  assert.deepEqual(p.expireSessions().map((e) => e.id), [res.sessionId]);
  assert.equal(local.closed, 'session expired');
  assert.equal(p.zxid, zxid);
  assert.equal(connect(p, new TestClient(), res.sessionId)!.timeOut, 0, 'an expired local session is gone');
  assert.equal(ask(p, back, 1, { type: OpCode.exists, path: '/x', watch: false }), Err.ok, 'the read-write session is still served');

  // closeSession of the read-write session: answered, its connection closed, the session left to the leader (no txn).
  assert.equal(ask(p, back, 2, { type: OpCode.closeSession }), Err.ok);
  assert.equal(back.closed, 'client closed the session');
  assert.equal(p.zxid, zxid);

  // A new local session, then the mode ends: it ends with it; the read-write session lives on.
  const second = connect(p, new TestClient())!;
  p.leaveReadOnly();
  assert.equal(p.readOnly, false);
  assert.equal(p.localSessionCount, 0);
  assert.equal(connect(p, new TestClient(), second.sessionId)!.timeOut, 0);
  const rw = connect(p, new TestClient(), made.sessionId)!;
  assert.deepEqual([rw.sessionId, rw.readOnly], [made.sessionId, false]);
});
