/**
 * The default logger: warnings and errors reach stderr (a channel crash is never hidden), debug and
 * info do not unless asked for; one call is one line, whatever a client put in a topic, an event
 * or a name (nothing can forge a line or drive the terminal); `withFields` adds fields to every
 * line of any logger.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { consoleLogger, logs, silentLogger, withFields, type LogFields } from '../../src/logger.ts';

afterEach(() => vi.restoreAllMocks());

function captured(): string[] {
  const lines: string[] = [];
  vi.spyOn(console, 'error').mockImplementation((line: string) => void lines.push(line));
  return lines;
}

describe('consoleLogger', () => {
  it('writes warn and error by default, with fields and the error stack, and drops info and debug', () => {
    const lines = captured();
    const logger = consoleLogger();
    logger.debug({ socketId: 's' }, 'socket connected');
    logger.info({ code: 403 }, 'connect refused');
    logger.warn({ code: 1008 }, 'slow reader; closing socket');
    logger.error({ err: new Error('boom'), topic: 'rooms:1' }, 'channel crashed');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe('[starling] warn slow reader; closing socket {"code":1008}');
    expect(lines[1]).toMatch(/^\[starling\] error channel crashed \{"topic":"rooms:1"\} err=Error: boom\\n {4}at /);
  });

  it('honours a chosen level, and answers isLevelEnabled accordingly', () => {
    const lines = captured();
    const logger = consoleLogger('debug');
    logger.debug({}, 'hello');
    expect(lines).toEqual(['[starling] debug hello']);
    expect(logs(logger, 'debug')).toBe(true);
    expect(logs(consoleLogger(), 'debug')).toBe(false);
    expect(logs(silentLogger, 'error')).toBe(false);
  });
});

describe('consoleLogger with client-chosen strings', () => {
  // What a client can put in a topic, an event or a name: every way to end a line or to act on a
  // terminal (ANSI escape), and a bidi override that would reorder what an operator reads.
  const hostile = 'a\nb\rc\u000bd\u000ce\u0085f\u2028g\u2029h\u001b[31mi\u0000j\u007fk\u202el';
  const escapedHostile = 'a\\nb\\rc\\u000bd\\u000ce\\u0085f\\u2028g\\u2029h\\u001b[31mi\\u0000j\\u007fk\\u202el';
  // eslint-disable-next-line no-control-regex -- what ends a line for some reader (Python's splitlines included)
  const lineBreaks = /[\n\r\u000b\u000c\u001c-\u001e\u0085\u2028\u2029]/;

  it('writes one line per call, with a hostile topic and event escaped in the fields (still JSON)', () => {
    const lines = captured();
    consoleLogger().warn({ topic: hostile, event: `e${hostile}` }, 'message dropped');

    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toMatch(lineBreaks);
    expect(lines[0]).not.toContain('\u001b');
    const json = lines[0]!.slice('[starling] warn message dropped '.length);
    expect(JSON.parse(json)).toEqual({ topic: hostile, event: `e${hostile}` });
  });

  it('escapes a message that embeds a client string, and a backslash, so that an escape cannot be faked either', () => {
    const lines = captured();
    consoleLogger().error({}, `"k" is already tracked on rooms:${hostile} \\n`);

    expect(lines).toEqual([`[starling] error "k" is already tracked on rooms:${escapedHostile} \\\\n`]);
  });

  it('keeps an error with a hostile message and its stack as one record: the stack follows on the same line', () => {
    const lines = captured();
    const err = new Error(`presence key on rooms:${hostile}\n[starling] error forged`);
    consoleLogger().error({ err, topic: 'rooms:1' }, 'channel crashed');

    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toMatch(lineBreaks);
    expect(lines[0]).toContain(`err=Error: presence key on rooms:${escapedHostile}\\n[starling] error forged\\n    at `);
  });

  it('escapes an err given as a string (a frame error’s message)', () => {
    const lines = captured();
    consoleLogger().warn({ err: `bad frame ${hostile}`, code: 'ERR_MALFORMED_FRAME' }, 'malformed frame; closing socket');

    expect(lines).toEqual([`[starling] warn malformed frame; closing socket {"code":"ERR_MALFORMED_FRAME"} err=bad frame ${escapedHostile}`]);
  });

  it('escapes format characters beyond U+FFFF as a valid JSON surrogate pair, and leaves other text as it is', () => {
    const lines = captured();
    consoleLogger().warn({ topic: 'rooms:\u{e0001}🐦é' }, 'x');

    expect(lines).toEqual(['[starling] warn x {"topic":"rooms:\\udb40\\udc01🐦é"}']);
    expect(JSON.parse(lines[0]!.slice('[starling] warn x '.length))).toEqual({ topic: 'rooms:\u{e0001}🐦é' });
  });
});

describe('withFields', () => {
  it('adds its fields to every line, the line’s own fields winning', () => {
    const seen: LogFields[] = [];
    const base = { debug: () => {}, info: () => {}, warn: (fields: LogFields) => void seen.push(fields), error: () => {} };
    withFields(base, { component: 'redis-pubsub', role: 'x' }).warn({ role: 'subscriber' }, 'lost');
    expect(seen).toEqual([{ component: 'redis-pubsub', role: 'subscriber' }]);
  });
});
