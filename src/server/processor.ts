// The request pipeline of one server: sessions in, replies out, the same for
// every role. Writes are prepared into txns (prep.ts) with the zxid the orderer
// gives them (src/zab: Solo alone, a Zab peer in an ensemble), and the
// orderer's Readies are carried out here: txns to append go to the transaction
// log (group commit; the orderer hears when they are durable), and committed
// txns are applied by DataTree.apply, in zxid order, and only then answered —
// a client always sees a txn's watch events before its reply and never an
// unlogged write. Applied txns are matched to the requests waiting for them by
// session, in order (the cxid is checked), since in an ensemble the txn may
// have been prepared on another server. Reads are answered from the tree at
// once, except that each session's requests are answered in order: a read
// waits for its session's earlier writes.
//
// Every txn is ordered with the TxnDigest ZooKeeper gives it: the tree digest
// once it is applied, as prep foresees it (a leader's proposals, the log).
//
// Sessions: the leader (or a standalone server) owns the global ones — it
// expires them, and a learner asks it (REVALIDATE) before it answers a client
// reattaching there; it knows which member each session's client is on and
// answers a write through another one with SessionMoved (ZooKeeper's session
// owner). Local sessions (localSessionsEnabled) live on one member only.

import { AddWatchMode, Err, OpCode, Perm, WatcherType, Xid, ZkError } from '../proto/constants.ts';
import type { ConnectRequest, ConnectResponse, Id, Request } from '../proto/records.ts';
import type { MultiResult, Response } from '../proto/responses.ts';
import type { LoggedTxn, Txn, TxnBody } from '../proto/txn.ts';
import { checkACL, digestAuthIds, inAuthInfoOrder, maskDigests } from '../tree/acl.ts';
import { DataTree, kindOf, ttlOf, type ApplyResult, type ZNode } from '../tree/datatree.ts';
import { DIGEST_VERSION } from '../tree/digest.ts';
import type { Watcher } from '../tree/watches.ts';
import type { ForwardedRequest } from '../zab/messages.ts';
import type { Ready } from '../zab/ready.ts';
import { Solo, type Orderer } from '../zab/solo.ts';
import { GroupCommit, type AppendLog } from '../persistence/groupcommit.ts';
import { SizeStats, Summary } from '../metrics/summary.ts';
import { NO_CLIENT_AUTH, type ClientAuthConfig } from '../config/auth.ts';
import { createsEphemeral, parseMultiOps, Prep } from './prep.ts';
import { REFUSED_WHEN_READ_ONLY } from './readonly.ts';
import { ClientSasl } from './sasl.ts';
import { SessionAuthority } from './session-authority.ts';
import { SessionTracker, sessionPassword } from './sessions.ts';

/** A connected client, as the pipeline sees it. */
export interface Client extends Watcher {
  readonly remoteAddress: string;
  sessionId: bigint;
  readonly authIds: Id[];
  /** Send a reply frame: header, then the body for `type` when one is given (with err 0, or multiRead's partial body). */
  reply(xid: number, zxid: number, err: number, type: number, body?: Response): void;
  /** Flush what is queued and close the socket. */
  close(reason: string): void;
}

export interface ProcessorOptions {
  serverId: number;
  tickTime: number;
  minSessionTimeout: number;
  maxSessionTimeout: number;
  extendedTypesEnabled: boolean;
  reconfigEnabled?: boolean;
  skipACL: boolean;
  superDigest: string | null;
  /** auth providers, SASL and enforcement; absent: digest and ip only, no SASL */
  clientAuth?: ClientAuthConfig;
  containerMaxNeverUsedIntervalMs: number;
  /** test only: every TxnDigest is off by one, so that a peer's digest check can be seen to fire */
  perturbDigest?: boolean;
  /**
   * Ensemble members with localSessionsEnabled: new sessions are local (see
   * Processor.local); `upgrading` (localSessionsUpgradingEnabled) makes one
   * global when it creates an ephemeral.
   */
  localSessions?: { upgrading: boolean } | null;
}

/** Where txns go to become durable: the transaction log (group commit). */
export interface TxnSink extends AppendLog {
  /** `txn` was applied to `tree`: snapshot scheduling, and in an ensemble the check of its digest. */
  committed(tree: DataTree, txn: LoggedTxn): void;
}

/**
 * What a learner hands the leader with a client's write (a REQUEST): the
 * decoded request (null: it did not decode), the session's auth ids, and for
 * createSession the negotiated timeout.
 */
export interface ForwardedWrite {
  request: Request | null;
  authIds: Id[];
  timeOut?: number;
}

/** The quorum side of a Ready, carried out by the runtime around the pipeline's part (see src/zab/ready.ts). */
export interface QuorumLink {
  /**
   * steps 1–2: truncate the log, write the epochs durably. A promise (TRUNC,
   * which reopens the log) holds every later step and Ready back until it
   * settles; the runtime then hands over the rebuilt state (replaceState).
   */
  prepare(r: Ready): void | Promise<void>;
  /** steps 5–7: send messages and votes, close connections, act on a role change */
  dispatch(r: Ready): void;
}

/** How a learner forwards a request it cannot order itself. */
type Forward = Pick<ForwardedRequest, 'op' | 'payload'>;

/** A request waiting for its txn to be applied. */
interface Awaiting {
  cxid: number;
  done: (result: ApplyResult) => void;
}

/** One session's requests not answered yet, in arrival order. */
interface ClientQueue {
  /** writes of this client handed to the log, and how many of them are applied */
  issued: number;
  applied: number;
  waiting: { write: boolean; run: () => void }[];
}

