// Three `paddock server` processes on loopback, one ensemble (zoo.cfg with
// server.1..3, a myid file each): a member alone does not serve (srvr says so,
// client sessions are refused); together they elect one leader and two
// followers; a client writes through a follower and reads the value on every
// member after sync; when the leader is killed (SIGKILL) the other two elect a
// new one and keep taking writes; the killed one, restarted on its own
// directories, catches up; a member that is behind a leader whose log starts
// after it is brought back by SNAP (its pipeline continues on the installed
// tree).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ZooKeeperClient } from '../src/client/index.ts';
import { bounded, TestEnsemble } from './support/ensemble.ts';
import { fourLetterWord, freePort, startZooKeeper, waitForServing } from './support/servers.ts';
import { waitFor } from './support/wait.ts';

const WAIT_MS = 60_000;
const NOT_SERVING = 'This ZooKeeper instance is not currently serving requests\n';
/** Four-letter words whose replies a member that is not serving gives alike on ZooKeeper 3.8 and Paddock. */
const WORDS_NOT_SERVING = ['srvr', 'stat', 'mntr', 'cons', 'conf', 'dirs', 'dump', 'wchs', 'isro', 'ruok'];

describe('paddock server as a member of a three-server ensemble', { timeout: 300_000 }, () => {
  const ids = [1, 2, 3];
  let ens: TestEnsemble;
  // Snapshots every 5–10 txns: a restarted member's history starts at its newest one.
  before(async () => {
    ens = await TestEnsemble.create('ensemble-process', ids.map((id) => ({ id })), { tickTime: 300, cfg: { snapCount: 10 }, waitMs: WAIT_MS });
  });
  after(() => ens.close());

  it('a member alone does not serve: four-letter words answer as ZooKeeper\'s do then, and a client gets no session', async () => {
    const alone = await ens.start(1, { noWait: true });
    const reply = await waitFor(`member 1 to answer srvr (output:\n${alone.output()})`, WAIT_MS, async () => {
      const r = await ens.fourLetter(1, 'srvr');
      return r.startsWith('unreachable') ? null : r;
    });
    assert.equal(reply, NOT_SERVING);
    // ZooKeeper 3.8 as a peer alone, for the control.
    const zkCfg: Record<string, string | number> = { initLimit: 10, syncLimit: 5 };
    for (const id of ids) zkCfg[`server.${id}`] = `127.0.0.1:${await freePort()}:${await freePort()}`;
    const zk = await startZooKeeper({ myid: 1, cfg: zkCfg, noWait: true });
    try {
      await waitFor(`ZooKeeper to answer srvr (output:\n${zk.output()})`, WAIT_MS, () => fourLetterWord('127.0.0.1', zk.port, 'srvr').then((r) => r.length > 0, () => false));
      for (const word of WORDS_NOT_SERVING) {
        assert.equal(await fourLetterWord('127.0.0.1', ens.clientPort(1), word), await fourLetterWord('127.0.0.1', zk.port, word), `${word} while not serving`);
      }
    } finally {
      await zk.stop();
    }
    await assert.rejects(ZooKeeperClient.connect(ens.connectString([1]), { connectTimeout: 5000 }), /closed by server/, 'the session is refused');
  });

  it('three members elect one leader and two followers, and all serve', async () => {
    await Promise.all([ens.start(2), ens.start(3)]);
    await waitForServing('127.0.0.1', ens.clientPort(1), WAIT_MS);
    const { leader, followers } = await ens.settled();
    assert.equal(followers.length, 2);
    assert.ok(!followers.includes(leader));
    // mntr's quorum keys, with the values a ZooKeeper 3.8 ensemble of three shows.
    const lead = await ens.mntr(leader);
    assert.equal(lead.get('zk_server_state'), 'leader');
    assert.equal(lead.get('zk_peer_state'), 'leading - broadcast');
    assert.equal(lead.get('zk_quorum_size'), '3');
    assert.equal(lead.get('zk_learners'), '2');
    assert.equal(lead.get('zk_synced_followers'), '2');
    assert.equal(lead.get('zk_synced_observers'), '0');
    assert.equal(lead.get('zk_pending_syncs'), '0');
    assert.ok(Number(lead.get('zk_leader_uptime')) >= 0);
    const follow = await ens.mntr(followers[0]!);
    assert.equal(follow.get('zk_server_state'), 'follower');
    assert.equal(follow.get('zk_peer_state'), 'following - broadcast');
    assert.equal(follow.get('zk_quorum_size'), '3');
    assert.equal(follow.has('zk_synced_followers'), false, 'leader keys only on the leader');
  });

  it('a write through a follower is read on every member after sync', async () => {
    const { followers } = await ens.settled();
    const c = await ens.connect(followers[0]!);
    assert.equal(await bounded('create through a follower', WAIT_MS, c.create('/ens', 'v1')), '/ens');
    await bounded('setData through a follower', WAIT_MS, c.setData('/ens', 'v2', 0));
    await c.close();
    for (const id of ids) assert.equal(await ens.readAfterSync(id, '/ens'), 'v2', `member ${id} reads the write`);
  });

  it('when the leader is killed the other two elect a new one and keep taking writes; the restarted one catches up', async () => {
    const before = await ens.settled();
    const old = before.leader;
    // A client of a follower: its connection ends with its member's serving role.
    const bystander = await ens.connect(before.followers[0]!);
    await ens.kill(old);
    await waitFor('the follower to close its client connection when its leader went away', WAIT_MS, () => !bystander.connected);

    const { leader, followers } = await ens.settled();
    assert.notEqual(leader, old, 'a new leader');
    assert.equal(followers.length, 1);
    const c = await ens.connect(followers[0]!);
    await bounded('setData after the failover', WAIT_MS, c.setData('/ens', 'v3'));
    assert.equal(await bounded('create after the failover', WAIT_MS, c.create('/after-failover', 'x')), '/after-failover');
    await c.close();
    for (const id of ens.runningIds) assert.equal(await ens.readAfterSync(id, '/ens'), 'v3', `member ${id} reads the write made after the failover`);

    await ens.start(old);
    const again = await ens.settled();
    assert.equal(again.leader, leader, 'the new leader keeps leading');
    assert.ok(again.followers.includes(old), 'the restarted member follows');
    assert.match(ens.server(leader).output(), new RegExp(`syncing server ${old} by (DIFF|TRUNC|SNAP)`), 'the leader synced it');
    assert.equal(await ens.readAfterSync(old, '/ens'), 'v3', 'the restarted member caught up');
    assert.equal(await ens.readAfterSync(old, '/after-failover'), 'x');
  });

  it('a member behind the leader\'s log is brought back by SNAP and serves the installed state', async () => {
    const { leader, followers } = await ens.settled();
    const [behind, other] = followers as [number, number];
    await ens.stop(behind);
    const c = await ens.connect(leader);
    await bounded('create /snap', WAIT_MS, c.create('/snap', 'x'));
    for (let i = 0; i < 40; i++) await bounded(`create /snap/n${i}`, WAIT_MS, c.create(`/snap/n${i}`, `value ${i}`));
    await c.close();
    // `other` restarts: its history now starts at a snapshot taken after `behind` stopped.
    await ens.stop(other);
    await ens.start(other);
    await ens.settled();
    // Without the old leader, `other` (the longer log) leads `behind`, which it can only SNAP.
    await ens.stop(leader);
    await ens.start(behind);
    const now = await ens.settled();
    assert.equal(now.leader, other);
    assert.match(ens.server(other).output(), new RegExp(`syncing server ${behind} by SNAP`), 'synced by SNAP');
    assert.equal(await ens.readAfterSync(behind, '/snap/n39'), 'value 39', 'the installed state is served');
    const w = await ens.connect(behind);
    await bounded('setData through the member that installed a SNAP', WAIT_MS, w.setData('/snap', 'after snap'));
    await w.close();
    await ens.start(leader);
    await ens.settled();
    for (const id of ids) assert.equal(await ens.readAfterSync(id, '/snap'), 'after snap', `member ${id} reads the write made after the SNAP`);
  });
});
