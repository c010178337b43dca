// Client guide, part 2 (README "Using the client"): a one-shot watch as a
// callback, a recursive persistent watch as an async iterator, and a chroot.
// test/client-examples.test.ts runs this against Paddock and ZooKeeper 3.8.

import { connect, type WatchEvent } from '../../src/client/index.ts';

export async function watches(connectString: string): Promise<string[]> {
  const log: string[] = [];
  const admin = await connect(connectString);
  await admin.create('/app');
  // Everything this session names is under /app.
  const zk = await connect(`${connectString}/app`);
  try {
    await zk.create('/config', 'v1');

    // One-shot: fires once, for the next change only.
    let fired!: (e: WatchEvent) => void;
    const changed = new Promise<WatchEvent>((resolve) => (fired = resolve));
    await zk.getData('/config', { watch: fired });
    await admin.setData('/app/config', 'v2');
    const event = await changed;
    log.push(`one-shot: ${event.type} ${event.path}`);

    // Persistent and recursive: every create, change and delete below /, until the loop leaves.
    const events = zk.watch('/', { recursive: true });
    const seen = (async () => {
      const out: string[] = [];
      for await (const e of events) {
        out.push(`${e.type} ${e.path}`);
        if (e.type === 'NodeDeleted' && e.path === '/config') break; // ends the watch
      }
      return out;
    })();
    await zk.sync('/'); // the watch is armed before the first write below
    await admin.create('/app/jobs');
    await admin.setData('/app/config', 'v3');
    await admin.delete('/app/jobs');
    await admin.delete('/app/config');
    log.push(...(await seen).map((s) => `recursive: ${s}`));
  } finally {
    await zk.close();
    await admin.delete('/app');
    await admin.close();
  }
  return log;
}
