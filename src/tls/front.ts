// The TLS side of a listening port. For the client ports, as ZooKeeper's
// NettyServerCnxnFactory has it: the secure client port speaks only TLS; with
// client.portUnification the plain port also takes TLS, told apart by the
// first byte (0x16 opens a TLS handshake; a plaintext frame length or
// four-letter word never does). The quorum and election ports use it the same
// way (src/tls/quorum.ts, as UnifiedServerSocket), with a further check of the
// peer's certificate (hostname verification).
// Invariants:
// - a socket reaches the request pipeline (`serve`) only after its handshake
//   succeeded and its certificate passed ssl.clientAuth (and the port's
//   `verifyPeer`, when it has one); every other socket is
//   logged once and closed (`refused`), and nothing else is disturbed;
// - a verified client certificate gives the connection the x509 id of its
//   subject (X509AuthenticationProvider), and super when it is superUser;
// - with client.certReload the stores are read again when their files change,
//   for new connections (ZooKeeper's FileChangeWatcher); a store that fails to
//   load keeps the previous one in use.

import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Socket } from 'node:net';
import tls, { type SecureContextOptions } from 'node:tls';
import type { Logger } from '../log.ts';
import type { Id } from '../proto/records.ts';
import { SUPER } from '../tree/acl.ts';
import { secureContextOptions, type TlsSettings, type X509Settings } from './settings.ts';
import { subjectName } from './x500.ts';

const TLS_HANDSHAKE_RECORD = 0x16;
/** Netty's SslHandler gives a handshake this long. */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Store files often change in several writes (cp, or key then certificate): reload once they are quiet. */
const RELOAD_QUIET_MS = 200;

/** Takes a socket ready for the request pipeline, with the auth ids its certificate gave. */
export type Serve = (socket: Socket, authIds: Id[]) => void;

/** Which port a front serves, for its log lines, and what more it asks of a trusted certificate. */
export interface FrontPort {
  /** 'client', 'quorum', 'election' */
  name: string;
  /** why a trusted peer certificate is still refused, or null to accept it */
  verifyPeer?: (socket: tls.TLSSocket) => Promise<string | null>;
}

export class TlsFront {
  private readonly server: tls.Server;
  /** accepted sockets until they close (a TLS socket's own closes with it), destroyed by close() */
  private readonly pending = new Set<Socket>();
  private readonly stopWatching: () => void = () => {};

  /** Reads the stores now: throws ConfigError when they cannot be used. */
  constructor(
    readonly settings: TlsSettings,
    private readonly logger: Logger,
    private readonly serve: Serve,
    private readonly port: FrontPort = { name: 'client' },
  ) {
    this.server = tls.createServer({
      ...secureContextOptions(settings),
      requestCert: settings.clientAuth !== 'none',
      // Judged in `secured`, so that each refusal is logged with its reason.
      rejectUnauthorized: false,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    });
    this.server.on('secureConnection', (socket) => void this.secured(socket));
    // OpenSSL's errors carry a short reason ('wrong version number'); the message adds its source location.
    this.server.on('tlsClientError', (e: Error & { reason?: string }, socket) => this.refuse(socket, `${describe(socket)}: TLS handshake failed: ${e.reason ?? e.message.trim()}`));
    if (settings.certReload) {
      this.stopWatching = watchStores(settings, logger, 'client TLS', (options) => this.setSecureContext(options));
    }
  }

  /**
   * A new connection on a port that takes TLS; `plain` receives it instead when
   * it turns out to be plaintext on a unified port (null: plaintext is refused).
   */
  accept(socket: Socket, plain: ((socket: Socket) => void) | null): void {
    this.pending.add(socket);
    const from = describe(socket);
    const sniffTimer = setTimeout(() => this.refuse(socket, `${from}: nothing received in ${HANDSHAKE_TIMEOUT_MS} ms`), HANDSHAKE_TIMEOUT_MS);
    socket.once('close', () => {
      clearTimeout(sniffTimer);
      this.pending.delete(socket);
    });
    socket.on('error', () => socket.destroy());
    socket.once('data', (first: Buffer) => {
      clearTimeout(sniffTimer);
      socket.pause();
      socket.unshift(first);
      if (first[0] === TLS_HANDSHAKE_RECORD) {
        this.server.emit('connection', socket);
      } else if (plain) {
        plain(socket);
        socket.resume();
      } else {
        this.refuse(socket, `${from}: plaintext on the secure ${this.port.name} port (expected a TLS handshake)`);
      }
    });
  }

