// The coordination recipes of src/recipes (barrier, double barrier, queue, shared count) against a Paddock server
// and against ZooKeeper 3.8, the same tests for both: waiters released together and only then, a wait that
// survives a cut connection, a member that gives up or whose session expires no longer counted, and rounds of
// members entering and leaving a reused double barrier while their connections are cut, with a checker over the
// recorded history (no member passes enter before all have arrived, none returns from leave before all have
// started leaving); a FIFO queue whose put survives a lost reply without a duplicate, and producers and consumers
// exchanging items through connections cut after their replies were dropped (see cutting()), every item consumed
// exactly once; a shared count's compare-and-set, its change listener and iterator, a lost reply told as applied,
// and concurrent increments through the same faults summing exactly.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { barrier, distributedQueue, doubleBarrier, SessionExpiredError, sharedCount, type ZooKeeper } from '../src/client/index.ts';
import { expireSession } from '../src/testing/index.ts';
import type { TcpProxy } from './support/proxy.ts';
import { recipeFixture } from './support/recipe-fixture.ts';
import { waitFor } from './support/wait.ts';

const WAIT_MS = 60_000;
const PRODUCERS = 3;
const CONSUMERS = 3;
const ITEMS = 80;
const COUNTERS = 5;
const INCREMENTS = 20;

const isTimeout = (e: unknown) => e instanceof DOMException && e.name === 'TimeoutError';

/** Whether `p` has settled, once the client behind it had every chance to act (a round trip on `zk`). */
async function settled(p: Promise<unknown>, zk: ZooKeeper): Promise<boolean> {
  let done = false;
  void p.then(
    () => (done = true),
    () => (done = true),
  );
  await zk.sync('/');
  await sleep(50);
  return done;
}

/**
 * While `work` runs, every 50–200 ms drop the replies on one of `links` (at random) for 20–60 ms and then cut it: the
 * requests sent meanwhile are applied but their answers lost, the ConnectionLoss a write must not repeat or skip.
 * Resolves to the work's outcome and the number of faults.
 */
async function cutting<T>(links: TcpProxy[], work: Promise<T>): Promise<{ result: T; cuts: number }> {
  let running = true;
  const faults = (async () => {
    let cuts = 0;
    while (running) {
      await sleep(50 + Math.random() * 150);
      const link = links[Math.floor(Math.random() * links.length)]!;
      link.freeze('replies');
      await sleep(20 + Math.random() * 40);
      link.cut();
      link.thaw();
      cuts++;
    }
    return cuts;
  })();
  const result = await work.finally(() => (running = false));
  return { result, cuts: await faults };
}

