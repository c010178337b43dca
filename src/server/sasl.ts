// DIGEST-MD5 (RFC 2831) as ZooKeeper 3.8 runs it through the JDK
// (com.sun.security.sasl.digest: qop auth only, algorithm md5-sess, charset utf-8,
// the realm is the server name): the server side (DigestMD5Server) and the client
// side (DigestMD5Client), each for one service:
// - client SASL (ZooKeeperSaslServer; protocol "zookeeper", server name "zk-sasl-md5"),
//   and the rules around it (ZooKeeperServer.processSasl, AuthenticationHelper), ClientSasl below:
//   - every sasl request (op 102) carries one token; the first is answered with a
//     challenge whatever it holds, the second must be the digest response and is
//     answered with rspauth; the exchange is then over, and any further token fails.
//   - success adds Id(sasl, <authorized id>) to the connection, and Id(super, "") when
//     that id is a zookeeper.superUser.
//   - failure answers AuthFailed (SessionClosedRequireSaslAuth when SASL is required)
//     with an empty token and closes the connection; with zookeeper.allowSaslFailedClients
//     (and SASL not required) it answers Ok with no token and the connection stays.
//   - without a JAAS server section every token is answered Ok with no token.
//   - with enforcement on, any request but auth and sasl from a connection holding none
//     of the enforced schemes is answered SessionClosedRequireSaslAuth and the connection closed.
// - quorum SASL (SaslQuorumAuthServer / SaslQuorumAuthLearner; protocol "zookeeper-quorum",
//   server name "zk-quorum-sasl-md5"): src/runtime/quorum-auth.ts carries the tokens.
// Either side's exchange is two rounds and then over: a further token is an error.

import { createHash, randomBytes } from 'node:crypto';
import type { ClientAuthConfig } from '../config/auth.ts';
import { Err } from '../proto/constants.ts';
import type { Id } from '../proto/records.ts';
import { SUPER } from '../tree/acl.ts';

/** Who a DIGEST-MD5 exchange is with: its digest-uri is protocol/serverName, and serverName is the realm. */
export interface SaslService {
  protocol: string;
  serverName: string;
}

export const CLIENT_SASL_SERVICE: SaslService = { protocol: 'zookeeper', serverName: 'zk-sasl-md5' };
export const QUORUM_SASL_SERVICE: SaslService = { protocol: 'zookeeper-quorum', serverName: 'zk-quorum-sasl-md5' };
const digestUri = (s: SaslService) => `${s.protocol}/${s.serverName}`;
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
 * The directives of a digest-challenge or digest-response (`what`, for messages):
 * `key=value` or `key="quoted"` (backslash escapes the next character), separated
 * by commas. Throws on anything else.
 */
export function parseDirectives(text: string, what = 'digest response'): Map<string, string> {
  const violation = (detail: string) => new SaslError(`DIGEST-MD5: ${what} format violation: ${detail}`);
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
    if (!key) throw violation(`directive name expected at offset ${i}`);
    i += key.length;
    skipSpace();
    if (text[i] !== '=') throw violation(`'=' expected after ${key}`);
    i++;
    skipSpace();
    let value = '';
    if (text[i] === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) value += text[i] === '\\' ? text[++i] ?? '' : text[i];
      if (text[i] !== '"') throw violation(`unterminated quoted value of ${key}`);
      i++;
    } else {
      while (i < text.length && text[i] !== ',' && !/[ \t\r\n]/.test(text[i]!)) value += text[i++];
    }
    const name = key.toLowerCase();
    if (out.has(name)) throw violation(`${name} appears twice`);
    out.set(name, value);
    skipSpace();
    if (i < text.length && text[i] !== ',') throw violation(`',' expected after ${key}`);
  }
  return out;
}

/** What both sides hash: RFC 2831's A1 of one exchange, and from it the digest of an A2. */
interface DigestInputs {
  user: string;
  realm: string;
  password: string;
  nonce: string;
  cnonce: string;
  nc: string;
  qop: string;
  authzid: string | undefined;
  utf8: boolean;
}

