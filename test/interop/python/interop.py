#!/usr/bin/python3
"""Interop scenarios driven through kazoo 2.8.0 (pure-Python ZooKeeper client).

    /usr/bin/python3 interop.py <via> <direct> <scenario|all>

<via> is a TCP proxy in front of the server that the harness can cut/block on
request ("CTL cut|block|unblock" on stdout, answered "OK ..." on stdin);
<direct> is the server itself. One JSON line per scenario on stdout. Every
check compares a real outcome with the expected one.

Not expressible with kazoo 2.8.0's public API (reported as "skip"):
  persistent_recursive  no addWatch (arrived in kazoo 2.9)
  container, ttl        create() has no container / TTL flag

kazoo 2.8.0 quirk exercised by "reconnect": on connection loss it fires every
pending watcher with a NONE event and forgets it (it never sends setWatches),
so a watch armed before the drop does not survive the reconnect.
"""

import json
import logging
import os
import queue
import sys
import time

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import (
    BadVersionError,
    InvalidACLError,
    NoAuthError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    RuntimeInconsistency,
    ZookeeperError,
)
from kazoo.protocol.states import EventType
from kazoo.security import (
    CREATOR_ALL_ACL,
    READ_ACL_UNSAFE,
    Permissions,
    make_digest_acl,
    make_digest_acl_credential,
)

CLIENT = "python"
SCENARIOS = [
    "crud", "sequential", "ephemeral_close", "ephemeral_expiry",
    "watch_data", "watch_exists", "watch_child", "watch_delete",
    "persistent_recursive", "multi_ok", "multi_fail", "acl_noauth",
    "digest_auth", "session_expiry", "reconnect", "container", "ttl",
]
UNSUPPORTED = {
    "persistent_recursive": "kazoo 2.8.0 has no addWatch (persistent watches arrived in kazoo 2.9)",
    "container": "kazoo 2.8.0 create() has no container flag (no CreateContainer request)",
    "ttl": "kazoo 2.8.0 create() has no TTL (no CreateTTL request)",
}

WAIT = 10.0          # any single expected event / state
EXPIRY_WAIT = 20.0   # server-side expiry
SESSION = 4.0        # seconds (kazoo takes seconds)
SHORT_SESSION = 1.0  # for expiry scenarios (server min is 2*tick)
USER, PASSWORD = "interop", "secret"

EVENT_NAMES = {
    EventType.CREATED: "NodeCreated",
    EventType.DELETED: "NodeDeleted",
    EventType.CHANGED: "NodeDataChanged",
    EventType.CHILD: "NodeChildrenChanged",
    EventType.NONE: "None",
}


class Failure(Exception):
    pass


class Skip(Exception):
    pass


class Ctx:
    def __init__(self, via, direct, name):
        self.via = via
        self.direct = direct
        self.name = name
        self.checks = 0
        self.notes = []
        self.open = []
        self.blocked = False
        self.sentinels = 0
        self.base = "/interop-%s-%s-%d-%d" % (CLIENT, name.replace("_", "-"), os.getpid(), time.time_ns() % 1000000)

    # ---- checks -----------------------------------------------------------

    def check(self, ok, what):
        if not ok:
            raise Failure(what)
        self.checks += 1

    def eq(self, actual, expected, what):
        self.check(actual == expected, "%s: expected %r, got %r" % (what, expected, actual))

    def expect_err(self, exc_class, what, fn, *args, **kwargs):
        try:
            fn(*args, **kwargs)
        except exc_class:
            self.checks += 1
            return
        except Exception as e:  # noqa: BLE001
            raise Failure("%s: expected %s, got %s: %s" % (what, exc_class.__name__, type(e).__name__, e))
        raise Failure("%s: expected %s but the call succeeded" % (what, exc_class.__name__))

    def ctl(self, cmd):
        sys.stdout.write("CTL %s\n" % cmd)
        sys.stdout.flush()
        reply = sys.stdin.readline().strip()
        if reply != "OK " + cmd:
            raise Failure("control %r refused: %r" % (cmd, reply))
        if cmd == "block":
            self.blocked = True
        elif cmd == "unblock":
            self.blocked = False

    # ---- connections ------------------------------------------------------

    def connect(self, hosts, timeout=SESSION):
        states = queue.Queue()
        zk = KazooClient(
            hosts=hosts,
            timeout=timeout,
            randomize_hosts=False,
            # retry the (single) host quickly and forever; the scenarios bound the waits
            connection_retry=dict(max_tries=-1, delay=0.05, backoff=1, max_delay=0.2),
            command_retry=dict(max_tries=0),
        )
        zk.add_listener(lambda st: states.put(st))
        zk.start(timeout=WAIT)
        self.open.append(zk)
        zk.interop_states = states
        return zk

    def await_state(self, zk, want, timeout, what):
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            left = deadline - time.monotonic()
            try:
                st = zk.interop_states.get(timeout=max(left, 0)) if left > 0 else None
            except queue.Empty:
                st = None
            if st is None:
                raise Failure("%s: no %s state within %.1fs (saw %s)" % (what, want, timeout, seen))
            if st == want:
                self.checks += 1
                return
            seen.append(st)

    def mk_base(self, zk):
        self.eq(zk.create(self.base, b"base"), self.base, "create base")

    def create(self, zk, path, data=b""):
        self.eq(zk.create(path, data), path, "create " + path)

    # ---- events -----------------------------------------------------------

    def sentinel(self, zk, ev):
        """Arm an exists watch on a fresh sentinel with the same event queue,
        create it, and return every event that arrived before its NodeCreated
        (events are delivered in server order)."""
        path = "%s/sentinel-%d" % (self.base, self.sentinels)
        self.sentinels += 1
        self.check(zk.exists(path, watch=ev.watch) is None, "sentinel %s absent" % path)
        zk.create(path, b"")
        extra = []
        deadline = time.monotonic() + WAIT
        while True:
            e = ev.next(deadline - time.monotonic())
            if e is None:
                raise Failure("sentinel event for %s not received; saw %s" % (path, extra))
            if e == "NodeCreated " + path:
                return extra
            extra.append(e)


