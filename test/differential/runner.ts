// Runs a differential script against one server and records everything the
// server said, un-normalised: each step's reply (or why there was none), and the
// notifications each connection received before that reply.

import { ZooKeeperClient, type RawReply, type WatchEvent } from '../../src/client/client.ts';
import { OpName, ZkError } from '../../src/proto/constants.ts';
import type { Request } from '../../src/proto/records.ts';
import type { ScriptCtx, Step } from './script.ts';

export interface RecordedReply {
  xid: number;
  zxid: number;
  err: number;
  body: RawReply['body'];
  raw: Buffer;
}

export type Outcome =
  | { kind: 'reply'; reply: RecordedReply; closed?: boolean }
  /** no reply: 'timeout', 'noReply' (within noReplyMs), 'notConnected', an error code, or a decode error */
  | { kind: 'noReply'; why: string | number; closed?: boolean }
  | { kind: 'connected'; sessionId: bigint; timeOut: number; passwd: Buffer; readOnly: boolean | undefined; samePassword?: boolean }
  | { kind: 'connectFailed'; why: string | number }
  | { kind: 'pipeline'; replies: { rank: number; outcome: Outcome; events: WatchEvent[] }[] }
  | { kind: 'closed'; closed: boolean }
  | {
      kind: 'close';
      outcome: Extract<Outcome, { kind: 'reply' | 'noReply' }>;
      /** notifications other connections had received before the close (in arrival order) */
      pendingElsewhere: Record<string, WatchEvent[]>;
      /** notifications other connections received because of the close (sorted) */
      causedElsewhere: Record<string, WatchEvent[]>;
    }
  | { kind: 'none' };

export interface RecordedStep {
  i: number;
  s: string;
  desc: string;
  outcome: Outcome;
  /** notifications that reached this handle's connection before the step's reply */
  events: WatchEvent[];
}

export interface Recording {
  kind: string;
  steps: RecordedStep[];
  /** wall clock bounds of the run (ms) */
  startedAt: number;
  endedAt: number;
  /** notifications never followed by a reply on their connection */
  leftovers: Record<string, WatchEvent[]>;
}

interface Handle {
  name: string;
  client: ZooKeeperClient;
  events: { seq: number; ev: WatchEvent }[];
  closed: boolean;
  onClose: Promise<void>;
}

export interface RunOptions {
  /** per request; a server that does not answer must not hang the run */
  stepTimeoutMs?: number;
  /** whole run; later steps are recorded as aborted */
  budgetMs?: number;
  /** wait after a request flagged expectClose for the server to close */
  expectCloseMs?: number;
}

const sortEvents = (evs: WatchEvent[]): WatchEvent[] => evs.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.type - b.type));

/** request description with non-printable characters escaped */
const show = (v: unknown): string => JSON.stringify(v).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

const delay = (ms: number) => new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms).unref());

export function describe(req: Request): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(req)) {
    if (k === 'type') continue;
    if (k === 'ops') parts.push(`[${(v as Request[]).map(describe).join('; ')}]`);
    else if (Buffer.isBuffer(v)) parts.push(`${k}=${v.length > 24 ? `<${v.length} bytes>` : show(v.toString('latin1'))}`);
    else if (k === 'acl') parts.push(`acl=${(v as { perms: number; id: { scheme: string; id: string } }[]).map((a) => `${a.perms}:${a.id.scheme}:${a.id.id}`).join(',') || '[]'}`);
    else parts.push(`${k}=${show(v)}`);
  }
  return `${opName(req.type)} ${parts.join(' ')}`.trim();
}

const opName = (t: number) => OpName[t] ?? `op${t}`;

