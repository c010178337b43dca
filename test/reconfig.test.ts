// Dynamic reconfig is not implemented yet; a reconfig request still gets the
// answer ZooKeeper 3.8 gives on a standalone server, one every 3.8 client knows
// (kazoo 2.8 hangs on codes it does not): ReconfigDisabled by default,
// Unimplemented with reconfigEnabled=true — never silence. Checked against
// ZooKeeper side by side.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { JuteWriter } from '../src/jute/archive.ts';
import { Err, OpCode } from '../src/proto/constants.ts';
import { frame, openSession, rawRequestPayload } from './support/rawclient.ts';
import { startServer } from './support/servers.ts';

/** ReconfigRequest: joiningServers, leavingServers, newMembers, curConfigId */
const reconfigRecord = new JuteWriter().ustring('server.5=127.0.0.1:2888:3888;2181').ustring(null).ustring(null).long(-1).toBuffer();

async function reconfigAnswer(kind: 'zookeeper' | 'paddock', cfg: Record<string, string>): Promise<{ err: number; zxidAdvance: number }> {
  const srv = await startServer(kind, { cfg });
  try {
    const { conn, session } = await openSession(srv.host, srv.port);
    void session;
    await conn.write(frame(rawRequestPayload(1, OpCode.exists, new JuteWriter().ustring('/').bool(false).toBuffer())));
    const before = await conn.reply();
    await conn.write(frame(rawRequestPayload(2, OpCode.reconfig, reconfigRecord)));
    const r = await conn.reply();
    assert.equal(r.xid, 2);
    return { err: r.err, zxidAdvance: r.zxid - before.zxid };
  } finally {
    await srv.stop();
  }
}

describe('reconfig on a server without dynamic reconfig', () => {
  for (const [name, cfg, expected] of [
    ['disabled (default)', {}, Err.reconfigDisabled],
    ['reconfigEnabled=true', { reconfigEnabled: 'true' }, Err.unimplemented],
  ] as const) {
    test(`${name}: answered as ZooKeeper 3.8 answers it`, async () => {
      const zk = await reconfigAnswer('zookeeper', cfg);
      const paddock = await reconfigAnswer('paddock', cfg);
      assert.equal(zk.err, expected, 'ZooKeeper');
      assert.deepEqual(paddock, zk);
    });
  }
});