/** A client reattaching its session at a learner, until the leader answers (null: the connection went away). */
interface Reattach {
  client: Client | null;
  timeOut: number;
  finish: (valid: boolean) => void;
}

export interface ServerStats {
  packetsReceived: number;
  packetsSent: number;
  minLatency: number;
  maxLatency: number;
  totalLatency: number;
  latencyCount: number;
  authFailed: number;
  /** ms from receipt to reply of requests that make no txn, and of those that do (ZooKeeper's readlatency, updatelatency) */
  readonly readLatency: Summary;
  readonly updateLatency: Summary;
  /** the sizes of replies (header and body, as ZooKeeper's client_response_stats) */
  readonly responseSizes: SizeStats;
}

const WRITES = new Set<number>([
  OpCode.create,
  OpCode.create2,
  OpCode.createContainer,
  OpCode.createTTL,
  OpCode.delete,
  OpCode.setData,
  OpCode.setACL,
  OpCode.check,
  OpCode.multi,
  OpCode.reconfig,
  OpCode.deleteContainer,
]);

/** Requests that go to the log (and closeSession): a session's other requests wait for its earlier ones of these. */
export const isWrite = (type: number): boolean => WRITES.has(type) || type === OpCode.closeSession;

/** The result type each op of a multi reports; container and TTL creates report create2, with a Stat. */
const MULTI_RESULT_TYPE: Record<number, number> = {
  [OpCode.create]: OpCode.create,
  [OpCode.createContainer]: OpCode.create2,
  [OpCode.createTTL]: OpCode.create2,
  [OpCode.delete]: OpCode.delete,
  [OpCode.setData]: OpCode.setData,
  [OpCode.check]: OpCode.check,
  [OpCode.error]: OpCode.error,
};

/** The server that minted a session id (its top byte). */
const mintedBy = (id: bigint): number => Number(BigInt.asUintN(64, id) >> 56n);

export class Processor {
  /** global sessions: in the tree, created and closed by txns; the leader (or a standalone server) expires them */
  readonly sessions: SessionAuthority;
  /**
   * Local sessions (localSessionsEnabled, and every session made while
   * read-only): made without a txn, known to this member alone, expired by it
   * (ZooKeeper's LocalSessionTracker). Another member refuses them on
   * reattach: the leader does not know them.
   */
  private readonly local: SessionTracker;
  private prep: Prep;
  private current: DataTree;
  /** connection that currently owns each session */
  private readonly owners = new Map<bigint, Client>();
  private readonly queues = new Map<Client, ClientQueue>();
  /** per session, the requests waiting for their txns to be applied, in order */
  private readonly awaiting = new Map<bigint, Awaiting[]>();
  private readonly orderer: Orderer;
  private readonly sasl: ClientSasl;
  /** a Ready (or a storage step of the runtime, hold()) is being carried */
  private driving = false;
  /** hold() calls waiting for `driving` to end */
  private readonly drivingEnded: (() => void)[] = [];
  /** group commit into `log`; null without one */
  private readonly commits: GroupCommit | null;
  /**
   * Leader: the member each session's client is on (ZooKeeper's session
   * owner), set where the session is created or revalidated; a write that
   * reaches the leader through another member gets SessionMoved.
   */
  private readonly sessionMembers = new Map<bigint, number>();
  /** learner: sessions reattaching here, waiting in ask order for the leader's REVALIDATE answers */
  private readonly reattaching = new Map<bigint, Reattach[]>();
  /** read-only mode (readonly.ts): reads only, every new session local */
  private readOnlyMode = false;
  /** told of each txn as it is applied (watchApplied): a backup's log of what changed while it walked the tree */
  private readonly appliedListeners = new Set<(txn: LoggedTxn) => void>();
  readonly stats: ServerStats = {
    packetsReceived: 0,
    packetsSent: 0,
    minLatency: 0,
    maxLatency: 0,
    totalLatency: 0,
    latencyCount: 0,
    authFailed: 0,
    readLatency: new Summary({ percentiles: true }),
    updateLatency: new Summary({ percentiles: true }),
    responseSizes: new SizeStats(),
  };

  /**
   * @param log where txns become durable; without one, txns apply at once (in-process tests)
   * @param onLogFailure the log could not be written: no later write may be acknowledged
   * @param orderer who gives writes their zxids: Solo standalone, a Zab Peer in an ensemble
   * @param quorum the runtime's part of the orderer's Readies (ensemble only)
   */
  constructor(
    private readonly opts: ProcessorOptions,
    private readonly now: () => number = Date.now,
    tree: DataTree = new DataTree(),
    private readonly log: TxnSink | null = null,
    private readonly onLogFailure: (e: Error) => void = (e) => {
      throw e;
    },
    orderer?: Orderer,
    private readonly quorum: QuorumLink | null = null,
  ) {
    this.sessions = new SessionAuthority(opts.tickTime, opts.serverId, now());
    this.local = new SessionTracker(opts.tickTime, opts.serverId, now());
    this.sasl = new ClientSasl(opts.clientAuth ?? NO_CLIENT_AUTH);
    // Sessions recovered from disk get a full timeout for their clients to come back.
    for (const [id, timeout] of tree.sessions) this.sessions.add(id, timeout, now());
    tree.skipACL = opts.skipACL;
    this.current = tree;
    this.orderer = orderer ?? new Solo(tree.lastProcessedZxid);
    this.commits = log
      ? new GroupCommit(
          log,
          tree.lastProcessedZxid,
          (zxid) => {
            this.orderer.persisted(zxid);
            this.drive();
          },
          onLogFailure, // nothing in the failed batch or after it is applied or acknowledged
        )
      : null;
    this.prep = this.prepFor(tree);
  }

