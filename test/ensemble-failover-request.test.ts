// A write in flight through a follower when the leader dies must not block
// its session afterwards: three `paddock server` processes; a client on a
// follower sends setData while the leader is paused (SIGSTOP), so the
// follower has forwarded it to a leader that never orders it; the leader is
// then killed (SIGKILL). The pending write fails with the connection, the
// session reattaches to the same member once the two survivors serve again,
// and its next write is answered and read on the other survivor. (Found by
// bench/ensemble.ts's failover loop: the follower kept the lost request's
// entry, and every later reply of that session waited behind it.)

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { bounded, TestEnsemble } from './support/ensemble.ts';

const WAIT_MS = 60_000;

describe('a request lost with its leader', { timeout: 300_000 }, () => {
  let ens: TestEnsemble;
  before(async () => {
    ens = await TestEnsemble.create('ensemble-failover-request', [1, 2, 3].map((id) => ({ id })), { tickTime: 300, waitMs: WAIT_MS });
    await ens.startAll();
  });
  after(() => ens.close());

  it("does not hold back its session's later requests on the member that forwarded it", async () => {
    const { leader, followers } = await ens.settled();
    const member = followers[0]!;
    const other = followers[1]!;
    const c1 = await ens.connect(member, { sessionTimeout: 20_000 });
    await bounded('create /lost', WAIT_MS, c1.create('/lost', 'a'));
    for (let i = 0; i < 3; i++) await bounded('setData /lost', WAIT_MS, c1.setData('/lost', `a${i}`));

    await ens.pause(leader);
    const lost = c1.setData('/lost', 'never ordered');
    const outcome = lost.then(
      () => 'answered',
      (e: Error) => e.message,
    );
    await new Promise((r) => setTimeout(r, 500)); // forwarded to the paused leader by now
    await ens.kill(leader);
    assert.match(await bounded('the pending setData to fail', WAIT_MS, outcome), /connection/i, 'the write in flight fails with its connection');

    await ens.settled();
    const c2 = await ens.connect(member, { sessionId: c1.sessionId, password: c1.password, sessionTimeout: 20_000 });
    await bounded('setData after the failover, on the same member and session', WAIT_MS, c2.setData('/lost', 'after'));
    assert.equal(await ens.readAfterSync(other, '/lost'), 'after');
  });
});
