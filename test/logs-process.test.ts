// The server's log as a collector reads it: real `paddock server` processes
// writing JSON lines into a pipe. A three-member ensemble (TestEnsemble) has
// its leader killed: every line of every member parses and names its member;
// each member logs one election result per election, the survivors naming the
// same new leader and epoch; the killed member, restarted, logs how it synced
// (the same type its leader chose); the leader logs a session's expiry.
// A standalone server takes its level from zoo.cfg, refuses a bad one from
// the environment, and writes text on a terminal (a pseudo-terminal, script(1)).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bounded, TestEnsemble } from './support/ensemble.ts';
import { openSession } from './support/rawclient.ts';
import { spawnPty } from './support/pty.ts';
import { freePort, ROOT, startPaddock } from './support/servers.ts';
import { waitFor } from './support/wait.ts';

const WAIT_MS = 60_000;

interface Line {
  time: string;
  level: string;
  msg: string;
  event?: string;
  peer?: number;
  role?: string;
  leader?: number;
  epoch?: number;
  zxid?: string;
  [field: string]: unknown;
}

/** Every line of `output` as JSON: any line that is not one fails the test. */
function jsonLines(output: string, who: string): Line[] {
  return output
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as Line;
      } catch {
        assert.fail(`${who}: a line that is not JSON: ${l}`);
      }
    });
}

const events = (lines: Line[], event: string) => lines.filter((l) => l.event === event);

describe('JSON logs of a three-member ensemble whose leader is killed', { timeout: 300_000 }, () => {
  let ens: TestEnsemble;
  before(async () => {
    // DEBUG from zoo.cfg (paddock.logLevel), JSON from the environment (PADDOCK_LOG_FORMAT, as TestEnsemble passes it).
    ens = await TestEnsemble.create('logs-process', [{ id: 1 }, { id: 2 }, { id: 3 }], { tickTime: 300, cfg: { 'paddock.logLevel': 'DEBUG' }, waitMs: WAIT_MS, logFormat: 'json' });
  });
  after(() => ens.close());

  it('logs start-up, elections, syncs and session expiry once each, as JSON lines with peer, role, epoch and zxid', async (t) => {
    const first = await ens.startAll();
    for (const id of ens.ids) {
      const lines = jsonLines(ens.server(id).output(), `member ${id}`);
      assert.ok(lines.every((l) => l.peer === id && typeof l.time === 'string' && typeof l.msg === 'string'), `member ${id}: every line names it`);
      const config = events(lines, 'config');
      assert.equal(config.length, 1, `member ${id}: one config line`);
      assert.equal(config[0]!.mode, 'ensemble');
      assert.equal(config[0]!.clientPort, ens.clientPort(id));
      const ports = events(lines, 'listening').map((l) => l.port);
      const { quorumPort, electionPort } = ens.peerPorts(id);
      for (const port of [ens.clientPort(id), quorumPort, electionPort]) assert.ok(ports.includes(port), `member ${id}: its port ${port} logged`);
      assert.ok(lines.some((l) => l.level === 'DEBUG' && /^election: notification from server \d/.test(l.msg)), `member ${id}: DEBUG lines, as zoo.cfg's paddock.logLevel asks`);
    }
    const firstEpoch = events(jsonLines(ens.server(first.leader).output(), 'leader'), 'established').at(-1)!.epoch!;

    // The leader goes; the survivors elect a new one.
    const old = first.leader;
    const since = new Map(first.followers.map((id) => [id, ens.server(id).output().length]));
    await ens.kill(old);
    const second = await ens.settled();
    assert.notEqual(second.leader, old);
    // Writes the killed member misses: a DIFF must carry them.
    const missed = 3;
    const c = await ens.connect(second.leader);
    for (let i = 0; i < missed; i++) await bounded(`create /missed${i}`, WAIT_MS, c.create(`/missed${i}`, 'x'));
    await c.close();
    const results = first.followers.map((id) => {
      const lines = jsonLines(ens.server(id).output().slice(since.get(id)), `member ${id}`);
      const looking = events(lines, 'looking');
      const elected = events(lines, 'elected');
      assert.ok(looking.length >= 1, `member ${id}: LOOKING logged after the leader was killed`);
      assert.equal(elected.length, looking.length, `member ${id}: one election result line per election:\n${lines.map((l) => l.msg).join('\n')}`);
      const lost = events(lines, 'peer-lost');
      assert.ok(lost.some((l) => l.server === old) || id === second.leader, `member ${id}: the lost connection with its leader logged`);
      const last = elected.at(-1)!;
      assert.equal(last.leader, second.leader, `member ${id}: the election names the new leader`);
      assert.match(last.msg, /LEADER ELECTION TOOK - \d+ MS/);
      assert.equal(typeof last.electionMs, 'number');
      assert.match(last.zxid!, /^0x[0-9a-f]+$/);
      const established = events(lines, 'established').at(-1)!;
      assert.equal(established.leader, second.leader);
      assert.equal(established.role, id === second.leader ? 'leading' : 'following');
      // Lines written after the role began carry it as context.
      const after = lines.slice(lines.indexOf(established) + 1).filter((l) => l.event !== 'looking');
      assert.ok(after.every((l) => l.role === established.role && l.epoch === established.epoch), `member ${id}: later lines carry role and epoch`);
      return established.epoch!;
    });
    assert.equal(results[0], results[1], 'both survivors name the same epoch');
    assert.ok(results[0]! > firstEpoch, `a new epoch (${results[0]} after ${firstEpoch})`);

    // The killed member comes back (fresh output) and is synced.
    const leaderSince = ens.server(second.leader).output().length;
    await ens.start(old);
    const third = await ens.settled();
    assert.equal(third.leader, second.leader);
    const rejoined = jsonLines(ens.server(old).output(), `member ${old}`);
    const synced = events(rejoined, 'synced');
    assert.equal(synced.length, 1, `member ${old}: one synced line:\n${rejoined.map((l) => l.msg).join('\n')}`);
    const leaderSide = events(jsonLines(ens.server(second.leader).output().slice(leaderSince), 'leader'), 'sync').filter((l) => l.server === old);
    assert.equal(leaderSide.length, 1, 'the leader logs one sync of it');
    assert.equal(synced[0]!.sync, leaderSide[0]!.sync, 'the same sync type on both sides');
    assert.match(String(synced[0]!.sync), /^(DIFF|TRUNC|SNAP)$/);
    assert.equal(synced[0]!.leader, second.leader);
    if (synced[0]!.sync === 'DIFF') assert.ok((synced[0]!.txns as number) >= missed, `the DIFF carried the ${missed} txns it missed`);
    assert.equal(typeof synced[0]!.txns, 'number');
    assert.equal(typeof synced[0]!.ms, 'number');
    assert.equal(events(rejoined, 'elected').length, 1, 'the rejoining member: one election result');
    assert.equal(events(rejoined, 'established').at(-1)!.epoch, results[0]);
    t.diagnostic(`rejoined: ${JSON.stringify(synced[0])}`);

    // A session whose client vanishes expires on the leader, logged once.
    const { conn, session } = await openSession(ens.host(second.leader), ens.clientPort(second.leader), { timeOut: 1200 });
    const id = `0x${BigInt.asUintN(64, session.sessionId).toString(16)}`;
    conn.destroy();
    const expiries = () => events(jsonLines(ens.server(second.leader).output(), 'leader'), 'session-expired').filter((l) => l.session === id);
    await waitFor(`the leader to log the expiry of session ${id}`, WAIT_MS, () => expiries().length > 0);
    const [expiry, ...again] = expiries();
    assert.equal(again.length, 0, 'logged once');
    assert.equal(expiry!.level, 'INFO');
    assert.equal(expiry!.timeoutMs, 1200);
    assert.equal(expiry!.role, 'leading');
    assert.equal(expiry!.epoch, results[0]);
    assert.match(expiry!.msg, new RegExp(`^Expiring session ${id}, timeout of 1200ms exceeded$`));
  });
});

