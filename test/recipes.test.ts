// The recipes (src/recipes) against a Paddock server and against ZooKeeper 3.8, the same tests for both: for
// the lock, read-write lock, semaphore, leader latch and leader selector, their queue order and timeouts, a holder told when its
// connection is cut or its session expires, and a create whose reply is lost at ConnectionLoss found again by its
// protected name; then, per recipe, a stress run in which six clients contend while a fault injector cuts,
// refuses and freezes their connections (through TcpProxy) and expires a holder's session on purpose (Curator's
// KillSession). A checker over the recorded history (acquired / released / lost, in the order this
// single-threaded process saw them) proves exclusion, every attempt is shown to end (holding, timing out or with
// the session), and no node is left behind.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { leaderLatch, leaderSelector, lock, readWriteLock, semaphore, SessionExpiredError, type LeaderLatch, type LeaderSelector, type Lease, type ZooKeeper } from '../src/client/index.ts';
import { expireSession } from '../src/testing/index.ts';
import { recipeFixture } from './support/recipe-fixture.ts';
import { waitFor } from './support/wait.ts';

const WAIT_MS = 60_000;
const STRESS_MS = 6000;
const CLIENTS = 6;

const isTimeout = (e: unknown) => e instanceof DOMException && e.name === 'TimeoutError';

/** One recipe as the stress run drives it: wait to hold (the lock, leadership), let go, and whether holding now. */
interface Contender {
  /** resolves to a signal that aborts when the hold ends; rejects on timeout or a final session */
  attempt(timeoutMs: number): Promise<AbortSignal>;
  letGo(): Promise<void>;
  holding(): boolean;
  /** whether the current attempt is for a shared hold (default: no) */
  shared?(): boolean;
  /** leave for good when the worker stops or its session ended (a recipe that queues by itself) */
  close?(): Promise<void>;
}

type RW = ReturnType<typeof readWriteLock>;

interface Step {
  who: number;
  what: 'acquired' | 'released' | 'lost';
  at: number;
  /** a shared hold (a read lock's) */
  shared: boolean;
}

/**
 * Exclusion over a history in the order it happened: an exclusive hold only while fewer than `capacity` hold, a
 * shared one (a reader's) only while no exclusive one is held; only a holder lets go.
 */
function checkExclusion(history: Step[], capacity: number): void {
  const holders = new Map<number, boolean>(); // who -> shared
  for (const step of history) {
    const others = () => [...holders].map(([who, shared]) => `${who}${shared ? ' (shared)' : ''}`).join(', ');
    if (step.what === 'acquired') {
      const ok = step.shared ? ![...holders.values()].includes(false) : holders.size < capacity;
      assert.ok(ok, `client ${step.who} acquired${step.shared ? ' shared' : ''} at ${step.at} ms while ${others()} held (capacity ${capacity})`);
      holders.set(step.who, step.shared);
    } else {
      assert.ok(holders.delete(step.who), `client ${step.who} ${step.what} at ${step.at} ms without holding`);
    }
  }
}

