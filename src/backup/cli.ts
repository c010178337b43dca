// `paddock backup` and `paddock restore`: the operator's end of the
// AdminServer's backup command (take.ts).
//
//   paddock backup --server host:port DIR        fetch a backup from the peer whose AdminServer listens
//                                                on host:port (or --server http://host:port/commandURL)
//                                                into DIR/version-2, then load it to check it
//   paddock restore DIR --data-dir D [--data-log-dir L]
//                                                check the backup in DIR and copy it into D/version-2
//                                                (its log into L/version-2 when dataLogDir differs)
//
// Invariants: neither command overwrites anything — a version-2 directory
// that already holds snapshots or logs is refused, so no data is lost; a
// backup is only reported (and restored) once it loads, snapshot checksums
// and log replay included, and the state it restores to is named by its
// zxid and node count; a failed backup leaves no partial files.

import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import { listSnapshots, readSnapshot } from '../persistence/snapshot.ts';
import { listTxnLogs, replayTxnLogs } from '../persistence/txnlog.ts';
import { zxidHex } from '../zxid.ts';
import { readTar } from './tar.ts';
import { BACKUP_COMMAND, VERSION_DIR } from './take.ts';

export const BACKUP_USAGE = `paddock backup --server host:port DIR
                                    a consistent snapshot + log of a running peer (its AdminServer's
                                    host:port; admin.backup.enabled=true) into DIR/version-2
  paddock restore DIR --data-dir D [--data-log-dir L]
                                    copy the backup in DIR into an empty dataDir (and dataLogDir)`;

class UsageError extends Error {}

/** A backup file's name inside version-2/. */
const BACKUP_FILE = /^(snapshot|log)\.[0-9a-f]+$/;

/** The flags (--name value) and the other arguments of a command line. */
function parseArgs(args: string[], flags: string[]): { flags: Map<string, string>; rest: string[] } {
  const out = new Map<string, string>();
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const [name, inline] = a.startsWith('--') ? a.split(/=(.*)/s, 2) : [a, undefined];
    if (!a.startsWith('--')) rest.push(a);
    else if (!flags.includes(name!)) throw new UsageError(`unknown flag ${name}`);
    else {
      const value = inline ?? args[++i];
      if (value === undefined) throw new UsageError(`${name} needs a value`);
      out.set(name!, value);
    }
  }
  return { flags: out, rest };
}

/** Snapshot and log files already in a version-2 directory (what a backup or restore must not overwrite). */
function dataFilesIn(versionDir: string): string[] {
  try {
    return readdirSync(versionDir).filter((f) => /^(snapshot|log)\./.test(f));
  } catch {
    return [];
  }
}

function refuseNonEmpty(versionDir: string): void {
  const present = dataFilesIn(versionDir);
  if (present.length > 0) throw new Error(`${versionDir} already holds ${present.slice(0, 3).join(', ')}${present.length > 3 ? ', …' : ''}: give an empty directory (nothing is overwritten)`);
}

