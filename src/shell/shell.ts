// `paddock shell`: zkCli.sh's command line (ZooKeeperMain.main) on Paddock's client.
//
//   paddock shell [-server host:port[,host:port…][/chroot]] [-timeout ms] [-r] [--json] [command args…]
//
// With a command after the flags it runs that one command and exits: 0 when it succeeded,
// 1 when it failed (as zkCli). Without one it reads commands from stdin until `quit` or
// end of input: on a terminal with zkCli's prompt, line editing, history (arrow keys) and
// tab completion of command names and znode paths; from a pipe silently, one command a
// line, as zkCli does without JLine.

import { createInterface, type Completer } from 'node:readline';
import { ShellSession } from './session.ts';

export const SHELL_USAGE = 'paddock shell [-server host:port[,host:port...][/chroot]] [-timeout ms] [-r] [--json] [command args...]';

interface ShellArgs {
  server: string;
  timeout: number;
  readOnly: boolean;
  json: boolean;
  command: string[];
}

function parseArgs(argv: string[]): ShellArgs | string {
  const parsed: ShellArgs = { server: 'localhost:2181', timeout: 30_000, readOnly: false, json: false, command: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-server' && i + 1 < argv.length) parsed.server = argv[++i]!;
    else if (a === '-timeout' && i + 1 < argv.length) {
      parsed.timeout = Number(argv[++i]);
      if (!Number.isInteger(parsed.timeout) || parsed.timeout <= 0) return `-timeout takes a positive number of milliseconds, not ${argv[i]}`;
    } else if (a === '-r') parsed.readOnly = true;
    else if (a === '--json') parsed.json = true;
    else if (a.startsWith('-')) return `unknown option ${a}`;
    else {
      parsed.command = argv.slice(i);
      break;
    }
  }
  return parsed;
}

/** Run the shell; resolves to the process's exit status. */
export async function runShell(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  if (typeof args === 'string') {
    process.stderr.write(`paddock shell: ${args}\nusage: ${SHELL_USAGE}\n`);
    return 2;
  }
  const io = { out: (l: string) => void process.stdout.write(`${l}\n`), err: (l: string) => void process.stderr.write(`${l}\n`) };
  const interactive = args.command.length === 0;
  const session = new ShellSession(args.server, { timeout: args.timeout, readOnly: args.readOnly, json: args.json, announceStates: interactive }, io);
  const connected = await session.open();
  if (!interactive) {
    if (connected) await session.execute(args.command);
    await session.close();
    return connected ? session.status : 1;
  }
  await interact(session);
  await session.close();
  return session.status;
}

async function interact(session: ShellSession): Promise<void> {
  const terminal = process.stdin.isTTY === true;
  const completer: Completer | undefined = terminal
    ? ((line: string, done: (err: Error | null, result: [string[], string]) => void) => void session.complete(line).then((r) => done(null, r), (e: Error) => done(e, [[], line]))) as unknown as Completer
    : undefined;
  const rl = createInterface({ input: process.stdin, output: terminal ? process.stdout : undefined, terminal, completer, historySize: 1000 });
  const prompt = () => {
    if (!terminal) return;
    rl.setPrompt(session.prompt());
    rl.prompt();
  };
  prompt();
  for await (const line of rl) {
    await session.execute(line);
    if (session.quitting) break;
    prompt();
  }
  rl.close();
}