  /** The applied state. One object for the pipeline's life, except across replaceState(). */
  get tree(): DataTree {
    return this.current;
  }

  private prepFor(tree: DataTree): Prep {
    return new Prep(tree, { extendedTypesEnabled: this.opts.extendedTypesEnabled, reconfigEnabled: this.opts.reconfigEnabled ?? false, skipACL: this.opts.skipACL, authProviders: this.opts.clientAuth?.providers });
  }

  /**
   * Ensemble member, while not serving: the runtime rebuilt the state from
   * disk (TRUNC) or installed the leader's (SNAP). Continue on `tree`, with
   * the log durable up to `logAt`; sessions follow the new tree's.
   */
  replaceState(tree: DataTree, logAt: number): void {
    tree.skipACL = this.opts.skipACL;
    this.current = tree;
    this.prep = this.prepFor(tree);
    if (this.log) this.commits?.reset(this.log, logAt);
    this.sessions.adopt(tree.sessions, this.now());
  }

  /**
   * Run a storage step of the runtime (a SNAP install) that no Ready may
   * interleave with: Readies wait until it is done.
   */
  async hold(step: () => Promise<void>): Promise<void> {
    while (this.driving) await new Promise<void>((r) => this.drivingEnded.push(r));
    this.driving = true;
    try {
      await step();
    } finally {
      this.endDriving();
    }
    this.drive();
  }

  private endDriving(): void {
    this.driving = false;
    if (this.drivingEnded.length > 0) for (const wake of this.drivingEnded.splice(0)) wake();
  }

  get zxid(): number {
    return this.tree.lastProcessedZxid;
  }

  /** Call `listener` with every txn applied from now on (right after the tree took it), until the returned function is called. */
  watchApplied(listener: (txn: LoggedTxn) => void): () => void {
    this.appliedListeners.add(listener);
    return () => this.appliedListeners.delete(listener);
  }

  // ---- sessions ----

  /**
   * Answer a ConnectRequest: a new session (once its createSession txn is
   * durable) or a reattach — at a learner only once the leader, which owns
   * the sessions, has said it is alive (REVALIDATE), as ZooKeeper's followers
   * do. `respond(null)`: close without a reply.
   */
  connect(client: Client, req: ConnectRequest, respond: (res: ConnectResponse | null) => void): void {
    if (req.lastZxidSeen > this.zxid) return respond(null); // client is ahead of us: it must find another server
    const timeOut = Math.min(Math.max(req.timeOut, this.opts.minSessionTimeout), this.opts.maxSessionTimeout);
    const readOnly = req.readOnly === undefined ? undefined : this.readOnly;
    if (req.sessionId === 0n) {
      const id = this.sessions.newSessionId();
      client.sessionId = id;
      this.owners.set(id, client);
      if (this.readOnly || this.opts.localSessions) {
        // A session of this member alone, made without a txn (read-only: no write can be ordered now).
        this.local.add(id, timeOut, this.now());
        return respond({ protocolVersion: 0, timeOut, sessionId: id, passwd: sessionPassword(id), readOnly });
      }
      this.sessions.add(id, timeOut, this.now());
      // The session's requests queue behind its createSession.
      this.enqueue(client, true, () =>
        this.submitFor(
          client,
          0,
          () => {
            this.sessionMembers.set(id, this.opts.serverId);
            return { type: OpCode.createSession, timeOut };
          },
          () => respond({ protocolVersion: 0, timeOut, sessionId: id, passwd: sessionPassword(id), readOnly }),
          { op: OpCode.createSession, payload: { request: null, authIds: [], timeOut } satisfies ForwardedWrite },
        ),
      );
      return;
    }
    const id = req.sessionId;
    const reattach = (valid: boolean): void => {
      if (!valid) return respond({ protocolVersion: 0, timeOut: 0, sessionId: 0n, passwd: Buffer.alloc(16), readOnly });
      const previous = this.owners.get(id);
      if (previous && previous !== client) previous.close('session moved to another connection');
      client.sessionId = id;
      this.owners.set(id, client);
      respond({ protocolVersion: 0, timeOut, sessionId: id, passwd: sessionPassword(id), readOnly });
    };
    if (!req.passwd.equals(sessionPassword(id))) return reattach(false);
    if (this.local.touch(id, this.now(), timeOut)) return reattach(true);
    // Read-only, a session made read-write may come back too (ZooKeeper 3.8 refuses it; see readonly.ts); no leader to ask.
    if (this.readOnly) return reattach(this.sessions.touch(id, this.now(), timeOut));
    if (this.orderer.leads) return reattach(this.revalidate(id, timeOut, this.opts.serverId));
    // A learner asks the leader, which owns the sessions (ZooKeeper's Learner.validateSession).
    if (!this.orderer.revalidate(id, timeOut)) return client.close('this server is not serving (no leader)');
    let waiting = this.reattaching.get(id);
    if (!waiting) this.reattaching.set(id, (waiting = []));
    waiting.push({ client, timeOut, finish: reattach });
    this.drive();
  }

  /**
   * Leader: is session `id` alive? If so its client is now on `member`, and
   * the session is kept for `timeOut` from now (ZooKeeper's touchSession, then
   * setOwner, for a REVALIDATE).
   */
  private revalidate(id: bigint, timeOut: number, member: number): boolean {
    const alive = this.sessions.touch(id, this.now(), timeOut);
    if (alive) this.sessionMembers.set(id, member);
    return alive;
  }

  /** Leader: does a request of session `id` that came through `member` come from where its client is? A session of an earlier leader's time is adopted by the first member it is seen on. */
  private onItsMember(id: bigint, member: number): boolean {
    const where = this.sessionMembers.get(id);
    if (where === undefined) this.sessionMembers.set(id, member);
    return where === undefined || where === member;
  }

