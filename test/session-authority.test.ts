// The ensemble's session authority (src/server/session-authority.ts), one
// member's tracker through its roles: a learner reports what its clients kept
// alive, the leader keeps reported sessions and expires the rest, and a role
// that starts serving tracks the tree's sessions afresh. The simulator
// (test/zab-sim.test.ts) drives the same class through crashes, partitions and
// pauses; these are its rules one by one.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { OpCode } from '../src/proto/constants.ts';
import { SessionAuthority } from '../src/server/session-authority.ts';

const TICK = 100;
const A = 0x0100000000000001n;
const B = 0x0100000000000002n;

describe('SessionAuthority', () => {
  test('a learner reports each session its clients kept alive once, with its timeout; a leader reports nothing', () => {
    const learner = new SessionAuthority(TICK, 2, 0);
    learner.adopt(new Map([[A, 4000], [B, 6000]]), 0);
    assert.equal(learner.clientActive(A, 50, false), true);
    assert.equal(learner.clientActive(B, 60, false), true);
    assert.equal(learner.clientActive(0x99n, 70, false), false, 'an unknown session is not alive');
    assert.deepEqual([...learner.takeReports()], [[A, 4000], [B, 6000]]);
    assert.deepEqual([...learner.takeReports()], [], 'reports are swapped out');
    const leader = new SessionAuthority(TICK, 1, 0);
    leader.adopt(new Map([[A, 4000]]), 0);
    assert.equal(leader.clientActive(A, 50, true), true);
    assert.deepEqual([...leader.takeReports()], []);
  });

  test('reports not delivered before a role ended are dropped when the next one starts serving', () => {
    const learner = new SessionAuthority(TICK, 2, 0);
    learner.adopt(new Map([[A, 4000]]), 0);
    learner.clientActive(A, 50, false);
    // The leader went away before its next PING; this member follows another one now.
    learner.adopt(new Map([[A, 4000]]), 3000);
    assert.deepEqual([...learner.takeReports()], [], 'the new leader hears of A only from its client again');
  });

  test('the leader keeps a reported session a full timeout from the report, and expires an unreported one', () => {
    const leader = new SessionAuthority(TICK, 1, 0);
    leader.adopt(new Map([[A, 1000], [B, 1000]]), 0);
    leader.reported([[A, 1000]], 900);
    assert.deepEqual(leader.expire(1100), [B]);
    assert.deepEqual(leader.expire(1900), [], 'reported at 900: alive until 1900 and its bucket');
    assert.deepEqual(leader.expire(2000), [A]);
  });

  test('a close this member marked but never committed is forgotten when a role starts serving: the session expires again', () => {
    const m = new SessionAuthority(TICK, 3, 0);
    m.adopt(new Map([[A, 1000]]), 0);
    // As a learner, it forwards the client's closeSession; the leader goes away before committing it.
    m.setClosing(A);
    assert.equal(m.clientActive(A, 100, false), false);
    // It leads next: the session, still in the tree, gets a full timeout and expires when it is up.
    m.adopt(new Map([[A, 1000]]), 5000);
    assert.equal(m.isAlive(A), true);
    assert.deepEqual(m.expire(5900), []);
    assert.deepEqual(m.expire(6100), [A]);
  });

  test('adopting a tree drops sessions it does not hold; committed txns add and remove sessions', () => {
    const m = new SessionAuthority(TICK, 1, 0);
    m.add(B, 1000, 0); // ordered here, its createSession never committed
    m.adopt(new Map([[A, 1000]]), 0);
    assert.equal(m.timeoutOf(B), undefined);
    m.committed(B, { type: OpCode.createSession, timeOut: 3000 }, 10);
    assert.equal(m.timeoutOf(B), 3000);
    m.committed(A, { type: OpCode.closeSession, paths: [] }, 20);
    assert.equal(m.timeoutOf(A), undefined);
    m.reattached(A, 2000, 30);
    assert.equal(m.isAlive(A), true, 'a session the leader validated is tracked on the learner it reattached to');
  });
});
