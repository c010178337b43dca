// multi() as a builder, mirroring ZooKeeper's Transaction: collect create /
// delete / setData / check ops, then commit() them atomically; and the typed
// result of each op of a committed multi (OpResult's subclasses in Java).

import { OpCode } from '../proto/constants.ts';
import type { Request, Stat } from '../proto/records.ts';
import type { MultiResult } from '../proto/responses.ts';
import { op, type CreateOptions, type Data } from './ops.ts';

export type OpResult =
  | { type: 'create'; path: string; stat?: Stat }
  | { type: 'delete' }
  | { type: 'setData'; stat: Stat }
  | { type: 'check' };

/** The typed result of one op of a successful multi. */
export function opResult(r: MultiResult): OpResult {
  switch (r.type) {
    case OpCode.create:
    case OpCode.create2:
    case OpCode.createContainer:
    case OpCode.createTTL:
      return r.stat ? { type: 'create', path: r.path!, stat: r.stat } : { type: 'create', path: r.path! };
    case OpCode.delete:
    case OpCode.deleteContainer:
      return { type: 'delete' };
    case OpCode.setData:
      return { type: 'setData', stat: r.stat! };
    default:
      return { type: 'check' };
  }
}

export class Transaction {
  private readonly ops: Request[] = [];

  constructor(private readonly run: (ops: Request[], options?: { signal?: AbortSignal }) => Promise<OpResult[]>) {}

  create(path: string, data?: Data, options?: CreateOptions): this {
    this.ops.push(op.create(path, data, options));
    return this;
  }

  delete(path: string, version = -1): this {
    this.ops.push(op.delete(path, version));
    return this;
  }

  setData(path: string, data: Data, version = -1): this {
    this.ops.push(op.setData(path, data, version));
    return this;
  }

  /** The transaction fails (BadVersionError, NoNodeError) unless `path` is at `version`. */
  check(path: string, version: number): this {
    this.ops.push(op.check(path, version));
    return this;
  }

  /** Apply every op or none; see ZooKeeper.multi. */
  commit(options?: { signal?: AbortSignal }): Promise<OpResult[]> {
    return this.run(this.ops, options);
  }
}
