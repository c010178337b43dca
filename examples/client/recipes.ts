// Client guide, part 3 (README "Recipes"): a lock, a semaphore and a leader latch, two sessions contending.
// test/client-examples.test.ts runs this against Paddock and ZooKeeper 3.8.

import { connect, leaderLatch, lock, semaphore } from '../../src/client/index.ts';

export async function recipes(connectString: string): Promise<string[]> {
  const log: string[] = [];
  const [zk, other] = await Promise.all([connect(connectString), connect(connectString)]);
  try {
    const mutex = lock(zk, '/locks/report');
    const held = await mutex.acquire({ timeoutMs: 10_000 });
    // `held` aborts if the lock is lost (connection lost, session expired): pass it to the work done under the lock.
    log.push(`holding: ${mutex.held}, lost: ${held.aborted}`);
    await lock(other, '/locks/report').acquire({ timeoutMs: 200 }).catch((e: Error) => log.push(`the other session: ${e.name}`));
    await mutex.release();
    log.push(`after release, lost: ${held.aborted}, reason: ${(held.reason as Error).message}`);

    // At most two leases at once, whoever asks.
    const pool = semaphore(zk, '/pools/db', 2);
    const lease = await pool.acquire({ timeoutMs: 10_000 });
    const second = await semaphore(other, '/pools/db', 2).acquire({ timeoutMs: 10_000 });
    await pool.acquire({ timeoutMs: 200 }).catch((e: Error) => log.push(`a third lease: ${e.name}`));
    await Promise.all([lease.release(), second.release()]);

    const latch = leaderLatch(zk, '/election/reports', 'worker-1');
    latch.on('isLeader', () => log.push('worker-1 leads')).on('notLeader', () => log.push('worker-1 steps down'));
    latch.start();
    await latch.await({ timeoutMs: 10_000 });
    log.push(`leader: ${await latch.getLeader()}`);
    await latch.close();
  } finally {
    await Promise.all([zk.close(), other.close()]);
  }
  return log;
}
