// The x509 auth id of a TLS client: its certificate's subject written as Java's
// X500Principal.getName() writes it (RFC 2253), which is what ZooKeeper's
// X509AuthenticationProvider takes as the id. Invariants, as Java's AVA/RDN:
// RDNs most specific first, joined by ','; the values of a multi-valued RDN in
// encoded order, joined by '+'; only CN C L ST O OU STREET DC UID have
// keywords, any other attribute is its OID with the DER value in hex
// (`1.2.840.113549.1.9.1=#16...`); string values escape , = + < > # ; " \ and
// leading/trailing blanks.

import { Tag, child, children, oidText, readNode, type DerNode } from './der.ts';

const KEYWORDS: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'STREET',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '0.9.2342.19200300.100.1.25': 'DC',
  '0.9.2342.19200300.100.1.1': 'UID',
};

/** DirectoryString tags Java writes as text: UTF8, Printable, T61, IA5, General, BMP. */
const STRING_TAGS = new Set([0x0c, 0x13, 0x14, 0x16, 0x1b, 0x1e]);
const ESCAPED = ',=+<>#;"\\';

function valueText(value: DerNode): string {
  // Java decodes every string type's bytes as UTF-8 here; so does this.
  let out = '';
  for (const c of value.body.toString('utf8')) {
    if (ESCAPED.includes(c)) out += `\\${c}`;
    else if (c === '\0') out += '\\00';
    else out += c;
  }
  const blank = (c: string | undefined) => c === ' ' || c === '\r';
  let lead = 0;
  while (lead < out.length && blank(out[lead])) lead++;
  let trail = out.length - 1;
  while (trail >= lead && blank(out[trail])) trail--;
  return out.split('').map((c, i) => (i < lead || i > trail ? `\\${c}` : c)).join('');
}

function attribute(ava: DerNode): string {
  const oid = oidText(child(ava, 0, Tag.oid));
  const value = child(ava, 1);
  const keyword = KEYWORDS[oid];
  if (keyword === undefined || !STRING_TAGS.has(value.tag)) return `${keyword ?? oid}=#${value.raw.toString('hex')}`;
  return `${keyword}=${valueText(value)}`;
}

/** An X.501 Name (SEQUENCE OF RDN) in RFC 2253 form. */
export function rfc2253(name: DerNode): string {
  return children(name)
    .reverse()
    .map((rdn) => children(rdn).map(attribute).join('+'))
    .join(',');
}

/** The subject of a DER certificate, as X500Principal.getName() gives it. */
export function subjectName(certDer: Buffer): string {
  const tbs = child(readNode(certDer), 0, Tag.sequence);
  // tbsCertificate: [0] version (absent in v1), serial, signature, issuer, validity, subject, ...
  const hasVersion = children(tbs)[0]?.tag === Tag.context0;
  return rfc2253(child(tbs, hasVersion ? 5 : 4, Tag.sequence));
}

const ATTRIBUTE_TYPE = /^\s*((OID\.)?\d+(\.\d+)*|[A-Za-z][A-Za-z0-9-]*)\s*$/i;

/**
 * Whether `dn` reads as a distinguished name, as `new X500Principal(dn)` would
 * accept it (X509AuthenticationProvider.isValid): `type=value` pairs separated
 * by unescaped , ; or +, values quoted, #hex or escaped.
 */
export function isDistinguishedName(dn: string): boolean {
  if (dn.trim() === '') return true;
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < dn.length; i++) {
    const c = dn[i]!;
    if (c === '\\' && i + 1 < dn.length) {
      current += c + dn[++i];
    } else if (c === '"') {
      quoted = !quoted;
      current += c;
    } else if (!quoted && (c === ',' || c === ';' || c === '+')) {
      parts.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  if (quoted || dn.endsWith('\\')) return false;
  parts.push(current);
  return parts.every((p) => {
    const eq = p.indexOf('=');
    return eq > 0 && ATTRIBUTE_TYPE.test(p.slice(0, eq));
  });
}
