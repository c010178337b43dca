// TLS between ensemble members (sslQuorum, the ssl.quorum.* settings,
// portUnification), against ZooKeeper 3.8 members in the same ensembles:
// certificates made with openssl (a CA, a member certificate for 127.0.0.1,
// one from a rogue CA, one naming another host); a Paddock ensemble with
// sslQuorum forms, replicates and refuses plaintext and certificate-less
// connections on its quorum and election ports; mixed ensembles in which each
// kind leads and follows over TLS; a member with an untrusted certificate, or
// with one for another host (hostname verification), cannot join, of each
// kind, and the others keep serving; a rolling switch from plaintext to TLS
// through portUnification keeps the ensemble serving; a key store reloaded in
// place (sslQuorumReloadCertFiles); start-up errors.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import { ConfigError, parseConfig } from '../src/config/config.ts';
import { encodeConnectHeader } from '../src/proto/election.ts';
import { SILENT } from '../src/log.ts';
import { encodePacket, PacketType } from '../src/proto/quorum.ts';
import { quorumTransport } from '../src/tls/quorum.ts';
import { Acknowledged, TestEnsemble, type MemberSpec, type ServerKind } from './support/ensemble.ts';
import { waitFor } from './support/wait.ts';

const PASS = 'secret';
const WAIT_MS = 90_000;

let pki: string;
const f = (name: string) => join(pki, name);

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: pki, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** <name>.p12 (password PASS): a key and a certificate for `subject`, signed by `ca`, with `san` as subjectAltName. */
function issue(name: string, subject: string, ca: string, san: string): void {
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
  writeFileSync(f(`${name}.ext`), `subjectAltName=${san}\n`);
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '2', '-out', `${name}.crt`, '-extfile', f(`${name}.ext`));
  openssl('pkcs12', '-export', '-in', `${name}.crt`, '-inkey', `${name}.key`, '-out', `${name}.p12`, '-passout', `pass:${PASS}`);
}

