// Process life: start-up logs, clean shutdown on SIGTERM/SIGINT that frees the
// port at once, configuration errors that stop start-up with one clear message.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fourLetterWord, freePort, ROOT, startPaddock, waitForServing } from './support/servers.ts';

const PADDOCK = join(ROOT, 'bin', 'paddock.js');
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'paddock-proc-'));
  dirs.push(d);
  return d;
}

function writeCfg(dir: string, lines: string[]): string {
  const p = join(dir, 'zoo.cfg');
  writeFileSync(p, lines.join('\n') + '\n');
  return p;
}

/** Connect and wait for the ConnectResponse of a new session. */
function openSession(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => {
      const req = Buffer.alloc(4 + 44);
      req.writeInt32BE(44, 0);
      req.writeInt32BE(30000, 4 + 12); // timeOut; everything else zero
      req.writeInt32BE(16, 4 + 24); // passwd length
      sock.write(req);
    });
    sock.once('data', () => resolve(sock));
    sock.once('error', reject);
  });
}

describe('process life', () => {
  test('logs config, mode, port and dataDir at start-up', async () => {
    const server = await startPaddock();
    try {
      const out = server.output();
      assert.match(out, new RegExp(`config: ${join(server.dir, 'zoo.cfg').replace(/[/.]/g, '\\$&')}`));
      assert.match(out, /mode: standalone/);
      assert.match(out, new RegExp(`dataDir ${join(server.dir, 'data').replace(/[/.]/g, '\\$&')}`));
      assert.match(out, new RegExp(`serving clients on 127\\.0\\.0\\.1:${server.port}`));
    } finally {
      await server.stop();
    }
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`${signal} with clients connected exits 0 and frees the port for an immediate restart`, async () => {
      const dir = tempDir();
      const port = await freePort();
      const cfg = writeCfg(dir, ['tickTime=2000', `dataDir=${join(dir, 'data')}`, `clientPort=${port}`, 'clientPortAddress=127.0.0.1', '4lw.commands.whitelist=*', 'admin.enableServer=false']);
      const first = spawn(process.execPath, [PADDOCK, 'server', cfg], { stdio: 'ignore' });
      await waitForServing('127.0.0.1', port);
      const clients = await Promise.all([openSession(port), openSession(port), openSession(port)]);
      const exit = new Promise<number | null>((resolve) => first.once('exit', (code) => resolve(code)));
      const t0 = Date.now();
      first.kill(signal);
      assert.equal(await exit, 0);
      const shutdownMs = Date.now() - t0;
      clients.forEach((c) => c.destroy());
      // Same port, straight away.
      const second = spawn(process.execPath, [PADDOCK, 'server', cfg], { stdio: 'ignore' });
      try {
        await waitForServing('127.0.0.1', port, 10_000);
        assert.equal(await fourLetterWord('127.0.0.1', port, 'ruok'), 'imok');
      } finally {
        second.kill('SIGTERM');
        await new Promise((r) => second.once('exit', r));
      }
      assert.ok(shutdownMs < 5000, `shutdown took ${shutdownMs} ms`);
    });
  }

  test('a signal during start-up stops the server once it is up, with exit status 0', async () => {
    const dir = tempDir();
    const port = await freePort();
    const cfg = writeCfg(dir, ['tickTime=2000', `dataDir=${join(dir, 'data')}`, `clientPort=${port}`, 'clientPortAddress=127.0.0.1', 'admin.enableServer=false']);
    const child = spawn(process.execPath, [PADDOCK, 'server', cfg], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // At the very first line, long before the dataDir is even opened.
    await new Promise<void>((resolve) =>
      child.stdout.on('data', (d) => {
        out += d;
        if (/Paddock /.test(out)) resolve();
      }),
    );
    child.kill('SIGTERM');
    assert.equal(await exit, 0, out);
    assert.match(out, /SIGTERM: shutting down/);
  });
});

describe('configuration errors stop start-up with one clear message', () => {
  // [name, zoo.cfg lines, what the message names (key, and line number when the key is present)]
  const cases: [string, string[], RegExp[]][] = [
    ['non-numeric tickTime', ['tickTime=abc', 'dataDir=/tmp/x', 'clientPort=2181'], [/tickTime/, /line 1\b/]],
    ['missing dataDir', ['tickTime=2000', 'clientPort=2181'], [/dataDir/]],
    ['port out of range', ['tickTime=2000', 'dataDir=/tmp/x', 'clientPort=70000'], [/clientPort/, /line 3\b/]],
    [
      'unparsable server line',
      ['tickTime=2000', 'dataDir=/tmp/x', 'clientPort=2181', 'initLimit=5', 'syncLimit=2', 'server.1=localhost', 'server.2=localhost:2888:3888'],
      [/server\.1/, /line 6\b/],
    ],
  ];
  for (const [name, lines, expected] of cases) {
    test(name, () => {
      const dir = tempDir();
      const cfg = writeCfg(dir, lines);
      const res = spawnSync(process.execPath, [PADDOCK, 'server', cfg], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(res.status, 2, `exit status; stderr: ${res.stderr}`);
      const lines2 = res.stderr.trim().split('\n');
      assert.equal(lines2.length, 1, `one line: ${res.stderr}`);
      for (const re of expected) assert.match(lines2[0]!, re);
    });
  }

  test('a missing config file is named', () => {
    const res = spawnSync(process.execPath, [PADDOCK, 'server', '/nonexistent/zoo.cfg'], { encoding: 'utf8', timeout: 20_000 });
    assert.notEqual(res.status, 0);
    assert.match(res.stderr, /\/nonexistent\/zoo\.cfg/);
  });
});

describe('maxClientCnxns', () => {
  test('connections beyond the per-IP limit are closed at accept; others keep working', async () => {
    const server = await startPaddock({ cfg: { maxClientCnxns: 3 } });
    try {
      const held = await Promise.all([openSession(server.port), openSession(server.port), openSession(server.port)]);
      const extra = net.connect(server.port, '127.0.0.1');
      const closedBeforeReply = await new Promise<boolean>((resolve) => {
        extra.once('data', () => resolve(false));
        extra.once('close', () => resolve(true));
        extra.once('error', () => resolve(true));
        extra.write(Buffer.from('ruok'));
      });
      assert.equal(closedBeforeReply, true);
      held[0]!.destroy();
      await new Promise((r) => setTimeout(r, 200));
      const again = await openSession(server.port);
      again.destroy();
      held.forEach((s) => s.destroy());
    } finally {
      await server.stop();
    }
  });
});