  /** Learner: the leader's answer for a session reattaching here; the session is known here from now on. */
  private revalidated(id: bigint, valid: boolean): void {
    const waiting = this.reattaching.get(id);
    const next = waiting?.shift();
    if (!next) return;
    if (waiting!.length === 0) this.reattaching.delete(id);
    if (!next.client) return; // its connection went away meanwhile
    if (valid) this.sessions.reattached(id, next.timeOut, this.now());
    next.finish(valid);
  }

  /** The learner's role ended: its asks will never be answered, and the clients must find another server. */
  private abandonReattaches(): void {
    for (const waiting of this.reattaching.values()) for (const w of waiting) w.client?.close('this server stopped serving before the leader answered');
    this.reattaching.clear();
  }

  /** The connection went away; its session lives on until it expires or is reattached. */
  disconnected(client: Client): void {
    // The leader's answer still comes, and pairs with its ask by position: keep the place, forget the client.
    for (const waiting of this.reattaching.values()) for (const w of waiting) if (w.client === client) w.client = null;
    this.tree.removeWatcher(client);
    this.queues.delete(client);
    if (this.owners.get(client.sessionId) === client) this.owners.delete(client.sessionId);
  }

  /** Every packet keeps the session alive (a learner also reports it to the leader, which owns expiry). */
  touch(client: Client): boolean {
    if (this.local.touch(client.sessionId, this.now())) return true; // nobody else to tell
    return this.sessions.clientActive(client.sessionId, this.now(), this.orderer.leads);
  }

  /** Sessions known to this member alone. */
  get localSessionCount(): number {
    return this.local.size;
  }

  /** Serving read-only (readonly.ts): reads only, sessions local to this server. */
  get readOnly(): boolean {
    return this.readOnlyMode;
  }

  /** Start serving read-only; only while the orderer can order nothing (an ensemble member looking for a quorum). */
  enterReadOnly(): void {
    this.readOnlyMode = true;
  }

  /**
   * Stop serving read-only: the local sessions end with it (the caller closes
   * their connections, as ZooKeeper closes every connection of its read-only
   * server).
   */
  leaveReadOnly(): void {
    if (!this.readOnlyMode) return;
    this.readOnlyMode = false;
    for (const [id] of [...this.local.entries()]) this.endLocal(id);
  }

  /** Learner: the sessions to report in the next PING reply (ZooKeeper's touch table, swapped out each time). */
  takeTouches(): Map<bigint, number> {
    return this.sessions.takeReports();
  }

  /**
   * Close sessions whose time is up; call every tick. Returns them with their
   * timeouts. Each member expires its local sessions itself, without a txn;
   * only the server that owns expiry of global ones (standalone, or the
   * leader) expires those, and a learner hears of it through the closeSession
   * txn.
   */
  expireSessions(): { id: bigint; timeout: number }[] {
    const expired = this.local.expire(this.now()).map((id) => {
      const timeout = this.local.timeoutOf(id) ?? 0;
      this.endLocal(id)?.close('session expired');
      return { id, timeout };
    });
    if (!this.orderer.leads || this.readOnly) return expired;
    return expired.concat(
      this.sessions.expire(this.now()).map((id) => {
        const timeout = this.sessions.timeoutOf(id) ?? 0;
        this.expire(id);
        return { id, timeout };
      }),
    );
  }

  /** Forget local session `id`; returns the connection it was on. */
  private endLocal(id: bigint): Client | undefined {
    const owner = this.owners.get(id);
    this.local.remove(id);
    this.owners.delete(id);
    return owner;
  }

  /**
   * Make local session `id` global before a request that needs it (an
   * ephemeral's owner): a createSession txn, ordered (or forwarded) ahead of
   * that request, as ZooKeeper's session upgrade does.
   */
  private upgrade(id: bigint): void {
    const timeOut = this.local.timeoutOf(id)!;
    this.local.remove(id);
    this.sessions.add(id, timeOut, this.now());
    this.order(
      id,
      0,
      () => {
        this.sessionMembers.set(id, this.opts.serverId);
        return { type: OpCode.createSession, timeOut };
      },
      null,
      { op: OpCode.createSession, payload: { request: null, authIds: [], timeOut } satisfies ForwardedWrite },
    );
  }

  /** The closeSession txn of session `id`, its ephemerals listed. */
  private closeSessionTxn(id: bigint): (zxid: number, time: number) => TxnBody {
    this.sessions.setClosing(id);
    return (zxid, time) => this.prep.prepareCloseSession({ sessionId: id, authIds: [], zxid, time });
  }

  private expire(id: bigint): void {
    // Applying the closeSession forgets the session's owner: find it first.
    const owner = this.owners.get(id);
    this.order(id, 0, this.closeSessionTxn(id), () => owner?.close('session expired'));
  }

  // ---- requests ----

  /** Handle one decoded request of an established session. */
  handle(client: Client, xid: number, req: Request, received: number): void {
    this.stats.packetsReceived++;
    this.touch(client);
    // A sync, like a write, goes ahead at once and holds back the session's later reads until it is answered.
    this.enqueue(client, isWrite(req.type) || req.type === OpCode.sync, () => this.run(client, xid, req, received));
  }

  /** A request of a session that has expired or is closing: SessionExpired, in turn after its earlier requests. */
  private expired(client: Client, xid: number, type: number, received: number): void {
    this.queues.get(client)?.waiting.unshift({
      write: false,
      run: () => {
        this.send(client, xid, Err.sessionExpired, type, undefined, received);
        client.close('session expired');
      },
    });
  }

