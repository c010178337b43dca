// Builders for request records, shared by the typed client methods and by
// multi()/multiRead() callers: `client.multi([op.create('/a'), op.check('/b', 3)])`.

import { OpCode } from '../proto/constants.ts';
import type { ACL, Request } from '../proto/records.ts';
import { CreateMode, OPEN_ACL_UNSAFE, isTTLMode } from './acl.ts';

export type Data = Buffer | string | null;

export const toBuffer = (d: Data | undefined): Buffer | null => (d === undefined || d === null ? null : typeof d === 'string' ? Buffer.from(d, 'utf8') : d);

export interface CreateOptions {
  /** CreateMode flag, default persistent */
  mode?: number;
  /** default OPEN_ACL_UNSAFE */
  acl?: ACL[];
  /** milliseconds; required for the TTL modes */
  ttl?: number;
}

/**
 * A create request. The opcode follows the mode the way the Java client picks it:
 * container => createContainer (19), TTL modes => createTTL (21), otherwise
 * create2 (15) when `stat` is wanted, else create (1).
 */
export function createRequest(path: string, data: Data | undefined, opts: CreateOptions = {}, stat = false): Request {
  const flags = opts.mode ?? CreateMode.persistent;
  const acl = opts.acl ?? OPEN_ACL_UNSAFE;
  const d = toBuffer(data);
  if (flags === CreateMode.container) return { type: OpCode.createContainer, path, data: d, acl, flags };
  if (isTTLMode(flags) || opts.ttl !== undefined) return { type: OpCode.createTTL, path, data: d, acl, flags, ttl: opts.ttl ?? 0 };
  return { type: stat ? OpCode.create2 : OpCode.create, path, data: d, acl, flags };
}

export const op = {
  create: (path: string, data?: Data, opts?: CreateOptions): Request => createRequest(path, data, opts, false),
  create2: (path: string, data?: Data, opts?: CreateOptions): Request => createRequest(path, data, opts, true),
  delete: (path: string, version = -1): Request => ({ type: OpCode.delete, path, version }),
  setData: (path: string, data: Data, version = -1): Request => ({ type: OpCode.setData, path, data: toBuffer(data), version }),
  check: (path: string, version: number): Request => ({ type: OpCode.check, path, version }),
  /** multiRead only */
  getData: (path: string): Request => ({ type: OpCode.getData, path, watch: false }),
  /** multiRead only */
  getChildren: (path: string): Request => ({ type: OpCode.getChildren, path, watch: false }),
};
