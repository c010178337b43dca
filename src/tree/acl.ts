// ACL checks and the authentication schemes: the built-in world, auth, digest, ip,
// super and x509 (from TLS, src/tls), and sasl (SASLAuthenticationProvider) where an
// authProvider registers it.

import { createHash } from 'node:crypto';
import { Err, Perm, ZkError } from '../proto/constants.ts';
import type { ACL, Id } from '../proto/records.ts';
import { isDistinguishedName } from '../tls/x500.ts';

export const ANYONE: Id = { scheme: 'world', id: 'anyone' };
export const OPEN_ACL_UNSAFE: ACL[] = [{ perms: Perm.all, id: ANYONE }];
export const READ_ACL_UNSAFE: ACL[] = [{ perms: Perm.read, id: ANYONE }];
export const SUPER: Id = { scheme: 'super', id: '' };

/** `user:password` → `user:base64(sha1(user:password))`, as DigestAuthenticationProvider. */
export function digestOf(userPassword: string): string {
  const user = userPassword.split(':', 1)[0];
  return `${user}:${createHash('sha1').update(userPassword).digest('base64')}`;
}

/** The ids `addauth digest user:password` gives: the digest id, and super too when it is the superDigest's. */
export function digestAuthIds(userPassword: string, superDigest: string | null): Id[] {
  const id: Id = { scheme: 'digest', id: digestOf(userPassword) };
  return superDigest !== null && id.id === superDigest ? [id, SUPER] : [id];
}

function ipv4Bytes(addr: string): number[] | null {
  const parts = addr.split('.');
  if (parts.length !== 4) return null;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    out.push(n);
  }
  return out;
}

function ipMatches(clientAddr: string, aclExpr: string): boolean {
  const [addr, bitsText] = aclExpr.split('/', 2) as [string, string | undefined];
  const want = ipv4Bytes(addr);
  const have = ipv4Bytes(clientAddr.replace(/^::ffff:/, ''));
  if (!want || !have) return false;
  const bits = bitsText === undefined ? 32 : Number(bitsText);
  for (let i = 0; i < 4; i++) {
    const maskBits = Math.max(0, Math.min(8, bits - i * 8));
    const mask = (0xff << (8 - maskBits)) & 0xff;
    if ((want[i]! & mask) !== (have[i]! & mask)) return false;
  }
  return true;
}

/** Schemes no provider needs registering for (x509: the id a TLS client certificate gives, src/tls). */
const BUILT_IN: ReadonlySet<string> = new Set(['world', 'digest', 'ip', 'x509']);

/** Whether an ACL id is well-formed for its scheme (ServerAuthenticationProvider.isValid), its provider registered. */
function validId(id: Id, providers: ReadonlySet<string>): boolean {
  if (!BUILT_IN.has(id.scheme) && !providers.has(id.scheme)) return false;
  switch (id.scheme) {
    case 'world':
      return id.id === 'anyone';
    case 'digest':
      // Java's split(":") drops trailing empty strings: "u:" is one part.
      return id.id.replace(/:+$/, '').split(':').length === 2;
    case 'ip': {
      const [addr, bits] = id.id.split('/', 2) as [string, string | undefined];
      if (!ipv4Bytes(addr)) return false;
      return bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= 32);
    }
    case 'sasl':
      // ZooKeeper checks the id parses as a Kerberos name: an '@' must be in `name[/host]@realm`.
      return !id.id.includes('@') || /^[^/@]*(\/[^/@]*)?@[^/@]*$/.test(id.id);
    case 'x509':
      return isDistinguishedName(id.id);
    default:
      return false;
  }
}

/** Schemes whose ids the `auth` scheme expands to (providers that say isAuthenticated). */
const AUTHENTICATED_SCHEMES = new Set(['digest', 'sasl', 'x509']);

