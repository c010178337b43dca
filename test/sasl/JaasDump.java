// Reads JAAS files with the JDK's own parser (sun.security.provider.ConfigFile, through
// Configuration.getInstance("JavaLoginConfig")), for the JAAS differential test.
// argv: <section names, comma-separated> <file>...; prints one JSON line per file:
// {"error":"..."} or {"sections":{"<name>":[["<module>","<flag>",{"<key>":"<value>",...}],...],...}}
// (a section the file does not have, or an empty one, is left out, as getAppConfigurationEntry gives null).
import java.io.File;
import java.security.URIParameter;
import java.util.*;
import javax.security.auth.login.*;

public class JaasDump {
  static String q(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      if (c == '"' || c == '\\') b.append('\\').append(c);
      else if (c < 0x20 || c > 0x7e) b.append(String.format("\\u%04x", (int) c));
      else b.append(c);
    }
    return b.append('"').toString();
  }

  public static void main(String[] args) {
    String[] names = args[0].split(",");
    for (int f = 1; f < args.length; f++) {
      try {
        Configuration c = Configuration.getInstance("JavaLoginConfig", new URIParameter(new File(args[f]).toURI()));
        StringBuilder out = new StringBuilder("{\"sections\":{");
        boolean firstSection = true;
        for (String n : names) {
          AppConfigurationEntry[] es = c.getAppConfigurationEntry(n);
          if (es == null) continue;
          out.append(firstSection ? "" : ",").append(q(n)).append(":[");
          firstSection = false;
          for (int i = 0; i < es.length; i++) {
            String flag = es[i].getControlFlag().toString().replace("LoginModuleControlFlag: ", "");
            out.append(i > 0 ? "," : "").append("[").append(q(es[i].getLoginModuleName())).append(",").append(q(flag)).append(",{");
            boolean firstOption = true;
            for (Map.Entry<String, ?> o : new TreeMap<String, Object>(es[i].getOptions()).entrySet()) {
              out.append(firstOption ? "" : ",").append(q(o.getKey())).append(":").append(q(String.valueOf(o.getValue())));
              firstOption = false;
            }
            out.append("}]");
          }
          out.append("]");
        }
        System.out.println(out.append("}}"));
      } catch (Exception e) {
        Throwable cause = e.getCause() != null ? e.getCause() : e;
        System.out.println("{\"error\":" + q(String.valueOf(cause.getMessage())) + "}");
      }
    }
  }
}
