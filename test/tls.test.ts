// Client TLS and x509 authentication, side by side against ZooKeeper 3.8
// (NettyServerCnxnFactory, Netty from Debian's libnetty-java) and Paddock:
// a CA, server and client certificates made with openssl; the Java client
// (ClientCnxnSocketNetty, zookeeper.client.secure) and kazoo (use_ssl) on the
// secure port with PEM and PKCS12 stores; ssl.clientAuth need/want; an x509 ACL
// only its certificate's holder reads; the plaintext port still served; port
// unification; bad handshakes refused without disturbing anyone else. Cert
// reload (client.certReload, ZooKeeper 3.8.1+; Debian's 3.8.0 lacks it) and
// start-up errors are Paddock's alone.

import assert from 'node:assert/strict';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { ROOT, NETTY_EXTRA, fourLetterWord, freePort, startServer, type RunningServer } from './support/servers.ts';
import { waitFor } from './support/wait.ts';
import { openSslCipher } from '../src/tls/settings.ts';
import { isDistinguishedName, subjectName } from '../src/tls/x500.ts';

const run = promisify(execFile);
const KINDS = ['zookeeper', 'paddock'] as const;
const PASS = 'secret';
const NETTY_FACTORY = 'org.apache.zookeeper.server.NettyServerCnxnFactory';
const X509_PROVIDER = 'org.apache.zookeeper.server.auth.X509AuthenticationProvider';
/** The subject of client A: characters RFC 2253 escapes, and an attribute (emailAddress) without a keyword. */
const SUBJECT_A = '/C=US/O=Paddock Test/OU=a\\+b, c=d;e<f>/CN=client one/emailAddress=one@example.com';
/** ZooKeeper 3.8 prints client A's x509 id so (checked against it below). */
const ID_A = '1.2.840.113549.1.9.1=#160f6f6e65406578616d706c652e636f6d,CN=client one,OU=a\\+b\\, c\\=d\\;e\\<f\\>,O=Paddock Test,C=US';

let pki: string;
let classes: string;
const f = (name: string) => join(pki, name);

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: pki, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A key and a certificate for `subject` signed by `ca` (PEM files <name>.key, <name>.crt, <name>.pem = both). */
function issue(name: string, subject: string, ca: string, ext?: string): void {
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
  const extArgs = ext ? ['-extfile', f(`${name}.ext`)] : [];
  if (ext) writeFileSync(f(`${name}.ext`), `${ext}\n`);
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '2', '-out', `${name}.crt`, ...extArgs);
  execFileSync('sh', ['-c', `cat ${name}.crt ${name}.key > ${name}.pem`], { cwd: pki });
  openssl('pkcs12', '-export', '-in', `${name}.crt`, '-inkey', `${name}.key`, '-out', `${name}.p12`, '-passout', `pass:${PASS}`);
}