/** The response-value for `a2`: "AUTHENTICATE:<uri>" for the client's response, ":<uri>" for the server's rspauth. */
function digestFor(x: DigestInputs): (a2: string) => string {
  const a1 = md5(md5(hashBytes(x.user, x.utf8), ':', hashBytes(x.realm, x.utf8), ':', hashBytes(x.password, x.utf8)), `:${x.nonce}:${x.cnonce}`, x.authzid === undefined ? '' : `:${x.authzid}`);
  return (a2) => hex(md5(`${hex(a1)}:${x.nonce}:${x.nc}:${x.cnonce}:${x.qop}:${hex(md5(a2))}`));
}

/**
 * The id ZooKeeper's SaslServerCallbackHandler authorizes: the user name through
 * Kerberos short-name rules. With no Kerberos realm configured (Paddock has none)
 * a plain name stays as it is; a name with a host part or a realm matches no rule,
 * and then the JDK keeps the requested authorization id.
 */
function clientAuthorizedId(user: string, authzid: string | undefined): string {
  const kerberos = /^([^/@]*)(\/([^/@]*))?@([^/@]*)$/.exec(user);
  if (!kerberos) {
    if (user.includes('@')) throw new SaslError(`DIGEST-MD5: malformed Kerberos name ${user}`);
    return user;
  }
  return kerberos[3] === undefined && kerberos[4] === '' ? user : (authzid ?? user);
}

/** One connection's DIGEST-MD5 exchange, server side. */
export class DigestMd5Server {
  private step: 'challenge' | 'response' | 'over' = 'challenge';
  private readonly nonce = randomBytes(30).toString('base64');

  constructor(
    private readonly users: ReadonlyMap<string, string>,
    private readonly service: SaslService,
    /** the authorized id of an authenticated user asking for authzid (absent: none asked for); throws SaslError to refuse */
    private readonly authorize: (user: string, authzid: string | undefined) => string,
  ) {}

  /** The next token for the client, and the authorized id once the exchange succeeded; throws SaslError. */
  evaluate(token: Buffer): { reply: Buffer; authorized?: string } {
    if (token.length > MAX_RESPONSE_LENGTH) {
      this.step = 'over';
      throw new SaslError(`DIGEST-MD5: invalid digest response length ${token.length} (at most ${MAX_RESPONSE_LENGTH})`);
    }
    switch (this.step) {
      case 'challenge':
        this.step = 'response';
        return { reply: Buffer.from(`realm="${this.service.serverName}",nonce="${this.nonce}",charset=utf-8,algorithm=md5-sess`, 'utf8') };
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

    const realmName = this.service.serverName;
    const user = need('username');
    const realm = get('realm') ?? '';
    if (realm !== '' && realm !== realmName) fail(`nonexistent realm ${realm}`);
    if (need('nonce') !== this.nonce) fail('mismatched nonce');
    const cnonce = need('cnonce');
    const nc = get('nc') ?? '';
    if (parseInt(nc, 16) !== 1) fail(`nonce count ${nc} is not 00000001`);
    const qop = get('qop') ?? 'auth';
    if (qop !== 'auth') fail(`qop ${qop} was not offered (only auth)`);
    const uri = need('digest-uri');
    const expectedUri = digestUri(this.service);
    if (uri.toLowerCase() !== expectedUri) fail(`mismatched digest-uri ${uri} (expected ${expectedUri})`);
    const authzid = get('authzid');
    const password = this.users.get(user);
    if (password === undefined) throw new SaslError(`DIGEST-MD5: cannot acquire password for ${user} in realm ${realmName}`);

    const digest = digestFor({ user, realm, password, nonce: this.nonce, cnonce, nc, qop, authzid, utf8 });
    if (need('response').toLowerCase() !== digest(`AUTHENTICATE:${uri}`)) fail('mismatched response (wrong password?)');
    const authorized = this.authorize(user, authzid);
    return { reply: Buffer.from(`rspauth=${digest(`:${uri}`)}`, 'latin1'), authorized };
  }
}

/** A value in a digest-response: quoted, with '"' and '\' escaped. */
const quoted = (v: string) => `"${v.replace(/["\\]/g, (c) => `\\${c}`)}"`;

/**
 * One DIGEST-MD5 exchange, client side: the server's challenge is answered with a
 * digest-response, and the server's rspauth is checked, so a server that does not
 * know our password fails the exchange too (mutual authentication).
 */
export class DigestMd5Client {
  private step: 'challenge' | 'rspauth' | 'over' = 'challenge';
  private expectedRspauth = '';

