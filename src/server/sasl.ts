// Client SASL: the server side of DIGEST-MD5 (RFC 2831) as ZooKeeper 3.8 runs it
// through the JDK (ZooKeeperSaslServer over com.sun.security.sasl.digest.DigestMD5Server,
// protocol "zookeeper", server name and realm "zk-sasl-md5", qop auth only), and the
// rules around it (ZooKeeperServer.processSasl, AuthenticationHelper):
// - every sasl request (op 102) carries one token; the first is answered with a
//   challenge whatever it holds, the second must be the digest response and is
//   answered with rspauth; the exchange is then over, and any further token fails.
// - success adds Id(sasl, <authorized id>) to the connection, and Id(super, "") when
//   that id is a zookeeper.superUser.
// - failure answers AuthFailed (SessionClosedRequireSaslAuth when SASL is required)
//   with an empty token and closes the connection; with zookeeper.allowSaslFailedClients
//   (and SASL not required) it answers Ok with no token and the connection stays.
// - without a JAAS server section every token is answered Ok with no token.
// - with enforcement on, any request but auth and sasl from a connection holding none
//   of the enforced schemes is answered SessionClosedRequireSaslAuth and the connection closed.

import { createHash, randomBytes } from 'node:crypto';
import type { ClientAuthConfig } from '../config/auth.ts';
import { Err } from '../proto/constants.ts';
import type { Id } from '../proto/records.ts';
import { SUPER } from '../tree/acl.ts';

export const SASL_REALM = 'zk-sasl-md5';
const DIGEST_URI = `zookeeper/${SASL_REALM}`;
/** DigestMD5Server refuses longer responses */
const MAX_RESPONSE_LENGTH = 4096;

export class SaslError extends Error {}

const md5 = (...parts: (Buffer | string)[]) => {
  const h = createHash('md5');
  for (const p of parts) h.update(p);
  return h.digest();
};
const hex = (b: Buffer) => b.toString('hex');

/**
 * With charset=utf-8, RFC 2831 hashes a string as ISO 8859-1 when every character
 * fits in it, as UTF-8 otherwise (the JDK does the same).
 */
function hashBytes(s: string, utf8: boolean): Buffer {
  return utf8 && [...s].some((c) => c.codePointAt(0)! > 0xff) ? Buffer.from(s, 'utf8') : Buffer.from(s, 'latin1');
}

/**
 * The directives of a digest-response: `key=value` or `key="quoted"` (backslash
 * escapes the next character), separated by commas. Throws on anything else.
 */
export function parseDirectives(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  const skipSpace = () => {
    while (i < text.length && /[ \t\r\n]/.test(text[i]!)) i++;
  };
  while (i < text.length) {
    skipSpace();
    if (text[i] === ',') {
      i++;
      continue;
    }
    const key = /^[A-Za-z0-9-]+/.exec(text.slice(i))?.[0];
    if (!key) throw new SaslError(`DIGEST-MD5: digest response format violation: directive name expected at offset ${i}`);
    i += key.length;
    skipSpace();
    if (text[i] !== '=') throw new SaslError(`DIGEST-MD5: digest response format violation: '=' expected after ${key}`);
    i++;
    skipSpace();
    let value = '';
    if (text[i] === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) value += text[i] === '\\' ? text[++i] ?? '' : text[i];
      if (text[i] !== '"') throw new SaslError(`DIGEST-MD5: digest response format violation: unterminated quoted value of ${key}`);
      i++;
    } else {
      while (i < text.length && text[i] !== ',' && !/[ \t\r\n]/.test(text[i]!)) value += text[i++];
    }
    const name = key.toLowerCase();
    if (out.has(name)) throw new SaslError(`DIGEST-MD5: digest response format violation: ${name} appears twice`);
    out.set(name, value);
    skipSpace();
    if (i < text.length && text[i] !== ',') throw new SaslError(`DIGEST-MD5: digest response format violation: ',' expected after ${key}`);
  }
  return out;
}

/**
 * The id ZooKeeper's SaslServerCallbackHandler authorizes: the user name through
 * Kerberos short-name rules. With no Kerberos realm configured (Paddock has none)
 * a plain name stays as it is; a name with a host part or a realm matches no rule,
 * and then the JDK keeps the requested authorization id.
 */
function authorizedId(user: string, authzid: string | undefined): string {
  const kerberos = /^([^/@]*)(\/([^/@]*))?@([^/@]*)$/.exec(user);
  if (!kerberos) {
    if (user.includes('@')) throw new SaslError(`DIGEST-MD5: malformed Kerberos name ${user}`);
    return user;
  }
  return kerberos[3] === undefined && kerberos[4] === '' ? user : (authzid ?? user);
}

/** One connection's DIGEST-MD5 exchange. */
export class DigestMd5Server {
  private step: 'challenge' | 'response' | 'over' = 'challenge';
  private readonly nonce = randomBytes(30).toString('base64');

  constructor(private readonly users: ReadonlyMap<string, string>) {}

