// Paddock's web dashboard, in the browser: plain JavaScript, no framework, no
// build step. It polls the AdminServer's JSON API (src/admin/dashboard.ts):
// the open node every 2 s, the sessions and ensemble views every 2 s while
// shown, the request counters every second for the charts (inline SVG).
// The credential (user:password) stays in this tab's sessionStorage and goes
// with every API call as `Authorization: Basic`; without one the page is
// read-only. Every write is one POST the server turns into a client request.
'use strict';

const POLL_MS = 1000;
const VIEW_MS = 2000;
/** chart points kept: two minutes at one a second */
const HISTORY = 120;
const CREDENTIAL = 'paddock.credential';

const $ = (id) => document.getElementById(id);

const state = {
  path: '/',
  /** the open node as last fetched */
  node: null,
  credential: sessionStorage.getItem(CREDENTIAL),
  tab: 'tree',
  /** the previous counters, to difference */
  lastStats: null,
  series: { rate: [], latency: [], outstanding: [] },
};

// ---- the API ----

function base64(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function bytesOf(b64) {
  const s = atob(b64 ?? '');
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

const utf8 = (text) => new TextEncoder().encode(text);

async function api(name, { query = {}, body } = {}) {
  const headers = {};
  if (state.credential) headers.Authorization = `Basic ${base64(utf8(state.credential))}`;
  if (body) headers['Content-Type'] = 'application/json';
  const res = await fetch(`/dashboard/api/${name}?${new URLSearchParams(query)}`, {
    method: body ? 'POST' : 'GET',
    headers,
    body: body && JSON.stringify(body),
  });
  const reply = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
  if (!res.ok) throw new Error(reply.error ?? `HTTP ${res.status}`);
  return reply;
}

function say(text, kind = 'info') {
  const m = $('message');
  m.textContent = text;
  m.className = kind;
}

// ---- small DOM helpers ----

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props);
  for (const c of children) e.append(c);
  return e;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows.map((cells) => el('tr', {}, ...cells.map((c) => (c instanceof Node ? el('td', {}, c) : el('td', { textContent: String(c) }))))));
}

const hexZxid = (n) => (n === null || n === undefined ? '—' : `0x${n.toString(16)}`);
const list = (items) => (items.length ? items.join('\n') : '—');

// ---- the tree ----

const PERMS = [['c', 4], ['d', 8], ['r', 1], ['w', 2], ['a', 16]];
const STAT_FIELDS = ['czxid', 'mzxid', 'pzxid', 'ctime', 'mtime', 'version', 'cversion', 'aversion', 'ephemeralOwner', 'dataLength', 'numChildren'];

function formatData(bytes, format) {
  if (format === 'hex') {
    const lines = [];
    for (let at = 0; at < bytes.length; at += 16) {
      const row = bytes.slice(at, at + 16);
      const hex = [...row].map((b) => b.toString(16).padStart(2, '0')).join(' ');
      const ascii = [...row].map((b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : '.')).join('');
      lines.push(`${at.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`);
    }
    return lines.join('\n');
  }
  const text = new TextDecoder().decode(bytes);
  if (format === 'json') {
    try {
      return JSON.stringify(JSON.parse(text), null, 2);
    } catch (e) {
      return `(not JSON: ${e.message})`;
    }
  }
  return text;
}

function statValue(field, v) {
  if (field.endsWith('zxid')) return hexZxid(v);
  if (field.endsWith('time')) return `${v} (${v ? new Date(v).toISOString() : '—'})`;
  return String(v);
}

function showNode(node) {
  state.node = node;
  $('path-input').value = node.path;
  const parts = node.path.split('/').filter(Boolean);
  $('crumbs').replaceChildren(
    ...[el('a', { href: '#/', textContent: '/' })].concat(parts.map((p, i) => el('a', { href: `#/${parts.slice(0, i + 1).join('/')}`, textContent: `${p}/` }))),
  );
  $('child-count').textContent = node.readable ? `(${node.childCount})` : '(no READ permission)';
  const prefix = node.path === '/' ? '/' : `${node.path}/`;
  $('children').replaceChildren(...node.children.map((c) => el('li', {}, el('a', { href: `#${prefix}${c}`, textContent: c }))));
  if (node.children.length < node.childCount) $('children').append(el('li', { className: 'muted', textContent: `… ${node.childCount - node.children.length} more` }));
  $('data').textContent = node.readable ? (node.data === null ? '(null)' : formatData(bytesOf(node.data), $('format').value)) : '(no READ permission)';
  fill($('stat').tBodies[0], STAT_FIELDS.map((f) => [f, statValue(f, node.stat[f])]));
  for (const [i, f] of STAT_FIELDS.entries()) $('stat').tBodies[0].rows[i].dataset.field = f;
  fill($('acl').tBodies[0], node.acl === null ? [['(needs READ or ADMIN)', '', '']] : node.acl.map((a) => [a.id.scheme, a.id.id, PERMS.filter(([, bit]) => a.perms & bit).map(([c]) => c).join('')]));
}

