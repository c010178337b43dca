// Assertions on the session-level client's typed errors, shared by the client tests.

import assert from 'node:assert/strict';
import { ZkError, type ZooKeeperError } from '../../src/client/index.ts';

/** `p` rejects with an error of class `cls` (a ZkError) carrying `code` and `path`. */
export async function rejectsWith(p: Promise<unknown>, cls: new (...a: never[]) => ZooKeeperError, code: number, path: string | undefined): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof cls, `${String(e)} is a ${cls.name}`);
    assert.ok(e instanceof ZkError);
    assert.equal(e.code, code);
    assert.equal(e.path, path);
    return true;
  });
}
