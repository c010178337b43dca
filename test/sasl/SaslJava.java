// Drives the ZooKeeper 3.8 Java client for the SASL tests. The JVM is started with
// -Djava.security.auth.login.config=<file with a Client section> (or without, for no SASL).
// argv: <connectString> <step>...; a step is op,path[,data[,scheme:id]] with op one of
// create (ACL all perms for scheme:id), get, getacl, whoami (path ignored).
// Prints one JSON line for the connection ("state": the first of SaslAuthenticated,
// AuthFailed, or SyncConnected when no SASL event came within 10 s; without a JAAS
// file SyncConnected at once) and one per step:
// {"step":..,"ok":..} or {"step":..,"error":"<KeeperException code name, or exception class>"}.
import java.util.*;
import java.util.concurrent.*;
import org.apache.zookeeper.*;
import org.apache.zookeeper.data.*;

public class SaslJava {
  static String q(String s) { return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\""; }

  public static void main(String[] args) throws Exception {
    BlockingQueue<Watcher.Event.KeeperState> states = new LinkedBlockingQueue<>();
    ZooKeeper zk = new ZooKeeper(args[0], 10000, e -> { if (e.getType() == Watcher.Event.EventType.None) states.add(e.getState()); });
    String state = "none";
    long deadline = System.currentTimeMillis() + 20000;
    boolean connected = false;
    boolean sasl = System.getProperty("java.security.auth.login.config") != null;
    while (System.currentTimeMillis() < deadline) {
      Watcher.Event.KeeperState s = states.poll(connected ? 10000 : deadline - System.currentTimeMillis(), TimeUnit.MILLISECONDS);
      if (s == null) { if (connected) state = "SyncConnected"; break; }
      if (s == Watcher.Event.KeeperState.SyncConnected && !sasl) { state = s.toString(); break; }
      if (s == Watcher.Event.KeeperState.SyncConnected) { connected = true; continue; }
      state = s.toString();
      if (s == Watcher.Event.KeeperState.SaslAuthenticated || s == Watcher.Event.KeeperState.AuthFailed) break;
    }
    System.out.println("{\"step\":\"connect\",\"state\":" + q(state) + "}");
    for (int i = 1; i < args.length; i++) {
      String[] p = args[i].split(",", 4);
      try {
        String ok;
        switch (p[0]) {
          case "create": {
            String[] id = p[3].split(":", 2);
            ok = q(zk.create(p[1], p[2].getBytes("UTF-8"), Collections.singletonList(new ACL(ZooDefs.Perms.ALL, new Id(id[0], id[1]))), CreateMode.PERSISTENT));
            break;
          }
          case "get": ok = q(new String(zk.getData(p[1], false, null), "UTF-8")); break;
          case "getacl": {
            StringBuilder b = new StringBuilder("[");
            for (ACL a : zk.getACL(p[1], new Stat())) b.append(b.length() > 1 ? "," : "").append("[").append(a.getPerms()).append(",").append(q(a.getId().getScheme())).append(",").append(q(a.getId().getId())).append("]");
            ok = b.append("]").toString();
            break;
          }
          case "whoami": {
            List<ClientInfo> who = zk.whoAmI();
            if (who == null) { ok = "null"; break; }
            StringBuilder b = new StringBuilder("[");
            for (ClientInfo c : who) b.append(b.length() > 1 ? "," : "").append("[").append(q(c.getAuthScheme())).append(",").append(q(c.getUser())).append("]");
            ok = b.append("]").toString();
            break;
          }
          default: throw new IllegalArgumentException(p[0]);
        }
        System.out.println("{\"step\":" + q(p[0]) + ",\"ok\":" + ok + "}");
      } catch (KeeperException e) {
        System.out.println("{\"step\":" + q(p[0]) + ",\"error\":" + q(e.code().name()) + "}");
      } catch (RuntimeException e) {
        System.out.println("{\"step\":" + q(p[0]) + ",\"error\":" + q(e.getClass().getSimpleName()) + "}");
      }
    }
    zk.close(2000);
  }
}
