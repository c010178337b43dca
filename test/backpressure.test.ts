// Back-pressure inside one process (src/server/backpressure.ts, connection.ts):
// a Connection on a fake socket, a real Processor and, where writes must stay
// in flight, a transaction log whose group commits complete only when the test
// releases them. What a process-level test cannot pin down exactly: requests
// past globalOutstandingLimit stay unread, reads wait in the input behind
// their session's writes, output past the bound stops reading until the socket
// drains, a connection whose notifications pass the bound or whose output
// stays blocked for its session timeout is dropped while its session lives on,
// the outstanding count is exact throughout (as srvr, mntr and cons report it),
// and data the tree keeps is copied out of the socket's chunk.

import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, mock, test } from 'node:test';
import { AddWatchMode, OpCode } from '../src/proto/constants.ts';
import type { Request } from '../src/proto/records.ts';
import { FlowControl, PAUSE_AT } from '../src/server/backpressure.ts';
import type { ServerConfig } from '../src/config/config.ts';
import { StorageStats } from '../src/persistence/datadir.ts';
import { Connection, type ConnectionHost } from '../src/server/connection.ts';
import { fourLetterWord, type ServerView } from '../src/server/fourletter.ts';
import { Processor, type TxnSink } from '../src/server/processor.ts';
import { sessionPassword } from '../src/server/sessions.ts';
import { FakeSocket } from './support/fakesocket.ts';
import { OPEN_ACL, connectPayload, frame, parseReply, requestPayload, type Reply } from './support/rawclient.ts';

const MAX_BUFFER = 0xfffff;

/** A transaction log whose group commits complete only on release(). */
class HeldLog implements TxnSink {
  private held: (() => void)[] = [];
  append(): void {}
  flush(): Promise<void> {
    return new Promise((resolve) => this.held.push(resolve));
  }
  committed(): void {}
  release(): void {
    const held = this.held;
    this.held = [];
    for (const f of held) f();
  }
}

/** Let promise callbacks, nextTicks and immediates run. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Complete group commits, a turn at a time, until `done` (at most 100 turns). */
async function commitUntil(log: HeldLog | undefined, done: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !done(); i++) {
    log?.release();
    await turn();
  }
  assert.ok(done(), 'not done after 100 group commits');
}

function serve(opts: { outstandingLimit?: number; log?: HeldLog } = {}) {
  const processor = new Processor(
    { serverId: 1, tickTime: 2000, minSessionTimeout: 4000, maxSessionTimeout: 40_000, extendedTypesEnabled: true, skipACL: false, superDigest: null, containerMaxNeverUsedIntervalMs: 0 },
    Date.now,
    undefined,
    opts.log ?? null,
  );
  const flow = new FlowControl(opts.outstandingLimit ?? 1000, MAX_BUFFER);
  const host: ConnectionHost = { processor, maxBuffer: MAX_BUFFER, flow, fourLetterWord: () => null, closed: (c) => processor.disconnected(c), log: () => undefined };
  return { processor, flow, host };
}

/** A connection with an established session (the log, if held, released for its createSession). */
async function open(host: ConnectionHost, log?: HeldLog, session: { sessionId?: bigint; passwd?: Buffer } = {}) {
  const sock = new FakeSocket();
  const conn = new Connection(sock as unknown as Socket, host);
  sock.emit('data', frame(connectPayload({ timeOut: 4000, ...session })));
  await commitUntil(log, () => sock.out.length > 0);
  assert.notEqual(conn.sessionId, 0n, 'no session');
  return { sock, conn };
}

/** Every reply frame the connection wrote, after its ConnectResponse. */
function replies(sock: FakeSocket): Reply[] {
  const out = Buffer.concat(sock.out);
  const frames: Buffer[] = [];
  for (let pos = 0; pos + 4 <= out.length; ) {
    const len = out.readInt32BE(pos);
    frames.push(out.subarray(pos + 4, pos + 4 + len));
    pos += 4 + len;
  }
  return frames.slice(1).map(parseReply);
}

const requests = (reqs: Request[], firstXid = 1) => Buffer.concat(reqs.map((r, i) => frame(requestPayload(firstXid + i, r))));
const create = (path: string, data: Buffer | null = null): Request => ({ type: OpCode.create, path, data, acl: OPEN_ACL, flags: 0 });
const getData = (path: string): Request => ({ type: OpCode.getData, path, watch: false });
const range = (n: number, from = 1) => Array.from({ length: n }, (_, i) => from + i);

