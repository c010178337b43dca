// The TLS side of the client ports, as ZooKeeper's NettyServerCnxnFactory has
// it: the secure client port speaks only TLS; with client.portUnification the
// plain port also takes TLS, told apart by the first byte (0x16 opens a TLS
// handshake; a plaintext frame length or four-letter word never does).
// Invariants:
// - a socket reaches the request pipeline (`serve`) only after its handshake
//   succeeded and its certificate passed ssl.clientAuth; every other socket is
//   logged once and closed (`refused`), and nothing else is disturbed;
// - a verified client certificate gives the connection the x509 id of its
//   subject (X509AuthenticationProvider), and super when it is superUser;
// - with client.certReload the stores are read again when their files change,
//   for new connections (ZooKeeper's FileChangeWatcher); a store that fails to
//   load keeps the previous one in use.

import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Socket } from 'node:net';
import tls from 'node:tls';
import type { Logger } from '../log.ts';
import type { Id } from '../proto/records.ts';
import { SUPER } from '../tree/acl.ts';
import { secureContextOptions, type TlsSettings } from './settings.ts';
import { subjectName } from './x500.ts';

const TLS_HANDSHAKE_RECORD = 0x16;
/** Netty's SslHandler gives a handshake this long. */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Store files often change in several writes (cp, or key then certificate): reload once they are quiet. */
const RELOAD_QUIET_MS = 200;

/** Takes a socket ready for the request pipeline, with the auth ids its certificate gave. */
export type Serve = (socket: Socket, authIds: Id[]) => void;

export class TlsFront {
  private readonly server: tls.Server;
  /** accepted sockets until they close (a TLS socket's own closes with it), destroyed by close() */
  private readonly pending = new Set<Socket>();
  private readonly watchers: FSWatcher[] = [];
  private reloadTimer: NodeJS.Timeout | null = null;

  /** Reads the stores now: throws ConfigError when they cannot be used. */
  constructor(
    readonly settings: TlsSettings,
    private readonly logger: Logger,
    private readonly serve: Serve,
  ) {
    this.server = tls.createServer({
      ...secureContextOptions(settings),
      requestCert: settings.clientAuth !== 'none',
      // Judged in `secured`, so that each refusal is logged with its reason.
      rejectUnauthorized: false,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    });
    this.server.on('secureConnection', (socket) => this.secured(socket));
    // OpenSSL's errors carry a short reason ('wrong version number'); the message adds its source location.
    this.server.on('tlsClientError', (e: Error & { reason?: string }, socket) => this.refuse(socket, `${describe(socket)}: TLS handshake failed: ${e.reason ?? e.message.trim()}`));
    if (settings.certReload) this.watchStores();
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
        this.refuse(socket, `${from}: plaintext on the secure client port (expected a TLS handshake)`);
      }
    });
  }

  private secured(socket: tls.TLSSocket): void {
    const from = describe(socket);
    const cert = socket.getPeerX509Certificate();
    const authIds: Id[] = [];
    if (this.settings.clientAuth !== 'none') {
      if (!cert) {
        if (this.settings.clientAuth === 'need') return this.refuse(socket, `${from}: no client certificate, and ssl.clientAuth=need`);
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
    this.serve(socket, authIds);
  }

  /** Log why, and close. */
  private refuse(socket: Socket, reason: string): void {
    this.logger.warn(`refusing client connection ${reason}; closed`);
    socket.destroy();
  }

  private watchStores(): void {
    const files = [this.settings.keyStore.location, this.settings.trustStore?.location].filter((f) => f !== undefined);
    for (const dir of new Set(files.map((f) => dirname(f)))) {
      const names = new Set(files.filter((f) => dirname(f) === dir).map((f) => basename(f)));
      const watcher = watch(dir, (_event, name) => {
        if (name !== null && names.has(name.toString())) this.scheduleReload();
      });
      watcher.on('error', (e) => this.logger.error(`watching ${dir} for certificate changes: ${e.message}`));
      this.watchers.push(watcher);
    }
  }

  private scheduleReload(): void {
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => {
      this.reloadTimer = null;
      try {
        this.server.setSecureContext(secureContextOptions(this.settings));
        this.logger.info('client TLS key and trust stores reloaded; new connections use them');
      } catch (e) {
        this.logger.error(`client TLS stores changed but cannot be loaded, keeping the previous ones: ${(e as Error).message}`);
      }
    }, RELOAD_QUIET_MS);
  }

  close(): void {
    for (const w of this.watchers) w.close();
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    for (const s of this.pending) s.destroy();
  }
}

function remoteIp(socket: Socket): string {
  return (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
}

function describe(socket: Socket): string {
  return `from ${remoteIp(socket)}:${socket.remotePort ?? '?'}`;
}
