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
    // The election connection that lasts between two members is the one the higher id dials: both ends log its handshake.
    for (const [low, high] of [[1, 2], [1, 3], [2, 3]] as const) {
      assert.match(ens.server(low).output(), new RegExp(`quorum SASL: server ${high} \\(election, .*\\) authenticated as zkquorum`));
      assert.match(ens.server(high).output(), new RegExp(`quorum SASL: authenticated to server ${low} \\(election\\) as zkquorum`));
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

/**
 * A hand-made peer on `port`: `header` (the election port's initial message) if given, then
 * a DIGEST-MD5 exchange as `client`. The status of the member's last answer, and whether
 * the member then closed the connection (within a second) or kept it.
 */
async function handshake(port: number, header: Buffer | null, client: DigestMd5Client): Promise<{ status: AuthStatus; closed: boolean }> {
  const sock = net.connect({ host: '127.0.0.1', port });
  let buffered = Buffer.alloc(0);
  let closed = false;
  let wake = () => {};
  sock.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    wake();
  });
  sock.on('close', () => {
    closed = true;
    wake();
  });
  sock.on('error', () => {});
  const read = async (n: number) => {
    while (buffered.length < n) {
      if (closed) throw new Error(`connection closed with ${buffered.length} of ${n} bytes`);
      await new Promise<void>((resolve) => (wake = resolve));
    }
    const bytes = buffered.subarray(0, n);
    buffered = buffered.subarray(n);
    return bytes;
  };
  try {
    if (header) sock.write(header);
    sock.write(encodeAuthPacket(AuthStatus.inProgress, Buffer.alloc(0)));
    for (;;) {
      const head = await read(16);
      assert.equal(head.readBigInt64BE(0), QUORUM_AUTH_MAGIC);
      const length = head.readInt32BE(12);
      const token = length > 0 ? await read(length) : Buffer.alloc(0);
      const status = head.readInt32BE(8) as AuthStatus;
      if (status === AuthStatus.inProgress) {
        sock.write(encodeAuthPacket(AuthStatus.inProgress, client.evaluate(token)!));
        continue;
      }
      if (status === AuthStatus.success) assert.equal(client.evaluate(token), null, 'rspauth checks out');
      await Promise.race([new Promise((resolve) => sock.once('close', resolve)), new Promise((resolve) => setTimeout(resolve, 1000))]);
      return { status, closed };
    }
  } finally {
    sock.destroy();
  }
}

/** Whether a member closes a connection on which `bytes` were sent (it does not answer them). */
async function closesOn(port: number, bytes: Buffer): Promise<boolean> {
  const sock = net.connect({ host: '127.0.0.1', port });
  sock.on('error', () => {});
  sock.on('data', () => {});
  sock.write(bytes);
  try {
    await bounded('the member to close the connection', WAIT_MS, new Promise((resolve) => sock.once('close', resolve)));
    return true;
  } finally {
    sock.destroy();
  }
}

/**
 * Against the election port of each member and the quorum port of `leader`: the right
 * credentials pass (and the connection stays), a wrong password and a request to act as
 * another user (right password) are answered ERROR and the connection closed; bytes that
 * are not a handshake, or a QuorumAuthPacket of absurd length, close the connection.
 */
