// The structured logger (src/log.ts): its JSON and text lines, level
// filtering, child loggers' context, where its settings come from (zoo.cfg,
// the environment, the terminal), and that nothing a client sends can end or
// fake a line in either format.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, parseConfig } from '../src/config/config.ts';
import { createLogger, jsonLine, logSettings, recordingLogger, textLine, type LogFormat, type LogLine, type LogSettings } from '../src/log.ts';

/** A logger writing `format` at `level` into an array of raw output chunks. */
function capture(settings: LogSettings) {
  const chunks: string[] = [];
  return { log: createLogger(settings, (l) => chunks.push(l)), chunks };
}

/** Every character some reader splits lines on: \n, \r, VT, FF, FS/GS/RS, NEL, LS, PS (Python's str.splitlines). */
const LINE_BREAKS = /[\n\r\u000b\u000c\u001c-\u001e\u0085\u2028\u2029]/;

/** A hostile string: a line break followed by a complete fake line, then terminal escapes and other breaks. */
const FORGED = '2026-01-01T00:00:00.000Z [WARN] FORGED';
const hostile = `x\n${FORGED}\r\n{"level":"ERROR","msg":"FORGED"}\u2028\u2029\u0085\u000b\u001e\u001b[2J\u007f\u0000end`;

describe('JSON lines', () => {
  test('each line is one JSON object with time, level, msg and the fields', () => {
    const { log, chunks } = capture({ level: 'DEBUG', format: 'json' });
    log.with({ peer: 2 }).info('wrote snapshot /d/snapshot.1', { event: 'snapshot', zxid: '0x1', bytes: 457, ok: true, none: null, missing: undefined });
    log.warn('plain');
    assert.equal(chunks.length, 2);
    const [first, second] = chunks.map((c) => {
      assert.ok(c.endsWith('\n') && c.indexOf('\n') === c.length - 1, 'one line, newline-terminated');
      return JSON.parse(c) as Record<string, unknown>;
    });
    assert.deepEqual(Object.keys(first!), ['time', 'level', 'msg', 'peer', 'event', 'zxid', 'bytes', 'ok', 'none']);
    assert.equal(first!.level, 'INFO');
    assert.equal(first!.msg, 'wrote snapshot /d/snapshot.1');
    assert.deepEqual([first!.peer, first!.event, first!.zxid, first!.bytes, first!.ok, first!.none], [2, 'snapshot', '0x1', 457, true, null]);
    assert.ok(!Number.isNaN(Date.parse(first!.time as string)) && (first!.time as string).endsWith('Z'), 'ISO time, UTC');
    assert.deepEqual(second, { time: second!.time, level: 'WARN', msg: 'plain' });
  });

  test('a field cannot replace time, level or msg', () => {
    const line = jsonLine({ time: new Date(0), level: 'INFO', message: 'real', fields: { level: 'ERROR', msg: 'fake', time: 'then', x: 1 } });
    assert.deepEqual(JSON.parse(line), { time: '1970-01-01T00:00:00.000Z', level: 'INFO', msg: 'real', x: 1 });
  });
});

