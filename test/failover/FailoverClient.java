// A session that moves between ensemble members, driven through the official
// Java client (Apache ZooKeeper 3.8) for test/session-failover.test.ts.
//
//   java -cp <classes>:/usr/share/java/zookeeper.jar FailoverClient <connectString> <base> <sessionTimeoutMs>
//
// Line protocol (the same for every client program in this directory):
//   out "READY <session hex>"   connected; <base>/eph created (ephemeral); a data watch set on <base>/watched
//   in  "MOVE"                  the member this client was on is gone: retry exists(<base>/eph) until it answers
//   out "MOVED <session hex> <1|0>"  answered, on the session the client now has; 1 if <base>/eph exists
//   out "EVENT <type> <path>"   the watch fired
//   in  "CLOSE"                 close the session, then
//   out "CLOSED"
//   out "ERROR <what>"          anything unexpected (then exit 1)

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Watcher.Event.EventType;
import org.apache.zookeeper.Watcher.Event.KeeperState;
import org.apache.zookeeper.ZooDefs.Ids;
import org.apache.zookeeper.ZooKeeper;

public class FailoverClient {
    static synchronized void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    public static void main(String[] args) throws Exception {
        String connect = args[0];
        String base = args[1];
        int timeout = Integer.parseInt(args[2]);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        CountDownLatch connected = new CountDownLatch(1);
        ZooKeeper zk = new ZooKeeper(connect, timeout, e -> {
            if (e.getState() == KeeperState.SyncConnected) connected.countDown();
        });
        try {
            if (!connected.await(60, TimeUnit.SECONDS)) throw new IllegalStateException("no session within 60 s");
            String hex = Long.toHexString(zk.getSessionId());
            zk.create(base + "/eph", "eph".getBytes(StandardCharsets.UTF_8), Ids.OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL);
            // The Java client also hands connection-state events (type None) to every watcher: only node events count.
            zk.getData(base + "/watched", e -> {
                if (e.getType() != EventType.None) say("EVENT " + e.getType() + " " + e.getPath());
            }, null);
            say("READY " + hex);
            expect(in, "MOVE");
            long deadline = System.currentTimeMillis() + 60_000;
            boolean exists;
            while (true) {
                try {
                    exists = zk.exists(base + "/eph", false) != null;
                    break;
                } catch (KeeperException.ConnectionLossException e) {
                    if (System.currentTimeMillis() > deadline) throw e;
                    Thread.sleep(200);
                }
            }
            say("MOVED " + Long.toHexString(zk.getSessionId()) + " " + (exists ? 1 : 0));
            expect(in, "CLOSE");
            zk.close();
            say("CLOSED");
        } catch (Throwable t) {
            say("ERROR " + t);
            System.exit(1);
        }
    }

    static void expect(BufferedReader in, String word) throws Exception {
        String line = in.readLine();
        if (!word.equals(line)) throw new IllegalStateException("expected " + word + " on stdin, got " + line);
    }
}