async function handMadePeers(ens: TestEnsemble, leader: number): Promise<void> {
  // Server 99 is in no server line: under DIGEST-MD5, 3.8 checks the user, not the server id.
  const header = encodeConnectHeader(99, [{ host: '127.0.0.1', port: 1 }]);
  const targets = [...ens.ids.map((id) => ({ id, port: ens.peerPorts(id).electionPort, header, what: 'election port' })), { id: leader, port: ens.peerPorts(leader).quorumPort, header: null, what: 'quorum port' }];
  for (const { id, port, header, what } of targets) {
    const where = `${ens.kind(id)} member ${id}'s ${what}`;
    const as = (password: string, authzid?: string) => bounded(`handshake with ${where}`, WAIT_MS, handshake(port, header, new DigestMd5Client(USER, password, QUORUM_SASL_SERVICE, authzid)));
    assert.deepEqual(await as(PASSWORD), { status: AuthStatus.success, closed: false }, `${where}: the right credentials pass`);
    assert.deepEqual(await as('wrong'), { status: AuthStatus.error, closed: true }, `${where}: a wrong password is refused`);
    assert.deepEqual(await as(PASSWORD, 'super'), { status: AuthStatus.error, closed: true }, `${where}: ${USER} may not act as another user`);
    const hugeToken = Buffer.alloc(16);
    hugeToken.writeBigInt64BE(QUORUM_AUTH_MAGIC, 0);
    hugeToken.writeInt32BE(0x7fffffff, 12);
    for (const garbage of [Buffer.alloc(64, 7), hugeToken]) assert.ok(await closesOn(port, Buffer.concat([header ?? Buffer.alloc(0), garbage])), `${where}: bad bytes close the connection`);
  }
}

for (const [x, y] of [['zookeeper', 'paddock'], ['paddock', 'zookeeper']] as [ServerKind, ServerKind][]) {
  describe(`mixed ensemble (${x}, ${y}, ${x}) with quorum SASL required`, { timeout: 300_000 }, () => {
    const name = `mixed-${x}`;
    let ens: TestEnsemble;
    before(async () => {
      for (const id of [1, 2, 3]) setPassword(name, id, PASSWORD);
      const kinds = [x, y, x];
      ens = await TestEnsemble.create(`quorum-sasl-${name}`, [1, 2, 3].map((id) => ({ id, kind: kinds[id - 1], jvmFlags: [jaasFlag(name, id)] })), { tickTime: 300, cfg: SASL_REQUIRED, waitMs: WAIT_MS, zkLog: true });
    });
    after(() => ens.close());

    it(`forms with a ${x} leader; writes through each are read on each`, async () => {
      // The two ${x} members first: of equal histories the higher id, 3, leads.
      await Promise.all([ens.start(1, { noWait: true }), ens.start(3, { noWait: true })]);
      assert.deepEqual(await ens.settled(), { leader: 3, followers: [1], observers: [] });
      await ens.start(2, { noWait: true });
      assert.deepEqual(await ens.settled(), { leader: 3, followers: [1, 2], observers: [] });
      await replicates(ens, 'first', [1, 2, 3], [1, 2, 3]);
      const log = (id: number) => ens.server(id).output();
      for (const id of ens.ids) {
        assert.match(log(id), ens.kind(id) === 'zookeeper' ? /Successfully authenticated learner: authenticationID=zkquorum;\s+authorizationID=zkquorum/ : /quorum SASL: server \d \(election, .*\) authenticated as zkquorum/);
      }
      const zookeepers = ens.ids.filter((id) => ens.kind(id) === 'zookeeper');
      const handshakesWithZooKeeper = ens.ids
        .filter((id) => ens.kind(id) === 'paddock')
        .flatMap((id) => zookeepers.filter((z) => new RegExp(`quorum SASL: (server ${z} \\(election, [^)]*\\) authenticated as|authenticated to server ${z} \\(election\\) as) zkquorum`).test(log(id))));
      assert.ok(handshakesWithZooKeeper.length > 0, 'a Paddock member and a ZooKeeper one authenticated on the election port');
    });

    it('a hand-made peer: the right credentials pass; a wrong password, or the right one to act as another user (CVE-2023-44981), is refused', async () => {
      await handMadePeers(ens, 3);
    });

    it(`the ${x} leader killed, the ${y} member leads and the ${x} one follows; the killed one comes back as a follower`, async () => {
      await ens.kill(3);
      assert.equal((await ens.settled([1, 2])).leader, 2, `the ${y} member of the higher id leads`);
      await replicates(ens, 'failover', [1, 2], [1, 2]);
      await ens.start(3, { noWait: true });
      assert.deepEqual(await ens.settled(), { leader: 2, followers: [1, 3], observers: [] });
      await replicates(ens, 'back', [1, 2, 3], [1, 2, 3]);
      // Each learner of the other kind authenticated on the leader's quorum port.
      if (y === 'paddock') {
        const learners = ens.server(2).output().match(/quorum SASL: learner at .* \(quorum port\) authenticated as zkquorum/g) ?? [];
        assert.ok(learners.length >= 2, `both ZooKeeper learners authenticated on leader 2's quorum port (${learners.length} handshakes logged)`);
      } else for (const id of [1, 3]) assert.match(ens.server(id).output(), /quorum SASL: authenticated to leader 2 \(quorum port\) as zkquorum/);
    });

    it(`a ${x} member with a wrong password is refused by both kinds and cannot join; the others serve`, async () => {
      await refusedWithWrongPassword(ens, name, 3);
    });
  });
}