describe('log settings of a standalone server', { timeout: 120_000 }, () => {
  it('paddock.logLevel=WARN in zoo.cfg leaves only warnings and errors', async () => {
    const server = await startPaddock({ cfg: { 'paddock.logLevel': 'WARN', 'no.such.key': 'x' }, logFormat: 'json' });
    try {
      const lines = jsonLines(server.output(), 'server');
      assert.ok(lines.length > 0 && lines.every((l) => l.level === 'WARN' || l.level === 'ERROR'), server.output());
      assert.ok(lines.some((l) => l.event === 'config-ignored' && /no\.such\.key=x is not a setting Paddock uses/.test(l.msg)));
    } finally {
      await server.stop();
    }
  });

  /** A zoo.cfg in a fresh directory, for `use`; the directory goes afterwards. */
  async function withConfig(use: (cfg: string, port: number) => Promise<void>): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), 'paddock-logs-'));
    try {
      const port = await freePort();
      const cfg = join(dir, 'zoo.cfg');
      writeFileSync(cfg, `tickTime=2000\ndataDir=${join(dir, 'data')}\nclientPort=${port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n`);
      await use(cfg, port);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('on a terminal the lines are text; Ctrl-C stops the server', () =>
    withConfig(async (cfg, port) => {
      const env = { ...process.env };
      delete env.PADDOCK_LOG_FORMAT;
      const pty = spawnPty(`${process.execPath} ${join(ROOT, 'bin', 'paddock.js')} server ${cfg}`, env);
      try {
        await waitFor('the server to serve and write its start-up snapshot', WAIT_MS, () => /serving clients on[^]*wrote snapshot .* event=snapshot/.test(pty.screen()));
        const screen = pty.screen();
        const lines = screen.split(/\r?\n/).filter((l) => l !== '');
        assert.ok(lines.every((l) => /^\d{4}-\d\d-\d\dT[\d:.]+Z \[(INFO|WARN)\] /.test(l)), `text lines only:\n${screen}`);
        assert.ok(lines.some((l) => l.endsWith(`] serving clients on 127.0.0.1:${port}  event=listening port=${port}`)), screen);
        await pty.type('\x03', /\[INFO\] SIGINT: shutting down  event=stop/);
        assert.equal(await pty.exited, 0, pty.screen());
      } finally {
        pty.kill();
      }
    }));

  it('a bad PADDOCK_LOG_LEVEL stops start-up with a clear message and exit status 2', () =>
    withConfig(async (cfg) => {
      const run = spawnSync(process.execPath, [join(ROOT, 'bin', 'paddock.js'), 'server', cfg], { env: { ...process.env, PADDOCK_LOG_LEVEL: 'loud' }, encoding: 'utf8', timeout: WAIT_MS });
      assert.equal(run.status, 2, run.stderr);
      assert.equal(run.stderr, 'paddock: PADDOCK_LOG_LEVEL=loud is not one of DEBUG, INFO, WARN, ERROR\n');
      assert.equal(run.stdout, '');
    }));
});