before(() => {
  pki = mkdtempSync(join(tmpdir(), 'quorum-tls-pki-'));
  for (const ca of ['ca', 'rogue']) {
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${ca}.key`, '-out', `${ca}.crt`, '-days', '2', '-subj', `/CN=${ca} test CA`);
  }
  issue('member', '/CN=localhost/O=Paddock ensemble', 'ca', 'IP:127.0.0.1,DNS:localhost');
  issue('intruder', '/CN=localhost/O=intruder', 'rogue', 'IP:127.0.0.1,DNS:localhost');
  issue('elsewhere', '/CN=elsewhere.example/O=Paddock ensemble', 'ca', 'DNS:elsewhere.example');
  // A trust store Java reads as PKCS12 needs keytool (OpenSSL cannot mark a certificate trusted for Java).
  execFileSync('keytool', ['-importcert', '-noprompt', '-storetype', 'PKCS12', '-keystore', f('trust.p12'), '-storepass', PASS, '-alias', 'ca', '-file', f('ca.crt')], { stdio: 'ignore' });
});

after(() => rmSync(pki, { recursive: true, force: true }));

/** The ssl.quorum.* settings of a member whose certificate is <keyStore>.p12, as zoo.cfg lines. */
function stores(keyStore = 'member'): Record<string, string> {
  return {
    'ssl.quorum.keyStore.location': f(`${keyStore}.p12`),
    'ssl.quorum.keyStore.password': PASS,
    'ssl.quorum.trustStore.location': f('trust.p12'),
    'ssl.quorum.trustStore.password': PASS,
  };
}

/** The same settings as -D flags (zookeeper.ssl.quorum.*: Paddock's SERVER_JVMFLAGS, ZooKeeper's java arguments). */
function storeFlags(keyStore = 'member'): string[] {
  return Object.entries(stores(keyStore)).map(([k, v]) => `-Dzookeeper.${k}=${v}`);
}

const TLS_ON = { sslQuorum: 'true' };

async function ensemble(name: string, specs: MemberSpec[]): Promise<TestEnsemble> {
  return TestEnsemble.create(name, specs, { waitMs: WAIT_MS, zkLog: true });
}

/** Start every member with `cfg` (and the stores in zoo.cfg, unless it has them as flags), then wait for them to settle. */
async function startAll(ens: TestEnsemble, cfg: Record<string, string>, flagged: number[] = []) {
  for (const id of ens.ids) await ens.start(id, { noWait: true, cfg: { ...(flagged.includes(id) ? {} : stores()), ...cfg } });
  return ens.settled();
}

/** What a peer gets back after sending `bytes` to 127.0.0.1:`port`: the bytes the member answered before it closed. */
function probe(port: number, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write(bytes));
    const got: Buffer[] = [];
    socket.on('data', (d) => got.push(d));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(got)));
  });
}

/** A TLS client that trusts the CA but has no certificate: whether the member handed it any bytes before it closed. */
function certificateLessProbe(port: number, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca: readFileSync(f('ca.crt')), checkServerIdentity: () => undefined }, () => socket.write(bytes));
    const got: Buffer[] = [];
    socket.on('data', (d) => got.push(d));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(Buffer.concat(got)));
  });
}

/** Wait until member `id`'s output from `since` on matches `line`. */
function logSays(ens: TestEnsemble, id: number, line: RegExp, since = 0): Promise<true> {
  return waitFor(`member ${id} to log ${line}`, WAIT_MS, () => line.test(ens.server(id).output().slice(since)) || null);
}

/** A write through each of `ids` (default: every running member), then every acknowledged write read on each. */
async function writesEverywhere(ens: TestEnsemble, acked: Acknowledged, tag: string, ids = ens.runningIds): Promise<void> {
  await acked.throughEach(tag, ids);
  await acked.everywhere(ids);
}

test('a Paddock ensemble with sslQuorum forms, replicates, and its quorum and election ports take no plaintext and no certificate-less peer', async () => {
  // Member 3 has its stores as -D flags (SERVER_JVMFLAGS), the others as zoo.cfg lines.
  const ens = await ensemble('quorum-tls-paddock', [{ id: 1 }, { id: 2 }, { id: 3, jvmFlags: storeFlags() }]);
  try {
    const { leader, followers } = await startAll(ens, TLS_ON, [3]);
    const root = await ens.connect(leader);
    await root.create('/tls', '');
    const acked = new Acknowledged(ens, '/tls');
    await writesEverywhere(ens, acked, 'first');

    // A plaintext peer naming itself server 2 on every election port, and a plaintext learner on the leader's quorum port.
    const header = encodeConnectHeader(2, [{ host: '127.0.0.1', port: ens.peerPorts(2).electionPort }]);
    for (const id of ens.ids) {
      assert.equal((await probe(ens.peerPorts(id).electionPort, header)).length, 0, `member ${id}'s election port answers no plaintext peer`);
      await logSays(ens, id, /refusing election connection from 127\.0\.0\.1:\d+: plaintext on the secure election port/);
    }
    const ping = encodePacket({ type: PacketType.PING, zxid: 0, data: null, authinfo: null });
    assert.equal((await probe(ens.peerPorts(leader).quorumPort, ping)).length, 0, 'the quorum port answers no plaintext learner');
    await logSays(ens, leader, /refusing quorum connection from 127\.0\.0\.1:\d+: plaintext on the secure quorum port/);
    // TLS without a certificate: ssl.quorum.clientAuth is need by default.
    assert.equal((await certificateLessProbe(ens.peerPorts(followers[0]!).electionPort, header)).length, 0);
    await logSays(ens, followers[0]!, /refusing election connection from .*: no client certificate, and ssl\.quorum\.clientAuth=need/);
    assert.equal((await certificateLessProbe(ens.peerPorts(leader).quorumPort, ping)).length, 0);
    await logSays(ens, leader, /refusing quorum connection from .*: no client certificate, and ssl\.quorum\.clientAuth=need/);

    // None of it disturbed the ensemble.
    await writesEverywhere(ens, acked, 'after-probes');

    // Hostname verification: member 3 with a certificate the CA issued for another host (zoo.cfg wins over its -D flags) is refused.
    await ens.stop(3);
    const since = ens.server(1).output().length;
    await ens.start(3, { noWait: true, cfg: { ...stores('elsewhere'), ...TLS_ON } });
    await logSays(ens, 1, /refusing election connection from 127\.0\.0\.1:\d+: hostname verification failed: certificate CN=elsewhere\.example, O=Paddock ensemble \(DNS:elsewhere\.example\) matches neither 127\.0\.0\.1 nor localhost/, since);
    await writesEverywhere(ens, acked, 'without-3', [1, 2]);
    assert.equal(await ens.mode(3), null, 'member 3 does not serve');
    // ...and joins once nobody verifies hostnames.
    const noVerification = { ...TLS_ON, 'ssl.quorum.hostnameVerification': 'false' };
    for (const id of ens.ids) await ens.stop(id);
    for (const id of ens.ids) await ens.start(id, { noWait: true, cfg: { ...stores(id === 3 ? 'elsewhere' : 'member'), ...noVerification } });
    await ens.settled();
    await writesEverywhere(ens, acked, 'no-hostname-verification');
  } finally {
    await ens.close();
  }
});