  /**
   * Keep one session's answers in request order: a write may go to the log at
   * once, a read waits until the session's earlier writes are applied.
   */
  private enqueue(client: Client, write: boolean, run: () => void): void {
    const q = this.queueOf(client);
    q.waiting.push({ write, run });
    this.drain(q);
  }

  private queueOf(client: Client): ClientQueue {
    let q = this.queues.get(client);
    if (!q) this.queues.set(client, (q = { issued: 0, applied: 0, waiting: [] }));
    return q;
  }

  private drain(q: ClientQueue): void {
    while (q.waiting.length > 0) {
      const next = q.waiting[0]!;
      if (!next.write && q.applied < q.issued) return;
      q.waiting.shift();
      next.run();
    }
  }

  /**
   * Order a txn of the client's session (or, on a learner, hand `forward` to
   * the leader); `done` runs once the txn is applied.
   */
  private submitFor(client: Client, cxid: number, build: (zxid: number, time: number) => TxnBody, done: (result: ApplyResult) => void, forward: Forward): void {
    const queue = this.queueOf(client);
    queue.issued++;
    const ordered = this.order(
      client.sessionId,
      cxid,
      build,
      (result) => {
        done(result);
        queue.applied++;
        this.drain(queue);
      },
      forward,
    );
    if (!ordered) client.close('this server is not serving (no leader)');
  }

  private run(client: Client, xid: number, req: Request, received: number): void {
    if (req.type !== OpCode.auth && req.type !== OpCode.sasl && !this.sasl.admits(client)) return this.refuseUnauthenticated(client, xid, req.type);
    const local = this.local.isAlive(client.sessionId);
    if (!local && !this.sessions.isAlive(client.sessionId)) return this.expired(client, xid, req.type, received);
    if (this.refusedReadOnly(client, xid, req.type, received)) return;
    if (WRITES.has(req.type)) return this.write(client, xid, req, received);
    switch (req.type) {
      case OpCode.ping:
        return this.send(client, Xid.ping, Err.ok, req.type, undefined, received);
      case OpCode.closeSession:
        if (local) {
          // No txn: nobody else knew the session.
          this.endLocal(client.sessionId);
          this.send(client, xid, Err.ok, req.type, undefined, received);
          return client.close('client closed the session');
        }
        if (this.readOnly) return this.closeReadOnly(client, xid, received);
        return this.submitFor(
          client,
          xid,
          this.closeSessionTxn(client.sessionId),
          () => {
            this.send(client, xid, Err.ok, req.type, undefined, received);
            client.close('client closed the session');
          },
          { op: OpCode.closeSession, payload: { request: null, authIds: [] } satisfies ForwardedWrite },
        );
      case OpCode.sync: {
        // Answered once every write ordered before it is applied (in an ensemble, once the leader confirms it).
        const queue = this.queueOf(client);
        queue.issued++;
        const done = () => {
          this.send(client, xid, Err.ok, req.type, { path: req.path }, received);
          queue.applied++;
          this.drain(queue);
        };
        if (!this.orderer.sync(done, { sessionId: client.sessionId, cxid: xid, op: req.type, payload: req })) client.close('this server is not serving (no leader)');
        return this.drive();
      }
      case OpCode.auth:
        return this.auth(client, req.scheme, req.auth);
      case OpCode.sasl: {
        // ZooKeeper fails on a null token before answering (and drops the connection).
        if (!req.token) return client.close('sasl request without a token');
        const answer = this.sasl.answer(client, req.token);
        client.reply(xid, 0, answer.err, req.type, { token: answer.token });
        if (answer.close) client.close(`SASL authentication failed: ${answer.message}`);
        return;
      }
      case OpCode.setWatches:
      case OpCode.setWatches2:
        this.tree.setWatches(req.relativeZxid, req.dataWatches, req.existWatches, req.childWatches, req.persistentWatches, req.persistentRecursiveWatches, client);
        return this.send(client, xid, Err.ok, req.type, undefined, received);
    }
    let err: number = Err.ok;
    let body: Response | undefined;
    try {
      body = this.read(client, req);
    } catch (e) {
      if (!(e instanceof ZkError)) throw e;
      err = e.code;
      body = e.partialReply as Response | undefined;
    }
    this.send(client, xid, err, req.type, body, received);
  }

  /** Read-only: answer a request that would write (or sync) with NotReadOnly; true when it was one. */
  private refusedReadOnly(client: Client, xid: number, type: number, received: number): boolean {
    if (!this.readOnly || !REFUSED_WHEN_READ_ONLY.has(type)) return false;
    this.send(client, xid, Err.notReadOnly, type, undefined, received);
    return true;
  }

  /**
   * Read-only: a session made read-write cannot be closed without a txn: its
   * connection closes and the leader expires the session later (its
   * ephemerals stay until then).
   */
  private closeReadOnly(client: Client, xid: number, received: number): void {
    this.send(client, xid, Err.ok, OpCode.closeSession, undefined, received);
    client.close('client closed the session');
  }

  /** As ZooKeeper's AuthenticationHelper, before even reading the request: zxid 0, then the connection closes. */
  private refuseUnauthenticated(client: Client, xid: number, type: number): void {
    client.reply(xid, 0, Err.sessionClosedRequireSaslAuth, type);
    client.close('authentication is required (zookeeper.enforce.auth / sessionRequireClientSASLAuth) and the session has none of the schemes');
  }

