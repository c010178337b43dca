// One request pipeline for every role: three in-process members, each a
// Processor (the server's request pipeline) ordering through a Zab Peer, joined
// by an in-memory network. Clients on followers have their sessions created,
// writes forwarded and answered, watches fired and syncs confirmed; the leader
// owns session expiry and hears of followers' sessions through PING replies.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Err, EventType, OpCode } from '../src/proto/constants.ts';
import type { ConnectResponse, Id, Request } from '../src/proto/records.ts';
import type { Response } from '../src/proto/responses.ts';
import { Processor, type Client, type QuorumLink } from '../src/server/processor.ts';
import { sessionPassword } from '../src/server/sessions.ts';
import type { Notification } from '../src/zab/election.ts';
import type { ZabMessage } from '../src/zab/messages.ts';
import { Peer } from '../src/zab/peer.ts';
import type { Ready } from '../src/zab/ready.ts';
import { majority } from './sim/cluster.ts';

const TICK = 100;

class TestClient implements Client {
  readonly remoteAddress = '127.0.0.1';
  sessionId = 0n;
  readonly authIds: Id[] = [{ scheme: 'ip', id: '127.0.0.1' }];
  readonly replies = new Map<number, { err: number; zxid: number; body?: Response }>();
  readonly events: { type: number; path: string }[] = [];
  closed: string | null = null;
  private xid = 0;

  constructor(readonly member: Member) {}

  reply(xid: number, zxid: number, err: number, _type: number, body?: Response): void {
    this.replies.set(xid, { err, zxid, body });
  }

  close(reason: string): void {
    this.closed ??= reason;
  }

  notify(type: number, path: string): void {
    this.events.push({ type, path });
  }

  /** Send a request; returns its xid. */
  send(req: Request): number {
    const xid = ++this.xid;
    this.member.proc.handle(this, xid, req, 0);
    return xid;
  }
}

interface Member {
  id: number;
  peer: Peer;
  proc: Processor;
}

class Ensemble {
  now = 0;
  readonly members: Member[] = [];
  private queue: { from: number; to: number; msg?: ZabMessage; vote?: Notification }[] = [];

  constructor(n: number, localSessions: { upgrading: boolean } | null = null) {
    for (let id = 1; id <= n; id++) {
      let proc: Processor | null = null;
      const peer = new Peer({
        settings: { id, quorum: majority(n), tickTime: TICK, initLimit: 10, syncLimit: 5 },
        epochs: { accepted: 0, current: 0 },
        history: { logStart: 0, logged: [] },
        now: 0,
        touches: () => proc!.takeTouches(),
      });
      const link: QuorumLink = {
        prepare: (r: Ready) => assert.equal(r.truncate, null, 'no truncation in these scripts'),
        dispatch: (r: Ready) => {
          for (const { to, msg } of r.messages) this.queue.push({ from: id, to, msg });
          for (const { to, n: vote } of r.votes) this.queue.push({ from: id, to, vote });
        },
      };
      proc = new Processor(
        { serverId: id, tickTime: TICK * 20, minSessionTimeout: 4000, maxSessionTimeout: 40_000, extendedTypesEnabled: true, skipACL: false, superDigest: null, containerMaxNeverUsedIntervalMs: 0, localSessions },
        () => this.now,
        undefined,
        null,
        undefined,
        peer,
        link,
      );
      proc.drive();
      this.members.push({ id, peer, proc });
    }
  }

  member(id: number): Member {
    return this.members[id - 1]!;
  }

  /** Deliver everything in flight, in order. */
  settle(): void {
    while (this.queue.length > 0) {
      const { from, to, msg, vote } = this.queue.shift()!;
      const m = this.member(to);
      if (msg) m.peer.step(from, msg);
      else m.peer.receiveVote(vote!);
      m.proc.drive();
    }
  }

