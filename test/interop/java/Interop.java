// Interop scenarios driven through the official Java client (Apache ZooKeeper 3.8).
//
//   java -cp <classes>:/usr/share/java/zookeeper.jar Interop <via> <direct> <scenario|all>
//
// <via> is a TCP proxy in front of the server that the harness can cut/block on
// request ("CTL cut|block|unblock" on stdout, answered "OK ..." on stdin);
// <direct> is the server itself. One JSON line per scenario on stdout.
// Every check compares a real outcome (data read back, stat fields, event
// type+path, error code) with the expected one; nothing is reported as passed
// unless all of its checks ran.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import org.apache.zookeeper.AddWatchMode;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.KeeperException.Code;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.Watcher.Event.EventType;
import org.apache.zookeeper.Watcher.Event.KeeperState;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooDefs.Ids;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.Stat;
import org.apache.zookeeper.server.auth.DigestAuthenticationProvider;

public class Interop {
    static final String CLIENT = "java";
    static final List<String> SCENARIOS = Arrays.asList(
            "crud", "sequential", "ephemeral_close", "ephemeral_expiry",
            "watch_data", "watch_exists", "watch_child", "watch_delete",
            "persistent_recursive", "multi_ok", "multi_fail", "acl_noauth",
            "digest_auth", "session_expiry", "reconnect", "container", "ttl");

    static final long WAIT_MS = 10_000;        // any single expected event / state
    static final long EXPIRY_WAIT_MS = 20_000; // server-side expiry or reaper
    static final int SESSION_MS = 4000;
    static final int SHORT_SESSION_MS = 1000;  // for expiry scenarios (server min is 2*tick)
    static final String USER = "interop", PASSWORD = "secret";