describe('the rolling-upgrade path: quorum SASL enabled, not required', { timeout: 300_000 }, () => {
  const name = 'rolling';
  let ens: TestEnsemble;
  before(async () => {
    for (const id of [1, 2, 3]) setPassword(name, id, PASSWORD);
    const kinds: ServerKind[] = ['paddock', 'paddock', 'zookeeper'];
    ens = await TestEnsemble.create(`quorum-sasl-${name}`, [1, 2, 3].map((id) => ({ id, kind: kinds[id - 1], jvmFlags: [jaasFlag(name, id)] })), { tickTime: 300, cfg: { 'quorum.auth.enableSasl': 'true' }, waitMs: WAIT_MS, zkLog: true });
  });
  after(() => ens.close());

  it('members that authenticate and members that do not form one ensemble, each kind accepting both', async () => {
    // Member 2 authenticates on every connection it opens; 1 and 3 on none.
    await Promise.all([ens.start(1, { noWait: true }), ens.start(3, { noWait: true })]);
    assert.deepEqual(await ens.settled(), { leader: 3, followers: [1], observers: [] }, 'of equal histories the higher id leads');
    await ens.start(2, { noWait: true, cfg: { 'quorum.auth.learnerRequireSasl': 'true' } });
    assert.deepEqual(await ens.settled(), { leader: 3, followers: [1, 2], observers: [] });
    await replicates(ens, 'rolling', [1, 2, 3], [1, 2, 3]);
    assert.match(ens.server(2).output(), /quorum SASL: authenticated to leader 3 \(quorum port\) as zkquorum/);
    assert.match(ens.server(3).output(), /Successfully authenticated learner: authenticationID=zkquorum/);
    assert.doesNotMatch(ens.server(1).output(), /quorum SASL: authenticated to/, 'member 1 does not authenticate');
    // ZooKeeper member 3 dials the lower ids without authenticating: the Paddock members took it.
    assert.doesNotMatch(ens.server(1).output() + ens.server(2).output(), /quorum SASL: refused/);
  });
});

