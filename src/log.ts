// Plain line logging to stdout: timestamp, level, message. One message is one
// line whatever it contains: messages quote what clients send (paths, scheme
// names), so control characters are escaped and a client cannot forge a line.

export type Level = 'INFO' | 'WARN' | 'ERROR';

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** C0 and C1 controls, DEL, and the Unicode line and paragraph separators. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** `s` with every character that could break or fake a log line written as \xNN or \uNNNN. */
export function printable(s: string): string {
  return s.replace(UNPRINTABLE, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

export function consoleLogger(out: (line: string) => void = (l) => process.stdout.write(l)): Logger {
  const line = (level: Level, message: string) => out(`${new Date().toISOString()} [${level}] ${printable(message)}\n`);
  return {
    info: (m) => line('INFO', m),
    warn: (m) => line('WARN', m),
    error: (m) => line('ERROR', m),
  };
}