describe('back-pressure', () => {
  test('past globalOutstandingLimit a connection stops being read; the rest stays in its input until the writes apply', async () => {
    const log = new HeldLog();
    const { processor, flow, host } = serve({ outstandingLimit: 10, log });
    const { sock, conn } = await open(host, log);
    sock.emit('data', requests(range(50).map((i) => create(`/n${i}`))));
    assert.equal(conn.outstanding, 10);
    assert.equal(flow.outstanding, 10);
    assert.equal(flow.throttled, 1);
    assert.equal(sock.paused, true);
    assert.equal(replies(sock).length, 0);
    // what srvr and mntr report meanwhile
    const view: ServerView = { config: { fourLetterWords: 'all' } as ServerConfig, processor, flow, connections: new Set([conn]), startedAt: Date.now(), mode: 'standalone', storage: new StorageStats(), resetStats: () => undefined };
    assert.match(fourLetterWord('srvr', view)!, /^Outstanding: 10$/m);
    assert.match(fourLetterWord('mntr', view)!, /^zk_outstanding_requests\t10$/m);
    assert.match(fourLetterWord('mntr', view)!, /^zk_read_throttled_count\t1$/m);
    assert.match(fourLetterWord('cons', view)!, /\(queued=10,/);
    await commitUntil(log, () => {
      assert.ok(flow.outstanding <= 10, `${flow.outstanding} outstanding`);
      return replies(sock).length === 50;
    });
    const got = replies(sock);
    assert.deepEqual(got.map((r) => r.xid), range(50));
    assert.ok(got.every((r) => r.err === 0));
    assert.equal(flow.outstanding, 0);
    assert.equal(sock.paused, false);
  });

  test('reads wait in the input behind their session\'s writes, then answer in order', async () => {
    const log = new HeldLog();
    const { flow, host } = serve({ log });
    const { sock, conn } = await open(host, log);
    sock.emit('data', requests([create('/a'), ...range(5).map(() => getData('/a'))]));
    assert.equal(conn.outstanding, 1, 'the reads were taken into the pipeline');
    assert.equal(sock.paused, true);
    assert.equal(flow.throttled, 0, 'waiting for its own write is not throttling');
    await commitUntil(log, () => replies(sock).length === 6);
    assert.deepEqual(replies(sock).map((r) => [r.xid, r.err]), range(6).map((x) => [x, 0]));
    assert.equal(conn.outstanding, 0);
  });

  test('unsent output past the bound stops reading until the socket drains', async () => {
    const { flow, host } = serve();
    const { sock, conn } = await open(host);
    const big = 600_000;
    sock.emit('data', requests([create('/big', Buffer.alloc(big, 1))], 100));
    sock.backlog = true;
    sock.emit('data', requests(range(10).map(() => getData('/big'))));
    // two replies reach the bound (1 MiB); the other eight requests stay unread
    assert.equal(replies(sock).length, 1 + 2);
    assert.ok(conn.unsent >= PAUSE_AT && conn.unsent < 2 * big + 1000, `${conn.unsent} unsent`);
    assert.equal(sock.paused, true);
    assert.equal(flow.throttled, 1);
    for (let i = 0; i < 10 && replies(sock).length < 11; i++) {
      sock.drain();
      await turn();
    }
    assert.deepEqual(replies(sock).map((r) => r.xid), [100, ...range(10)]);
    assert.equal(flow.throttled, 1, 'one episode, however many drains');
    sock.destroy();
  });

  test('notifications past the bound drop the connection; the session lives on and reattaches', async () => {
    const { processor, flow, host } = serve();
    const watcher = await open(host);
    watcher.sock.emit('data', requests([{ type: OpCode.addWatch, path: '/', mode: AddWatchMode.persistentRecursive }]));
    assert.equal(replies(watcher.sock)[0]!.err, 0);
    watcher.sock.backlog = true; // never reads again
    const writer = await open(host);
    const paths = range(100).map((i) => `/${'p'.repeat(1000)}${i}`);
    writer.sock.emit('data', requests([{ type: OpCode.multi, ops: paths.map((p) => create(p)) }]));
    for (let i = 0; i < 40 && !watcher.sock.destroyed; i++) {
      writer.sock.emit('data', requests([{ type: OpCode.multi, ops: paths.map((path) => ({ type: OpCode.setData, path, data: null, version: -1 })) }], 2 + i));
    }
    assert.equal(watcher.sock.destroyed, true, 'the never-reading watcher is still connected');
    assert.ok(watcher.sock.writableLength <= flow.disconnectAt, `${watcher.sock.writableLength} bytes queued`);
    assert.equal(flow.backpressureDisconnects, 1);
    assert.equal(processor.sessions.isAlive(watcher.conn.sessionId), true);
    const again = await open(host, undefined, { sessionId: watcher.conn.sessionId, passwd: sessionPassword(watcher.conn.sessionId) });
    assert.equal(again.conn.sessionId, watcher.conn.sessionId);
    assert.equal(writer.conn.outstanding, 0);
    assert.equal(flow.outstanding, 0);
  });

  test('a znode\'s data does not keep the socket chunk it arrived in', async () => {
    const { processor, host } = serve();
    const { sock } = await open(host);
    const chunk = requests([create('/small', Buffer.alloc(100, 7)), create('/padding', Buffer.alloc(70_000))]);
    sock.emit('data', chunk);
    const data = processor.tree.get('/small')!.data!;
    assert.ok(data.equals(Buffer.alloc(100, 7)));
    assert.equal(data.buffer.byteLength, 100, `100 bytes of data hold on to ${data.buffer.byteLength}`);
  });

  test('output blocked for the session timeout drops the connection', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const { processor, flow, host } = serve();
      const { sock, conn } = await open(host);
      sock.emit('data', requests([create('/x', Buffer.alloc(20_000))], 100));
      sock.backlog = true;
      sock.emit('data', requests([getData('/x')]));
      await turn();
      mock.timers.tick(3999);
      assert.equal(sock.destroyed, false);
      mock.timers.tick(1);
      assert.equal(sock.destroyed, true, 'still connected after its 4000 ms session timeout blocked');
      assert.equal(flow.backpressureDisconnects, 1);
      assert.equal(processor.sessions.isAlive(conn.sessionId), true);
    } finally {
      mock.timers.reset();
    }
  });
});
