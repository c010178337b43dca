// One error class per ZooKeeper error code, mirroring the subclasses of Java's
// KeeperException (NoNodeException -> NoNodeError, ...). Every class extends
// ZkError, so `code` and `instanceof ZkError` work for all of them, and carries
// the path of the request that failed (as the caller named it, chroot removed)
// when the request had one. Messages read like Java's: "KeeperErrorCode =
// NoNode for /a".

import { Err, ZkError } from '../proto/constants.ts';
import type { MultiResult } from '../proto/responses.ts';

/** Error codes of the protocol by Java's name for them (KeeperException.Code). */
const codeNames: Record<number, string> = {
  [Err.systemError]: 'SystemError',
  [Err.runtimeInconsistency]: 'RuntimeInconsistency',
  [Err.dataInconsistency]: 'DataInconsistency',
  [Err.connectionLoss]: 'ConnectionLoss',
  [Err.marshallingError]: 'MarshallingError',
  [Err.unimplemented]: 'Unimplemented',
  [Err.operationTimeout]: 'OperationTimeout',
  [Err.badArguments]: 'BadArguments',
  [Err.unknownSession]: 'UnknownSession',
  [Err.newConfigNoQuorum]: 'NewConfigNoQuorum',
  [Err.reconfigInProgress]: 'ReconfigInProgress',
  [Err.apiError]: 'APIError',
  [Err.noNode]: 'NoNode',
  [Err.noAuth]: 'NoAuth',
  [Err.badVersion]: 'BadVersion',
  [Err.noChildrenForEphemerals]: 'NoChildrenForEphemerals',
  [Err.nodeExists]: 'NodeExists',
  [Err.notEmpty]: 'Directory not empty',
  [Err.sessionExpired]: 'Session expired',
  [Err.invalidCallback]: 'Invalid callback',
  [Err.invalidACL]: 'InvalidACL',
  [Err.authFailed]: 'AuthFailed',
  [Err.sessionMoved]: 'Session moved',
  [Err.notReadOnly]: 'Not a read-only call',
  [Err.ephemeralOnLocalSession]: 'Ephemeral node on local session',
  [Err.noWatcher]: 'No such watcher',
  [Err.reconfigDisabled]: 'Reconfig is disabled',
  [Err.sessionClosedRequireSaslAuth]: 'Session closed because client failed to authenticate',
  [Err.quotaExceeded]: 'Quota has exceeded',
};

/** A failed request: the ZooKeeper code, the path it named (if any), and for a failed multi every op's result. */
export class ZooKeeperError extends ZkError {
  constructor(
    code: number,
    readonly path?: string,
    /** multi: each op's outcome (the failing one carries the code, the others ok or runtimeInconsistency) */
    readonly results?: MultiResult[],
  ) {
    super(code, `KeeperErrorCode = ${codeNames[code] ?? `error ${code}`}${path === undefined ? '' : ` for ${path}`}`);
  }
}

type ErrorClass = new (path?: string, results?: MultiResult[]) => ZooKeeperError;

function errorClass(code: number, name: string): ErrorClass {
  const cls = class extends ZooKeeperError {
    constructor(path?: string, results?: MultiResult[]) {
      super(code, path, results);
    }
  };
  Object.defineProperty(cls, 'name', { value: name });
  Object.defineProperty(cls.prototype, 'name', { value: name });
  return cls;
}

export const SystemError = errorClass(Err.systemError, 'SystemError');
export const RuntimeInconsistencyError = errorClass(Err.runtimeInconsistency, 'RuntimeInconsistencyError');
export const DataInconsistencyError = errorClass(Err.dataInconsistency, 'DataInconsistencyError');
export const ConnectionLossError = errorClass(Err.connectionLoss, 'ConnectionLossError');
export const MarshallingError = errorClass(Err.marshallingError, 'MarshallingError');
export const UnimplementedError = errorClass(Err.unimplemented, 'UnimplementedError');
export const OperationTimeoutError = errorClass(Err.operationTimeout, 'OperationTimeoutError');
export const BadArgumentsError = errorClass(Err.badArguments, 'BadArgumentsError');
export const UnknownSessionError = errorClass(Err.unknownSession, 'UnknownSessionError');
export const NewConfigNoQuorumError = errorClass(Err.newConfigNoQuorum, 'NewConfigNoQuorumError');
export const ReconfigInProgressError = errorClass(Err.reconfigInProgress, 'ReconfigInProgressError');
export const APIError = errorClass(Err.apiError, 'APIError');
export const NoNodeError = errorClass(Err.noNode, 'NoNodeError');
export const NoAuthError = errorClass(Err.noAuth, 'NoAuthError');
export const BadVersionError = errorClass(Err.badVersion, 'BadVersionError');
export const NoChildrenForEphemeralsError = errorClass(Err.noChildrenForEphemerals, 'NoChildrenForEphemeralsError');
export const NodeExistsError = errorClass(Err.nodeExists, 'NodeExistsError');
export const NotEmptyError = errorClass(Err.notEmpty, 'NotEmptyError');
export const SessionExpiredError = errorClass(Err.sessionExpired, 'SessionExpiredError');
export const InvalidCallbackError = errorClass(Err.invalidCallback, 'InvalidCallbackError');
export const InvalidACLError = errorClass(Err.invalidACL, 'InvalidACLError');
export const AuthFailedError = errorClass(Err.authFailed, 'AuthFailedError');
export const SessionMovedError = errorClass(Err.sessionMoved, 'SessionMovedError');
export const NotReadOnlyError = errorClass(Err.notReadOnly, 'NotReadOnlyError');
export const EphemeralOnLocalSessionError = errorClass(Err.ephemeralOnLocalSession, 'EphemeralOnLocalSessionError');
export const NoWatcherError = errorClass(Err.noWatcher, 'NoWatcherError');
export const ReconfigDisabledError = errorClass(Err.reconfigDisabled, 'ReconfigDisabledError');
export const SessionClosedRequireAuthError = errorClass(Err.sessionClosedRequireSaslAuth, 'SessionClosedRequireAuthError');
export const QuotaExceededError = errorClass(Err.quotaExceeded, 'QuotaExceededError');

const byCode = new Map<number, ErrorClass>(
  [
    SystemError, RuntimeInconsistencyError, DataInconsistencyError, ConnectionLossError, MarshallingError, UnimplementedError,
    OperationTimeoutError, BadArgumentsError, UnknownSessionError, NewConfigNoQuorumError, ReconfigInProgressError, APIError,
    NoNodeError, NoAuthError, BadVersionError, NoChildrenForEphemeralsError, NodeExistsError, NotEmptyError, SessionExpiredError,
    InvalidCallbackError, InvalidACLError, AuthFailedError, SessionMovedError, NotReadOnlyError, EphemeralOnLocalSessionError,
    NoWatcherError, ReconfigDisabledError, SessionClosedRequireAuthError, QuotaExceededError,
  ].map((cls) => [new cls().code, cls]),
);

/** The error of `code`, as its own class when the protocol names the code. */
export function errorFor(code: number, path?: string, results?: MultiResult[]): ZooKeeperError {
  const cls = byCode.get(code);
  return cls ? new cls(path, results) : new ZooKeeperError(code, path, results);
}
