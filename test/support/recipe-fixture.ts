// What the recipe tests (test/recipes*.test.ts) share: inside a describe() for one server kind (Paddock or
// ZooKeeper 3.8), a server started before its tests and stopped after them, an admin session, and sessions opened
// directly or through TcpProxy links the test controls, every one closed at the end.

import { after, before } from 'node:test';
import { connect, NoNodeError, type ZooKeeper } from '../../src/client/index.ts';
import { TcpProxy } from './proxy.ts';
import { startServer, type RunningServer } from './servers.ts';

/** Pings every second, read timeout 2 s: a frozen connection is noticed well before the server expires the session. */
export const SESSION_MS = 3000;

export interface RecipeFixture {
  readonly server: RunningServer;
  readonly admin: ZooKeeper;
  /** a session (SESSION_MS unless the fixture was given another timeout) to the server, or to `connectString` (a proxy's) */
  session(connectString?: string): Promise<ZooKeeper>;
  /** `count` proxies to the server */
  links(count: number): Promise<TcpProxy[]>;
  /** a session through a proxy of its own */
  proxied(): Promise<{ proxy: TcpProxy; zk: ZooKeeper }>;
  /** the children of `path`; none once it is gone (an empty container may be removed by the server) */
  children(path: string): Promise<string[]>;
}

export function recipeFixture(kind: RunningServer['kind'], { sessionMs = SESSION_MS }: { sessionMs?: number } = {}): RecipeFixture {
  let server: RunningServer | undefined;
  let admin: ZooKeeper | undefined;
  const sessions: ZooKeeper[] = [];
  const proxies: TcpProxy[] = [];
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the recipe fixture is used before its server started');
    return value;
  };
  const fixture: RecipeFixture = {
    get server() {
      return started(server);
    },
    get admin() {
      return started(admin);
    },
    async session(connectString = fixture.server.connectString) {
      const zk = await connect(connectString, { sessionTimeout: sessionMs });
      sessions.push(zk);
      return zk;
    },
    async links(count) {
      const made = await Promise.all(Array.from({ length: count }, () => TcpProxy.start(fixture.server)));
      proxies.push(...made);
      return made;
    },
    async proxied() {
      const [proxy] = (await fixture.links(1)) as [TcpProxy];
      return { proxy, zk: await fixture.session(proxy.connectString) };
    },
    children: (path) => fixture.admin.getChildren(path).catch((e: unknown) => (e instanceof NoNodeError ? [] : Promise.reject(e))),
  };
  before(async () => {
    server = await startServer(kind, { tickTime: 300 });
    admin = await connect(server.connectString, { sessionTimeout: sessionMs });
  });
  after(async () => {
    for (const zk of [...sessions, admin]) await zk?.close();
    for (const p of proxies) await p.close();
    await server?.stop();
  });
  return fixture;
}