    static String via, direct;
    static final BufferedReader stdin = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));

    // per-scenario state
    static int checks;
    static List<String> notes;
    static List<ZooKeeper> open;
    static String base;
    static boolean blocked;
    static int sentinels;

    static class Failure extends RuntimeException {
        Failure(String m) { super(m); }
    }

    interface Action { void run() throws Exception; }

    static void check(boolean ok, String what) {
        if (!ok) throw new Failure(what);
        checks++;
    }

    static void eq(Object actual, Object expected, String what) {
        check(expected == null ? actual == null : expected.equals(actual),
                what + ": expected " + expected + ", got " + actual);
    }

    static void expectErr(Code code, String what, Action a) throws InterruptedException {
        try {
            a.run();
        } catch (KeeperException e) {
            check(e.code() == code, what + ": expected " + code + ", got " + e.code());
            return;
        } catch (InterruptedException e) {
            throw e;
        } catch (Exception e) {
            throw new Failure(what + ": expected " + code + ", got exception " + e);
        }
        throw new Failure(what + ": expected " + code + " but the call succeeded");
    }

    static byte[] b(String s) { return s.getBytes(StandardCharsets.UTF_8); }
    static String s(byte[] d) { return d == null ? null : new String(d, StandardCharsets.UTF_8); }
    static String hex(long v) { return "0x" + Long.toHexString(v); }

    static void ctl(String cmd) throws Exception {
        System.out.println("CTL " + cmd);
        System.out.flush();
        String reply = stdin.readLine();
        if (reply == null || !reply.trim().equals("OK " + cmd)) throw new Failure("control '" + cmd + "' refused: " + reply);
        if (cmd.equals("block")) blocked = true;
        if (cmd.equals("unblock")) blocked = false;
    }

    // ---- watchers ---------------------------------------------------------

    /** Default watcher: records connection states. */
    static class Session implements Watcher {
        final BlockingQueue<KeeperState> states = new LinkedBlockingQueue<>();
        public void process(WatchedEvent e) {
            if (e.getType() == EventType.None) states.add(e.getState());
        }
        /** Consume states until `want` shows up (others are skipped). */
        void await(KeeperState want, long ms, String what) throws InterruptedException {
            long deadline = System.currentTimeMillis() + ms;
            List<KeeperState> seen = new ArrayList<>();
            for (;;) {
                long left = deadline - System.currentTimeMillis();
                KeeperState st = left > 0 ? states.poll(left, TimeUnit.MILLISECONDS) : null;
                if (st == null) throw new Failure(what + ": no " + want + " state within " + ms + " ms (saw " + seen + ")");
                if (st == want) { checks++; return; }
                seen.add(st);
            }
        }
    }

    /** Node-event watcher: records "Type path" strings. */
    static class Events implements Watcher {
        final BlockingQueue<String> q = new LinkedBlockingQueue<>();
        public void process(WatchedEvent e) {
            if (e.getType() != EventType.None) q.add(e.getType() + " " + e.getPath());
        }
        String next(long ms) throws InterruptedException { return q.poll(ms, TimeUnit.MILLISECONDS); }
        void expect(String want, long ms, String what) throws InterruptedException {
            String got = next(ms);
            check(want.equals(got), what + ": expected event '" + want + "', got " + (got == null ? "nothing within " + ms + " ms" : "'" + got + "'"));
        }
    }

    /**
     * Proves that no further event was delivered to `ev`: arm an exists watch on
     * a fresh sentinel node with the same watcher, create it, and return every
     * event that arrived before the sentinel's NodeCreated (events are delivered
     * in server order, so anything pending shows up first).
     */
    static List<String> eventsBeforeSentinel(ZooKeeper zk, Events ev) throws Exception {
        String sentinel = base + "/sentinel-" + (sentinels++);
        check(zk.exists(sentinel, ev) == null, "sentinel " + sentinel + " absent");
        zk.create(sentinel, b(""), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        List<String> extra = new ArrayList<>();
        long deadline = System.currentTimeMillis() + WAIT_MS;
        for (;;) {
            long left = deadline - System.currentTimeMillis();
            String e = left > 0 ? ev.next(left) : null;
            if (e == null) throw new Failure("sentinel event for " + sentinel + " not received; saw " + extra);
            if (e.equals("NodeCreated " + sentinel)) return extra;
            extra.add(e);
        }
    }

    // ---- connections ------------------------------------------------------

    static ZooKeeper connect(String cs, int timeoutMs, Session session) throws Exception {
        ZooKeeper zk = new ZooKeeper(cs, timeoutMs, session);
        open.add(zk);
        session.await(KeeperState.SyncConnected, WAIT_MS, "connect to " + cs);
        return zk;
    }

    static ZooKeeper connect(String cs) throws Exception { return connect(cs, SESSION_MS, new Session()); }

    static void mkBase(ZooKeeper zk) throws Exception {
        eq(zk.create(base, b("base"), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT), base, "create base");
    }

    static void create(ZooKeeper zk, String path, String data) throws Exception {
        eq(zk.create(path, b(data), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT), path, "create " + path);
    }

    static String digestId() throws Exception {
        return DigestAuthenticationProvider.generateDigest(USER + ":" + PASSWORD);
    }

    // ---- scenarios --------------------------------------------------------

    static void crud() throws Exception {
        ZooKeeper zk = connect(via);
        mkBase(zk);
        String n = base + "/n";
        Stat cs = new Stat();
        eq(zk.create(n, b("v0"), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT, cs), n, "create returns the path");
        check(cs.getVersion() == 0 && cs.getCzxid() == cs.getMzxid() && cs.getCzxid() == cs.getPzxid() && cs.getCzxid() > 0,
                "create2 stat: version 0, czxid==mzxid==pzxid>0: " + cs);
        check(cs.getDataLength() == 2 && cs.getNumChildren() == 0 && cs.getEphemeralOwner() == 0 && cs.getCversion() == 0
                && cs.getAversion() == 0 && cs.getCtime() == cs.getMtime() && cs.getCtime() > 0, "create2 stat fields: " + cs);
        Stat es = zk.exists(n, false);
        check(es != null && es.equals(cs), "exists stat equals create2 stat: " + es);
        Stat gs = new Stat();
        eq(s(zk.getData(n, false, gs)), "v0", "getData after create");
        eq(gs.getVersion(), 0, "version after create");
        Stat ss = zk.setData(n, b("v1!"), 0);
        check(ss.getVersion() == 1 && ss.getMzxid() > ss.getCzxid() && ss.getCzxid() == cs.getCzxid()
                && ss.getDataLength() == 3 && ss.getMtime() >= ss.getCtime(), "setData stat: " + ss);
        expectErr(Code.BADVERSION, "setData with stale version", () -> zk.setData(n, b("v2"), 0));
        eq(s(zk.getData(n, false, gs)), "v1!", "getData after setData");
        eq(gs.getVersion(), 1, "version after setData");
        expectErr(Code.NODEEXISTS, "create existing node", () -> zk.create(n, b(""), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT));
        expectErr(Code.NONODE, "create under a missing parent",
                () -> zk.create(base + "/missing/x", b(""), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT));
        create(zk, n + "/c2", "");
        create(zk, n + "/c1", "");
        List<String> kids = new ArrayList<>(zk.getChildren(n, false));
        Collections.sort(kids);
        eq(kids, Arrays.asList("c1", "c2"), "getChildren");
        Stat ps = new Stat();
        zk.getChildren(n, false, ps);
        check(ps.getNumChildren() == 2 && ps.getCversion() == 2 && ps.getVersion() == 1, "parent stat after 2 creates: " + ps);
        expectErr(Code.NOTEMPTY, "delete a node with children", () -> zk.delete(n, -1));
        expectErr(Code.BADVERSION, "delete with wrong version", () -> zk.delete(n + "/c1", 5));
        zk.delete(n + "/c1", 0);
        zk.delete(n + "/c2", -1);
        check(zk.getChildren(n, false).isEmpty(), "no children after deletes");
        ps = zk.exists(n, false);
        check(ps.getNumChildren() == 0 && ps.getCversion() == 4, "parent stat after 2 deletes: " + ps);
        expectErr(Code.BADVERSION, "delete with stale version", () -> zk.delete(n, 0));
        zk.delete(n, 1);
        check(zk.exists(n, false) == null, "exists after delete is null");
        expectErr(Code.NONODE, "getData of deleted node", () -> zk.getData(n, false, null));
        expectErr(Code.NONODE, "setData of deleted node", () -> zk.setData(n, b("x"), -1));
        expectErr(Code.NONODE, "getChildren of deleted node", () -> zk.getChildren(n, false));
        expectErr(Code.NONODE, "delete of deleted node", () -> zk.delete(n, -1));
    }

    static void sequential() throws Exception {
        ZooKeeper zk = connect(via);
        mkBase(zk);
        String pre = base + "/s-";
        List<String> got = new ArrayList<>();
        for (int i = 0; i < 3; i++) got.add(zk.create(pre, b("" + i), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT_SEQUENTIAL));
        got.add(zk.create(pre, b("e"), Ids.OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL_SEQUENTIAL));
        create(zk, base + "/plain", "");
        got.add(zk.create(pre, b(""), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT_SEQUENTIAL));
        zk.delete(got.get(0), -1);
        got.add(zk.create(pre, b(""), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT_SEQUENTIAL));
        // suffix = parent's cversion before the create: +1 per create (any kind), deletes don't count
        int[] want = {0, 1, 2, 3, 5, 6};
        for (int i = 0; i < want.length; i++) {
            eq(got.get(i), pre + String.format("%010d", want[i]), "sequential name #" + i);
        }
        Stat st = zk.exists(got.get(3), false);
        check(st != null && st.getEphemeralOwner() == zk.getSessionId(), "ephemeral sequential owner: " + st);
        eq(s(zk.getData(got.get(1), false, null)), "1", "data of sequential node");
        List<String> kids = new ArrayList<>(zk.getChildren(base, false));
        Collections.sort(kids);
        eq(kids, Arrays.asList("plain", "s-0000000001", "s-0000000002", "s-0000000003", "s-0000000005", "s-0000000006"), "children");
    }

    static void ephemeralClose() throws Exception {
        ZooKeeper a = connect(via);
        mkBase(a);
        String e = base + "/e";
        Stat cs = new Stat();
        a.create(e, b("x"), Ids.OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL, cs);
        eq(cs.getEphemeralOwner(), a.getSessionId(), "ephemeralOwner in create2 stat");
        expectErr(Code.NOCHILDRENFOREPHEMERALS, "child of an ephemeral",
                () -> a.create(e + "/c", b(""), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT));
        ZooKeeper o = connect(direct);
        Events ev = new Events();
        Stat st = o.exists(e, ev);
        check(st != null && st.getEphemeralOwner() == a.getSessionId(), "observer sees the ephemeral: " + st);
        a.close();
        ev.expect("NodeDeleted " + e, WAIT_MS, "ephemeral deleted on close");
        check(o.exists(e, false) == null, "ephemeral gone after close");
        check(o.getChildren(base, false).isEmpty(), "base empty after close");
    }

    static void ephemeralExpiry() throws Exception {
        Session sa = new Session();
        ZooKeeper a = connect(via, SHORT_SESSION_MS, sa);
        mkBase(a);
        String e = base + "/e";
        a.create(e, b("x"), Ids.OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL);
        ZooKeeper o = connect(direct);
        Events ev = new Events();
        Stat st = o.exists(e, ev);
        check(st != null && st.getEphemeralOwner() == a.getSessionId(), "observer sees the ephemeral: " + st);
        ctl("block");
        ev.expect("NodeDeleted " + e, EXPIRY_WAIT_MS, "ephemeral deleted when the session expired");
        check(o.exists(e, false) == null, "ephemeral gone after expiry");
        ctl("unblock");
        sa.await(KeeperState.Expired, EXPIRY_WAIT_MS, "owner learns of the expiry");
    }

    static void sessionExpiry() throws Exception {
        Session sa = new Session();
        ZooKeeper a = connect(via, SHORT_SESSION_MS, sa);
        long sid = a.getSessionId();
        mkBase(a);
        String marker = base + "/alive";
        a.create(marker, b(""), Ids.OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL);
        ZooKeeper o = connect(direct);
        Events ev = new Events();
        check(o.exists(marker, ev) != null, "marker present");
        ctl("block");
        sa.await(KeeperState.Disconnected, WAIT_MS, "client sees Disconnected");
        ev.expect("NodeDeleted " + marker, EXPIRY_WAIT_MS, "server expired the session");
        ctl("unblock");
        sa.await(KeeperState.Expired, EXPIRY_WAIT_MS, "client sees Expired");
        expectErr(Code.SESSIONEXPIRED, "request on the expired handle", () -> a.exists("/", false));
        check(!a.getState().isAlive(), "handle is dead: " + a.getState());
        notes.add("expired session " + hex(sid));
    }

    static void reconnect() throws Exception {
        Session sa = new Session();
        ZooKeeper a = connect(via, SESSION_MS, sa);
        long sid = a.getSessionId();
        byte[] pw = a.getSessionPasswd();
        mkBase(a);
        String e = base + "/e", w = base + "/w";
        a.create(e, b(""), Ids.OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL);
        create(a, w, "before");
        Events ev = new Events();
        eq(s(a.getData(w, ev, null)), "before", "getData with watch");
        ctl("cut");
        sa.await(KeeperState.Disconnected, WAIT_MS, "client sees Disconnected");
        sa.await(KeeperState.SyncConnected, WAIT_MS + 5000, "client reconnects");
        eq(hex(a.getSessionId()), hex(sid), "same session id after reconnect");
        check(Arrays.equals(a.getSessionPasswd(), pw), "same session password after reconnect");
        Stat st = a.exists(e, false);
        check(st != null && st.getEphemeralOwner() == sid, "ephemeral survived the reconnect: " + st);
        ZooKeeper o = connect(direct);
        o.setData(w, b("after"), -1);
        ev.expect("NodeDataChanged " + w, WAIT_MS, "watch set before the drop fires after reconnect");
        eq(s(a.getData(w, false, null)), "after", "read after reconnect");
    }

    /** Watches are armed by the proxied session; changes come from a second (direct) session. */
    static void watchData() throws Exception {
        ZooKeeper zk = connect(via);
        mkBase(zk);
        String n = base + "/n";
        create(zk, n, "a");
        ZooKeeper o = connect(direct);
        Events ev = new Events();
        eq(s(zk.getData(n, ev, null)), "a", "getData with watch");
        o.setData(n, b("b"), -1);
        ev.expect("NodeDataChanged " + n, WAIT_MS, "data watch");
        o.setData(n, b("c"), -1);
        List<String> extra = eventsBeforeSentinel(zk, ev);
        check(extra.isEmpty(), "data watch fired only once (extra: " + extra + ")");
    }

    static void watchExists() throws Exception {
        ZooKeeper zk = connect(via);
        mkBase(zk);
        String n = base + "/n";
        ZooKeeper o = connect(direct);
        Events ev = new Events();
        check(zk.exists(n, ev) == null, "exists on a missing node");
        create(o, n, "x");
        ev.expect("NodeCreated " + n, WAIT_MS, "exists watch");
        o.setData(n, b("y"), -1);
        o.delete(n, -1);
        List<String> extra = eventsBeforeSentinel(zk, ev);
        check(extra.isEmpty(), "exists watch fired only once (extra: " + extra + ")");
    }

    static void watchChild() throws Exception {
        ZooKeeper zk = connect(via);
        mkBase(zk);
        String ws = base + "/ws";
        create(zk, ws, "");
        ZooKeeper o = connect(direct);
        Events ev = new Events();
        check(zk.getChildren(ws, ev).isEmpty(), "no children yet");
        create(o, ws + "/c1", "");
        ev.expect("NodeChildrenChanged " + ws, WAIT_MS, "child watch");
        create(o, ws + "/c2", "");
        o.setData(ws, b("d"), -1);
        List<String> extra = eventsBeforeSentinel(zk, ev);
        check(extra.isEmpty(), "child watch fired only once (extra: " + extra + ")");
    }

    static void watchDelete() throws Exception {
        ZooKeeper zk = connect(via);
        mkBase(zk);
        String ws = base + "/ws", n = ws + "/n";
        create(zk, ws, "");
        create(zk, n, "x");
        ZooKeeper o = connect(direct);
        Events ev = new Events();
        eq(s(zk.getData(n, ev, null)), "x", "getData with watch");
        eq(zk.getChildren(ws, ev), Arrays.asList("n"), "getChildren with watch");
        o.delete(n, -1);
        List<String> got = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            String e = ev.next(WAIT_MS);
            check(e != null, "event #" + i + " after delete (got " + got + ")");
            got.add(e);
        }
        Collections.sort(got);
        eq(got, Arrays.asList("NodeChildrenChanged " + ws, "NodeDeleted " + n), "events for delete");
        create(o, n, "again");
        o.delete(n, -1);
        List<String> extra = eventsBeforeSentinel(zk, ev);
        check(extra.isEmpty(), "delete watches fired only once (extra: " + extra + ")");
    }

    static void persistentRecursive() throws Exception {
        ZooKeeper zk = connect(via);
        mkBase(zk);
        String ws = base + "/ws";
        create(zk, ws, "");
        ZooKeeper o = connect(direct);
        Events ev = new Events();
        zk.addWatch(ws, ev, AddWatchMode.PERSISTENT_RECURSIVE);
        create(o, ws + "/a", "");
        create(o, ws + "/a/b", "");
        o.setData(ws + "/a/b", b("1"), -1);
        o.delete(ws + "/a/b", -1);
        o.setData(ws, b("2"), -1);
        String[] want = {
            "NodeCreated " + ws + "/a", "NodeCreated " + ws + "/a/b", "NodeDataChanged " + ws + "/a/b",
            "NodeDeleted " + ws + "/a/b", "NodeDataChanged " + ws,
        };
        for (String w : want) ev.expect(w, WAIT_MS, "recursive watch");
        o.setData(ws + "/a", b("3"), -1);
        ev.expect("NodeDataChanged " + ws + "/a", WAIT_MS, "recursive watch is still armed after firing");
        List<String> extra = eventsBeforeSentinel(zk, ev);
        check(extra.isEmpty(), "no NodeChildrenChanged or duplicate events from a recursive watch (extra: " + extra + ")");
        zk.removeWatches(ws, ev, Watcher.WatcherType.Any, false);
        ev.expect("PersistentWatchRemoved " + ws, WAIT_MS, "removeWatches notifies the watcher");
        o.setData(ws + "/a", b("4"), -1);
        extra = eventsBeforeSentinel(zk, ev);
        check(extra.isEmpty(), "no events after removeWatches (extra: " + extra + ")");
    }

    static void multiOk() throws Exception {
        ZooKeeper zk = connect(via);
        mkBase(zk);
        String m1 = base + "/m1", m2 = base + "/m2";
        List<OpResult> r = zk.multi(Arrays.asList(
                Op.create(m1, b("a"), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT),
                Op.create(m2, b(""), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT),
                Op.setData(m1, b("b"), 0),
                Op.check(m2, 0),
                Op.delete(m2, 0)));
        eq(r.size(), 5, "result count");
        check(r.get(0) instanceof OpResult.CreateResult && m1.equals(((OpResult.CreateResult) r.get(0)).getPath()), "result 0: " + r.get(0));
        check(r.get(1) instanceof OpResult.CreateResult && m2.equals(((OpResult.CreateResult) r.get(1)).getPath()), "result 1: " + r.get(1));
        check(r.get(2) instanceof OpResult.SetDataResult && ((OpResult.SetDataResult) r.get(2)).getStat().getVersion() == 1, "result 2: " + r.get(2));
        check(r.get(3) instanceof OpResult.CheckResult, "result 3: " + r.get(3));
        check(r.get(4) instanceof OpResult.DeleteResult, "result 4: " + r.get(4));
        Stat st = new Stat();
        eq(s(zk.getData(m1, false, st)), "b", "data after multi");
        check(st.getVersion() == 1 && st.getCzxid() == st.getMzxid(), "one zxid for the whole multi: " + st);
        check(zk.exists(m2, false) == null, "m2 created and deleted in the same multi");
    }

    static List<Integer> errs(KeeperException e) {
        List<Integer> out = new ArrayList<>();
        if (e.getResults() == null) return out;
        for (OpResult r : e.getResults()) out.add(r instanceof OpResult.ErrorResult ? ((OpResult.ErrorResult) r).getErr() : 999);
        return out;
    }

    static void multiFail() throws Exception {
        ZooKeeper zk = connect(via);
        mkBase(zk);
        String x = base + "/x", y = base + "/y", z = base + "/z";
        create(zk, x, "orig");
        try {
            zk.multi(Arrays.asList(
                    Op.create(y, b(""), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT),
                    Op.setData(x, b("new"), 7),
                    Op.delete(x, -1)));
            throw new Failure("multi with a bad version succeeded");
        } catch (KeeperException e) {
            eq(e.code(), Code.BADVERSION, "multi error code");
            eq(errs(e), Arrays.asList(0, -103, -2), "per-op errors (ok, BadVersion, RuntimeInconsistency)");
        }
        check(zk.exists(y, false) == null, "create in the failed multi was not applied");
        Stat st = new Stat();
        eq(s(zk.getData(x, false, st)), "orig", "setData in the failed multi was not applied");
        eq(st.getVersion(), 0, "version untouched");
        try {
            zk.multi(Arrays.asList(
                    Op.create(z, b(""), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT),
                    Op.create(base + "/nope/child", b(""), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT)));
            throw new Failure("multi with a missing parent succeeded");
        } catch (KeeperException e) {
            eq(e.code(), Code.NONODE, "multi error code");
            eq(errs(e), Arrays.asList(0, -101), "per-op errors (ok, NoNode)");
        }
        check(zk.exists(z, false) == null, "first create of the failed multi was not applied");
        try {
            zk.multi(Arrays.asList(Op.setData(x, b("new"), -1), Op.check(x, 3)));
            throw new Failure("multi with a failing check succeeded");
        } catch (KeeperException e) {
            eq(e.code(), Code.BADVERSION, "multi error code");
            eq(errs(e), Arrays.asList(0, -103), "per-op errors (ok, BadVersion from check)");
        }
        eq(s(zk.getData(x, false, st)), "orig", "data unchanged after failed check");
    }

    static void aclNoAuth() throws Exception {
        ZooKeeper zk = connect(via);
        mkBase(zk);
        String sec = base + "/secret", ro = base + "/ro";
        List<ACL> digestAcl = Collections.singletonList(new ACL(ZooDefs.Perms.ALL, new Id("digest", digestId())));
        eq(zk.create(sec, b("hidden"), digestAcl, CreateMode.PERSISTENT), sec, "create with digest ACL");
        eq(zk.create(ro, b("pub"), Ids.READ_ACL_UNSAFE, CreateMode.PERSISTENT), ro, "create read-only node");
        expectErr(Code.NOAUTH, "getData without auth", () -> zk.getData(sec, false, null));
        expectErr(Code.NOAUTH, "setData without auth", () -> zk.setData(sec, b("x"), -1));
        expectErr(Code.NOAUTH, "getChildren without auth", () -> zk.getChildren(sec, false));
        expectErr(Code.NOAUTH, "create child without auth", () -> zk.create(sec + "/c", b(""), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT));
        eq(s(zk.getData(ro, false, null)), "pub", "read of a READ-only node");
        expectErr(Code.NOAUTH, "setData of a READ-only node", () -> zk.setData(ro, b("x"), -1));
        expectErr(Code.NOAUTH, "create under a READ-only node", () -> zk.create(ro + "/c", b(""), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT));
        ZooKeeper o = connect(direct);
        o.addAuthInfo("digest", b(USER + ":wrong"));
        expectErr(Code.NOAUTH, "getData with the wrong password", () -> o.getData(sec, false, null));
    }

    static void digestAuth() throws Exception {
        ZooKeeper a = connect(via);
        mkBase(a);
        String mine = base + "/mine";
        expectErr(Code.INVALIDACL, "CREATOR_ALL_ACL without auth",
                () -> a.create(mine, b(""), Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT));
        a.addAuthInfo("digest", b(USER + ":" + PASSWORD));
        eq(a.create(mine, b("mine"), Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT), mine, "create with CREATOR_ALL_ACL after auth");
        Stat st = new Stat();
        List<ACL> acl = a.getACL(mine, st);
        eq(acl.size(), 1, "ACL entries");
        eq(acl.get(0).getPerms(), ZooDefs.Perms.ALL, "ACL perms");
        eq(acl.get(0).getId().getScheme(), "digest", "ACL scheme");
        eq(acl.get(0).getId().getId(), digestId(), "ACL id is user:base64(sha1(user:password))");
        eq(s(a.getData(mine, false, null)), "mine", "read with auth");
        eq(a.setData(mine, b("mine2"), 0).getVersion(), 1, "write with auth");
        ZooKeeper o = connect(direct);
        expectErr(Code.NOAUTH, "other session without auth", () -> o.getData(mine, false, null));
        o.addAuthInfo("digest", b(USER + ":wrong"));
        expectErr(Code.NOAUTH, "other session with the wrong password", () -> o.getData(mine, false, null));
        o.addAuthInfo("digest", b(USER + ":" + PASSWORD));
        eq(s(o.getData(mine, false, null)), "mine2", "other session after addAuthInfo");
        eq(o.setData(mine, b("o"), 1).getVersion(), 2, "other session writes after addAuthInfo");
    }

    static void container() throws Exception {
        ZooKeeper zk = connect(via);
        mkBase(zk);
        String c = base + "/c", idle = base + "/idle";
        Stat st = new Stat();
        eq(zk.create(c, b(""), Ids.OPEN_ACL_UNSAFE, CreateMode.CONTAINER, st), c, "create container");
        eq(st.getEphemeralOwner(), 0L, "container ephemeralOwner as seen by clients");
        eq(zk.create(idle, b(""), Ids.OPEN_ACL_UNSAFE, CreateMode.CONTAINER), idle, "create never-used container");
        create(zk, c + "/child", "");
        Events ev = new Events();
        check(zk.exists(c, ev) != null, "container present while it has a child");
        zk.delete(c + "/child", -1);
        ev.expect("NodeDeleted " + c, EXPIRY_WAIT_MS, "container reaped after its last child went");
        check(zk.exists(c, false) == null, "container gone");
        check(zk.exists(idle, false) != null, "never-used container is kept");
    }

    static void ttl() throws Exception {
        ZooKeeper zk = connect(via);
        mkBase(zk);
        String t = base + "/t", kept = base + "/kept";
        Stat st = new Stat();
        eq(zk.create(t, b("x"), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT_WITH_TTL, st, 500), t, "create TTL node");
        eq(st.getEphemeralOwner(), 0L, "TTL node ephemeralOwner as seen by clients");
        eq(zk.create(kept, b(""), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT_WITH_TTL, null, 500), kept, "create TTL node with a child");
        create(zk, kept + "/child", "");
        Events ev = new Events();
        eq(s(zk.getData(t, ev, null)), "x", "TTL node readable");
        ev.expect("NodeDeleted " + t, EXPIRY_WAIT_MS, "TTL node expired");
        check(zk.exists(t, false) == null, "TTL node gone");
        check(zk.exists(kept, false) != null, "TTL node with a child is kept");
    }

    // ---- driver -----------------------------------------------------------

    static void dispatch(String name) throws Exception {
        switch (name) {
            case "crud": crud(); break;
            case "sequential": sequential(); break;
            case "ephemeral_close": ephemeralClose(); break;
            case "ephemeral_expiry": ephemeralExpiry(); break;
            case "watch_data": watchData(); break;
            case "watch_exists": watchExists(); break;
            case "watch_child": watchChild(); break;
            case "watch_delete": watchDelete(); break;
            case "persistent_recursive": persistentRecursive(); break;
            case "multi_ok": multiOk(); break;
            case "multi_fail": multiFail(); break;
            case "acl_noauth": aclNoAuth(); break;
            case "digest_auth": digestAuth(); break;
            case "session_expiry": sessionExpiry(); break;
            case "reconnect": reconnect(); break;
            case "container": container(); break;
            case "ttl": ttl(); break;
            default: throw new Failure("unknown scenario " + name);
        }
    }

    /** Best-effort recursive delete; nodes whose children we may not list are still deleted if possible. */
    static void deleteTree(ZooKeeper zk, String path) {
        try {
            for (String c : zk.getChildren(path, false)) deleteTree(zk, path + "/" + c);
        } catch (Exception ignored) {
        }
        try {
            zk.delete(path, -1);
        } catch (Exception ignored) {
        }
    }

    static void runOne(String name) {
        checks = 0;
        notes = new ArrayList<>();
        open = new ArrayList<>();
        blocked = false;
        sentinels = 0;
        base = "/interop-" + CLIENT + "-" + name.replace('_', '-') + "-" + ProcessHandle.current().pid() + "-" + System.nanoTime() % 1_000_000;
        long t0 = System.currentTimeMillis();
        String status = "pass", error = null;
        try {
            dispatch(name);
            if (checks == 0) throw new Failure("scenario made no checks");
        } catch (Failure f) {
            status = "fail";
            error = f.getMessage();
        } catch (Throwable t) {
            status = "fail";
            StackTraceElement[] st = t.getStackTrace();
            error = t.toString() + (st.length > 0 ? " at " + st[0] : "");
            for (StackTraceElement el : st) if (el.getClassName().equals("Interop")) { error += " (Interop.java:" + el.getLineNumber() + ")"; break; }
        }
        int scenarioChecks = checks; // cleanup below must not count
        try {
            if (blocked) ctl("unblock");
        } catch (Exception ignored) {
        }
        for (ZooKeeper zk : open) {
            try { zk.close(2000); } catch (Exception ignored) { }
        }
        try {
            Session s = new Session();
            ZooKeeper zk = new ZooKeeper(direct, SESSION_MS, s);
            try {
                s.await(KeeperState.SyncConnected, WAIT_MS, "cleanup connect");
                zk.addAuthInfo("digest", b(USER + ":" + PASSWORD));
                deleteTree(zk, base);
            } finally {
                zk.close(2000);
            }
        } catch (Throwable ignored) {
        }
        StringBuilder sb = new StringBuilder();
        sb.append("{\"client\":").append(json(CLIENT)).append(",\"scenario\":").append(json(name))
          .append(",\"status\":").append(json(status)).append(",\"checks\":").append(scenarioChecks)
          .append(",\"ms\":").append(System.currentTimeMillis() - t0);
        if (error != null) sb.append(",\"error\":").append(json(error));
        sb.append(",\"notes\":[");
        for (int i = 0; i < notes.size(); i++) sb.append(i > 0 ? "," : "").append(json(notes.get(i)));
        sb.append("]}");
        System.out.println(sb);
        System.out.flush();
    }

    static String json(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (char ch : s.toCharArray()) {
            switch (ch) {
                case '"': sb.append("\\\""); break;
                case '\\': sb.append("\\\\"); break;
                case '\n': sb.append("\\n"); break;
                case '\r': sb.append("\\r"); break;
                case '\t': sb.append("\\t"); break;
                default:
                    if (ch < 0x20) sb.append(String.format("\\u%04x", (int) ch));
                    else sb.append(ch);
            }
        }
        return sb.append('"').toString();
    }

    public static void main(String[] args) {
        if (args.length < 2) {
            System.err.println("usage: Interop <viaConnect> <directConnect> [scenario[,scenario...]|all]");
            System.exit(2);
        }
        via = args[0];
        direct = args[1];
        String which = args.length > 2 ? args[2] : "all";
        List<String> list = which.equals("all") ? SCENARIOS : Arrays.asList(which.split(","));
        for (String name : list) runOne(name);
        System.exit(0);
    }
}