describe('quorum SASL settings at start-up', () => {
  const JAAS = '/etc/paddock/jaas.conf';
  const QUORUM = 'tickTime=2000\ndataDir=/var/paddock\nclientPort=2181\ninitLimit=5\nsyncLimit=2\nserver.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\n';
  const parseWith = (jaas: string | null, cfg: string, quorum = QUORUM) =>
    parseConfig(quorum + cfg, {
      path: 'zoo.cfg',
      env: { SERVER_JVMFLAGS: jaas === null ? '' : `-Djava.security.auth.login.config=${JAAS}` },
      readFile: (p) => {
        if (p === '/var/paddock/myid') return '1\n';
        if (p !== JAAS || jaas === null) throw new Error(`ENOENT: no such file or directory, open '${p}'`);
        return jaas;
      },
    });
  const refuse = (fn: () => unknown, message: RegExp) =>
    assert.throws(fn, (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.match(e.message, message);
      return true;
    });
  const required = Object.entries(SASL_REQUIRED).map(([k, v]) => `${k}=${v}\n`).join('');

  test('the QuorumServer users and the QuorumLearner credentials; off unless enableSasl; standalone ignores it', () => {
    const cfg = parseWith(jaasText('pw'), required + 'quorum.cnxn.threads.size=20\n');
    assert.deepEqual(cfg.quorumAuth, { learnerRequireSasl: true, serverRequireSasl: true, users: new Map([[USER, PASSWORD]]), learner: { username: USER, password: 'pw' } });
    assert.deepEqual(cfg.ignored, []);
    assert.equal(parseWith(null, 'quorum.auth.enableSasl=false\nquorum.cnxn.threads.size=20\n').quorumAuth, null);
    assert.equal(parseWith(null, required, 'tickTime=2000\ndataDir=/var/paddock\nclientPort=2181\n').quorumAuth, null);
    // enableSasl alone: answer peers that authenticate, let the others in (the rolling-upgrade path)
    assert.deepEqual(parseWith(jaasText('pw'), 'quorum.auth.enableSasl=true\n').quorumAuth, { learnerRequireSasl: false, serverRequireSasl: false, users: new Map([[USER, PASSWORD]]), learner: { username: USER, password: 'pw' } });
  });

  test('the login contexts can be renamed; the Kerberos service principal is noted as ignored', () => {
    const jaas = `Peers { org.apache.zookeeper.server.auth.DigestLoginModule required user_a="1" user_b="2"; };
Me { org.apache.zookeeper.server.auth.DigestLoginModule required username="a" password="1"; };`;
    const cfg = parseWith(jaas, required + 'quorum.auth.server.saslLoginContext=Peers\nquorum.auth.learner.saslLoginContext=Me\nquorum.auth.kerberos.servicePrincipal=zkquorum/_HOST\n');
    assert.deepEqual(cfg.quorumAuth?.users, new Map([['a', '1'], ['b', '2']]));
    assert.deepEqual(cfg.quorumAuth?.learner, { username: 'a', password: '1' });
    assert.deepEqual(cfg.ignored, ['zoo.cfg line 13: quorum.auth.kerberos.servicePrincipal is for Kerberos, which Paddock does not do (DIGEST-MD5 only); ignored']);
  });

  test('what ZooKeeper refuses to start with stops start-up with a clear message', () => {
    refuse(() => parseWith(null, required), /^quorum\.auth\.enableSasl=true needs a JAAS file: set -Djava\.security\.auth\.login\.config=<file> in SERVER_JVMFLAGS/);
    const serverOnly = 'QuorumServer { org.apache.zookeeper.server.auth.DigestLoginModule required user_a="1"; };';
    refuse(() => parseWith(serverOnly, 'quorum.auth.enableSasl=true\n'), /: no section QuorumLearner \(quorum\.auth\.learner\.saslLoginContext\), which quorum\.auth\.enableSasl=true needs/);
    refuse(() => parseWith(jaasText('pw'), 'quorum.auth.enableSasl=true\nquorum.auth.server.saslLoginContext=Other\n'), /no section Other \(quorum\.auth\.server\.saslLoginContext\)/);
    refuse(
      () => parseWith(serverOnly + 'QuorumLearner { org.apache.zookeeper.server.auth.DigestLoginModule required username="a"; };', required),
      /section QuorumLearner needs username="<name>" and password="<password>", as quorum\.auth\.learnerRequireSasl=true/,
    );
    refuse(
      () => parseWith(serverOnly + 'QuorumLearner { com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab="/k" principal="zkquorum/h@R"; };', required),
      /section QuorumLearner uses com\.sun\.security\.auth\.module\.Krb5LoginModule: Kerberos \(GSSAPI\) is not supported by Paddock/,
    );
    refuse(() => parseWith(jaasText('pw'), 'quorum.auth.enableSasl=true\nquorum.auth.serverRequireSasl=true\n'), /quorum\.auth\.serverRequireSasl: needs quorum\.auth\.learnerRequireSasl=true/);
    refuse(() => parseWith(jaasText('pw'), 'quorum.auth.enableSasl=yes\n'), /quorum\.auth\.enableSasl: 'yes' is not true or false/);
  });
});
