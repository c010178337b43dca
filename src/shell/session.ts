// One `paddock shell` session, mirroring zkCli's ZooKeeperMain and its cli/*Command
// classes: a connect string, a ZooKeeper session on it (none after `close` or a failed
// connect), the numbered command history, and the commands.
//
// A command line is split like zkCli splits it (whitespace, "double quotes" keep spaces);
// flags may stand anywhere after the command name. Each command either succeeds, printing
// what zkCli prints (to stdout; "Created /a" to stderr as zkCli does), or fails, printing
// zkCli's sentence for the failure to stderr; execute() says which. In JSON mode a command
// prints one JSON document a line on stdout instead: its result, or {"error", "code"}.
//
// History: every line gets the next number (the prompt shows it); `redo n` runs line n again
// and takes its text in the history, as zkCli does.

import { connect, type ZooKeeper } from '../client/zookeeper.ts';
import { errorFor, ZooKeeperError } from '../client/errors.ts';
import { CreateMode, errorName } from '../client/acl.ts';
import { Err } from '../proto/constants.ts';
import type { WatchEvent } from '../client/watches.ts';
import { errorSentence, formatAcl, formatStat, parseAcl, statJson } from './format.ts';

export interface ShellIO {
  out(line: string): void;
  err(line: string): void;
}

export interface ShellOptions {
  /** session timeout, ms (zkCli's -timeout) */
  timeout: number;
  /** accept a read-only server (zkCli's -r) */
  readOnly: boolean;
  /** print results as JSON documents */
  json: boolean;
  /** print the session's state changes as zkCli's watcher does (interactive use) */
  announceStates: boolean;
}

/** What a command printed: text lines for stdout and stderr, and the same as one JSON value. */
interface Reply {
  out?: string[];
  err?: string[];
  json: unknown;
}

/** A command line zkCli would refuse; the message is the command's usage or zkCli's complaint. */
class UsageError extends Error {}

type Flags = Map<string, string | true>;

interface Command {
  usage: string;
  /** flags taking no value, e.g. "swR" */
  switches?: string;
  /** flags taking a value, e.g. "v" */
  valued?: string;
  /** fewest positional arguments */
  min: number;
  run(zk: ZooKeeper, args: string[], flags: Flags, watcher: (e: WatchEvent) => void): Promise<Reply>;
}

const quiet = (json: unknown = {}): Reply => ({ json });

function version(flags: Flags): number {
  const v = flags.get('v');
  if (v === undefined) return -1;
  if (typeof v !== 'string' || !/^-?\d+$/.test(v)) throw new UsageError(`-v argument must be an int value`);
  return Number(v);
}

/** `path` and every node below it, breadth first, children in name order (ZKUtil.listSubTreeBFS). */
async function subtree(zk: ZooKeeper, path: string): Promise<string[]> {
  const out = [path];
  for (let i = 0; i < out.length; i++) {
    const node = out[i]!;
    const children = (await zk.getChildren(node)).sort();
    out.push(...children.map((c) => (node === '/' ? `/${c}` : `${node}/${c}`)));
  }
  return out;
}

