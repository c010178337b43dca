// JSON as ZooKeeper's AdminServer writes it (Jackson, pretty-printed), with
// 64-bit integers exact: session ids and tree digests are bigints here and
// are written as their digits, as Java writes a long. JSON.stringify cannot
// (it refuses bigints), and a double would round them.

type Json = null | boolean | number | string | bigint | readonly Json[] | { readonly [key: string]: Json | undefined };

export type { Json };

/** `value` as indented JSON text; undefined members are left out, as JSON.stringify does. */
export function toJson(value: Json, indent = ''): string {
  if (value === null) return 'null';
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object') return JSON.stringify(value);
  const inner = indent + '  ';
  if (Array.isArray(value)) {
    if (value.length === 0) return '[ ]';
    return `[\n${value.map((v) => inner + toJson(v, inner)).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(value).filter(([, v]) => v !== undefined) as [string, Json][];
  if (entries.length === 0) return '{ }';
  return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)} : ${toJson(v, inner)}`).join(',\n')}\n${indent}}`;
}
