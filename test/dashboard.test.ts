// The web dashboard (src/admin/dashboard.ts) in a real headless Chromium
// (Debian's `chromium`, driven by playwright-core), against a real
// three-member ensemble of `paddock server` processes, each with its
// AdminServer. The page is the one a follower serves (so that it outlives
// the leader's kill). What a user sees is checked against what a client of
// the ensemble sees: a node's data and Stat; an edit (logged in) that a
// client then reads, and the same edit refused without a login or with a
// user the node's ACL does not name; a session's ephemeral and watch, gone
// from the page when the session closes; the charts counting requests; the
// leader's row moving to another member after the leader is killed. Through
// the JSON API alone: bad input answered with clear errors, and a browser
// judged by its own address (an ip ACL naming 127.0.0.1 admits the write
// session on loopback, not a browser from 127.0.0.2).
// Screenshots go to test-artifacts/dashboard/ (gitignored).

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { connect, CreateMode, digestACL, Perm, type WatchEvent, type ZooKeeper } from '../src/client/index.ts';
import { sessionHex } from '../src/server/sessions.ts';
import { digestOf } from '../src/tree/acl.ts';
import { bounded, TestEnsemble } from './support/ensemble.ts';

/** The page's document, as the functions this test runs in the page use it (the tsconfig has no DOM library). */
declare const document: { querySelector(selector: string): { textContent: string | null; value?: string } | null };

const WAIT_MS = 60_000;
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../test-artifacts/dashboard/', import.meta.url));
const SUPER = 'super:s3cret';

