import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError, loadConfig, parseConfig, type ServerConfig } from '../src/config/config.ts';
import { jvmSystemProperties, splitFlags } from '../src/config/jvmflags.ts';

const tmp = mkdtempSync(join(tmpdir(), 'paddock-config-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

let dirCount = 0;
/** A fresh directory, with a myid file if given. */
function freshDir(myid?: string): string {
  const dir = join(tmp, `d${dirCount++}`);
  mkdirSync(dir);
  if (myid !== undefined) writeFileSync(join(dir, 'myid'), myid);
  return dir;
}

const parse = (text: string, env: NodeJS.ProcessEnv = {}): ServerConfig => parseConfig(text, { path: 'zoo.cfg', env });

/** Assert that parsing fails with a ConfigError whose message matches and that names key (and line). */
function rejects(fn: () => unknown, message: RegExp, key?: string, line?: number): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `not a ConfigError: ${err}`);
    assert.match(err.message, message);
    if (key !== undefined) assert.equal(err.key, key);
    if (line !== undefined) assert.equal(err.line, line);
    return true;
  });
}

const minimal = 'tickTime=2000\ndataDir=/var/paddock\nclientPort=2181\n';

describe('zoo.cfg format (java.util.Properties)', () => {
  test('comments, separators, trimming, escapes and continuation lines', () => {
    const cfg = parse(
      [
        '# comment \\',
        'tickTime=1000',
        '  ! another comment',
        '',
        'dataDir : /var/paddock  ',
        'clientPort 2182',
        'maxClientCnxns=\\',
        '    10',
        'my\\ key = caf\\u00e9\\tx',
      ].join('\r\n'),
    );
    assert.equal(cfg.tickTime, 1000);
    assert.equal(cfg.dataDir, '/var/paddock');
    assert.equal(cfg.clientPort, 2182);
    assert.equal(cfg.maxClientCnxns, 10);
    assert.equal(cfg.properties.get('zookeeper.my key'), 'café\tx');
  });

  test('the last of repeated keys wins, and the repetition is reported', () => {
    const cfg = parse(minimal + 'tickTime=500\n');
    assert.equal(cfg.tickTime, 500);
    assert.ok(cfg.ignored.includes('zoo.cfg line 1: tickTime is set again on line 4; the later value wins'));
  });

  test('a malformed \\u escape names the line', () => {
    rejects(() => parse(minimal + 'x=\\u12\n'), /^zoo\.cfg line 4: malformed \\uxxxx escape$/, undefined, 4);
  });
});

describe('defaults', () => {
  test('a minimal standalone config gets ZooKeeper 3.8 defaults', () => {
    const cfg = parse('dataDir=/var/paddock\nclientPort=2181\n');
    assert.deepEqual(
      { ...cfg, properties: [...cfg.properties], fourLetterWords: [...(cfg.fourLetterWords as Set<string>)] },
      {
        configPath: resolve('zoo.cfg'),
        initialConfig: 'dataDir=/var/paddock\nclientPort=2181\n',
        tickTime: 3000,
        initLimit: null,
        syncLimit: null,
        dataDir: '/var/paddock',
        dataLogDir: '/var/paddock',
        clientPort: 2181,
        clientPortAddress: '0.0.0.0',
        secureClientPort: 0,
        secureClientPortAddress: '0.0.0.0',
        maxClientCnxns: 60,
        maxCnxns: 0,
        minSessionTimeout: 6000,
        maxSessionTimeout: 60000,
        servers: [],
        groups: new Map(),
        weights: new Map(),
        myid: null,
        standalone: true,
        fourLetterWords: ['srvr'],
        snapCount: 100000,
        preAllocSizeKb: 65536,
        forceSync: true,
        autopurgeSnapRetainCount: 3,
        autopurgePurgeIntervalHours: 0,
        globalOutstandingLimit: 1000,
        maxBuffer: 0xfffff,
        extendedTypesEnabled: false,
        reconfigEnabled: false,
        superDigest: null,
        localSessionsEnabled: false,
        localSessionsUpgradingEnabled: false,
        readOnlyModeEnabled: false,
        skipACL: false,
        clientAuth: { providers: new Set(), saslUsers: null, saslSuperUsers: new Set(), allowSaslFailedClients: false, enforcedSchemes: [] },
        quorumAuth: null,
        containerCheckIntervalMs: 60000,
        containerMaxPerMinute: 10000,
        containerMaxNeverUsedIntervalMs: 0,
        admin: { enabled: true, address: '0.0.0.0', port: 8080, commandUrl: '/commands', idleTimeoutMs: 30000, backupEnabled: false },
        prometheus: null,
        logLevel: null,
        logFormat: null,
        testPerturbDigest: false,
        sslQuorum: false,
        portUnification: false,
        sslQuorumReloadCertFiles: false,
        properties: [],
        ignored: [],
      },
    );
  });

  test('session timeouts derive from tickTime unless set; -1 asks for the default', () => {
    const cfg = parse(minimal + 'minSessionTimeout=-1\nmaxSessionTimeout=100000\n');
    assert.equal(cfg.minSessionTimeout, 4000);
    assert.equal(cfg.maxSessionTimeout, 100000);
    assert.equal(parse(minimal + 'minSessionTimeout=30000\nmaxSessionTimeout=30000\n').minSessionTimeout, 30000);
  });

  test('relative dataDir and dataLogDir resolve against the working directory', () => {
    const cfg = parse('dataDir=data\ndataLogDir=logs/txn\nclientPort=2181\n');
    assert.equal(cfg.dataDir, resolve('data'));
    assert.equal(cfg.dataLogDir, resolve('logs/txn'));
  });

  test('loadConfig(null) is a loopback development server', () => {
    const cfg = loadConfig(null, {});
    assert.equal(cfg.configPath, null);
    assert.equal(cfg.clientPort, 2181);
    assert.equal(cfg.clientPortAddress, '127.0.0.1');
    assert.equal(cfg.dataDir, resolve('data'));
    assert.equal(cfg.tickTime, 2000);
    assert.equal(cfg.fourLetterWords, 'all');
    assert.equal(cfg.standalone, true);
    assert.deepEqual(cfg.ignored, []);
  });

  test('loadConfig reads the file and reports one it cannot read', () => {
    const file = join(freshDir(), 'zoo.cfg');
    writeFileSync(file, minimal);
    const cfg = loadConfig(file, {});
    assert.equal(cfg.configPath, file);
    assert.equal(cfg.clientPort, 2181);
    rejects(() => loadConfig(join(tmp, 'missing.cfg'), {}), /missing\.cfg: cannot read: .*ENOENT/);
  });
});

