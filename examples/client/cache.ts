// Client guide, part 4 (README "Recipes"): a tree cache of /settings, and a service registry with a live view.
// test/client-examples.test.ts runs this against Paddock and ZooKeeper 3.8.

import { once } from 'node:events';
import { connect, serviceRegistry, treeCache } from '../../src/client/index.ts';

export async function cache(connectString: string): Promise<string[]> {
  const log: string[] = [];
  const [zk, other] = await Promise.all([connect(connectString), connect(connectString)]);
  try {
    await other.create('/settings', 'v1');
    const config = treeCache(zk, '/settings');
    config.on('change', (e) => log.push(`${e.type} ${e.path}`));
    config.start();
    await config.initialized;
    log.push(`cached: ${config.get('/settings')?.data}`);
    const changes = config.events();
    await other.setData('/settings', 'v2');
    for await (const e of changes) {
      if (e.type === 'changed') log.push(`${e.path}: ${e.old.data} -> ${e.node.data}`);
      break;
    }
    await config.close();

    // One process registers an instance of 'api'; another watches the instances come and go.
    const registry = serviceRegistry(zk, '/services');
    const api = await serviceRegistry(other, '/services').view('api');
    api.on('change', (instances) => log.push(`api: ${instances.map((i) => `${i.address}:${i.port}`).join(', ') || 'none'}`));
    // Listen before acting: the view may see the change before register() or unregister() returns.
    const registered = once(api, 'change');
    const me = await registry.register({ name: 'api', address: '10.0.0.5', port: 8080, payload: { version: 3 } });
    await registered;
    log.push(`names: ${await registry.names()}, payload: ${JSON.stringify((await registry.instances('api'))[0]?.payload)}`);
    const unregistered = once(api, 'change');
    await registry.unregister(me);
    await unregistered;
    await api.close();
  } finally {
    await Promise.all([zk.close(), other.close()]);
  }
  return log;
}