  constructor(
    private readonly user: string,
    private readonly password: string,
    private readonly service: SaslService,
    /** the authorization id to ask for; the JDK client ZooKeeper runs asks for the user name */
    private readonly authzid: string = user,
  ) {}

  get complete(): boolean {
    return this.step === 'over';
  }

  /** The answer to the server's next token: the digest-response, then null once rspauth checked out; throws SaslError. */
  evaluate(token: Buffer): Buffer | null {
    switch (this.step) {
      case 'challenge':
        this.step = 'rspauth';
        return this.respond(token);
      case 'rspauth': {
        this.step = 'over';
        const rspauth = parseDirectives(token.toString('latin1'), 'rspauth').get('rspauth');
        if (rspauth?.toLowerCase() !== this.expectedRspauth) throw new SaslError('DIGEST-MD5: mismatched rspauth from the server (does it hold another password for us?)');
        return null;
      }
      case 'over':
        throw new SaslError('DIGEST-MD5: the exchange is over (a token after the last one)');
    }
  }

  private respond(challenge: Buffer): Buffer {
    const raw = parseDirectives(challenge.toString('latin1'), 'digest challenge');
    const fail = (what: string): never => {
      throw new SaslError(`DIGEST-MD5: digest challenge format violation: ${what}`);
    };
    const utf8 = raw.get('charset')?.toLowerCase() === 'utf-8';
    const get = (name: string) => {
      const v = raw.get(name);
      return v === undefined || !utf8 ? v : Buffer.from(v, 'latin1').toString('utf8');
    };
    const nonce = get('nonce') ?? fail('missing nonce');
    if (get('algorithm')?.toLowerCase() !== 'md5-sess') fail('algorithm md5-sess missing');
    const offered = (get('qop') ?? 'auth').split(',').map((q) => q.trim().toLowerCase());
    if (!offered.includes('auth')) fail(`qop auth not offered (${offered.join(', ')})`);
    const realm = get('realm') ?? '';
    const uri = digestUri(this.service);
    const inputs = { user: this.user, realm, password: this.password, nonce, cnonce: randomBytes(30).toString('base64'), nc: '00000001', qop: 'auth', authzid: this.authzid, utf8 };
    const digest = digestFor(inputs);
    this.expectedRspauth = digest(`:${uri}`);
    const directives = [
      ...(utf8 ? ['charset=utf-8'] : []),
      `username=${quoted(this.user)}`,
      `realm=${quoted(realm)}`,
      `nonce=${quoted(nonce)}`,
      `nc=${inputs.nc}`,
      `cnonce=${quoted(inputs.cnonce)}`,
      `digest-uri=${quoted(uri)}`,
      'maxbuf=65536',
      `response=${digest(`AUTHENTICATE:${uri}`)}`,
      'qop=auth',
      `authzid=${quoted(this.authzid)}`,
    ];
    return Buffer.from(directives.join(','), utf8 ? 'utf8' : 'latin1');
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
    if (!exchange) this.exchanges.set(client, (exchange = new DigestMd5Server(users, CLIENT_SASL_SERVICE, clientAuthorizedId)));
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