describe('the web dashboard in headless Chromium, served by a follower of a three-member ensemble', { timeout: 300_000 }, () => {
  let ens: TestEnsemble;
  let browser: Browser;
  let page: Page;
  /** the follower whose AdminServer serves the page */
  let viewer: number;
  let leader: number;
  /** a client session on the viewer's member */
  let zk: ZooKeeper;

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    ens = await TestEnsemble.create('dashboard', [{ id: 1 }, { id: 2 }, { id: 3 }], {
      tickTime: 300,
      waitMs: WAIT_MS,
      adminServer: true,
      clientAddressInServerLines: true,
      cfg: { 'DigestAuthenticationProvider.superDigest': digestOf(SUPER) },
    });
    const settled = await ens.startAll();
    leader = settled.leader;
    viewer = settled.followers[0]!;
    zk = await connect(ens.connectString([viewer]), { establishTimeout: WAIT_MS });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    page.setDefaultTimeout(WAIT_MS);
    page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  });

  after(async () => {
    await browser?.close();
    await zk?.close().catch(() => undefined);
    await ens?.close();
  });

  /** Wait until the text of `selector` satisfies `pattern`; returns that text. */
  async function textOf(selector: string, pattern: RegExp): Promise<string> {
    await page.waitForFunction(([sel, source, flags]) => new RegExp(source, flags).test(document.querySelector(sel)?.textContent ?? ''), [selector, pattern.source, pattern.flags] as const, { timeout: WAIT_MS });
    return (await page.textContent(selector))!;
  }

  const statCell = (field: string) => page.textContent(`#stat tr[data-field="${field}"] td:nth-child(2)`);
  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

  async function logIn(userPassword: string): Promise<void> {
    if (await page.isVisible('#logout')) await page.click('#logout');
    const [user, password] = userPassword.split(':') as [string, string];
    await page.fill('#login-user', user);
    await page.fill('#login-password', password);
    await page.click('#login');
    await textOf('#whoami', new RegExp(`logged in: digest:${user}`));
  }

  it('browses to a node: its children, its data as text, JSON and hex, its Stat and ACL', async () => {
    await zk.create('/app', 'the app');
    await zk.create('/app/config', '{"port":8080,"name":"orders"}');
    const { stat } = await zk.getData('/app/config');
    await page.goto(`${ens.adminUrl(viewer)}#/app`);
    await textOf('#children', /config/);
    await page.click('#children a:text-is("config")');
    await page.waitForFunction(() => document.querySelector('#path-input')?.value === '/app/config', undefined, { timeout: WAIT_MS });
    assert.equal(await textOf('#data', /port/), '{"port":8080,"name":"orders"}');
    await page.selectOption('#format', 'json');
    assert.equal(await textOf('#data', /\n/), JSON.stringify({ port: 8080, name: 'orders' }, null, 2));
    await page.selectOption('#format', 'hex');
    assert.match(await textOf('#data', /^00000000/), /^00000000  7b 22 70 6f 72 74 22 3a 38 30 38 30 2c 22 6e 61  \{"port":8080,"na$/m);
    await page.selectOption('#format', 'text');
    assert.equal(await statCell('version'), '0');
    assert.equal(await statCell('czxid'), `0x${stat.czxid.toString(16)}`);
    assert.equal(await statCell('mzxid'), `0x${stat.mzxid.toString(16)}`);
    assert.equal(await statCell('dataLength'), String(stat.dataLength));
    assert.equal(await statCell('numChildren'), '0');
    assert.equal(await page.textContent('#acl tbody'), 'worldanyonecdrwa');
    // not logged in: read-only
    assert.equal(await page.isVisible('#editor'), false);
    assert.equal(await page.isVisible('#read-only-note'), true);
    await shot('node');
  });

  it('edits data, creates and deletes a node when logged in; a client sees each change', async () => {
    await logIn('alice:wonder');
    await page.goto(`${ens.adminUrl(viewer)}#/app/config`);
    await textOf('#data', /orders/);
    // a client's watch fires for the browser's write, as for any client's
    let fire!: (event: WatchEvent) => void;
    const changed = new Promise<WatchEvent>((resolve) => (fire = resolve));
    await zk.getData('/app/config', { watch: (event) => fire(event) });
    await page.fill('#edit-data', '{"port":9090,"name":"orders"}');
    await page.click('#save');
    await textOf('#message', /saved \/app\/config \(version 1\)/);
    assert.deepEqual(await bounded('the watch on /app/config to fire', WAIT_MS, changed), { type: 'NodeDataChanged', state: 'SyncConnected', path: '/app/config' });
    await zk.sync('/app/config');
    assert.equal((await zk.getData('/app/config')).data.toString(), '{"port":9090,"name":"orders"}');
    await textOf('#data', /9090/);
    assert.equal(await statCell('version'), '1');
    await shot('edited');

    await page.goto(`${ens.adminUrl(viewer)}#/app`);
    await textOf('#children', /config/);
    await page.fill('#new-name', 'from-browser');
    await page.fill('#new-data', 'hello');
    await page.click('#create');
    await textOf('#message', /created \/app\/from-browser/);
    await zk.sync('/app');
    assert.equal((await zk.getData('/app/from-browser')).data.toString(), 'hello');
    await textOf('#children', /from-browser/);

    await page.click('#children a:text-is("from-browser")');
    await textOf('#data', /hello/);
    await page.click('#delete');
    await textOf('#message', /deleted \/app\/from-browser/);
    await zk.sync('/app');
    assert.equal(await zk.exists('/app/from-browser'), null);
  });

  it('refuses an edit without a login, and one by a user the node\'s ACL does not name; super may', async () => {
    await zk.create('/app/alice-only', 'mine', { acl: [digestACL('alice', 'wonder', Perm.all)] });
    // logged out: no editor, and the API refuses the write outright
    await page.goto(`${ens.adminUrl(viewer)}#/app/config`);
    if (await page.isVisible('#logout')) await page.click('#logout');
    await textOf('#whoami', /read-only/);
    assert.equal(await page.isVisible('#editor'), false);
    const refused = await page.evaluate(async () => {
      const res = await fetch('/dashboard/api/node', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ op: 'set', path: '/app/config', data: btoa('hacked') }) });
      return { status: res.status, body: (await res.json()) as { error: string } };
    });
    assert.equal(refused.status, 401);
    assert.match(refused.body.error, /read-only/);
    // bob may not even read alice's node, nor write it
    await logIn('bob:builder');
    await page.goto(`${ens.adminUrl(viewer)}#/app/alice-only`);
    await textOf('#data', /no READ permission/);
    await page.fill('#edit-data', 'bob was here');
    await page.click('#save');
    await textOf('#message', /NoAuth for \/app\/alice-only/);
    // super may do anything
    await logIn(SUPER);
    await page.goto(`${ens.adminUrl(viewer)}#/app/alice-only`);
    await textOf('#data', /mine/);
    await page.fill('#edit-data', 'super was here');
    await page.click('#save');
    await textOf('#message', /saved \/app\/alice-only/);
    await zk.sync('/app');
    assert.equal((await zk.getData('/app/config')).data.toString(), '{"port":9090,"name":"orders"}');
    const alices = await connect(ens.connectString([viewer]), { establishTimeout: WAIT_MS });
    await alices.addAuth('digest', 'alice:wonder');
    assert.equal((await alices.getData('/app/alice-only')).data.toString(), 'super was here');
    await alices.close();
  });

  it('shows a session with its ephemeral and watch, and drops them when the session closes', async () => {
    const other = await connect(ens.connectString([viewer]), { establishTimeout: WAIT_MS });
    await other.create('/app/worker-1', 'busy', { mode: CreateMode.ephemeral });
    await other.getData('/app/config', { watch: () => undefined });
    const id = `0x${sessionHex(other.sessionId)}`;
    await page.click('nav button[data-tab="sessions"]');
    const row = `#sessions tr[data-session="${id}"]`;
    await textOf(row, /\/app\/worker-1/);
    assert.match((await page.textContent(`${row} td:nth-child(6)`))!, /\/app\/config/);
    await shot('sessions');
    await page.click('nav button[data-tab="tree"]');
    await page.goto(`${ens.adminUrl(viewer)}#/app`);
    await textOf('#children', /worker-1/);

    await other.close();
    await page.waitForFunction(() => !/worker-1/.test(document.querySelector('#children')?.textContent ?? ''), undefined, { timeout: WAIT_MS });
    await page.click('nav button[data-tab="sessions"]');
    await page.waitForSelector(row, { state: 'detached', timeout: WAIT_MS });
    await textOf('#sessions tbody', /0x/);
  });

  it('charts the requests it serves', async () => {
    await page.click('nav button[data-tab="charts"]');
    // well above the sessions' pings: the load's own requests
    let seen = false;
    const counted = page.waitForFunction(() => Number(document.querySelector('#now-rate')?.textContent) >= 20, undefined, { timeout: WAIT_MS }).then(() => (seen = true));
    for (let i = 0; i < 20_000 && !seen; i++) await zk.getData('/app/config');
    await counted;
    // each chart a line of a point a second (a flat line has no height: not "visible" to Playwright, so its points are read)
    for (const chart of ['rate', 'latency', 'outstanding']) {
      const points = (await page.getAttribute(`#chart-${chart} polyline`, 'points')) ?? '';
      assert.ok(points.split(' ').length >= 2, `the ${chart} chart is a line of at least two points, not ${JSON.stringify(points)}`);
    }
    const latest = (await page.getAttribute('#chart-rate polyline', 'points'))!.split(' ').map((p) => Number(p.split(',')[1]));
    assert.ok(Math.min(...latest) < Math.max(...latest), 'the rate line rises with the load');
    await shot('charts');
  });

  it('answers bad API input with a clear error and keeps serving; a stale version is BadVersion, as for any client', async () => {
    const api = `${ens.adminUrl(viewer)}dashboard/api/`;
    const alice = { Authorization: `Basic ${Buffer.from('alice:wonder').toString('base64')}` };
    const post = (body: string, headers: Record<string, string> = {}) => fetch(`${api}node`, { method: 'POST', headers: { ...alice, 'Content-Type': 'application/json', ...headers }, body });
    const answer = async (res: Promise<Response>) => {
      const r = await res;
      return [r.status, ((await r.json()) as { error: string }).error] as const;
    };
    const cases: [Promise<Response>, number, RegExp][] = [
      [post('{"op":"set","path":"/app/config"}', { 'Content-Type': 'text/plain' }), 415, /application\/json/],
      [post('{"op":'), 400, /not JSON/],
      [post('[1]'), 400, /JSON object/],
      [post('{"op":"rename","path":"/app/config"}'), 400, /op must be set, create or delete/],
      [post('{"op":"set","path":"app"}'), 400, /Invalid path/],
      [post('{"op":"set","path":"/app/config","version":"x"}'), 400, /version/],
      [post('{"op":"set","path":"/app/config","data":5}'), 400, /base64/],
      [post('{"op":"set","path":"/app/config"}', { Authorization: 'Bearer token' }), 400, /Basic/],
      [post('{"op":"set","path":"/app/config","data":"","version":0}'), 409, /BadVersion for \/app\/config/],
      [post('{"op":"create","path":"/app/config"}'), 409, /NodeExists for \/app\/config/],
      [post('{"op":"delete","path":"/app/none"}'), 404, /NoNode for \/app\/none/],
      [fetch(`${api}node?path=/app/none`), 404, /NoNode/],
      [fetch(`${api}node`, { method: 'PUT' }), 405, /PUT/],
      [fetch(`${api}nothing`), 404, /no dashboard API nothing/],
    ];
    for (const [res, status, error] of cases) {
      const [gotStatus, gotError] = await answer(res);
      assert.equal(gotStatus, status, gotError);
      assert.match(gotError, error);
    }
    assert.equal((await zk.getData('/app/config')).data.toString(), '{"port":9090,"name":"orders"}');
    const ruok = (await (await fetch(`${ens.adminUrl(viewer)}commands/ruok`)).json()) as { error: unknown };
    assert.equal(ruok.error, null);
  });

  it('judges a browser by its own address, not by the loopback address its write session comes from', async () => {
    await zk.create('/app/local-only', 'local', { acl: [{ perms: Perm.all, id: { scheme: 'ip', id: '127.0.0.1' } }] });
    const admin = new URL(ens.adminUrl(viewer));
    /** A dashboard API call as alice from `from` (every 127/8 address is this host's loopback). */
    const call = (from: string, method: string, path: string, body?: object) =>
      new Promise<[number, { readable?: boolean; error?: string }]>((resolve, reject) => {
        const req = http.request({ host: admin.hostname, port: admin.port, localAddress: from, method, path, auth: 'alice:wonder', headers: { 'Content-Type': 'application/json' } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve([res.statusCode!, JSON.parse(Buffer.concat(chunks).toString())]));
        });
        req.on('error', reject);
        req.end(body && JSON.stringify(body));
      });
    const set = { op: 'set', path: '/app/local-only', data: Buffer.from('changed').toString('base64') };
    const [readStatus, read] = await call('127.0.0.2', 'GET', '/dashboard/api/node?path=/app/local-only');
    assert.deepEqual([readStatus, read.readable], [200, false]);
    const [writeStatus, write] = await call('127.0.0.2', 'POST', '/dashboard/api/node', set);
    assert.deepEqual([writeStatus, write.error], [403, 'KeeperErrorCode = NoAuth for /app/local-only']);
    assert.equal((await zk.getData('/app/local-only')).data.toString(), 'local');
    const [localStatus] = await call('127.0.0.1', 'POST', '/dashboard/api/node', set);
    assert.equal(localStatus, 200);
    assert.equal((await zk.getData('/app/local-only')).data.toString(), 'changed');
  });

  it('shows who leads, and another member leading once the leader is killed', async () => {
    await page.click('nav button[data-tab="ensemble"]');
    await page.waitForSelector(`#ensemble tr.leader[data-id="${leader}"][data-mode="leader"]`, { timeout: WAIT_MS });
    for (const id of [1, 2, 3].filter((i) => i !== leader)) {
      await page.waitForSelector(`#ensemble tr[data-id="${id}"][data-mode="follower"]`, { timeout: WAIT_MS });
    }
    assert.match((await page.textContent(`#ensemble tr[data-id="${viewer}"]`))!, /\(this\)/);
    await shot('ensemble-before');

    await ens.kill(leader);
    const settled = await ens.settled();
    assert.notEqual(settled.leader, leader);
    await page.waitForSelector(`#ensemble tr.leader[data-id="${settled.leader}"][data-mode="leader"]`, { timeout: WAIT_MS });
    await page.waitForSelector(`#ensemble tr[data-id="${leader}"][data-mode="unreachable"]`, { timeout: WAIT_MS });
    assert.equal(await page.locator('#ensemble tr.leader').count(), 1);
    await shot('ensemble-after');
  });
});
