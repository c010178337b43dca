// Watch events honour ACLs (CVE-2024-23944, fixed in ZooKeeper 3.8.4 and in
// Debian's 3.8.0-11+deb12u2): an event reaches a watcher only if its session
// may READ the node the event is about, judged when the event fires. One script
// per server configuration, run against Apache ZooKeeper 3.8 and Paddock with
// the differential harness; every step's notifications must be exactly the ones
// written here, on both servers, and the two normalised runs must be identical.
//
//   node --import tsx --test test/differential/watch-acl.test.ts

import assert from 'node:assert/strict';
import test from 'node:test';
import { CreateMode, OPEN_ACL_UNSAFE } from '../../src/client/acl.ts';
import { AddWatchMode, EventType, OpCode, Perm } from '../../src/proto/constants.ts';
import type { ServerOptions } from '../support/servers.ts';
import { runAgainst, SERVER_OPTIONS } from './harness.ts';
import type { Normalised } from './normalize.ts';
import { digest, R, ScriptBuilder, SUPER_PASSWORD, world, type Step } from './script.ts';

const OPEN = OPEN_ACL_UNSAFE;
/** readable (and everything else) only by digest user u:p */
const SECRET = [digest('u', 'p')];
const EVENT_NAMES: Record<number, string> = Object.fromEntries(Object.entries(EventType).map(([name, n]) => [n, name]));

/** A script plus, for some steps, the notifications that must arrive with them (every other step: none). */
class Cases {
  readonly b = new ScriptBuilder();
  /** step index → events heard on that step's connection before its reply */
  readonly heardAt = new Map<number, string[]>();
  /** step index of a closeSession → events other connections received because of it */
  readonly causedAt = new Map<number, Record<string, string[]>>();

  on(s: string) {
    return this.b.on(s);
  }
  /** s pings; before the pong it must have been told exactly `events` ("nodeDeleted /x") since its last step */
  heard(s: string, ...events: string[]): void {
    this.b.on(s).ping();
    this.heardAt.set(this.b.steps.length - 1, events);
  }
  /** the step just added must have come with exactly `events` */
  withEvents(...events: string[]): void {
    this.heardAt.set(this.b.steps.length - 1, events);
  }
  /** close session s; the others must be told exactly `caused` */
  close(s: string, caused: Record<string, string[]>): void {
    this.b.close(s);
    this.causedAt.set(this.b.steps.length - 1, caused);
  }
  get steps(): readonly Step[] {
    return this.b.steps;
  }
}

const names = (events: unknown): string[] => (events as { type: number; path: string }[]).map((e) => `${EVENT_NAMES[e.type]} ${e.path}`);

/** Every step's notifications in `run` are the ones `cases` expects. */
function assertHeard(kind: string, cases: Cases, run: Normalised): void {
  for (const step of run.steps) {
    assert.deepEqual(names(step.events), cases.heardAt.get(step.i) ?? [], `${kind}: events with step ${step.i} [${step.s}] ${step.op}`);
    const caused = cases.causedAt.get(step.i);
    if (caused) {
      const got = (step.out as { causedElsewhere: Record<string, unknown> }).causedElsewhere;
      assert.deepEqual(Object.fromEntries(Object.entries(got).map(([s, evs]) => [s, names(evs)])), caused, `${kind}: events caused by step ${step.i} [${step.s}] closeSession`);
    }
  }
  assert.deepEqual(run.summary.leftovers, {}, `${kind}: notifications nobody drained`);
}

async function bothServers(cases: Cases, options: ServerOptions = SERVER_OPTIONS): Promise<void> {
  const zookeeper = await runAgainst('zookeeper', cases.steps, options);
  assertHeard('zookeeper', cases, zookeeper);
  const paddock = await runAgainst('paddock', cases.steps, options);
  assertHeard('paddock', cases, paddock);
  assert.deepStrictEqual(paddock, zookeeper);
}

/**
 * Sessions: O owns the nodes (digest u:p), A watches with no credentials but its
 * ip, SU is super, L authenticates midway, E owns ephemerals, G reconnects.
 */