for (const kind of ['paddock', 'zookeeper'] as const) {
  describe(`coordination recipes against ${kind}`, { timeout: 120_000 }, () => {
    const fixture = recipeFixture(kind);
    const { session, proxied, links, children } = fixture;

    describe('barrier', () => {
      it('waiters wait while the barrier is set and all go on when it is removed; a timed-out wait rejects', async () => {
        const owner = barrier(await session(), '/b1/gate');
        await barrier(fixture.admin, '/b1/gate').waitOnBarrier(); // not set: passes at once
        await owner.setBarrier();
        await owner.setBarrier(); // idempotent
        const waiters = [await session(), await session(), await session()].map((zk) => ({ zk, done: barrier(zk, '/b1/gate').waitOnBarrier() }));
        for (const w of waiters) assert.equal(await settled(w.done, w.zk), false, 'waits while the barrier is set');
        await assert.rejects(barrier(fixture.admin, '/b1/gate').waitOnBarrier({ timeoutMs: 200 }), isTimeout);
        await owner.removeBarrier();
        await Promise.all(waiters.map((w) => w.done));
        await owner.removeBarrier(); // idempotent
        assert.equal(await fixture.admin.exists('/b1/gate'), null);
      });

      it('a waiter whose connection is cut while the barrier is removed goes on once reconnected', async () => {
        const owner = barrier(fixture.admin, '/b2/gate');
        await owner.setBarrier();
        const { proxy, zk } = await proxied();
        const done = barrier(zk, '/b2/gate').waitOnBarrier();
        assert.equal(await settled(done, zk), false);
        proxy.refuse();
        proxy.cut();
        await waitFor('the waiter disconnected', WAIT_MS, () => zk.state === 'Disconnected');
        await owner.removeBarrier();
        proxy.refuse(false);
        await done;
        assert.equal(zk.state, 'Connected');
      });

      it('a waiter whose session expires is told (SessionExpiredError)', async () => {
        await barrier(fixture.admin, '/b3/gate').setBarrier();
        const zk = await session();
        const done = barrier(zk, '/b3/gate').waitOnBarrier();
        assert.equal(await settled(done, zk), false);
        await expireSession(fixture.server.connectString, { sessionId: zk.sessionId, password: zk.password });
        await assert.rejects(done, SessionExpiredError);
        await barrier(fixture.admin, '/b3/gate').removeBarrier();
      });
    });

    describe('double barrier', () => {
      it('members enter together once memberQty have arrived and leave together; the path is left empty', async () => {
        const members = [await session(), await session(), await session()].map((zk) => doubleBarrier(zk, '/d1', 3));
        const [a, b, c] = members as [ReturnType<typeof doubleBarrier>, ReturnType<typeof doubleBarrier>, ReturnType<typeof doubleBarrier>];
        const entering = [a.enter(), b.enter()];
        await waitFor('two members', WAIT_MS, async () => (await children('/d1')).length === 2);
        for (const [i, p] of entering.entries()) assert.equal(await settled(p, members[i]!.zk), false, 'waits for the third member');
        await c.enter();
        await Promise.all(entering);
        assert.deepEqual((await children('/d1')).filter((n) => n === 'ready'), ['ready']);

        const leaving = [a.leave(), b.leave()];
        for (const [i, p] of leaving.entries()) assert.equal(await settled(p, members[i]!.zk), false, 'waits for the third member to leave');
        await c.leave();
        await Promise.all(leaving);
        assert.deepEqual(await children('/d1'), [], 'no member node and no ready node left');
        await assert.rejects(a.leave(), /not entered/);
        assert.throws(() => doubleBarrier(fixture.admin, '/d1', 0), RangeError);
      });

      it('a member whose session expires while entering is told; one that gave up no longer counts', async () => {
        const zk = await session();
        const expiring = doubleBarrier(zk, '/d2', 2).enter();
        await waitFor("the expiring member's node", WAIT_MS, async () => (await children('/d2')).length === 1);
        await expireSession(fixture.server.connectString, { sessionId: zk.sessionId, password: zk.password });
        await assert.rejects(expiring, SessionExpiredError);
        await waitFor('its node gone with the session', WAIT_MS, async () => (await children('/d2')).length === 0);
        await assert.rejects(doubleBarrier(await session(), '/d2', 2).enter({ timeoutMs: 200 }), isTimeout);
        await waitFor("the timed-out member's node withdrawn", WAIT_MS, async () => (await children('/d2')).length === 0);
        const [x, y] = [doubleBarrier(await session(), '/d2', 2), doubleBarrier(await session(), '/d2', 2)];
        await Promise.all([x.enter(), y.enter()]);
        await Promise.all([x.leave(), y.leave()]);
      });

      it('rounds on a reused path with connections cut: no one passes enter before all arrive, nor leave before all leave', async () => {
        const MEMBERS = 4;
        const ROUNDS = 4;
        const history: { who: number; what: 'entering' | 'entered' | 'leaving' | 'left'; round: number }[] = [];
        const proxies = await links(MEMBERS);
        const member = async (who: number) => {
          const b = doubleBarrier(await session(proxies[who]!.connectString), '/d3', MEMBERS);
          for (let round = 0; round < ROUNDS; round++) {
            history.push({ who, what: 'entering', round });
            await b.enter({ timeoutMs: WAIT_MS });
            history.push({ who, what: 'entered', round });
            await sleep(Math.random() * 100);
            history.push({ who, what: 'leaving', round });
            await b.leave({ timeoutMs: WAIT_MS });
            history.push({ who, what: 'left', round });
          }
        };
        const { cuts } = await cutting(proxies, Promise.all(Array.from({ length: MEMBERS }, (_, who) => member(who))));
        // Each event of a round comes after every member's previous step of that round.
        const seen = new Map<string, number>();
        for (const step of history) {
          const before = { entered: 'entering', left: 'leaving' } as const;
          if (step.what === 'entered' || step.what === 'left') {
            const arrived = seen.get(`${step.round} ${before[step.what]}`) ?? 0;
            assert.equal(arrived, MEMBERS, `member ${step.who} ${step.what} round ${step.round} when ${arrived} of ${MEMBERS} were ${before[step.what]}`);
          }
          seen.set(`${step.round} ${step.what}`, (seen.get(`${step.round} ${step.what}`) ?? 0) + 1);
        }
        assert.equal(history.length, MEMBERS * ROUNDS * 4);
        assert.deepEqual(await children('/d3'), []);
        console.log(`# ${kind} double barrier: ${ROUNDS} rounds of ${MEMBERS} members through ${cuts} cuts with replies lost`);
      });
    });

    describe('queue', () => {
      it('items are taken in FIFO order; poll on an empty queue finds none; a waiting take gets the next put', async () => {
        const [producer, consumer] = [distributedQueue(await session(), '/q1'), distributedQueue(await session(), '/q1')];
        for (const item of ['a', 'b', 'c']) await producer.put(item);
        const items = await children('/q1');
        assert.deepEqual([items.length, items.filter((n) => /^qn-\d{10}$/.test(n)).length], [3, 3], `plain qn- items, no receipt left: ${items.join(', ')}`);
        const taken = [await consumer.take(), await consumer.take(), await consumer.poll()].map(String);
        assert.deepEqual(taken, ['a', 'b', 'c']);
        assert.equal(await consumer.poll(), undefined);
        await assert.rejects(consumer.take({ timeoutMs: 200 }), isTimeout);
        const waiting = consumer.take();
        assert.equal(await settled(waiting, consumer.zk), false);
        await producer.put(Buffer.from([0, 1, 2]));
        assert.deepEqual([...(await waiting)], [0, 1, 2]);
        assert.deepEqual(await children('/q1'), []);
      });

      it('a put whose reply was lost at ConnectionLoss is applied once, not repeated', async () => {
        const { proxy, zk } = await proxied();
        const q = distributedQueue(zk, '/q2');
        await q.put('first');
        proxy.freeze('replies');
        const put = q.put('second');
        await waitFor('the put applied on the server', WAIT_MS, async () => (await children('/q2')).filter((n) => n.startsWith('qn-')).length === 2);
        proxy.cut();
        proxy.thaw();
        await put;
        const items = await children('/q2');
        assert.deepEqual([items.length, items.filter((n) => /^qn-\d{10}$/.test(n)).length], [2, 2], `one item each, and the receipt deleted: ${items.join(', ')}`);
        assert.deepEqual([await q.take(), await q.take()].map(String), ['first', 'second']);
      });

      it('a waiting take ends with SessionExpiredError when its session expires; the item put later stays for others', async () => {
        const zk = await session();
        const waiting = distributedQueue(zk, '/q4').take();
        assert.equal(await settled(waiting, zk), false);
        await expireSession(fixture.server.connectString, { sessionId: zk.sessionId, password: zk.password });
        await assert.rejects(waiting, SessionExpiredError);
        await distributedQueue(fixture.admin, '/q4').put('kept');
        assert.equal(String(await distributedQueue(await session(), '/q4').take({ timeoutMs: WAIT_MS })), 'kept');
      });

      it(`${PRODUCERS} producers and ${CONSUMERS} consumers through cut connections: every item is consumed exactly once`, async () => {
        const total = PRODUCERS * ITEMS;
        const proxies = await links(PRODUCERS + CONSUMERS);
        const queues = await Promise.all(proxies.map(async (link) => distributedQueue(await session(link.connectString), '/q3')));
        const consumed: string[] = [];
        const done = new AbortController();
        const produce = async (who: number) => {
          for (let i = 0; i < ITEMS; i++) await queues[who]!.put(`${who}:${i}`);
        };
        const consume = async (who: number) => {
          while (!done.signal.aborted) {
            const item = await queues[PRODUCERS + who]!.take({ signal: done.signal }).catch((e: unknown) => (done.signal.aborted ? undefined : Promise.reject(e)));
            if (item === undefined) return;
            consumed.push(String(item));
            if (consumed.length >= total) done.abort();
          }
        };
        const exchange = async () => {
          const consumers = Array.from({ length: CONSUMERS }, (_, who) => consume(who));
          await Promise.all(Array.from({ length: PRODUCERS }, (_, who) => produce(who)));
          await waitFor('every item consumed', WAIT_MS, () => consumed.length >= total);
          await Promise.all(consumers);
        };
        const { cuts } = await cutting(proxies, exchange());
        const expected = Array.from({ length: PRODUCERS }, (_, who) => Array.from({ length: ITEMS }, (_, i) => `${who}:${i}`)).flat();
        assert.deepEqual([...consumed].sort(), expected.sort(), 'each item consumed once: none lost, none twice');
        assert.deepEqual(await children('/q3'), [], 'no item and no receipt left');
        console.log(`# ${kind} queue: ${total} items from ${PRODUCERS} producers to ${CONSUMERS} consumers through ${cuts} cuts with replies lost`);
      });
    });

    describe('shared count', () => {
      it('starts at the seed; trySetCount is a compare-and-set on the version; others see each change', async () => {
        const [a, b] = [sharedCount(await session(), '/c1/hits', 7), sharedCount(await session(), '/c1/hits', 100)];
        await a.start();
        await b.start();
        assert.deepEqual([a.getCount(), b.getCount()], [7, 7], 'the seed of whoever created the node');
        const seenByB: number[] = [];
        b.on('change', (v) => seenByB.push(v));
        const iterated = (async () => {
          const values: number[] = [];
          for await (const v of b.changes()) values.push(v);
          return values;
        })();
        const stale = a.getVersionedValue();
        assert.equal(await a.trySetCount(stale, 8), true);
        assert.equal(await a.trySetCount(stale, 9), false, 'a stale version writes nothing');
        assert.deepEqual(a.getVersionedValue(), { value: 8, version: stale.version + 1 });
        await waitFor('b sees 8', WAIT_MS, () => b.getCount() === 8);
        await b.setCount(-5);
        await waitFor('a sees -5', WAIT_MS, () => a.getCount() === -5);
        assert.equal(await a.increment(3), -2);
        await waitFor('b sees -2', WAIT_MS, () => b.getCount() === -2);
        b.close();
        assert.deepEqual(await iterated, [8, -5, -2], 'changes() yields each value, and ends at close()');
        assert.deepEqual(seenByB, [8, -5, -2]);
        const { data } = await fixture.admin.getData('/c1/hits');
        assert.deepEqual([...data], [0xff, 0xff, 0xff, 0xfe], "4 bytes big-endian, as Curator's SharedCount");
        await assert.rejects(a.setCount(2 ** 31), RangeError);
        a.close();
        assert.deepEqual(await children('/c1/hits'), [], 'no receipt left');
      });

      it('a compare-and-set whose reply was lost at ConnectionLoss says true: it was applied, once', async () => {
        const { proxy, zk } = await proxied();
        const count = sharedCount(zk, '/c2/hits');
        await count.start();
        const before = count.getVersionedValue();
        proxy.freeze('replies');
        const set = count.trySetCount(before, 42);
        await waitFor('the write applied on the server', WAIT_MS, async () => (await fixture.admin.getData('/c2/hits')).data.readInt32BE(0) === 42);
        proxy.cut();
        proxy.thaw();
        assert.equal(await set, true);
        assert.deepEqual(count.getVersionedValue(), { value: 42, version: before.version + 1 });
        assert.equal((await fixture.admin.exists('/c2/hits'))!.version, before.version + 1, 'written once');
        count.close();
      });

      it("a counter's change iterator ends with SessionExpiredError when its session expires", async () => {
        const zk = await session();
        const count = sharedCount(zk, '/c3/hits');
        await count.start();
        const changes = count.changes();
        const closed = once(count, 'closed');
        await expireSession(fixture.server.connectString, { sessionId: zk.sessionId, password: zk.password });
        await assert.rejects(changes.next(), SessionExpiredError);
        const [reason] = await closed;
        assert.ok(reason instanceof SessionExpiredError);
        await assert.rejects(count.increment(), SessionExpiredError);
      });

      it(`${COUNTERS} clients increment ${INCREMENTS} times each through cut connections: the sum is exact`, async () => {
        const proxies = await links(COUNTERS);
        const counts = await Promise.all(proxies.map(async (link) => sharedCount(await session(link.connectString), '/c4/hits')));
        for (const c of counts) await c.start();
        const incrementing = Promise.all(
          counts.map(async (c) => {
            const mine: number[] = [];
            for (let i = 0; i < INCREMENTS; i++) mine.push(await c.increment());
            return mine;
          }),
        );
        const { result: results, cuts } = await cutting(proxies, incrementing);
        const total = COUNTERS * INCREMENTS;
        assert.equal((await fixture.admin.getData('/c4/hits')).data.readInt32BE(0), total, 'no increment lost or applied twice');
        assert.deepEqual(
          results.flat().sort((x, y) => x - y),
          Array.from({ length: total }, (_, i) => i + 1),
          'each increment produced its own value',
        );
        await waitFor('every client sees the sum', WAIT_MS, () => counts.every((c) => c.getCount() === total));
        for (const c of counts) c.close();
        assert.deepEqual(await children('/c4/hits'), [], 'no receipt left');
        console.log(`# ${kind} shared count: ${total} increments from ${COUNTERS} clients through ${cuts} cuts with replies lost`);
      });
    });
  });
}
