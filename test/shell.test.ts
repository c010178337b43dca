// `paddock shell` against zkCli.sh: the same commands run through Debian's zkCli.sh on a
// ZooKeeper 3.8 server and through `paddock shell` on a Paddock server print the same
// lines on the same streams and exit with the same status. Times and zxids differ between
// the two servers by nature (zkCli also leaves its sessions to expire, so the servers'
// zxids drift apart), so they are checked for zkCli's format and then masked. Then
// what zkCli has no counterpart for: --json, and a session on a real pseudo-terminal
// (`script`) with tab completion of command names and paths, history and redo.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, startPaddock, startZooKeeper, type RunningServer } from './support/servers.ts';
import { spawnPty } from './support/pty.ts';
import { ShellSession } from '../src/shell/session.ts';

const PADDOCK = join(ROOT, 'bin', 'paddock.js');
const ZKCLI = '/usr/share/zookeeper/bin/zkCli.sh';
const ENV = { ...process.env, TZ: 'UTC' };

interface Run {
  out: string[];
  err: string[];
  code: number | null;
}

function run(command: string, args: string[], input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: ENV, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.once('error', reject);
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('close', (code) => {
      clearTimeout(killer);
      resolve({ out: out.split('\n').slice(0, -1), err: err.split('\n').slice(0, -1), code });
    });
    child.stdin.end(input ?? '');
  });
}

const BANNER = /^(Connecting to |Welcome to ZooKeeper!$|JLine support is disabled$|SLF4J:)/;

/**
 * zkCli.sh's output without its banner lines and SLF4J's complaints; for a one-shot command also without the
 * connection event before the command's output, which `paddock shell` keeps out of a script's way.
 */
async function zkCli(server: RunningServer, args: string[], input?: string): Promise<Run> {
  const r = await run(ZKCLI, ['-server', server.connectString, ...args], input);
  let out = r.out.filter((l) => !BANNER.test(l));
  if (args.length > 0) {
    out = out.slice(out.indexOf('WatchedEvent state:SyncConnected type:None path:null') + 1); // none before an unknown command
  }
  return { out, err: r.err.filter((l) => !BANNER.test(l)), code: r.code };
}

const shell = (server: RunningServer, args: string[], input?: string) => run(process.execPath, [PADDOCK, 'shell', '-server', server.connectString, ...args], input);

