// Client authentication settings, from the system properties ZooKeeper 3.8 reads
// (zoo.cfg keys it does not know arrive here as zookeeper.<key>):
// - zookeeper.authProvider.N: providers beyond digest and ip (ProviderRegistry);
//   of these Paddock has SASLAuthenticationProvider (scheme sasl) and X509AuthenticationProvider
// - java.security.auth.login.config: the JAAS file; its `Server` section (or the one
//   zookeeper.sasl.serverconfig names) holds the DIGEST-MD5 users as user_<name>="<password>"
//   options of org.apache.zookeeper.server.auth.DigestLoginModule (ServerCnxnFactory.configureSaslLogin,
//   SaslServerCallbackHandler). Kerberos (Krb5LoginModule, GSSAPI) is refused at start-up.
// - zookeeper.superUser[.*], zookeeper.SASLAuthenticationProvider.superPassword,
//   zookeeper.allowSaslFailedClients (ZooKeeperServer)
// - zookeeper.sessionRequireClientSASLAuth, zookeeper.enforce.auth.enabled / .schemes (AuthenticationHelper)

import { JaasError, parseJaas, type LoginModuleEntry } from './jaas.ts';
import type { SystemProperty } from './jvmflags.ts';

export interface ClientAuthConfig {
  /** schemes of the providers registered beyond digest and ip (authProvider.N) */
  providers: Set<string>;
  /** the DIGEST-MD5 users (name to password) of the JAAS server section; null without one (no SASL then) */
  saslUsers: Map<string, string> | null;
  /** SASL ids that become super (zookeeper.superUser, zookeeper.superUser.*) */
  saslSuperUsers: Set<string>;
  /** a failed SASL exchange leaves the connection open (unless SASL is required) */
  allowSaslFailedClients: boolean;
  /** a session must hold an id of one of these schemes before any request but auth and sasl; empty: not enforced */
  enforcedSchemes: string[];
}

export const NO_CLIENT_AUTH: ClientAuthConfig = {
  providers: new Set(),
  saslUsers: null,
  saslSuperUsers: new Set(),
  allowSaslFailedClients: false,
  enforcedSchemes: [],
};

/** The auth provider classes Paddock has, by the scheme each provides. */
const PROVIDER_SCHEMES: Record<string, string> = {
  'org.apache.zookeeper.server.auth.DigestAuthenticationProvider': 'digest',
  'org.apache.zookeeper.server.auth.IPAuthenticationProvider': 'ip',
  'org.apache.zookeeper.server.auth.SASLAuthenticationProvider': 'sasl',
  'org.apache.zookeeper.server.auth.X509AuthenticationProvider': 'x509',
};
/** digest and ip are always there; x509 is what a TLS client authenticates with (src/tls), whatever authProvider says. */
const ALWAYS_REGISTERED = ['digest', 'ip', 'x509'];

const DIGEST_LOGIN_MODULE = 'org.apache.zookeeper.server.auth.DigestLoginModule';
const KERBEROS_LOGIN_MODULE = /Krb5LoginModule$/;

/** System properties the settings above come from (without the zookeeper. prefix), for the config's list of used keys. */
export const CLIENT_AUTH_PROPERTIES = [
  'superUser',
  'SASLAuthenticationProvider.superPassword',
  'allowSaslFailedClients',
  'sessionRequireClientSASLAuth',
  'enforce.auth.enabled',
  'enforce.auth.schemes',
  'sasl.serverconfig',
];

/**
 * The client authentication settings. Throws (an Error with a message fit for the
 * start-up log) where ZooKeeper refuses to start; notes what it ignores in `ignored`.
 */
