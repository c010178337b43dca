// The consensus core in src/zab must stay deterministic: no sockets, files, timers, clock or
// randomness. This scans the source text of every file under src/zab (the election's and
// whatever joins it there) and fails on any of them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../support/servers.ts';

const FORBIDDEN: [RegExp, string][] = [
  [/\bfrom\s+['"](node:)?(net|fs|fs\/promises|timers|timers\/promises|dgram|child_process|worker_threads)['"]/, 'imports an I/O or timer module'],
  [/\bimport\s*\(\s*['"](node:)?(net|fs|timers)/, 'imports an I/O or timer module dynamically'],
  [/\brequire\s*\(/, 'uses require'],
  [/\bDate\.now\b|\bnew Date\s*\(/, 'reads the clock'],
  [/\bperformance\.now\b|\bprocess\.hrtime\b/, 'reads the clock'],
  [/\bMath\.random\b|\bcrypto\.|\brandomBytes\b/, 'uses randomness'],
  [/\bset(Timeout|Interval|Immediate)\s*\(/, 'sets a timer'],
  [/\bprocess\.nextTick\b|\bqueueMicrotask\b/, 'schedules work'],
];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

test('src/zab uses no sockets, files, timers, clock or randomness', () => {
  const files = sources(join(ROOT, 'src', 'zab'));
  assert.ok(files.some((f) => f.endsWith('election.ts')) && files.some((f) => f.endsWith('quorum.ts')));
  const problems: string[] = [];
  for (const file of files) {
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, i) => {
      const code = line.replace(/\/\/.*$/, ''); // comments may name what the code must not use
      for (const [pattern, what] of FORBIDDEN) if (pattern.test(code)) problems.push(`${file}:${i + 1}: ${what}: ${line.trim()}`);
    });
  }
  assert.deepEqual(problems, []);
});

test('the scan catches each forbidden use', () => {
  const samples = [
    "import net from 'node:net';",
    "import { readFileSync } from 'fs';",
    "import { setTimeout } from 'node:timers/promises';",
    'const t = Date.now();',
    'const r = Math.random();',
    'setTimeout(() => {}, 5);',
    'const h = setInterval(f, 10);',
  ];
  for (const s of samples) assert.ok(FORBIDDEN.some(([p]) => p.test(s)), s);
});