const COMMANDS: Record<string, Command> = {
  ls: {
    usage: 'ls [-s] [-w] [-R] path',
    switches: 'swR',
    min: 1,
    async run(zk, [path], flags, watcher) {
      if (flags.has('R')) {
        const paths = await subtree(zk, path!);
        return { out: paths, json: { paths } };
      }
      const { children, stat } = await zk.getChildren2(path!, { watch: flags.has('w') ? watcher : undefined });
      children.sort();
      const withStat = flags.has('s');
      return { out: [`[${children.join(', ')}]`, ...(withStat ? formatStat(stat) : [])], json: withStat ? { children, stat: statJson(stat) } : { children } };
    },
  },
  get: {
    usage: 'get [-s] [-w] path',
    switches: 'sw',
    min: 1,
    async run(zk, [path], flags, watcher) {
      const { data, stat } = await zk.getData(path!, { watch: flags.has('w') ? watcher : undefined });
      // The client gives no data as empty; zkCli prints a node without data as "null".
      const text = data.length === 0 ? 'null' : data.toString('utf8');
      return { out: [text, ...(flags.has('s') ? formatStat(stat) : [])], json: { data: data.length === 0 ? null : data.toString('utf8'), stat: statJson(stat) } };
    },
  },
  set: {
    usage: 'set [-s] [-v version] path data',
    switches: 's',
    valued: 'v',
    min: 2,
    async run(zk, [path, data], flags) {
      const stat = await zk.setData(path!, data!, version(flags));
      return { out: flags.has('s') ? formatStat(stat) : [], json: { stat: statJson(stat) } };
    },
  },
  create: {
    usage: 'create [-s] [-e] [-c] [-t ttl] path [data] [acl]',
    switches: 'sec',
    valued: 't',
    min: 1,
    async run(zk, [path, data, acl], flags) {
      const ephemeral = flags.has('e');
      const sequential = flags.has('s');
      const ttlFlag = flags.get('t');
      if (flags.has('c') && (ephemeral || sequential)) throw new UsageError('-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential.');
      if (ttlFlag !== undefined && ephemeral) throw new UsageError('TTLs cannot be used with Ephemeral znodes');
      if (ttlFlag !== undefined && flags.has('c')) throw new UsageError('TTLs cannot be used with Container znodes');
      if (ttlFlag !== undefined && (typeof ttlFlag !== 'string' || !/^\d+$/.test(ttlFlag))) throw new UsageError('-t argument must be a long value');
      const ttl = ttlFlag === undefined ? undefined : Number(ttlFlag);
      const mode = flags.has('c')
        ? CreateMode.container
        : ttl !== undefined
          ? sequential ? CreateMode.persistentSequentialWithTTL : CreateMode.persistentWithTTL
          : (ephemeral ? CreateMode.ephemeral : 0) | (sequential ? CreateMode.persistentSequential : 0);
      const created = await zk.create(path!, data ?? null, { mode, ttl, acl: acl === undefined ? undefined : parseAcl(acl) });
      return { err: [`Created ${created}`], json: { path: created } };
    },
  },
  delete: {
    usage: 'delete [-v version] path',
    valued: 'v',
    min: 1,
    async run(zk, [path], flags) {
      await zk.delete(path!, version(flags));
      return quiet();
    },
  },
  deleteall: {
    usage: 'deleteall path [-b batch size]',
    valued: 'b',
    min: 1,
    async run(zk, [path]) {
      // Deepest first, so every node is a leaf when its turn comes.
      for (const node of (await subtree(zk, path!)).reverse()) await zk.delete(node);
      return quiet();
    },
  },
  stat: {
    usage: 'stat [-w] path',
    switches: 'w',
    min: 1,
    async run(zk, [path], flags, watcher) {
      const stat = await zk.exists(path!, { watch: flags.has('w') ? watcher : undefined });
      if (!stat) throw errorFor(Err.noNode, path);
      return { out: formatStat(stat), json: { stat: statJson(stat) } };
    },
  },
  getAcl: {
    usage: 'getAcl [-s] path',
    switches: 's',
    min: 1,
    async run(zk, [path], flags) {
      const { acl, stat } = await zk.getACL(path!);
      const json = { acl: acl.map((a) => ({ scheme: a.id.scheme, id: a.id.id, perms: a.perms })), stat: statJson(stat) };
      return { out: [...formatAcl(acl), ...(flags.has('s') ? formatStat(stat) : [])], json };
    },
  },
  setAcl: {
    usage: 'setAcl [-s] [-v version] [-R] path acl',
    switches: 'sR',
    valued: 'v',
    min: 2,
    async run(zk, [path, aclText], flags) {
      const acl = parseAcl(aclText!);
      if (flags.has('R')) {
        for (const node of await subtree(zk, path!)) await zk.setACL(node, acl);
        return quiet();
      }
      const stat = await zk.setACL(path!, acl, version(flags));
      return { out: flags.has('s') ? formatStat(stat) : [], json: { stat: statJson(stat) } };
    },
  },
  addauth: {
    usage: 'addauth scheme auth',
    min: 1,
    async run(zk, [scheme, auth]) {
      await zk.addAuth(scheme!, auth ?? '');
      return quiet();
    },
  },
  sync: {
    usage: 'sync path',
    min: 1,
    async run(zk, [path]) {
      await zk.sync(path!);
      return { out: ['Sync is OK'], json: {} };
    },
  },
  getEphemerals: {
    usage: 'getEphemerals path',
    min: 0,
    async run(zk, [path]) {
      const paths = await zk.getEphemerals(path ?? '/');
      return { out: [`[${paths.join(', ')}]`], json: { paths } };
    },
  },
  getAllChildrenNumber: {
    usage: 'getAllChildrenNumber path',
    min: 1,
    async run(zk, [path]) {
      const count = await zk.getAllChildrenNumber(path!);
      return { out: [String(count)], json: { count } };
    },
  },
  whoami: {
    usage: 'whoami ',
    min: 0,
    async run(zk) {
      const ids = await zk.whoAmI();
      return { out: ['Auth scheme: User', ...ids.map((c) => `${c.authScheme}: ${c.user}`)], json: { ids: ids.map((c) => ({ scheme: c.authScheme, user: c.user })) } };
    },
  },
  addWatch: {
    usage: 'addWatch [-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] - default is PERSISTENT_RECURSIVE',
    valued: 'm',
    min: 1,
    async run(zk, [path], flags, watcher) {
      const mode = flags.get('m') ?? 'PERSISTENT_RECURSIVE';
      if (mode !== 'PERSISTENT' && mode !== 'PERSISTENT_RECURSIVE') throw new UsageError(`Unsupported mode: ${mode}`);
      await zk.addWatch(path!, watcher, mode === 'PERSISTENT' ? 'persistent' : 'persistentRecursive');
      return quiet();
    },
  },
  removewatches: {
    usage: 'removewatches path [-c|-d|-a] [-l]',
    switches: 'cdal',
    min: 1,
    async run(zk, [path], flags) {
      const type = flags.has('c') ? 'children' : flags.has('d') ? 'data' : 'any';
      await zk.removeWatches(path!, type, { local: flags.has('l') });
      return quiet();
    },
  },
  config: {
    usage: 'config [-c] [-w] [-s]',
    switches: 'cws',
    min: 0,
    async run(zk, _args, flags, watcher) {
      const { data, stat } = await zk.getData('/zookeeper/config', { watch: flags.has('w') ? watcher : undefined });
      const text = data.toString('utf8');
      return { out: [text, ...(flags.has('s') ? formatStat(stat) : [])], json: { config: text, stat: statJson(stat) } };
    },
  },
};

