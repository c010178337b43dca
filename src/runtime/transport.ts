// How the quorum and election ports connect to their peers: plaintext TCP
// here, TLS when sslQuorum or portUnification asks for it (src/tls/quorum.ts).
// ElectionNet and QuorumNet dial and accept only through a PeerTransport, so
// the encryption of a connection is decided in one place.
// Invariants:
// - `ready` runs at most once per connection, and only once the connection
//   may carry the protocol's bytes (TLS: handshake done, peer verified);
// - bytes written to a dialled socket before its `ready` wait for it: they
//   never reach a peer that is not yet verified;
// - a refused connection is closed (and, under TLS, logged with its reason).

import net from 'node:net';

export interface PeerAddressPort {
  host: string;
  port: number;
}

export interface PeerTransport {
  /** Connect to a peer's port; write to and destroy the socket returned. */
  dial(to: PeerAddressPort, timeoutMs: number | undefined, ready: () => void): net.Socket;
  /** The connection handler of a listening port: it hands each accepted connection to `ready` once usable. */
  acceptor(port: 'quorum' | 'election', ready: (socket: net.Socket) => void): (socket: net.Socket) => void;
  /** Drop connections still in their handshake and stop watching anything. */
  close(): void;
}

export const PLAINTEXT: PeerTransport = {
  dial(to, timeoutMs, ready) {
    const socket = net.connect({ host: to.host, port: to.port, timeout: timeoutMs });
    socket.once('connect', ready);
    return socket;
  },
  acceptor: (_port, ready) => ready,
  close() {},
};