  private send(client: Client, xid: number, err: number, type: number, body: Response | undefined, received: number): void {
    const latency = this.now() - received;
    const s = this.stats;
    s.packetsSent++;
    if (s.latencyCount === 0 || latency < s.minLatency) s.minLatency = latency;
    if (latency > s.maxLatency) s.maxLatency = latency;
    s.totalLatency += latency;
    s.latencyCount++;
    (isWrite(type) ? s.updateLatency : s.readLatency).add(latency);
    client.reply(xid, this.zxid, err, type, body);
  }

  private auth(client: Client, scheme: string, auth: Buffer): void {
    const add = (id: Id) => {
      if (!client.authIds.some((a) => a.scheme === id.scheme && a.id === id.id)) client.authIds.push(id);
    };
    if (scheme === 'digest' || scheme === 'ip') {
      if (scheme === 'digest') {
        for (const id of digestAuthIds(auth.toString('utf8'), this.opts.superDigest)) add(id);
      } else {
        add({ scheme: 'ip', id: client.remoteAddress });
      }
      client.reply(Xid.auth, 0, Err.ok, OpCode.auth);
      return;
    }
    this.stats.authFailed++;
    client.reply(Xid.auth, 0, Err.authFailed, OpCode.auth);
    client.close(`authentication failed for scheme ${JSON.stringify(scheme)}`);
  }

  private checkRead(path: string, client: Client): ZNode {
    const node = this.tree.get(path);
    if (!node) throw new ZkError(Err.noNode);
    checkACL(node.acl, Perm.read, client.authIds, this.opts.skipACL);
    return node;
  }

  private read(client: Client, req: Request): Response | undefined {
    const tree = this.tree;
    switch (req.type) {
      case OpCode.exists: {
        if (req.path.includes('\0')) throw new ZkError(Err.badArguments);
        if (req.watch) tree.addDataWatch(req.path, client);
        const node = tree.get(req.path);
        if (!node) throw new ZkError(Err.noNode);
        return { stat: node.stat() };
      }
      case OpCode.getData: {
        const node = this.checkRead(req.path, client);
        if (req.watch) tree.addDataWatch(req.path, client);
        return { data: node.data, stat: node.stat() };
      }
      case OpCode.getChildren:
      case OpCode.getChildren2: {
        const node = this.checkRead(req.path, client);
        if (req.watch) tree.addChildWatch(req.path, client);
        return { children: [...node.children], stat: node.stat() };
      }
      case OpCode.getAllChildrenNumber:
        this.checkRead(req.path, client);
        return { count: tree.descendantCount(req.path) };
      case OpCode.getACL: {
        const node = tree.get(req.path);
        if (!node) throw new ZkError(Err.noNode);
        checkACL(node.acl, Perm.read | Perm.admin, client.authIds, this.opts.skipACL);
        let acl = node.acl;
        try {
          checkACL(acl, Perm.admin, client.authIds, this.opts.skipACL);
        } catch {
          acl = maskDigests(acl);
        }
        return { acl, stat: node.stat() };
      }
      case OpCode.multiRead: {
        const parsed = parseMultiOps(req.ops);
        if (!parsed) throw new ZkError(Err.marshallingError, 'multiRead ops do not parse');
        // ZooKeeper fails on the first write op, after starting its (empty) reply.
        if (parsed.kind === 'write') throw new ZkError(Err.marshallingError, 'write op in multiRead', { results: [] });
        return { results: parsed.ops.map((op) => this.readInMulti(client, op)) };
      }
      case OpCode.addWatch:
        if (req.mode !== AddWatchMode.persistent && req.mode !== AddWatchMode.persistentRecursive) throw new ZkError(Err.marshallingError, `invalid addWatch mode ${req.mode}`);
        tree.addPersistentWatch(req.path, client, req.mode === AddWatchMode.persistentRecursive);
        return {};
      case OpCode.checkWatches:
      case OpCode.removeWatches: {
        const tables =
          req.watcherType === WatcherType.children
            ? [tree.childWatches]
            : req.watcherType === WatcherType.data
              ? [tree.dataWatches]
              : req.watcherType === WatcherType.any
                ? [tree.childWatches, tree.dataWatches]
                : null;
        if (!tables) throw new ZkError(Err.marshallingError, `invalid watcher type ${req.watcherType}`);
        // ZooKeeper's checkWatches walks the path's parents and fails on a relative path.
        if (req.type === OpCode.checkWatches && req.path !== '' && !req.path.startsWith('/')) throw new ZkError(Err.marshallingError, `invalid path ${req.path}`);
        const found = req.type === OpCode.checkWatches ? tables.some((t) => t.isWatched(req.path)) : tables.map((t) => t.remove(req.path, client)).some(Boolean);
        if (!found) throw new ZkError(Err.noWatcher);
        return undefined;
      }
      case OpCode.whoAmI:
        // A digest id shows as its user name, as ZooKeeper's providers name users.
        return { clientInfo: inAuthInfoOrder(client.authIds).map((id) => ({ authScheme: id.scheme, user: id.scheme === 'digest' ? id.id.split(':')[0]! : id.id })) };
      case OpCode.getEphemerals: {
        const prefix = req.path.trim();
        const all = [...tree.ephemeralsOf(client.sessionId)];
        return { children: prefix === '' || prefix === '/' ? all : all.filter((p) => p.startsWith(req.path)) };
      }
      default:
        throw new ZkError(Err.unimplemented);
    }
  }

  private readInMulti(client: Client, op: Request): MultiResult {
    try {
      return { type: op.type, err: Err.ok, ...this.read(client, op) };
    } catch (e) {
      if (!(e instanceof ZkError)) throw e;
      return { type: OpCode.error, err: e.code };
    }
  }

  // ---- writes ----