test('sslQuorumReloadCertFiles: a member refused for its certificate joins once its key store file holds a trusted one', async () => {
  const live = f('live.p12');
  copyFileSync(f('intruder.p12'), live);
  const ens = await ensemble('quorum-tls-reload', [{ id: 1 }, { id: 2 }, { id: 3 }]);
  try {
    await ens.start(1, { noWait: true, cfg: { ...stores(), ...TLS_ON } });
    await ens.start(2, { noWait: true, cfg: { ...stores(), ...TLS_ON } });
    await ens.start(3, { noWait: true, cfg: { ...stores(), 'ssl.quorum.keyStore.location': live, ...TLS_ON, sslQuorumReloadCertFiles: 'true' } });
    await ens.settled([1, 2]);
    await logSays(ens, 1, /refusing election connection from 127\.0\.0\.1:\d+: client certificate CN=localhost, O=intruder not trusted/);
    assert.equal(await ens.mode(3), null, 'member 3 does not serve');
    copyFileSync(f('member.p12'), live);
    await logSays(ens, 3, /quorum TLS key and trust stores reloaded; new connections use them/);
    await ens.settled();
    const acked = new Acknowledged(ens, '');
    await writesEverywhere(ens, acked, 'reloaded');
  } finally {
    await ens.close();
  }
});

test('start-up errors name the ssl.quorum setting: no key store, a JKS store, a bad clientAuth or hostnameVerification', () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ sslQuorum: 'true' }, /ssl\.quorum\.keyStore\.location: not set; sslQuorum=true needs this member's certificate and key/],
    [{ portUnification: 'true' }, /ssl\.quorum\.keyStore\.location: not set; portUnification=true needs/],
    [{ sslQuorum: 'true', 'ssl.quorum.keyStore.location': f('member.jks') }, /ssl\.quorum\.keyStore\.location: .*member\.jks is a JKS store.*keytool -importkeystore/],
    [{ sslQuorum: 'true', ...stores(), 'ssl.quorum.clientAuth': 'maybe' }, /ssl\.quorum\.clientAuth: 'maybe' is not one of need, want, none/],
    [{ sslQuorum: 'true', ...stores(), 'ssl.quorum.hostnameVerification': 'yes' }, /ssl\.quorum\.hostnameVerification: 'yes' is not true or false/],
    [{ sslQuorum: 'true', ...stores(), 'ssl.quorum.keyStore.password': 'wrong' }, /ssl\.quorum\.keyStore\.location: .*member\.p12 \(PKCS12\): cannot decrypt \(wrong password\?\)/],
  ];
  for (const [settings, expected] of cases) {
    const cfg = { dataDir: pki, clientPort: 1, initLimit: 10, syncLimit: 5, 'server.1': '127.0.0.1:2:3', 'server.2': '127.0.0.1:4:5', ...settings };
    const config = parseConfig(Object.entries(cfg).map(([k, v]) => `${k}=${v}`).join('\n'), { path: null, env: {}, readFile: () => '1\n' });
    assert.throws(() => quorumTransport(config, SILENT), (e: Error) => e instanceof ConfigError && expected.test(e.message), JSON.stringify(settings));
  }
});

/**
 * Kill the leader until each kind has led (at most three times), restarting
 * the killed member each time; the writes through every member are read on
 * every member after each change; each kind also followed meanwhile.
 */
async function eachKindLeads(ens: TestEnsemble, acked: Acknowledged, cfg: Record<string, string>): Promise<void> {
  const led = new Set<ServerKind>();
  const followed = new Set<ServerKind>();
  let settled = await ens.settled();
  for (let round = 0; ; round++) {
    led.add(ens.kind(settled.leader));
    for (const id of settled.followers) followed.add(ens.kind(id));
    await writesEverywhere(ens, acked, `round${round}`);
    if (led.size === 2 || round === 3) break;
    const deposed = settled.leader;
    await ens.kill(deposed);
    settled = await ens.settled();
    led.add(ens.kind(settled.leader));
    await writesEverywhere(ens, acked, `round${round}-without-${deposed}`);
    await ens.start(deposed, { noWait: true, cfg: { ...stores(), ...cfg } });
    settled = await ens.settled();
  }
  assert.deepEqual([...led].sort(), ['paddock', 'zookeeper'], 'each kind led');
  assert.deepEqual([...followed].sort(), ['paddock', 'zookeeper'], 'each kind followed');
}