  /** Let `ms` pass in 20 ms steps: clocks, timers (session expiry), deliveries. */
  run(ms: number): void {
    for (const end = this.now + ms; this.now < end; ) {
      this.now += 20;
      for (const m of this.members) {
        m.peer.clock(this.now);
        m.proc.drive();
        if (this.now % (TICK * 20) === 0) m.proc.expireSessions();
      }
      this.settle();
    }
  }

  leader(): Member {
    const l = this.members.find((m) => m.peer.role === 'leading' && m.peer.serving);
    assert.ok(l, 'an established leader');
    return l;
  }

  followers(): Member[] {
    return this.members.filter((m) => m.peer.role === 'following');
  }

  /** A new session (sessionId 0n) or a reattach of `sessionId` at member `m`. */
  connect(m: Member, timeOut = 6000, sessionId = 0n, passwd = sessionId === 0n ? Buffer.alloc(16) : sessionPassword(sessionId)): { client: TestClient; response: () => ConnectResponse | null } {
    const client = new TestClient(m);
    let response: ConnectResponse | null = null;
    m.proc.connect(client, { protocolVersion: 0, lastZxidSeen: 0, timeOut, sessionId, passwd, readOnly: false }, (r) => (response = r));
    return { client, response: () => response };
  }
}

function started(localSessions: { upgrading: boolean } | null = null): Ensemble {
  const ens = new Ensemble(3, localSessions);
  ens.run(1000);
  for (const m of ens.members) assert.ok(m.peer.serving, `member ${m.id} serves (${m.peer.describe()})`);
  return ens;
}