for (const kind of ['paddock', 'zookeeper'] as const) {
  describe(`recipes against ${kind}`, { timeout: 120_000 }, () => {
    const fixture = recipeFixture(kind);
    const { session, proxied, links, children } = fixture;

    /**
     * Run CLIENTS workers, each with its own session through its own proxy, contending with `recipe` for STRESS_MS
     * while faults hit their connections and one holder's session is expired; then check the history, and that the
     * recipe's `dirs` are left empty while the sessions live on. With `everyoneHolds` (a recipe that takes turns) the
     * workers go on after the faults until every client has held.
     */
    const stress = async (name: string, dirs: string[], recipe: (zk: ZooKeeper) => Contender, { capacity = 1, everyoneHolds = false } = {}) => {
      const start = performance.now();
      const history: Step[] = [];
      const record = (who: number, what: Step['what'], shared = false) => history.push({ who, what, shared, at: Math.round(performance.now() - start) });
      const tally = { attempts: 0, ended: 0, timeouts: 0, expired: 0, sessions: 0 };
      const unexpected: unknown[] = [];
      const current: { zk?: ZooKeeper; contender?: Contender }[] = [];
      const proxies = await links(CLIENTS);
      let stopped = false;
      /** the holder to expire on purpose: wanted by the faults, claimed by the next client to hold */
      const pin = { wanted: false, who: -1 };
      const never = new Promise<never>(() => {});

      const worker = async (who: number) => {
        while (!stopped) {
          let zk: ZooKeeper;
          try {
            zk = await session(proxies[who]!.connectString);
          } catch {
            continue; // its proxy refused or froze the handshake: try again
          }
          tally.sessions++;
          const contender = recipe(zk);
          current[who] = { zk, contender };
          while (!stopped && zk.state !== 'Expired') {
            tally.attempts++;
            try {
              const hold = await contender.attempt(4000);
              record(who, 'acquired', contender.shared?.());
              let lettingGo = false;
              hold.addEventListener('abort', () => lettingGo || record(who, 'lost'), { once: true });
              // The holder picked to be expired keeps holding until the expiry ends its hold.
              if (pin.wanted && pin.who < 0) [pin.wanted, pin.who] = [false, who];
              await Promise.race([pin.who === who ? never : sleep(50 + Math.random() * 100), once(hold, 'abort')]);
              if (!hold.aborted) record(who, 'released');
              lettingGo = true;
              await contender.letGo();
            } catch (e) {
              if (isTimeout(e)) tally.timeouts++;
              else if (e instanceof SessionExpiredError) tally.expired++;
              else unexpected.push(e);
            }
            tally.ended++;
          }
          await contender.close?.();
        }
      };

      /** The client holding the lock or leadership, or -1. */
      const holder = () => current.findIndex((c) => c?.contender?.holding());
      const faults = async () => {
        const end = performance.now() + STRESS_MS;
        let expired: ZooKeeper | undefined;
        while (performance.now() < end) {
          await sleep(300 + Math.random() * 400);
          if (!expired && performance.now() > end - STRESS_MS / 2) {
            // Curator's KillSession on a holder: the next to hold keeps holding until then, so the expiry hits a hold.
            pin.wanted = true;
            const who = await waitFor('a holder to expire', WAIT_MS, () => pin.who + 1).then((n) => n - 1);
            expired = current[who]!.zk!;
            await expireSession(fixture.server.connectString, { sessionId: expired.sessionId, password: expired.password });
            pin.who = -2; // its later holds are ordinary ones
            continue;
          }
          const held = holder();
          const victim = proxies[held >= 0 && Math.random() < 0.6 ? held : Math.floor(Math.random() * CLIENTS)]!;
          const fault = Math.floor(Math.random() * 3);
          if (fault === 0) victim.cut();
          else if (fault === 1) {
            victim.refuse();
            victim.cut();
            await sleep(800);
            victim.refuse(false);
          } else {
            victim.freeze();
            await sleep(2500);
            victim.thaw();
          }
        }
        return expired;
      };

      const workers = Array.from({ length: CLIENTS }, (_, who) => worker(who));
      const expired = await faults();
      const holders = () => new Set(history.filter((s) => s.what === 'acquired').map((s) => s.who));
      // No one waits forever: a recipe that takes turns gives each client one (however the faults fell) in bounded time.
      if (everyoneHolds) await waitFor('every client to have had a turn', WAIT_MS, () => holders().size === CLIENTS);
      // The expired holder learns it only after its reconnect is refused: let it get that far (on a busy machine too).
      await waitFor('the expired holder to go on with a new session', WAIT_MS, () => tally.sessions > CLIENTS);
      stopped = true;
      let finished = false;
      void Promise.all(workers).then(() => (finished = true));
      await waitFor('every worker to finish its last attempt', WAIT_MS, () => finished);

      checkExclusion(history, capacity);
      assert.deepEqual(unexpected, [], 'an attempt ends only by holding, timing out or a final session');
      assert.equal(tally.ended, tally.attempts, 'every attempt ended');
      const acquired = history.filter((s) => s.what === 'acquired').length;
      const lost = history.filter((s) => s.what === 'lost').length;
      assert.ok(acquired >= CLIENTS, `progress: ${acquired} holds`);
      assert.ok(expired, 'a holder was expired on purpose');
      await waitFor('the expired session to learn it', WAIT_MS, () => expired.state === 'Expired');
      assert.ok(lost >= 1, `faults hit holders: ${lost} losses`);
      assert.ok(tally.sessions > CLIENTS, `the expired holder went on with a new session (${tally.sessions} sessions)`);
      for (const dir of dirs) await waitFor(`every node in ${dir} withdrawn (no orphan) while the sessions live on`, WAIT_MS, async () => (await children(dir)).length === 0);
      console.log(`# ${kind} ${name} stress: ${acquired} holds, ${lost} lost, ${tally.timeouts} timeouts, ${tally.expired} ended by expiry, ${tally.sessions} sessions`);
    };

    describe('lock', () => {
      it('one holder at a time, in queue order; a timed-out waiter leaves no node behind', async () => {
        const [a, b, c] = [await session(), await session(), await session()];
        const [la, lb, lc] = [lock(a, '/l1/lock'), lock(b, '/l1/lock'), lock(c, '/l1/lock')];
        const heldByA = await la.acquire();
        assert.equal(la.held, true);
        await assert.rejects(la.acquire(), /already held/);
        await assert.rejects(lb.acquire({ timeoutMs: 300 }), isTimeout);
        await waitFor('the timed-out node withdrawn', WAIT_MS, async () => (await children('/l1/lock')).length === 1);

        const order: string[] = [];
        const gotB = lb.acquire().then(() => order.push('b'));
        await waitFor("b's node", WAIT_MS, async () => (await children('/l1/lock')).length === 2);
        const gotC = lc.acquire().then(() => order.push('c'));
        await waitFor("c's node", WAIT_MS, async () => (await children('/l1/lock')).length === 3);
        await b.sync('/');
        await c.sync('/');
        assert.deepEqual([lb.held, lc.held], [false, false], 'waiters wait while a holds');

        await la.release();
        assert.equal(heldByA.aborted, true, "the hold's signal aborts at release");
        await gotB;
        assert.deepEqual([order, lc.held], [['b'], false]);
        await lb.release();
        await gotC;
        await lc.release();
        assert.deepEqual(order, ['b', 'c']);
        assert.deepEqual(await children('/l1/lock'), []);
        await lc.release(); // a second release is a no-op
      });

      it('a create whose reply was lost at ConnectionLoss is found again by its protected name, not orphaned', async () => {
        await fixture.admin.create('/l2');
        await fixture.admin.create('/l2/lock');
        const { proxy, zk } = await proxied();
        const l = lock(zk, '/l2/lock');
        proxy.freeze('replies');
        const acquired = l.acquire();
        await waitFor('the create applied on the server', WAIT_MS, async () => (await children('/l2/lock')).length === 1);
        proxy.cut();
        proxy.thaw();
        await acquired;
        assert.equal(l.held, true);
        const nodes = await children('/l2/lock');
        assert.equal(nodes.length, 1, `one node, no orphan: ${nodes.join(', ')}`);
        assert.match(nodes[0]!, /^_c_[0-9a-f-]{36}-lock-\d{10}$/);
        await l.release();
        assert.deepEqual(await children('/l2/lock'), []);
      });

      it("the holder is told when its session expires; the next waiter then acquires", async () => {
        const [a, b] = [await session(), await session()];
        const [la, lb] = [lock(a, '/l3/lock'), lock(b, '/l3/lock')];
        const heldByA = await la.acquire();
        const lost = once(la, 'lost');
        const gotB = lb.acquire();
        await waitFor("b's node", WAIT_MS, async () => (await children('/l3/lock')).length === 2);
        await expireSession(fixture.server.connectString, { sessionId: a.sessionId, password: a.password });
        const [reason] = (await lost) as [Error];
        assert.match(reason.message, /lost/);
        assert.equal(la.held, false);
        assert.equal(heldByA.aborted, true);
        await gotB;
        assert.equal(lb.held, true);
        await la.release(); // a no-op once lost
        await lb.release();
      });

      it('the holder is told when its connection is cut; its node goes once it reconnects, in the same session', async () => {
        const { proxy, zk: a } = await proxied();
        const b = await session();
        const [la, lb] = [lock(a, '/l4/lock'), lock(b, '/l4/lock')];
        await la.acquire();
        const sessionId = a.sessionId;
        const lost = once(la, 'lost');
        const gotB = lb.acquire();
        await waitFor("b's node", WAIT_MS, async () => (await children('/l4/lock')).length === 2);
        proxy.cut();
        await lost;
        assert.equal(la.held, false);
        await gotB;
        assert.equal(a.state, 'Connected', 'the session survived: the lost node was deleted by its owner');
        assert.equal(a.sessionId, sessionId);
        await lb.release();
      });

      it(`stress: ${CLIENTS} clients contend for ${STRESS_MS / 1000} s through cut, refused and frozen connections and an expired session`, () =>
        stress('lock', ['/stress/lock'], (zk) => {
          const l = lock(zk, '/stress/lock');
          return { attempt: (timeoutMs) => l.acquire({ timeoutMs }), letGo: () => l.release(), holding: () => l.held };
        }));
    });

    describe('read-write lock', () => {
      it('readers hold together, a writer alone; a reader behind a waiting writer waits for it', async () => {
        const [a, b, c, d] = [await session(), await session(), await session(), await session()].map((zk) => readWriteLock(zk, '/rw1')) as [RW, RW, RW, RW];
        await a.readLock.acquire({ timeoutMs: WAIT_MS });
        await b.readLock.acquire({ timeoutMs: WAIT_MS });
        const order: string[] = [];
        const writer = c.writeLock.acquire({ timeoutMs: WAIT_MS }).then(() => order.push('writer'));
        await waitFor("the writer's node", WAIT_MS, async () => (await children('/rw1')).length === 3);
        const reader = d.readLock.acquire({ timeoutMs: WAIT_MS }).then(() => order.push('late reader'));
        await waitFor("the late reader's node", WAIT_MS, async () => (await children('/rw1')).length === 4);
        await c.writeLock.zk.sync('/');
        await d.readLock.zk.sync('/');
        assert.deepEqual([c.writeLock.held, d.readLock.held], [false, false]);
        await a.readLock.release();
        await b.readLock.release();
        await writer;
        assert.equal(d.readLock.held, false, 'the late reader waits for the writer ahead of it');
        await assert.rejects(a.writeLock.acquire({ timeoutMs: 200 }), isTimeout);
        await c.writeLock.release();
        await reader;
        assert.deepEqual(order, ['writer', 'late reader']);
        await d.readLock.release();
        assert.deepEqual(await children('/rw1'), []);
      });

      it(`stress: ${CLIENTS} clients read and write for ${STRESS_MS / 1000} s through cut, refused and frozen connections and an expired session`, () =>
        stress('read-write lock', ['/stress/rw'], (zk) => {
          const { readLock, writeLock } = readWriteLock(zk, '/stress/rw');
          let current = readLock;
          return {
            attempt(timeoutMs) {
              current = Math.random() < 0.6 ? readLock : writeLock;
              return current.acquire({ timeoutMs });
            },
            letGo: () => current.release(),
            holding: () => current.held,
            shared: () => current === readLock,
          };
        }));
    });

    describe('semaphore', () => {
      it('at most maxLeases holders; a waiter gets the lease given back; a timed-out one leaves no node', async () => {
        const [a, b, c] = [semaphore(await session(), '/s1', 2), semaphore(await session(), '/s1', 2), semaphore(await session(), '/s1', 2)];
        const leaseA = await a.acquire({ timeoutMs: WAIT_MS });
        const leaseB = await b.acquire({ timeoutMs: WAIT_MS });
        await assert.rejects(c.acquire({ timeoutMs: 300 }), isTimeout);
        await waitFor('the timed-out lease withdrawn', WAIT_MS, async () => (await children('/s1/leases')).length === 2);
        const gotC = c.acquire({ timeoutMs: WAIT_MS });
        await waitFor("c's waiting lease", WAIT_MS, async () => (await children('/s1/leases')).length === 3);
        await leaseA.release();
        assert.deepEqual([leaseA.held, leaseA.signal.aborted, leaseB.held], [false, true, true]);
        const leaseC = await gotC;
        assert.equal(leaseC.held, true);
        await leaseB.release();
        await leaseC.release();
        assert.deepEqual(await children('/s1/leases'), []);
        assert.throws(() => semaphore(a.zk, '/s1', 0), RangeError);
      });

      it('a lease is lost when its connection is cut; its node goes once reconnected and a waiter gets it', async () => {
        const { proxy, zk } = await proxied();
        const lease = await semaphore(zk, '/s2', 1).acquire({ timeoutMs: WAIT_MS });
        const waiting = semaphore(await session(), '/s2', 1).acquire({ timeoutMs: WAIT_MS });
        await waitFor('the waiting lease', WAIT_MS, async () => (await children('/s2/leases')).length === 2);
        proxy.cut();
        await once(lease.signal, 'abort');
        assert.equal(lease.held, false);
        const next = await waiting;
        assert.equal(zk.state, 'Connected', 'the session survived: the lost lease was deleted by its owner');
        await lease.release(); // a no-op once lost
        await next.release();
      });

      it(`stress: ${CLIENTS} clients share 2 leases for ${STRESS_MS / 1000} s through cut, refused and frozen connections and an expired session`, () =>
        stress(
          'semaphore',
          ['/stress/semaphore/leases', '/stress/semaphore/locks'],
          (zk) => {
            const pool = semaphore(zk, '/stress/semaphore', 2);
            let lease: Lease | undefined;
            return {
              async attempt(timeoutMs) {
                lease = await pool.acquire({ timeoutMs });
                return lease.signal;
              },
              letGo: () => lease!.release(),
              holding: () => lease?.held ?? false,
            };
          },
          { capacity: 2 },
        ));
    });

    describe('leader latch', () => {
      it('one leader at a time, in queue order; getLeader names it; close() hands leadership on', async () => {
        const latches: LeaderLatch[] = [];
        for (const id of ['a', 'b', 'c']) {
          const latch = leaderLatch(await session(), '/e1/leader', id);
          latch.start();
          await waitFor(`${id}'s node`, WAIT_MS, async () => (await children('/e1/leader')).length === latches.length + 1);
          latches.push(latch);
        }
        const [a, b, c] = latches as [LeaderLatch, LeaderLatch, LeaderLatch];
        await a.await({ timeoutMs: WAIT_MS });
        const events: string[] = [];
        for (const [name, l] of [['a', a], ['b', b], ['c', c]] as const) {
          l.on('isLeader', () => events.push(`${name} isLeader`)).on('notLeader', () => events.push(`${name} notLeader`));
        }
        assert.deepEqual([a.hasLeadership, b.hasLeadership, c.hasLeadership], [true, false, false]);
        assert.equal(await c.getLeader(), 'a');
        await assert.rejects(c.await({ timeoutMs: 200 }), isTimeout);
        await a.close();
        await b.await({ timeoutMs: WAIT_MS });
        assert.equal(await c.getLeader(), 'b');
        await b.close();
        await c.await({ timeoutMs: WAIT_MS });
        assert.deepEqual(events, ['a notLeader', 'b isLeader', 'b notLeader', 'c isLeader']);
        await c.close();
        assert.equal(c.state, 'CLOSED');
        await assert.rejects(c.await(), /closed/);
        assert.deepEqual(await children('/e1/leader'), []);
      });

      it('a leader whose connection is cut is told at once and queues again with a new node after reconnecting', async () => {
        const { proxy, zk } = await proxied();
        const a = leaderLatch(zk, '/e2/leader', 'a');
        a.start();
        await a.await({ timeoutMs: WAIT_MS });
        const b = leaderLatch(await session(), '/e2/leader', 'b');
        b.start();
        const [before] = await children('/e2/leader');
        await waitFor("b's node", WAIT_MS, async () => (await children('/e2/leader')).length === 2);
        const told = once(a, 'notLeader');
        proxy.cut();
        await told;
        assert.equal(a.hasLeadership, false);
        await b.await({ timeoutMs: WAIT_MS });
        await waitFor("a's new node after its reconnect, its old one withdrawn", WAIT_MS, async () => {
          const now = await children('/e2/leader');
          return now.length === 2 && !now.includes(before!);
        });
        assert.equal(await a.getLeader(), 'b');
        assert.equal(a.state, 'STARTED');
        await b.close();
        await a.await({ timeoutMs: WAIT_MS });
        await a.close();
      });

      it("a leader whose session expires is told, and the latch is closed with the reason; another leads", async () => {
        const zk = await session();
        const a = leaderLatch(zk, '/e3/leader', 'a');
        a.start();
        await a.await({ timeoutMs: WAIT_MS });
        const b = leaderLatch(await session(), '/e3/leader', 'b');
        b.start();
        await waitFor("b's node", WAIT_MS, async () => (await children('/e3/leader')).length === 2);
        const told = once(a, 'notLeader');
        const closed = once(a, 'closed');
        await expireSession(fixture.server.connectString, { sessionId: zk.sessionId, password: zk.password });
        await told;
        const [reason] = await closed;
        assert.ok(reason instanceof SessionExpiredError, String(reason));
        assert.equal(a.state, 'CLOSED');
        await b.await({ timeoutMs: WAIT_MS });
        await b.close();
      });

      it(`stress: ${CLIENTS} clients take turns leading for ${STRESS_MS / 1000} s through cut, refused and frozen connections and an expired session`, () =>
        stress('leader latch', ['/stress/leader'], (zk) => {
          let latch: LeaderLatch | undefined;
          return {
            async attempt(timeoutMs) {
              latch = leaderLatch(zk, '/stress/leader');
              const hold = new AbortController();
              latch.on('notLeader', () => hold.abort());
              latch.start();
              try {
                await latch.await({ timeoutMs });
              } catch (e) {
                await latch.close();
                throw e;
              }
              return hold.signal;
            },
            letGo: () => latch!.close(),
            holding: () => latch?.hasLeadership ?? false,
          };
        }));
    });

    describe('leader selector', () => {
      /** A participant whose turns are logged and last until the test ends them with `finish(id)` (or the signal aborts). */
      const participants = new Map<string, { signal: AbortSignal; done: () => void }>();
      const turns: string[] = [];
      const participant = async (path: string, id: string, zk?: ZooKeeper, autoRequeue = true) =>
        leaderSelector(zk ?? (await session()), path, id, {
          autoRequeue,
          takeLeadership: (signal) =>
            new Promise<void>((done) => {
              turns.push(id);
              participants.set(id, { signal, done });
              signal.addEventListener('abort', () => done(), { once: true });
            }),
        });
      const finish = (id: string) => participants.get(id)!.done();

      it('participants take turns in queue order, each requeued at the back; getParticipants names them in that order', async () => {
        turns.length = 0;
        const selectors: LeaderSelector[] = [];
        for (const id of ['a', 'b', 'c']) {
          const s = await participant('/t1/leader', id);
          s.start();
          selectors.push(s);
          await waitFor(`${id} queued`, WAIT_MS, async () => (await children('/t1/leader')).length === selectors.length);
        }
        const [a, b, c] = selectors as [LeaderSelector, LeaderSelector, LeaderSelector];
        await waitFor('a leads', WAIT_MS, () => a.hasLeadership);
        assert.deepEqual(await c.getParticipants(), ['a', 'b', 'c']);
        assert.equal(await c.getLeader(), 'a');
        await b.zk.sync('/');
        assert.deepEqual([b.hasLeadership, c.hasLeadership], [false, false]);
        for (const [id, next] of [['a', b], ['b', c], ['c', a], ['a', b]] as const) {
          finish(id);
          await waitFor(`${next.id}'s turn after ${id}'s`, WAIT_MS, () => next.hasLeadership);
        }
        assert.deepEqual(turns, ['a', 'b', 'c', 'a', 'b']);
        assert.deepEqual(await a.getParticipants(), ['b', 'c', 'a']);
        for (const s of selectors) await s.close();
        assert.equal(participants.get('b')!.signal.aborted, true, "close() aborts the leader's turn");
        assert.deepEqual([a.state, b.hasLeadership], ['CLOSED', false]);
        assert.deepEqual(await children('/t1/leader'), []);
      });

      it('without autoRequeue a participant has one turn, and another only after requeue(); a turn that throws is given up and reported', async () => {
        turns.length = 0;
        const a = await participant('/t2/leader', 'a', undefined, false);
        a.start();
        await waitFor('a leads', WAIT_MS, () => a.hasLeadership);
        assert.equal(a.requeue(), false, 'already leading');
        finish('a');
        await waitFor('a no longer queued', WAIT_MS, async () => (await children('/t2/leader')).length === 0);
        assert.equal(a.hasLeadership, false);
        assert.equal(a.requeue(), true);
        await waitFor('a leads again', WAIT_MS, () => a.hasLeadership);
        assert.deepEqual(turns, ['a', 'a']);
        await a.close();

        const failing = leaderSelector(await session(), '/t2/leader', 'f', {
          autoRequeue: false,
          takeLeadership: async () => Promise.reject(new Error('boom')),
        });
        const failed = once(failing, 'leadershipError');
        failing.start();
        const [error] = (await failed) as [Error];
        assert.equal(error.message, 'boom');
        await waitFor('the failed turn given up', WAIT_MS, async () => (await children('/t2/leader')).length === 0);
        assert.deepEqual([failing.hasLeadership, failing.state], [false, 'STARTED']);
        await failing.close();
      });

      it("a leader's turn is cancelled when its connection is cut; the next leads; it queues again and gets a turn", async () => {
        turns.length = 0;
        const { proxy, zk } = await proxied();
        const a = await participant('/t3/leader', 'a', zk);
        a.start();
        await waitFor('a leads', WAIT_MS, () => a.hasLeadership);
        const b = await participant('/t3/leader', 'b');
        b.start();
        await waitFor("b's node", WAIT_MS, async () => (await children('/t3/leader')).length === 2);
        const cancelled = once(participants.get('a')!.signal, 'abort');
        proxy.cut();
        await cancelled;
        assert.equal(a.hasLeadership, false);
        assert.match((participants.get('a')!.signal.reason as Error).message, /lost: session Disconnected/);
        await waitFor('b leads', WAIT_MS, () => b.hasLeadership);
        await waitFor('a queued again after its reconnect', WAIT_MS, async () => (await b.getParticipants()).join() === 'b,a');
        finish('b');
        await waitFor('a leads again', WAIT_MS, () => a.hasLeadership);
        assert.equal(a.state, 'STARTED');
        assert.deepEqual(turns, ['a', 'b', 'a']);
        await Promise.all([a.close(), b.close()]);
      });

      it("a leader whose session expires is cancelled and the selector closed with the reason; another leads", async () => {
        const zk = await session();
        const a = await participant('/t4/leader', 'a', zk);
        a.start();
        await waitFor('a leads', WAIT_MS, () => a.hasLeadership);
        const b = await participant('/t4/leader', 'b');
        b.start();
        await waitFor("b's node", WAIT_MS, async () => (await children('/t4/leader')).length === 2);
        const closed = once(a, 'closed');
        await expireSession(fixture.server.connectString, { sessionId: zk.sessionId, password: zk.password });
        const [reason] = await closed;
        assert.ok(reason instanceof SessionExpiredError, String(reason));
        assert.deepEqual([participants.get('a')!.signal.aborted, a.hasLeadership, a.state], [true, false, 'CLOSED']);
        await waitFor('b leads', WAIT_MS, () => b.hasLeadership);
        await b.close();
      });

      it(`stress: ${CLIENTS} clients take turns for ${STRESS_MS / 1000} s through cut, refused and frozen connections and an expired session; each leads`, () =>
        stress('leader selector', ['/stress/selector'], (zk) => {
          // The selector queues by itself; an attempt waits for its next turn.
          const offered: { signal: AbortSignal; done: () => void }[] = [];
          let current: { done: () => void } | undefined;
          let wake = () => {};
          let ended: Error | undefined;
          const selector = leaderSelector(zk, '/stress/selector', '', {
            takeLeadership: (signal) =>
              new Promise<void>((done) => {
                offered.push({ signal, done });
                signal.addEventListener('abort', () => done(), { once: true });
                wake();
              }),
          });
          selector.on('closed', (reason) => ((ended = reason ?? new Error('closed')), wake()));
          selector.start();
          return {
            async attempt(timeoutMs) {
              const deadline = AbortSignal.timeout(timeoutMs);
              for (;;) {
                const turn = offered.shift();
                if (turn && !turn.signal.aborted) {
                  current = turn;
                  return turn.signal;
                }
                turn?.done(); // cancelled before anyone looked: nothing to record
                if (turn) continue;
                if (ended) throw ended;
                await new Promise<void>((resolve, reject) => {
                  wake = resolve;
                  deadline.addEventListener('abort', () => reject(deadline.reason), { once: true });
                });
              }
            },
            letGo: async () => current?.done(),
            holding: () => selector.hasLeadership,
            close: () => selector.close(),
          };
        }, { everyoneHolds: true }));
    });
  });
}