/**
 * Restart member `id` with the certificate in <keyStore>.p12: it cannot join,
 * `says` shows on member `witness`'s log why, and the others keep serving;
 * restarted with its own certificate it catches up.
 */
async function refusedMember(ens: TestEnsemble, acked: Acknowledged, id: number, keyStore: string, witness: number, says: RegExp): Promise<void> {
  const others = ens.ids.filter((m) => m !== id);
  await ens.stop(id);
  const since = ens.server(witness).output().length;
  await ens.start(id, { noWait: true, cfg: { ...stores(keyStore), ...TLS_ON } });
  await logSays(ens, witness, says, since);
  await ens.settled(others);
  await writesEverywhere(ens, acked, `while-${id}-has-${keyStore}`, others);
  assert.equal(await ens.mode(id), null, `member ${id} with the ${keyStore} certificate does not serve`);
  await ens.stop(id);
  await ens.start(id, { noWait: true, cfg: { ...stores(), ...TLS_ON } });
  await ens.settled();
  await writesEverywhere(ens, acked, `after-${id}-rejoined`);
}

for (const kinds of [['zookeeper', 'paddock', 'zookeeper'], ['paddock', 'zookeeper', 'paddock']] as ServerKind[][]) {
  test(`mixed ensemble (${kinds.join(', ')}) with sslQuorum: each kind leads and follows; a member with an untrusted certificate, or one for another host, cannot join`, async () => {
    const ens = await ensemble(`quorum-tls-${kinds.join('-')}`, kinds.map((kind, i) => ({ id: i + 1, kind })));
    try {
      const { leader } = await startAll(ens, TLS_ON);
      await (await ens.connect(leader)).create('/tls', '');
      const acked = new Acknowledged(ens, '/tls');
      await eachKindLeads(ens, acked, TLS_ON);

      // A follower of the outer kind with a certificate from a CA nobody trusts; a Paddock member says why it is refused.
      const { followers } = await ens.settled();
      const intruder = followers.find((id) => ens.kind(id) === kinds[0])!;
      const paddock = ens.ids.find((id) => id !== intruder && ens.kind(id) === 'paddock')!;
      const untrusted = /refusing (election|quorum) connection from 127\.0\.0\.1:\d+: (client certificate CN=localhost, O=intruder not trusted|no client certificate)|refusing server 127\.0\.0\.1:\d+: its certificate CN=localhost, O=intruder is not trusted/;
      await refusedMember(ens, acked, intruder, 'intruder', paddock, untrusted);
      // The middle member with a trusted certificate for another host: member 1, of the other kind, verifies hostnames and refuses it.
      const otherHost = kinds[0] === 'zookeeper' ? /ZKTrustManager.* - Failed to verify host address: 127\.0\.0\.1/ : /refusing (election|quorum) connection from 127\.0\.0\.1:\d+: hostname verification failed: certificate CN=elsewhere\.example/;
      await refusedMember(ens, acked, 2, 'elsewhere', 1, otherHost);
    } finally {
      await ens.close();
    }
  });
}

test('a rolling switch from plaintext to TLS (portUnification, then sslQuorum, then TLS only), one member at a time, keeps a mixed ensemble serving', async () => {
  const ens = await ensemble('quorum-tls-rolling', [{ id: 1 }, { id: 2, kind: 'zookeeper' }, { id: 3 }]);
  try {
    const { leader } = await startAll(ens, {});
    await (await ens.connect(leader)).create('/rolling', '');
    const acked = new Acknowledged(ens, '/rolling');
    await writesEverywhere(ens, acked, 'plaintext');
    const phases: [string, Record<string, string>][] = [
      ['unified', { portUnification: 'true' }],
      ['tls-dialling', { sslQuorum: 'true', portUnification: 'true' }],
      ['tls-only', { sslQuorum: 'true' }],
    ];
    for (const [phase, cfg] of phases) {
      for (const id of ens.ids) {
        await ens.stop(id);
        await ens.start(id, { noWait: true, cfg: { ...stores(), ...cfg } });
        await ens.settled();
        await writesEverywhere(ens, acked, `${phase}-${id}`);
      }
    }
    // Now TLS only: the Paddock members take no plaintext peer.
    const header = encodeConnectHeader(2, [{ host: '127.0.0.1', port: ens.peerPorts(2).electionPort }]);
    for (const id of [1, 3]) {
      assert.equal((await probe(ens.peerPorts(id).electionPort, header)).length, 0);
      await logSays(ens, id, /refusing election connection from 127\.0\.0\.1:\d+: plaintext on the secure election port/);
    }
  } finally {
    await ens.close();
  }
});