  private write(client: Client, xid: number, req: Request, received: number): void {
    const type = req.type;
    if (this.opts.localSessions?.upgrading && this.local.isAlive(client.sessionId) && createsEphemeral(req)) this.upgrade(client.sessionId);
    this.submitFor(
      client,
      xid,
      (zxid, time) => this.prepareWrite(req, client.sessionId, client.authIds, this.opts.serverId, zxid, time),
      (result) => this.answerWrite(client, xid, type, result, received),
      { op: type, payload: { request: req, authIds: client.authIds } satisfies ForwardedWrite },
    );
  }

  /**
   * Answer a request whose record did not decode: MarshallingError. A write
   * still takes a zxid, as in ZooKeeper, except reconfig, which ZooKeeper
   * decodes before it assigns one.
   */
  malformed(client: Client, xid: number, type: number, received: number): void {
    if (!this.sasl.admits(client)) {
      this.enqueue(client, false, () => this.refuseUnauthenticated(client, xid, type));
    } else if (this.readOnly && REFUSED_WHEN_READ_ONLY.has(type)) {
      // A read-only server refuses by the op code alone, before the record is decoded (as ZooKeeper's does).
      this.enqueue(client, false, () => this.refusedReadOnly(client, xid, type, received));
    } else if (WRITES.has(type) && type !== OpCode.reconfig) {
      this.enqueue(client, true, () =>
        this.submitFor(
          client,
          xid,
          () => ({ type: OpCode.error, err: Err.marshallingError }),
          (result) => this.answerWrite(client, xid, type, result, received),
          { op: type, payload: { request: null, authIds: client.authIds } satisfies ForwardedWrite },
        ),
      );
    } else {
      this.enqueue(client, false, () => this.send(client, xid, Err.marshallingError, type, undefined, received));
    }
  }

  private answerWrite(client: Client, xid: number, type: number, result: ApplyResult, received: number): void {
    // A failed multi still answers OK, with per-op errors; a multi that did not parse answers its error.
    const err = type === OpCode.multi && result.type === OpCode.multi ? Err.ok : result.err;
    // (ZooKeeper 3.8 never answers a lone check and leaves the client waiting; Paddock answers it.)
    this.send(client, xid, err, type, err === Err.ok ? this.replyBody(type, result) : undefined, received);
  }

  /**
   * Order a txn for session `clientId`: the orderer gives it its zxid, `build`
   * makes its body (prep sees the tree as every earlier txn will leave it), and
   * `done` runs once it is applied. A learner orders nothing: it forwards the
   * request to the leader, and `done` runs when the leader's txn for
   * (clientId, cxid) is applied here. False when neither can be done now.
   */
  private order(clientId: bigint, cxid: number, build: (zxid: number, time: number) => TxnBody, done: ((result: ApplyResult) => void) | null, forward?: Forward): boolean {
    const txn = this.orderer.propose((zxid) => {
      const time = this.now();
      const body = build(zxid, time);
      const treeDigest = this.opts.perturbDigest ? BigInt.asIntN(64, this.prep.digest + 1n) : this.prep.digest;
      const txn: LoggedTxn = { hdr: { clientId, cxid, zxid, time, type: body.type }, body, digest: { version: DIGEST_VERSION, treeDigest } };
      return txn;
    });
    if (!txn && !(forward && this.orderer.forward({ sessionId: clientId, cxid, ...forward }))) return false;
    if (done) {
      let waiting = this.awaiting.get(clientId);
      if (!waiting) this.awaiting.set(clientId, (waiting = []));
      waiting.push({ cxid, done });
    }
    this.drive();
    return true;
  }

  /**
   * Leader: order the request of a client on learner `from` as if its client
   * were ours (ZooKeeper's PrepRequestProcessor on a forwarded request); the
   * learner answers the client when the txn is applied there.
   */
  private orderForwarded(from: number, { sessionId, cxid, op, payload }: ForwardedRequest): void {
    const { request, authIds, timeOut } = payload as ForwardedWrite;
    let build: (zxid: number, time: number) => TxnBody;
    if (op === OpCode.createSession) {
      // Tracked from now, so the requests right behind it (an upgraded session's ephemeral) find it alive.
      if (this.sessions.timeoutOf(sessionId) === undefined) this.sessions.add(sessionId, timeOut!, this.now());
      this.sessionMembers.set(sessionId, from);
      build = () => ({ type: OpCode.createSession, timeOut: timeOut! });
    }
    // A session the leader does not know is expired, unless it is a local session of the learner that made it.
    else if (!this.sessions.isAlive(sessionId) && !(this.opts.localSessions && mintedBy(sessionId) === from)) build = () => ({ type: OpCode.error, err: Err.sessionExpired });
    // A close is the session's last request: not checked, as in ZooKeeper (the leader's expiry closes sessions too).
    else if (op === OpCode.closeSession) build = this.closeSessionTxn(sessionId);
    else if (request) build = (zxid, time) => this.prepareWrite(request, sessionId, authIds, from, zxid, time);
    else build = () => ({ type: OpCode.error, err: Err.marshallingError });
    this.order(sessionId, cxid, build, null);
  }

  /**
   * Leader: the txn of a write of session `sessionId` whose client is on
   * `member`. SessionMoved if the session's client is on another member;
   * EphemeralOnLocalSession for an ephemeral of a session the leader does not
   * track (only a local one gets here), as ZooKeeper 3.8 answers it: an error
   * txn.
   */
  private prepareWrite(req: Request, sessionId: bigint, authIds: Id[], member: number, zxid: number, time: number): TxnBody {
    if (!this.sessions.isAlive(sessionId)) {
      if (createsEphemeral(req)) return { type: OpCode.error, err: Err.ephemeralOnLocalSession };
    } else if (!this.onItsMember(sessionId, member)) return { type: OpCode.error, err: Err.sessionMoved };
    return this.prep.prepare(req, { sessionId, authIds, zxid, time });
  }

