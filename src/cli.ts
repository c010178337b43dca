// The `paddock` command.

import { ConfigError, loadConfig } from './config/config.ts';
import { formatSnapshot } from './persistence/snapshot.ts';
import { formatTxnLog } from './persistence/txnlog.ts';
import { createLogger, logSettings, type Logger } from './log.ts';
import { PaddockServer } from './server/server.ts';
import { VERSION_LINE } from './version.ts';
import { SHELL_USAGE, runShell } from './shell/shell.ts';
import { DEV_USAGE, runDev } from './dev/dev.ts';
import { BACKUP_USAGE, runBackupCommand } from './backup/cli.ts';

const USAGE = `usage:
  paddock server [zoo.cfg]          run a ZooKeeper-compatible server. Without zoo.cfg it
                                    uses a built-in development configuration: client port
                                    2181 on 127.0.0.1, dataDir ./data. JVM-style settings are
                                    read from -Dkey=value flags in SERVER_JVMFLAGS and JVMFLAGS.
  paddock txnlog FILE [--json]      print the transactions of a log file (log.<zxid>)
  paddock snapshot FILE [--json]    print the sessions, ACLs and nodes of a snapshot file
  ${SHELL_USAGE}
                                    zkCli.sh's commands: the one given, or interactive
  ${DEV_USAGE}
  ${BACKUP_USAGE}
  paddock version`;

/** Print a data file with `format`, or say clearly why it cannot be read. */
function dump(args: string[], format: (file: string, json: boolean) => string): void {
  const json = args.includes('--json');
  const files = args.filter((a) => a !== '--json');
  if (files.length !== 1) {
    process.stderr.write(`${USAGE}\n`);
    process.exit(2);
  }
  try {
    process.stdout.write(format(files[0]!, json));
  } catch (e) {
    process.stderr.write(`paddock: ${files[0]}: ${(e as Error).message}\n`);
    process.exit(1);
  }
}

async function runServer(cfgPath: string | null): Promise<void> {
  let config;
  try {
    config = loadConfig(cfgPath);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`paddock: invalid configuration: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  let log: Logger;
  try {
    log = createLogger(logSettings({ level: config.logLevel, format: config.logFormat }, process.env, process.stdout.isTTY === true));
  } catch (e) {
    process.stderr.write(`paddock: ${(e as Error).message}\n`);
    process.exit(2);
  }
  // An ensemble member's every line names it (EnsembleMember adds its role and epoch).
  if (!config.standalone) log = log.with({ peer: config.myid });
  // Signals are handled from here on, before the first line is printed (a
  // supervisor may signal as soon as it reads one): one that arrives during
  // recovery or start-up stops the server as soon as it is up (Node's default
  // would kill it mid-write with status 130).
  let running: PaddockServer | undefined;
  let stopSignal: string | undefined;
  const stop = (server: PaddockServer) => server.stop().then(() => process.exit(0));
  const shutdown = (signal: string) => {
    if (stopSignal !== undefined) return;
    stopSignal = signal;
    log.info(`${signal}: shutting down`, { event: 'stop' });
    if (running) void stop(running);
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  log.info(`Paddock ${VERSION_LINE}`, { event: 'start' });
  log.info(`config: ${config.configPath ?? 'built-in default'}`);
  for (const note of config.ignored) log.warn(note, { event: 'config-ignored' });
  const mode = config.standalone ? 'standalone' : `server ${config.myid} of an ensemble of ${config.servers.length}`;
  log.info(`mode: ${mode}; dataDir ${config.dataDir}; dataLogDir ${config.dataLogDir}; tickTime ${config.tickTime} ms; session timeout ${config.minSessionTimeout}..${config.maxSessionTimeout} ms`, {
    event: 'config',
    mode: config.standalone ? 'standalone' : 'ensemble',
    ensembleSize: config.standalone ? undefined : config.servers.length,
    clientPort: config.clientPort,
    tickTime: config.tickTime,
  });
  let server: PaddockServer;
  try {
    server = await PaddockServer.open(config, log);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`paddock: invalid configuration: ${e.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`paddock: cannot recover ${config.dataDir}: ${(e as Error).message}\n`);
    process.exit(1);
  }
  try {
    await server.start();
  } catch (e) {
    process.stderr.write(`paddock: cannot listen on ${config.clientPortAddress}:${config.clientPort}: ${(e as Error).message}\n`);
    process.exit(1);
  }
  running = server;
  if (stopSignal !== undefined) await stop(server);
}

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'server':
      if (rest.length > 1) break;
      return runServer(rest[0] ?? null);
    case 'txnlog':
      return dump(rest, formatTxnLog);
    case 'snapshot':
      return dump(rest, formatSnapshot);
    case 'shell':
      process.exitCode = await runShell(rest);
      return;
    case 'dev':
      process.exitCode = await runDev(rest);
      return;
    case 'backup':
    case 'restore':
      process.exitCode = await runBackupCommand(command, rest);
      return;
    case 'version':
    case '--version':
      process.stdout.write(`${VERSION_LINE}\n`);
      return;
  }
  process.stderr.write(`${USAGE}\n`);
  process.exit(command === undefined || command === 'help' || command === '--help' ? 0 : 2);
}
