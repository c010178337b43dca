// Local sessions (localSessionsEnabled, localSessionsUpgradingEnabled), the
// same script against a three-member ZooKeeper 3.8 ensemble and a three-member
// Paddock ensemble with the same settings, a session on a follower and one on
// the leader. What is observed — the zxid before and after (srvr), whether
// another member takes the session, the answer to an ephemeral create — must
// be the same, and is what ZooKeeper's docs say: a local session costs no txn,
// is known only to its member, and may not own an ephemeral
// (EphemeralOnLocalSession, -120, an error txn) unless upgrading is on, when a
// createSession txn first makes it global (and then it can move); closing a
// local session costs no txn either.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ZooKeeperClient } from '../src/client/index.ts';
import { ZkError } from '../src/proto/constants.ts';
import { TestEnsemble, type ServerKind } from './support/ensemble.ts';

const WAIT_MS = 60_000;

interface Observed {
  /** txns the session's creation cost */
  create: number;
  /** another member, asked to take the fresh session: 'ok' or the error */
  elsewhere: string;
  persistent: string;
  /** the ephemeral create's answer and the txns it cost */
  ephemeral: string;
  ephemeralTxns: number;
  /** after the ephemeral: another member takes the session? */
  elsewhereAfter: string;
  /** txns the close cost */
  close: number;
}

const outcome = (p: Promise<unknown>): Promise<string> => p.then(() => 'ok', (e: Error) => (e instanceof ZkError ? `error ${e.code}` : e.message));

async function observe(kind: ServerKind, upgrading: boolean): Promise<Record<string, Observed>> {
  const ens = await TestEnsemble.create(`local-sessions-${kind}-${upgrading}`, [1, 2, 3].map((id) => ({ id, kind })), {
    tickTime: 300,
    cfg: { localSessionsEnabled: 'true', localSessionsUpgradingEnabled: String(upgrading) },
    waitMs: WAIT_MS,
  });
  try {
    const { leader, followers } = await ens.startAll();
    const [f1, f2] = followers as [number, number];
    const srvrZxid = async (): Promise<number> => Number(/^Zxid: (0x[0-9a-f]+)$/m.exec(await ens.fourLetter(leader, 'srvr'))?.[1]);
    /** The leader's last applied zxid once it stops moving (a txn just committed may not be applied there yet). */
    const zxid = async (): Promise<number> => {
      let last = await srvrZxid();
      for (let i = 0; i < 20; i++) {
        await new Promise((r) => setTimeout(r, 300));
        const now = await srvrZxid();
        if (now === last) return now;
        last = now;
      }
      throw new Error('the leader keeps applying txns');
    };
    const observed: Record<string, Observed> = {};
    for (const [name, where, other] of [['on a follower', f1, f2], ['on the leader', leader, f1]] as const) {
      const reattach = (c: ZooKeeperClient, at: number) => ZooKeeperClient.connect(ens.connectString([at]), { sessionId: c.sessionId, password: c.password, sessionTimeout: 6000 });
      const t0 = await zxid();
      const c = await ZooKeeperClient.connect(ens.connectString([where]), { sessionTimeout: 6000 });
      const t1 = await zxid();
      const elsewhere = await outcome(reattach(c, other));
      const persistent = await outcome(c.create(`/persistent-${where}`, 'x'));
      const t2 = await zxid();
      const ephemeral = await outcome(c.create(`/ephemeral-${where}`, 'x', { mode: 1 }));
      await c.sync('/');
      const t3 = await zxid();
      let elsewhereAfter: string;
      let t4: number;
      if (ephemeral === 'ok') {
        // Now global: it moves, and its close is a txn.
        const moved = await reattach(c, other);
        elsewhereAfter = 'ok';
        c.disconnect();
        t4 = await zxid();
        await moved.close();
      } else {
        elsewhereAfter = await outcome(reattach(c, other));
        t4 = await zxid();
        await c.close();
      }
      const t5 = await zxid();
      observed[name] = { create: t1 - t0, elsewhere, persistent, ephemeral, ephemeralTxns: t3 - t2, elsewhereAfter, close: t5 - t4 };
    }
    return observed;
  } finally {
    await ens.close();
  }
}

describe('local sessions, compared with a ZooKeeper 3.8 ensemble', { timeout: 600_000 }, () => {
  it('without upgrading: no txn, not known elsewhere, an ephemeral is refused (EphemeralOnLocalSession)', async () => {
    const expected: Observed = { create: 0, elsewhere: 'error -112', persistent: 'ok', ephemeral: 'error -120', ephemeralTxns: 1, elsewhereAfter: 'error -112', close: 0 };
    const zk = await observe('zookeeper', false);
    assert.deepEqual(zk, { 'on a follower': expected, 'on the leader': expected }, 'ZooKeeper 3.8 as documented');
    assert.deepEqual(await observe('paddock', false), zk, 'Paddock as ZooKeeper');
  });

  it('with upgrading: an ephemeral makes the session global first (a createSession txn); then it moves, and its close is a txn', async () => {
    const expected: Observed = { create: 0, elsewhere: 'error -112', persistent: 'ok', ephemeral: 'ok', ephemeralTxns: 2, elsewhereAfter: 'ok', close: 1 };
    const zk = await observe('zookeeper', true);
    assert.deepEqual(zk, { 'on a follower': expected, 'on the leader': expected }, 'ZooKeeper 3.8 as documented');
    assert.deepEqual(await observe('paddock', true), zk, 'Paddock as ZooKeeper');
  });
});
