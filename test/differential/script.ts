// The differential script: hand-written edge cases followed by two seeded random
// walks (general traffic, then watches meeting ACLs and credentials), as a flat
// list of steps run strictly one after another (a step's replies arrive before
// the next step starts), so both servers see the same input.

import { CREATOR_ALL_ACL, CreateMode, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, digestId } from '../../src/client/acl.ts';
import { AddWatchMode, OpCode, Perm, WatcherType } from '../../src/proto/constants.ts';
import type { ACL, Request } from '../../src/proto/records.ts';
import { rng } from '../support/random.ts';

export interface ScriptCtx {
  /** zxid marks taken by 'mark' steps: the highest zxid seen in any reply so far */
  marks: Map<string, number>;
}

export type ReqSpec = Request | ((ctx: ScriptCtx) => Request);

export type Step =
  /** open a new session on handle s */
  | { kind: 'connect'; s: string; timeout: number; readOnly?: boolean }
  /** open handle s on the session of handle `target` (its id; right or wrong password) */
  | { kind: 'reattach'; s: string; target: string; password: 'right' | 'wrong' }
  /** one request; expectClose: also record whether the server closed the connection; noReplyMs: a reply may never come */
  | { kind: 'req'; s: string; req: ReqSpec; expectClose?: boolean; noReplyMs?: number }
  /** an arbitrary opcode with a hand-encoded body */
  | { kind: 'raw'; s: string; type: number; payload: Buffer; expectClose?: boolean }
  /** requests written back to back without waiting; replies recorded in order */
  | { kind: 'pipeline'; s: string; reqs: Request[] }
  /** closeSession */
  | { kind: 'close'; s: string }
  /** drop the TCP connection, keep the session */
  | { kind: 'drop'; s: string }
  /** wait up to ms for the server to close handle s's connection; records whether it did */
  | { kind: 'awaitClose'; s: string; ms: number }
  | { kind: 'mark'; name: string };

export const SUPER_PASSWORD = 'secret';
/** -Dzookeeper.DigestAuthenticationProvider.superDigest value for super:secret */
export const SUPER_DIGEST = digestId('super', SUPER_PASSWORD);

const OPEN = OPEN_ACL_UNSAFE;
export const world = (perms: number): ACL => ({ perms, id: { scheme: 'world', id: 'anyone' } });
export const digest = (user: string, password: string, perms: number = Perm.all): ACL => ({ perms, id: { scheme: 'digest', id: digestId(user, password) } });
const buf = (d: string | null | Buffer | undefined): Buffer | null => (d === null || d === undefined ? null : typeof d === 'string' ? Buffer.from(d) : d);

// ---- request builders ----
export const R = {
  create: (path: string, data: string | null | Buffer = null, flags = 0, acl: ACL[] = OPEN): Request => ({ type: OpCode.create, path, data: buf(data), acl, flags }),
  create2: (path: string, data: string | null | Buffer = null, flags = 0, acl: ACL[] = OPEN): Request => ({ type: OpCode.create2, path, data: buf(data), acl, flags }),
  container: (path: string, data: string | null = null, flags: number = CreateMode.container, acl: ACL[] = OPEN): Request => ({ type: OpCode.createContainer, path, data: buf(data), acl, flags }),
  ttl: (path: string, ttl: number, flags: number = CreateMode.persistentWithTTL, data: string | null = null, acl: ACL[] = OPEN): Request => ({ type: OpCode.createTTL, path, data: buf(data), acl, flags, ttl }),
  delete: (path: string, version = -1): Request => ({ type: OpCode.delete, path, version }),
  setData: (path: string, data: string | null | Buffer, version = -1): Request => ({ type: OpCode.setData, path, data: buf(data), version }),
  check: (path: string, version: number): Request => ({ type: OpCode.check, path, version }),
  exists: (path: string, watch = false): Request => ({ type: OpCode.exists, path, watch }),
  getData: (path: string, watch = false): Request => ({ type: OpCode.getData, path, watch }),
  getChildren: (path: string, watch = false): Request => ({ type: OpCode.getChildren, path, watch }),
  getChildren2: (path: string, watch = false): Request => ({ type: OpCode.getChildren2, path, watch }),
  getACL: (path: string): Request => ({ type: OpCode.getACL, path }),
  setACL: (path: string, acl: ACL[], version = -1): Request => ({ type: OpCode.setACL, path, acl, version }),
  sync: (path: string): Request => ({ type: OpCode.sync, path }),
  multi: (...ops: Request[]): Request => ({ type: OpCode.multi, ops }),
  multiRead: (...ops: Request[]): Request => ({ type: OpCode.multiRead, ops }),
  auth: (scheme: string, auth: string): Request => ({ type: OpCode.auth, authType: 0, scheme, auth: Buffer.from(auth) }),
  addWatch: (path: string, mode: number): Request => ({ type: OpCode.addWatch, path, mode }),
  removeWatches: (path: string, watcherType: number): Request => ({ type: OpCode.removeWatches, path, watcherType }),
  checkWatches: (path: string, watcherType: number): Request => ({ type: OpCode.checkWatches, path, watcherType }),
  getEphemerals: (path: string): Request => ({ type: OpCode.getEphemerals, path }),
  count: (path: string): Request => ({ type: OpCode.getAllChildrenNumber, path }),
  whoAmI: (): Request => ({ type: OpCode.whoAmI }),
  ping: (): Request => ({ type: OpCode.ping }),
};

