// How `paddock shell` prints and parses what zkCli.sh prints and parses
// (ZooKeeper's cli/StatPrinter, AclParser and CliWrapperException):
//
//   stat     "cZxid = 0x2", "ctime = Sat Dec 05 11:43:33 UTC 2026" (java.util.Date's
//            toString in the local time zone), … one field a line, in zkCli's order
//   ACL      printed "'world,'anyone" then ": cdrwa"; parsed from
//            "scheme:id:perms[,scheme:id:perms…]" where the id may itself hold colons
//            (digest:user:hash:perms) and perms are letters of "cdrwa"
//   errors   the sentence zkCli prints for a KeeperException ("Node does not exist: /a")
//
// Invariant: every string here is byte-for-byte what zkCli prints for the same value,
// so scripts written against zkCli's output read ours (test/shell.test.ts compares).

import { Err, Perm } from '../proto/constants.ts';
import type { ACL, Stat } from '../proto/records.ts';
import { ZooKeeperError } from '../client/errors.ts';
import { javaDate } from '../java-date.ts';

const hex = (n: number | bigint) => `0x${n.toString(16)}`;

/** The Stat as zkCli prints it, one "name = value" a line. */
export function formatStat(s: Stat): string[] {
  return [
    `cZxid = ${hex(s.czxid)}`,
    `ctime = ${javaDate(s.ctime, 'local')}`,
    `mZxid = ${hex(s.mzxid)}`,
    `mtime = ${javaDate(s.mtime, 'local')}`,
    `pZxid = ${hex(s.pzxid)}`,
    `cversion = ${s.cversion}`,
    `dataVersion = ${s.version}`,
    `aclVersion = ${s.aversion}`,
    `ephemeralOwner = ${hex(s.ephemeralOwner)}`,
    `dataLength = ${s.dataLength}`,
    `numChildren = ${s.numChildren}`,
  ];
}

/** The Stat with zkCli's field names, for --json (zxids and the owner as hex strings, times as ISO). */
export function statJson(s: Stat): Record<string, string | number> {
  return {
    cZxid: hex(s.czxid),
    ctime: new Date(s.ctime).toISOString(),
    mZxid: hex(s.mzxid),
    mtime: new Date(s.mtime).toISOString(),
    pZxid: hex(s.pzxid),
    cversion: s.cversion,
    dataVersion: s.version,
    aclVersion: s.aversion,
    ephemeralOwner: hex(s.ephemeralOwner),
    dataLength: s.dataLength,
    numChildren: s.numChildren,
  };
}

/** Permission letters in zkCli's order. */
const PERM_LETTERS: [string, number][] = [
  ['c', Perm.create],
  ['d', Perm.delete],
  ['r', Perm.read],
  ['w', Perm.write],
  ['a', Perm.admin],
];

export const permString = (perms: number): string => PERM_LETTERS.filter(([, bit]) => perms & bit).map(([l]) => l).join('');

export function formatAcl(acl: ACL[]): string[] {
  return acl.flatMap((a) => [`'${a.id.scheme},'${a.id.id}`, `: ${permString(a.perms)}`]);
}

/** An ACL from zkCli's text form; throws with zkCli's wording on a malformed entry. */
export function parseAcl(text: string): ACL[] {
  return text.split(',').map((entry) => {
    const first = entry.indexOf(':');
    const last = entry.lastIndexOf(':');
    if (first === -1 || first === last) throw new Error(`${entry} does not have the form scheme:id:perm`);
    let perms = 0;
    for (const letter of entry.slice(last + 1)) {
      const bit = PERM_LETTERS.find(([l]) => l === letter.toLowerCase());
      if (!bit) throw new Error(`Unknown perm type: ${letter}`);
      perms |= bit[1];
    }
    return { perms, id: { scheme: entry.slice(0, first), id: entry.slice(first + 1, last) } };
  });
}

/** zkCli's sentence for a failed request (CliWrapperException), else the error's own message. */
export function errorSentence(e: unknown): string {
  if (!(e instanceof ZooKeeperError)) return e instanceof Error ? e.message : String(e);
  const path = e.path ?? '';
  switch (e.code) {
    case Err.noNode:
      return `Node does not exist: ${path}`;
    case Err.noChildrenForEphemerals:
      return `Ephemerals cannot have children: ${path}`;
    case Err.nodeExists:
      return `Node already exists: ${path}`;
    case Err.notEmpty:
      return `Node not empty: ${path}`;
    case Err.notReadOnly:
      return `Not a read-only call: ${path}`;
    case Err.invalidACL:
      return `Acl is not valid : ${path}`;
    case Err.noAuth:
      return `Insufficient permission : ${path}`;
    case Err.badArguments:
      return `Argument error : ${path}`;
    case Err.badVersion:
      return `version No is not valid : ${path}`;
    default:
      return e.message;
  }
}
