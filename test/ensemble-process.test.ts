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
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { ZooKeeperClient } from '../src/client/index.ts';
import { scratchRoot } from './support/datadirs.ts';
import { fourLetterWord, freePort, startPaddock, startZooKeeper, waitForServing, type RunningServer } from './support/servers.ts';
import { waitFor } from './support/wait.ts';

const TICK_MS = 300;
const WAIT_MS = 60_000;
const NOT_SERVING = 'This ZooKeeper instance is not currently serving requests\n';
/** Four-letter words whose replies a member that is not serving gives alike on ZooKeeper 3.8 and Paddock. */
const WORDS_NOT_SERVING = ['srvr', 'stat', 'mntr', 'cons', 'conf', 'dirs', 'dump', 'wchs', 'isro', 'ruok'];

/** A promise, or a failure naming `what` once `ms` have passed. */
async function bounded<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('paddock server as a member of a three-server ensemble', { timeout: 300_000 }, () => {
  const scratch = scratchRoot('ensemble-process');
  const ids = [1, 2, 3];
  const clientPorts = new Map<number, number>();
  const dataDirs = new Map<number, string>();
  const running = new Map<number, RunningServer>();
  const clients: ZooKeeperClient[] = [];
  // Snapshots every 5–10 txns: a restarted member's history starts at its newest one.
  const cfg: Record<string, string | number> = { initLimit: 20, syncLimit: 10, snapCount: 10 };

  const start = async (id: number, noWait = false): Promise<RunningServer> => {
    const s = await startPaddock({ myid: id, dataDir: dataDirs.get(id)!, port: clientPorts.get(id)!, tickTime: TICK_MS, cfg, noWait });
    running.set(id, s);
    return s;
  };

  const srvr = (id: number) => fourLetterWord('127.0.0.1', clientPorts.get(id)!, 'srvr').catch((e: Error) => `unreachable: ${e.message}`);

  /** Every running member's Mode line (null: not serving), once one leads and the rest follow it. */
  async function settled(): Promise<{ leader: number; followers: number[] }> {
    let last = '';
    const found = waitFor('one leader and the rest followers', WAIT_MS, async () => {
      const modes = new Map<number, string | null>();
      for (const id of running.keys()) {
        const reply = await srvr(id);
        modes.set(id, /^Mode: (\w+)$/m.exec(reply)?.[1] ?? null);
      }
      last = [...modes].map(([id, m]) => `${id}: ${m}`).join(', ');
      const leaders = [...modes].filter(([, m]) => m === 'leader').map(([id]) => id);
      const followers = [...modes].filter(([, m]) => m === 'follower').map(([id]) => id);
      return leaders.length === 1 && followers.length === modes.size - 1 ? { leader: leaders[0]!, followers } : null;
    });
    return found.catch((e: Error) => {
      throw new Error(`${e.message}; last modes: ${last}`);
    });
  }

  /** SIGTERM member `id`, its directories kept. */
  async function stop(id: number): Promise<void> {
    await running.get(id)!.stop();
    running.delete(id);
  }

  async function connect(id: number): Promise<ZooKeeperClient> {
    const c = await ZooKeeperClient.connect(`127.0.0.1:${clientPorts.get(id)}`, { sessionTimeout: 6000, connectTimeout: 10_000 });
    clients.push(c);
    return c;
  }

  /** What member `id` holds at `path` after a sync (its reads then see every write committed before). */
  async function readAfterSync(id: number, path: string): Promise<string | null> {
    const c = await connect(id);
    await bounded(`sync on member ${id}`, WAIT_MS, c.sync(path));
    const exists = await bounded(`exists on member ${id}`, WAIT_MS, c.exists(path));
    const value = exists ? (await bounded(`getData on member ${id}`, WAIT_MS, c.getData(path))).data?.toString() ?? null : null;
    await c.close();
    return value;
  }

  before(async () => {
    const lines: string[] = [];
    for (const id of ids) {
      clientPorts.set(id, await freePort());
      dataDirs.set(id, scratch.freshDir(`member${id}`));
      lines.push(`server.${id}=127.0.0.1:${await freePort()}:${await freePort()}`);
    }
    for (const line of lines) {
      const [key, value] = line.split('=') as [string, string];
      cfg[key] = value;
    }
  });

  after(async () => {
    for (const c of clients) c.disconnect();
    for (const s of running.values()) await s.stop().catch(() => undefined);
    rmSync(scratch.root, { recursive: true, force: true });
  });

  it('a member alone does not serve: four-letter words answer as ZooKeeper\'s do then, and a client gets no session', async () => {
    const alone = await start(1, true);
    const reply = await waitFor(`member 1 to answer srvr (output:\n${alone.output()})`, WAIT_MS, async () => {
      const r = await srvr(1);
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
        assert.equal(await fourLetterWord('127.0.0.1', clientPorts.get(1)!, word), await fourLetterWord('127.0.0.1', zk.port, word), `${word} while not serving`);
      }
    } finally {
      await zk.stop();
    }
    await assert.rejects(ZooKeeperClient.connect(`127.0.0.1:${clientPorts.get(1)}`, { connectTimeout: 5000 }), /closed by server/, 'the session is refused');
  });

  it('three members elect one leader and two followers, and all serve', async () => {
    await Promise.all([start(2), start(3)]);
    await waitForServing('127.0.0.1', clientPorts.get(1)!, WAIT_MS);
    const { leader, followers } = await settled();
    assert.equal(followers.length, 2);
    assert.ok(!followers.includes(leader));
    // mntr's quorum keys, with the values a ZooKeeper 3.8 ensemble of three shows.
    const mntr = async (id: number) => new Map((await fourLetterWord('127.0.0.1', clientPorts.get(id)!, 'mntr')).trim().split('\n').map((l) => l.split('\t') as [string, string]));
    const lead = await mntr(leader);
    assert.equal(lead.get('zk_server_state'), 'leader');
    assert.equal(lead.get('zk_peer_state'), 'leading - broadcast');
    assert.equal(lead.get('zk_quorum_size'), '3');
    assert.equal(lead.get('zk_learners'), '2');
    assert.equal(lead.get('zk_synced_followers'), '2');
    assert.equal(lead.get('zk_synced_observers'), '0');
    assert.equal(lead.get('zk_pending_syncs'), '0');
    assert.ok(Number(lead.get('zk_leader_uptime')) >= 0);
    const follow = await mntr(followers[0]!);
    assert.equal(follow.get('zk_server_state'), 'follower');
    assert.equal(follow.get('zk_peer_state'), 'following - broadcast');
    assert.equal(follow.get('zk_quorum_size'), '3');
    assert.equal(follow.has('zk_synced_followers'), false, 'leader keys only on the leader');
  });

  it('a write through a follower is read on every member after sync', async () => {
    const { followers } = await settled();
    const c = await connect(followers[0]!);
    assert.equal(await bounded('create through a follower', WAIT_MS, c.create('/ens', 'v1')), '/ens');
    await bounded('setData through a follower', WAIT_MS, c.setData('/ens', 'v2', 0));
    await c.close();
    for (const id of ids) assert.equal(await readAfterSync(id, '/ens'), 'v2', `member ${id} reads the write`);
  });

  it('when the leader is killed the other two elect a new one and keep taking writes; the restarted one catches up', async () => {
    const before = await settled();
    const old = before.leader;
    // A client of a follower: its connection ends with its member's serving role.
    const bystander = await connect(before.followers[0]!);
    const killed = running.get(old)!;
    const exited = new Promise((resolve) => killed.proc.once('exit', resolve));
    killed.proc.kill('SIGKILL');
    await bounded(`member ${old} to exit`, WAIT_MS, exited);
    running.delete(old);
    await killed.stop();
    await waitFor('the follower to close its client connection when its leader went away', WAIT_MS, () => !bystander.connected);

    const { leader, followers } = await settled();
    assert.notEqual(leader, old, 'a new leader');
    assert.equal(followers.length, 1);
    const c = await connect(followers[0]!);
    await bounded('setData after the failover', WAIT_MS, c.setData('/ens', 'v3'));
    assert.equal(await bounded('create after the failover', WAIT_MS, c.create('/after-failover', 'x')), '/after-failover');
    await c.close();
    for (const id of running.keys()) assert.equal(await readAfterSync(id, '/ens'), 'v3', `member ${id} reads the write made after the failover`);

    await start(old);
    const again = await settled();
    assert.equal(again.leader, leader, 'the new leader keeps leading');
    assert.ok(again.followers.includes(old), 'the restarted member follows');
    assert.match(running.get(leader)!.output(), new RegExp(`syncing server ${old} by (DIFF|TRUNC|SNAP)`), 'the leader synced it');
    assert.equal(await readAfterSync(old, '/ens'), 'v3', 'the restarted member caught up');
    assert.equal(await readAfterSync(old, '/after-failover'), 'x');
  });

  it('a member behind the leader\'s log is brought back by SNAP and serves the installed state', async () => {
    const { leader, followers } = await settled();
    const [behind, other] = followers as [number, number];
    await stop(behind);
    const c = await connect(leader);
    await bounded('create /snap', WAIT_MS, c.create('/snap', 'x'));
    for (let i = 0; i < 40; i++) await bounded(`create /snap/n${i}`, WAIT_MS, c.create(`/snap/n${i}`, `value ${i}`));
    await c.close();
    // `other` restarts: its history now starts at a snapshot taken after `behind` stopped.
    await stop(other);
    await start(other);
    await settled();
    // Without the old leader, `other` (the longer log) leads `behind`, which it can only SNAP.
    await stop(leader);
    await start(behind);
    const now = await settled();
    assert.equal(now.leader, other);
    assert.match(running.get(other)!.output(), new RegExp(`syncing server ${behind} by SNAP`), 'synced by SNAP');
    assert.equal(await readAfterSync(behind, '/snap/n39'), 'value 39', 'the installed state is served');
    const w = await connect(behind);
    await bounded('setData through the member that installed a SNAP', WAIT_MS, w.setData('/snap', 'after snap'));
    await w.close();
    await start(leader);
    await settled();
    for (const id of ids) assert.equal(await readAfterSync(id, '/snap'), 'after snap', `member ${id} reads the write made after the SNAP`);
  });
});
