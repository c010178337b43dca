// Client guide, part 4 (README "Recipes", continued): two workers taking turns as leader, a double barrier, a
// queue and a shared counter. test/client-examples.test.ts runs this against Paddock and ZooKeeper 3.8.

import { setTimeout as sleep } from 'node:timers/promises';
import { connect, distributedQueue, doubleBarrier, leaderSelector, sharedCount, type ZooKeeper } from '../../src/client/index.ts';

export async function coordination(connectString: string): Promise<string[]> {
  const log: string[] = [];
  const [zk, other] = await Promise.all([connect(connectString), connect(connectString)]);
  try {
    // Each worker leads in turn until its takeLeadership returns (or its signal aborts: connection lost), then requeues.
    const led = new Set<string>();
    let bothLed!: () => void;
    const turnsTaken = new Promise<void>((resolve) => (bothLed = resolve));
    const worker = (session: ZooKeeper, id: string) =>
      leaderSelector(session, '/election/jobs', id, {
        async takeLeadership(signal) {
          led.add(id);
          if (led.size === 2) bothLed();
          await sleep(50, undefined, { signal }).catch(() => undefined);
        },
      });
    const workers = [worker(zk, 'worker-1'), worker(other, 'worker-2')];
    for (const w of workers) w.start();
    await turnsTaken;
    await Promise.all(workers.map((w) => w.close()));
    log.push(`led in turn: ${[...led].sort().join(', ')}`);

    // Both members pass enter() together, and leave() together.
    const batch = [doubleBarrier(zk, '/barriers/batch', 2), doubleBarrier(other, '/barriers/batch', 2)];
    await Promise.all(batch.map((member) => member.enter({ timeoutMs: 10_000 })));
    log.push('both entered');
    await Promise.all(batch.map((member) => member.leave({ timeoutMs: 10_000 })));

    // Each item is taken by exactly one consumer, in FIFO order.
    await distributedQueue(zk, '/queues/jobs').put('job-1');
    await distributedQueue(zk, '/queues/jobs').put('job-2');
    const jobs = distributedQueue(other, '/queues/jobs');
    log.push(`took ${await jobs.take({ timeoutMs: 10_000 })}, then ${await jobs.take({ timeoutMs: 10_000 })}`);

    // A versioned compare-and-set, and an increment that retries until its own add lands.
    const hits = sharedCount(zk, '/counters/hits', 0);
    await hits.start();
    const set = await hits.trySetCount(hits.getVersionedValue(), 10);
    log.push(`set to 10: ${set}, after increment(5): ${await hits.increment(5)}`);
    hits.close();
  } finally {
    await Promise.all([zk.close(), other.close()]);
  }
  return log;
}
