// The web dashboard the AdminServer serves at its root URL: three static
// files (dashboard/index.html, app.js, style.css; no build step, nothing
// fetched from elsewhere) and the small JSON API under /dashboard/api they
// poll. ZooKeeper has none; it mirrors no class.
//
//   GET  /dashboard/api/node?path=P   a node: Stat, data (base64), children, ACL
//   POST /dashboard/api/node          {op: set|create|delete, path, data, version, sequential, creatorOnly}
//   GET  /dashboard/api/whoami        the ids the browser's credential gives
//   GET  /dashboard/api/sessions      live sessions, their ephemerals and watches
//   GET  /dashboard/api/ensemble      each member's role, zxid, epoch, lag (ensemble-view.ts)
//   GET  /dashboard/api/stats         the request counters the charts difference each second
//
// Invariants:
// - the browser's ids are what a client of its own would have: the ip id of
//   its address and, when it sends `Authorization: Basic user:password`, the
//   ids `addauth digest user:password` gives (super with the superDigest's
//   password). Reads check them against the node's ACL with the pipeline's
//   check (permits, skipACL) and permissions: Stat as exists (no check), data
//   and children need READ, the ACL READ or ADMIN with digests masked without
//   ADMIN, as getACL;
// - writes need a credential (without one the dashboard is read-only) and
//   run through the request pipeline as requests of a client session with
//   that credential (dashboard-writer.ts). That session connects from
//   loopback, so before it the browser's own ids must pass the same check
//   (WRITE on the node, CREATE or DELETE on the parent): an ip ACL naming
//   127.0.0.1 does not admit a browser elsewhere;
// - a write needs the Authorization header and a JSON body, which a page of
//   another origin cannot send without a CORS preflight this server never
//   grants; bad input is a 400 with a message, never a crash.

import { readFile } from 'node:fs/promises';
import type http from 'node:http';
import type { Logger } from '../log.ts';
import { Err, Perm } from '../proto/constants.ts';
import type { Id, Stat } from '../proto/records.ts';
import { CREATOR_ALL_ACL, CreateMode, OPEN_ACL_UNSAFE, ZooKeeperError, validatePath } from '../client/index.ts';
import { ephemeralsBySession, watchesBySession, type ServerView } from '../server/inspect.ts';
import { sessionHex } from '../server/sessions.ts';
import { digestAuthIds, maskDigests, permits } from '../tree/acl.ts';
import type { ZNode } from '../tree/datatree.ts';
import { VERSION_LINE } from '../version.ts';
import { DashboardWriter } from './dashboard-writer.ts';
import { ensembleView, reachable } from './ensemble-view.ts';

const STATIC: Record<string, [file: string, type: string]> = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/dashboard/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/dashboard/style.css': ['style.css', 'text/css; charset=utf-8'],
};
const FILES = new URL('./dashboard/', import.meta.url);
const API = '/dashboard/api/';
/** children listed per node; the count says how many there are */
const MAX_CHILDREN = 1000;
/** a write's JSON body: 1 MiB of data as base64, and the rest */
const MAX_BODY = 2 * 1024 * 1024;

/** A failure with the HTTP status it answers. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Reply = Record<string, unknown>;

/** The HTTP status of a failed write's ZooKeeper error; any other is a 409 (BadVersion, NodeExists, NotEmpty, …). */
const ERROR_STATUS: Record<number, number> = { [Err.noAuth]: 403, [Err.noNode]: 404, [Err.connectionLoss]: 503, [Err.sessionExpired]: 503, [Err.operationTimeout]: 503 };

export class Dashboard {
  private readonly writer: DashboardWriter;

  constructor(
    private readonly view: ServerView,
    private readonly logger: Logger,
  ) {
    const c = view.config;
    const host = reachable(c.clientPortAddress, '127.0.0.1');
    this.writer = new DashboardWriter(c.clientPort > 0 ? `${host.includes(':') ? `[${host}]` : host}:${c.clientPort}` : null);
  }