/** Appends steps; `on(s)` gives a builder bound to one session handle. */
export class ScriptBuilder {
  readonly steps: Step[] = [];
  add(step: Step): this {
    this.steps.push(step);
    return this;
  }
  connect(s: string, timeout = 30_000, readOnly?: boolean): this {
    return this.add({ kind: 'connect', s, timeout, readOnly });
  }
  reattach(s: string, target: string, password: 'right' | 'wrong' = 'right'): this {
    return this.add({ kind: 'reattach', s, target, password });
  }
  close(s: string): this {
    return this.add({ kind: 'close', s });
  }
  on(s: string) {
    const req = (r: ReqSpec, extra: { expectClose?: boolean; noReplyMs?: number } = {}) => this.add({ kind: 'req', s, req: r, ...extra });
    return {
      req,
      ...Object.fromEntries(Object.entries(R).map(([k, f]) => [k, (...a: unknown[]) => req((f as (...x: unknown[]) => Request)(...a))])),
    } as { req: typeof req } & { [K in keyof typeof R]: (...a: Parameters<(typeof R)[K]>) => ScriptBuilder };
  }
}

/** Hand-written edge cases. Session handles: A, B, C main; others short-lived. */
function edgeCases(b: ScriptBuilder): void {
  const A = b.on('A');
  const B = b.on('B');
  const C = b.on('C');

  // -- sessions and the initial tree
  b.connect('A', 30_000);
  A.exists('/'); // first reply: its zxid is the run's zxid base (A's createSession)
  b.connect('B', 1_000); // clamped up to 2 x tick
  b.connect('C', 100_000); // clamped down to 20 x tick
  b.connect('RO', 30_000, true); // readOnly byte on a read-write server
  b.on('RO').getData('/zookeeper');
  b.close('RO');
  A.getData('/');
  A.getChildren2('/');
  A.getACL('/');
  A.getData('/zookeeper');
  A.getChildren('/zookeeper');
  A.getChildren2('/zookeeper');
  A.getData('/zookeeper/config');
  A.getACL('/zookeeper/config');
  A.exists('/zookeeper/quota');
  A.count('/');
  A.count('/zookeeper');
  A.getEphemerals('/');
  A.whoAmI();
  A.sync('/');
  A.sync('/nope');
  A.ping();

  // -- bad paths (BadArguments for writes; reads just miss)
  const badPaths = ['/a/', '//x', '/a//b', '/a/./b', '/a/../b', '/.', '/..', '/a/.', 'noslash', '', '/a\u0000b', '/a\u0001', '/a\u007f', '/a\u0085', '/a\ue000', '/a\ufff5'];
  for (const p of badPaths) A.create(p, 'x');
  A.create('/a', 'a');
  A.create2('/a/', 'x');
  A.create('/a/b\u0000', 'x');
  A.delete('/a/');
  A.setData('/a/', 'x');
  A.setACL('/a/', OPEN);
  for (const p of ['/a/', '//x', '/a/./b', 'noslash', '', '/a\u0000b']) A.exists(p);
  A.getData('/a/');
  A.getChildren('//x');
  A.getChildren2('/a/.');
  A.getACL('noslash');
  A.count('/a/');
  A.sync('/a/');
  A.sync('');
  A.getEphemerals('/a/');
  A.multi(R.create('/a/ok'), R.create('/a/bad/'), R.create('/a/ok2'));
  A.getChildren2('/a');

  // -- system nodes
  A.delete('/');
  A.delete('/zookeeper');
  A.delete('/zookeeper/quota');
  A.delete('/zookeeper/config');
  A.create('/', 'x');
  A.create('/zookeeper', 'x');
  A.create('/zookeeper/x', 'x');
  A.delete('/zookeeper/x');
  A.setData('/zookeeper/config', 'x');
  A.setACL('/zookeeper/config', OPEN);

  // -- create flags and extended types (extendedTypesEnabled=true)
  for (const flags of [7, 9, -1, 100]) A.create(`/flags${flags}`, 'x', flags);
  A.create2('/flags-c2', 'x', CreateMode.container); // container flag via create2
  A.getData('/flags-c2');
  A.create('/flags-ttl', 'x', CreateMode.persistentWithTTL); // TTL flag via plain create
  A.container('/ctr-flags0', null, 0); // createContainer with flags 0
  A.container('/ctr-flags1', null, CreateMode.ephemeral);
  A.getData('/ctr-flags1');
  A.ttl('/ttl0', 0);
  A.ttl('/ttl-neg', -5);
  A.ttl('/ttl-big', 0x10000000000);
  A.ttl('/ttl-max', 0xffffffffff);
  A.ttl('/ttl-flags0', 1000, CreateMode.persistent);
  A.ttl('/ttl-flags1', 1000, CreateMode.ephemeral);
  A.ttl('/ttl-flags4', 1000, CreateMode.container);
  A.ttl('/ttl1', 100_000, CreateMode.persistentWithTTL, 'ttl');
  A.getData('/ttl1');
  A.ttl('/ttl1', 100_000);
  A.create('/ttls');
  A.ttl('/ttls/t-', 50_000, CreateMode.persistentSequentialWithTTL, 'seq');
  A.ttl('/ttls/t-', 50_000, CreateMode.persistentSequentialWithTTL, 'seq');
  A.getChildren2('/ttls');
  A.ttl('/ttl1/child', 100_000);
  A.create('/ttl1/child2', 'x');
  A.getChildren2('/ttl1');
  A.container('/ctr', 'c');
  A.getData('/ctr');
  A.create('/ctr/c1', 'x');
  A.container('/ctr/c2');
  A.delete('/ctr/c1');
  A.getChildren2('/ctr');
  A.exists('/ctr');
  A.container('/ctr', 'dup');
  A.container('/nope/ctr');
  A.getEphemerals('/');

  // -- NoNode / NodeExists / BadVersion / NotEmpty
  A.create('/nope/child', 'x');
  A.create2('/nope/child', 'x');
  A.delete('/nope');
  A.setData('/nope', 'x');
  A.getACL('/nope');
  A.setACL('/nope', OPEN);
  A.getData('/nope');
  A.getChildren('/nope');
  A.getChildren2('/nope');
  A.count('/nope');
  A.create('/n', 'n');
  A.create('/n', 'again');
  A.create2('/n', 'again');
  A.setData('/n', 'v1', 0);
  A.setData('/n', 'v?', 0);
  A.setData('/n', 'v2', 1);
  A.setData('/n', 'v3', -1);
  A.setData('/n', 'v?', 99);
  A.delete('/n', 0);
  A.create('/n/c', 'c');
  A.delete('/n');
  A.delete('/n', 3);
  A.delete('/n', 7); // wrong version and not empty
  A.delete('/n/c', 1);
  A.delete('/n/c', 0);
  A.delete('/n/c');
  A.getChildren2('/n');
  A.delete('/n', 3);
  A.exists('/n');
  A.setACL('/a', OPEN, 3);
  A.setACL('/a', OPEN, 0);
  A.setACL('/a', OPEN, 0);
  A.setACL('/a', OPEN, 1);
  A.getACL('/a');

  // -- null data vs empty data
  A.create('/nd', null);
  A.getData('/nd');
  A.setData('/nd', '');
  A.getData('/nd');
  A.setData('/nd', null);
  A.getData('/nd');
  A.create2('/nd/e', '');
  A.getData('/nd/e');
  A.setData('/nd/e', Buffer.from([0, 1, 2, 255]));
  A.getData('/nd/e');
  const big = Buffer.alloc(300_000, 0x5a);
  A.create('/big', big);
  A.getData('/big');
  A.setData('/big', Buffer.alloc(1000, 0x41));
  A.getData('/big');

  // -- sequential nodes and cversion arithmetic
  A.create('/seq');
  A.create('/seq/s-', 's', CreateMode.persistentSequential);
  A.create2('/seq/s-', 's', CreateMode.persistentSequential);
  A.getChildren2('/seq');
  A.delete('/seq/s-0000000000');
  A.getChildren2('/seq');
  A.create('/seq/s-', 's', CreateMode.persistentSequential);
  A.create('/seq/plain');
  A.delete('/seq/plain');
  A.delete('/seq/plain');
  A.create('/seq/s-', 's', CreateMode.persistentSequential);
  A.getChildren2('/seq');
  A.create('/seq/s-0000000006', 'manual');
  A.create('/seq/s-', 's', CreateMode.persistentSequential); // collides with the manual node
  A.create('/seq/s-', 's', CreateMode.persistentSequential);
  A.create('/seq/', 'slash', CreateMode.persistentSequential); // parent "/seq" + suffix
  A.create('/seq/', 'slash', CreateMode.persistent);
  A.create('/seq/x/', 'x', CreateMode.persistentSequential);
  A.create('/nope/s-', 's', CreateMode.persistentSequential);
  A.multi(R.create('/seq/m-', 'm', CreateMode.persistentSequential), R.create('/seq/m-', 'm', CreateMode.persistentSequential), R.delete('/seq/s-0000000001'));
  A.multi(R.create('/seq/m-', 'm', CreateMode.persistentSequential), R.check('/seq', 99));
  A.create('/seq/m-', 'm', CreateMode.persistentSequential);
  A.getChildren2('/seq');
  A.count('/seq');
  A.exists('/seq');

  // -- ephemerals (owned by C)
  C.create('/eph', 'e', CreateMode.ephemeral);
  C.create2('/eph2', 'e', CreateMode.ephemeral);
  C.create('/eph/x', 'x');
  C.create('/eph/s-', 'x', CreateMode.persistentSequential);
  C.create('/eph/e', 'x', CreateMode.ephemeral);
  C.container('/eph/c');
  C.ttl('/eph/t', 1000);
  A.create('/eph/x', 'x');
  C.create('/ephs');
  C.create('/ephs/e-', 'x', CreateMode.ephemeralSequential);
  C.create('/ephs/e-', 'x', CreateMode.ephemeralSequential);
  C.create2('/seq/e-', 'x', CreateMode.ephemeralSequential);
  C.getData('/eph');
  C.getEphemerals('/');
  C.getEphemerals('');
  C.getEphemerals('/eph');
  C.getEphemerals('/ephs/');
  C.getEphemerals('/nomatch');
  A.getEphemerals('/');
  C.setData('/eph', 'changed');
  A.setData('/eph', 'by A');
  A.delete('/eph2');
  C.getEphemerals('/');
  C.count('/ephs');
  C.create('/eph2', 'again', CreateMode.ephemeral);

  // -- digest auth and ACLs
  A.auth('digest', 'u1:p1');
  A.whoAmI();
  A.create('/acl1', 'secret', 0, [digest('u1', 'p1')]);
  A.create('/acl2', 'creator', 0, CREATOR_ALL_ACL);
  A.getACL('/acl2');
  A.create('/acl3', 'mixed', 0, [digest('u1', 'p1', Perm.read | Perm.write), world(Perm.read)]);
  A.getACL('/acl3'); // no ADMIN on /acl3
  A.create('/acl4', 'x', 0, [world(Perm.read), world(Perm.read)]); // duplicate entries
  A.getACL('/acl4');
  A.create('/acl5', 'x', 0, [{ perms: Perm.all, id: { scheme: 'ip', id: '127.0.0.1' } }]);
  A.create('/acl6', 'x', 0, [{ perms: Perm.all, id: { scheme: 'ip', id: '10.0.0.0/8' } }]);
  A.create('/aclr', 'r', 0, READ_ACL_UNSAFE);
  A.create('/aclr/c', 'x');
  A.setData('/aclr', 'x');
  A.setACL('/aclr', OPEN);
  A.create('/acl0', 'x', 0, [world(0)]);
  A.getData('/acl0');
  A.getACL('/acl0');
  A.create('/acl-cd', 'x', 0, [world(Perm.create | Perm.read)]);
  A.create('/acl-cd/c', 'x');
  A.delete('/acl-cd/c');
  // InvalidACL
  A.create('/bad1', 'x', 0, []);
  A.create('/bad2', 'x', 0, [{ perms: Perm.all, id: { scheme: 'world', id: 'someone' } }]);
  A.create('/bad3', 'x', 0, [{ perms: Perm.all, id: { scheme: 'digest', id: 'nocolon' } }]);
  A.create('/bad4', 'x', 0, [{ perms: Perm.all, id: { scheme: 'ip', id: 'not-an-ip' } }]);
  A.create('/bad5', 'x', 0, [{ perms: Perm.all, id: { scheme: 'bogus', id: 'x' } }]);
  A.create('/bad6', 'x', 0, [{ perms: Perm.all, id: { scheme: 'super', id: '' } }]);
  A.create('/nope/bad1', 'x', 0, []); // ACL checked before the parent
  A.setACL('/a', []);
  A.setACL('/a', [{ perms: Perm.all, id: { scheme: 'world', id: 'someone' } }]);
  B.create('/bad7', 'x', 0, CREATOR_ALL_ACL); // "auth" with no authenticated id
  // NoAuth from an unauthenticated session
  B.getData('/acl1');
  B.exists('/acl1');
  B.getACL('/acl1');
  B.getChildren('/acl1');
  B.getChildren2('/acl1');
  B.count('/acl1');
  B.setData('/acl1', 'x');
  B.setACL('/acl1', OPEN);
  B.create('/acl1/c', 'x');
  A.create('/acl1-sib', 'x', 0, [digest('u1', 'p1')]);
  B.delete('/acl1-sib'); // delete needs DELETE on the parent only
  B.getData('/acl3');
  B.getACL('/acl3');
  B.getData('/acl5');
  B.getData('/acl6');
  B.multiRead(R.getData('/acl1'), R.getChildren('/acl1'), R.getData('/acl3'));
  B.multi(R.setData('/acl3', 'x'), R.create('/acl3x'));
  B.multi(R.check('/acl1', 0));
  A.create('/acl1/c', 'child');
  B.delete('/acl1/c');
  B.sync('/acl1');
  // aversion
  A.setACL('/acl1', [digest('u1', 'p1'), world(Perm.read)], 1);
  A.setACL('/acl1', [digest('u1', 'p1'), world(Perm.read)], 0);
  A.getACL('/acl1');
  B.getData('/acl1');
  A.setACL('/acl1', [digest('u1', 'p1')], -1);
  A.getACL('/acl1');
  // B authenticates
  B.auth('digest', 'u1:p1');
  B.getData('/acl1');
  B.auth('digest', 'u2:wrong');
  B.auth('digest', 'u1:p1');
  B.whoAmI();
  B.getACL('/acl3');
  B.create('/acl-b', 'x', 0, CREATOR_ALL_ACL);
  B.getACL('/acl-b');
  // super
  b.connect('SU', 30_000);
  b.on('SU').auth('digest', `super:${SUPER_PASSWORD}`);
  b.on('SU').whoAmI();
  b.on('SU').getData('/acl0');
  b.on('SU').setData('/acl0', 'super was here');
  b.on('SU').create('/aclr/c', 'x');
  b.on('SU').delete('/aclr/c');
  b.on('SU').setData('/zookeeper/config', 'x', 5);
  b.close('SU');
  A.delete('/aclr');
  A.getData('/aclr');
  // odd credentials on throwaway sessions (a failed auth closes the connection)
  b.connect('E', 30_000);
  b.on('E').auth('digest', 'nocolon');
  b.on('E').whoAmI();
  b.on('E').auth('ip', '127.0.0.1');
  b.add({ kind: 'awaitClose', s: 'E', ms: 300 });
  b.on('E').whoAmI();
  b.add({ kind: 'drop', s: 'E' });
  b.reattach('E', 'E');
  b.on('E').whoAmI();
  b.on('E').req(R.auth('bogus', 'x'), { expectClose: true });
  b.reattach('E', 'E');
  b.on('E').req(R.auth('digest', ''), { expectClose: true });
  b.on('E').whoAmI();
  b.reattach('E', 'E');
  b.close('E');

  // -- multi
  A.create('/m', 'm');
  B.getData('/m', true);
  B.getChildren('/m', true);
  A.multi(R.create('/m/a', 'a'), R.create2('/m/b', 'b'), R.setData('/m', 'm1', 0), R.check('/m', 1), R.delete('/m/a'), R.container('/m/c'), R.ttl('/m/t', 5000));
  B.exists('/m');
  A.multi(R.create('/m/x'), R.setData('/nope', 'x'), R.create('/m/y'));
  A.getChildren2('/m');
  A.multi(R.check('/m', 0));
  A.multi(R.check('/m', 1), R.check('/nope', -1));
  A.multi(R.check('/m', 1));
  A.multi(R.create('/m/d'), R.create('/m/d'));
  A.multi(R.delete('/m/b'), R.delete('/m/b'));
  A.multi(R.create('/m/e', 'x', CreateMode.ephemeral), R.create('/m/e/x'));
  A.multi(R.create('/m/f', 'x', 9));
  A.multi(R.create('/m/g', 'x', 0, []));
  A.multi(R.setACL('/m', OPEN)); // setACL is not a multi op
  A.multi(R.getData('/m')); // reads are not multi ops
  A.multi();
  A.multi(R.create('/m/h'), R.delete('/m/h'), R.create('/m/h', 'again'));
  A.multi(R.delete('/m/h'), R.delete('/m'));
  A.multi(R.delete('/m/b'), R.delete('/m/c'), R.delete('/m/t'), R.delete('/m/h'), R.delete('/m'));
  A.exists('/m');
  B.exists('/m');
  A.create('/m', 'back');
  A.create('/m/k', 'k');
  A.multiRead(R.getData('/m'), R.getChildren('/m'), R.getData('/nope'), R.getChildren('/nope'), R.getData('/m/k'), R.getData('/a/'));
  A.multiRead();
  A.multiRead(R.create('/m/z'));
  A.multiRead(R.exists('/m'));
  A.multiRead(R.getData('/m', true)); // watch flag is ignored in multiRead
  A.setData('/m', 'no event');
  A.multiRead(R.getData('/acl1'), R.getData('/acl0'));

  // -- watches
  B.exists('/w', true);
  B.exists('/w', true);
  A.create('/w', 'w');
  B.getData('/w', true);
  A.setData('/w', 'w1');
  A.setData('/w', 'w2');
  B.getChildren('/w', true);
  A.create('/w/c', 'c');
  A.create('/w/d', 'd');
  B.getData('/w/c', true);
  B.exists('/w/c', true);
  B.getChildren('/w/c', true);
  B.getChildren('/w', true);
  A.delete('/w/c');
  B.exists('/w/c');
  A.getData('/w', true);
  A.setData('/w', 'self');
  A.getChildren2('/w', true);
  C.getData('/w', true);
  B.getData('/w', true);
  A.delete('/w/d');
  A.setData('/w', 'all');
  B.getData('/w/nope', true);
  B.getChildren('/w/nope', true);
  A.create('/w/nope');
  A.delete('/w/nope');
  // persistent and recursive watches
  B.addWatch('/pw', AddWatchMode.persistent);
  A.create('/pw', 'p');
  A.create('/pw/c', 'c');
  A.setData('/pw', 'p1');
  A.setData('/pw/c', 'c1');
  A.create('/pw/c/d');
  A.delete('/pw/c/d');
  A.delete('/pw/c');
  B.checkWatches('/pw', WatcherType.persistent);
  B.removeWatches('/pw', WatcherType.data);
  B.removeWatches('/pw', WatcherType.persistent);
  B.removeWatches('/pw', WatcherType.persistent);
  A.setData('/pw', 'p2');
  B.addWatch('/rw', AddWatchMode.persistentRecursive);
  B.addWatch('/rw', 7);
  A.create('/rw', 'r');
  A.create('/rw/a', 'a');
  A.create('/rw/a/b', 'b');
  A.setData('/rw/a/b', 'b1');
  A.setData('/rw', 'r1');
  A.multi(R.create('/rw/m1'), R.setData('/rw/m1', 'x'), R.delete('/rw/m1'));
  A.delete('/rw/a/b');
  B.getData('/rw/a', true); // one-shot + recursive on the same path
  A.setData('/rw/a', 'a1');
  B.checkWatches('/rw', WatcherType.persistentRecursive);
  B.checkWatches('/rw', WatcherType.any);
  B.removeWatches('/rw', WatcherType.persistentRecursive);
  A.setData('/rw/a', 'a2');
  B.addWatch('/pw', AddWatchMode.persistent);
  B.addWatch('/pw', AddWatchMode.persistentRecursive);
  A.create('/pw/both');
  B.removeWatches('/pw', WatcherType.any);
  A.delete('/pw/both');
  // checkWatches / removeWatches
  B.checkWatches('/w', WatcherType.data);
  B.checkWatches('/w', WatcherType.children);
  B.checkWatches('/nope', WatcherType.any);
  B.removeWatches('/nope', WatcherType.any);
  B.getData('/w', true);
  B.getChildren('/w', true);
  B.checkWatches('/w', WatcherType.data);
  B.checkWatches('/w', WatcherType.children);
  B.removeWatches('/w', WatcherType.children);
  B.checkWatches('/w', WatcherType.children);
  B.checkWatches('/w', WatcherType.any);
  A.create('/w/quiet');
  B.removeWatches('/w', WatcherType.any);
  B.removeWatches('/w', WatcherType.any);
  B.checkWatches('/w', 9);
  B.removeWatches('/w/', WatcherType.data);
  A.setData('/w', 'quiet');
  B.exists('/w-missing', true);
  B.checkWatches('/w-missing', WatcherType.data);
  B.removeWatches('/w-missing', WatcherType.data);
  A.create('/w-missing');
  // watches on another session's ephemerals, fired by closeSession
  B.exists('/eph', true);
  B.getChildren('/ephs', true);
  A.getData('/eph/e', true);
  C.getData('/eph', true);
  A.addWatch('/ephs', AddWatchMode.persistentRecursive);

  // -- pipelined requests on one connection
  b.add({
    kind: 'pipeline',
    s: 'A',
    reqs: [
      R.create('/p', 'p'),
      R.create('/p/1', '1'),
      R.create('/p/1', 'dup'),
      R.getData('/p/1', true),
      R.setData('/p/1', 'one', 0),
      R.setData('/p/1', 'one', 0),
      R.getChildren2('/p'),
      R.create('/p/s-', 's', CreateMode.persistentSequential),
      R.create('/p/s-', 's', CreateMode.persistentSequential),
      R.exists('/p/2', true),
      R.create('/p/2', '2', CreateMode.ephemeral),
      R.multi(R.create('/p/3'), R.delete('/p/2')),
      R.getData('/nope'),
      R.sync('/p'),
      R.delete('/p/1'),
      R.count('/p'),
      R.getEphemerals('/p'),
      R.multiRead(R.getChildren('/p'), R.getData('/p/3')),
      R.ping(),
      R.whoAmI(),
      R.getACL('/p'),
      R.setACL('/p', OPEN, 0),
      R.delete('/p'),
    ],
  });

  // -- close C: its ephemerals go, watchers hear about it
  b.close('C');
  A.exists('/eph');
  B.getData('/eph');
  A.getChildren2('/ephs');
  A.getChildren2('/seq');
  A.getChildren2('/eph/x');
  A.getEphemerals('/');
  B.getChildren('/ephs');

  // -- unknown opcode: -6, then the connection is closed; the session survives
  b.connect('D', 30_000);
  b.on('D').create('/d-eph', 'd', CreateMode.ephemeral);
  b.add({ kind: 'raw', s: 'D', type: 999, payload: Buffer.alloc(0), expectClose: true });
  b.reattach('D', 'D');
  b.on('D').exists('/d-eph');
  b.on('D').getEphemerals('/');
  b.add({ kind: 'raw', s: 'D', type: 0, payload: Buffer.alloc(0), expectClose: true });
  b.reattach('D2', 'D', 'wrong');
  b.reattach('D', 'D');
  // deleteContainer is server-internal; from a client it is a failed write (-8, zxid used)
  b.add({ kind: 'raw', s: 'D', type: OpCode.deleteContainer, payload: Buffer.from('\0\0\0\x04/ctr', 'latin1') });
  b.add({ kind: 'raw', s: 'D', type: OpCode.deleteContainer, payload: Buffer.from('\0\0\0\x02/a', 'latin1') });
  A.exists('/ctr');
  // (opcode -10, createSession, is not probed: 3.8.0 answers it with xid 0 and may
  // leave a session behind whose expiry would land at an unpredictable zxid)
  // reattaching while connected takes the session over; the old connection is closed
  b.reattach('D3', 'D');
  b.add({ kind: 'awaitClose', s: 'D', ms: 2000 });
  b.on('D3').getEphemerals('/');
  b.close('D3');
  b.reattach('D4', 'D'); // session is gone
  A.exists('/d-eph');

  // -- check sent alone (outside multi): ZooKeeper 3.8.0 logs a txn for it and
  // never replies (observed); the connection stays open. Give it a short window.
  b.connect('F', 30_000);
  b.on('F').req(R.check('/a', 0), { noReplyMs: 300 });
  b.add({ kind: 'drop', s: 'F' });
  b.reattach('F', 'F');
  b.on('F').exists('/a');
  b.close('F');
  A.exists('/a');

  // -- setWatches after a reattach (xid -8)
  b.connect('G', 30_000);
  b.add({ kind: 'mark', name: 'g' });
  A.create('/sw', 'x');
  A.create('/sw/kid');
  A.setData('/a', 'changed');
  b.add({ kind: 'drop', s: 'G' });
  b.reattach('G', 'G');
  b.on('G').req((ctx) => ({
    type: OpCode.setWatches,
    relativeZxid: ctx.marks.get('g')!,
    dataWatches: ['/a', '/gone', '/n'],
    existWatches: ['/sw', '/not-yet'],
    childWatches: ['/sw', '/gone', '/seq'],
    persistentWatches: [],
    persistentRecursiveWatches: [],
  }));
  b.on('G').req((ctx) => ({
    type: OpCode.setWatches2,
    relativeZxid: ctx.marks.get('g')!,
    dataWatches: [],
    existWatches: [],
    childWatches: [],
    persistentWatches: ['/sw'],
    persistentRecursiveWatches: ['/rw'],
  }));
  A.create('/not-yet');
  A.setData('/seq', 'x');
  A.create('/seq/g');
  A.create('/sw/kid2');
  A.setData('/rw/a', 'g');
  b.on('G').sync('/');
  b.close('G');
}

