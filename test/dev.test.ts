// `paddock dev` as a user drives it: through plain pipes (a script) and on a
// real pseudo-terminal. It prints the connect string, a client writes and
// reads through it, a peer killed from the keyboard shows as down while a
// leader remains and the client carries on, the peer restarted from the
// keyboard comes back, and quitting (q, Ctrl-C) leaves no peer process and no
// temporary directory behind.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { connect } from '../src/client/index.ts';
import { spawnPty } from './support/pty.ts';
import { ROOT } from './support/servers.ts';
import { waitFor } from './support/wait.ts';

const PADDOCK = join(ROOT, 'bin', 'paddock.js');
const WAIT_MS = 60_000;
const SERVING = /^(leader|follower)$/;

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Every pid the output names, and the temporary directory: all gone once `paddock dev` exited. */
function assertCleanedUp(output: string, peers = 3): void {
  const dir = /peers? in (\S+)/.exec(output)?.[1];
  assert.ok(dir, 'the output names the directory');
  assert.equal(existsSync(dir), false, `${dir} was removed`);
  const pids = [...output.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]));
  assert.ok(pids.length >= peers, 'the output names the peer processes');
  assert.deepEqual(pids.filter(alive), [], 'no peer process is left');
}

/** A client's write and read through the connect string (sessions move between peers as they are killed). */
async function writeAndRead(connectString: string, path: string, value: string): Promise<void> {
  const zk = await connect(connectString, { sessionTimeout: 30_000 });
  try {
    if (!(await zk.exists(path))) await zk.create(path, value);
    else await zk.setData(path, value);
    assert.equal((await zk.getData(path)).data?.toString(), value);
  } finally {
    await zk.close();
  }
}

describe('paddock dev', () => {
  test('through pipes: connect string, kill and restart a peer with k1/r1, q removes everything', async () => {
    const child = spawn(process.execPath, [PADDOCK, 'dev', '--peers', '3'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    /** Each peer's role as the change lines (`peer 2: follower -> down`) last told it. */
    const roles = (): Map<number, string> => new Map([...out.matchAll(/^peer (\d+): (?:\S+ -> )?([a-z-]+)$/gm)].map((m) => [Number(m[1]), m[2]!]));
    const until = (what: string, ok: () => boolean) => waitFor(what, WAIT_MS, ok).catch((e: Error) => assert.fail(`${e.message}; the output:\n${out}`));
    try {
      const connectString = await until('the connect string', () => /^connect string: (\S+)$/m.test(out)).then(() => /^connect string: (\S+)$/m.exec(out)![1]!);
      assert.match(out, /^dashboard: http:\/\/127\.0\.0\.1:\d+\/ http:\/\/127\.0\.0\.1:\d+\/ http:\/\/127\.0\.0\.1:\d+\/$/m);
      await until('every peer serving, one leading', () => [1, 2, 3].every((n) => SERVING.test(roles().get(n) ?? '')) && [...roles().values()].filter((r) => r === 'leader').length === 1);
      await writeAndRead(connectString, '/dev-pipes', 'before');

      const pid1 = Number(/^peer 1: pid (\d+)/m.exec(out)![1]);
      child.stdin.write('k1\n');
      await until('peer 1 down and a leader among the others', () => roles().get(1) === 'down' && [2, 3].some((n) => roles().get(n) === 'leader'));
      assert.equal(alive(pid1), false, 'peer 1 was killed');
      await writeAndRead(connectString, '/dev-pipes', 'while peer 1 is down');

      child.stdin.write('r1\n');
      await until('peer 1 restarted and serving', () => /^peer 1 restarted \(pid \d+\): it serves$/m.test(out) && SERVING.test(roles().get(1) ?? ''));
      await writeAndRead(connectString, '/dev-pipes', 'after');

      child.stdin.write('nonsense\n');
      await until('the bad command refused', () => /^not a command: "nonsense"/m.test(out));
      child.stdin.write('q\n');
      assert.equal(await exited, 0);
      assertCleanedUp(out);
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('on a pseudo-terminal: the live screen, kill the leader and restart it from the keyboard, Ctrl-C removes everything', async () => {
    const pty = spawnPty(`${process.execPath} ${PADDOCK} dev`);
    /** The last screen drawn (each redraw clears the screen first). */
    const frame = () => pty.screen().split('\x1b[2J').at(-1)!;
    const role = (n: number) => new RegExp(`^ {2}peer ${n} {2}(\\S+)`, 'm').exec(frame())?.[1];
    const until = (what: string, ok: () => boolean) => waitFor(what, WAIT_MS, ok).catch((e: Error) => assert.fail(`${e.message}; the last screen:\n${frame()}`));
    try {
      // the status and the prompt under it (the prompt follows the status in a write of its own)
      await until('every peer serving, and the prompt', () => [1, 2, 3].every((n) => SERVING.test(role(n) ?? '')) && /dev> /.test(frame()));
      assert.match(frame(), /^connect string: 127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+\r?$/m);
      const leader = [1, 2, 3].find((n) => role(n) === 'leader');
      assert.ok(leader, 'one peer leads');

      await pty.type(`k${leader}\r`, new RegExp(`peer ${leader} killed`));
      await until('the old leader down, another leading', () => role(leader) === 'down' && [1, 2, 3].some((n) => n !== leader && role(n) === 'leader'));

      await pty.type(`r${leader}\r`, new RegExp(`peer ${leader} restarted`));
      await until('the old leader back', () => SERVING.test(role(leader) ?? ''));

      await pty.type('\x03', /stopped every peer and removed/);
      assert.equal(await pty.exited, 0);
      assertCleanedUp(pty.screen());
    } finally {
      pty.kill();
    }
  });

  test('--peers 1 (a standalone server), stopped by SIGTERM: everything removed; bad arguments refused', async () => {
    // SIGTERM once the peer serves, and as soon as its address is printed (the console is not up yet: a signal then
    // once found Node's default and killed the command outright, leaving the peer and its directory).
    for (const [what, line] of [
      ['peer 1 serving', /^peer 1: standalone$/m],
      ['peer 1 listed', /^peer 1: pid \d+/m],
    ] as const) {
      const child = spawn(process.execPath, [PADDOCK, 'dev', '--peers=1'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
      try {
        await waitFor(what, WAIT_MS, () => line.test(out)).catch((e: Error) => assert.fail(`${e.message}; the output:\n${out}`));
        child.kill('SIGTERM');
        assert.equal(await exited, 0, `exit status after SIGTERM at "${what}"`);
        assertCleanedUp(out, 1);
      } finally {
        child.kill('SIGKILL');
      }
    }
    for (const args of [['--peers', '0'], ['--peers', 'x'], ['--nodes', '3']]) {
      const bad = spawn(process.execPath, [PADDOCK, 'dev', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      bad.stderr.on('data', (d) => (err += d));
      assert.equal(await new Promise((resolve) => bad.once('close', resolve)), 2);
      assert.match(err, /^paddock dev: .*\nusage: paddock dev/);
    }
  });
});
