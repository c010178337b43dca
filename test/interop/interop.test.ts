// Interop matrix: the same scenario list run by four real ZooKeeper clients
// (Java 3.8 official client, C client libzookeeper_mt, Python kazoo 2.8.0,
// node-zookeeper-client 1.1.3) against one server process per client.
//
//   INTEROP_SERVER=zookeeper node --import tsx --test test/interop/interop.test.ts   # reference run
//   node --import tsx --test test/interop/interop.test.ts                             # against Paddock
//
// Optional filters: INTEROP_CLIENTS=java,c   INTEROP_SCENARIOS=crud,reconnect
//
// Each client program checks the real outcomes itself and prints one JSON line
// per scenario (see harness.ts for the contract); this file asserts on them.
// The client's main session goes through a TCP proxy per scenario so that
// "reconnect" (cut connections) and the expiry scenarios (refuse connections
// for longer than the session timeout) are deterministic.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { startServer, waitForServing, type RunningServer } from '../support/servers.ts';
import {
  buildClients,
  describeOutcome,
  runClient,
  startProxy,
  type BuildDir,
  type ClientName,
} from './harness.ts';

const KIND = (process.env.INTEROP_SERVER ?? 'paddock') as RunningServer['kind'];
if (KIND !== 'zookeeper' && KIND !== 'paddock') throw new Error(`INTEROP_SERVER must be zookeeper or paddock, not ${KIND}`);

export const SCENARIOS = [
  'crud',
  'sequential',
  'ephemeral_close',
  'ephemeral_expiry',
  'watch_data',
  'watch_exists',
  'watch_child',
  'watch_delete',
  'persistent_recursive',
  'multi_ok',
  'multi_fail',
  'acl_noauth',
  'digest_auth',
  'session_expiry',
  'reconnect',
  'container',
  'ttl',
] as const;

export const CLIENTS: ClientName[] = ['java', 'c', 'python', 'node'];

/** Scenarios a client cannot express through its public API (each program also says so). */
export const UNSUPPORTED: Record<ClientName, Partial<Record<(typeof SCENARIOS)[number], string>>> = {
  java: {},
  c: {
    persistent_recursive: 'the 3.8 C API has no addWatch (no persistent/recursive watches)',
  },
  python: {
    persistent_recursive: 'kazoo 2.8.0 has no addWatch (persistent watches arrived in kazoo 2.9)',
    container: 'kazoo 2.8.0 create() has no container flag (no CreateContainer request)',
    ttl: 'kazoo 2.8.0 create() has no TTL (no CreateTTL request)',
  },
  node: {
    persistent_recursive: 'node-zookeeper-client 1.1.3 has no addWatch',
    container: 'node-zookeeper-client 1.1.3 only knows CreateMode 0-3 and opcode create',
    ttl: 'node-zookeeper-client 1.1.3 only knows CreateMode 0-3 and opcode create',
  },
};

const pick = <T extends string>(all: readonly T[], env: string | undefined): T[] => {
  if (!env) return [...all];
  const want = env.split(',').map((s) => s.trim()).filter(Boolean);
  for (const w of want) if (!all.includes(w as T)) throw new Error(`unknown name ${w}; known: ${all.join(',')}`);
  return all.filter((x) => want.includes(x));
};

const clients = pick(CLIENTS, process.env.INTEROP_CLIENTS);
const scenarios = pick(SCENARIOS, process.env.INTEROP_SCENARIOS);

const SCENARIO_TIMEOUT_MS = 45_000;

// Compile the Java and C programs once, before any client suite needs them.
let buildPromise: Promise<BuildDir> | undefined;
const getBuild = () => (buildPromise ??= buildClients(clients));

before(async () => {
  await getBuild();
});

after(async () => {
  if (buildPromise) (await buildPromise.catch(() => undefined))?.remove();
});

for (const client of clients) {
  describe(`${client} client vs ${KIND}`, () => {
    let server: RunningServer | undefined;
    let build: BuildDir;

    before(async () => {
      build = await getBuild();
      server = await startServer(KIND, {
        // tickTime 200 ms ⇒ sessions of 400 ms .. 4 s; the expiry scenarios ask for 1 s
        tickTime: 200,
        // TTL nodes need the extended session-id/ephemeralOwner layout
        cfg: { extendedTypesEnabled: 'true' },
        // the container/TTL reaper runs every 200 ms instead of every minute
        jvmFlags: ['-Dznode.container.checkIntervalMs=200'],
      });
    });

    after(async () => {
      await server?.stop();
    });

    // A (client, scenario) pair the client has no API for is not a test at all
    // (UNSUPPORTED says why); the client program itself refuses to run it.
    for (const scenario of scenarios.filter((s) => !UNSUPPORTED[client][s])) {
      test(scenario, { timeout: SCENARIO_TIMEOUT_MS + 15_000 }, async (t) => {
        assert.ok(server, 'server started');
        const srv = server;
        const serverLog = () => `server output (tail):\n${srv.output().slice(-3000)}`;
        // fail fast (instead of timing out scenario after scenario) once the server is gone
        assert.equal(srv.proc.exitCode ?? srv.proc.signalCode, null, `${KIND} server exited\n${serverLog()}`);
        const probe = await waitForServing(srv.host, srv.port, 3000).then(
          () => 'serving',
          (e: Error) => e.message,
        );
        assert.equal(probe, 'serving', `${KIND} server is not serving before the scenario\n${serverLog()}`);
        const proxy = await startProxy(srv.host, srv.port);
        try {
          const outcome = await runClient(client, build, scenario, proxy, srv.connectString, SCENARIO_TIMEOUT_MS);
          const info = () => `${client}/${scenario} against ${KIND}:\n${describeOutcome(outcome)}\n${serverLog()}`;
          assert.equal(outcome.timedOut, false, `client timed out\n${info()}`);
          assert.equal(outcome.results.length, 1, `expected exactly one result line\n${info()}`);
          const [r] = outcome.results;
          assert.equal(r.client, client, info());
          assert.equal(r.scenario, scenario, info());
          assert.notEqual(r.status, 'skip', `client skipped a scenario the matrix expects it to run\n${info()}`);
          assert.equal(r.status, 'pass', `${r.error ?? 'failed'}\n${info()}`);
          assert.ok(r.checks > 0, `a pass must come with checks\n${info()}`);
          assert.equal(outcome.exitCode, 0, `client exit code\n${info()}`);
          t.diagnostic(`${r.checks} checks in ${r.ms} ms${r.notes?.length ? '; ' + r.notes.join('; ') : ''}`);
        } finally {
          await proxy.close();
        }
      });
    }
  });
}