/** Open `path` (the editor is filled afresh); the address bar's hash follows. */
async function open(path) {
  try {
    const node = await api('node', { query: { path } });
    showNode(node);
    $('edit-data').value = node.data === null ? '' : new TextDecoder().decode(bytesOf(node.data));
    if (location.hash !== `#${node.path}`) history.replaceState(null, '', `#${node.path}`);
    state.path = node.path;
  } catch (e) {
    say(`${path}: ${e.message}`, 'error');
  }
}

/** Poll the open node; the editor keeps what is being typed. */
async function refreshNode() {
  try {
    showNode(await api('node', { query: { path: state.path } }));
  } catch (e) {
    // the node went away (deleted elsewhere): show its parent
    if (/NoNode/.test(e.message) && state.path !== '/') return open(state.path.slice(0, state.path.lastIndexOf('/')) || '/');
  }
}

async function write(body, done) {
  try {
    const reply = await api('node', { body });
    say(done(reply), 'ok');
  } catch (e) {
    say(e.message, 'error');
  }
}

function wireTree() {
  $('path-form').addEventListener('submit', (e) => {
    e.preventDefault();
    open($('path-input').value.trim() || '/');
  });
  window.addEventListener('hashchange', () => open(decodeURIComponent(location.hash.slice(1)) || '/'));
  $('format').addEventListener('change', () => state.node && showNode(state.node));
  $('save').addEventListener('click', () =>
    write({ op: 'set', path: state.path, data: base64(utf8($('edit-data').value)), version: state.node.stat.version }, (r) => {
      open(state.path);
      return `saved ${state.path} (version ${r.stat.version})`;
    }),
  );
  $('delete').addEventListener('click', () => {
    const path = state.path;
    write({ op: 'delete', path, version: state.node.stat.version }, () => {
      open(path.slice(0, path.lastIndexOf('/')) || '/');
      return `deleted ${path}`;
    });
  });
  $('create').addEventListener('click', () => {
    const path = `${state.path === '/' ? '' : state.path}/${$('new-name').value.trim()}`;
    write({ op: 'create', path, data: base64(utf8($('new-data').value)), sequential: $('new-sequential').checked, creatorOnly: $('new-creator-only').checked }, (r) => {
      open(state.path);
      return `created ${r.path}`;
    });
  });
}

// ---- logging in ----

async function showWho() {
  const loggedIn = state.credential !== null;
  $('editor').hidden = !loggedIn;
  $('read-only-note').hidden = loggedIn;
  $('logout').hidden = !loggedIn;
  $('login').hidden = $('login-user').hidden = $('login-password').hidden = loggedIn;
  try {
    const who = await api('whoami');
    $('whoami').textContent = who.authenticated ? `logged in: ${who.ids.filter((i) => !i.startsWith('ip:')).map((i) => i.replace(/:$/, '')).join(', ')}` : 'read-only';
  } catch (e) {
    say(e.message, 'error');
  }
}

function wireLogin() {
  $('login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const user = $('login-user').value.trim();
    if (!user) return say('a user name is needed', 'error');
    state.credential = `${user}:${$('login-password').value}`;
    sessionStorage.setItem(CREDENTIAL, state.credential);
    $('login-password').value = '';
    showWho();
    refreshNode();
  });
  $('logout').addEventListener('click', () => {
    state.credential = null;
    sessionStorage.removeItem(CREDENTIAL);
    showWho();
    refreshNode();
  });
}

// ---- sessions and the ensemble ----

