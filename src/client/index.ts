// Paddock's ZooKeeper client library. Applications use connect() / ZooKeeper (one session over a list of servers,
// reconnecting); ZooKeeperClient is the wire-level single connection underneath, which tests use to probe servers.

export { connect, ZooKeeper, validatePath, type SessionState, type ZooKeeperOptions, type CallOptions, type VersionOptions, type WatchOptions, type RemoveWatchesOptions } from './zookeeper.ts';
export { Transaction, type OpResult } from './transaction.ts';
export type { WatchEvent, WatchEventType, Watcher, WatcherTypeName } from './watches.ts';
export * from './errors.ts';
export { ZooKeeperClient, MultiError, parseConnectString, formatAddress, type ConnectOptions, type RawReply, type ServerAddress, type WatchEvent as RawWatchEvent } from './client.ts';
export { op, createRequest, toBuffer, type CreateOptions, type Data } from './ops.ts';
export { CreateMode, OPEN_ACL_UNSAFE, CREATOR_ALL_ACL, READ_ACL_UNSAFE, digestId, digestACL, errorName, isTTLMode } from './acl.ts';
export { FrameDecoder } from './frames.ts';
export { ZkError, Err, OpCode, EventType, WatcherType, AddWatchMode, Perm, KeeperState } from '../proto/constants.ts';
export type { ACL, Id, Stat, Request } from '../proto/records.ts';
export type { MultiResult, Response, ClientInfo } from '../proto/responses.ts';
// Recipes (Curator's): built on ZooKeeper above, exported here so that one import serves an application.
export * from '../recipes/index.ts';
