// Client sessions a test opens on one server, directly or each through a TcpProxy of its own (to cut, refuse or
// freeze its connection), all closed together by closeAll() at the end.

import { connect, type ZooKeeper } from '../../src/client/index.ts';
import { TcpProxy } from './proxy.ts';

interface Target {
  host: string;
  port: number;
  connectString: string;
}

/** `server` is read at each call, so a suite can make this before its before() starts the server. */
export function testSessions(server: () => Target, sessionTimeout: number) {
  const sessions: ZooKeeper[] = [];
  const proxies: TcpProxy[] = [];
  const session = async (connectString = server().connectString): Promise<ZooKeeper> => {
    const zk = await connect(connectString, { sessionTimeout });
    sessions.push(zk);
    return zk;
  };
  const proxy = async (): Promise<TcpProxy> => {
    const p = await TcpProxy.start(server());
    proxies.push(p);
    return p;
  };
  const proxied = async (): Promise<{ proxy: TcpProxy; zk: ZooKeeper }> => {
    const p = await proxy();
    return { proxy: p, zk: await session(p.connectString) };
  };
  const closeAll = async (): Promise<void> => {
    for (const zk of sessions) await zk.close();
    for (const p of proxies) await p.close();
  };
  return { session, proxy, proxied, closeAll };
}