// ---- seeded random walk ----


/** A seeded source of random choices. */
function chooser(seed: number) {
  const rand = rng(seed);
  return {
    rand,
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)],
    chance: (p: number) => rand() < p,
  };
}

function randomWalk(b: ScriptBuilder, seed: number, n: number): void {
  const { rand, pick, chance } = chooser(seed);
  const paths = ['/g', '/g/a', '/g/b', '/g/a/x', '/g/a/y', '/g/b/x', '/g/b/x/z', '/g/e', '/g/q', '/g/q/s-0000000001', '/g/q/s-0000000003', '/g/a/x/deep'];
  const sessions = ['R1', 'R2', 'R3'];
  const data = () => pick([null, '', 'x', 'hello', `v${Math.floor(rand() * 100)}`]);
  const version = () => (chance(0.5) ? -1 : Math.floor(rand() * 3));
  const acls: ACL[][] = [OPEN, OPEN, [world(Perm.read | Perm.write | Perm.create | Perm.delete)], [world(Perm.read | Perm.admin)], READ_ACL_UNSAFE];
  const write = (): Request => {
    const p = pick(paths);
    switch (pick(['create', 'create', 'create2', 'create2', 'delete', 'delete', 'setData', 'check'] as const)) {
      case 'create':
      case 'create2': {
        const mode = pick([0, 0, 0, 1, 1, 2, 3, 4]);
        const parent = mode === 2 || mode === 3 ? '/g/q/s-' : p;
        if (mode === 4) return R.container(parent, data());
        return (chance(0.5) ? R.create : R.create2)(parent, data(), mode, chance(0.1) ? pick(acls) : OPEN);
      }
      case 'delete':
        return R.delete(p === '/g' ? pick(paths) : p, version());
      case 'setData':
        return R.setData(p, data(), version());
      default:
        return R.check(p, version());
    }
  };
  for (const s of sessions) b.connect(s, 30_000);
  b.on('R1').create('/g');
  for (let i = 0; i < n; i++) {
    const s = pick(sessions);
    const S = b.on(s);
    const p = pick(paths);
    const r = rand();
    if (r < 0.35) {
      const w = write();
      if (w.type === OpCode.check) S.multi(w);
      else S.req(w);
    } else if (r < 0.5) S.req(pick([R.exists, R.getData, R.getChildren, R.getChildren2])(p, chance(0.6)));
    else if (r < 0.6) S.multi(...Array.from({ length: 1 + Math.floor(rand() * 4) }, write));
    else if (r < 0.65) S.multiRead(...Array.from({ length: 1 + Math.floor(rand() * 3) }, () => (chance(0.5) ? R.getData(pick(paths)) : R.getChildren(pick(paths)))));
    else if (r < 0.7) S.getACL(p);
    else if (r < 0.74) S.setACL(p, pick(acls), version());
    else if (r < 0.78) S.count(p);
    else if (r < 0.81) S.getEphemerals(pick(['/', '/g', '/g/q']));
    else if (r < 0.84) S.sync(p);
    else if (r < 0.88) S.exists(p, true);
    else if (r < 0.9) S.addWatch(pick(['/g', '/g/a', '/g/q']), pick([0, 1]));
    else if (r < 0.93) S.removeWatches(p, pick([1, 2, 3, 3, 4]));
    else if (r < 0.95) S.checkWatches(p, pick([1, 2, 3]));
    else if (r < 0.97 && s === 'R3') {
      // R3 leaves and a fresh session takes its handle: its ephemerals vanish
      b.close('R3');
      b.connect('R3', 30_000);
    } else S.getChildren2(pick(paths), chance(0.5));
  }
  for (const s of sessions) {
    b.on(s).getChildren2('/g');
    b.on(s).getEphemerals('/');
  }
  for (const s of sessions) b.close(s);
}

