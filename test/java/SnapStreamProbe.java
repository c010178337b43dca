// A Zab SNAP payload through Apache ZooKeeper's own code, for
// test/snapstream.test.ts:
//   read FILE    deserialize FILE as a learner does (SerializeUtils.deserializeSnapshot,
//                then the "BenWasHere" signature) and print the tree
//   write FILE   build a DataTree, serialize it as a leader does
//                (SerializeUtils.serializeSnapshot + signature) into FILE, print the tree
// The printed form (one line per session, then per node in pre-order with
// children sorted; data longer than 64 bytes as its length and SHA-256) is
// the one the test prints for Paddock's trees.

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.jute.BinaryInputArchive;
import org.apache.jute.BinaryOutputArchive;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.StatPersisted;
import org.apache.zookeeper.server.DataNode;
import org.apache.zookeeper.server.DataTree;
import org.apache.zookeeper.server.util.SerializeUtils;

public class SnapStreamProbe {
  static final String SIGNATURE = "BenWasHere";

  public static void main(String[] args) throws Exception {
    DataTree dt;
    Map<Long, Integer> sessions;
    if (args[0].equals("read")) {
      dt = new DataTree();
      sessions = new HashMap<>();
      try (InputStream in = new BufferedInputStream(new FileInputStream(args[1]))) {
        BinaryInputArchive ia = BinaryInputArchive.getArchive(in);
        SerializeUtils.deserializeSnapshot(dt, ia, sessions);
        String sig = ia.readString("signature");
        if (!SIGNATURE.equals(sig)) throw new IllegalStateException("Missing signature. Got " + sig);
        if (in.read() != -1) throw new IllegalStateException("bytes after the signature");
      }
    } else {
      dt = build();
      sessions = new HashMap<>();
      sessions.put(0x1000000abcdefL, 30000);
      sessions.put(0x2000000000001L, 10000);
      try (OutputStream out = new BufferedOutputStream(new FileOutputStream(args[1]))) {
        BinaryOutputArchive oa = BinaryOutputArchive.getArchive(out);
        SerializeUtils.serializeSnapshot(dt, oa, sessions);
        oa.writeString(SIGNATURE, "signature");
      }
    }
    print(dt, sessions);
  }

  static DataTree build() throws Exception {
    DataTree dt = new DataTree();
    List<ACL> digest = List.of(new ACL(ZooDefs.Perms.ALL, new Id("digest", "bob:vvSj2BQeYJlaYzWkP0BR4ya0Ltc=")));
    List<ACL> mixed = List.of(new ACL(ZooDefs.Perms.READ, new Id("world", "anyone")), new ACL(ZooDefs.Perms.ALL, new Id("ip", "127.0.0.1")));
    long z = 0x100000000L;
    long t = 1_700_000_000_000L;
    dt.createNode("/app", "hello".getBytes(StandardCharsets.UTF_8), digest, 0, -1, ++z, ++t);
    dt.createNode("/app/eph", new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE, 0x1000000abcdefL, -1, ++z, ++t);
    byte[] big = new byte[200_000];
    for (int i = 0; i < big.length; i++) big[i] = (byte) (i * 31);
    dt.createNode("/app/big", big, mixed, 0, -1, ++z, ++t);
    dt.createNode("/cont", null, ZooDefs.Ids.OPEN_ACL_UNSAFE, Long.MIN_VALUE, -1, ++z, ++t);
    dt.createNode("/ttl", "t".getBytes(StandardCharsets.UTF_8), ZooDefs.Ids.OPEN_ACL_UNSAFE, 0xFF00000000001388L, -1, ++z, ++t);
    dt.createNode("/nul", null, ZooDefs.Ids.READ_ACL_UNSAFE, 0, -1, ++z, ++t);
    dt.createNode("/\u00fcnicode-\u65e5\u672c", "\u2603".getBytes(StandardCharsets.UTF_8), mixed, 0, -1, ++z, ++t);
    dt.createNode("/many", null, ZooDefs.Ids.OPEN_ACL_UNSAFE, 0, -1, ++z, ++t);
    for (int i = 0; i < 6000; i++) {
      dt.createNode("/many/n" + i, ("v" + i).getBytes(StandardCharsets.UTF_8), i % 3 == 0 ? digest : ZooDefs.Ids.OPEN_ACL_UNSAFE, 0, -1, ++z, ++t);
    }
    dt.setData("/app", "changed".getBytes(StandardCharsets.UTF_8), 3, ++z, ++t);
    dt.setACL("/ttl", mixed, 2);
    dt.deleteNode("/many/n5", ++z);
    return dt;
  }

  static void print(DataTree dt, Map<Long, Integer> sessions) {
    StringBuilder sb = new StringBuilder();
    for (Map.Entry<Long, Integer> s : new TreeMap<>(sessions).entrySet()) {
      sb.append("session ").append(s.getKey()).append(' ').append(s.getValue()).append('\n');
    }
    walk(dt, "/", sb);
    System.out.print(sb);
  }

  static void walk(DataTree dt, String path, StringBuilder sb) {
    DataNode n = dt.getNode(path);
    StatPersisted s = n.stat;
    byte[] data = n.getData();
    StringBuilder acl = new StringBuilder();
    for (ACL a : dt.getACL(n)) {
      if (acl.length() > 0) acl.append(',');
      acl.append(a.getPerms()).append(':').append(a.getId().getScheme()).append(':').append(a.getId().getId());
    }
    sb.append("node ").append(path).append(' ').append(data == null ? "null" : data.length <= 64 ? hex(data) : "len=" + data.length + ",sha256=" + sha256(data)).append(' ')
        .append(s.getCzxid()).append(' ').append(s.getMzxid()).append(' ').append(s.getCtime()).append(' ').append(s.getMtime()).append(' ')
        .append(s.getVersion()).append(' ').append(s.getCversion()).append(' ').append(s.getAversion()).append(' ')
        .append(s.getEphemeralOwner()).append(' ').append(s.getPzxid()).append(' ').append(acl).append('\n');
    List<String> children = new ArrayList<>(n.getChildren());
    Collections.sort(children);
    for (String c : children) walk(dt, path.equals("/") ? "/" + c : path + "/" + c, sb);
  }

  static String sha256(byte[] b) {
    try {
      return hex(java.security.MessageDigest.getInstance("SHA-256").digest(b));
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  static String hex(byte[] b) {
    StringBuilder sb = new StringBuilder(b.length * 2);
    for (byte x : b) sb.append(Character.forDigit((x >> 4) & 15, 16)).append(Character.forDigit(x & 15, 16));
    return sb.toString();
  }
}