  /** Whether `url` is the dashboard's (then the request is answered). */
  handles(url: URL, req: http.IncomingMessage, res: http.ServerResponse): boolean {
    if (Object.hasOwn(STATIC, url.pathname)) {
      if (req.method !== 'GET') sendJson(res, 405, { error: `HTTP method ${req.method} is not supported by this URL` });
      else void this.sendFile(res, ...STATIC[url.pathname]!);
      return true;
    }
    if (url.pathname === '/favicon.ico') {
      res.writeHead(204).end();
      return true;
    }
    if (!url.pathname.startsWith(API)) return false;
    this.api(url.pathname.slice(API.length), url, req).then(
      (body) => sendJson(res, 200, body),
      (e: Error) => {
        const status = e instanceof HttpError ? e.status : e instanceof ZooKeeperError ? (ERROR_STATUS[e.code] ?? 409) : 500;
        if (status === 500) this.logger.error(`dashboard: ${url.pathname} failed: ${e.stack ?? e}`);
        sendJson(res, status, { error: e.message, ...(e instanceof ZooKeeperError && { code: e.code }) });
      },
    );
    return true;
  }

  close(): void {
    this.writer.closeAll();
  }

  private async sendFile(res: http.ServerResponse, file: string, type: string): Promise<void> {
    try {
      const body = await readFile(new URL(file, FILES));
      // Everything the page loads comes from this server.
      res.writeHead(200, { 'Content-Type': type, 'Content-Security-Policy': "default-src 'self'", 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-cache' });
      res.end(body);
    } catch (e) {
      sendJson(res, 500, { error: `dashboard file ${file} missing: ${(e as Error).message}` });
    }
  }

  private async api(name: string, url: URL, req: http.IncomingMessage): Promise<Reply> {
    const post = req.method === 'POST';
    if (req.method !== 'GET' && !(post && name === 'node')) throw new HttpError(405, `HTTP method ${req.method} is not supported by this URL`);
    const credential = credentialOf(req);
    const ids = this.idsOf(req, credential);
    switch (name) {
      case 'node':
        if (post) return this.write(credential, ids, await jsonBody(req));
        return this.node(url.searchParams.get('path') ?? '/', ids);
      case 'whoami':
        return { authenticated: credential !== null, ids: ids.map((id) => `${id.scheme}:${id.scheme === 'digest' ? id.id.split(':')[0] : id.id}`) };
      case 'sessions':
        return this.sessions();
      case 'ensemble':
        return { members: await ensembleView(this.view) };
      case 'stats':
        return this.stats();
      default:
        throw new HttpError(404, `no dashboard API ${name}`);
    }
  }

  /** The ids a client of the browser's own would hold (see the invariants). */
  private idsOf(req: http.IncomingMessage, credential: string | null): Id[] {
    const ip: Id = { scheme: 'ip', id: (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '') };
    return credential === null ? [ip] : [ip, ...digestAuthIds(credential, this.view.config.superDigest)];
  }

  /** The pipeline's ACL check (checkACL) as a yes or no. */
  private may(node: ZNode, perm: number, ids: Id[]): boolean {
    return this.view.config.skipACL || permits(node.acl, perm, ids);
  }

  private node(path: string, ids: Id[]): Reply {
    checkPath(path);
    const node = this.view.processor.tree.get(path);
    if (!node) throw new HttpError(404, `KeeperErrorCode = NoNode for ${path}`);
    const readable = this.may(node, Perm.read, ids);
    const children = readable ? [...node.children].sort() : [];
    return {
      path,
      stat: statJson(node.stat()),
      readable,
      data: readable && node.data ? node.data.toString('base64') : null,
      childCount: node.children.size,
      children: children.slice(0, MAX_CHILDREN),
      acl: this.may(node, Perm.read | Perm.admin, ids) ? (this.may(node, Perm.admin, ids) ? node.acl : maskDigests(node.acl)) : null,
    };
  }

  private async write(credential: string | null, ids: Id[], body: Reply): Promise<Reply> {
    if (credential === null) throw new HttpError(401, 'read-only: log in with a digest user:password to change the tree');
    const { op, path } = body;
    if (typeof path !== 'string') throw new HttpError(400, 'path must be a string');
    const version = body.version ?? -1;
    if (!Number.isInteger(version)) throw new HttpError(400, 'version must be a whole number');
    const data = body.data === undefined || body.data === null ? null : typeof body.data === 'string' ? Buffer.from(body.data, 'base64') : null;
    if (body.data !== undefined && body.data !== null && data === null) throw new HttpError(400, 'data must be base64 text');
    checkPath(path);
    const tree = this.view.processor.tree;
    // The browser's own ids first (see the invariants); a missing node is left for the pipeline to answer.
    const refuse = (node: ZNode | undefined, perm: number) => {
      if (node && !this.may(node, perm, ids)) throw new ZooKeeperError(Err.noAuth, path);
    };
    switch (op) {
      case 'set':
        refuse(tree.get(path), Perm.write);
        return { stat: statJson(await this.writer.run(credential, (zk) => zk.setData(path, data, version as number))) };
      case 'create': {
        refuse(tree.get(parentOf(path)), Perm.create);
        const options = { mode: body.sequential === true ? CreateMode.persistentSequential : CreateMode.persistent, acl: body.creatorOnly === true ? CREATOR_ALL_ACL : OPEN_ACL_UNSAFE };
        return { path: await this.writer.run(credential, (zk) => zk.create(path, data, options)) };
      }
      case 'delete':
        refuse(tree.get(parentOf(path)), Perm.delete);
        await this.writer.run(credential, (zk) => zk.delete(path, version as number));
        return {};
      default:
        throw new HttpError(400, `op must be set, create or delete, not ${JSON.stringify(op)}`);
    }
  }

  private sessions(): Reply {
    const view = this.view;
    const tree = view.processor.tree;
    const connections = new Map([...view.connections].filter((c) => c.sessionId !== 0n).map((c) => [c.sessionId, c]));
    const ephemerals = ephemeralsBySession(view);
    const dataWatches = watchesBySession(view);
    const childWatches = watchesBySession(view, tree.childWatches);
    const mine = this.writer.sessionIds;
    const ids = new Set([...tree.sessions.keys(), ...connections.keys(), ...ephemerals.keys()]);
    return {
      sessions: [...ids].sort((a, b) => (a < b ? -1 : 1)).map((id) => {
        const c = connections.get(id);
        return {
          id: `0x${sessionHex(id)}`,
          timeout: tree.sessions.get(id) ?? c?.sessionTimeout ?? null,
          client: c ? `${c.remoteAddress}:${c.remotePort}` : null,
          lastOp: c?.lastOp ?? null,
          dashboard: mine.has(id),
          ephemerals: [...(ephemerals.get(id) ?? [])].sort(),
          dataWatches: [...(dataWatches.get(id) ?? [])].sort(),
          childWatches: [...(childWatches.get(id) ?? [])].sort(),
        };
      }),
    };
  }

  private stats(): Reply {
    const view = this.view;
    const s = view.processor.stats;
    return {
      at: Date.now(),
      version: VERSION_LINE,
      myid: view.config.myid ?? null,
      mode: view.mode ?? 'looking',
      zxid: view.processor.zxid,
      packetsReceived: s.packetsReceived,
      latencyCount: s.latencyCount,
      totalLatency: s.totalLatency,
      maxLatency: s.maxLatency,
      outstanding: view.flow.outstanding,
      connections: view.connections.size,
      nodeCount: view.processor.tree.nodeCount + 1,
    };
  }
}

/** The `user:password` of an `Authorization: Basic` header; null without one. */
function credentialOf(req: http.IncomingMessage): string | null {
  const header = req.headers.authorization;
  if (header === undefined) return null;
  const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header);
  const credential = m ? Buffer.from(m[1]!, 'base64').toString('utf8') : '';
  if (!credential.includes(':')) throw new HttpError(400, 'Authorization must be Basic base64(user:password)');
  return credential;
}

function checkPath(path: string): void {
  try {
    validatePath(path);
  } catch (e) {
    throw new HttpError(400, (e as Error).message);
  }
}

const parentOf = (path: string): string => path.slice(0, path.lastIndexOf('/')) || '/';

/** Stat with the session id as hex (a JSON number would round it). */
const statJson = (stat: Stat) => ({ ...stat, ephemeralOwner: `0x${sessionHex(stat.ephemeralOwner)}` });

/** A request's JSON object body, at most MAX_BODY bytes. */
async function jsonBody(req: http.IncomingMessage): Promise<Reply> {
  if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) throw new HttpError(415, 'the body must be application/json');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpError(413, `the body is over ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (e) {
    throw new HttpError(400, `the body is not JSON: ${(e as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'the body must be a JSON object');
  return body as Reply;
}

function sendJson(res: http.ServerResponse, status: number, body: Reply): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify(body));
}
