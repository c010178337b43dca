// Scratch data directories for the durability tests: one temporary root per
// test file, a fresh numbered directory per case.

import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A server's data directories; without dataLogDir the log lives in dataDir. */
export interface Dirs {
  dataDir: string;
  dataLogDir?: string;
}

/** DataDir options for a server rooted at dir (data/ and log/ under it), snapshotting every ~snapCount txns. */
export const dataDirOptions = (dir: string, snapCount: number) => ({
  dataDir: join(dir, 'data'),
  dataLogDir: join(dir, 'log'),
  snapCount,
  preAllocSizeKb: 64,
  forceSync: true,
  snapRetainCount: 3,
});

export const logDirOf = (d: Dirs): string => join(d.dataLogDir ?? d.dataDir, 'version-2');
export const snapDirOf = (d: Dirs): string => join(d.dataDir, 'version-2');

/** A temporary root named after `prefix`, and a maker of fresh directories under it. */
export function scratchRoot(prefix: string): { root: string; freshDir(name: string): string } {
  const root = mkdtempSync(join(tmpdir(), `${prefix}-`));
  let count = 0;
  return {
    root,
    freshDir(name: string): string {
      const d = join(root, `${++count}-${name}`);
      mkdirSync(d, { recursive: true });
      return d;
    },
  };
}
