// Structured logging: one line per event, with its level, time, message and
// fields (peer id, role, epoch, zxid, counts, times: whatever the event has).
// Lines are JSON objects when stdout is not a terminal (a collector reads
// them) and readable text on a terminal; PADDOCK_LOG_FORMAT or zoo.cfg's
// paddock.logFormat choose either. ZooKeeper logs through log4j/logback; its
// words are kept in the messages (LOOKING, "LEADER ELECTION TOOK", "Expiring
// session") so runbooks that grep them keep working.
//
// Invariants:
// - one event is one line, whatever it carries: messages and fields quote what
//   clients send (paths, scheme names), so every character that could end or
//   fake a line is escaped in both formats (printable, jsonLine);
// - a line below the logger's level costs one comparison: nothing is merged or
//   formatted (callers building an expensive DEBUG message test enabled() first);
// - a child logger (`with`) reads its context object when a line is written,
//   so an object its owner updates in place (a member's role and epoch) shows
//   its current values in every later line.

export type Level = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
export const LEVELS: readonly Level[] = ['DEBUG', 'INFO', 'WARN', 'ERROR'];
export type LogFormat = 'json' | 'text';
export const FORMATS: readonly LogFormat[] = ['json', 'text'];

export type FieldValue = string | number | boolean | null | undefined;
/** An event's structured fields; undefined ones are left out. */
export type Fields = Readonly<Record<string, FieldValue>>;

export interface Logger {
  debug(message: string, fields?: Fields): void;
  info(message: string, fields?: Fields): void;
  warn(message: string, fields?: Fields): void;
  error(message: string, fields?: Fields): void;
  /** Whether lines at `level` are written: test it before building an expensive message. */
  enabled(level: Level): boolean;
  /** A logger whose every line also carries `context` (read as each line is written). */
  with(context: Fields): Logger;
}

/** One event, before it is formatted. */
export interface LogLine {
  time: Date;
  level: Level;
  message: string;
  /** the contexts', outermost first, then the event's own */
  fields: Record<string, FieldValue>;
}

class FieldLogger implements Logger {
  constructor(
    private readonly emit: (line: LogLine) => void,
    private readonly threshold: number,
    private readonly contexts: readonly Fields[],
  ) {}

  debug(message: string, fields?: Fields): void {
    if (this.threshold <= 0) this.write('DEBUG', message, fields);
  }
  info(message: string, fields?: Fields): void {
    if (this.threshold <= 1) this.write('INFO', message, fields);
  }
  warn(message: string, fields?: Fields): void {
    if (this.threshold <= 2) this.write('WARN', message, fields);
  }
  error(message: string, fields?: Fields): void {
    if (this.threshold <= 3) this.write('ERROR', message, fields);
  }

  enabled(level: Level): boolean {
    return LEVELS.indexOf(level) >= this.threshold;
  }

  with(context: Fields): Logger {
    return new FieldLogger(this.emit, this.threshold, [...this.contexts, context]);
  }

  private write(level: Level, message: string, own: Fields | undefined): void {
    const fields: Record<string, FieldValue> = {};
    for (const source of own ? [...this.contexts, own] : this.contexts) {
      for (const key in source) {
        const value = source[key];
        if (value !== undefined) fields[key] = value;
      }
    }
    this.emit({ time: new Date(), level, message, fields });
  }
}

/** A logger that hands each line at `level` or above to `record`, unformatted (tests, embedding). */
export function recordingLogger(record: (line: LogLine) => void, level: Level = 'DEBUG'): Logger {
  return new FieldLogger(record, LEVELS.indexOf(level), []);
}

/** A logger that writes nothing. */
export const SILENT: Logger = new FieldLogger(() => {}, LEVELS.length, []);

/** The logger `paddock server` writes with: one formatted line per event to `out` (stdout). */
export function createLogger(settings: LogSettings, out: (line: string) => void = (l) => process.stdout.write(l)): Logger {
  const format = settings.format === 'json' ? jsonLine : textLine;
  return recordingLogger((line) => out(format(line)), settings.level);
}

/** C0 and C1 controls, DEL, and the Unicode line and paragraph separators. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
/** What JSON.stringify leaves as it is that some line readers still split on. */
const JSON_UNSAFE = /[\u007f-\u009f\u2028\u2029]/g;

const escapeCode = (c: string): string => {
  const code = c.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
};

/** `s` with every character that could break or fake a log line written as \xNN or \uNNNN. */
export function printable(s: string): string {
  return s.replace(UNPRINTABLE, escapeCode);
}

/** The line as one JSON object: time, level, msg, then the fields (none may replace those three). */
export function jsonLine(line: LogLine): string {
  const o: Record<string, FieldValue> = { time: line.time.toISOString(), level: line.level, msg: line.message };
  for (const key in line.fields) if (!(key in o)) o[key] = line.fields[key];
  // JSON.stringify escapes C0 controls; these it leaves are valid JSON as \u escapes too (they only occur in strings).
  return `${JSON.stringify(o).replace(JSON_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}\n`;
}

/** The line as text: `time [LEVEL] message  key=value …`, values with spaces or quotes quoted. */
export function textLine(line: LogLine): string {
  let text = `${line.time.toISOString()} [${line.level}] ${line.message}`;
  let sep = '  ';
  for (const key in line.fields) {
    const v = line.fields[key];
    text += `${sep}${key}=${typeof v === 'string' && !/^[^\s"=]*$/.test(v) ? JSON.stringify(v) : String(v)}`;
    sep = ' ';
  }
  return `${printable(text)}\n`;
}

export interface LogSettings {
  level: Level;
  format: LogFormat;
}

/** A level name in any case, or null. */
export function parseLevel(s: string): Level | null {
  const level = s.trim().toUpperCase();
  return (LEVELS as readonly string[]).includes(level) ? (level as Level) : null;
}

/** A format name in any case, or null. */
export function parseFormat(s: string): LogFormat | null {
  const format = s.trim().toLowerCase();
  return (FORMATS as readonly string[]).includes(format) ? (format as LogFormat) : null;
}

/**
 * The level and format to log with: PADDOCK_LOG_LEVEL / PADDOCK_LOG_FORMAT
 * when set, else zoo.cfg's (null: not set), else INFO, and JSON unless stdout
 * is a terminal. Throws, naming the variable, on a value that is neither.
 */
export function logSettings(configured: { level: Level | null; format: LogFormat | null }, env: NodeJS.ProcessEnv, terminal: boolean): LogSettings {
  const fromEnv = <T>(name: string, parse: (s: string) => T | null, names: readonly string[]): T | null => {
    const value = env[name];
    if (value === undefined || value === '') return null;
    const parsed = parse(value);
    if (parsed === null) throw new Error(`${name}=${printable(value)} is not one of ${names.join(', ')}`);
    return parsed;
  };
  return {
    level: fromEnv('PADDOCK_LOG_LEVEL', parseLevel, LEVELS) ?? configured.level ?? 'INFO',
    format: fromEnv('PADDOCK_LOG_FORMAT', parseFormat, FORMATS) ?? configured.format ?? (terminal ? 'text' : 'json'),
  };
}
