// Client guide, part 1 (README "Using the client"): connect, write and read,
// typed errors, a transaction, close. test/client-examples.test.ts runs this
// against Paddock and against ZooKeeper 3.8 and checks what it returns.

import { connect, CreateMode, NodeExistsError, NoNodeError, BadVersionError } from '../../src/client/index.ts';

export async function basics(connectString: string): Promise<string[]> {
  const log: string[] = [];
  const zk = await connect(connectString, { sessionTimeout: 10_000 });
  try {
    await zk.create('/guide', 'hello');
    const { data, stat } = await zk.getData('/guide');
    log.push(`read ${data.toString()} at version ${stat.version}`);

    await zk.setData('/guide', 'hello again', stat.version);
    try {
      await zk.setData('/guide', 'stale write', stat.version); // the version moved on
    } catch (e) {
      if (!(e instanceof BadVersionError)) throw e;
      log.push(`${e.name} for ${e.path}`);
    }

    try {
      await zk.create('/guide', 'twice');
    } catch (e) {
      if (e instanceof NodeExistsError) log.push(`${e.name}: ${e.message}`);
      else throw e;
    }

    const member = await zk.create('/guide/member-', 'me', { mode: CreateMode.ephemeralSequential });
    log.push(`created ${member.replace(/\d+$/, 'N')}`);

    // All or nothing: the check fails, so neither write happens.
    try {
      await zk.transaction().create('/guide/a', '1').check('/guide', 99).commit();
    } catch (e) {
      if (!(e instanceof BadVersionError)) throw e;
      log.push(`transaction failed on ${e.path}; /guide/a exists: ${(await zk.exists('/guide/a')) !== null}`);
    }
    const results = await zk.transaction().create('/guide/a', '1').setData('/guide', 'done').commit();
    log.push(`transaction: ${results.map((r) => r.type).join(', ')}`);

    for (const child of await zk.getChildren('/guide')) await zk.delete(`/guide/${child}`);
    await zk.delete('/guide');
    await zk.getData('/guide').catch((e: unknown) => log.push(e instanceof NoNodeError ? 'gone' : String(e)));
  } finally {
    await zk.close();
  }
  return log;
}
