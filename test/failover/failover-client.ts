// A session that moves between ensemble members, driven through
// node-zookeeper-client for test/session-failover.test.ts.
//
//   node --import tsx failover-client.ts <connectString> <base> <sessionTimeoutMs>
//
// Line protocol: see FailoverClient.java in this directory.

import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

interface ZkError extends Error {
  getCode(): number;
}
type Cb<T extends unknown[]> = (error: ZkError | null, ...rest: T) => void;
interface ZkClient {
  connect(): void;
  close(): void;
  once(event: string, fn: () => void): void;
  getSessionId(): Buffer;
  create(path: string, data: Buffer, acls: unknown[], mode: number, cb: Cb<[string]>): void;
  exists(path: string, watcher: undefined, cb: Cb<[object | null]>): void;
  getData(path: string, watcher: (event: { getType(): number; getPath(): string }) => void, cb: Cb<[Buffer | null]>): void;
}
interface ZkModule {
  createClient(connectionString: string, options: { sessionTimeout: number; spinDelay: number; retries: number }): ZkClient;
  ACL: { OPEN_ACL_UNSAFE: unknown[] };
  CreateMode: { EPHEMERAL: number };
  Exception: { CONNECTION_LOSS: number };
}

const zookeeper = createRequire(import.meta.url)('node-zookeeper-client') as ZkModule;
/** ZooKeeper's event type numbers, named as the Java client names them */
const EVENT_NAMES: Record<number, string> = { 1: 'NodeCreated', 2: 'NodeDeleted', 3: 'NodeDataChanged', 4: 'NodeChildrenChanged' };

const say = (line: string): void => void process.stdout.write(`${line}\n`);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

async function expect(word: string): Promise<void> {
  const { value } = await lines.next();
  if (value !== word) throw new Error(`expected ${word} on stdin, got ${value}`);
}

const call = <T extends unknown[]>(fn: (cb: Cb<T>) => void): Promise<T> =>
  new Promise((resolve, reject) => fn((err, ...rest) => (err ? reject(err) : resolve(rest))));

async function main(): Promise<void> {
  const [connect, base, timeoutMs] = process.argv.slice(2) as [string, string, string];
  const zk = zookeeper.createClient(connect, { sessionTimeout: Number(timeoutMs), spinDelay: 100, retries: 0 });
  const connected = new Promise<void>((resolve) => zk.once('connected', resolve));
  zk.connect();
  await connected;
  const hex = () => zk.getSessionId().toString('hex').replace(/^0+/, '');
  await call<[string]>((cb) => zk.create(`${base}/eph`, Buffer.from('eph'), zookeeper.ACL.OPEN_ACL_UNSAFE, zookeeper.CreateMode.EPHEMERAL, cb));
  await call<[Buffer | null]>((cb) => zk.getData(`${base}/watched`, (e) => say(`EVENT ${EVENT_NAMES[e.getType()] ?? e.getType()} ${e.getPath()}`), cb));
  say(`READY ${hex()}`);
  await expect('MOVE');
  const deadline = Date.now() + 60_000;
  let exists: boolean;
  for (;;) {
    try {
      exists = (await call<[object | null]>((cb) => zk.exists(`${base}/eph`, undefined, cb)))[0] !== null;
      break;
    } catch (e) {
      if ((e as ZkError).getCode?.() !== zookeeper.Exception.CONNECTION_LOSS || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  say(`MOVED ${hex()} ${exists ? 1 : 0}`);
  await expect('CLOSE');
  const closed = new Promise<void>((resolve) => zk.once('disconnected', resolve));
  zk.close();
  await closed;
  say('CLOSED');
  process.exit(0);
}

main().catch((e: Error) => {
  say(`ERROR ${e.stack ?? e.message}`);
  process.exit(1);
});
