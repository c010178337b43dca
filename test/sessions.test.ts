// Sessions: ids and passwords exactly as ZooKeeper makes them (so a client can
// move between Paddock and ZooKeeper servers of one ensemble), and expiry in
// tickTime buckets.

import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import { JuteReader, JuteWriter } from '../src/jute/archive.ts';
import { readConnectResponse, writeConnectRequest, type ConnectResponse } from '../src/proto/records.ts';
import { SessionTracker, firstSessionId, sessionPassword } from '../src/server/sessions.ts';
import { startServer } from './support/servers.ts';

/** Open a session with a raw ConnectRequest and return the server's ConnectResponse. */
function handshake(port: number): Promise<ConnectResponse> {
  return new Promise((resolve, reject) => {
    const w = new JuteWriter();
    const at = w.beginFrame();
    writeConnectRequest(w, { protocolVersion: 0, lastZxidSeen: 0, timeOut: 30_000, sessionId: 0n, passwd: Buffer.alloc(16), readOnly: false });
    w.endFrame(at);
    const sock = net.connect(port, '127.0.0.1', () => sock.write(w.toBuffer()));
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => reject(new Error('no ConnectResponse')), 10_000);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
        clearTimeout(timer);
        sock.destroy();
        resolve(readConnectResponse(new JuteReader(buf, 4, 4 + buf.readInt32BE(0))));
      }
    });
    sock.on('error', reject);
  });
}

describe('session ids and passwords', () => {
  test('sessionPassword reproduces the passwords Apache ZooKeeper hands out', async () => {
    const zk = await startServer('zookeeper');
    try {
      for (let i = 0; i < 3; i++) {
        const res = await handshake(zk.port);
        assert.notEqual(res.sessionId, 0n);
        assert.deepEqual(sessionPassword(res.sessionId), res.passwd);
      }
    } finally {
      await zk.stop();
    }
  });

  test('Paddock standalone: server id 1 in the top byte, consecutive ids, ZooKeeper passwords, readOnly byte echoed', async () => {
    const pd = await startServer('paddock');
    try {
      const a = await handshake(pd.port);
      const b = await handshake(pd.port);
      assert.equal(a.sessionId >> 56n, 1n);
      assert.equal(b.sessionId, a.sessionId + 1n);
      assert.deepEqual(a.passwd, sessionPassword(a.sessionId));
      assert.equal(a.readOnly, false);
      assert.equal(a.timeOut, 30_000);
    } finally {
      await pd.stop();
    }
  });

  test('first id: clock in bits 8..55 below the server id', () => {
    const id = firstSessionId(5, 0x123456789a);
    assert.equal(id >> 56n, 5n);
    assert.equal((id >> 16n) & 0xffffffffffn, 0x123456789an & 0xffffffffffn);
  });
});

describe('expiry buckets', () => {
  test('a session expires at the first tick boundary after now + timeout, and touches push it out', () => {
    const t = new SessionTracker(2000, 1, 0);
    const id = t.newSessionId();
    t.add(id, 4000, 1000); // deadline 5000 → bucket 6000
    assert.deepEqual(t.expire(5999), []);
    assert.equal(t.touch(id, 3000), true); // deadline 7000 → bucket 8000
    assert.deepEqual(t.expire(7999), []);
    assert.deepEqual(t.expire(8000), [id]);
    assert.equal(t.touch(id, 8001), false, 'an expiring session cannot be revived');
    assert.equal(t.isAlive(id), false);
  });

  test('reattaching with a new timeout re-buckets the session', () => {
    const t = new SessionTracker(1000, 1, 0);
    const id = t.newSessionId();
    t.add(id, 2000, 0); // bucket 3000
    t.touch(id, 0, 10_000); // bucket 11000
    assert.deepEqual(t.expire(5000), []);
    assert.deepEqual(t.expire(11_000), [id]);
  });
});
