// A Java ZooKeeper client for test/tls.test.ts: connects (TLS settings come as
// -Dzookeeper.* flags), runs the steps given as arguments and prints one JSON
// line per step:
//   whoami                    {"step":"whoami","ids":["scheme=id",...]}
//   create:/path:data:x509|world  create with an ACL for this client's x509 id, or world:anyone
//   get:/path                 {"step":"get:/path","ok":true,"data":"..."} or {"ok":false,"code":"NOAUTH"}
// A client that cannot connect within 15 s prints {"step":"connect","ok":false}.

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.ClientInfo;
import org.apache.zookeeper.data.Id;

public class TlsProbe {
    static String json(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }

    public static void main(String[] args) throws Exception {
        CountDownLatch connected = new CountDownLatch(1);
        ZooKeeper zk = new ZooKeeper(args[0], 10000, e -> {
            if (e.getState() == Watcher.Event.KeeperState.SyncConnected) connected.countDown();
        });
        if (!connected.await(15, TimeUnit.SECONDS)) {
            System.out.println("{\"step\":\"connect\",\"ok\":false}");
            zk.close();
            System.exit(0);
        }
        System.out.println("{\"step\":\"connect\",\"ok\":true}");
        for (int i = 1; i < args.length; i++) {
            String step = args[i];
            String[] p = step.split(":", 4);
            try {
                if (p[0].equals("whoami")) {
                    List<String> ids = new ArrayList<>();
                    for (ClientInfo ci : zk.whoAmI()) ids.add(json(ci.getAuthScheme() + "=" + ci.getUser()));
                    System.out.println("{\"step\":\"whoami\",\"ids\":[" + String.join(",", ids) + "]}");
                } else if (p[0].equals("create")) {
                    List<ACL> acl = new ArrayList<>();
                    if (p[3].equals("x509")) {
                        for (ClientInfo ci : zk.whoAmI()) {
                            if (ci.getAuthScheme().equals("x509")) acl.add(new ACL(ZooDefs.Perms.ALL, new Id("x509", ci.getUser())));
                        }
                    } else {
                        acl = ZooDefs.Ids.OPEN_ACL_UNSAFE;
                    }
                    zk.create(p[1], p[2].getBytes(StandardCharsets.UTF_8), acl, CreateMode.PERSISTENT);
                    System.out.println("{\"step\":" + json(step) + ",\"ok\":true}");
                } else if (p[0].equals("get")) {
                    byte[] data = zk.getData(p[1], false, null);
                    System.out.println("{\"step\":" + json(step) + ",\"ok\":true,\"data\":" + json(new String(data, StandardCharsets.UTF_8)) + "}");
                }
            } catch (KeeperException e) {
                System.out.println("{\"step\":" + json(step) + ",\"ok\":false,\"code\":" + json(e.code().name()) + "}");
            }
        }
        zk.close();
    }
}
