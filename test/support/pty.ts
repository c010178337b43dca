// A command on a real pseudo-terminal, for tests of interactive programs:
// util-linux's `script` runs it with a pty as its stdin and stdout, so the
// program sees a terminal (isTTY, raw mode, Ctrl-C as a key); the test types
// into script's stdin and reads everything the program drew.
// script runs the line with $SHELL -c; the line is exec'd so that the program
// is the only process on the terminal: dash (Debian's /bin/sh, what CI's
// SHELL names) does not exec a lone command itself, stays in the foreground
// process group and dies of the Ctrl-C the program handles, and script then
// reports that death (130) as the program's exit status.

import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import { waitFor } from './wait.ts';

export interface Pty {
  /** everything the program wrote to the terminal so far */
  screen(): string;
  /** write `keys`, then wait (up to 60 s) until the screen matches `expect`; fails showing the screen */
  type(keys: string, expect: RegExp): Promise<void>;
  /** the exit status, once it exits */
  readonly exited: Promise<number | null>;
  /** SIGKILL `script` (a no-op once it exited) */
  kill(): void;
}

/** Run `command` (one simple shell command) on a pseudo-terminal with `env`. */
export function spawnPty(command: string, env: NodeJS.ProcessEnv = process.env): Pty {
  const child = spawn('script', ['-qefc', `exec ${command}`, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let screen = '';
  child.stdout.on('data', (d) => (screen += d));
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  return {
    screen: () => screen,
    async type(keys, expect) {
      child.stdin.write(keys);
      await waitFor(`screen shows ${expect}`, 60_000, () => expect.test(screen)).catch((e: Error) => assert.fail(`${e.message}; the screen:\n${JSON.stringify(screen)}`));
    },
    exited,
    kill: () => child.kill('SIGKILL'),
  };
}