async function refreshSessions() {
  const { sessions } = await api('sessions');
  const tbody = $('sessions').tBodies[0];
  fill(tbody, sessions.map((s) => [s.id + (s.dashboard ? ' (dashboard)' : ''), s.timeout ?? '—', s.client ?? '(elsewhere)', s.lastOp ?? '—', list(s.ephemerals), list(s.dataWatches), list(s.childWatches)]));
  for (const [i, s] of sessions.entries()) tbody.rows[i].dataset.session = s.id;
}

async function refreshEnsemble() {
  const { members } = await api('ensemble');
  const tbody = $('ensemble').tBodies[0];
  fill(tbody, members.map((m) => [m.id + (m.self ? ' (this)' : ''), m.mode + (m.leader ? ' ★' : ''), hexZxid(m.zxid), m.epoch ?? '—', m.lag ?? '—', m.client || '—', m.error ?? '']));
  for (const [i, m] of members.entries()) {
    const row = tbody.rows[i];
    row.dataset.id = m.id;
    row.dataset.mode = m.mode;
    row.classList.toggle('leader', m.leader);
  }
}

// ---- charts ----

function drawChart(svg, points) {
  const W = 400;
  const H = 150;
  const top = Math.max(1, ...points) * 1.1;
  const x = (i) => W - (points.length - 1 - i) * (W / (HISTORY - 1));
  const y = (v) => H - 14 - (v / top) * (H - 24);
  const ns = 'http://www.w3.org/2000/svg';
  const make = (tag, attrs, text) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const line = points.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  svg.replaceChildren(
    make('line', { x1: 0, y1: y(0), x2: W, y2: y(0), class: 'axis' }),
    make('text', { x: 4, y: 12, class: 'label' }, `max ${Math.round(Math.max(0, ...points) * 100) / 100}`),
    make('text', { x: 4, y: H - 2, class: 'label' }, `${HISTORY} s`),
    make('polyline', { points: line, class: 'series' }),
  );
}

function pushPoint(series, value) {
  series.push(value);
  if (series.length > HISTORY) series.shift();
}

async function pollStats() {
  const s = await api('stats');
  $('server').textContent = `${s.myid === null ? '' : `server ${s.myid} · `}${s.mode} · zxid ${hexZxid(s.zxid)} · ${s.nodeCount} znodes · ${s.version}`;
  const last = state.lastStats;
  state.lastStats = s;
  // counters reset (stat_reset) or first sample: nothing to difference yet
  if (!last || s.packetsReceived < last.packetsReceived || s.latencyCount < last.latencyCount) return;
  const seconds = Math.max(0.001, (s.at - last.at) / 1000);
  const answered = s.latencyCount - last.latencyCount;
  const rate = (s.packetsReceived - last.packetsReceived) / seconds;
  const latency = answered ? (s.totalLatency - last.totalLatency) / answered : 0;
  pushPoint(state.series.rate, rate);
  pushPoint(state.series.latency, latency);
  pushPoint(state.series.outstanding, s.outstanding);
  $('now-rate').textContent = rate.toFixed(1);
  $('now-latency').textContent = latency.toFixed(2);
  $('now-outstanding').textContent = String(s.outstanding);
  if (state.tab === 'charts') drawCharts();
}

function drawCharts() {
  drawChart($('chart-rate'), state.series.rate);
  drawChart($('chart-latency'), state.series.latency);
  drawChart($('chart-outstanding'), state.series.outstanding);
}

// ---- tabs and polling ----

const VIEWS = { tree: refreshNode, sessions: refreshSessions, ensemble: refreshEnsemble, charts: async () => drawCharts() };

function showTab(tab) {
  state.tab = tab;
  say('');
  for (const b of document.querySelectorAll('nav button')) b.classList.toggle('active', b.dataset.tab === tab);
  for (const s of document.querySelectorAll('.tab')) s.hidden = s.id !== `tab-${tab}`;
  VIEWS[tab]().catch((e) => say(e.message, 'error'));
}

/** Run `fn` every `ms`, one run at a time. */
function every(ms, fn) {
  const run = async () => {
    try {
      await fn();
    } catch (e) {
      say(e.message, 'error');
    }
    setTimeout(run, ms);
  };
  run();
}

wireTree();
wireLogin();
for (const b of document.querySelectorAll('nav button')) b.addEventListener('click', () => showTab(b.dataset.tab));
showWho();
open(decodeURIComponent(location.hash.slice(1)) || '/');
every(POLL_MS, pollStats);
setTimeout(() => every(VIEW_MS, () => VIEWS[state.tab]()), VIEW_MS);
