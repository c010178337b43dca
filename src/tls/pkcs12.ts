// The certificates and private keys of a PKCS#12 file, for a trust store and
// for a key store. Paddock reads key stores itself rather than hand node:tls
// the file as `pfx`: node:tls would also TRUST every CA certificate of the
// key store's chain, where Java (and so ZooKeeper) trusts the trust store only.
// Reads the bags as OpenSSL 3 and keytool (JDK 11.0.12+) write them:
// unencrypted, or PBES2 (PBKDF2 with HMAC-SHA1/224/256/384/512, AES-CBC).
// Every certBag counts, whatever its alias or trust attribute. Anything else
// throws Pkcs12Error with a message naming the problem.

import { createDecipheriv, pbkdf2Sync } from 'node:crypto';
import { DerError, Tag, child, children, intValue, oidText, readNode, type DerNode } from './der.ts';

export class Pkcs12Error extends Error {}

const OID = {
  data: '1.2.840.113549.1.7.1',
  encryptedData: '1.2.840.113549.1.7.6',
  keyBag: '1.2.840.113549.1.12.10.1.1',
  shroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
} as const;

const PRF: Record<string, string> = {
  '1.2.840.113549.2.7': 'sha1',
  '1.2.840.113549.2.8': 'sha224',
  '1.2.840.113549.2.9': 'sha256',
  '1.2.840.113549.2.10': 'sha384',
  '1.2.840.113549.2.11': 'sha512',
};
const AES_CBC: Record<string, string> = {
  '2.16.840.1.101.3.4.1.2': 'aes-128-cbc',
  '2.16.840.1.101.3.4.1.22': 'aes-192-cbc',
  '2.16.840.1.101.3.4.1.42': 'aes-256-cbc',
};

/** The content octets of a [0] that holds an OCTET STRING, primitive or constructed. */
function octets(node: DerNode): Buffer {
  if ((node.tag & 0x20) === 0) return node.body;
  return Buffer.concat(children(node).map(octets));
}

function decrypt(algorithm: DerNode, data: Buffer, password: string): Buffer {
  const alg = oidText(child(algorithm, 0));
  if (alg !== OID.pbes2) {
    throw new Pkcs12Error(`encrypted with algorithm ${alg}, which Paddock does not read (it reads PBES2/AES, the default of OpenSSL 3 and current keytool); re-export the store with one of those`);
  }
  const [kdf, scheme] = children(child(algorithm, 1));
  if (!kdf || !scheme || oidText(child(kdf, 0)) !== OID.pbkdf2) throw new Pkcs12Error('PBES2 without PBKDF2');
  const params = children(child(kdf, 1));
  const salt = params[0]!.body;
  const iterations = intValue(params[1]!);
  const prfNode = params.find((p) => p.tag === Tag.sequence);
  const digest = prfNode ? PRF[oidText(child(prfNode, 0))] : 'sha1';
  const cipher = AES_CBC[oidText(child(scheme, 0))];
  if (!digest || !cipher) throw new Pkcs12Error('PBES2 with an unsupported PRF or cipher');
  const key = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, Number(cipher.slice(4, 7)) / 8, digest);
  try {
    const d = createDecipheriv(cipher, key, child(scheme, 1, Tag.octetString).body);
    return Buffer.concat([d.update(data), d.final()]);
  } catch {
    throw new Pkcs12Error('cannot decrypt (wrong password?)');
  }
}

/** What a PKCS#12 file holds: X.509 certificates (DER) and private keys (DER PKCS#8, encrypted with the store's password or not). */
export interface Pkcs12Contents {
  certificates: Buffer[];
  keys: { der: Buffer; encrypted: boolean }[];
}

function bagsOfSafeContents(safeContents: Buffer, out: Pkcs12Contents): void {
  for (const bag of children(readNode(safeContents))) {
    const type = oidText(child(bag, 0));
    const value = child(child(bag, 1, Tag.context0), 0, Tag.sequence);
    if (type === OID.keyBag || type === OID.shroudedKeyBag) {
      out.keys.push({ der: Buffer.from(value.raw), encrypted: type === OID.shroudedKeyBag });
    } else if (type === OID.certBag && oidText(child(value, 0)) === OID.x509Certificate) {
      out.certificates.push(Buffer.from(child(child(value, 1, Tag.context0), 0, Tag.octetString).body));
    }
  }
}

/** Every X.509 certificate and private key in a PKCS#12 file. */
export function readPkcs12(file: Buffer, password: string): Pkcs12Contents {
  try {
    const authSafe = child(readNode(file), 1, Tag.sequence);
    if (oidText(child(authSafe, 0)) !== OID.data) throw new Pkcs12Error('not password-integrity PKCS#12 (public-key integrity mode is not supported)');
    const contents = readNode(child(child(authSafe, 1, Tag.context0), 0, Tag.octetString).body);
    const out: Pkcs12Contents = { certificates: [], keys: [] };
    for (const info of children(contents)) {
      const type = oidText(child(info, 0));
      const content = child(child(info, 1, Tag.context0), 0);
      if (type === OID.data) {
        bagsOfSafeContents(content.body, out);
      } else if (type === OID.encryptedData) {
        const encrypted = child(content, 1, Tag.sequence);
        const body = children(encrypted)[2];
        if (!body) continue; // no content: nothing stored in this part
        bagsOfSafeContents(decrypt(child(encrypted, 1, Tag.sequence), octets(body), password), out);
      }
    }
    return out;
  } catch (e) {
    if (e instanceof DerError) throw new Pkcs12Error(`not a PKCS#12 file: ${e.message}`);
    throw e;
  }
}