before(async () => {
  pki = mkdtempSync(join(tmpdir(), 'tls-pki-'));
  for (const ca of ['ca', 'rogue']) {
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${ca}.key`, '-out', `${ca}.crt`, '-days', '2', '-subj', `/CN=${ca} test CA`);
  }
  copyFileSync(f('ca.crt'), f('ca.pem'));
  const serverExt = 'subjectAltName=IP:127.0.0.1,DNS:localhost';
  issue('server', '/CN=localhost', 'ca', serverExt);
  issue('server2', '/CN=localhost/O=reloaded', 'ca', serverExt);
  issue('clientA', SUBJECT_A, 'ca');
  issue('clientB', '/CN=client two', 'ca');
  issue('intruder', '/CN=intruder', 'rogue');
  // A key store whose chain carries a CA the trust store does not: sent to peers, never trusted.
  openssl('pkcs12', '-export', '-in', 'server.crt', '-inkey', 'server.key', '-certfile', 'rogue.crt', '-out', 'server-chain.p12', '-passout', `pass:${PASS}`);
  // A trust store Java reads as PKCS12 needs keytool (OpenSSL 3.0 cannot mark a certificate trusted for Java).
  execFileSync('keytool', ['-importcert', '-noprompt', '-storetype', 'PKCS12', '-keystore', f('trust.p12'), '-storepass', PASS, '-alias', 'ca', '-file', f('ca.crt')], { stdio: 'ignore' });
  classes = join(pki, 'classes');
  await run('javac', ['-nowarn', '-cp', '/usr/share/java/zookeeper.jar', '-d', classes, join(ROOT, 'test', 'java', 'TlsProbe.java')], { timeout: 120_000 });
});

after(() => rmSync(pki, { recursive: true, force: true }));

interface Stores {
  keyStore: string;
  trustStore: string;
}
const PEM: Stores = { keyStore: 'server.pem', trustStore: 'ca.pem' };
const PKCS12: Stores = { keyStore: 'server.p12', trustStore: 'trust.p12' };

/** Both servers with the same TLS configuration; `securePort` is each one's TLS port (0 if none). */
async function startBoth(stores: Stores, extra: Record<string, string | number> = {}, secure = true): Promise<{ kind: string; server: RunningServer; securePort: number }[]> {
  const out = [];
  for (const kind of KINDS) {
    const securePort = secure ? await freePort() : 0;
    const cfg: Record<string, string | number> = {
      serverCnxnFactory: NETTY_FACTORY,
      'ssl.keyStore.location': f(stores.keyStore),
      ...password(stores.keyStore, 'keyStore'),
      'ssl.trustStore.location': f(stores.trustStore),
      'ssl.trustStore.password': PASS,
      ...(secure ? { secureClientPort: securePort, secureClientPortAddress: '127.0.0.1' } : {}),
      ...extra,
    };
    out.push({ kind, server: await startServer(kind, { cfg }), securePort });
  }
  return out;
}

async function stopAll(servers: { server: RunningServer }[]): Promise<void> {
  await Promise.all(servers.map((s) => s.server.stop()));
}

/** PKCS12 stores have a password; PEM keys are unencrypted, and Java's PEM reader then refuses a password. */
function password(store: string, kind: 'keyStore'): Record<string, string> {
  return store.endsWith('.p12') ? { [`ssl.${kind}.password`]: PASS } : {};
}

type Step = Record<string, unknown>;

/** The Java client over TLS (Netty socket), with a key store when `keyStore` is given; its JSON lines. */
async function javaClient(port: number, keyStore: string | null, steps: string[]): Promise<Step[]> {
  const flags = [
    '-Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty',
    '-Dzookeeper.client.secure=true',
    `-Dzookeeper.ssl.trustStore.location=${f('ca.pem')}`,
    ...(keyStore ? [`-Dzookeeper.ssl.keyStore.location=${f(keyStore)}`, ...Object.entries(password(keyStore, 'keyStore')).map(([k, v]) => `-Dzookeeper.${k}=${v}`)] : []),
  ];
  const cp = [classes, '/usr/share/java/zookeeper.jar', NETTY_EXTRA, '/usr/share/java/slf4j-nop.jar'].join(':');
  const { stdout } = await run('java', ['-Xmx128m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', ...flags, '-cp', cp, 'TlsProbe', `127.0.0.1:${port}`, ...steps], { timeout: 90_000 });
  return stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Step);
}

const KAZOO = `
import json, sys
from kazoo.client import KazooClient
from kazoo.security import ACL, Id, Permissions
a = json.loads(sys.argv[1])
zk = KazooClient(hosts=a['hosts'], use_ssl=a['ssl'], ca=a.get('ca'), certfile=a.get('cert'), keyfile=a.get('key'), verify_certs=True, timeout=5)
try:
    zk.start(timeout=10)
except Exception as e:
    print(json.dumps({'step': 'connect', 'ok': False}))
    zk.close()
    sys.exit(0)
print(json.dumps({'step': 'connect', 'ok': True}))
for step in a['steps']:
    op, path = step.split(':', 1)
    try:
        if op == 'get':
            print(json.dumps({'step': step, 'ok': True, 'data': zk.get(path)[0].decode()}))
        elif op == 'badacl':
            zk.create(path, b'k', acl=[ACL(Permissions.ALL, Id('x509', 'not a distinguished name'))])
            print(json.dumps({'step': step, 'ok': True}))
        else:
            zk.create(path, b'k')
            print(json.dumps({'step': step, 'ok': True}))
    except Exception as e:
        print(json.dumps({'step': step, 'ok': False, 'code': type(e).__name__}))
zk.stop()
zk.close()
`;

/** kazoo on `port`, over TLS when `ssl`, with client certificate `cert` (PEM files) when given. */
async function kazoo(port: number, ssl: boolean, cert: string | null, steps: string[]): Promise<Step[]> {
  const args = { hosts: `127.0.0.1:${port}`, ssl, ca: f('ca.pem'), ...(cert ? { cert: f(`${cert}.crt`), key: f(`${cert}.key`) } : {}), steps };
  const { stdout } = await run('/usr/bin/python3', ['-c', KAZOO, JSON.stringify(args)], { timeout: 90_000 });
  return stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Step);
}

/** A raw TLS handshake with Node's client; resolves with the server's certificate and the cipher, or the error. */
function handshake(port: number, opts: tls.ConnectionOptions = {}): Promise<{ ok: boolean; subject?: string; cipher?: string; error?: string }> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: [execFileSync('cat', [f('ca.crt')])], ...opts });
    const timer = setTimeout(() => s.destroy(new Error('timeout')), 15_000);
    s.once('secureConnect', () => {
      // TLS 1.3 reports a refused client certificate only after the handshake: wait for the close or for quiet.
      const cert = s.getPeerCertificate();
      const result = { ok: true, subject: `${cert.subject.CN}/${cert.subject.O ?? ''}`, cipher: s.getCipher().standardName };
      setTimeout(() => {
        clearTimeout(timer);
        s.destroy();
        resolve(result);
      }, 300);
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      resolve({ ok: false, error: e.message });
    });
  });
}

test('PEM stores, clientAuth=need: Java and kazoo with a certificate are served and get its x509 id; without one they are refused; the plain port is still served', async () => {
  const servers = await startBoth(PEM, { 'ssl.clientAuth': 'need' });
  try {
    for (const { kind, server, securePort } of servers) {
      const a = await javaClient(securePort, 'clientA.pem', ['whoami', 'create:/secret:for-a:x509', 'get:/secret']);
      assert.deepEqual(a, [
        { step: 'connect', ok: true },
        { step: 'whoami', ids: [`x509=${ID_A}`, 'ip=127.0.0.1'] },
        { step: 'create:/secret:for-a:x509', ok: true },
        { step: 'get:/secret', ok: true, data: 'for-a' },
      ], kind);
      // The x509 ACL: the other certificate's holder, and a plaintext client, may not read it.
      const b = await javaClient(securePort, 'clientB.pem', ['whoami', 'get:/secret']);
      assert.deepEqual(b, [
        { step: 'connect', ok: true },
        { step: 'whoami', ids: ['x509=CN=client two', 'ip=127.0.0.1'] },
        { step: 'get:/secret', ok: false, code: 'NOAUTH' },
      ], kind);
      assert.deepEqual(await kazoo(server.port, false, null, ['create:/plain', 'badacl:/bad', 'get:/plain', 'get:/secret']), [
        { step: 'connect', ok: true },
        { step: 'create:/plain', ok: true },
        { step: 'badacl:/bad', ok: false, code: 'InvalidACLError' },
        { step: 'get:/plain', ok: true, data: 'k' },
        { step: 'get:/secret', ok: false, code: 'NoAuthError' },
      ], kind);
      assert.deepEqual(await kazoo(securePort, true, 'clientA', ['get:/secret', 'get:/plain']), [
        { step: 'connect', ok: true },
        { step: 'get:/secret', ok: true, data: 'for-a' },
        { step: 'get:/plain', ok: true, data: 'k' },
      ], kind);
      assert.deepEqual(await kazoo(securePort, true, 'clientB', ['get:/secret']), [
        { step: 'connect', ok: true },
        { step: 'get:/secret', ok: false, code: 'NoAuthError' },
      ], kind);
      // No certificate: ssl.clientAuth=need refuses the connection.
      assert.deepEqual(await javaClient(securePort, null, ['whoami']), [{ step: 'connect', ok: false }], kind);
      assert.deepEqual(await kazoo(securePort, true, null, ['get:/plain']), [{ step: 'connect', ok: false }], kind);
    }
    assert.match(servers[1]!.server.output(), /no client certificate, and ssl\.clientAuth=need \(.*\); closed/);
  } finally {
    await stopAll(servers);
  }
});

test('PKCS12 stores, clientAuth=want: a client with a PKCS12 key store gets its x509 id, one without a certificate is served without it; X509AuthenticationProvider.superUser', async () => {
  // In zoo.cfg it becomes the system property zookeeper.X509AuthenticationProvider.superUser, in both.
  const servers = await startBoth(PKCS12, { 'ssl.clientAuth': 'want', 'X509AuthenticationProvider.superUser': 'CN=client two' });
  try {
    for (const { kind, securePort } of servers) {
      assert.deepEqual(await javaClient(securePort, 'clientA.p12', ['whoami', 'create:/mine:a:x509', 'get:/mine']), [
        { step: 'connect', ok: true },
        { step: 'whoami', ids: [`x509=${ID_A}`, 'ip=127.0.0.1'] },
        { step: 'create:/mine:a:x509', ok: true },
        { step: 'get:/mine', ok: true, data: 'a' },
      ], kind);
      assert.deepEqual(await javaClient(securePort, null, ['whoami', 'get:/mine']), [
        { step: 'connect', ok: true },
        { step: 'whoami', ids: ['ip=127.0.0.1'] },
        { step: 'get:/mine', ok: false, code: 'NOAUTH' },
      ], kind);
      assert.deepEqual(await javaClient(securePort, 'clientB.p12', ['whoami', 'get:/mine']), [
        { step: 'connect', ok: true },
        { step: 'whoami', ids: ['super=', 'x509=CN=client two', 'ip=127.0.0.1'] },
        { step: 'get:/mine', ok: true, data: 'a' },
      ], kind);
      assert.deepEqual(await kazoo(securePort, true, null, ['create:/open', 'get:/open']), [
        { step: 'connect', ok: true },
        { step: 'create:/open', ok: true },
        { step: 'get:/open', ok: true, data: 'k' },
      ], kind);
    }
  } finally {
    await stopAll(servers);
  }
});

test("a PKCS12 key store's chain is sent, not trusted: a client certificate from a CA that only the key store holds is refused, as by ZooKeeper", async () => {
  const servers = await startBoth({ keyStore: 'server-chain.p12', trustStore: 'trust.p12' }, { 'ssl.clientAuth': 'need' });
  try {
    for (const { kind, securePort } of servers) {
      assert.deepEqual(await kazoo(securePort, true, 'intruder', ['get:/']), [{ step: 'connect', ok: false }], kind);
      assert.deepEqual(await kazoo(securePort, true, 'clientB', ['create:/chain', 'get:/chain']), [
        { step: 'connect', ok: true },
        { step: 'create:/chain', ok: true },
        { step: 'get:/chain', ok: true, data: 'k' },
      ], kind);
    }
    assert.match(servers[1]!.server.output(), /client certificate CN=intruder not trusted: [A-Z_]+; closed/);
  } finally {
    await stopAll(servers);
  }
});

test('bad input on the secure port: plaintext, a four-letter word, garbage, an untrusted certificate are closed; everyone else is served', async () => {
  // maxClientCnxns=3: the refused connections must not keep counting against the client's address.
  const servers = await startBoth(PEM, { 'ssl.clientAuth': 'want', maxClientCnxns: 3 });
  try {
    for (const { kind, server, securePort } of servers) {
      // A plaintext ConnectRequest, a four-letter word, and bytes that only look like a TLS record: each is closed without an answer.
      const connectRequest = Buffer.alloc(48);
      connectRequest.writeInt32BE(44, 0);
      for (const bytes of [connectRequest, Buffer.from('ruok'), Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5])]) {
        const answer = await new Promise<string>((resolve) => {
          const s = net.connect(securePort, '127.0.0.1', () => s.write(bytes));
          const got: Buffer[] = [];
          s.on('data', (d) => got.push(d));
          s.on('error', () => {});
          s.on('close', () => resolve(Buffer.concat(got).toString('latin1')));
          // ZooKeeper's SslHandler waits for a whole TLS record header (5 bytes), so it never closes on 'ruok'.
          setTimeout(() => s.destroy(), 10_000);
        });
        assert.ok(!answer.includes('imok'), `${kind}: the secure port must not answer plaintext`);
      }
      // A certificate from a CA the server does not trust: the connection is refused.
      const intruder = await kazoo(securePort, true, 'intruder', ['get:/']);
      assert.deepEqual(intruder, [{ step: 'connect', ok: false }], kind);
      // A server certificate the client does not trust is the client's refusal; the server serves the next client.
      assert.equal((await handshake(securePort, { ca: [] })).ok, false);
      assert.deepEqual(await kazoo(securePort, true, 'clientB', ['create:/after', 'get:/after']), [
        { step: 'connect', ok: true },
        { step: 'create:/after', ok: true },
        { step: 'get:/after', ok: true, data: 'k' },
      ], kind);
      assert.deepEqual((await kazoo(server.port, false, null, ['get:/after']))[1], { step: 'get:/after', ok: true, data: 'k' }, kind);
    }
    const log = servers[1]!.server.output();
    assert.match(log, /plaintext on the secure client port \(expected a TLS handshake\); closed/);
    assert.match(log, /TLS handshake failed: excessive message size; closed/);
    assert.match(log, /client certificate CN=intruder not trusted: [A-Z_]+; closed/);
  } finally {
    await stopAll(servers);
  }
});

test('a client that stalls before or during its handshake is closed after the handshake timeout; others are served meanwhile', async () => {
  const servers = await startBoth(PEM, { 'ssl.clientAuth': 'none' });
  try {
    for (const { kind, securePort } of servers) {
      const stall = (bytes: Buffer) =>
        new Promise<boolean>((resolve) => {
          const s = net.connect(securePort, '127.0.0.1', () => s.write(bytes));
          s.on('error', () => {});
          s.on('close', () => resolve(true));
          setTimeout(() => (s.destroy(), resolve(false)), 60_000);
        });
      // Nothing at all, and the first bytes of a ClientHello record that never completes.
      const stalled = [stall(Buffer.alloc(0)), stall(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]))];
      assert.deepEqual((await kazoo(securePort, true, null, ['create:/busy']))[1], { step: 'create:/busy', ok: true }, kind);
      assert.deepEqual(await Promise.all(stalled), [true, true], `${kind}: stalled connections are closed`);
    }
    const log = servers[1]!.server.output();
    assert.match(log, /nothing received in 10000 ms; closed/);
    assert.match(log, /TLS handshake failed: TLS handshake timeout; closed/);
  } finally {
    await stopAll(servers);
  }
});

test('client.portUnification: the client port takes TLS clients, plaintext clients and four-letter words', async () => {
  // authProvider.x509 named explicitly: ZooKeeper 3.8.0 registers it by itself only with a secureClientPort
  // (with port unification alone it logs "X509 Auth provider not found: x509" and drops every certificate holder).
  const servers = await startBoth(PEM, { 'ssl.clientAuth': 'need', 'client.portUnification': 'true', 'authProvider.x509': X509_PROVIDER }, false);
  try {
    for (const { kind, server } of servers) {
      assert.deepEqual(await javaClient(server.port, 'clientA.pem', ['whoami', 'create:/u:tls:x509']), [
        { step: 'connect', ok: true },
        { step: 'whoami', ids: [`x509=${ID_A}`, 'ip=127.0.0.1'] },
        { step: 'create:/u:tls:x509', ok: true },
      ], kind);
      assert.deepEqual(await kazoo(server.port, false, null, ['get:/u', 'create:/p', 'get:/p']), [
        { step: 'connect', ok: true },
        { step: 'get:/u', ok: false, code: 'NoAuthError' },
        { step: 'create:/p', ok: true },
        { step: 'get:/p', ok: true, data: 'k' },
      ], kind);
      assert.deepEqual(await kazoo(server.port, true, 'clientA', ['get:/u']), [
        { step: 'connect', ok: true },
        { step: 'get:/u', ok: true, data: 'tls' },
      ], kind);
      assert.equal(await fourLetterWord('127.0.0.1', server.port, 'ruok'), 'imok', kind);
    }
  } finally {
    await stopAll(servers);
  }
});

test('ssl.ciphersuites and ssl.enabledProtocols (Java names) choose what the handshake negotiates, on both servers', async () => {
  const servers = await startBoth(PEM, {
    'ssl.clientAuth': 'none',
    'ssl.enabledProtocols': 'TLSv1.2',
    'ssl.ciphersuites': 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
  });
  try {
    for (const { kind, securePort } of servers) {
      const first = await handshake(securePort, { ciphers: 'ECDHE-RSA-AES128-SHA256', maxVersion: 'TLSv1.2' });
      assert.deepEqual([first.ok, first.cipher], [true, 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256'], kind);
      const notEnabled = await handshake(securePort, { ciphers: 'ECDHE-RSA-AES128-GCM-SHA256', maxVersion: 'TLSv1.2' });
      assert.equal(notEnabled.ok, false, `${kind}: a suite not in ssl.ciphersuites`);
      const tls13 = await handshake(securePort, { minVersion: 'TLSv1.3' });
      assert.equal(tls13.ok, false, `${kind}: TLSv1.3 is not enabled`);
    }
  } finally {
    await stopAll(servers);
  }
});

test('client.certReload: a key store replaced on disk is served to new connections (Paddock; ZooKeeper 3.8.1+ has it, Debian 3.8.0 not)', async () => {
  const securePort = await freePort();
  copyFileSync(f('server.pem'), f('live.pem'));
  const server = await startServer('paddock', {
    cfg: {
      serverCnxnFactory: NETTY_FACTORY,
      secureClientPort: securePort,
      secureClientPortAddress: '127.0.0.1',
      'ssl.keyStore.location': f('live.pem'),
      'ssl.trustStore.location': f('ca.pem'),
      'ssl.clientAuth': 'none',
      'client.certReload': 'true',
    },
  });
  try {
    const before = await handshake(securePort);
    assert.equal(before.subject, 'localhost/');
    const held = tls.connect({ host: '127.0.0.1', port: securePort, ca: [execFileSync('cat', [f('ca.crt')])] });
    await new Promise((r) => held.once('secureConnect', r));
    copyFileSync(f('server2.pem'), f('live.pem'));
    await waitFor('the reloaded certificate', 60_000, async () => (await handshake(securePort)).subject === 'localhost/reloaded');
    assert.ok(!held.destroyed, 'a connection made before the reload is kept');
    held.destroy();
    // A broken store on disk is logged and the last good one stays in use.
    writeFileSync(f('live.pem'), 'not a certificate\n');
    await waitFor('the reload failure logged', 60_000, () => /cannot be loaded, keeping the previous ones/.test(server.output()));
    assert.equal((await handshake(securePort)).subject, 'localhost/reloaded');
  } finally {
    await server.stop();
  }
});

test('start-up errors name the setting: JKS (with the keytool command), unknown cipher suite, TLS without the Netty factory, missing key store', () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ 'ssl.keyStore.location': f('server.jks') }, /server\.jks is a JKS store.*keytool -importkeystore -srckeystore .*server\.jks -srcstoretype JKS/],
    [{ 'ssl.keyStore.location': f('server.pem'), 'ssl.ciphersuites': 'TLS_NO_SUCH_SUITE' }, /ssl\.ciphersuites: 'TLS_NO_SUCH_SUITE' is not a cipher suite/],
    [{ 'ssl.keyStore.location': f('server.pem'), serverCnxnFactory: 'org.apache.zookeeper.server.NIOServerCnxnFactory' }, /TLS needs serverCnxnFactory=org\.apache\.zookeeper\.server\.NettyServerCnxnFactory/],
    [{}, /ssl\.keyStore\.location: not set/],
    [{ 'ssl.keyStore.location': f('ca.crt') }, /cannot tell the store type of .*ca\.crt/],
    [{ 'ssl.keyStore.location': f('server.p12'), 'ssl.keyStore.password': 'wrong' }, /ssl\.keyStore\.location: .*server\.p12 \(PKCS12\): cannot decrypt \(wrong password\?\)/],
    [{ 'ssl.keyStore.location': f('server.pem'), 'ssl.clientAuth': 'maybe' }, /ssl\.clientAuth: 'maybe' is not one of need, want, none/],
  ];
  for (const [settings, expected] of cases) {
    const dir = mkdtempSync(join(tmpdir(), 'tls-cfg-'));
    const cfg = { dataDir: join(dir, 'data'), clientPort: 1, secureClientPort: 2, serverCnxnFactory: NETTY_FACTORY, ...settings };
    writeFileSync(join(dir, 'zoo.cfg'), Object.entries(cfg).map(([k, v]) => `${k}=${v}`).join('\n'));
    const res = spawnSync(process.execPath, [join(ROOT, 'bin', 'paddock.js'), 'server', join(dir, 'zoo.cfg')], { encoding: 'utf8', timeout: 30_000 });
    rmSync(dir, { recursive: true, force: true });
    assert.equal(res.status, 2, `${JSON.stringify(settings)}: ${res.stderr}${res.stdout}`);
    assert.match(res.stderr, expected);
  }
});

/** Java's X500Principal.getName() of each certificate, one line each (the id X509AuthenticationProvider takes). */
const JAVA_NAMES = `
import java.io.FileInputStream;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
public class Names {
    public static void main(String[] args) throws Exception {
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        for (String a : args) {
            X509Certificate c = (X509Certificate) cf.generateCertificate(new FileInputStream(a));
            System.out.println(c.getSubjectX500Principal().getName());
        }
    }
}
`;

test("x509 ids: a certificate's subject is written as Java's X500Principal.getName() writes it", async () => {
  const subjects: [string, string[]][] = [
    ['/CN= leading and trailing  /O=#hash "quoted" back\\\\slash', []],
    ['/CN=Zoë Ünicode/OU=ops/DC=example/DC=com/UID=u1', []],
    ['/CN=multi+UID=valued/O=x', ['-multivalue-rdn']],
    ['/serialNumber=42/title=boss/CN=a=b,c;d<e>/L=Ville/ST=State/street=1 Main St', []],
  ];
  const files: string[] = [];
  subjects.forEach(([subject, extra], i) => {
    openssl('req', '-x509', '-newkey', 'rsa:1024', '-nodes', '-keyout', `names${i}.key`, '-out', `names${i}.crt`, '-days', '1', '-utf8', ...extra, '-subj', subject);
    files.push(f(`names${i}.crt`));
  });
  writeFileSync(f('Names.java'), JAVA_NAMES);
  const { stdout } = await run('java', [f('Names.java'), ...files], { timeout: 120_000 });
  const javaNames = stdout.split('\n').slice(0, files.length);
  const ours = files.map((file) => subjectName(new X509Certificate(readFileSync(file)).raw));
  assert.deepEqual(ours, javaNames);
  for (const name of javaNames) assert.ok(isDistinguishedName(name), name);
  for (const bad of ['no equals sign', 'CN=a,', '=value', 'CN="unterminated']) assert.equal(isDistinguishedName(bad), false, bad);
});

test('Java cipher suite names map to OpenSSL names; unknown ones are null', () => {
  const cases: [string, string | null][] = [
    ['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'ECDHE-RSA-AES128-GCM-SHA256'],
    ['TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', 'ECDHE-ECDSA-AES256-GCM-SHA384'],
    ['TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384', 'ECDHE-RSA-AES256-SHA384'],
    ['TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA', 'ECDHE-RSA-AES128-SHA'],
    ['TLS_RSA_WITH_AES_256_CBC_SHA', 'AES256-SHA'],
    ['TLS_RSA_WITH_AES_128_GCM_SHA256', 'AES128-GCM-SHA256'],
    ['TLS_DHE_RSA_WITH_AES_256_GCM_SHA384', 'DHE-RSA-AES256-GCM-SHA384'],
    ['TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256', 'ECDHE-RSA-CHACHA20-POLY1305'],
    ['TLS_AES_128_GCM_SHA256', 'TLS_AES_128_GCM_SHA256'],
    ['TLS_CHACHA20_POLY1305_SHA256', 'TLS_CHACHA20_POLY1305_SHA256'],
    ['TLS_RSA_WITH_NULL_SHA', null],
    ['SSL_RSA_WITH_RC4_128_MD5', null],
    ['ECDHE-RSA-AES128-GCM-SHA256', null],
  ];
  for (const [java, openssl] of cases) assert.equal(openSslCipher(java), openssl, java);
});
