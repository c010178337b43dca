// Quorum SASL settings: the zoo.cfg keys QuorumPeerConfig parses (quorum.auth.*) and the
// JAAS sections QuorumPeer.initialize logs in with (SaslQuorumAuthServer, SaslQuorumAuthLearner):
// - quorum.auth.enableSasl: this server answers a peer that authenticates, and can authenticate
//   itself; both JAAS sections must then exist (ZooKeeper will not start without them);
// - quorum.auth.learnerRequireSasl: it authenticates on every connection it opens (election
//   connections and the learner's connection to its leader);
// - quorum.auth.serverRequireSasl: it refuses a connection on which the peer does not authenticate;
// - quorum.auth.server.saslLoginContext (default QuorumServer): the section whose
//   user_<name>="<password>" options are the peers it accepts;
// - quorum.auth.learner.saslLoginContext (default QuorumLearner): the section whose
//   username and password it authenticates with;
// - quorum.auth.kerberos.servicePrincipal: Kerberos only. Kerberos (GSSAPI) is refused at start-up.
// config.ts has already refused the combinations ZooKeeper refuses (a require without enableSasl,
// serverRequireSasl without learnerRequireSasl). src/runtime/quorum-auth.ts runs the handshakes.

import { digestSection, digestUsers, readJaasFile } from './auth.ts';
import type { SystemProperty } from './jvmflags.ts';

export interface QuorumAuthConfig {
  learnerRequireSasl: boolean;
  serverRequireSasl: boolean;
  /** the server section's users, name to password: the peers this server accepts */
  users: Map<string, string>;
  /** the learner section's credentials; null when it has none (then learnerRequireSasl is off) */
  learner: { username: string; password: string } | null;
}

/** The zoo.cfg entries: a key's value, and where it is set for messages. */
export interface ConfigKeys {
  get(key: string): string | undefined;
  where(key: string): string;
}

/**
 * The quorum SASL settings; null when quorum.auth.enableSasl is not true. Throws (an
 * Error with a message fit for the start-up log) where ZooKeeper refuses to start.
 */
export function quorumAuthConfig(
  cfg: ConfigKeys,
  props: ReadonlyMap<string, SystemProperty>,
  readFile: (path: string) => string,
  ignored: string[],
): QuorumAuthConfig | null {
  const isTrue = (key: string) => cfg.get(`quorum.auth.${key}`)?.toLowerCase() === 'true';
  if (!isTrue('enableSasl')) return null;
  const jaas = readJaasFile(props, readFile);
  if (!jaas) throw new Error('quorum.auth.enableSasl=true needs a JAAS file: set -Djava.security.auth.login.config=<file> in SERVER_JVMFLAGS');
  const section = (key: string, dflt: string) => {
    const name = cfg.get(`quorum.auth.${key}.saslLoginContext`) ?? dflt;
    const entries = digestSection(jaas, name);
    if (!entries) throw new Error(`${jaas.where}: no section ${name} (quorum.auth.${key}.saslLoginContext), which quorum.auth.enableSasl=true needs`);
    return { name, entries };
  };
  const server = section('server', 'QuorumServer');
  const learnerSection = section('learner', 'QuorumLearner');

  // DigestLoginModule keeps the username and password of an entry that has a username.
  const credentials = learnerSection.entries.find((options) => options.has('username'));
  const learnerRequireSasl = isTrue('learnerRequireSasl');
  if (learnerRequireSasl && credentials?.get('password') === undefined) {
    throw new Error(`${jaas.where}: section ${learnerSection.name} needs username="<name>" and password="<password>", as quorum.auth.learnerRequireSasl=true`);
  }
  const principal = 'quorum.auth.kerberos.servicePrincipal';
  if (cfg.get(principal) !== undefined) ignored.push(`${cfg.where(principal)}: ${principal} is for Kerberos, which Paddock does not do (DIGEST-MD5 only); ignored`);

  return {
    learnerRequireSasl,
    serverRequireSasl: isTrue('serverRequireSasl'),
    users: digestUsers(server.entries),
    learner: credentials?.has('password') ? { username: credentials.get('username')!, password: credentials.get('password')! } : null,
  };
}
