// `npm run build`: compile src/ into dist/ (JavaScript, .d.ts, source maps with
// the sources inlined) with tsconfig.build.json, which rewrites the sources'
// `.ts` import suffixes to `.js`. dist/ is emptied first so no output of a
// deleted source survives. build-info.json, written last, holds the build time
// the version banner reports (a file's mtime would not do: npm sets 1985 in
// tarballs) and marks dist/ complete for bin/paddock.js's staleness check.
// The dashboard's static files (src/admin/dashboard/) are copied as they are.

import { execFileSync } from 'node:child_process';
import { cpSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = new URL('../dist/', import.meta.url);
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
cpSync(new URL('../src/admin/dashboard/', import.meta.url), new URL('admin/dashboard/', dist), { recursive: true });
writeFileSync(new URL('build-info.json', dist), JSON.stringify({ builtOn: new Date().toISOString() }) + '\n');
