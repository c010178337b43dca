// The TLS settings of a ZooKeeper 3.8 server, read once at start-up and turned
// into node:tls options: X509Util's properties under a prefix (zookeeper.ssl.*
// for the client port, ClientX509Util; zookeeper.ssl.quorum.* for the quorum and
// election ports, QuorumX509Util), and for the client port NettyServerCnxnFactory's
// switches and the x509 auth provider.
// Invariants:
// - every value ZooKeeper would reject, and every store that cannot be read,
//   stops start-up with a ConfigError naming the property;
// - stores are PEM or PKCS12, the type given or inferred from the file name
//   (.pem, .p12) as KeyStoreFileType does; JKS gets an error with the keytool
//   command that converts it;
// - `secureContextOptions()` reads the store files afresh each time it is
//   called, so a reload (client.certReload, sslQuorumReloadCertFiles) sees what
//   is on disk now.

import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { constants as cryptoConstants, createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import tls, { type SecureContextOptions, type SecureVersion } from 'node:tls';
import { ConfigError, type ServerConfig } from '../config/config.ts';
import { Pkcs12Error, readPkcs12 } from './pkcs12.ts';

const NETTY_FACTORY = 'org.apache.zookeeper.server.NettyServerCnxnFactory';
const NIO_FACTORY = 'org.apache.zookeeper.server.NIOServerCnxnFactory';
export const X509_PROVIDER = 'org.apache.zookeeper.server.auth.X509AuthenticationProvider';

export type ClientAuth = 'need' | 'want' | 'none';
type StoreType = 'PEM' | 'PKCS12' | 'JKS' | 'BCFKS';

interface Store {
  /** its properties' common name, for messages: ssl.keyStore, ssl.quorum.trustStore, … */
  key: string;
  location: string;
  password: string;
  type: StoreType;
}

/** X509Util's settings under one prefix. */
export interface X509Settings {
  /** of the properties' names (zookeeper.<prefix>.*), for messages */
  prefix: 'ssl' | 'ssl.quorum';
  clientAuth: ClientAuth;
  /** ssl[.quorum].hostnameVerification (default true) */
  hostnameVerification: boolean;
  keyStore: Store;
  trustStore: Store | null;
  /** protocol and cipher options, fixed at start-up */
  protocolOptions: SecureContextOptions;
}

/** The client port's settings. */
export interface TlsSettings extends X509Settings {
  /** the plain client port also takes TLS (client.portUnification) */
  portUnification: boolean;
  /** watch the store files and use what they hold for new connections (client.certReload) */
  certReload: boolean;
  /** the x509 id that is also super (X509AuthenticationProvider.superUser) */
  superUser: string | null;
}

const PROTOCOLS: SecureVersion[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];
const NO_PROTOCOL: Record<SecureVersion, number> = {
  TLSv1: cryptoConstants.SSL_OP_NO_TLSv1,
  'TLSv1.1': cryptoConstants.SSL_OP_NO_TLSv1_1,
  'TLSv1.2': cryptoConstants.SSL_OP_NO_TLSv1_2,
  'TLSv1.3': cryptoConstants.SSL_OP_NO_TLSv1_3,
};

/** X509Util's default cipher suites on Java 9 and later: GCM first, then CBC. */
const DEFAULT_CIPHER_SUITES = [
  'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
  'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
  'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384', 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384',
  'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256', 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256',
  'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA', 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA',
  'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA', 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA',
];

const KEY_EXCHANGE: Record<string, string> = {
  RSA: '',
  ECDHE_RSA: 'ECDHE-RSA',
  ECDHE_ECDSA: 'ECDHE-ECDSA',
  DHE_RSA: 'DHE-RSA',
  DHE_DSS: 'DHE-DSS',
};

/**
 * The OpenSSL name of a Java (IANA) cipher suite name, or null when OpenSSL has
 * no such suite: TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 → ECDHE-RSA-AES128-GCM-SHA256,
 * TLS_RSA_WITH_AES_256_CBC_SHA → AES256-SHA; TLS 1.3 suites keep their names.
 */
export function openSslCipher(javaName: string): string | null {
  const known = new Set(tls.getCiphers());
  if (/^TLS_(AES|CHACHA20)_/.test(javaName)) return known.has(javaName.toLowerCase()) ? javaName : null;
  const m = /^(?:TLS|SSL)_([A-Z0-9_]+?)_WITH_(AES_(128|256)_(GCM|CBC)_(SHA|SHA256|SHA384)|CHACHA20_POLY1305_SHA256)$/.exec(javaName);
  if (!m || KEY_EXCHANGE[m[1]!] === undefined) return null;
  const cipher = m[3] === undefined ? 'CHACHA20-POLY1305' : m[4] === 'GCM' ? `AES${m[3]}-GCM-${m[5]}` : `AES${m[3]}-${m[5]}`;
  const name = [KEY_EXCHANGE[m[1]!], cipher].filter(Boolean).join('-');
  return known.has(name.toLowerCase()) ? name : null;
}

/** The TLS settings, or null when neither secureClientPort nor client.portUnification asks for TLS. */
export function tlsSettings(config: ServerConfig): TlsSettings | null {
  const props = config.properties;
  const prop = (name: string) => {
    const v = props.get(`zookeeper.${name}`);
    return v === undefined || v === '' ? undefined : v;
  };
  const fail = (name: string, detail: string) => new ConfigError(`${name}: ${detail}`, name);
  const factory = prop('serverCnxnFactory') ?? NIO_FACTORY;
  if (factory !== NETTY_FACTORY && factory !== NIO_FACTORY) {
    throw fail('serverCnxnFactory', `'${factory}' is not ${NIO_FACTORY} or ${NETTY_FACTORY}`);
  }
  const netty = factory === NETTY_FACTORY;
  // Only the Netty factory reads client.portUnification; the NIO one serves plaintext whatever it says.
  const portUnification = netty && prop('client.portUnification')?.toLowerCase() === 'true';
  if (config.secureClientPort === 0 && !portUnification) return null;
  if (!netty) {
    throw fail('secureClientPort', `TLS needs serverCnxnFactory=${NETTY_FACTORY}, as in ZooKeeper (its NIO factory refuses TLS)`);
  }

  // QuorumPeerConfig.configureSSLAuth: the SSL auth scheme needs a provider, x509 gets one by default.
  const authScheme = prop('ssl.authProvider') ?? 'x509';
  const provider = prop(`authProvider.${authScheme}`);
  if (provider === undefined && authScheme !== 'x509') {
    throw fail('ssl.authProvider', `No auth provider configured for the SSL authentication scheme '${authScheme}' (set authProvider.${authScheme})`);
  }
  if ((provider !== undefined && provider !== X509_PROVIDER) || authScheme !== 'x509') {
    throw fail('ssl.authProvider', `'${authScheme}' with ${provider ?? X509_PROVIDER}: Paddock authenticates TLS clients only with ${X509_PROVIDER}, whose scheme is x509`);
  }
  // ssl.hostnameVerification is checked but changes nothing here: on the client port ZooKeeper verifies
  // hostnames only client-side (ClientX509Util.shouldVerifyClientHostname() is false).
  const certReload = prop('client.certReload');
  if (certReload !== undefined && !/^(true|false)$/i.test(certReload)) throw fail('client.certReload', `'${certReload}' is not true or false`);
  return {
    ...x509Settings(config, 'ssl', 'the TLS client port needs the server certificate and key'),
    portUnification,
    certReload: certReload?.toLowerCase() === 'true',
    superUser: prop('X509AuthenticationProvider.superUser') ?? null,
  };
}

/**
 * X509Util's settings under `prefix` (zookeeper.<prefix>.*); `keyStoreNeed`
 * says why the key store must be set.
 */
export function x509Settings(config: ServerConfig, prefix: 'ssl' | 'ssl.quorum', keyStoreNeed: string): X509Settings {
  const prop: Prop = (name) => {
    const v = config.properties.get(`zookeeper.${prefix}.${name}`);
    return v === undefined || v === '' ? undefined : v;
  };
  const fail: Fail = (name, detail) => new ConfigError(`${prefix}.${name}: ${detail}`, `${prefix}.${name}`);
  for (const unsupported of ['crl', 'ocsp']) {
    if (prop(unsupported)?.toLowerCase() === 'true') throw fail(unsupported, 'certificate revocation checks are not supported by Paddock');
  }
  if (prop('context.supplier.class') !== undefined) throw fail('context.supplier.class', 'a Java SSLContext supplier cannot run in Paddock');
  const hostnameVerification = prop('hostnameVerification');
  if (hostnameVerification !== undefined && !/^(true|false)$/i.test(hostnameVerification)) throw fail('hostnameVerification', `'${hostnameVerification}' is not true or false`);
  const clientAuthText = (prop('clientAuth') ?? 'need').toLowerCase();
  if (clientAuthText !== 'need' && clientAuthText !== 'want' && clientAuthText !== 'none') {
    throw fail('clientAuth', `'${prop('clientAuth')}' is not one of need, want, none`);
  }
  const keyStore = store('keyStore', prefix, prop, fail);
  if (!keyStore) throw fail('keyStore.location', `not set; ${keyStoreNeed}`);
  return {
    prefix,
    clientAuth: clientAuthText,
    hostnameVerification: hostnameVerification?.toLowerCase() !== 'false',
    keyStore,
    trustStore: store('trustStore', prefix, prop, fail),
    protocolOptions: protocolOptions(prop, fail),
  };
}

type Prop = (name: string) => string | undefined;
type Fail = (name: string, detail: string) => ConfigError;

/** `prop` and `fail` name properties without the prefix. */
function store(kind: 'keyStore' | 'trustStore', prefix: string, prop: Prop, fail: Fail): Store | null {
  const location = prop(`${kind}.location`);
  if (location === undefined) return null;
  let password = prop(`${kind}.password`) ?? '';
  const passwordPath = prop(`${kind}.passwordPath`);
  if (passwordPath !== undefined) {
    try {
      password = readFileSync(passwordPath, 'utf8').replace(/\r?\n$/, '');
    } catch (e) {
      throw fail(`${kind}.passwordPath`, `cannot read ${passwordPath}: ${(e as Error).message}`);
    }
  }
  const typeText = prop(`${kind}.type`);
  let type: string | undefined = typeText?.toUpperCase();
  if (type === undefined) {
    // KeyStoreFileType.fromFilename: the extension names the type.
    const ext = basename(location).split('.').slice(1).pop()?.toLowerCase();
    type = ({ pem: 'PEM', p12: 'PKCS12', jks: 'JKS', bcfks: 'BCFKS' } as Record<string, string>)[ext ?? ''];
    if (!type) throw fail(`${kind}.location`, `cannot tell the store type of ${location} from its name (.pem, .p12, .jks); set ${prefix}.${kind}.type`);
  }
  if (type === 'JKS') {
    throw fail(`${kind}.${typeText ? 'type' : 'location'}`, `${location} is a JKS store, which Paddock cannot read; convert it to PKCS12 with: keytool -importkeystore -srckeystore ${location} -srcstoretype JKS -destkeystore ${location.replace(/\.jks$/i, '')}.p12 -deststoretype PKCS12, then set ${prefix}.${kind}.location to the .p12 file`);
  }
  if (type !== 'PEM' && type !== 'PKCS12') throw fail(`${kind}.type`, `'${typeText ?? type}' is not supported; Paddock reads PEM and PKCS12 stores`);
  return { key: `${prefix}.${kind}`, location, password, type };
}

function protocolOptions(prop: Prop, fail: Fail): SecureContextOptions {
  const protocol = prop('protocol') ?? 'TLSv1.2';
  const enabledText = prop('enabledProtocols');
  const enabled = enabledText === undefined ? [protocol] : enabledText.split(',').map((p) => p.trim()).filter(Boolean);
  const key = enabledText === undefined ? 'protocol' : 'enabledProtocols';
  for (const p of enabled) {
    if (!PROTOCOLS.includes(p as SecureVersion)) throw fail(key, `'${p}' is not one of ${PROTOCOLS.join(', ')}`);
  }
  if (enabledText === undefined && !PROTOCOLS.includes(protocol as SecureVersion)) throw fail('protocol', `'${protocol}' is not one of ${PROTOCOLS.join(', ')}`);
  const on = PROTOCOLS.filter((p) => enabled.includes(p));
  const minVersion = on[0]!;
  const maxVersion = on[on.length - 1]!;
  // node:tls takes a range; versions inside it that are not enabled are switched off one by one.
  let secureOptions = 0;
  for (const p of PROTOCOLS.slice(PROTOCOLS.indexOf(minVersion), PROTOCOLS.indexOf(maxVersion) + 1)) {
    if (!on.includes(p)) secureOptions |= NO_PROTOCOL[p];
  }
  const suitesText = prop('ciphersuites');
  const suites = suitesText === undefined ? DEFAULT_CIPHER_SUITES : suitesText.split(',').map((s) => s.trim()).filter(Boolean);
  const ciphers = suites.map((s) => {
    const name = openSslCipher(s);
    if (name === null && suitesText !== undefined) throw fail('ciphersuites', `'${s}' is not a cipher suite Paddock knows (OpenSSL has no equivalent)`);
    return name;
  });
  return { minVersion, maxVersion, secureOptions, ciphers: ciphers.filter((c) => c !== null).join(':') };
}

function readStore(store: Store): Buffer {
  try {
    return readFileSync(store.location);
  } catch (e) {
    throw new ConfigError(`${store.key}.location: cannot read ${store.location}: ${(e as Error).message}`, `${store.key}.location`);
  }
}

/**
 * node:tls options holding the stores as they are on disk now; throws
 * ConfigError when a store cannot be read or does not hold what it must.
 */
export function secureContextOptions(s: X509Settings): SecureContextOptions {
  const options: SecureContextOptions = { ...s.protocolOptions };
  const keyData = readStore(s.keyStore);
  if (s.keyStore.type === 'PKCS12') {
    Object.assign(options, pkcs12KeyStore(s.keyStore, keyData));
  } else {
    // One PEM file holds the certificate chain and the private key (encrypted with the password, or not).
    options.cert = keyData;
    options.key = keyData;
    options.passphrase = s.keyStore.password;
  }
  if (s.trustStore) {
    const trustData = readStore(s.trustStore);
    if (s.trustStore.type === 'PEM') {
      options.ca = trustData;
    } else {
      try {
        options.ca = readPkcs12(trustData, s.trustStore.password).certificates.map(pemOf);
      } catch (e) {
        throw storeError(s.trustStore, e);
      }
    }
  }
  try {
    tls.createSecureContext(options);
  } catch (e) {
    throw new ConfigError(`${s.keyStore.key}.location: ${s.keyStore.location} (${s.keyStore.type}) or the trust store cannot be used: ${(e as Error).message}`, `${s.keyStore.key}.location`);
  }
  return options;
}

/**
 * A PKCS#12 key store as node:tls `key` and `cert` (the certificate of the key first, then the
 * rest of its chain, which is sent to the peer but not trusted: see pkcs12.ts).
 */
function pkcs12KeyStore(store: Store, data: Buffer): { key: string; cert: string } {
  try {
    const { certificates, keys } = readPkcs12(data, store.password);
    if (keys.length !== 1) throw new Pkcs12Error(`holds ${keys.length} private keys; a key store for Paddock holds exactly one`);
    const { der, encrypted } = keys[0]!;
    const key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8', ...(encrypted ? { passphrase: store.password } : {}) });
    const own = createPublicKey(key).export({ type: 'spki', format: 'der' });
    const leaf = certificates.findIndex((c) => new X509Certificate(c).publicKey.export({ type: 'spki', format: 'der' }).equals(own));
    if (leaf < 0) throw new Pkcs12Error('holds no certificate for its private key');
    const chain = [certificates[leaf]!, ...certificates.filter((_, i) => i !== leaf)];
    return { key: key.export({ type: 'pkcs8', format: 'pem' }) as string, cert: chain.map(pemOf).join('') };
  } catch (e) {
    throw storeError(store, e);
  }
}

/** A store that cannot be read as what it says it is, as a ConfigError naming its location setting. */
function storeError(store: Store, e: unknown): ConfigError {
  const message = e instanceof Pkcs12Error ? e.message : `cannot be read (wrong password?): ${(e as Error).message}`;
  return new ConfigError(`${store.key}.location: ${store.location} (${store.type}): ${message}`, `${store.key}.location`);
}

/** PEM of a DER certificate (OpenSSL's own encoder: a hand-made one left a blank line before END when the base64 filled its last line, which OpenSSL refuses). */
function pemOf(der: Buffer): string {
  return new X509Certificate(der).toString();
}