/**
 * The ACL a create/setACL stores, as ZooKeeper's fixupACL: duplicates dropped,
 * then `auth` expanded to the caller's authenticated ids; throws InvalidACL.
 * `providers`: the schemes registered beyond the built-in ones (authProvider.N).
 */
export function fixupACL(acl: ACL[] | null, authIds: readonly Id[], providers: ReadonlySet<string> = new Set()): ACL[] {
  const seen = new Set<string>();
  const unique = (acl ?? []).filter((a) => {
    const key = `${a.perms}\0${a.id.scheme}\0${a.id.id}`;
    return seen.has(key) ? false : (seen.add(key), true);
  });
  if (unique.length === 0) throw new ZkError(Err.invalidACL, 'empty ACL');
  const out: ACL[] = [];
  for (const a of unique) {
    if (a.id.scheme === 'auth') {
      const ids = authIds.filter((cid) => AUTHENTICATED_SCHEMES.has(cid.scheme) && (BUILT_IN.has(cid.scheme) || providers.has(cid.scheme)));
      if (ids.length === 0) throw new ZkError(Err.invalidACL, 'auth scheme without authenticated ids');
      for (const cid of ids) out.push({ perms: a.perms, id: cid });
    } else if (validId(a.id, providers)) {
      out.push(a);
    } else {
      throw new ZkError(Err.invalidACL, `invalid ACL id ${a.id.scheme}:${a.id.id}`);
    }
  }
  return out;
}

/** Whether one of `authIds` holds one of the `perm` bits on `acl` (an empty ACL lets everyone in; so does super). */
export function permits(acl: readonly ACL[], perm: number, authIds: readonly Id[]): boolean {
  if (acl.length === 0) return true;
  for (const id of authIds) if (id.scheme === 'super') return true;
  for (const a of acl) {
    if ((a.perms & perm) === 0) continue;
    const { scheme, id } = a.id;
    if (scheme === 'world' && id === 'anyone') return true;
    for (const cid of authIds) {
      if (cid.scheme !== scheme) continue;
      if (scheme === 'ip' ? ipMatches(cid.id, id) : cid.id === id) return true;
      // SASLAuthenticationProvider.matches: a sasl id named super matches every sasl entry.
      if (scheme === 'sasl' && cid.id === 'super') return true;
    }
  }
  return false;
}

/** Throws NoAuth unless skipACL is set or `permits` says yes. */
export function checkACL(acl: readonly ACL[], perm: number, authIds: readonly Id[], skipACL: boolean): void {
  if (!skipACL && !permits(acl, perm, authIds)) throw new ZkError(Err.noAuth);
}

/** What getACL shows a caller without ADMIN: digest hashes masked as `user:x`. */
export function maskDigests(acl: readonly ACL[]): ACL[] {
  return acl.map((a) => (a.id.scheme === 'digest' ? { perms: a.perms, id: { scheme: 'digest', id: a.id.id.replace(/:.*/s, ':x') } } : a));
}

/** Java's String.hashCode (over UTF-16 code units, wrapping at 32 bits). */
function javaStringHash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h;
}

/**
 * A session's ids in the order ZooKeeper lists them (whoAmI): its ServerCnxn keeps them
 * in a ConcurrentHashMap set, so they come by hash bucket of Id.hashCode, then in the
 * order they were added. (Exact up to 12 ids, while the table has its first 16 buckets.)
 */
export function inAuthInfoOrder(ids: readonly Id[]): Id[] {
  let buckets = 16;
  while (ids.length > buckets * 0.75) buckets *= 2;
  const bucket = (id: Id) => {
    const h = (Math.imul(Math.imul(17, 37) + javaStringHash(id.scheme), 37) + javaStringHash(id.id)) | 0;
    return (h ^ (h >>> 16)) & (buckets - 1);
  };
  return ids.map((id, at) => ({ id, at, b: bucket(id) })).sort((x, y) => x.b - y.b || x.at - y.at).map((x) => x.id);
}