/**
 * A seeded walk of watches meeting ACLs: nodes created and re-ACLed to digest
 * users u1/u2, READ-less and ip ACLs; sessions that authenticate midway (the
 * wrong password too) or start over without credentials; a super session; one-shot,
 * persistent and recursive watches under it all. Watchers ping now and then so
 * each event is compared on the step it arrives with.
 */
function aclWalk(b: ScriptBuilder, seed: number, n: number): void {
  const { rand, pick } = chooser(seed);
  const paths = ['/h', '/h/a', '/h/b', '/h/a/x', '/h/a/y', '/h/b/x', '/h/b/x/z', '/h/a/x/deep'];
  const sessions = ['H1', 'H2', 'H3', 'HS'];
  const allButRead = Perm.all & ~Perm.read;
  const acls: ACL[][] = [
    OPEN,
    OPEN,
    [digest('u1', 'p1')],
    [digest('u2', 'p2')],
    [digest('u1', 'p1'), digest('u2', 'p2', Perm.read)],
    [world(allButRead), digest('u1', 'p1', Perm.read)],
    [world(allButRead)],
    [world(Perm.read | Perm.create | Perm.delete), digest('u2', 'p2')],
    [{ perms: Perm.read, id: { scheme: 'ip', id: '127.0.0.1' } }, world(allButRead)],
    READ_ACL_UNSAFE,
  ];
  const credentials = ['u1:p1', 'u1:p1', 'u2:p2', 'u1:wrong'];
  const write = (): Request => {
    const p = pick(paths);
    switch (pick(['create', 'create', 'delete', 'setData', 'setData'] as const)) {
      case 'create':
        return R.create(p, `c${Math.floor(rand() * 10)}`, pick([0, 0, 0, CreateMode.ephemeral]), pick(acls));
      case 'delete':
        return R.delete(p === '/h' ? pick(paths) : p);
      default:
        return R.setData(p, `d${Math.floor(rand() * 10)}`);
    }
  };
  const start = (s: string) => {
    b.connect(s, 30_000);
    if (s === 'HS') b.on(s).auth('digest', `super:${SUPER_PASSWORD}`);
  };
  for (const s of sessions) start(s);
  b.on('HS').create('/h');
  b.on('HS').addWatch('/h', AddWatchMode.persistentRecursive);
  for (let i = 0; i < n; i++) {
    const s = pick(sessions);
    const S = b.on(s);
    const p = pick(paths);
    const r = rand();
    if (r < 0.28) S.req(write());
    else if (r < 0.43) S.setACL(p, pick(acls));
    else if (r < 0.5) S.multi(...Array.from({ length: 1 + Math.floor(rand() * 3) }, write));
    else if (r < 0.65) S.req(pick([R.exists, R.getData, R.getChildren, R.getChildren2])(p, true));
    else if (r < 0.7) S.addWatch(pick(['/h', '/h/a', '/h/b', '/h/a/x']), pick([AddWatchMode.persistent, AddWatchMode.persistentRecursive]));
    else if (r < 0.72) S.removeWatches(p, pick([WatcherType.any, WatcherType.persistentRecursive]));
    else if (r < 0.76 && s !== 'HS') S.auth('digest', pick(credentials));
    else if (r < 0.78 && s !== 'HS') {
      // a fresh session on the handle: no credentials, no watches, ephemerals gone
      b.close(s);
      start(s);
    } else if (r < 0.84) S.getACL(p);
    else S.ping();
  }
  for (const s of sessions) b.on(s).ping();
  for (const s of sessions) b.close(s);
}

export interface Script {
  seed: number;
  steps: Step[];
}

export function buildScript(seed = 20240601, randomOps = 350, aclOps = 700): Script {
  const b = new ScriptBuilder();
  edgeCases(b);
  randomWalk(b, seed, randomOps);
  aclWalk(b, seed ^ 0x5eed, aclOps);
  // final reads from the survivors drain their notifications, then everyone leaves
  b.on('A').getChildren2('/');
  b.on('B').getChildren2('/');
  b.on('A').count('/');
  b.close('A');
  b.on('B').exists('/eph-final-check');
  b.close('B');
  return { seed, steps: b.steps };
}
