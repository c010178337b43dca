// JVM system properties from the -D flags in SERVER_JVMFLAGS and JVMFLAGS,
// the environment variables zkServer.sh puts on ZooKeeper's java command line.

export interface SystemProperty {
  value: string;
  /** where it was set, for messages: 'SERVER_JVMFLAGS', 'zoo.cfg line 4', ... */
  from: string;
}

/**
 * Split a flags string into words: whitespace separates, '...' and "..." group,
 * a backslash escapes the next character (except inside '...').
 * zkServer.sh itself leaves quotes in place; honouring them lets a value hold spaces.
 */
export function splitFlags(text: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote === "'") {
      if (c === "'") quote = null;
      else word += c;
    } else if (c === '\\' && i + 1 < text.length) {
      word = (word ?? '') + text[++i];
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      word ??= '';
    } else if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (quote) throw new Error(`unterminated ${quote} quote`);
  if (word !== null) words.push(word);
  return words;
}

/**
 * System properties set by -Dname=value flags (-Dname alone sets ''). zkServer.sh runs
 * java with "$SERVER_JVMFLAGS $JVMFLAGS" and the JVM keeps the last -D of a name,
 * so JVMFLAGS wins over SERVER_JVMFLAGS. Other flags (-Xmx, -XX:...) are skipped.
 */
export function jvmSystemProperties(env: NodeJS.ProcessEnv): Map<string, SystemProperty> {
  const props = new Map<string, SystemProperty>();
  for (const from of ['SERVER_JVMFLAGS', 'JVMFLAGS']) {
    let words: string[];
    try {
      words = splitFlags(env[from] ?? '');
    } catch (err) {
      throw new Error(`${from}: ${(err as Error).message}`);
    }
    for (const word of words) {
      if (!word.startsWith('-D')) continue;
      const eq = word.indexOf('=');
      const name = eq < 0 ? word.slice(2) : word.slice(2, eq);
      if (name) props.set(name, { value: eq < 0 ? '' : word.slice(eq + 1), from });
    }
  }
  return props;
}
