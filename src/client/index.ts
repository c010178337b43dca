// Paddock's ZooKeeper client library.

export { ZooKeeperClient, MultiError, parseConnectString, type ConnectOptions, type RawReply, type WatchEvent } from './client.ts';
export { op, createRequest, toBuffer, type CreateOptions, type Data } from './ops.ts';
export { CreateMode, OPEN_ACL_UNSAFE, CREATOR_ALL_ACL, READ_ACL_UNSAFE, digestId, digestACL, errorName, isTTLMode } from './acl.ts';
export { FrameDecoder } from './frames.ts';
export { ZkError, Err, OpCode, EventType, WatcherType, AddWatchMode, Perm, KeeperState } from '../proto/constants.ts';
export type { ACL, Id, Stat, Request } from '../proto/records.ts';
export type { MultiResult, Response, ClientInfo } from '../proto/responses.ts';