describe('the request pipeline in an ensemble', () => {
  test('three members elect a leader and every one serves', () => {
    const ens = started();
    assert.equal(ens.followers().length, 2);
    assert.equal(ens.leader().peer.epochs.current, 1);
  });

  test('a session made on a follower: created through the leader, its id minted with the follower\'s id', () => {
    const ens = started();
    const f = ens.followers()[0]!;
    const { client, response } = ens.connect(f);
    assert.equal(response(), null, 'not answered before the createSession is committed');
    ens.settle();
    const res = response();
    assert.ok(res && res.sessionId !== 0n, 'session created');
    assert.equal(Number(BigInt.asUintN(64, res.sessionId) >> 56n), f.id, 'the follower\'s id in the top byte');
    assert.equal(client.sessionId, res.sessionId);
    for (const m of ens.members) assert.equal(m.proc.tree.sessions.get(res.sessionId), 6000, `member ${m.id} knows the session`);
  });

  test('writes through a follower are forwarded, committed everywhere, and answered by that follower in order', () => {
    const ens = started();
    const [f1, f2] = ens.followers() as [Member, Member];
    const a = ens.connect(f1).client;
    ens.settle();
    const x1 = a.send({ type: OpCode.create, path: '/a', data: Buffer.from('1'), acl: [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }], flags: 1 });
    const x2 = a.send({ type: OpCode.setData, path: '/a', data: Buffer.from('2'), version: 0 });
    const x3 = a.send({ type: OpCode.getData, path: '/a', watch: false });
    const x4 = a.send({ type: OpCode.setData, path: '/a', data: Buffer.from('3'), version: 0 });
    ens.settle();
    assert.equal(a.replies.get(x1)?.err, Err.ok);
    assert.equal(a.replies.get(x2)?.err, Err.ok);
    assert.equal((a.replies.get(x3)?.body as { data: Buffer }).data.toString(), '2', 'the read waited for the session\'s earlier write');
    assert.equal(a.replies.get(x4)?.err, Err.badVersion, 'checked by the leader\'s prep');
    for (const m of ens.members) {
      const node = m.proc.tree.get('/a');
      assert.equal(node?.data?.toString(), '2', `member ${m.id} has /a`);
      assert.equal(node?.ephemeralOwner, a.sessionId);
    }
    // A watch on the other follower fires for a write through the first.
    const b = ens.connect(f2).client;
    ens.settle();
    b.send({ type: OpCode.getData, path: '/a', watch: true });
    a.send({ type: OpCode.setData, path: '/a', data: Buffer.from('4'), version: -1 });
    ens.settle();
    assert.deepEqual(b.events, [{ type: EventType.nodeDataChanged, path: '/a' }]);
  });

  test('a sync through a follower is answered after the commits before it', () => {
    const ens = started();
    const [f1, f2] = ens.followers() as [Member, Member];
    const a = ens.connect(f1).client;
    const b = ens.connect(f2).client;
    ens.settle();
    a.send({ type: OpCode.create, path: '/s', data: Buffer.from('x'), acl: [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }], flags: 0 });
    const sx = b.send({ type: OpCode.sync, path: '/s' });
    const rx = b.send({ type: OpCode.getData, path: '/s', watch: false });
    ens.settle();
    assert.equal(b.replies.get(sx)?.err, Err.ok);
    assert.equal((b.replies.get(rx)?.body as { data: Buffer }).data.toString(), 'x');
  });

  test('the leader expires a silent session of a follower\'s client; a follower\'s busy client keeps its session through PING reports', () => {
    const ens = started();
    const [f1, f2] = ens.followers() as [Member, Member];
    const silent = ens.connect(f1, 4000).client;
    const busy = ens.connect(f2, 4000).client;
    ens.settle();
    silent.send({ type: OpCode.create, path: '/eph', data: null, acl: [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }], flags: 1 });
    ens.settle();
    for (let t = 0; t < 8000; t += 500) {
      busy.send({ type: OpCode.ping });
      ens.run(500);
    }
    for (const m of ens.members) {
      assert.equal(m.proc.tree.get('/eph'), undefined, `member ${m.id}: the silent session's ephemeral is gone`);
      assert.equal(m.proc.tree.sessions.has(silent.sessionId), false);
      assert.equal(m.proc.tree.sessions.has(busy.sessionId), true, `member ${m.id}: the busy session lives`);
    }
    assert.equal(silent.closed, 'session expired', 'the follower closed the expired session\'s connection');
    assert.equal(busy.closed, null);
  });

  test('a session reattaching at a follower is answered only after the leader revalidates it, which touches it with the timeout asked', () => {
    const ens = started();
    const [f1, f2] = ens.followers() as [Member, Member];
    const a = ens.connect(f1, 4000).client;
    ens.settle();
    const id = a.sessionId;
    f1.proc.disconnected(a);
    const moved = ens.connect(f2, 8000, id);
    assert.equal(moved.response(), null, 'not answered before the leader has');
    ens.settle();
    assert.equal(moved.response()?.sessionId, id, 'the same session');
    assert.equal(moved.client.sessionId, id);
    assert.equal(ens.leader().proc.sessions.timeoutOf(id), 8000, 'the leader touched the session with the timeout the reattach asked for');
    const x = moved.client.send({ type: OpCode.create, path: '/after-move', data: null, acl: [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }], flags: 1 });
    ens.settle();
    assert.equal(moved.client.replies.get(x)?.err, Err.ok);
    assert.equal(ens.leader().proc.tree.get('/after-move')?.ephemeralOwner, id);
  });

  test('once a session is revalidated at another member, a write through the member it left gets SessionMoved', () => {
    const ens = started();
    const [f1, f2] = ens.followers() as [Member, Member];
    const leader = ens.leader();
    const acl = [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }];
    const stale = ens.connect(f1, 4000).client;
    ens.settle();
    const id = stale.sessionId;
    // The client moves to f2 while its old connection on f1 lingers (a member cut off, say).
    const moved = ens.connect(f2, 4000, id);
    ens.settle();
    assert.equal(moved.response()?.sessionId, id);
    // (Replies are matched to txns by session and xid on each member, as in ZooKeeper: two live
    // connections of one session must not use the same xid at once, so the stale one is a request ahead.)
    stale.send({ type: OpCode.exists, path: '/', watch: false });
    const lost = stale.send({ type: OpCode.create, path: '/stale', data: null, acl, flags: 0 });
    const kept = moved.client.send({ type: OpCode.create, path: '/moved', data: null, acl, flags: 0 });
    ens.settle();
    assert.equal(stale.replies.get(lost)?.err, Err.sessionMoved, 'the leader refuses the session on the member it left');
    assert.equal(moved.client.replies.get(kept)?.err, Err.ok);
    assert.equal(leader.proc.tree.get('/stale'), undefined);
    // Back on the leader itself: its own writes are the session's now, and f2's are refused.
    const home = ens.connect(leader, 4000, id);
    assert.equal(home.response()?.sessionId, id, 'the leader answers a reattach from its own table');
    const there = home.client.send({ type: OpCode.create, path: '/home', data: null, acl, flags: 0 });
    const left = moved.client.send({ type: OpCode.create, path: '/left', data: null, acl, flags: 0 });
    ens.settle();
    assert.equal(home.client.replies.get(there)?.err, Err.ok);
    assert.equal(moved.client.replies.get(left)?.err, Err.sessionMoved);
  });

  test('a session the leader has expired is refused at a follower; a wrong password is refused without asking', () => {
    const ens = started();
    const [f1, f2] = ens.followers() as [Member, Member];
    const a = ens.connect(f1, 4000).client;
    ens.settle();
    const id = a.sessionId;
    f1.proc.disconnected(a);
    ens.run(8000);
    assert.equal(ens.leader().proc.sessions.isAlive(id), false, 'expired at the leader');
    const late = ens.connect(f2, 4000, id);
    ens.settle();
    assert.equal(late.response()?.sessionId, 0n, 'the expired answer: session id 0');
    assert.equal(late.response()?.timeOut, 0);

    const b = ens.connect(f1, 4000).client;
    ens.settle();
    const forged = ens.connect(f2, 4000, b.sessionId, Buffer.alloc(16, 7));
    assert.equal(forged.response()?.sessionId, 0n, 'refused at once: the password is checked before the leader is asked');
  });

  test('a follower that stops following before the leader answers closes the reattaching client', () => {
    const ens = started();
    const [f1, f2] = ens.followers() as [Member, Member];
    const a = ens.connect(f1, 4000).client;
    ens.settle();
    f1.proc.disconnected(a);
    const moved = ens.connect(f2, 4000, a.sessionId);
    f2.peer.look('test: the leader went away');
    f2.proc.drive();
    assert.equal(moved.response(), null, 'never answered');
    assert.match(moved.client.closed ?? '', /stopped serving/);
  });

  test('a local session: answered at once, known to its member alone, expired by that member without a txn', () => {
    const ens = started({ upgrading: false });
    const [f1, f2] = ens.followers() as [Member, Member];
    const zxid = f1.proc.zxid;
    const { client, response } = ens.connect(f1, 4000);
    assert.equal(response()?.sessionId, client.sessionId, 'no createSession to wait for');
    ens.settle();
    for (const m of ens.members) assert.equal(m.proc.tree.sessions.has(client.sessionId), false, `member ${m.id}: not in the tree`);
    assert.equal(ens.leader().proc.sessions.timeoutOf(client.sessionId), undefined, 'the leader does not track it');
    const elsewhere = ens.connect(f2, 4000, client.sessionId);
    ens.settle();
    assert.equal(elsewhere.response()?.sessionId, 0n, 'another member refuses it: the leader does not know it');
    ens.run(8000);
    assert.equal(client.closed, 'session expired', 'its member expired it');
    const again = ens.connect(f1, 4000, client.sessionId);
    ens.settle();
    assert.equal(again.response()?.sessionId, 0n, 'gone from its member too');
    assert.equal(f1.proc.zxid, zxid, 'no txn at all');
  });
});