  /**
   * Carry out the orderer's Readies (see src/zab/ready.ts for the order of the
   * steps). The pipeline calls it after its own requests; the runtime calls it
   * after it steps the orderer from outside (messages, votes, the clock).
   */
  drive(): void {
    if (this.driving) return;
    this.driving = true;
    let pending: Promise<void> | null = null;
    try {
      for (let r: Ready | null; !pending && (r = this.orderer.ready()); ) {
        const prepared = this.quorum?.prepare(r);
        if (prepared) pending = prepared.then(() => this.carry(r!));
        else this.carry(r);
      }
    } finally {
      if (!pending) this.endDriving();
    }
    pending?.then(
      () => {
        this.endDriving();
        this.drive();
      },
      (e: Error) => this.onLogFailure(e),
    );
  }

  /** Steps 3–7 of a prepared Ready. */
  private carry(r: Ready): void {
    if (!this.quorum && (r.truncate !== null || r.epochs || r.messages.length + r.votes.length + r.requests.length + r.revalidations.length + r.revalidated.length + r.disconnect.length > 0 || r.role)) {
      throw new Error('a standalone pipeline was handed quorum work');
    }
    for (const txn of r.commit) this.applyAndReply(txn);
    for (const txn of r.append) {
      if (this.commits) this.commits.append(txn);
      else this.orderer.persisted(txn.hdr.zxid); // in-process tests: durable at once
    }
    this.quorum?.dispatch(r);
    // A serving role ended: its clients' connections are closed, and a request forwarded to a leader that is gone may never
    // be ordered. Were its entry kept, it would stand before every later request of its session (matched by cxid) for ever.
    if (r.role && !r.role.serving) this.awaiting.clear();
    for (const { from, request } of r.requests) this.orderForwarded(from, request);
    this.sessions.reported(r.touches, this.now());
    // The leader's session tracker answers a learner's REVALIDATE by touching the session (ZooKeeper's Leader.revalidateSession).
    for (const { from, sessionId, timeout } of r.revalidations) this.orderer.revalidated(from, sessionId, this.revalidate(sessionId, timeout, from));
    for (const { sessionId, valid } of r.revalidated) this.revalidated(sessionId, valid);
    if (r.role && !r.role.serving) this.abandonReattaches();
    // Where sessions' clients are is the leader's knowledge of its own term.
    if (r.role?.role === 'leading' && !r.role.serving) this.sessionMembers.clear();
    for (const token of r.syncs) (token as () => void)();
    // A role that starts serving tracks the tree's sessions afresh (a new leader gives each a full timeout, as ZooKeeper's does).
    if (r.role?.serving) this.sessions.adopt(this.tree.sessions, this.now());
  }

  /** Apply a committed txn to the tree — the one place state changes — and answer whoever waits for it. */
  private applyAndReply(txn: Txn): void {
    const { hdr, body } = txn;
    const result = this.tree.apply(hdr, body);
    for (const listener of this.appliedListeners) listener(txn);
    this.prep.applied(hdr.zxid);
    let owner: Client | undefined;
    if (body.type === OpCode.closeSession) {
      owner = this.owners.get(hdr.clientId);
      this.sessionMembers.delete(hdr.clientId);
      this.owners.delete(hdr.clientId);
    }
    this.sessions.committed(hdr.clientId, body, this.now());
    this.log?.committed(this.tree, txn);
    const waiting = this.awaiting.get(hdr.clientId);
    const next = waiting?.[0];
    if (next && next.cxid === hdr.cxid) {
      waiting!.shift();
      if (waiting!.length === 0) this.awaiting.delete(hdr.clientId);
      next.done(result);
    } else if (owner) {
      // The session ended elsewhere (the leader expired it, or the client closed it through another server).
      owner.close('session expired');
    }
  }

  private replyBody(type: number, r: ApplyResult): Response | undefined {
    if (type === OpCode.multi) {
      return {
        results: (r.results ?? []).map((sub) => {
          const t = MULTI_RESULT_TYPE[sub.type] ?? OpCode.error;
          return t === OpCode.error ? { type: t, err: sub.err } : { type: t, err: Err.ok, path: sub.path, stat: sub.stat };
        }),
      };
    }
    if (r.err !== Err.ok) return undefined;
    return { path: r.path, stat: r.stat };
  }

  // ---- containers and TTL nodes ----

  /** Delete empty containers and expired TTL nodes, at most `limit` of them. */
  reapContainers(limit: number): number {
    if (!this.orderer.leads) return 0; // the leader's duty
    const now = this.now();
    const candidates: string[] = [];
    for (const path of this.tree.containers) {
      const node = this.tree.get(path)!;
      if (node.children.size > 0) continue;
      const neverUsedFor = this.opts.containerMaxNeverUsedIntervalMs;
      if (node.cversion > 0 || (neverUsedFor > 0 && now - node.mtime > neverUsedFor)) candidates.push(path);
    }
    for (const path of this.tree.ttls) {
      const node = this.tree.get(path)!;
      if (node.children.size === 0 && kindOf(node.ephemeralOwner) === 'ttl' && now - node.mtime > ttlOf(node.ephemeralOwner)) candidates.push(path);
    }
    const chosen = candidates.slice(0, limit);
    for (const path of chosen) {
      this.order(0n, 0, (zxid, time) => this.prep.prepare({ type: OpCode.deleteContainer, path }, { sessionId: 0n, authIds: [], zxid, time }), null);
    }
    return chosen.length;
  }
}