describe('wrong values stop start-up, naming key and line', () => {
  const cases: Array<[string, string, RegExp, string, number | undefined]> = [
    ['non-numeric tickTime', 'a=1\n\ntickTime=abc\ndataDir=/d\nclientPort=1\n', /^zoo\.cfg line 3: tickTime: 'abc' is not a number$/, 'tickTime', 3],
    ['tickTime 0', 'tickTime=0\ndataDir=/d\nclientPort=1\n', /line 1: tickTime: 0 is not a positive/, 'tickTime', 1],
    ['missing dataDir', 'tickTime=2000\nclientPort=2181\n', /^zoo\.cfg: dataDir: not set$/, 'dataDir', undefined],
    ['empty dataDir', 'dataDir=\nclientPort=2181\n', /line 1: dataDir: empty/, 'dataDir', 1],
    ['port out of range', 'dataDir=/d\nclientPort=70000\n', /line 2: clientPort: port 70000 is out of range/, 'clientPort', 2],
    ['negative port', 'dataDir=/d\nclientPort=-1\n', /line 2: clientPort: port -1 is out of range/, 'clientPort', 2],
    ['number too big', 'dataDir=/d\nclientPort=1\nmaxClientCnxns=99999999999\n', /line 3: maxClientCnxns: '99999999999' is not a number/, 'maxClientCnxns', 3],
    ['address without port', 'dataDir=/d\nclientPortAddress=127.0.0.1\n', /line 2: clientPortAddress: set, but clientPort is not/, 'clientPortAddress', 2],
    ['min > max session timeout', minimal + 'minSessionTimeout=50000\n', /line 4: minSessionTimeout: minSessionTimeout 50000 ms is larger than maxSessionTimeout 40000 ms/, 'minSessionTimeout', 4],
    ['max < derived min', minimal + 'maxSessionTimeout=1000\n', /line 4: maxSessionTimeout: .* larger than maxSessionTimeout 1000 ms/, 'maxSessionTimeout', 4],
    ['boolean not true/false', minimal + 'localSessionsEnabled=yes\n', /line 4: localSessionsEnabled: 'yes' is not true or false/, 'localSessionsEnabled', 4],
    ['electionAlg other than 3', minimal + 'electionAlg=0\n', /line 4: electionAlg: only 3/, 'electionAlg', 4],
    ['bad peerType', minimal + 'peerType=leader\n', /line 4: peerType: 'leader' is not participant or observer/, 'peerType', 4],
    ['secure address without port', minimal + 'secureClientPortAddress=::1\n', /line 4: secureClientPortAddress: set, but secureClientPort/, 'secureClientPortAddress', 4],
    ['SASL required but off', minimal + 'quorum.auth.learnerRequireSasl=true\n', /line 4: quorum.auth.learnerRequireSasl: needs quorum.auth.enableSasl=true/, 'quorum.auth.learnerRequireSasl', 4],
    ['bad long', minimal + 'jvm.pause.sleep.time.ms=soon\n', /line 4: jvm.pause.sleep.time.ms: 'soon' is not a number/, 'jvm.pause.sleep.time.ms', 4],
    ['no client port at all', 'dataDir=/d\n', /^zoo\.cfg: clientPort: not set$/, 'clientPort', undefined],
  ];
  for (const [name, text, message, key, line] of cases) {
    test(name, () => rejects(() => parse(text), message, key, line));
  }

  const serverLines: Array<[string, RegExp]> = [
    ['zk1:2888', /is not host:quorumPort:electionPort/],
    ['zk1:2888:3888:observer:x', /is not host:quorumPort:electionPort/],
    ['zk1:2888:3888;2181;2182', /is not host:quorumPort:electionPort/],
    [';2181', /is not host:quorumPort:electionPort/],
    ['zk1:2888:2888', /quorum and election port must differ \(both are 2888\)/],
    ['zk1:2888:99999', /election port: port 99999 is out of range/],
    ['zk1:x:3888', /quorum port: 'x' is not a number/],
    ['zk1:2888:3888:leader', /'leader' is not participant or observer/],
    ['zk1:2888:3888;host:port', /client port: 'port' is not a number/],
    ['zk1:2888:3888;a:b:2181', /is not host:quorumPort:electionPort/],
    ['[::1:2888:3888', /is not \[IPv6 address\]:port/],
    ['zk1:2888:3888|zk2:2888:3888', /several \|-separated addresses need -Dzookeeper.multiAddress.enabled=true/],
    // ZooKeeper does not trim inside a server line either.
    ['zk1:2888:3888; 2181', /client port: ' 2181' is not a number/],
  ];
  for (const [value, message] of serverLines) {
    test(`server line '${value}'`, () => rejects(() => parse(`${minimal}server.1=${value}\n`), new RegExp(`^zoo\\.cfg line 4: server\\.1: .*${message.source}`), 'server.1', 4));
  }

  test('server ids must be numbers and unique', () => {
    rejects(() => parse(minimal + 'server.one=a:1:2\n'), /line 4: server\.one: 'one' is not an id/, 'server.one', 4);
    rejects(() => parse(minimal + 'server.1=a:1:2\nserver.01=b:1:2\n'), /line 5: server\.01: server id 1 is already given by server\.1/, 'server.01', 5);
  });
});