  private async secured(socket: tls.TLSSocket): Promise<void> {
    const from = describe(socket);
    const cert = socket.getPeerX509Certificate();
    const authIds: Id[] = [];
    if (this.settings.clientAuth !== 'none') {
      if (!cert) {
        if (this.settings.clientAuth === 'need') return this.refuse(socket, `${from}: no client certificate, and ${this.settings.prefix}.clientAuth=need (a Java peer sends none when no CA in this server's trust store issued its certificate)`);
      } else if (!socket.authorized) {
        return this.refuse(socket, `${from}: client certificate ${cert.subject.replace(/\n/g, ', ')} not trusted: ${socket.authorizationError}`);
      } else {
        const id = subjectName(cert.raw);
        // The same super id as superDigest gives: whoAmI shows it with an empty user, as ZooKeeper does.
        if (id === this.settings.superUser) authIds.push(SUPER);
        authIds.push({ scheme: 'x509', id });
        this.logger.info(`${from}: authenticated x509 id '${id}'${id === this.settings.superUser ? ' (super user)' : ''}`);
      }
    }
    const problem = cert && this.port.verifyPeer ? await this.port.verifyPeer(socket) : null;
    if (problem !== null) return this.refuse(socket, `${from}: ${problem}`);
    if (!socket.destroyed) this.serve(socket, authIds);
  }

  /** Log why, and close. */
  private refuse(socket: Socket, reason: string): void {
    this.logger.warn(`refusing ${this.port.name} connection ${reason}; closed`);
    socket.destroy();
  }

  /** New connections use these stores. */
  setSecureContext(options: SecureContextOptions): void {
    this.server.setSecureContext(options);
  }

  close(): void {
    this.stopWatching();
    for (const s of this.pending) s.destroy();
  }
}

function remoteIp(socket: Socket): string {
  return (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
}

function describe(socket: Socket): string {
  return `from ${remoteIp(socket)}:${socket.remotePort ?? '?'}`;
}

/**
 * Watch the store files of `settings` and hand `apply` what they hold once
 * they change (ZooKeeper's FileChangeWatcher); a store that fails to load is
 * logged and `apply` keeps what it had. Returns the function that stops watching.
 */
export function watchStores(settings: X509Settings, logger: Logger, what: string, apply: (options: SecureContextOptions) => void): () => void {
  const files = [settings.keyStore.location, settings.trustStore?.location].filter((f) => f !== undefined);
  let reloadTimer: NodeJS.Timeout | null = null;
  const reload = () => {
    reloadTimer = null;
    try {
      apply(secureContextOptions(settings));
      logger.info(`${what} key and trust stores reloaded; new connections use them`);
    } catch (e) {
      logger.error(`${what} stores changed but cannot be loaded, keeping the previous ones: ${(e as Error).message}`);
    }
  };
  const watchers: FSWatcher[] = [];
  for (const dir of new Set(files.map((f) => dirname(f)))) {
    const names = new Set(files.filter((f) => dirname(f) === dir).map((f) => basename(f)));
    const watcher = watch(dir, (_event, name) => {
      if (name === null || !names.has(name.toString())) return;
      if (reloadTimer) clearTimeout(reloadTimer);
      reloadTimer = setTimeout(reload, RELOAD_QUIET_MS);
    });
    watcher.on('error', (e) => logger.error(`watching ${dir} for certificate changes: ${e.message}`));
    watchers.push(watcher);
  }
  return () => {
    for (const w of watchers) w.close();
    if (reloadTimer) clearTimeout(reloadTimer);
  };
}