function writeDurably(path: string, data: Uint8Array): void {
  const fd = openSync(path, 'wx', 0o644);
  try {
    for (let done = 0; done < data.length; ) done += writeSync(fd, data, done);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** What a backup directory restores to. */
interface Checked {
  snapshot: string;
  logs: string[];
  snapshotZxid: number;
  zxid: number;
  txns: number;
  nodes: number;
}

/** Load the newest snapshot of `versionDir` and replay its logs, as a server starting on it would. */
function check(versionDir: string): Checked {
  const snap = listSnapshots(versionDir)[0];
  if (!snap) throw new Error(`${versionDir} holds no snapshot: not a backup`);
  const { tree } = readSnapshot(snap.path);
  const { txns } = replayTxnLogs(versionDir, snap.zxid, (t) => tree.apply(t.hdr, t.body));
  const logs = listTxnLogs(versionDir).map((l) => l.path);
  // the root is not counted in nodeCount; mntr's znode_count counts it twice, as ZooKeeper does
  return { snapshot: snap.path, logs, snapshotZxid: snap.zxid, zxid: tree.lastProcessedZxid, txns, nodes: tree.nodeCount };
}

const describe = (c: Checked): string =>
  `the state at zxid ${zxidHex(c.zxid)}, ${c.nodes} nodes (snapshot at ${zxidHex(c.snapshotZxid)} + ${c.txns} txn${c.txns === 1 ? '' : 's'})`;

/** The URL of the backup command from --server: host:port (the default command URL) or the command URL itself. */
function backupUrl(server: string): string {
  return server.includes('://') ? `${server.replace(/\/+$/, '')}/${BACKUP_COMMAND}` : `http://${server}/commands/${BACKUP_COMMAND}`;
}

/** Why a server refused: the command envelope's error, or what it sent. */
async function refusal(res: Response): Promise<string> {
  const text = await res.text();
  try {
    return (JSON.parse(text) as { error?: string }).error ?? text;
  } catch {
    return `HTTP ${res.status}: ${text.slice(0, 200)}`;
  }
}

async function backup(args: string[]): Promise<string> {
  const { flags, rest } = parseArgs(args, ['--server']);
  const server = flags.get('--server');
  if (!server || rest.length !== 1) throw new UsageError('backup takes --server host:port and one directory');
  const versionDir = join(rest[0]!, VERSION_DIR);
  refuseNonEmpty(versionDir);
  const url = backupUrl(server);
  const res = await fetch(url).catch((e: Error) => {
    throw new Error(`cannot reach ${url}: ${(e.cause as Error | undefined)?.message ?? e.message}`);
  });
  if (!res.ok || !res.headers.get('content-type')?.startsWith('application/x-tar') || !res.body) throw new Error(`${url}: ${await refusal(res)}`);
  mkdirSync(versionDir, { recursive: true });
  const written: string[] = [];
  try {
    for await (const file of readTar(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream))) {
      const name = file.name.startsWith(`${VERSION_DIR}/`) ? file.name.slice(VERSION_DIR.length + 1) : '';
      if (!BACKUP_FILE.test(name)) throw new Error(`the backup holds ${file.name}, which is no snapshot or log`);
      const path = join(versionDir, name);
      writeDurably(path, file.data);
      written.push(path);
    }
    return `backup of ${server} in ${versionDir}: ${describe(check(versionDir))}`;
  } catch (e) {
    for (const path of written) rmSync(path, { force: true });
    throw e;
  }
}

function restore(args: string[]): string {
  const { flags, rest } = parseArgs(args, ['--data-dir', '--data-log-dir']);
  const dataDir = flags.get('--data-dir');
  if (!dataDir || rest.length !== 1) throw new UsageError('restore takes one backup directory and --data-dir');
  const from = join(rest[0]!, VERSION_DIR);
  const checked = check(from);
  const snapDir = join(dataDir, VERSION_DIR);
  const logDir = join(flags.get('--data-log-dir') ?? dataDir, VERSION_DIR);
  refuseNonEmpty(snapDir);
  refuseNonEmpty(logDir);
  mkdirSync(snapDir, { recursive: true });
  mkdirSync(logDir, { recursive: true });
  const copies: [string, string][] = [[checked.snapshot, snapDir], ...checked.logs.map((l): [string, string] => [l, logDir])];
  const written: string[] = [];
  try {
    for (const [file, dir] of copies) {
      const to = join(dir, basename(file));
      writeDurably(to, readFileSync(file));
      written.push(to);
    }
  } catch (e) {
    for (const path of written) rmSync(path, { force: true });
    throw e;
  }
  return `restored ${describe(checked)} into ${snapDir}${logDir === snapDir ? '' : ` and ${logDir}`}`;
}

/** `paddock backup …` / `paddock restore …`: returns the exit status. */
export async function runBackupCommand(command: 'backup' | 'restore', args: string[]): Promise<number> {
  try {
    process.stdout.write(`${command === 'backup' ? await backup(args) : restore(args)}\n`);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`paddock ${command}: ${e.message}\nusage: ${BACKUP_USAGE}\n`);
      return 2;
    }
    process.stderr.write(`paddock ${command}: ${(e as Error).message}\n`);
    return 1;
  }
}