class Events:
    """One-shot watch callback that records 'Type path' strings."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.q = queue.Queue()

    def watch(self, event):
        self.q.put("%s %s" % (EVENT_NAMES.get(event.type, event.type), event.path))

    def next(self, timeout):
        if timeout <= 0:
            return None
        try:
            return self.q.get(timeout=timeout)
        except queue.Empty:
            return None

    def expect(self, want, timeout, what):
        got = self.next(timeout)
        self.ctx.check(got == want, "%s: expected event %r, got %s" % (
            what, want, "nothing within %.1fs" % timeout if got is None else repr(got)))


def digest_id():
    return make_digest_acl_credential(USER, PASSWORD)


# ---- scenarios ---------------------------------------------------------------

def crud(c):
    zk = c.connect(c.via)
    c.mk_base(zk)
    n = c.base + "/n"
    path, cs = zk.create(n, b"v0", include_data=True)
    c.eq(path, n, "create returns the path")
    c.check(cs.version == 0 and cs.czxid == cs.mzxid == cs.pzxid and cs.czxid > 0,
            "create2 stat: version 0, czxid==mzxid==pzxid>0: %r" % (cs,))
    c.check(cs.dataLength == 2 and cs.numChildren == 0 and cs.ephemeralOwner == 0 and cs.cversion == 0
            and cs.aversion == 0 and cs.ctime == cs.mtime > 0, "create2 stat fields: %r" % (cs,))
    es = zk.exists(n)
    c.eq(es, cs, "exists stat equals create2 stat")
    data, gs = zk.get(n)
    c.eq(data, b"v0", "get after create")
    c.eq(gs.version, 0, "version after create")
    ss = zk.set(n, b"v1!", version=0)
    c.check(ss.version == 1 and ss.mzxid > ss.czxid and ss.czxid == cs.czxid and ss.dataLength == 3
            and ss.mtime >= ss.ctime, "set stat: %r" % (ss,))
    c.expect_err(BadVersionError, "set with stale version", zk.set, n, b"v2", version=0)
    data, gs = zk.get(n)
    c.eq(data, b"v1!", "get after set")
    c.eq(gs.version, 1, "version after set")
    c.expect_err(NodeExistsError, "create existing node", zk.create, n, b"")
    c.expect_err(NoNodeError, "create under a missing parent", zk.create, c.base + "/missing/x", b"")
    c.create(zk, n + "/c2")
    c.create(zk, n + "/c1")
    c.eq(sorted(zk.get_children(n)), ["c1", "c2"], "get_children")
    kids, ps = zk.get_children(n, include_data=True)
    c.check(ps.numChildren == 2 and ps.cversion == 2 and ps.version == 1, "parent stat after 2 creates: %r" % (ps,))
    c.expect_err(NotEmptyError, "delete a node with children", zk.delete, n)
    c.expect_err(BadVersionError, "delete with wrong version", zk.delete, n + "/c1", version=5)
    zk.delete(n + "/c1", version=0)
    zk.delete(n + "/c2")
    c.eq(zk.get_children(n), [], "no children after deletes")
    ps = zk.exists(n)
    c.check(ps.numChildren == 0 and ps.cversion == 4, "parent stat after 2 deletes: %r" % (ps,))
    c.expect_err(BadVersionError, "delete with stale version", zk.delete, n, version=0)
    zk.delete(n, version=1)
    c.check(zk.exists(n) is None, "exists after delete is None")
    c.expect_err(NoNodeError, "get of deleted node", zk.get, n)
    c.expect_err(NoNodeError, "set of deleted node", zk.set, n, b"x")
    c.expect_err(NoNodeError, "get_children of deleted node", zk.get_children, n)
    c.expect_err(NoNodeError, "delete of deleted node", zk.delete, n)


def sequential(c):
    zk = c.connect(c.via)
    c.mk_base(zk)
    pre = c.base + "/s-"
    got = [zk.create(pre, str(i).encode(), sequence=True) for i in range(3)]
    got.append(zk.create(pre, b"e", ephemeral=True, sequence=True))
    c.create(zk, c.base + "/plain")
    got.append(zk.create(pre, b"", sequence=True))
    zk.delete(got[0])
    got.append(zk.create(pre, b"", sequence=True))
    # suffix = parent's cversion before the create: +1 per create (any kind), deletes don't count
    for i, want in enumerate([0, 1, 2, 3, 5, 6]):
        c.eq(got[i], pre + "%010d" % want, "sequential name #%d" % i)
    st = zk.exists(got[3])
    c.check(st is not None and st.ephemeralOwner == zk.client_id[0], "ephemeral sequential owner: %r" % (st,))
    c.eq(zk.get(got[1])[0], b"1", "data of sequential node")
    c.eq(sorted(zk.get_children(c.base)),
         ["plain", "s-0000000001", "s-0000000002", "s-0000000003", "s-0000000005", "s-0000000006"], "children")


def ephemeral_close(c):
    a = c.connect(c.via)
    c.mk_base(a)
    e = c.base + "/e"
    path, cs = a.create(e, b"x", ephemeral=True, include_data=True)
    c.eq(cs.ephemeralOwner, a.client_id[0], "ephemeralOwner in create2 stat")
    c.expect_err(NoChildrenForEphemeralsError, "child of an ephemeral", a.create, e + "/c", b"")
    o = c.connect(c.direct)
    ev = Events(c)
    st = o.exists(e, watch=ev.watch)
    c.check(st is not None and st.ephemeralOwner == a.client_id[0], "observer sees the ephemeral: %r" % (st,))
    a.stop()
    ev.expect("NodeDeleted " + e, WAIT, "ephemeral deleted on close")
    c.check(o.exists(e) is None, "ephemeral gone after close")
    c.eq(o.get_children(c.base), [], "base empty after close")


def ephemeral_expiry(c):
    a = c.connect(c.via, timeout=SHORT_SESSION)
    sid = a.client_id[0]
    c.mk_base(a)
    e = c.base + "/e"
    a.create(e, b"x", ephemeral=True)
    o = c.connect(c.direct)
    ev = Events(c)
    st = o.exists(e, watch=ev.watch)
    c.check(st is not None and st.ephemeralOwner == sid, "observer sees the ephemeral: %r" % (st,))
    c.ctl("block")
    ev.expect("NodeDeleted " + e, EXPIRY_WAIT, "ephemeral deleted when the session expired")
    c.check(o.exists(e) is None, "ephemeral gone after expiry")
    c.ctl("unblock")
    # kazoo reports an expired session as LOST
    c.await_state(a, KazooState.LOST, EXPIRY_WAIT, "owner learns of the expiry")


def session_expiry(c):
    a = c.connect(c.via, timeout=SHORT_SESSION)
    sid = a.client_id[0]
    c.mk_base(a)
    marker = c.base + "/alive"
    a.create(marker, b"", ephemeral=True)
    o = c.connect(c.direct)
    ev = Events(c)
    c.check(o.exists(marker, watch=ev.watch) is not None, "marker present")
    c.ctl("block")
    c.await_state(a, KazooState.SUSPENDED, WAIT, "client sees the connection drop")
    ev.expect("NodeDeleted " + marker, EXPIRY_WAIT, "server expired the session")
    c.ctl("unblock")
    c.await_state(a, KazooState.LOST, EXPIRY_WAIT, "client sees the session expire (LOST)")
    # kazoo then starts a fresh session by itself
    c.await_state(a, KazooState.CONNECTED, WAIT, "kazoo reconnects with a new session")
    c.check(a.client_id[0] != sid, "new session id after expiry (old 0x%x, new 0x%x)" % (sid, a.client_id[0]))
    c.check(a.exists(marker) is None, "old session's ephemeral is gone for the new session")
    c.notes.append("expired session 0x%x" % sid)


def reconnect(c):
    a = c.connect(c.via)
    sid, pw = a.client_id
    c.mk_base(a)
    e, w = c.base + "/e", c.base + "/w"
    a.create(e, b"", ephemeral=True)
    c.create(a, w, b"before")
    ev = Events(c)
    c.eq(a.get(w, watch=ev.watch)[0], b"before", "get with watch")
    c.ctl("cut")
    c.await_state(a, KazooState.SUSPENDED, WAIT, "client sees the connection drop")
    c.await_state(a, KazooState.CONNECTED, WAIT + 5, "client reconnects")
    c.eq(a.client_id, (sid, pw), "same session id and password after reconnect")
    st = a.exists(e)
    c.check(st is not None and st.ephemeralOwner == sid, "ephemeral survived the reconnect: %r" % (st,))
    # kazoo 2.8.0 quirk: pending watchers get a NONE event on connection loss and
    # are dropped (no setWatches); so the old watch must have seen exactly that.
    ev.expect("None None", WAIT, "kazoo fires pending watchers with a NONE event on connection loss")
    c.notes.append("kazoo 2.8.0 drops watches on disconnect (NONE event, no setWatches)")
    o = c.connect(c.direct)
    c.eq(a.get(w, watch=ev.watch)[0], b"before", "re-arm the watch after reconnect")
    o.set(w, b"after")
    ev.expect("NodeDataChanged " + w, WAIT, "watch armed on the resumed session fires")
    c.eq(a.get(w)[0], b"after", "read after reconnect")


def watch_data(c):
    zk = c.connect(c.via)
    c.mk_base(zk)
    n = c.base + "/n"
    c.create(zk, n, b"a")
    o = c.connect(c.direct)
    ev = Events(c)
    c.eq(zk.get(n, watch=ev.watch)[0], b"a", "get with watch")
    o.set(n, b"b")
    ev.expect("NodeDataChanged " + n, WAIT, "data watch")
    o.set(n, b"c")
    extra = c.sentinel(zk, ev)
    c.check(extra == [], "data watch fired only once (extra: %s)" % extra)


def watch_exists(c):
    zk = c.connect(c.via)
    c.mk_base(zk)
    n = c.base + "/n"
    o = c.connect(c.direct)
    ev = Events(c)
    c.check(zk.exists(n, watch=ev.watch) is None, "exists on a missing node")
    c.create(o, n, b"x")
    ev.expect("NodeCreated " + n, WAIT, "exists watch")
    o.set(n, b"y")
    o.delete(n)
    extra = c.sentinel(zk, ev)
    c.check(extra == [], "exists watch fired only once (extra: %s)" % extra)


def watch_child(c):
    zk = c.connect(c.via)
    c.mk_base(zk)
    ws = c.base + "/ws"
    c.create(zk, ws)
    o = c.connect(c.direct)
    ev = Events(c)
    c.eq(zk.get_children(ws, watch=ev.watch), [], "no children yet")
    c.create(o, ws + "/c1")
    ev.expect("NodeChildrenChanged " + ws, WAIT, "child watch")
    c.create(o, ws + "/c2")
    o.set(ws, b"d")
    extra = c.sentinel(zk, ev)
    c.check(extra == [], "child watch fired only once (extra: %s)" % extra)


def watch_delete(c):
    zk = c.connect(c.via)
    c.mk_base(zk)
    ws, n = c.base + "/ws", c.base + "/ws/n"
    c.create(zk, ws)
    c.create(zk, n, b"x")
    o = c.connect(c.direct)
    ev = Events(c)
    c.eq(zk.get(n, watch=ev.watch)[0], b"x", "get with watch")
    c.eq(zk.get_children(ws, watch=ev.watch), ["n"], "get_children with watch")
    o.delete(n)
    got = []
    for i in range(2):
        e = ev.next(WAIT)
        c.check(e is not None, "event #%d after delete (got %s)" % (i, got))
        got.append(e)
    c.eq(sorted(got), ["NodeChildrenChanged " + ws, "NodeDeleted " + n], "events for delete")
    c.create(o, n, b"again")
    o.delete(n)
    extra = c.sentinel(zk, ev)
    c.check(extra == [], "delete watches fired only once (extra: %s)" % extra)


def multi_ok(c):
    zk = c.connect(c.via)
    c.mk_base(zk)
    m1, m2 = c.base + "/m1", c.base + "/m2"
    t = zk.transaction()
    t.create(m1, b"a")
    t.create(m2, b"")
    t.set_data(m1, b"b", version=0)
    t.check(m2, 0)
    t.delete(m2, version=0)
    r = t.commit()
    c.eq(len(r), 5, "result count")
    c.eq(r[0], m1, "result 0 (create path)")
    c.eq(r[1], m2, "result 1 (create path)")
    c.check(hasattr(r[2], "version") and r[2].version == 1, "result 2 (set_data stat): %r" % (r[2],))
    c.eq(r[3], True, "result 3 (check)")
    c.eq(r[4], True, "result 4 (delete)")
    data, st = zk.get(m1)
    c.eq(data, b"b", "data after multi")
    c.check(st.version == 1 and st.czxid == st.mzxid, "one zxid for the whole multi: %r" % (st,))
    c.check(zk.exists(m2) is None, "m2 created and deleted in the same multi")


def errs(results):
    return [type(r) for r in results]


def multi_fail(c):
    zk = c.connect(c.via)
    c.mk_base(zk)
    x, y, z = c.base + "/x", c.base + "/y", c.base + "/z"
    c.create(zk, x, b"orig")
    t = zk.transaction()
    t.create(y, b"")
    t.set_data(x, b"new", version=7)
    t.delete(x)
    r = t.commit()  # kazoo returns the per-op errors instead of raising
    c.eq(errs(r), [RolledBackError, BadVersionError, RuntimeInconsistency],
         "per-op errors (ok/rolled back, BadVersion, RuntimeInconsistency)")
    c.eq([e.code for e in r], [0, -103, -2], "per-op error codes")
    c.check(zk.exists(y) is None, "create in the failed multi was not applied")
    data, st = zk.get(x)
    c.eq(data, b"orig", "set_data in the failed multi was not applied")
    c.eq(st.version, 0, "version untouched")
    t = zk.transaction()
    t.create(z, b"")
    t.create(c.base + "/nope/child", b"")
    r = t.commit()
    c.eq(errs(r), [RolledBackError, NoNodeError], "per-op errors (ok/rolled back, NoNode)")
    c.check(zk.exists(z) is None, "first create of the failed multi was not applied")
    t = zk.transaction()
    t.set_data(x, b"new")
    t.check(x, 3)
    r = t.commit()
    c.eq(errs(r), [RolledBackError, BadVersionError], "per-op errors (ok/rolled back, BadVersion from check)")
    c.eq(zk.get(x)[0], b"orig", "data unchanged after failed check")


def acl_noauth(c):
    zk = c.connect(c.via)
    c.mk_base(zk)
    sec, ro = c.base + "/secret", c.base + "/ro"
    c.eq(zk.create(sec, b"hidden", acl=[make_digest_acl(USER, PASSWORD, all=True)]), sec, "create with digest ACL")
    c.eq(zk.create(ro, b"pub", acl=READ_ACL_UNSAFE), ro, "create read-only node")
    c.expect_err(NoAuthError, "get without auth", zk.get, sec)
    c.expect_err(NoAuthError, "set without auth", zk.set, sec, b"x")
    c.expect_err(NoAuthError, "get_children without auth", zk.get_children, sec)
    c.expect_err(NoAuthError, "create child without auth", zk.create, sec + "/c", b"")
    c.eq(zk.get(ro)[0], b"pub", "read of a READ-only node")
    c.expect_err(NoAuthError, "set of a READ-only node", zk.set, ro, b"x")
    c.expect_err(NoAuthError, "create under a READ-only node", zk.create, ro + "/c", b"")
    o = c.connect(c.direct)
    o.add_auth("digest", USER + ":wrong")
    c.expect_err(NoAuthError, "get with the wrong password", o.get, sec)


def digest_auth(c):
    a = c.connect(c.via)
    c.mk_base(a)
    mine = c.base + "/mine"
    c.expect_err(InvalidACLError, "CREATOR_ALL_ACL without auth", a.create, mine, b"", acl=CREATOR_ALL_ACL)
    a.add_auth("digest", "%s:%s" % (USER, PASSWORD))
    c.eq(a.create(mine, b"mine", acl=CREATOR_ALL_ACL), mine, "create with CREATOR_ALL_ACL after auth")
    acl, st = a.get_acls(mine)
    c.eq(len(acl), 1, "ACL entries")
    c.eq(acl[0].perms, Permissions.ALL, "ACL perms")
    c.eq(acl[0].id.scheme, "digest", "ACL scheme")
    c.eq(acl[0].id.id, digest_id(), "ACL id is user:base64(sha1(user:password))")
    c.eq(a.get(mine)[0], b"mine", "read with auth")
    c.eq(a.set(mine, b"mine2", version=0).version, 1, "write with auth")
    o = c.connect(c.direct)
    c.expect_err(NoAuthError, "other session without auth", o.get, mine)
    o.add_auth("digest", USER + ":wrong")
    c.expect_err(NoAuthError, "other session with the wrong password", o.get, mine)
    o.add_auth("digest", "%s:%s" % (USER, PASSWORD))
    c.eq(o.get(mine)[0], b"mine2", "other session after add_auth")
    c.eq(o.set(mine, b"o", version=1).version, 2, "other session writes after add_auth")


DISPATCH = {
    "crud": crud,
    "sequential": sequential,
    "ephemeral_close": ephemeral_close,
    "ephemeral_expiry": ephemeral_expiry,
    "watch_data": watch_data,
    "watch_exists": watch_exists,
    "watch_child": watch_child,
    "watch_delete": watch_delete,
    "multi_ok": multi_ok,
    "multi_fail": multi_fail,
    "acl_noauth": acl_noauth,
    "digest_auth": digest_auth,
    "session_expiry": session_expiry,
    "reconnect": reconnect,
}


def delete_tree(zk, path):
    try:
        for child in zk.get_children(path):
            delete_tree(zk, path + "/" + child)
    except ZookeeperError:
        pass
    try:
        zk.delete(path)
    except ZookeeperError:
        pass


def run_one(via, direct, name):
    c = Ctx(via, direct, name)
    t0 = time.monotonic()
    status, error = "pass", None
    try:
        if name in UNSUPPORTED:
            raise Skip(UNSUPPORTED[name])
        fn = DISPATCH.get(name)
        if fn is None:
            raise Failure("unknown scenario " + name)
        fn(c)
        if c.checks == 0:
            raise Failure("scenario made no checks")
    except Skip as s:
        status, error = "skip", str(s)
    except Failure as f:
        status, error = "fail", str(f)
    except Exception as e:  # noqa: BLE001
        tb = e.__traceback__
        line = None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == __file__:
                line = tb.tb_lineno
            tb = tb.tb_next
        status, error = "fail", "%s: %s (interop.py:%s)" % (type(e).__name__, e, line)
    try:
        if c.blocked:
            c.ctl("unblock")
    except Exception:  # noqa: BLE001
        pass
    for zk in c.open:
        try:
            zk.stop()
            zk.close()
        except Exception:  # noqa: BLE001
            pass
    if status != "skip":
        try:
            zk = KazooClient(hosts=direct, timeout=SESSION)
            zk.start(timeout=WAIT)
            try:
                zk.add_auth("digest", "%s:%s" % (USER, PASSWORD))
                delete_tree(zk, c.base)
            finally:
                zk.stop()
                zk.close()
        except Exception:  # noqa: BLE001
            pass
    out = {"client": CLIENT, "scenario": name, "status": status, "checks": c.checks,
           "ms": int((time.monotonic() - t0) * 1000), "notes": c.notes}
    if error is not None:
        out["error"] = error
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()


def main():
    if len(sys.argv) < 3:
        sys.stderr.write("usage: interop.py <viaConnect> <directConnect> [scenario[,scenario...]|all]\n")
        sys.exit(2)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    via, direct = sys.argv[1], sys.argv[2]
    which = sys.argv[3] if len(sys.argv) > 3 else "all"
    names = SCENARIOS if which == "all" else which.split(",")
    for name in names:
        run_one(via, direct, name)


if __name__ == "__main__":
    main()
