// ZooKeeper's AdminServer (JettyAdminServer) on Node's http: GET
// <commandURL>/<name> runs a command (commands.ts) and answers its JSON;
// GET <commandURL> lists the commands as links. Query parameters are the
// command's arguments (set_trace_mask?traceMask=…). Paddock's web dashboard
// (dashboard.ts) is at the root URL and under /dashboard/, ahead of them.
//
// Invariants:
// - every command answer is HTTP 200 with the `command`/`error` envelope,
//   an unknown command included, as ZooKeeper's; a method other than GET is
//   405 and a path outside the command URL 404, each with the envelope;
// - a command that throws is a 500 with the envelope naming the failure; the
//   server keeps serving;
// - a connection idle for admin.idleTimeout is closed (Jetty's idle timeout).

import http from 'node:http';
import type { AdminConfig } from '../config/config.ts';
import type { Logger } from '../log.ts';
import type { ServerView } from '../server/inspect.ts';
import { PRIMARY_NAMES, runCommand } from './commands.ts';
import { BACKUP_COMMAND, serveBackup } from '../backup/take.ts';
import { Dashboard } from './dashboard.ts';
import { toJson, type Json } from './json.ts';

export class AdminServer {
  private readonly http: http.Server;
  private readonly base: string;
  private readonly dashboard: Dashboard;

  constructor(
    private readonly settings: AdminConfig,
    private readonly view: ServerView,
    private readonly logger: Logger,
  ) {
    this.base = settings.commandUrl.replace(/\/+$/, '');
    this.dashboard = new Dashboard(view, logger);
    this.http = http.createServer((req, res) => this.handle(req, res));
    this.http.keepAliveTimeout = settings.idleTimeoutMs;
    this.http.timeout = settings.idleTimeoutMs;
  }

  /** Listen on admin.serverAddress:admin.serverPort; resolves with the port. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen({ port: this.settings.port, host: this.settings.address }, () => {
        this.http.off('error', reject);
        this.http.on('error', (e) => this.logger.error(`AdminServer: ${e.message}`));
        resolve(this.port);
      });
    });
  }

  get port(): number {
    const addr = this.http.address();
    return addr && typeof addr === 'object' ? addr.port : this.settings.port;
  }

  close(): Promise<void> {
    this.dashboard.close();
    return new Promise((resolve) => {
      this.http.close(() => resolve());
      this.http.closeAllConnections();
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://admin');
    if (this.dashboard.handles(url, req, res)) return;
    const path = url.pathname.replace(/\/+$/, '');
    const name = path.startsWith(`${this.base}/`) ? decoded(path.slice(this.base.length + 1)) : null;
    if (path !== this.base && name === null) return send(res, 404, { command: null, error: `No such URL: ${url.pathname}; the commands are under ${this.base}` });
    if (req.method !== 'GET') return send(res, 405, { command: name, error: `HTTP method ${req.method} is not supported by this URL` });
    if (name === null) {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end(PRIMARY_NAMES.map((n) => `<a href="${this.base}/${n}">${n}</a>\n<br/>\n`).join(''));
      return;
    }
    if (name === BACKUP_COMMAND) return void serveBackup(this.view, res, this.logger); // a tar, not JSON (src/backup)
    let reply: Json;
    try {
      reply = runCommand(name, this.view, url.searchParams);
    } catch (e) {
      this.logger.error(`AdminServer: command ${name} failed: ${(e as Error).stack ?? e}`);
      return send(res, 500, { command: name, error: `command failed: ${(e as Error).message}` });
    }
    send(res, 200, reply);
  }
}

/** A URL path segment decoded; as it came when it is not valid percent-encoding. */
function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function send(res: http.ServerResponse, status: number, body: Json): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(toJson(body));
}