function aclCases(): Cases {
  const c = new Cases();
  const O = c.on('O');
  const A = c.on('A');
  const SU = c.on('SU');
  const L = c.on('L');
  c.b.connect('O');
  O.exists('/'); // the run's zxid base
  O.auth('digest', 'u:p');
  c.b.connect('A');
  c.b.connect('SU');
  SU.auth('digest', `super:${SUPER_PASSWORD}`);
  c.b.connect('L');

  // The scenario: the child event of a readable parent is told, the
  // deletion of a node made unreadable first is not.
  O.create('/aw', 'x');
  O.create('/aw2', 'x');
  A.getData('/aw', true);
  A.getChildren('/aw2', true);
  O.setACL('/aw', SECRET);
  O.delete('/aw');
  O.create('/aw2/kid', 'k', 0, SECRET);
  c.heard('A', 'nodeChildrenChanged /aw2');

  // Data watch (getData): the ACL as it is when the event fires counts, and a
  // one-shot watch that fired untold is used up all the same.
  O.create('/d', 'x');
  A.getData('/d', true);
  O.setACL('/d', SECRET);
  O.setData('/d', '1');
  O.setACL('/d', OPEN);
  O.setData('/d', '2');
  c.heard('A');
  A.getData('/d', true);
  O.setACL('/d', SECRET);
  O.setACL('/d', OPEN); // readable again before the event
  O.delete('/d');
  c.heard('A', 'nodeDeleted /d');

  // Exists watch: NodeCreated is judged by the new node's ACL; exists reads no
  // ACL, so a watch on an unreadable node is set but never told.
  A.exists('/e', true);
  O.create('/e', 'x', 0, SECRET);
  c.heard('A');
  A.exists('/e', true);
  O.setData('/e', '1');
  O.setACL('/e', OPEN);
  O.setData('/e', '2'); // the watch is gone
  c.heard('A');
  A.exists('/e2', true);
  O.create('/e2', 'x', 0, [world(Perm.read), digest('u', 'p')]);
  c.heard('A', 'nodeCreated /e2');
  A.exists('/e2', true);
  O.delete('/e2');
  c.heard('A', 'nodeDeleted /e2');
  // every permission but READ is not enough
  A.exists('/e3', true);
  O.create('/e3', 'x', 0, [world(Perm.all & ~Perm.read), digest('u', 'p')]);
  c.heard('A');

  // Child watch: NodeChildrenChanged is judged by the parent's ACL, NodeDeleted
  // of the watched node by the ACL it had.
  O.create('/c', 'x');
  A.getChildren('/c', true);
  O.create('/c/hidden', 'h', 0, SECRET);
  c.heard('A', 'nodeChildrenChanged /c');
  A.getChildren('/c', true);
  O.setACL('/c', SECRET);
  O.delete('/c/hidden');
  O.setACL('/c', OPEN);
  O.create('/c/again'); // the watch is gone
  c.heard('A');
  O.create('/c2', 'x');
  A.getChildren('/c2', true);
  O.setACL('/c2', SECRET);
  O.delete('/c2');
  c.heard('A');

  // Persistent watch: hidden events do not end it.
  O.create('/p', 'x');
  A.addWatch('/p', AddWatchMode.persistent);
  O.setData('/p', '1');
  O.create('/p/k', 'x', 0, SECRET);
  c.heard('A', 'nodeDataChanged /p', 'nodeChildrenChanged /p');
  O.setACL('/p', SECRET);
  O.setData('/p', '2');
  O.delete('/p/k');
  c.heard('A');
  O.setACL('/p', OPEN);
  O.setData('/p', '3');
  O.delete('/p');
  c.heard('A', 'nodeDataChanged /p', 'nodeDeleted /p');

  // Persistent recursive watch, the CVE's own case: a readable parent does not
  // reveal children the session may not read. Each event is judged by the ACL of
  // the node it names (an open child under a secret one is told). Super hears all.
  O.create('/r', 'x');
  A.addWatch('/r', AddWatchMode.persistentRecursive);
  SU.addWatch('/r', AddWatchMode.persistentRecursive);
  O.create('/r/open', 'x');
  O.create('/r/secret', 's', 0, SECRET);
  O.setData('/r/secret', '1');
  O.create('/r/secret/kid', 'k');
  O.delete('/r/secret/kid');
  O.delete('/r/secret');
  O.setACL('/r/open', SECRET);
  O.delete('/r/open');
  O.multi(R.create('/r/m', 'x', 0, SECRET), R.setData('/r/m', 'y'), R.delete('/r/m'), R.create('/r/m2', 'x'));
  O.create('/r/ip-here', 'x', 0, [{ perms: Perm.read, id: { scheme: 'ip', id: '127.0.0.1' } }, digest('u', 'p')]);
  O.create('/r/ip-away', 'x', 0, [{ perms: Perm.all, id: { scheme: 'ip', id: '10.0.0.0/8' } }, digest('u', 'p')]);
  O.create('/r/no-read', 'x', 0, [world(Perm.all & ~Perm.read), digest('u', 'p')]);
  c.heard('A', 'nodeCreated /r/open', 'nodeCreated /r/secret/kid', 'nodeDeleted /r/secret/kid', 'nodeCreated /r/m2', 'nodeCreated /r/ip-here');
  c.heard(
    'SU',
    'nodeCreated /r/open',
    'nodeCreated /r/secret',
    'nodeDataChanged /r/secret',
    'nodeCreated /r/secret/kid',
    'nodeDeleted /r/secret/kid',
    'nodeDeleted /r/secret',
    'nodeDeleted /r/open',
    'nodeCreated /r/m',
    'nodeDataChanged /r/m',
    'nodeDeleted /r/m',
    'nodeCreated /r/m2',
    'nodeCreated /r/ip-here',
    'nodeCreated /r/ip-away',
    'nodeCreated /r/no-read',
  );

  // Auth added mid-session counts from then on; another user's digest does not.
  O.create('/l', 'x');
  L.addWatch('/l', AddWatchMode.persistentRecursive);
  O.create('/l/s', 'x', 0, SECRET);
  c.heard('L');
  L.auth('digest', 'v:q');
  O.setData('/l/s', '1');
  c.heard('L');
  L.auth('digest', 'u:p');
  O.setData('/l/s', '2');
  O.delete('/l/s');
  c.heard('L', 'nodeDataChanged /l/s', 'nodeDeleted /l/s');

  // Ephemerals deleted by closeSession: the same rule.
  c.b.connect('E');
  c.on('E').auth('digest', 'u:p');
  c.on('E').create('/eph-secret', 'x', CreateMode.ephemeral, SECRET);
  c.on('E').create('/eph-open', 'x', CreateMode.ephemeral);
  A.exists('/eph-secret', true);
  A.exists('/eph-open', true);
  SU.exists('/eph-secret', true);
  c.close('E', { A: ['nodeDeleted /eph-open'], SU: ['nodeDeleted /eph-secret'] });

  // setWatches after a reconnect: ZooKeeper 3.8 tells the events of changes it
  // missed without an ACL check; the watches it re-arms are checked as usual.
  O.create('/sw', 'x', 0, SECRET);
  O.create('/sw2', 'x', 0, SECRET);
  c.b.connect('G');
  c.b.add({ kind: 'mark', name: 'g' });
  c.b.add({ kind: 'drop', s: 'G' });
  O.setData('/sw', 'changed');
  c.b.reattach('G', 'G');
  c.on('G').req((ctx) => ({
    type: OpCode.setWatches,
    relativeZxid: ctx.marks.get('g')!,
    dataWatches: ['/sw', '/sw2'],
    existWatches: [],
    childWatches: [],
    persistentWatches: [],
    persistentRecursiveWatches: [],
  }));
  c.withEvents('nodeDataChanged /sw');
  O.setData('/sw2', 'changed');
  c.heard('G');

  c.b.close('A');
  c.b.close('SU');
  c.b.close('L');
  c.b.close('G');
  c.b.close('O');
  return c;
}