describe('system properties: -D flags and zoo.cfg keys', () => {
  test('splitFlags honours quotes and backslashes', () => {
    assert.deepEqual(splitFlags(`  -Xmx1g -Da="x y" '-Db=it''s' -Dc=\\ z -Dd= `), ['-Xmx1g', '-Da=x y', '-Db=its', '-Dc= z', '-Dd=']);
    assert.deepEqual(splitFlags(''), []);
    assert.throws(() => splitFlags('-Da="open'), /unterminated " quote/);
  });

  test('JVMFLAGS wins over SERVER_JVMFLAGS; -Dname alone sets an empty value; other flags are skipped', () => {
    const props = jvmSystemProperties({ SERVER_JVMFLAGS: '-Xmx512m -Da=1 -Db=2 -Dflag', JVMFLAGS: '-Da=3 -XX:+UseG1GC -D' });
    assert.deepEqual([...props].map(([k, p]) => [k, p.value, p.from]), [
      ['a', '3', 'JVMFLAGS'],
      ['b', '2', 'SERVER_JVMFLAGS'],
      ['flag', '', 'SERVER_JVMFLAGS'],
    ]);
  });

  test('JVM-only settings come from -D flags', () => {
    const cfg = parse(minimal, {
      SERVER_JVMFLAGS: [
        '-Djute.maxbuffer=0x400000', '-Dreadonlymode.enabled=true', '-Dzookeeper.skipACL=yes',
        '-Dznode.container.checkIntervalMs=1000', '-Dznode.container.maxPerMinute=010', '-Dznode.container.maxNeverUsedIntervalMs=5000',
        '-Dzookeeper.DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=',
      ].join(' '),
    });
    assert.equal(cfg.maxBuffer, 0x400000);
    assert.equal(cfg.readOnlyModeEnabled, true);
    assert.deepEqual(cfg.fourLetterWords, new Set(['srvr', 'isro']));
    assert.equal(cfg.skipACL, true);
    assert.equal(cfg.containerCheckIntervalMs, 1000);
    assert.equal(cfg.containerMaxPerMinute, 8); // Integer.getInteger reads a leading 0 as octal
    assert.equal(cfg.containerMaxNeverUsedIntervalMs, 5000);
    assert.equal(cfg.superDigest, 'super:D/InIHSb7yEEbrWz8b9l71RjZJU=');
    assert.deepEqual(cfg.ignored, []);
  });

  test('unknown zoo.cfg keys become zookeeper.<key> and win over -D flags', () => {
    const cfg = parse(
      minimal +
        'extendedTypesEnabled=true\nsnapCount=5000\npreAllocSize=1024\nforceSync=no\nmaxCnxns=100\n' +
        'globalOutstandingLimit=50\n4lw.commands.whitelist=ruok, stat ,,mntr\nskipACL=yes\nDigestAuthenticationProvider.superDigest=super:x\n',
      { SERVER_JVMFLAGS: '-Dzookeeper.snapCount=10 -Dzookeeper.maxCnxns=7 -Dzookeeper.extendedTypesEnabled=false' },
    );
    assert.equal(cfg.extendedTypesEnabled, true);
    assert.equal(cfg.snapCount, 5000);
    assert.equal(cfg.preAllocSizeKb, 1024);
    assert.equal(cfg.forceSync, false);
    assert.equal(cfg.maxCnxns, 100);
    assert.equal(cfg.globalOutstandingLimit, 50);
    assert.deepEqual(cfg.fourLetterWords, new Set(['ruok', 'stat', 'mntr', 'srvr']));
    assert.equal(cfg.skipACL, true);
    assert.equal(cfg.superDigest, 'super:x');
    assert.equal(cfg.properties.get('zookeeper.snapCount'), '5000');
    assert.deepEqual(cfg.ignored, []);
  });

  test("ZooKeeper's value rules: skipACL needs 'yes', forceSync is on unless 'no', snapCount is at least 2, '*' allows every word", () => {
    const cfg = parse(minimal + 'skipACL=true\nforceSync=false\nsnapCount=1\n4lw.commands.whitelist=srvr,*\n');
    assert.equal(cfg.skipACL, false);
    assert.equal(cfg.forceSync, true);
    assert.equal(cfg.snapCount, 2);
    assert.equal(cfg.fourLetterWords, 'all');
  });

  test('a bad number in a system property falls back to the default, as in ZooKeeper, and is reported', () => {
    const cfg = parse(minimal + 'snapCount=lots\n', { JVMFLAGS: '-Djute.maxbuffer=08' });
    assert.equal(cfg.snapCount, 100000);
    assert.equal(cfg.maxBuffer, 0xfffff);
    assert.deepEqual(cfg.ignored, [
      "zoo.cfg line 4 (snapCount): zookeeper.snapCount='lots' is not a number; using 100000, as ZooKeeper does",
      "JVMFLAGS: jute.maxbuffer='08' is not a number; using 1048575, as ZooKeeper does",
    ]);
  });

  test('JVM-only keys and zookeeper.-prefixed keys in zoo.cfg do nothing, and say how to fix it', () => {
    const cfg = parse(minimal + 'jute.maxbuffer=4194304\nzookeeper.skipACL=yes\n');
    assert.equal(cfg.maxBuffer, 0xfffff);
    assert.equal(cfg.skipACL, false);
    assert.equal(cfg.properties.get('zookeeper.jute.maxbuffer'), '4194304');
    assert.deepEqual(cfg.ignored, [
      'zoo.cfg line 4: jute.maxbuffer has no effect in zoo.cfg (ZooKeeper reads it only as a JVM flag); use -Djute.maxbuffer=4194304 in SERVER_JVMFLAGS',
      'zoo.cfg line 5: zookeeper.skipACL becomes system property zookeeper.zookeeper.skipACL, which nothing reads; write skipACL=yes',
    ]);
  });

  test('readonlymode.enabled, as in ZooKeeper, is a JVM flag: zoo.cfg does not turn read-only mode on', () => {
    const cfg = parse(minimal + 'readonlymode.enabled=true\n');
    assert.equal(cfg.readOnlyModeEnabled, false);
    assert.deepEqual(cfg.ignored, ['zoo.cfg line 4: readonlymode.enabled has no effect in zoo.cfg (ZooKeeper reads it only as a JVM flag); use -Dreadonlymode.enabled=true in SERVER_JVMFLAGS']);
    assert.equal(parse(minimal, { SERVER_JVMFLAGS: '-Dreadonlymode.enabled=true' }).readOnlyModeEnabled, true);
  });

  test('an unterminated quote in a flags variable is a ConfigError', () => {
    rejects(() => parse(minimal, { SERVER_JVMFLAGS: "-Da='x" }), /^SERVER_JVMFLAGS: unterminated ' quote$/);
  });
});

describe('accepted but ignored settings', () => {
  test('unsupported features and unknown keys are listed; defaults are not', () => {
    const cfg = parse(
      minimal +
        [
          'secureClientPort=2281',
          'reconfigEnabled=false',
          'syncEnabled=TRUE',
          'metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider',
          'metricsProvider.httpPort=7000',
          'admin.enableServer=false',
          'authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider',
          'authProvider.2=org.apache.zookeeper.server.auth.DigestAuthenticationProvider',
          'autopurge.snapRetainCount=1',
          'frobnicate=7',
        ].join('\n'),
      { SERVER_JVMFLAGS: '-Dzookeeper.authProvider.x509=org.apache.zookeeper.server.auth.X509AuthenticationProvider' },
    );
    assert.equal(cfg.autopurgeSnapRetainCount, 3);
    assert.deepEqual(cfg.ignored, [
      'zoo.cfg line 13: frobnicate=7 is not a setting Paddock uses (ZooKeeper would set system property zookeeper.frobnicate); ignored',
      'zoo.cfg line 12: autopurge.snapRetainCount=1 is below 3; using 3, as ZooKeeper does',
    ]);
    assert.deepEqual([...cfg.clientAuth.providers], ['sasl']);
  });
});

describe('quorum', () => {
  const three = 'initLimit=10\nsyncLimit=5\nserver.1=zk1:2888:3888\nserver.2=zk2:2888:3888;2181\nserver.3=[::1]:2889:3889:observer;[::1]:2182\nserver.4=zk4:2888:3888:participant\n';

  test('server lines are parsed with roles and client addresses; myid comes from dataDir', () => {
    const dir = freshDir('2\n');
    const cfg = parse(`tickTime=2000\ndataDir=${dir}\n${three}`);
    assert.equal(cfg.standalone, false);
    assert.equal(cfg.myid, 2);
    assert.equal(cfg.initLimit, 10);
    assert.equal(cfg.syncLimit, 5);
    assert.deepEqual(cfg.servers, [
      { id: 1, host: 'zk1', quorumPort: 2888, electionPort: 3888, observer: false },
      { id: 2, host: 'zk2', quorumPort: 2888, electionPort: 3888, observer: false, clientHost: '0.0.0.0', clientPort: 2181 },
      { id: 3, host: '::1', quorumPort: 2889, electionPort: 3889, observer: true, clientHost: '::1', clientPort: 2182 },
      { id: 4, host: 'zk4', quorumPort: 2888, electionPort: 3888, observer: false },
    ]);
    // clientPort comes from this server's line
    assert.equal(cfg.clientPort, 2181);
    assert.equal(cfg.clientPortAddress, '0.0.0.0');
  });

  test("an observer's own line gives its client address", () => {
    const cfg = parse(`dataDir=${freshDir('3')}\n${three}`);
    assert.equal(cfg.clientPortAddress, '::1');
    assert.equal(cfg.clientPort, 2182);
  });

  test('a static clientPort must agree with the own line; a wildcard address only on the port', () => {
    const dir = freshDir('2');
    assert.equal(parse(`dataDir=${dir}\nclientPort=2181\nclientPortAddress=0.0.0.0\n${three}`).clientPort, 2181);
    rejects(() => parse(`dataDir=${dir}\nclientPort=2190\n${three}`), /line 2: clientPort: 0\.0\.0\.0:2190 differs from 0\.0\.0\.0:2181 on server\.2/, 'clientPort', 2);
    rejects(() => parse(`dataDir=${dir}\nclientPort=2181\nclientPortAddress=127.0.0.1\n${three}`), /line 3: clientPortAddress: 127\.0\.0\.1:2181 differs/, 'clientPortAddress', 3);
  });

  test('a quorum member without a client port anywhere is refused', () => {
    rejects(() => parse(`dataDir=${freshDir('1')}\n${three}`), /^zoo\.cfg: clientPort: not set, and server\.1 has no ;clientPort either$/, 'clientPort');
  });

  test('one server line runs standalone unless standaloneEnabled=false', () => {
    const dir = freshDir('1');
    const single = parse(`dataDir=${dir}\nserver.1=zk1:2888:3888;2181\n`);
    assert.equal(single.standalone, true);
    assert.equal(single.myid, 1);
    assert.equal(single.clientPort, 2181);
    assert.match(single.ignored[0], /^zoo\.cfg line 2: a single server line runs standalone/);
    const one = parse(`dataDir=${dir}\nserver.1=zk1:2888:3888;2181\nstandaloneEnabled=false\ninitLimit=5\nsyncLimit=2\n`);
    assert.equal(one.standalone, false);
  });

  test('observers do not count toward a quorum', () => {
    const dir = freshDir('1');
    rejects(
      () => parse(`dataDir=${dir}\nclientPort=2181\nserver.1=a:1:2\nserver.2=b:1:2:observer\n`),
      /line 4: server\.2: observers need a quorum/,
      'server.2',
      4,
    );
    rejects(() => parse(`dataDir=${dir}\nclientPort=2181\nserver.2=b:1:2:observer\n`), /server\.2: observers need a quorum/, 'server.2');
    const cfg = parse(`dataDir=${dir}\nclientPort=2181\nserver.1=a:1:2\nserver.2=b:1:2:observer\nstandaloneEnabled=false\ninitLimit=5\nsyncLimit=2\n`);
    assert.equal(cfg.standalone, false);
  });

  test('standaloneEnabled=false needs a participant', () => {
    rejects(() => parse(minimal + 'standaloneEnabled=false\n'), /line 4: standaloneEnabled: false needs at least one participant/, 'standaloneEnabled', 4);
  });

  test('a quorum needs initLimit, syncLimit and a valid myid that has a server line', () => {
    const servers = 'clientPort=2181\nserver.1=a:1:2\nserver.2=b:1:2\n';
    const limits = 'initLimit=5\nsyncLimit=2\n';
    rejects(() => parse(`dataDir=${freshDir('1')}\n${servers}syncLimit=2\n`), /^zoo\.cfg: initLimit: must be set/, 'initLimit');
    rejects(() => parse(`dataDir=${freshDir('1')}\n${servers}initLimit=5\nsyncLimit=0\n`), /line 6: syncLimit: must be set \(and not 0\)/, 'syncLimit', 6);
    const noMyid = freshDir();
    rejects(() => parse(`dataDir=${noMyid}\n${servers}${limits}`), new RegExp(`^${join(noMyid, 'myid')}: myid: missing`), 'myid');
    for (const bad of ['', 'abc', ' 1', '1 ', '-1']) {
      const dir = freshDir(bad);
      rejects(() => parse(`dataDir=${dir}\n${servers}${limits}`), new RegExp(`^${join(dir, 'myid')} line 1: myid: '${bad}' is not a server id`), 'myid', 1);
    }
    // ZooKeeper itself parses this, then fails at start-up with "My id 3 not in the peer list".
    rejects(() => parse(`dataDir=${freshDir('3')}\n${servers}${limits}`), /myid: 3 has no server\.3 line/, 'myid', 1);
    // Session-tracker check ZooKeeper makes at start-up when TTL nodes are on.
    const big = freshDir('300');
    const bigServers = 'clientPort=2181\nserver.300=a:1:2\nserver.2=b:1:2\n';
    assert.equal(parse(`dataDir=${big}\n${bigServers}${limits}`).myid, 300);
    rejects(() => parse(`dataDir=${big}\n${bigServers}${limits}extendedTypesEnabled=true\n`), /myid: 300 is above 254/, 'myid');
  });

  test('myid is read only when there are server lines, and may end with a newline or CRLF', () => {
    const dir = freshDir('garbage');
    assert.equal(parse(`dataDir=${dir}\nclientPort=2181\n`).myid, null);
    assert.equal(parse(`dataDir=${freshDir('7\r\n')}\nclientPort=2181\nserver.7=a:1:2\n`).myid, 7);
  });

  test('peerType disagreeing with the server line is reported; the line wins', () => {
    const cfg = parse(`dataDir=${freshDir('2')}\nclientPort=2181\npeerType=observer\nserver.1=a:1:2\nserver.2=b:1:2\ninitLimit=5\nsyncLimit=2\n`);
    assert.equal(cfg.servers[1].observer, false);
    assert.ok(cfg.ignored.includes('zoo.cfg line 3: peerType=observer disagrees with server.2; the server line wins, as in ZooKeeper'));
  });

  test('several addresses per server need the JVM flag; only the first is used', () => {
    const cfg = parse(minimal + 'server.1=a:1:2|b:3:4;2181\n', { SERVER_JVMFLAGS: '-Dzookeeper.multiAddress.enabled=true' });
    assert.deepEqual(cfg.servers[0], { id: 1, host: 'a', quorumPort: 1, electionPort: 2, observer: false, clientHost: '0.0.0.0', clientPort: 2181 });
    assert.ok(cfg.ignored.includes('zoo.cfg line 4: server.1 has 2 addresses; Paddock uses only the first'));
    // In 3.8 the zoo.cfg key does not set the property that QuorumServer reads.
    rejects(() => parse(minimal + 'multiAddress.enabled=true\nserver.1=a:1:2|b:3:4\n'), /several \|-separated addresses/, 'server.1', 5);
  });

  test('hierarchical quorums are checked like ZooKeeper and taken without a note', () => {
    const servers = `dataDir=${freshDir('1')}\nclientPort=2181\ninitLimit=5\nsyncLimit=2\nserver.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2:observer\n`;
    const cfg = parse(servers + 'group.1=1:2\nweight.1=0\nweight.2=3\n');
    assert.deepEqual(cfg.groups, new Map([[1, [1, 2]]]));
    assert.deepEqual(cfg.weights, new Map([[1, 0], [2, 3]]));
    assert.equal(cfg.standalone, false);
    assert.deepEqual(cfg.ignored, [], 'group/weight lines are used (src/zab/quorum.ts), not ignored');
    rejects(() => parse(servers + 'group.1=1\n'), /line 6: server\.2: server 2 is in no group/, 'server.2', 6);
    rejects(() => parse(servers + 'group.1=1:2\ngroup.2=2\n'), /line 9: group\.2: server 2 is also in group\.1/, 'group.2', 9);
    rejects(() => parse(servers + 'group.1=1:2\nweight.1=heavy\n'), /line 9: weight\.1: 'heavy' is not a number/, 'weight.1', 9);
    rejects(() => parse(servers + 'groupies=1\n'), /line 8: groupies: 'groupies' is not an id/, 'groupies', 8);
  });

  test('an inline version must be hexadecimal', () => {
    assert.equal(parse(minimal + 'server.1=a:1:2\nversion=1a00000000\n').servers.length, 1);
    rejects(() => parse(minimal + 'server.1=a:1:2\nversion=xyz\n'), /line 5: version: 'xyz' is not a hexadecimal number/, 'version', 5);
  });
});

describe('dynamic config file', () => {
  const dynamic = 'server.1=zk1:2888:3888;2181\nserver.2=zk2:2888:3888;2181\nserver.3=zk3:2888:3888;2181\n';

  test('server lines come from the dynamic file', () => {
    const dir = freshDir('3');
    const file = join(dir, 'zoo.cfg.dynamic.100000000');
    writeFileSync(file, dynamic);
    const cfg = parse(`tickTime=2000\ndataDir=${dir}\ninitLimit=5\nsyncLimit=2\ndynamicConfigFile=${file}\n`);
    assert.equal(cfg.standalone, false);
    assert.deepEqual(cfg.servers.map((s) => s.host), ['zk1', 'zk2', 'zk3']);
    assert.equal(cfg.clientPort, 2181);
  });

  test('readFile is used for it, and a relative path is taken from the working directory', () => {
    const seen: string[] = [];
    const cfg = parseConfig('dataDir=/d\nclientPort=2181\ndynamicConfigFile=zoo.cfg.dynamic\n', {
      path: 'zoo.cfg',
      env: {},
      readFile: (p) => (seen.push(p), p.endsWith('myid') ? '1' : 'server.1=a:1:2\n'),
    });
    assert.deepEqual(seen, [resolve('zoo.cfg.dynamic'), '/d/myid']);
    assert.equal(cfg.servers.length, 1);
  });

  test('errors in and around it name the right file and line', () => {
    const dir = freshDir('1');
    const file = join(dir, 'zoo.cfg.dynamic');
    const withDynamic = `dataDir=${dir}\nclientPort=2181\ndynamicConfigFile=${file}\n`;
    writeFileSync(file, dynamic);
    rejects(() => parse(withDynamic + 'server.4=zk4:1:2\n'), /line 4: server\.4: must be in the dynamic config file/, 'server.4', 4);
    rejects(() => parse(withDynamic + 'group.1=1:2:3\n'), /line 4: group\.1: must be in the dynamic config file/, 'group.1', 4);
    writeFileSync(file, dynamic + 'version=100000000\n');
    rejects(() => parse(withDynamic), new RegExp(`^${file} line 4: version: not allowed here`), 'version', 4);
    writeFileSync(file, 'server.1=zk1:2888:3888\ntickTime=2000\n');
    rejects(() => parse(withDynamic), new RegExp(`^${file} line 2: tickTime: only server\\.N`), 'tickTime', 2);
    writeFileSync(file, 'server.1=zk1:2888\n');
    rejects(() => parse(withDynamic), new RegExp(`^${file} line 1: server\\.1: 'zk1:2888' is not`), 'server.1', 1);
    rejects(() => parse(`dataDir=${dir}\nclientPort=2181\ndynamicConfigFile=${dir}/nope\n`), /line 3: dynamicConfigFile: cannot read .*nope/, 'dynamicConfigFile', 3);
  });
});

// Sample configs with the verdict Apache ZooKeeper 3.8 gives them. Paddock must agree; where
// Java and the ZooKeeper jar are installed, ZooKeeper's own QuorumPeerConfig is asked as well.
interface Sample {
  name: string;
  /** zoo.cfg text; @DIR@ stands for the sample's own directory (its dataDir) */
  cfg: string;
  myid?: string;
  /** contents of @DIR@/zoo.cfg.dynamic.100000000 */
  dynamic?: string;
  /** expected ConfigError message, or undefined when the config is valid */
  error?: RegExp;
}

const SAMPLES: Sample[] = [
  { name: 'minimal', cfg: 'tickTime=2000\ndataDir=@DIR@\nclientPort=2181\n' },
  {
    name: 'every key of the surface table',
    cfg: [
      'tickTime=2000', 'initLimit=10', 'syncLimit=5', 'connectToLearnerMasterLimit=0', 'dataDir=@DIR@', 'dataLogDir=@DIR@/log',
      'clientPort=2181', 'clientPortAddress=127.0.0.1', 'secureClientPort=2281', 'secureClientPortAddress=127.0.0.1',
      'observerMasterPort=2191', 'clientPortListenBacklog=-1', 'maxClientCnxns=60', 'maxCnxns=0', 'minSessionTimeout=4000',
      'maxSessionTimeout=40000', 'peerType=participant', 'electionAlg=3', 'quorumListenOnAllIPs=false', 'cnxTimeout=5000',
      'standaloneEnabled=true', 'reconfigEnabled=false', 'snapCount=100000', 'snapSizeLimitInKb=4194304', 'commitLogCount=500',
      'preAllocSize=65536', 'autopurge.snapRetainCount=3', 'autopurge.purgeInterval=1', 'globalOutstandingLimit=1000',
      'forceSync=yes', 'syncEnabled=true', 'leaderServes=yes', '4lw.commands.whitelist=srvr, ruok, mntr',
      'admin.enableServer=false', 'admin.serverAddress=127.0.0.1', 'admin.serverPort=8080', 'admin.commandURL=/commands',
      'admin.idleTimeout=30000', 'admin.snapshot.enabled=true', 'admin.restore.enabled=true', 'localSessionsEnabled=false',
      'localSessionsUpgradingEnabled=false', 'maxResponseCacheSize=400', 'maxGetChildrenResponseCacheSize=400',
      'metricsProvider.className=org.apache.zookeeper.metrics.impl.DefaultMetricsProvider', 'metricsProvider.exportJvmInfo=true',
      'authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider', 'extendedTypesEnabled=true',
      'emulate353TTLNodes=false', 'digest.enabled=true', 'closeSessionTxn.enabled=true', 'serializeLastProcessedZxid.enabled=true',
      'skipACL=no', 'enforceQuota=false', 'enableEagerACLCheck=false', 'DigestAuthenticationProvider.superDigest=super:x',
      'DigestAuthenticationProvider.superUser=super', 'multiAddress.enabled=false',
      'serverCnxnFactory=org.apache.zookeeper.server.NIOServerCnxnFactory', 'fastleader.minNotificationInterval=200',
      'fastleader.maxNotificationInterval=60000', 'snapshot.compression.method=gz', 'jvm.pause.monitor=false',
      'quorum.auth.enableSasl=false', 'quorum.cnxn.threads.size=20', 'sslQuorum=false', 'portUnification=false',
    ].join('\n'),
  },
  { name: 'properties syntax', cfg: '# c\n! c\ntickTime : 2000\ndataDir @DIR@\nclientPort=21\\\n   81\nmaxClientCnxns=-1\n' },
  { name: 'signed port', cfg: 'dataDir=@DIR@\nclientPort=+2181\n' },
  {
    name: 'quorum with observer, IPv6 and client addresses',
    myid: '2',
    cfg: 'dataDir=@DIR@\ninitLimit=5\nsyncLimit=2\nserver.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889:participant;127.0.0.1:2182\nserver.3=[::1]:2890:3890:observer;2183\n',
  },
  { name: 'static clientPort with wildcard address agrees with own line', myid: '1', cfg: 'dataDir=@DIR@\nclientPort=2181\ninitLimit=5\nsyncLimit=2\nserver.1=a:1:2;127.0.0.1:2181\nserver.2=b:1:2\n' },
  { name: 'single server line runs standalone', myid: '1', cfg: 'dataDir=@DIR@\nserver.1=127.0.0.1:2888:3888;2181\n' },
  { name: 'quorum of one', myid: '1', cfg: 'dataDir=@DIR@\nclientPort=2181\nstandaloneEnabled=false\ninitLimit=5\nsyncLimit=2\nserver.1=a:1:2\n' },
  { name: 'dynamic file', myid: '1', cfg: 'dataDir=@DIR@\ninitLimit=5\nsyncLimit=2\ndynamicConfigFile=@DIR@/zoo.cfg.dynamic.100000000\n', dynamic: 'server.1=a:1:2;2181\nserver.2=b:1:2;2181\n' },
  { name: 'hierarchical', myid: '1', cfg: 'dataDir=@DIR@\nclientPort=2181\ninitLimit=5\nsyncLimit=2\nserver.1=a:1:2\nserver.2=b:1:2\ngroup.1=1:2\nweight.1=0\n' },
  { name: 'inline version', cfg: 'dataDir=@DIR@\nclientPort=2181\nserver.1=a:1:2\nversion=100000000\n' },

  { name: 'tickTime not a number', cfg: 'tickTime=abc\ndataDir=@DIR@\nclientPort=2181\n', error: /line 1: tickTime: 'abc' is not a number/ },
  { name: 'tickTime 0', cfg: 'tickTime=0\ndataDir=@DIR@\nclientPort=2181\n', error: /line 1: tickTime: 0 is not a positive/ },
  { name: 'no dataDir', cfg: 'clientPort=2181\n', error: /: dataDir: not set/ },
  { name: 'port out of range', cfg: 'dataDir=@DIR@\nclientPort=70000\n', error: /line 2: clientPort: port 70000 is out of range/ },
  { name: 'address without port', cfg: 'dataDir=@DIR@\nclientPortAddress=127.0.0.1\nserver.1=a:1:2;2181\n', myid: '1', error: /clientPortAddress: set, but clientPort is not/ },
  { name: 'min > max', cfg: 'dataDir=@DIR@\nclientPort=2181\nminSessionTimeout=9000\nmaxSessionTimeout=8000\n', error: /line 3: minSessionTimeout: minSessionTimeout 9000 ms is larger/ },
  { name: 'bad boolean', cfg: 'dataDir=@DIR@\nclientPort=2181\nlocalSessionsEnabled=yes\n', error: /localSessionsEnabled: 'yes' is not true or false/ },
  { name: 'electionAlg 1', cfg: 'dataDir=@DIR@\nclientPort=2181\nelectionAlg=1\n', error: /electionAlg: only 3/ },
  { name: 'bad peerType', cfg: 'dataDir=@DIR@\nclientPort=2181\npeerType=leader\n', error: /peerType: 'leader'/ },
  { name: 'server line without election port', cfg: 'dataDir=@DIR@\nclientPort=2181\nserver.1=a:2888\n', error: /server\.1: 'a:2888' is not/ },
  { name: 'server line with equal ports', cfg: 'dataDir=@DIR@\nclientPort=2181\nserver.1=a:2888:2888\n', error: /server\.1: quorum and election port must differ/ },
  { name: 'server line with bad role', cfg: 'dataDir=@DIR@\nclientPort=2181\nserver.1=a:1:2:leader\n', error: /server\.1: 'leader' is not participant/ },
  { name: 'server line with trailing blank', cfg: 'dataDir=@DIR@\nclientPort=2181\nserver.1=a:1:2; 2181\n', error: /server\.1: client port: ' 2181'/ },
  { name: 'server id not a number', cfg: 'dataDir=@DIR@\nclientPort=2181\nserver.x=a:1:2\n', error: /server\.x: 'x' is not an id/ },
  { name: 'multi-address without the flag', cfg: 'dataDir=@DIR@\nclientPort=2181\nmultiAddress.enabled=true\nserver.1=a:1:2|b:1:2\n', error: /several \|-separated/ },
  { name: 'quorum without initLimit', myid: '1', cfg: 'dataDir=@DIR@\nclientPort=2181\nsyncLimit=2\nserver.1=a:1:2\nserver.2=b:1:2\n', error: /initLimit: must be set/ },
  { name: 'quorum without myid', cfg: 'dataDir=@DIR@\nclientPort=2181\ninitLimit=5\nsyncLimit=2\nserver.1=a:1:2\nserver.2=b:1:2\n', error: /myid: missing/ },
  { name: 'myid not a number', myid: 'one', cfg: 'dataDir=@DIR@\nclientPort=2181\nserver.1=a:1:2\n', error: /myid: 'one' is not a server id/ },
  { name: 'observer without quorum', myid: '1', cfg: 'dataDir=@DIR@\nclientPort=2181\nserver.1=a:1:2\nserver.2=b:1:2:observer\n', error: /server\.2: observers need a quorum/ },
  { name: 'standaloneEnabled=false without servers', cfg: 'dataDir=@DIR@\nclientPort=2181\nstandaloneEnabled=false\n', error: /standaloneEnabled: false needs/ },
  { name: 'static client address differs from own line', myid: '1', cfg: 'dataDir=@DIR@\nclientPort=2181\nclientPortAddress=127.0.0.1\ninitLimit=5\nsyncLimit=2\nserver.1=a:1:2;2182\nserver.2=b:1:2\n', error: /clientPortAddress: 127\.0\.0\.1:2181 differs/ },
  { name: 'server line beside dynamicConfigFile', cfg: 'dataDir=@DIR@\nclientPort=2181\ndynamicConfigFile=@DIR@/zoo.cfg.dynamic.100000000\nserver.1=a:1:2\n', dynamic: 'server.2=b:1:2\n', error: /server\.1: must be in the dynamic config file/ },
  { name: 'version inside the dynamic file', cfg: 'dataDir=@DIR@\nclientPort=2181\ndynamicConfigFile=@DIR@/zoo.cfg.dynamic.100000000\n', dynamic: 'server.1=a:1:2\nversion=1\n', error: /version: not allowed here/ },
  { name: 'other key in the dynamic file', cfg: 'dataDir=@DIR@\nclientPort=2181\ndynamicConfigFile=@DIR@/zoo.cfg.dynamic.100000000\n', dynamic: 'server.1=a:1:2\nclientPort=2181\n', error: /clientPort: only server\.N/ },
  { name: 'missing dynamic file', cfg: 'dataDir=@DIR@\nclientPort=2181\ndynamicConfigFile=@DIR@/nope\n', error: /dynamicConfigFile: cannot read/ },
  { name: 'participant in no group', myid: '1', cfg: 'dataDir=@DIR@\nclientPort=2181\nserver.1=a:1:2\nserver.2=b:1:2\ngroup.1=1\n', error: /server\.2: server 2 is in no group/ },
  { name: 'server in two groups', myid: '1', cfg: 'dataDir=@DIR@\nclientPort=2181\nserver.1=a:1:2\nserver.2=b:1:2\ngroup.1=1:2\ngroup.2=2\n', error: /server 2 is also in group\.1/ },
  { name: 'group-like key', cfg: 'dataDir=@DIR@\nclientPort=2181\ngroupies=1\n', error: /groupies: 'groupies' is not an id/ },
  { name: 'bad weight', cfg: 'dataDir=@DIR@\nclientPort=2181\nserver.1=a:1:2\ngroup.1=1\nweight.1=x\n', error: /weight\.1: 'x' is not a number/ },
  { name: 'bad inline version', cfg: 'dataDir=@DIR@\nclientPort=2181\nserver.1=a:1:2\nversion=xyz\n', error: /version: 'xyz' is not a hexadecimal/ },
  { name: 'quorum SASL required but off', cfg: 'dataDir=@DIR@\nclientPort=2181\nquorum.auth.serverRequireSasl=true\n', error: /quorum\.auth\.serverRequireSasl: needs quorum\.auth\.enableSasl/ },
  { name: 'malformed unicode escape', cfg: 'dataDir=@DIR@\nclientPort=2181\nx=\\uZZZZ\n', error: /line 3: malformed \\uxxxx escape/ },
];

/** Write each sample into its own directory; returns the zoo.cfg paths in SAMPLES order. */
function writeSamples(): string[] {
  return SAMPLES.map((s) => {
    const dir = freshDir(s.myid);
    mkdirSync(join(dir, 'log'));
    if (s.dynamic !== undefined) writeFileSync(join(dir, 'zoo.cfg.dynamic.100000000'), s.dynamic);
    const file = join(dir, 'zoo.cfg');
    writeFileSync(file, s.cfg.replaceAll('@DIR@', dir));
    return file;
  });
}

describe('sample configs', () => {
  const files = writeSamples();
  SAMPLES.forEach((s, i) => {
    test(`Paddock: ${s.name}`, () => {
      if (s.error) rejects(() => loadConfig(files[i], {}), s.error);
      else loadConfig(files[i], {});
    });
  });

  // ZooKeeper's QuorumPeerConfig.parse() on every sample in one JVM, resetting the static and
  // system-property state that one parse leaves behind for the next.
  const PROBE = `
import org.apache.zookeeper.server.quorum.QuorumPeerConfig;
import java.util.Properties;
public class Probe {
  public static void main(String[] files) {
    Properties clean = (Properties) System.getProperties().clone();
    for (String f : files) {
      System.setProperties((Properties) clean.clone());
      QuorumPeerConfig.setStandaloneEnabled(true);
      QuorumPeerConfig.setReconfigEnabled(false);
      String verdict = "OK";
      try {
        new QuorumPeerConfig().parse(f);
      } catch (Exception e) {
        verdict = "ERR";
        for (Throwable t = e; t != null; t = t.getCause()) verdict += " | " + t.getMessage();
      }
      System.out.println("@@" + verdict.replace('\\n', ' '));
    }
  }
}`;
  const jar = '/usr/share/java/zookeeper.jar';
  const haveZk = existsSync(jar) && spawnSync('java', ['-version']).status === 0;
  test('Apache ZooKeeper 3.8 gives every sample the same verdict', { skip: haveZk ? false : 'java or zookeeper.jar not installed' }, () => {
    const probe = join(freshDir(), 'Probe.java');
    writeFileSync(probe, PROBE);
    const run = spawnSync('java', ['-cp', `/etc/zookeeper/conf:${jar}`, probe, ...files], { encoding: 'utf8', timeout: 60_000 });
    const verdicts = run.stdout.split('\n').filter((l) => l.startsWith('@@')).map((l) => l.slice(2));
    assert.equal(verdicts.length, SAMPLES.length, run.stderr);
    const disagreements = SAMPLES.filter((s, i) => (s.error === undefined) !== (verdicts[i] === 'OK')).map(
      (s) => `${s.name}: expected ${s.error ? 'rejection' : 'acceptance'}, ZooKeeper says ${verdicts[SAMPLES.indexOf(s)]}`,
    );
    assert.deepEqual(disagreements, []);
  });
});
