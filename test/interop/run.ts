// Run one client's interop scenarios by hand, outside node:test.
//
//   node --import tsx test/interop/run.ts <java|c|python|node> [scenario[,scenario...]|all] [host:port]
//
// Without host:port a server is started (kind from INTEROP_SERVER, default
// paddock) with the same settings as interop.test.ts. Prints each result line
// and, for failures, the client's stderr tail.

import { startServer, type RunningServer } from '../support/servers.ts';
import { buildClients, describeOutcome, runClient, startProxy, type ClientName } from './harness.ts';

async function main(): Promise<number> {
  const [client, scenarios = 'all', target] = process.argv.slice(2) as [ClientName, string?, string?];
  if (!['java', 'c', 'python', 'node'].includes(client)) {
    console.error('usage: run.ts <java|c|python|node> [scenario[,scenario...]|all] [host:port]');
    return 2;
  }
  const build = await buildClients([client]);
  let server: RunningServer | undefined;
  try {
    let host: string;
    let port: number;
    if (target) {
      const i = target.lastIndexOf(':');
      host = target.slice(0, i);
      port = Number(target.slice(i + 1));
    } else {
      const kind = (process.env.INTEROP_SERVER ?? 'paddock') as RunningServer['kind'];
      server = await startServer(kind, {
        tickTime: 200,
        cfg: { extendedTypesEnabled: 'true' },
        jvmFlags: ['-Dznode.container.checkIntervalMs=200'],
      });
      host = server.host;
      port = server.port;
      console.log(`started ${kind} on ${server.connectString}`);
    }
    const proxy = await startProxy(host, port);
    try {
      const outcome = await runClient(client, build, scenarios, proxy, `${host}:${port}`, 10 * 60_000);
      for (const r of outcome.results) console.log(JSON.stringify(r));
      const bad = outcome.results.filter((r) => r.status === 'fail');
      if (bad.length || outcome.timedOut || outcome.exitCode !== 0) {
        console.log(describeOutcome(outcome));
        return 1;
      }
      return 0;
    } finally {
      await proxy.close();
    }
  } finally {
    await server?.stop();
    build.remove();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
