// Quorum SASL: the handshake ZooKeeper 3.8 peers run at the start of every election
// connection (QuorumCnxManager, right after the dialler's initial message, whichever id
// is higher) and of every learner connection to its leader (Learner.connectToLeader,
// LearnerHandler), before the connection's own protocol. It mirrors QuorumAuth,
// SaslQuorumAuthLearner, SaslQuorumAuthServer and SaslQuorumServerCallbackHandler;
// ElectionNet and QuorumNet call it (asLearner when they dial, asServer when they accept).
//
// Wire: jute QuorumAuthPacket records (long magic, int status, buffer token), magic
// QUORUM_AUTH_MAGIC, status IN_PROGRESS 0, SUCCESS 1, ERROR -1. With DIGEST-MD5 (src/server/sasl.ts) for
// zookeeper-quorum/zk-quorum-sasl-md5:
//   learner: IN_PROGRESS, empty token      server: IN_PROGRESS, challenge
//   learner: IN_PROGRESS, digest-response  server: SUCCESS, rspauth   (ERROR, empty, on failure)
//
// Rules, as in 3.8:
// - the dialling side authenticates only with learnerRequireSasl; an ERROR answer, a wrong
//   rspauth or a broken exchange fails the connection;
// - the accepting side (enableSasl) looks at the next 8 bytes: the magic starts a handshake;
//   anything else goes on unauthenticated unless serverRequireSasl (the rolling-upgrade path).
//   A failed handshake is answered ERROR; unless serverRequireSasl the connection still goes
//   on (the learner, having failed, drops it itself);
// - authorization (CVE-2023-44981, SaslQuorumServerCallbackHandler since 3.8.3): under
//   DIGEST-MD5 a user is authorized only as itself, so a response asking for another
//   authorization id is refused. The fix's other half, that a Kerberos principal's host
//   must be a server of the ensemble, is GSSAPI's, which Paddock refuses at start-up;
// - a handshake has a deadline (ZooKeeper: the socket timeout, tickTime × syncLimit);
// - bytes that arrive behind the handshake are handed back for the connection's protocol:
//   the caller must attach its own reader in the promise's continuation, awaiting nothing
//   before (no 'data' event can come in between).

import type net from 'node:net';
import type { QuorumAuthConfig } from '../config/quorum-auth.ts';
import { JuteWriter } from '../jute/archive.ts';
import type { Logger } from '../log.ts';
import { DigestMd5Client, DigestMd5Server, QUORUM_SASL_SERVICE, SaslError } from '../server/sasl.ts';

/**
 * Java's -0xa0dbcafecafe1234L: the literal is already negative as a long, so the magic is
 * positive (ZooKeeper's comment says otherwise). Read as a peer's own protocol it is an
 * absurd length (election) or packet type (quorum), so a peer without quorum SASL drops it.
 */
export const QUORUM_AUTH_MAGIC = 0x5f2435013501edccn;

export enum AuthStatus {
  inProgress = 0,
  success = 1,
  error = -1,
}

/** DIGEST-MD5 tokens are a few hundred bytes; a length past this is not a peer's. */
const MAX_TOKEN_BYTES = 64 * 1024;
const EMPTY = Buffer.alloc(0);

export function encodeAuthPacket(status: AuthStatus, token: Buffer | null): Buffer {
  return new JuteWriter().bigLong(QUORUM_AUTH_MAGIC).int(status).buffer(token).toBuffer();
}

/** SaslQuorumServerCallbackHandler's rule for DIGEST-MD5: a user acts only as itself. */
function authorizeQuorumUser(user: string, authzid: string | undefined): string {
  if (authzid !== undefined && authzid !== user) throw new SaslError(`DIGEST-MD5: ${user} is not authorized to act as ${authzid}`);
  return user;
}

/** Reads a connection's first bytes, as many as asked for, until `finish` hands the rest back. */
class HandshakeReader {
  private buffered: Buffer;
  private waiting: { n: number; consume: boolean; resolve: (b: Buffer) => void; reject: (e: Error) => void } | null = null;
  private failure: Error | null = null;
  private readonly timer: NodeJS.Timeout;
  private readonly onData = (chunk: Buffer) => {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    this.serve();
  };
  private readonly onEnd = () => this.fail(new Error('the peer closed the connection during the handshake'));

  constructor(
    private readonly sock: net.Socket,
    initial: Buffer,
    deadlineMs: number,
  ) {
    this.buffered = initial;
    this.timer = setTimeout(() => this.fail(new Error(`no handshake within ${deadlineMs} ms`)), deadlineMs);
    sock.on('data', this.onData);
    sock.on('end', this.onEnd);
    sock.on('close', this.onEnd);
  }

  /** The next `n` bytes; consumed unless `consume` is false (a peek). */
  read(n: number, consume = true): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.waiting = { n, consume, resolve, reject };
      this.serve();
    });
  }

  /** Stop reading; what arrived beyond what was read. */
  finish(): Buffer {
    clearTimeout(this.timer);
    this.sock.off('data', this.onData);
    this.sock.off('end', this.onEnd);
    this.sock.off('close', this.onEnd);
    return this.buffered;
  }

  private serve(): void {
    const w = this.waiting;
    if (!w) return;
    if (this.buffered.length >= w.n) {
      this.waiting = null;
      const bytes = this.buffered.subarray(0, w.n);
      if (w.consume) this.buffered = this.buffered.subarray(w.n);
      w.resolve(bytes);
    } else if (this.failure) {
      this.waiting = null;
      w.reject(this.failure);
    }
  }

  private fail(e: Error): void {
    this.failure ??= e;
    this.serve();
  }
}