export function clientAuthConfig(props: ReadonlyMap<string, SystemProperty>, readFile: (path: string) => string, ignored: string[]): ClientAuthConfig {
  const prop = (name: string) => props.get(name)?.value;
  const isTrue = (name: string) => prop(name)?.toLowerCase() === 'true';

  const providers = new Set<string>();
  for (const [name, p] of props) {
    if (!name.startsWith('zookeeper.authProvider.')) continue;
    const scheme = PROVIDER_SCHEMES[p.value.trim()];
    if (scheme === undefined) ignored.push(`${p.from}: ${name}=${p.value} is not supported; ignored`);
    else if (!ALWAYS_REGISTERED.includes(scheme)) providers.add(scheme);
  }

  const saslSuperUsers = new Set<string>();
  for (const [name, p] of props) if (/^zookeeper\.superUser(\..*)?$/.test(name) && p.value !== '') saslSuperUsers.add(p.value);

  // zookeeper.sessionRequireClientSASLAuth=true means enforce.auth with scheme sasl, whatever those say.
  let enforcedSchemes: string[] = [];
  if (isTrue('zookeeper.sessionRequireClientSASLAuth')) {
    enforcedSchemes = ['sasl'];
  } else if (isTrue('zookeeper.enforce.auth.enabled')) {
    enforcedSchemes = (prop('zookeeper.enforce.auth.schemes') ?? '').split(',').map((s) => s.trim());
    if (prop('zookeeper.enforce.auth.schemes') === undefined) {
      throw new Error('zookeeper.enforce.auth.enabled is true, so zookeeper.enforce.auth.schemes must be set');
    }
  }
  for (const scheme of enforcedSchemes) {
    if (!ALWAYS_REGISTERED.includes(scheme) && !providers.has(scheme)) {
      const hint = scheme === 'sasl' ? ' (add authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider)' : '';
      throw new Error(`authentication is enforced for scheme '${scheme}', which is not available${hint}`);
    }
  }

  return {
    providers,
    saslUsers: saslUsers(props, readFile),
    saslSuperUsers,
    allowSaslFailedClients: isTrue('zookeeper.allowSaslFailedClients'),
    enforcedSchemes,
  };
}

/** The DIGEST-MD5 users of the JAAS server section; null when there is no JAAS file or no such section. */
function saslUsers(props: ReadonlyMap<string, SystemProperty>, readFile: (path: string) => string): Map<string, string> | null {
  const jaas = readJaasFile(props, readFile);
  const entries = jaas && digestSection(jaas, props.get('zookeeper.sasl.serverconfig')?.value ?? 'Server');
  if (!entries) return null;
  const users = digestUsers(entries);
  // ZooKeeper takes the password of user "super" from this property when it is set (the user must still be listed).
  const superPassword = props.get('zookeeper.SASLAuthenticationProvider.superPassword')?.value;
  if (superPassword !== undefined && users.has('super')) users.set('super', superPassword);
  return users;
}

/** The JAAS file -Djava.security.auth.login.config names, parsed, and how messages name it. */
export interface JaasFile {
  where: string;
  sections: Map<string, LoginModuleEntry[]>;
}

/** The JAAS file; null when java.security.auth.login.config is not set. Throws when it cannot be read or parsed. */
export function readJaasFile(props: ReadonlyMap<string, SystemProperty>, readFile: (path: string) => string): JaasFile | null {
  const file = props.get('java.security.auth.login.config');
  if (!file) return null;
  const where = `JAAS file ${file.value} (java.security.auth.login.config, ${file.from})`;
  let text: string;
  try {
    text = readFile(file.value);
  } catch (err) {
    throw new Error(`${where}: cannot read it: ${(err as Error).message}`);
  }
  try {
    return { where, sections: parseJaas(text, (name) => props.get(name)?.value ?? (name === 'user.home' ? process.env.HOME : undefined)) };
  } catch (err) {
    if (err instanceof JaasError) throw new Error(`${where}: ${err.message}`);
    throw err;
  }
}

/**
 * The options of each entry of section `name`, every one a DigestLoginModule (Kerberos and
 * other modules are refused); null when the file has no such section or it is empty.
 */
export function digestSection(jaas: JaasFile, name: string): Map<string, string>[] | null {
  const entries = jaas.sections.get(name);
  if (!entries || entries.length === 0) return null;
  for (const entry of entries) {
    if (KERBEROS_LOGIN_MODULE.test(entry.loginModule)) {
      throw new Error(
        `${jaas.where}: section ${name} uses ${entry.loginModule}: Kerberos (GSSAPI) is not supported by Paddock; ` +
          `use ${DIGEST_LOGIN_MODULE} (DIGEST-MD5)`,
      );
    }
    if (entry.loginModule !== DIGEST_LOGIN_MODULE) {
      throw new Error(`${jaas.where}: section ${name} uses login module ${entry.loginModule}, which Paddock does not have (it has ${DIGEST_LOGIN_MODULE})`);
    }
  }
  return entries.map((e) => e.options);
}

/** A server section's users: every user_<name>="<password>" option, whichever entry holds it (SaslServerCallbackHandler). */
export function digestUsers(entries: Map<string, string>[]): Map<string, string> {
  const users = new Map<string, string>();
  for (const options of entries) for (const [key, value] of options) if (key.startsWith('user_')) users.set(key.slice(5), value);
  return users;
}