/** Commands the session itself runs (they need no ZooKeeper, or replace it). */
const SESSION_COMMANDS: Record<string, string> = {
  connect: 'connect host:port',
  close: 'close ',
  history: 'history ',
  redo: 'redo cmdno',
  quit: 'quit ',
};

export const COMMAND_NAMES = [...Object.keys(COMMANDS), ...Object.keys(SESSION_COMMANDS)].sort();

/** zkCli's splitting of a command line: whitespace separates, "double quotes" keep spaces. */
export function splitLine(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

function parseFlags(command: Command, words: string[]): { args: string[]; flags: Flags } {
  const args: string[] = [];
  const flags: Flags = new Map();
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const letter = w.length === 2 && w[0] === '-' ? w[1]! : '';
    if (letter && command.switches?.includes(letter)) flags.set(letter, true);
    else if (letter && command.valued?.includes(letter)) {
      if (i + 1 >= words.length) throw new UsageError(command.usage);
      flags.set(letter, words[++i]!);
    } else if (letter && /[a-zA-Z]/.test(letter)) throw new UsageError(command.usage);
    else args.push(w);
  }
  if (args.length < command.min) throw new UsageError(command.usage);
  return { args, flags };
}

const usageText = (): string[] => [
  'ZooKeeper -server host:port -client-configuration properties-file cmd args',
  ...COMMAND_NAMES.map((n) => `\t${COMMANDS[n]?.usage ?? SESSION_COMMANDS[n]}`),
];

/** Exit statuses, as zkCli's. */
const OK = 0;
const FAILED = 1;
const NO_SUCH_COMMAND = 127;

const STATE_NAMES: Record<string, string> = {
  Connecting: 'CONNECTING',
  Connected: 'CONNECTED',
  ConnectedReadOnly: 'CONNECTEDREADONLY',
  Disconnected: 'CONNECTING',
  Expired: 'CLOSED',
  AuthFailed: 'AUTH_FAILED',
  Closed: 'CLOSED',
};

/** Java's KeeperState name of a session state, as zkCli's watcher prints it. */
const KEEPER_STATES: Record<string, string> = { Connected: 'SyncConnected', ConnectedReadOnly: 'ConnectedReadOnly', Disconnected: 'Disconnected', Expired: 'Expired', AuthFailed: 'AuthFailed', Closed: 'Closed' };

export class ShellSession {
  zk: ZooKeeper | undefined;
  /** the lines run so far; a line's number is its index */
  readonly history: string[] = [];
  /** `quit` was run */
  quitting = false;
  /** zkCli's exit status: that of the last command */
  status = OK;

  constructor(
    public connectString: string,
    private readonly options: ShellOptions,
    private readonly io: ShellIO,
  ) {}

  /** Print events the way zkCli's default watcher does. */
  private readonly watcher = (e: { state: string; type: string; path: string | null }): void => {
    if (this.options.json) return this.io.out(JSON.stringify({ event: e }));
    this.io.out('');
    this.io.out('WATCHER::');
    this.io.out('');
    this.io.out(`WatchedEvent state:${e.state} type:${e.type} path:${e.path}`);
  };