async function readAuthPacket(reader: HandshakeReader): Promise<{ status: AuthStatus; token: Buffer }> {
  const head = await reader.read(16);
  const magic = head.readBigInt64BE(0);
  if (magic !== QUORUM_AUTH_MAGIC) throw new Error(`not a QuorumAuthPacket (magic ${magic})`);
  const status = head.readInt32BE(8);
  if (AuthStatus[status] === undefined) throw new Error(`QuorumAuthPacket with unknown status ${status}`);
  const length = head.readInt32BE(12);
  if (length < -1 || length > MAX_TOKEN_BYTES) throw new Error(`QuorumAuthPacket token length ${length} (at most ${MAX_TOKEN_BYTES})`);
  return { status, token: length <= 0 ? EMPTY : await reader.read(length) };
}

/** One server's quorum SASL: the handshakes on the connections it dials and accepts. */
export class QuorumAuth {
  constructor(
    private readonly config: QuorumAuthConfig,
    private readonly log: Logger,
    /** how long a handshake may take */
    private readonly deadlineMs: number,
  ) {}

  /**
   * Authenticate to `peer` (named for the log) on a connection we dialled, after our initial
   * message if the protocol has one. Resolves with the bytes the peer sent behind the
   * handshake; rejects (logged) when it failed: close the connection then. Null when this
   * server does not authenticate (learnerRequireSasl off). A socket still connecting starts
   * the handshake once connected; one that never connects rejects unlogged.
   */
  asLearner(sock: net.Socket, peer: string): Promise<Buffer> | null {
    const credentials = this.config.learner;
    if (!this.config.learnerRequireSasl || !credentials) return null;
    if (!sock.connecting) return this.learn(sock, credentials, peer);
    const connected = new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('close', () => reject(new Error(`no connection to ${peer}`)));
    });
    return connected.then(() => this.learn(sock, credentials, peer));
  }

  private learn(sock: net.Socket, credentials: { username: string; password: string }, peer: string): Promise<Buffer> {
    const reader = new HandshakeReader(sock, EMPTY, this.deadlineMs);
    const handshake = async () => {
      const client = new DigestMd5Client(credentials.username, credentials.password, QUORUM_SASL_SERVICE);
      sock.write(encodeAuthPacket(AuthStatus.inProgress, EMPTY));
      for (;;) {
        const { status, token } = await readAuthPacket(reader);
        if (status === AuthStatus.error) throw new Error(`${peer} refused us (user ${credentials.username}): wrong password, or not a user it knows?`);
        const answer = client.evaluate(token);
        if (status === AuthStatus.success) {
          if (!client.complete) throw new Error(`${peer} said SUCCESS before the exchange was over`);
          return;
        }
        if (answer === null) throw new Error(`${peer} ended the exchange without SUCCESS`);
        sock.write(encodeAuthPacket(AuthStatus.inProgress, answer));
      }
    };
    return handshake().then(
      () => {
        this.log.info(`quorum SASL: authenticated to ${peer} as ${credentials.username}`);
        return reader.finish();
      },
      (e: Error) => {
        reader.finish();
        this.log.error(`quorum SASL: authentication to ${peer} failed: ${e.message}`);
        throw e;
      },
    );
  }

  /**
   * Authenticate the peer of a connection we accepted, once its initial message (if any) is
   * read; `initial` holds what followed it. Resolves with the bytes behind the handshake
   * (all of them when the peer did not authenticate and need not); rejects (logged) when the
   * peer is refused: close the connection then.
   */
  asServer(sock: net.Socket, initial: Buffer, peer: string): Promise<Buffer> {
    const required = this.config.serverRequireSasl;
    const reader = new HandshakeReader(sock, initial, this.deadlineMs);
    const handshake = async (): Promise<string | null> => {
      const head = await reader.read(8, false);
      if (head.readBigInt64BE(0) !== QUORUM_AUTH_MAGIC) {
        if (required) throw new Error(`${peer} did not authenticate, and quorum.auth.serverRequireSasl=true`);
        return null;
      }
      const server = new DigestMd5Server(this.config.users, QUORUM_SASL_SERVICE, authorizeQuorumUser);
      try {
        let { token } = await readAuthPacket(reader);
        for (;;) {
          const { reply, authorized } = server.evaluate(token);
          if (authorized !== undefined) {
            sock.write(encodeAuthPacket(AuthStatus.success, reply));
            return authorized;
          }
          sock.write(encodeAuthPacket(AuthStatus.inProgress, reply));
          ({ token } = await readAuthPacket(reader));
        }
      } catch (e) {
        if (e instanceof SaslError && !sock.destroyed) sock.write(encodeAuthPacket(AuthStatus.error, EMPTY));
        throw e;
      }
    };
    return handshake().then(
      (user) => {
        if (user !== null) this.log.info(`quorum SASL: ${peer} authenticated as ${user}`);
        return reader.finish();
      },
      (e: Error) => {
        const rest = reader.finish();
        if (required || sock.destroyed) {
          this.log.error(`quorum SASL: refused ${peer}: ${e.message}`);
          throw e;
        }
        this.log.warn(`quorum SASL: ${peer} did not authenticate (${e.message}); the connection goes on, as quorum.auth.serverRequireSasl=false`);
        return rest;
      },
    );
  }
}
