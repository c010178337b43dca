// A JAAS login configuration file (the file -Djava.security.auth.login.config names),
// read as the JDK's default Configuration (sun.security.provider.ConfigFile) reads it:
//
//   Name { module.Class flag [key=value ...] ; ... } ;
//
// flag is required / requisite / sufficient / optional (any case); a value is a
// "quoted string" (backslash escapes as java.io.StreamTokenizer: \n \t \" \\ \ooo;
// a newline ends it) or a bare word that does not start with a digit, '.' or '-'; ${name}
// in a value expands a system property. Comments are // and /* */ ('#' is not one).
// Section names are case-sensitive and may not repeat; a repeated option key keeps
// its last value. Anything else is a JaasError naming the line, as the JDK refuses it.

export class JaasError extends Error {}

export type ControlFlag = 'required' | 'requisite' | 'sufficient' | 'optional';

export interface LoginModuleEntry {
  loginModule: string;
  flag: ControlFlag;
  options: Map<string, string>;
}

interface Token {
  kind: 'word' | 'string' | 'number' | 'char' | 'eof';
  text: string;
  line: number;
}

// StreamTokenizer's letters (with ConfigFile's $ _ * -): digits, '.' and '-' start a number, not a word.
const WORD_START = /[A-Za-z$_*\u00a0-\uffff]/;
const WORD_CHAR = /[A-Za-z0-9.$_*\u00a0-\uffff-]/;
const ESCAPES: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let line = 1;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '\n') {
      line++;
      i++;
    } else if (c <= ' ') {
      i++;
    } else if (text.startsWith('//', i)) {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (text.startsWith('/*', i)) {
      const end = text.indexOf('*/', i + 2);
      const stop = end < 0 ? text.length : end + 2;
      for (; i < stop; i++) if (text[i] === '\n') line++;
    } else if (c === '"') {
      let s = '';
      for (i++; i < text.length && text[i] !== '"' && text[i] !== '\n'; i++) {
        if (text[i] !== '\\' || i + 1 >= text.length) {
          s += text[i];
          continue;
        }
        const octal = /^[0-7]{1,3}/.exec(text.slice(i + 1, i + 4));
        if (octal && !(octal[0].length === 3 && octal[0][0]! > '3')) {
          s += String.fromCharCode(parseInt(octal[0], 8));
          i += octal[0].length;
        } else {
          const e = text[++i]!;
          s += ESCAPES[e] ?? e;
        }
      }
      if (text[i] === '"') i++;
      tokens.push({ kind: 'string', text: s, line });
    } else if (WORD_START.test(c)) {
      const start = i;
      while (i < text.length && WORD_CHAR.test(text[i]!)) i++;
      tokens.push({ kind: 'word', text: text.slice(start, i), line });
    } else if (/[0-9.-]/.test(c)) {
      const start = i;
      while (i < text.length && /[0-9.]/.test(text[i]!)) i++;
      if (i === start) i++;
      tokens.push({ kind: 'number', text: text.slice(start, i), line });
    } else {
      tokens.push({ kind: 'char', text: c, line });
      i++;
    }
  }
  tokens.push({ kind: 'eof', text: '', line });
  return tokens;
}

/**
 * The sections of a JAAS file, by name. `property` resolves ${name} in option values
 * (undefined: the file is refused, as the JDK refuses it).
 */
export function parseJaas(text: string, property: (name: string) => string | undefined): Map<string, LoginModuleEntry[]> {
  const tokens = tokenize(text);
  let at = 0;
  const peek = () => tokens[at]!;
  const describe = (t: Token) => (t.kind === 'eof' ? 'end of file' : t.kind === 'string' ? `"${t.text}"` : t.text);
  const fail = (t: Token, what: string): never => {
    throw new JaasError(`line ${t.line}: expected ${what}, found ${describe(t)}`);
  };
  const expectChar = (c: string) => {
    const t = tokens[at++]!;
    if (t.kind !== 'char' || t.text !== c) fail(t, `'${c}'`);
  };
  /** a name, module class or option key: a word or a quoted string */
  const name = (what: string): string => {
    const t = tokens[at++]!;
    return t.kind === 'word' || t.kind === 'string' ? t.text : fail(t, what);
  };

  const sections = new Map<string, LoginModuleEntry[]>();
  while (peek().kind !== 'eof') {
    const sectionToken = peek();
    const section = name('a section name');
    if (sections.has(section)) throw new JaasError(`line ${sectionToken.line}: section ${section} appears twice`);
    expectChar('{');
    const entries: LoginModuleEntry[] = [];
    while (!(peek().kind === 'char' && peek().text === '}')) {
      const loginModule = name('a login module class or }');
      const flagToken = peek();
      const flag = name('a control flag').toLowerCase();
      if (flag !== 'required' && flag !== 'requisite' && flag !== 'sufficient' && flag !== 'optional') {
        throw new JaasError(`line ${flagToken.line}: invalid control flag ${describe(flagToken)} (required, requisite, sufficient or optional)`);
      }
      const options = new Map<string, string>();
      while (!(peek().kind === 'char' && peek().text === ';')) {
        const key = name('an option key or ;');
        expectChar('=');
        const valueToken = tokens[at++]!;
        if (valueToken.kind !== 'word' && valueToken.kind !== 'string') fail(valueToken, 'an option value (a "quoted string")');
        options.set(key, expand(valueToken.text, property, valueToken.line));
      }
      expectChar(';');
      entries.push({ loginModule, flag, options });
    }
    expectChar('}');
    expectChar(';');
    sections.set(section, entries);
  }
  return sections;
}

function expand(value: string, property: (name: string) => string | undefined, line: number): string {
  return value.replace(/\$\{([^}]*)\}/g, (_, name: string) => {
    const v = name === '/' ? '/' : property(name);
    if (v === undefined) throw new JaasError(`line ${line}: unable to expand property \${${name}}`);
    return v;
  });
}
