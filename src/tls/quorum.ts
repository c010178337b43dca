// TLS between ensemble members, as ZooKeeper 3.8 does it (QuorumX509Util,
// UnifiedServerSocket, QuorumCnxManager's and Learner's SSL sockets): a
// PeerTransport for the quorum and election ports.
//
// Settings: zoo.cfg's sslQuorum, portUnification and sslQuorumReloadCertFiles
// (QuorumPeerConfig reads them from zoo.cfg only; there are no system
// properties of those names), and the zookeeper.ssl.quorum.* properties (-D
// flags, or ssl.quorum.* lines in zoo.cfg), read by src/tls/settings.ts.
//
// Invariants:
// - sslQuorum: every connection this member dials is TLS; a listening port
//   takes TLS only, unless portUnification also lets plaintext in (the step of
//   a rolling switch between plaintext and TLS). portUnification alone dials
//   plaintext and takes both;
// - both ends present their certificate; a listener asks for the dialler's
//   as ssl.quorum.clientAuth says (default need), and each end checks the
//   other's against its trust store;
// - with ssl.quorum.hostnameVerification (default true) each end also checks
//   the other's certificate against the peer's address, as ZKTrustManager
//   does for quorum (both directions): the IP address first (a SAN IP entry),
//   then a host name (DNS entries, or the CN when there are none): the
//   server.N host the dialler named, else the address's reverse lookup;
// - a refused connection is logged with its reason and closed; nothing else
//   is disturbed;
// - sslQuorumReloadCertFiles: the stores are read again once their files
//   change, for new connections and dials.

import { promises as dns } from 'node:dns';
import net from 'node:net';
import tls from 'node:tls';
import type { ServerConfig } from '../config/config.ts';
import type { Logger } from '../log.ts';
import { PLAINTEXT, type PeerAddressPort, type PeerTransport } from '../runtime/transport.ts';
import { TlsFront, watchStores } from './front.ts';
import { secureContextOptions, x509Settings, type X509Settings } from './settings.ts';

/** The transport zoo.cfg asks for: TLS when sslQuorum or portUnification is on, else plaintext. */
export function quorumTransport(config: ServerConfig, logger: Logger): PeerTransport {
  if (!config.sslQuorum && !config.portUnification) return PLAINTEXT;
  const need = `${config.sslQuorum ? 'sslQuorum' : 'portUnification'}=true needs this member's certificate and key`;
  return new QuorumTls(x509Settings(config, 'ssl.quorum', need), config, logger);
}

class QuorumTls implements PeerTransport {
  private context: tls.SecureContext;
  private readonly fronts: TlsFront[] = [];
  private readonly stopWatching: () => void = () => {};

  /** Reads the stores now: throws ConfigError when they cannot be used. */
  constructor(
    private readonly settings: X509Settings,
    private readonly config: Pick<ServerConfig, 'sslQuorum' | 'portUnification' | 'sslQuorumReloadCertFiles'>,
    private readonly logger: Logger,
  ) {
    this.context = tls.createSecureContext(secureContextOptions(settings));
    if (config.sslQuorumReloadCertFiles) {
      this.stopWatching = watchStores(settings, logger, 'quorum TLS', (options) => {
        this.context = tls.createSecureContext(options);
        for (const front of this.fronts) front.setSecureContext(options);
      });
    }
  }

  dial(to: PeerAddressPort, timeoutMs: number | undefined, ready: () => void): net.Socket {
    if (!this.config.sslQuorum) return PLAINTEXT.dial(to, timeoutMs, ready);
    const socket = tls.connect({
      host: to.host,
      port: to.port,
      timeout: timeoutMs,
      secureContext: this.context,
      // Judged below, so that each refusal is logged with its reason.
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
    });
    // What the caller writes waits for the peer to pass (see transport.ts).
    socket.cork();
    const where = `${to.host}:${to.port}`;
    // A peer that is down is the nets' business (they dial again); a failed handshake is worth saying.
    let connected = false;
    socket.once('connect', () => (connected = true));
    const failed = (e: Error & { reason?: string }) => {
      if (connected) this.logger.warn(`quorum TLS: handshake with ${where} failed: ${e.reason ?? e.message.trim()}`);
    };
    socket.once('error', failed);
    socket.once('secureConnect', () => {
      socket.off('error', failed);
      void this.serverProblem(socket, to.host).then((problem) => {
        if (problem !== null) {
          this.logger.warn(`quorum TLS: refusing server ${where}: ${problem}; closed`);
          return void socket.destroy();
        }
        if (socket.destroyed) return;
        socket.uncork();
        ready();
      });
    });
    return socket;
  }

  acceptor(port: 'quorum' | 'election', ready: (socket: net.Socket) => void): (socket: net.Socket) => void {
    const settings = { ...this.settings, portUnification: this.config.portUnification, certReload: false, superUser: null };
    const verifyPeer = this.settings.hostnameVerification ? (s: tls.TLSSocket) => this.hostProblem(s, null) : undefined;
    const front = new TlsFront(settings, this.logger, (socket) => ready(socket), { name: port, verifyPeer });
    this.fronts.push(front);
    const plaintext = this.config.portUnification ? ready : null;
    return (socket) => front.accept(socket, plaintext);
  }

  close(): void {
    this.stopWatching();
    for (const front of this.fronts) front.close();
  }

  /** Why the server we dialled is refused (untrusted, or not the host we dialled), or null. */
  private async serverProblem(socket: tls.TLSSocket, host: string): Promise<string | null> {
    if (!socket.authorized) {
      const subject = socket.getPeerX509Certificate()?.subject.replace(/\n/g, ', ') ?? '(none)';
      return `its certificate ${subject} is not trusted: ${socket.authorizationError}`;
    }
    return this.settings.hostnameVerification ? this.hostProblem(socket, net.isIP(host) ? null : host) : null;
  }

  /**
   * Why the peer's certificate does not name the peer, or null: it must match
   * its IP address or else `hostName` (null: the address's reverse lookup).
   */
  private async hostProblem(socket: tls.TLSSocket, hostName: string | null): Promise<string | null> {
    const cert = socket.getPeerCertificate();
    const ip = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    if (tls.checkServerIdentity(ip, cert) === undefined) return null;
    const name = hostName ?? (await dns.lookupService(ip, 0).then((r) => r.hostname, () => null));
    if (name !== null && tls.checkServerIdentity(name, cert) === undefined) return null;
    const subject = socket.getPeerX509Certificate()?.subject.replace(/\n/g, ', ');
    return `hostname verification failed: certificate ${subject} (${cert.subjectaltname ?? 'no subject alternative names'}) matches neither ${ip} nor ${name ?? 'a host name'}`;
  }
}
