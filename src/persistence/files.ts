// Data files are named by a zxid in hex: log.<zxid>, snapshot.<zxid>.

import { readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface ZxidFile {
  path: string;
  zxid: number;
}

/**
 * Files in dir whose name `zxidOf` accepts (it returns null for other names),
 * in no particular order. A missing directory has none.
 */
export function filesByZxid(dir: string, zxidOf: (name: string) => number | null): ZxidFile[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: ZxidFile[] = [];
  for (const name of names) {
    const zxid = zxidOf(name);
    if (zxid !== null) out.push({ path: join(dir, name), zxid });
  }
  return out;
}
