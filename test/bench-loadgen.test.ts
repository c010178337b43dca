// Smoke test of the benchmarks' load generator (bench/loadgen.c) on both of its
// engines: compiled as the benchmarks compile it, each workload run briefly
// against a real Paddock server finishes with a result whose figures hang
// together, no error, and as many txns on the server as the ops it counted
// (a setData is one txn, a create+delete pair two; getData none), read from
// srvr's Zxid before and after. loadgen checks each getData reply's payload
// length itself (a wrong one counts as an error). No timing is asserted.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { compileLoadgen, type LoadgenResult } from '../bench/common.ts';
import { fourLetterWord, startPaddock, type RunningServer } from './support/servers.ts';

/** txns each workload's op makes; setup and cleanup add a few more */
const TXNS_PER_OP = { get: 0, set: 1, mix: 0.1, create: 2 } as const;
/** loadgen's own sessions (creates and closes) and its setup and cleanup: at most this many txns beyond the ops' */
const OVERHEAD = 30;

describe('bench/loadgen.c', () => {
  let server: RunningServer;
  let dir: string;
  let bin: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'paddock-loadgen-'));
    bin = compileLoadgen(dir);
    server = await startPaddock();
  });
  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const zxid = async () => parseInt(/^Zxid: 0x([0-9a-f]+)$/m.exec(await fourLetterWord(server.host, server.port, 'srvr'))![1]!, 16);

  for (const engine of ['raw', 'zkclient'] as const) {
    for (const workload of ['get', 'set', 'mix', 'create'] as const) {
      it(`${engine} engine, ${workload}: counted ops are the server's, no error`, async () => {
        const before = await zxid();
        const args = ['--host', server.connectString, '--workload', workload, '--engine', engine, '--window', '8', '--sessions', '3', '--warmup', '0', '--duration', '0.4'];
        const run = spawnSync(bin, args, { encoding: 'utf8', timeout: 60_000 });
        assert.equal(run.status, 0, run.stderr);
        const r = JSON.parse(run.stdout.trim().split('\n').pop()!) as LoadgenResult;
        const txns = (await zxid()) - before;
        assert.equal(r.errors, 0, `first error ${r.first_error}`);
        assert.ok(r.ops > 0, 'some ops');
        assert.ok(r.p50_us > 0 && r.p50_us <= r.p99_us && r.p99_us <= r.max_us, JSON.stringify(r));
        const expected = r.ops * TXNS_PER_OP[workload];
        if (workload === 'mix') assert.ok(txns >= Math.floor(expected) && txns <= Math.ceil(expected) + 8 + OVERHEAD, `${txns} txns for ${r.ops} mixed ops`);
        else assert.ok(txns >= expected && txns <= expected + OVERHEAD, `${txns} txns for ${r.ops} ${workload} ops`);
      });
    }
  }
});