describe('no line can be forged', () => {
  for (const format of ['json', 'text'] as LogFormat[]) {
    test(`${format}: a message and field values with line breaks and controls stay on one line`, () => {
      const { log, chunks } = capture({ level: 'INFO', format });
      log.with({ path: hostile }).warn(`closing client: scheme "${hostile}"`, { [`key${hostile}`]: hostile });
      assert.equal(chunks.length, 1);
      const out = chunks[0]!;
      assert.ok(out.endsWith('\n'));
      const body = out.slice(0, -1);
      assert.doesNotMatch(body, LINE_BREAKS, 'no line break inside the line');
      assert.doesNotMatch(body, /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/, 'no raw control character at all');
      assert.ok(!out.split(LINE_BREAKS).some((l) => l.startsWith(FORGED) || l.startsWith('{"level"')), 'no forged line');
      if (format === 'json') {
        // The escapes are JSON's: the exact strings come back.
        const o = JSON.parse(body) as Record<string, unknown>;
        assert.equal(o.msg, `closing client: scheme "${hostile}"`);
        assert.equal(o.path, hostile);
        assert.equal(o[`key${hostile}`], hostile);
      } else {
        assert.match(body, /^\S+ \[WARN\] closing client: scheme "x\\x0a2026-01-01T00:00:00\.000Z \[WARN\] FORGED\\x0d\\x0a/);
        assert.ok(body.includes('\\u2028\\u2029\\x85\\x0b\\x1e\\x1b[2J\\x7f\\x00end'), body);
      }
    });
  }

  test('text: values with spaces, quotes or = are quoted, so key=value pairs cannot be faked', () => {
    const line = textLine({ time: new Date(0), level: 'INFO', message: 'm', fields: { a: 'plain', b: 'two words', c: 'x=1', d: 'say "hi"', n: 3 } });
    assert.equal(line, '1970-01-01T00:00:00.000Z [INFO] m  a=plain b="two words" c="x=1" d="say \\"hi\\"" n=3\n');
  });
});

describe('levels', () => {
  test('lines below the level are dropped before anything is built; enabled() says which pass', () => {
    const seen: LogLine[] = [];
    const log = recordingLogger((l) => seen.push(l), 'WARN');
    let built = 0;
    const context = {
      get expensive() {
        built++;
        return 'x';
      },
    };
    const child = log.with(context);
    child.debug('d');
    child.info('i');
    assert.equal(built, 0, 'the context of a dropped line is never read');
    child.warn('w');
    child.error('e');
    assert.deepEqual(
      seen.map((l) => l.level),
      ['WARN', 'ERROR'],
    );
    assert.equal(built, 2);
    assert.deepEqual(
      (['DEBUG', 'INFO', 'WARN', 'ERROR'] as const).map((l) => log.enabled(l)),
      [false, false, true, true],
    );
  });

  for (const [level, expected] of [
    ['DEBUG', ['DEBUG', 'INFO', 'WARN', 'ERROR']],
    ['INFO', ['INFO', 'WARN', 'ERROR']],
    ['ERROR', ['ERROR']],
  ] as const) {
    test(`at ${level} the formatted output holds ${expected.join(', ')}`, () => {
      const { log, chunks } = capture({ level, format: 'json' });
      log.debug('d');
      log.info('i');
      log.warn('w');
      log.error('e');
      assert.deepEqual(
        chunks.map((c) => (JSON.parse(c) as { level: string }).level),
        expected,
      );
    });
  }
});

describe('child loggers', () => {
  test('context is read as each line is written; inner context and the event fields win', () => {
    const seen: LogLine[] = [];
    const where: { role: string; epoch?: number } = { role: 'looking' };
    const log = recordingLogger((l) => seen.push(l)).with({ peer: 1, role: 'none' }).with(where);
    log.info('a');
    where.role = 'leading';
    where.epoch = 3;
    log.info('b', { zxid: '0x300000000' });
    log.info('c', { epoch: 4 });
    assert.deepEqual(
      seen.map((l) => l.fields),
      [
        { peer: 1, role: 'looking' },
        { peer: 1, role: 'leading', epoch: 3, zxid: '0x300000000' },
        { peer: 1, role: 'leading', epoch: 4 },
      ],
    );
  });
});

describe('settings', () => {
  const none = { level: null, format: null };
  test('INFO by default; JSON unless stdout is a terminal', () => {
    assert.deepEqual(logSettings(none, {}, false), { level: 'INFO', format: 'json' });
    assert.deepEqual(logSettings(none, {}, true), { level: 'INFO', format: 'text' });
  });

  test('zoo.cfg beats the default, the environment beats zoo.cfg; names in any case', () => {
    assert.deepEqual(logSettings({ level: 'WARN', format: 'text' }, {}, false), { level: 'WARN', format: 'text' });
    assert.deepEqual(logSettings({ level: 'WARN', format: 'text' }, { PADDOCK_LOG_LEVEL: 'debug', PADDOCK_LOG_FORMAT: 'JSON' }, true), { level: 'DEBUG', format: 'json' });
    assert.deepEqual(logSettings(none, { PADDOCK_LOG_LEVEL: '', PADDOCK_LOG_FORMAT: '' }, true), { level: 'INFO', format: 'text' }, 'empty is unset');
  });

  test('a bad environment value is an error naming the variable and the choices', () => {
    assert.throws(() => logSettings(none, { PADDOCK_LOG_LEVEL: 'loud' }, false), /^Error: PADDOCK_LOG_LEVEL=loud is not one of DEBUG, INFO, WARN, ERROR$/);
    assert.throws(() => logSettings(none, { PADDOCK_LOG_FORMAT: 'xml\n' }, false), /^Error: PADDOCK_LOG_FORMAT=xml\\x0a is not one of json, text$/);
  });

  const parse = (text: string, env: NodeJS.ProcessEnv = {}) => parseConfig(`tickTime=2000\ndataDir=/var/paddock\nclientPort=2181\n${text}`, { path: 'zoo.cfg', env });

  test('zoo.cfg paddock.logLevel and paddock.logFormat (or their -Dzookeeper. flags) are read, not reported as ignored', () => {
    const cfg = parse('paddock.logLevel=warn\npaddock.logFormat=text\n');
    assert.equal(cfg.logLevel, 'WARN');
    assert.equal(cfg.logFormat, 'text');
    assert.deepEqual(cfg.ignored, []);
    const flags = parse('', { SERVER_JVMFLAGS: '-Dzookeeper.paddock.logLevel=DEBUG' });
    assert.equal(flags.logLevel, 'DEBUG');
    assert.equal(flags.logFormat, null);
    assert.equal(parse('').logLevel, null);
  });

  test('a bad paddock.logLevel stops start-up with a ConfigError naming it', () => {
    assert.throws(
      () => parse('paddock.logLevel=chatty\n'),
      (e: unknown) => e instanceof ConfigError && /paddock\.logLevel='chatty' is not one of DEBUG, INFO, WARN, ERROR/.test(e.message) && /zoo\.cfg/.test(e.message),
    );
    assert.throws(() => parse('paddock.logFormat=yaml\n'), (e: unknown) => e instanceof ConfigError && /paddock\.logFormat='yaml' is not one of json, text/.test(e.message));
  });
});