  /** Open a session on `connectString`; says why on failure. */
  async open(connectString = this.connectString): Promise<boolean> {
    this.connectString = connectString;
    try {
      const zk = await connect(connectString, { sessionTimeout: this.options.timeout, canBeReadOnly: this.options.readOnly });
      this.zk = zk;
      if (this.options.announceStates) {
        this.watcher({ state: KEEPER_STATES[zk.state]!, type: 'None', path: null });
        zk.on('state', (s) => this.watcher({ state: KEEPER_STATES[s]!, type: 'None', path: null }));
      }
      return true;
    } catch (e) {
      this.fail(`Unable to connect to ${connectString}: ${(e as Error).message}`, e);
      return false;
    }
  }

  async close(): Promise<void> {
    const zk = this.zk;
    this.zk = undefined;
    await zk?.close();
  }

  /** zkCli's prompt: "[zk: host:port(CONNECTED) 3] ". */
  prompt(): string {
    const state = this.zk ? STATE_NAMES[this.zk.state] : 'CLOSED';
    return `[zk: ${this.connectString}(${state}) ${this.history.length}] `;
  }

  /** Run one command line (or its words, already split); false when it failed. Blank lines and `quit` leave `status` alone. */
  async execute(input: string | string[]): Promise<boolean> {
    const words = typeof input === 'string' ? splitLine(input) : input;
    if (words.length === 0) return true;
    if (words[0] === 'quit') {
      this.quitting = true;
      return true;
    }
    this.history.push(typeof input === 'string' ? input : input.join(' '));
    this.status = words[0] === 'redo' ? await this.redo(words[1]) : await this.run(words);
    return this.status === OK;
  }

  /** Run line `n` of the history again; its text takes the place of the redo line in the history. */
  private async redo(n: string | undefined): Promise<number> {
    const self = this.history.length - 1;
    const index = Number(n);
    if (n === undefined || !Number.isInteger(index)) return this.fail(SESSION_COMMANDS.redo!);
    if (index < 0 || index >= self) return this.fail('Command index out of range');
    const again = this.history[index]!;
    if (splitLine(again)[0] === 'redo') return this.fail('No redoing redos');
    this.history[self] = again;
    return this.run(splitLine(again));
  }

  private async run([name, ...rest]: string[]): Promise<number> {
    switch (name) {
      case 'history':
        for (let i = Math.max(0, this.history.length - 11); i < this.history.length; i++) this.io.out(`${i} - ${this.history[i]}`);
        return OK;
      case 'close':
        await this.close();
        return OK;
      case 'connect':
        await this.close();
        return (await this.open(rest[0] ?? this.connectString)) ? OK : FAILED;
    }
    const command = COMMANDS[name!];
    if (!command) {
      if (!this.options.json) for (const line of usageText()) this.io.err(line);
      return this.fail(`Command not found: Command not found ${name}`, undefined, NO_SUCH_COMMAND);
    }
    if (!this.zk) {
      if (this.options.json) return this.fail('Not connected');
      this.io.out('Not connected'); // zkCli says so on stdout
      return FAILED;
    }
    try {
      const { args, flags } = parseFlags(command, rest);
      const reply = await command.run(this.zk, args, flags, this.watcher);
      if (this.options.json) this.io.out(JSON.stringify(reply.json));
      else {
        for (const l of reply.out ?? []) this.io.out(l);
        for (const l of reply.err ?? []) this.io.err(l);
      }
      return OK;
    } catch (e) {
      return this.fail(errorSentence(e), e);
    }
  }

  /** Report a failure (zkCli's sentence on stderr, or a JSON error document); returns the exit status it means. */
  private fail(sentence: string, cause?: unknown, status = FAILED): number {
    if (this.options.json) {
      const code = cause instanceof ZooKeeperError ? errorName(cause.code) : cause instanceof UsageError ? 'usage' : 'error';
      this.io.out(JSON.stringify({ error: sentence, code }));
    } else this.io.err(sentence);
    return status;
  }

  /**
   * Completions of the line's last word, for node:readline: command names for the first word,
   * else the children of a path's parent that start with what follows its last "/" (zkCli's
   * JLineZNodeCompleter). Paths that cannot be listed complete to nothing.
   */
  async complete(line: string): Promise<[string[], string]> {
    const word = line.match(/\S*$/)![0];
    if (!/\s/.test(line.trimStart())) return [COMMAND_NAMES.filter((n) => n.startsWith(word)), word];
    if (!word.startsWith('/') || !this.zk?.connected) return [[], word];
    const cut = word.lastIndexOf('/');
    const parent = cut === 0 ? '/' : word.slice(0, cut);
    const prefix = word.slice(cut + 1);
    try {
      const children = (await this.zk.getChildren(parent)).filter((c) => c.startsWith(prefix)).sort();
      return [children.map((c) => `${parent === '/' ? '' : parent}/${c}`), word];
    } catch {
      return [[], word];
    }
  }
}