  /** The next token for the client, and the authorized id once the exchange succeeded; throws SaslError. */
  evaluate(token: Buffer): { reply: Buffer; authorized?: string } {
    if (token.length > MAX_RESPONSE_LENGTH) {
      this.step = 'over';
      throw new SaslError(`DIGEST-MD5: invalid digest response length ${token.length} (at most ${MAX_RESPONSE_LENGTH})`);
    }
    switch (this.step) {
      case 'challenge':
        this.step = 'response';
        return { reply: Buffer.from(`realm="${SASL_REALM}",nonce="${this.nonce}",charset=utf-8,algorithm=md5-sess`, 'utf8') };
      case 'response':
        this.step = 'over';
        return this.verify(token);
      case 'over':
        throw new SaslError('DIGEST-MD5: the exchange is over (a token after the last one)');
    }
  }

  private verify(token: Buffer): { reply: Buffer; authorized: string } {
    const raw = parseDirectives(token.toString('latin1'));
    const charset = raw.get('charset');
    if (charset !== undefined && charset.toLowerCase() !== 'utf-8') throw new SaslError(`DIGEST-MD5: incompatible charset ${charset}`);
    const utf8 = charset !== undefined;
    const get = (name: string) => {
      const v = raw.get(name);
      return v === undefined || !utf8 ? v : Buffer.from(v, 'latin1').toString('utf8');
    };
    const need = (name: string) => get(name) ?? fail(`missing ${name}`);
    const fail = (what: string): never => {
      throw new SaslError(`DIGEST-MD5: digest response format violation: ${what}`);
    };

    const user = need('username');
    const realm = get('realm') ?? '';
    if (realm !== '' && realm !== SASL_REALM) fail(`nonexistent realm ${realm}`);
    if (need('nonce') !== this.nonce) fail('mismatched nonce');
    const cnonce = need('cnonce');
    const nc = get('nc') ?? '';
    if (parseInt(nc, 16) !== 1) fail(`nonce count ${nc} is not 00000001`);
    const qop = get('qop') ?? 'auth';
    if (qop !== 'auth') fail(`qop ${qop} was not offered (only auth)`);
    const uri = need('digest-uri');
    if (uri.toLowerCase() !== DIGEST_URI) fail(`mismatched digest-uri ${uri} (expected ${DIGEST_URI})`);
    const authzid = get('authzid');
    const password = this.users.get(user);
    if (password === undefined) throw new SaslError(`DIGEST-MD5: cannot acquire password for ${user} in realm ${SASL_REALM}`);

    const a1 = md5(md5(hashBytes(user, utf8), ':', hashBytes(realm, utf8), ':', hashBytes(password, utf8)), `:${this.nonce}:${cnonce}`, authzid === undefined ? '' : `:${authzid}`);
    const digest = (a2: string) => hex(md5(`${hex(a1)}:${this.nonce}:${nc}:${cnonce}:${qop}:${hex(md5(a2))}`));
    if (need('response').toLowerCase() !== digest(`AUTHENTICATE:${uri}`)) fail('mismatched response (wrong password?)');
    return { reply: Buffer.from(`rspauth=${digest(`:${uri}`)}`, 'latin1'), authorized: authorizedId(user, authzid) };
  }
}

/** What to answer a sasl request: the reply, and whether the connection then closes. */
export interface SaslAnswer {
  err: number;
  token: Buffer | null;
  close: boolean;
  /** why the exchange failed, for the log */
  message?: string;
}

/** A connection as SASL sees it: the ids it holds. */
interface Authenticated {
  readonly authIds: Id[];
}

/** The server's client SASL and enforcement rules; one exchange per connection. */
export class ClientSasl {
  private readonly exchanges = new WeakMap<Authenticated, DigestMd5Server>();

  constructor(private readonly config: ClientAuthConfig) {}

  /** Answer one sasl token of `client` (ids are added to it on success). */
  answer(client: Authenticated, token: Buffer): SaslAnswer {
    const users = this.config.saslUsers;
    // ZooKeeper without a JAAS server section has no SaslServer: every token is answered Ok, empty.
    if (!users) return { err: Err.ok, token: null, close: false };
    let exchange = this.exchanges.get(client);
    if (!exchange) this.exchanges.set(client, (exchange = new DigestMd5Server(users)));
    try {
      const { reply, authorized } = exchange.evaluate(token);
      if (authorized === undefined) return { err: Err.ok, token: reply, close: false };
      const add = (id: Id) => {
        if (!client.authIds.some((a) => a.scheme === id.scheme && a.id === id.id)) client.authIds.push(id);
      };
      add({ scheme: 'sasl', id: authorized });
      if (this.config.saslSuperUsers.has(authorized)) add(SUPER);
      return { err: Err.ok, token: reply, close: false };
    } catch (e) {
      if (!(e instanceof SaslError)) throw e;
      const required = this.config.enforcedSchemes.includes('sasl');
      if (this.config.allowSaslFailedClients && !required) return { err: Err.ok, token: null, close: false };
      return { err: required ? Err.sessionClosedRequireSaslAuth : Err.authFailed, token: null, close: true, message: e.message };
    }
  }

  /** Whether `client` may make requests other than auth and sasl. */
  admits(client: Authenticated): boolean {
    const schemes = this.config.enforcedSchemes;
    return schemes.length === 0 || client.authIds.some((id) => schemes.includes(id.scheme));
  }
}
