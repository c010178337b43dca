// A minimal DER reader: enough ASN.1 to walk an X.509 subject and the bags of a
// PKCS#12 store. A node is its tag, its content bytes and (when constructed)
// its children; anything malformed throws DerError, never reads out of bounds.

export class DerError extends Error {}

export interface DerNode {
  tag: number;
  /** the content octets */
  body: Buffer;
  /** the whole encoding, tag and length included */
  raw: Buffer;
}

export const Tag = {
  integer: 0x02,
  octetString: 0x04,
  oid: 0x06,
  sequence: 0x30,
  set: 0x31,
  /** [0] EXPLICIT, as PKCS#7 content and bag values use */
  context0: 0xa0,
} as const;

/** The node that starts at `at` in `buf`. */
export function readNode(buf: Buffer, at = 0): DerNode {
  if (at + 2 > buf.length) throw new DerError('truncated DER');
  const tag = buf[at]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte DER tags are not supported');
  let len = buf[at + 1]!;
  let head = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || at + 2 + n > buf.length) throw new DerError('bad DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[at + 2 + i]!;
    head += n;
  }
  if (at + head + len > buf.length) throw new DerError('DER value runs past its container');
  return { tag, body: buf.subarray(at + head, at + head + len), raw: buf.subarray(at, at + head + len) };
}

/** The nodes inside a constructed node, in order. */
export function children(node: DerNode): DerNode[] {
  if ((node.tag & 0x20) === 0) throw new DerError(`DER tag 0x${node.tag.toString(16)} is not constructed`);
  const out: DerNode[] = [];
  for (let at = 0; at < node.body.length; ) {
    const child = readNode(node.body, at);
    out.push(child);
    at += child.raw.length;
  }
  return out;
}

/** The child at `index`, which must have tag `tag`. */
export function child(node: DerNode, index: number, tag?: number): DerNode {
  const c = children(node)[index];
  if (!c || (tag !== undefined && c.tag !== tag)) throw new DerError(`unexpected DER structure (item ${index} of tag 0x${node.tag.toString(16)})`);
  return c;
}

/** An OBJECT IDENTIFIER's dotted form. */
export function oidText(node: DerNode): string {
  if (node.tag !== Tag.oid || node.body.length === 0) throw new DerError('expected an OBJECT IDENTIFIER');
  const b = node.body;
  const arcs: number[] = [];
  let value = 0;
  for (const byte of b) {
    value = value * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) {
      arcs.push(value);
      value = 0;
    }
  }
  const first = arcs.shift()!;
  const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...head, ...arcs].join('.');
}

/** A small non-negative INTEGER (iteration counts, versions). */
export function intValue(node: DerNode): number {
  if (node.tag !== Tag.integer) throw new DerError('expected an INTEGER');
  let n = 0;
  for (const byte of node.body) n = n * 256 + byte;
  return n;
}
