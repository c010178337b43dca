// Human-readable and JSON renderings of logged txns, for `paddock txnlog FILE [--json]`.
// The text form follows ZooKeeper's TxnLogToolkit dump:
//   <date time> session 0x<id> cxid 0x<cxid> zxid 0x<zxid> <type> <record fields>

import { OpName } from '../proto/constants.ts';
import type { ACL } from '../proto/records.ts';
import type { TxnBody } from '../proto/txn.ts';
import type { LogEnd, LoggedTxn, ParsedLogFile } from './txnlog-format.ts';

const hex = (n: number | bigint): string => (typeof n === 'bigint' ? BigInt.asUintN(64, n) : n >= 0 ? n : n >>> 0).toString(16);
const typeName = (t: number): string => OpName[t] ?? `unknown${t}`;

/** Data as TxnLogToolkit shows it: UTF-8 text, empty for null. */
const text = (d: Buffer | null): string => (d ? d.toString('utf8') : '');
const aclText = (acl: ACL[]): string => `[${acl.map((a) => `${a.perms},${a.id.scheme}:${a.id.id}`).join(', ')}]`;

function bodyText(b: TxnBody): string {
  switch (b.type) {
    case -10: // createSession
      return `${b.timeOut}`;
    case -11: // closeSession
      return `[${b.paths.join(', ')}]`;
    case 1:
    case 15:
      return `${b.path},${text(b.data)},${aclText(b.acl)},${b.ephemeral},${b.parentCVersion}`;
    case 19:
      return `${b.path},${text(b.data)},${aclText(b.acl)},${b.parentCVersion}`;
    case 21:
      return `${b.path},${text(b.data)},${aclText(b.acl)},${b.parentCVersion},${b.ttl}`;
    case 2:
    case 20:
      return b.path;
    case 5:
      return `${b.path},${text(b.data)},${b.version}`;
    case 7:
      return `${b.path},${aclText(b.acl)},${b.version}`;
    case 13:
      return `${b.path},${b.version}`;
    case 14:
      return b.txns.map((t) => `${typeName(t.type)}:${bodyText(t)}`).join(';');
    case -1:
      return `${b.err}`;
  }
}

function dateText(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? `${ms}` : d.toLocaleString('en-US', { dateStyle: 'short', timeStyle: 'long' });
}

export function txnLine(t: LoggedTxn): string {
  const h = t.hdr;
  return `${dateText(h.time)} session 0x${hex(h.clientId)} cxid 0x${hex(h.cxid)} zxid 0x${hex(h.zxid)} ${typeName(h.type)} ${bodyText(t.body)}`;
}

/** Data for JSON: text when it is valid UTF-8, base64 otherwise. */
function jsonData(d: Buffer | null): Record<string, string | null> {
  if (d === null) return { data: null };
  const s = d.toString('utf8');
  return Buffer.from(s, 'utf8').equals(d) ? { data: s } : { dataBase64: d.toString('base64') };
}

function bodyJson(b: TxnBody): Record<string, unknown> {
  const out: Record<string, unknown> = { type: typeName(b.type) };
  for (const [k, v] of Object.entries(b)) {
    if (k === 'type') continue;
    if (k === 'data') Object.assign(out, jsonData(v as Buffer | null));
    else if (k === 'txns') out.txns = (v as TxnBody[]).map(bodyJson);
    else out[k] = v;
  }
  return out;
}

export function txnJson(t: LoggedTxn, offset: number): string {
  const h = t.hdr;
  const line: Record<string, unknown> = {
    offset,
    time: h.time,
    session: `0x${hex(h.clientId)}`,
    cxid: h.cxid,
    zxid: h.zxid,
    zxidHex: `0x${hex(h.zxid)}`,
    ...bodyJson(t.body),
  };
  if (t.digest) line.digest = { version: t.digest.version, treeDigest: `0x${hex(t.digest.treeDigest)}` };
  return JSON.stringify(line);
}

function endText(end: LogEnd, count: number): string {
  if (end.kind === 'clean') return `EOF reached after ${count} txns.`;
  const what = end.torn ? 'incomplete last entry (torn write)' : 'CORRUPT entry';
  return `${what} at offset ${end.offset}: ${end.reason}\nStopped after ${count} txns.`;
}

export function renderLogFile(parsed: ParsedLogFile, json: boolean): string {
  const lines: string[] = [];
  const { header, records, end } = parsed;
  if (json) {
    if (header) lines.push(JSON.stringify({ fileHeader: { magic: `0x${hex(header.magic)}`, version: header.version, dbid: header.dbid } }));
    for (const r of records) lines.push(txnJson(r.txn, r.offset));
    lines.push(JSON.stringify(end.kind === 'clean' ? { end: 'eof', offset: end.offset, txns: records.length } : { end: end.torn ? 'torn' : 'corrupt', offset: end.offset, reason: end.reason, txns: records.length }));
  } else {
    if (header) lines.push(`ZooKeeper Transactional Log File with dbid ${header.dbid} txnlog format version ${header.version}`);
    for (const r of records) lines.push(txnLine(r.txn));
    lines.push(endText(end, records.length));
  }
  return lines.join('\n') + '\n';
}
