// Plain line logging to stdout: timestamp, level, message.

export type Level = 'INFO' | 'WARN' | 'ERROR';

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export function consoleLogger(out: (line: string) => void = (l) => process.stdout.write(l)): Logger {
  const line = (level: Level, message: string) => out(`${new Date().toISOString()} [${level}] ${message}\n`);
  return {
    info: (m) => line('INFO', m),
    warn: (m) => line('WARN', m),
    error: (m) => line('ERROR', m),
  };
}
