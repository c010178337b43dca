// Reply bodies of the client protocol. The body's layout is fixed by the opcode
// of the request it answers; a reply only has a body when ReplyHeader.err is 0.

import { JuteError, type JuteReader, type JuteWriter } from '../jute/archive.ts';
import { OpCode } from './constants.ts';
import { readACL, readStat, writeACL, writeStat, type ACL, type Stat } from './records.ts';

export interface ClientInfo {
  authScheme: string;
  user: string;
}

/** One reply body; which fields are present depends on the opcode. */
export interface Response {
  path?: string;
  data?: Buffer | null;
  stat?: Stat;
  acl?: ACL[];
  children?: string[];
  count?: number;
  clientInfo?: ClientInfo[];
  results?: MultiResult[];
  /** sasl: the server's SASL token (SetSASLResponse) */
  token?: Buffer | null;
}

/** One op's outcome inside a multi / multiRead reply. */
export interface MultiResult extends Response {
  /** the op type, as ZooKeeper reports it (-1 for an error) */
  type: number;
  err: number;
}

export const ReplyHeaderSize = 16;

export function writeReplyHeader(w: JuteWriter, xid: number, zxid: number, err: number): void {
  w.int(xid).long(zxid).int(err);
}

const writeStrings = (w: JuteWriter, l: readonly string[]) => w.vector(l, (x, s) => x.ustring(s));
const readStrings = (r: JuteReader) => r.vector((x) => x.string()) ?? [];

export function writeResponse(w: JuteWriter, type: number, res: Response): void {
  switch (type) {
    case OpCode.create:
    case OpCode.sync:
      w.ustring(res.path!);
      return;
    case OpCode.create2:
    case OpCode.createContainer:
    case OpCode.createTTL:
      w.ustring(res.path!);
      writeStat(w, res.stat!);
      return;
    case OpCode.exists:
    case OpCode.setData:
    case OpCode.setACL:
      writeStat(w, res.stat!);
      return;
    case OpCode.getData:
      w.buffer(res.data ?? null);
      writeStat(w, res.stat!);
      return;
    case OpCode.getACL:
      w.vector(res.acl!, writeACL);
      writeStat(w, res.stat!);
      return;
    case OpCode.getChildren:
    case OpCode.getEphemerals:
      writeStrings(w, res.children!);
      return;
    case OpCode.getChildren2:
      writeStrings(w, res.children!);
      writeStat(w, res.stat!);
      return;
    case OpCode.getAllChildrenNumber:
      w.int(res.count!);
      return;
    case OpCode.addWatch:
      w.int(0);
      return;
    case OpCode.whoAmI:
      w.vector(res.clientInfo!, (x, c) => x.ustring(c.authScheme).ustring(c.user));
      return;
    case OpCode.sasl:
      w.buffer(res.token ?? null);
      return;
    case OpCode.multi:
    case OpCode.multiRead:
      for (const r of res.results!) {
        w.int(r.type).bool(false).int(r.err);
        if (r.type === OpCode.error) w.int(r.err);
        else writeResponse(w, r.type, r);
      }
      w.int(-1).bool(true).int(-1);
      return;
    default:
      return; // delete, check, setWatches, auth, ping, closeSession, removeWatches, checkWatches: no body
  }
}

export function readResponse(type: number, r: JuteReader): Response {
  switch (type) {
    case OpCode.create:
    case OpCode.sync:
      return { path: r.string() };
    case OpCode.create2:
    case OpCode.createContainer:
    case OpCode.createTTL:
      return { path: r.string(), stat: readStat(r) };
    case OpCode.exists:
    case OpCode.setData:
    case OpCode.setACL:
      return { stat: readStat(r) };
    case OpCode.getData:
      return { data: r.buffer(), stat: readStat(r) };
    case OpCode.getACL:
      return { acl: r.vector(readACL) ?? [], stat: readStat(r) };
    case OpCode.getChildren:
    case OpCode.getEphemerals:
      return { children: readStrings(r) };
    case OpCode.getChildren2:
      return { children: readStrings(r), stat: readStat(r) };
    case OpCode.getAllChildrenNumber:
      return { count: r.int() };
    case OpCode.whoAmI:
      return { clientInfo: r.vector((x) => ({ authScheme: x.string(), user: x.string() })) ?? [] };
    case OpCode.sasl:
      return { token: r.buffer() };
    case OpCode.multi:
    case OpCode.multiRead: {
      const results: MultiResult[] = [];
      for (;;) {
        const t = r.int();
        const done = r.bool();
        const err = r.int();
        if (done) break;
        if (t === OpCode.multi || t === OpCode.multiRead) throw new JuteError('multi result nested in a multi reply');
        if (t === OpCode.error) results.push({ type: t, err: r.int() });
        else results.push({ type: t, err, ...readResponse(t, r) });
      }
      return { results };
    }
    default:
      return {};
  }
}

/** The body of a notification (xid -1). */
export interface WatcherEvent {
  type: number;
  state: number;
  path: string;
}

export const readWatcherEvent = (r: JuteReader): WatcherEvent => ({ type: r.int(), state: r.int(), path: r.string() });
