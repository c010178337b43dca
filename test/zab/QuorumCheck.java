// Answers containsQuorum questions with ZooKeeper's own verifiers, for test/zab/quorum.test.ts.
// argv[0]: a properties file (server.N, group.G, weight.N lines). Builds QuorumHierarchical when
// there is a group line, else QuorumMaj, as QuorumPeerConfig does. Prints "weights id=w,..." once,
// then for each stdin line of comma-separated ids prints true/false: containsQuorum of the
// voters among them (SyncedLearnerTracker counts only voting members).
import java.io.*;
import java.util.*;
import org.apache.zookeeper.server.quorum.flexible.*;

public class QuorumCheck {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        try (InputStream in = new FileInputStream(args[0])) { props.load(in); }
        boolean hierarchical = props.stringPropertyNames().stream().anyMatch(k -> k.startsWith("group"));
        QuorumVerifier qv = hierarchical ? new QuorumHierarchical(props) : new QuorumMaj(props);
        StringBuilder w = new StringBuilder("weights");
        for (long id : new TreeSet<>(qv.getVotingMembers().keySet())) w.append(' ').append(id).append('=').append(qv.getWeight(id));
        System.out.println(w);
        BufferedReader r = new BufferedReader(new InputStreamReader(System.in));
        for (String line; (line = r.readLine()) != null;) {
            Set<Long> ids = new HashSet<>();
            for (String s : line.split(",")) if (!s.isEmpty()) {
                long id = Long.parseLong(s);
                if (qv.getVotingMembers().containsKey(id)) ids.add(id);
            }
            System.out.println(qv.containsQuorum(ids));
        }
    }
}
