// ACL helpers and create modes for client code.

import { createHash } from 'node:crypto';
import { Err, Perm } from '../proto/constants.ts';
import type { ACL } from '../proto/records.ts';

export const OPEN_ACL_UNSAFE: ACL[] = [{ perms: Perm.all, id: { scheme: 'world', id: 'anyone' } }];
export const CREATOR_ALL_ACL: ACL[] = [{ perms: Perm.all, id: { scheme: 'auth', id: '' } }];
export const READ_ACL_UNSAFE: ACL[] = [{ perms: Perm.read, id: { scheme: 'world', id: 'anyone' } }];

/** CreateMode flags (the `flags` field of CreateRequest). */
export const CreateMode = {
  persistent: 0,
  ephemeral: 1,
  persistentSequential: 2,
  ephemeralSequential: 3,
  container: 4,
  persistentWithTTL: 5,
  persistentSequentialWithTTL: 6,
} as const;

export const isTTLMode = (mode: number): boolean => mode === CreateMode.persistentWithTTL || mode === CreateMode.persistentSequentialWithTTL;

/** The ACL id the digest provider derives from `user:password`: `user:` + base64(sha1(user:password)). */
export function digestId(user: string, password: string): string {
  return `${user}:${createHash('sha1').update(`${user}:${password}`).digest('base64')}`;
}

/** ACL granting `perms` to digest user `user`/`password`. */
export const digestACL = (user: string, password: string, perms: number = Perm.all): ACL => ({
  perms,
  id: { scheme: 'digest', id: digestId(user, password) },
});

const errNames: Record<number, string> = Object.fromEntries(Object.entries(Err).map(([k, v]) => [v, k]));

/** Symbolic name of an error code, e.g. -101 => "noNode". */
export const errorName = (code: number): string => errNames[code] ?? `error${code}`;
