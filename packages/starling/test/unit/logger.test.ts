/**
 * The default logger: warnings and errors reach stderr (a channel crash is never hidden), debug and
 * info do not unless asked for; `withFields` adds fields to every line of any logger.
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
    expect(lines[1]).toMatch(/^\[starling\] error channel crashed \{"topic":"rooms:1"\}\nError: boom\n {4}at /);
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

describe('withFields', () => {
  it('adds its fields to every line, the line’s own fields winning', () => {
    const seen: LogFields[] = [];
    const base = { debug: () => {}, info: () => {}, warn: (fields: LogFields) => void seen.push(fields), error: () => {} };
    withFields(base, { component: 'redis-pubsub', role: 'x' }).warn({ role: 'subscriber' }, 'lost');
    expect(seen).toEqual([{ component: 'redis-pubsub', role: 'subscriber' }]);
  });
});