export async function runScript(kind: string, connectString: string, steps: readonly Step[], opts: RunOptions = {}): Promise<Recording> {
  const stepTimeout = opts.stepTimeoutMs ?? 5000;
  const budget = opts.budgetMs ?? 90_000;
  const expectCloseMs = opts.expectCloseMs ?? 1000;
  const handles = new Map<string, Handle>();
  const everyClient: ZooKeeperClient[] = [];
  const ctx: ScriptCtx = { marks: new Map() };
  let maxZxid = 0;
  const recorded: RecordedStep[] = [];
  const leftovers: Record<string, WatchEvent[]> = {};
  const startedAt = Date.now();

  const noteZxid = (z: number) => {
    if (z > maxZxid) maxZxid = z;
  };

  /** events of h that arrived before frame number `seq` (all of them if undefined) */
  const takeEvents = (h: Handle | undefined, seq?: number): WatchEvent[] => {
    if (!h) return [];
    const n = seq === undefined ? h.events.length : h.events.findIndex((e) => e.seq >= seq);
    return h.events.splice(0, n === -1 ? h.events.length : n).map((e) => e.ev);
  };

  const attach = (name: string, client: ZooKeeperClient): Handle => {
    let resolveClose!: () => void;
    const h: Handle = { name, client, events: [], closed: false, onClose: new Promise<void>((r) => (resolveClose = r)) };
    client.on('watch', (ev: WatchEvent) => h.events.push({ seq: client.received, ev }));
    client.on('close', () => {
      h.closed = true;
      resolveClose();
    });
    everyClient.push(client);
    return h;
  };

  /** ping every live handle; returns (non-empty) events that arrived before each pong */
  const barrier = async (): Promise<Record<string, WatchEvent[]>> => {
    const out: Record<string, WatchEvent[]> = {};
    for (const [name, other] of handles) {
      if (other.closed) continue;
      const { seq } = await exchange(other.client.ping(), stepTimeout);
      const ev = takeEvents(other, seq);
      if (ev.length) out[name] = ev;
    }
    return out;
  };

  const toRecorded = (r: RawReply): RecordedReply => ({ xid: r.xid, zxid: r.zxid, err: r.err, body: r.body, raw: Buffer.from(r.raw) });

  /** send and wait for one reply, bounded */
  const exchange = async (p: Promise<RawReply>, waitMs: number): Promise<{ outcome: Extract<Outcome, { kind: 'reply' | 'noReply' }>; seq?: number }> => {
    p.catch(() => undefined);
    const r = await Promise.race([p.then((x) => ({ ok: x }), (e: unknown) => ({ fail: e })), delay(waitMs)]);
    if (r === 'timeout') return { outcome: { kind: 'noReply', why: 'timeout' } };
    if ('fail' in r) {
      const e = r.fail;
      return { outcome: { kind: 'noReply', why: e instanceof ZkError ? e.code : String((e as Error).message ?? e) } };
    }
    noteZxid(r.ok.zxid);
    return { outcome: { kind: 'reply', reply: toRecorded(r.ok) }, seq: r.ok.seq };
  };

  const connect = async (name: string, o: { timeout?: number; readOnly?: boolean; sessionId?: bigint; password?: Buffer }): Promise<{ outcome: Outcome; events: WatchEvent[] }> => {
    const old = handles.get(name);
    const events = takeEvents(old);
    if (old && !old.closed) old.client.disconnect();
    try {
      const client = await ZooKeeperClient.connect(connectString, {
        sessionTimeout: o.timeout ?? 30_000,
        readOnly: o.readOnly,
        sessionId: o.sessionId,
        password: o.password,
        connectTimeout: stepTimeout,
      });
      handles.set(name, attach(name, client));
      return {
        outcome: { kind: 'connected', sessionId: client.sessionId, timeOut: client.sessionTimeout, passwd: client.password, readOnly: client.readOnly },
        events,
      };
    } catch (e) {
      handles.delete(name);
      return { outcome: { kind: 'connectFailed', why: e instanceof ZkError ? e.code : String((e as Error).message) }, events };
    }
  };

  for (let i = 0; i < steps.length; i++) {
    const step = steps[i];
    const s = 's' in step ? step.s : '';
    const rec = (desc: string, outcome: Outcome, events: WatchEvent[] = []) => recorded.push({ i, s, desc, outcome, events });
    if (Date.now() - startedAt > budget) {
      rec(step.kind, { kind: 'noReply', why: 'aborted: run over budget' });
      continue;
    }
    const h = s ? handles.get(s) : undefined;
    const live = h && !h.closed ? h : undefined;
    switch (step.kind) {
      case 'connect': {
        const { outcome, events } = await connect(s, { timeout: step.timeout, readOnly: step.readOnly });
        rec(`connect timeout=${step.timeout}${step.readOnly !== undefined ? ` readOnly=${step.readOnly}` : ''}`, outcome, events);
        break;
      }
      case 'reattach': {
        const target = handles.get(step.target);
        if (!target) {
          rec(`reattach to ${step.target}`, { kind: 'connectFailed', why: 'no such handle' });
          break;
        }
        const password = step.password === 'right' ? target.client.password : Buffer.from(target.client.password.map((b) => b ^ 0xff));
        const { outcome, events } = await connect(s, { sessionId: target.client.sessionId, password });
        if (outcome.kind === 'connected') outcome.samePassword = outcome.passwd.equals(password);
        rec(`reattach to session of ${step.target} (${step.password} password)`, outcome, events);
        break;
      }
      case 'req': {
        const req = typeof step.req === 'function' ? step.req(ctx) : step.req;
        const desc = describe(req);
        if (!live) {
          rec(desc, { kind: 'noReply', why: 'notConnected' }, takeEvents(h));
          break;
        }
        const { outcome, seq } = await exchange(live.client.request(req), step.noReplyMs ?? stepTimeout);
        const events = takeEvents(live, seq);
        if (outcome.kind === 'noReply' && outcome.why === 'timeout') {
          if (step.noReplyMs !== undefined) outcome.why = 'noReply';
          else live.client.disconnect(); // a server that skipped a reply would stall this connection
        }
        if (step.expectClose) outcome.closed = await Promise.race([live.onClose.then(() => true), delay(expectCloseMs).then(() => false)]);
        rec(desc, outcome, events);
        break;
      }
      case 'raw': {
        const desc = `${opName(step.type)} raw=${step.payload.toString('hex')}`;
        if (!live) {
          rec(desc, { kind: 'noReply', why: 'notConnected' }, takeEvents(h));
          break;
        }
        const { outcome, seq } = await exchange(live.client.send(step.type, step.payload), stepTimeout);
        const events = takeEvents(live, seq);
        if (step.expectClose) outcome.closed = await Promise.race([live.onClose.then(() => true), delay(expectCloseMs).then(() => false)]);
        rec(desc, outcome, events);
        break;
      }
      case 'pipeline': {
        const desc = `pipeline of ${step.reqs.length}: ${step.reqs.map(describe).join(' | ')}`;
        if (!live) {
          rec(desc, { kind: 'noReply', why: 'notConnected' }, takeEvents(h));
          break;
        }
        const sent = step.reqs.map((r) => live.client.request(r));
        const results = await Promise.all(sent.map((p) => exchange(p, stepTimeout)));
        // attribute events by arrival: each reply gets the events that came after the previous reply to arrive
        const order = results.map((r, k) => ({ k, seq: r.seq ?? Infinity })).sort((a, b) => a.seq - b.seq);
        const replies: { rank: number; outcome: Outcome; events: WatchEvent[] }[] = results.map((r) => ({ rank: -1, outcome: r.outcome, events: [] }));
        order.forEach(({ k, seq }, rank) => {
          replies[k].rank = rank;
          replies[k].events = takeEvents(live, seq === Infinity ? undefined : seq);
        });
        rec(desc, { kind: 'pipeline', replies });
        break;
      }
      case 'close': {
        if (!live) {
          rec('closeSession', { kind: 'noReply', why: 'notConnected' }, takeEvents(h));
          break;
        }
        // closeSession deletes the session's ephemerals in ZooKeeper's hash-set
        // order, so the notifications it causes come in an order no other server
        // can be expected to reproduce. Barriers (a ping on every live connection,
        // answered after all earlier notifications) before and after the close
        // separate those notifications from earlier ones, and they are sorted.
        const pending = await barrier();
        const { outcome, seq } = await exchange(live.client.send(-11), stepTimeout);
        const events = sortEvents(takeEvents(live, seq));
        outcome.closed = await Promise.race([live.onClose.then(() => true), delay(expectCloseMs).then(() => false)]);
        live.client.disconnect();
        const caused = await barrier();
        for (const k of Object.keys(caused)) caused[k] = sortEvents(caused[k]);
        rec('closeSession', { kind: 'close', outcome, pendingElsewhere: pending, causedElsewhere: caused }, events);
        break;
      }
      case 'drop': {
        const events = takeEvents(h);
        if (live) live.client.disconnect();
        rec('drop connection', { kind: 'none' }, events);
        break;
      }
      case 'awaitClose': {
        const closed = live ? await Promise.race([live.onClose.then(() => true), delay(step.ms).then(() => false)]) : true;
        rec(`await server close (${step.ms} ms)`, { kind: 'closed', closed }, takeEvents(h));
        break;
      }
      case 'mark':
        ctx.marks.set(step.name, maxZxid);
        rec(`mark ${step.name}`, { kind: 'none' });
        break;
    }
  }
  const endedAt = Date.now();
  for (const [name, h] of handles) {
    const ev = takeEvents(h);
    if (ev.length) leftovers[name] = ev;
  }
  for (const c of everyClient) c.disconnect();
  return { kind, steps: recorded, startedAt, endedAt, leftovers };
}