const JAVA_DATE = /^(c|m)time = (Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d\d \d\d:\d\d:\d\d UTC \d{4}$/;
const HEX_FIELD = /^(cZxid|mZxid|pZxid|ephemeralOwner) = 0x[0-9a-f]+$/;

/** Lines with times and zxids masked, after checking they are in zkCli's format. */
function masked(lines: string[]): string[] {
  return lines.map((l) => {
    if (/^[cm]time = /.test(l)) {
      assert.match(l, JAVA_DATE);
      return l.slice(0, 8) + '<date>';
    }
    if (/^(cZxid|mZxid|pZxid|ephemeralOwner) = /.test(l)) {
      assert.match(l, HEX_FIELD);
      return l.replace(/0x[0-9a-f]+$/, '<hex>');
    }
    return l;
  });
}

function assertSame(paddock: Run, zookeeper: Run, what: string): void {
  assert.deepEqual(masked(paddock.out), masked(zookeeper.out), `${what}: stdout`);
  assert.deepEqual(paddock.err, zookeeper.err, `${what}: stderr`);
  assert.equal(paddock.code, zookeeper.code, `${what}: exit status`);
}

// One zkCli session through a pipe (zkCli reads stdin without JLine): no watches, whose
// events would come at moments of their own.
const SESSION = [
  'create /t hello',
  'create /t/b x',
  'create /t/c',
  'create /t/b/d deep',
  'ls /t',
  'ls -s /t',
  'ls -R /t',
  'get -s /t',
  'get /t/c',
  'stat /t/b',
  'getAcl /t',
  'getAcl -s /t/b',
  'create -e -s /t/e y',
  'getEphemerals /t',
  'getAllChildrenNumber /t',
  // zkCli leaves its session to expire, so its ephemerals outlive it: gone by hand for what follows.
  'delete /t/e0000000002',
  'set -v 7 /t x',
  'set -s -v 0 /t/b z',
  'get /t/b',
  'delete /t/missing',
  'delete -v 3 /t/c',
  'create /t x',
  'delete /t',
  'stat /t/missing',
  'whoami',
  'addauth digest u:p',
  'whoami',
  'create /t/acl d world:anyone:rwa',
  'getAcl /t/acl',
  'setAcl /t/acl world:anyone:r',
  'getAcl /t/acl',
  'set /t/acl nope',
  'sync /t',
  'deleteall /t/b',
  'ls /t',
  'history',
  'redo 4',
  'get',
  'quit',
];

describe('paddock shell', () => {
  let paddock: RunningServer;
  let zookeeper: RunningServer;

  before(async () => {
    [paddock, zookeeper] = await Promise.all([startPaddock(), startZooKeeper()]);
  });
  after(async () => {
    await Promise.all([paddock?.stop(), zookeeper?.stop()]);
  });

  test('a session through a pipe prints what zkCli.sh prints, line by line, on the same streams', async () => {
    const input = SESSION.join('\n') + '\n';
    const [p, z] = await Promise.all([shell(paddock, [], input), zkCli(zookeeper, [], input)]);
    assertSame(p, z, 'piped session');
    // The comparison is only worth something if the session did what it says.
    assert.ok(p.out.includes('[b, c]') && p.out.includes('/t/b/d') && p.out.includes('hello'), p.out.join('\n'));
    assert.ok(p.out.includes("'world,'anyone") && p.out.includes(': rwa') && p.out.includes(': r'));
    assert.ok(p.out.includes('digest: u') && p.out.includes('Sync is OK') && p.out.includes(`${SESSION.indexOf('history')} - history`));
    assert.ok(p.out.some((l) => /^\[\/t\/e\d{10}\]$/.test(l)), 'getEphemerals lists the sequential ephemeral');
    assert.ok(p.err.includes('Node does not exist: /t/missing') && p.err.includes('Node already exists: /t'));
    assert.ok(p.err.includes('version No is not valid : /t') && p.err.includes('Node not empty: /t'));
    assert.ok(p.err.includes('Insufficient permission : /t/acl') && p.err.includes('get [-s] [-w] path'));
  });

  test('watches, their events and removal, close and connect print what zkCli.sh prints', async () => {
    // zkCli prints events from a thread of its own: nothing follows `close` (nor a `connect`, whose event may never come
    // when zkCli quits at once).
    const session = ['create /w', 'ls -w /w', 'get -w /w', 'stat -w /w', 'removewatches /w -d', 'removewatches /w -d', 'addWatch -m PERSISTENT /w', 'set /w changed', 'close'].join('\n') + '\n';
    const [p, z] = await Promise.all([shell(paddock, [], session), zkCli(zookeeper, [], session)]);
    assertSame(p, z, 'watch session');
    const event = (state: string, type: string, path: string) => ['', 'WATCHER::', '', `WatchedEvent state:${state} type:${type} path:${path}`];
    const stat = ['cZxid = <hex>', 'ctime = <date>', 'mZxid = <hex>', 'mtime = <date>', 'pZxid = <hex>', 'cversion = 0', 'dataVersion = 0', 'aclVersion = 0', 'ephemeralOwner = <hex>', 'dataLength = 0', 'numChildren = 0'];
    assert.deepEqual(masked(p.out), [
      ...event('SyncConnected', 'None', 'null'),
      '[]',
      'null',
      ...stat,
      ...event('SyncConnected', 'DataWatchRemoved', '/w'),
      ...event('SyncConnected', 'NodeDataChanged', '/w'),
      ...event('Closed', 'None', 'null'),
    ]);
    assert.deepEqual(p.err, ['Created /w', 'KeeperErrorCode = No such watcher for /w']);

    const reconnected = await shell(paddock, [], `close\nls /w\nconnect ${paddock.connectString}\nget /w\n`);
    assert.deepEqual(reconnected.out.slice(4), [...event('Closed', 'None', 'null'), 'Not connected', ...event('SyncConnected', 'None', 'null'), 'changed', ...event('Closed', 'None', 'null')]);
    assert.equal(reconnected.code, 0);
    const closed = await shell(paddock, [], 'close\nls /\n');
    assert.deepEqual(closed.out.slice(-1), ['Not connected']);
    assert.equal(closed.code, 1);
  });

  test('one-shot commands: the same output and exit status as zkCli.sh', async () => {
    for (const args of [['ls', '-R', '/t'], ['get', '/t/missing'], ['create', '/t', 'again'], ['set', '-v', '9', '/t', 'x'], ['getAllChildrenNumber', '/t']]) {
      const [p, z] = await Promise.all([shell(paddock, args), zkCli(zookeeper, args)]);
      assertSame(p, z, args.join(' '));
      assert.equal(p.code, args[0] === 'ls' || args[0] === 'getAllChildrenNumber' ? 0 : 1, args.join(' '));
    }
    // An unknown command: zkCli's status 127 and sentence (the usage that precedes it lists the commands each has).
    const [p, z] = await Promise.all([shell(paddock, ['frobnicate', '/t']), zkCli(zookeeper, ['frobnicate', '/t'])]);
    assert.equal(p.code, 127);
    assert.equal(z.code, 127);
    assert.equal(p.err.at(-1), z.err.at(-1));
    assert.equal(p.err.at(-1), 'Command not found: Command not found frobnicate');
  });

  test('--json prints one JSON document per command, errors included', async () => {
    const ls = await shell(paddock, ['--json', 'ls', '-s', '/t']);
    assert.equal(ls.code, 0);
    const listed = JSON.parse(ls.out.join('\n'));
    assert.deepEqual(listed.children, ['acl', 'c']);
    assert.equal(listed.stat.numChildren, 2);
    assert.match(listed.stat.cZxid, /^0x[0-9a-f]+$/);

    const missing = await shell(paddock, ['--json', 'get', '/t/missing']);
    assert.equal(missing.code, 1);
    assert.deepEqual(JSON.parse(missing.out.join('\n')), { error: 'Node does not exist: /t/missing', code: 'noNode' });

    const created = await shell(paddock, ['--json', 'create', '/t/j', 'with spaces']);
    assert.equal(created.code, 0);
    assert.deepEqual(JSON.parse(created.out.join('\n')), { path: '/t/j' });
    const got = JSON.parse((await shell(paddock, ['--json', 'get', '/t/j'])).out.join('\n'));
    assert.equal(got.data, 'with spaces');
    assert.equal(got.stat.dataLength, 11);
  });

  test('completion: command names, and the children of the typed path parent', async () => {
    const io = { out: () => undefined, err: () => undefined };
    const session = new ShellSession(paddock.connectString, { timeout: 30_000, readOnly: false, json: false, announceStates: false }, io);
    assert.ok(await session.open());
    try {
      assert.deepEqual(await session.complete('getA'), [['getAcl', 'getAllChildrenNumber'], 'getA']);
      assert.deepEqual(await session.complete('get /t/'), [['/t/acl', '/t/c', '/t/j'], '/t/']);
      assert.deepEqual(await session.complete('ls -s /t/a'), [['/t/acl'], '/t/a']);
      assert.deepEqual(await session.complete('ls /'), [['/t', '/w', '/zookeeper'], '/']);
      assert.deepEqual(await session.complete('ls /nowhere/x'), [[], '/nowhere/x']);
    } finally {
      await session.close();
    }
  });

  test('on a pseudo-terminal: prompt, TAB completes, history and redo', async () => {
    const pty = spawnPty(`${process.execPath} ${PADDOCK} shell -server ${paddock.connectString}`, ENV);
    // Keys are sent one burst at a time: readline takes a TAB inside a pasted burst literally.
    const type = pty.type;
    try {
      await type('', /\[zk: 127\.0\.0\.1:\d+\(CONNECTED\) 0\] /);
      await type('getAllCh', /getAllCh/);
      await type('\t', /getAllChildrenNumber/);
      await type(' /t\r', /\r\n3\r\n/);
      await type('get /t/a', /get \/t\/a/);
      await type('\t', /\/t\/acl/);
      await type('\r', /\r\nd\r\n/);
      await type('history\r', /0 - getAllChildrenNumber \/t\r\n1 - get \/t\/acl\r\n2 - history/);
      await type('redo 1\r', /\(CONNECTED\) 3\] .*redo 1\r+\n[^]*d\r\n/);
      assert.match(pty.screen(), /\(CONNECTED\) 4\] /);
      await type('quit\r', /quit/);
      assert.equal(await pty.exited, 0);
    } finally {
      pty.kill();
    }
  });
});
