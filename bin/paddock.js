#!/bin/sh
':' //; exec node --initial-old-space-size=64 "$0" "$@"
// Entry point of the `paddock` command: runs the compiled code in dist/.
// Run as a program, a shell reads the line above and starts Node with the
// server's flags (src/node-flags.ts says why); Node reads it as a no-op.
// In a source checkout (src/ present) whose dist/ is missing or older than
// some file under src/, it runs the sources through tsx (a development
// dependency) instead, so a developer never runs a stale build; `npm run
// build` brings dist/ up to date. An installed package has no src/ and always
// runs dist/.
import { existsSync, readdirSync, statSync } from 'node:fs';

const src = new URL('../src/', import.meta.url);
const built = new URL('../dist/build-info.json', import.meta.url);

function distIsStale() {
  if (!existsSync(built)) return true;
  const builtAt = statSync(built).mtimeMs;
  return readdirSync(src, { recursive: true }).some((f) => statSync(new URL(f, src)).mtimeMs > builtAt);
}

let cli = '../dist/cli.js';
if (existsSync(src) && distIsStale()) {
  const { register } = await import('tsx/esm/api');
  register();
  cli = '../src/cli.ts';
}
const { main } = await import(cli);
await main(process.argv.slice(2));