/** With zookeeper.skipACL=yes every watcher is told everything. */
function skipACLCases(): Cases {
  const c = new Cases();
  const O = c.on('O');
  const A = c.on('A');
  c.b.connect('O');
  O.exists('/');
  O.auth('digest', 'u:p');
  c.b.connect('A');
  O.create('/aw', 'x');
  O.create('/aw2', 'x');
  O.create('/r', 'x');
  A.getData('/aw', true);
  A.getChildren('/aw2', true);
  A.addWatch('/r', AddWatchMode.persistentRecursive);
  O.setACL('/aw', SECRET);
  O.delete('/aw');
  O.create('/aw2/kid', 'k', 0, SECRET);
  O.create('/r/secret', 's', 0, SECRET);
  O.setData('/r/secret', '1');
  c.heard('A', 'nodeDeleted /aw', 'nodeChildrenChanged /aw2', 'nodeCreated /r/secret', 'nodeDataChanged /r/secret');
  c.b.close('A');
  c.b.close('O');
  return c;
}

test('watch events honour ACLs: data, exists, child, persistent and recursive watches; super; auth mid-session; closeSession; setWatches', { timeout: 120_000 }, () =>
  bothServers(aclCases()),
);

test('watch events with zookeeper.skipACL=yes reach every watcher', { timeout: 120_000 }, () =>
  bothServers(skipACLCases(), { ...SERVER_OPTIONS, jvmFlags: [...SERVER_OPTIONS.jvmFlags, '-Dzookeeper.skipACL=yes'] }),
);
