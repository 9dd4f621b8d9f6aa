/**
 * @module logger
 * The logger Starling writes to: a small interface that a `pino` logger satisfies as it is (and
 * so do most structured loggers, or a wrapper of four lines). Starling depends on no logging
 * library and reads no environment variable; pass your own logger to the {@link Endpoint}.
 *
 * Without one, {@link consoleLogger} at level `"warn"` writes to `console.error`: refused
 * connections and traffic stay quiet, while channel crashes, malformed frames and limits that
 * fire are never hidden.
 *
 * Log lines carry client-chosen strings (topics, events, presence keys, names inside error
 * messages). `consoleLogger` escapes them, so one call is one line whatever a client sent; a
 * logger of your own must do the same (pino does: it writes JSON).
 *
 * @example
 * import { Endpoint, consoleLogger } from 'starling-channels';
 * import { pino } from 'pino';
 * const endpoint = new Endpoint({ logger: pino({ level: 'info' }) });
 * // or: new Endpoint({ logger: consoleLogger('debug') })
 */

/** Structured fields of one log line (`err` holds an Error when there is one). */
export type LogFields = Record<string, unknown>;

/** The levels Starling logs at, from the most verbose. */
export const LogLevels = ['debug', 'info', 'warn', 'error'] as const;

/** One of {@link LogLevels}, or `"silent"` for none. */
export type LogLevel = (typeof LogLevels)[number] | 'silent';

/**
 * What Starling needs of a logger (pino's signature: fields first, then the message).
 * - `debug`: connects, disconnects and other per-socket events (busy servers log a lot);
 * - `info`: refused connects — expected, but what an operator wants to see;
 * - `warn`: limits that fired (slow reader, rate limit, malformed frame) and adapter outages;
 * - `error`: faults — a channel or join crashed, a connect callback threw.
 */
export interface Logger {
  debug(fields: LogFields, message: string): void;
  info(fields: LogFields, message: string): void;
  warn(fields: LogFields, message: string): void;
  error(fields: LogFields, message: string): void;
  /**
   * Whether `level` is logged; lets Starling skip building fields that would be dropped. When
   * absent every level is treated as enabled.
   */
  isLevelEnabled?(level: string): boolean;
}

/**
 * A logger that writes lines such as `[starling] error channel crashed {"topic":"rooms:1"}` to
 * `console.error`, from `level` up (default `"warn"`). An `err` field is printed last, an Error
 * with its stack.
 *
 * Every call writes exactly one line: the message, the fields (JSON) and the error are escaped
 * (line breaks as `\n`, other controls, Unicode line separators and format characters as
 * `\uXXXX`, a backslash as `\\`), so a topic such as `"x\n[starling] error forged"` cannot
 * start a line of its own, an ANSI escape cannot drive the terminal, and a stack trace stays one
 * record for whatever reads the log line by line.
 */
export function consoleLogger(level: LogLevel = 'warn'): Logger {
  const threshold = level === 'silent' ? LogLevels.length : LogLevels.indexOf(level);
  const enabled = (at: string): boolean => {
    const index = LogLevels.indexOf(at as (typeof LogLevels)[number]);
    return index >= 0 && index >= threshold;
  };
  const write =
    (at: (typeof LogLevels)[number]) =>
    (fields: LogFields, message: string): void => {
      if (!enabled(at)) return;
      const { err, ...rest } = fields;
      const extra = Object.keys(rest).length > 0 ? ` ${safeJson(rest)}` : '';
      const error = err === undefined ? '' : ` err=${escaped(err instanceof Error ? (err.stack ?? String(err)) : String(err))}`;
      console.error(`[starling] ${at} ${escaped(String(message))}${extra}${error}`);
    };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error'), isLevelEnabled: enabled };
}

/** A logger that drops everything. */
export const silentLogger: Logger = consoleLogger('silent');

/** True when `logger` would write `level` (a logger without `isLevelEnabled` writes every level). */
export function logs(logger: Logger, level: LogLevel): boolean {
  return logger.isLevelEnabled?.(level) ?? true;
}

function safeJson(value: unknown): string {
  try {
    // JSON.stringify escapes C0 controls and lone surrogates but leaves DEL, C1 controls, U+2028,
    // U+2029 and format characters as they are: escaped here, the text stays valid JSON.
    return JSON.stringify(value).replace(UNESCAPED_BY_JSON, unicodeEscape);
  } catch {
    return '[unserializable fields]';
  }
}

/**
 * What a terminal or a line-oriented reader acts on: controls (C0 with LF, CR and the ESC of ANSI
 * sequences; DEL; C1 with NEL), the Unicode line and paragraph separators, format characters
 * (bidi overrides reorder what is shown) and lone surrogates.
 */
const UNSAFE = /[\\\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;
const UNESCAPED_BY_JSON = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;
const SHORT_ESCAPES: Readonly<Record<string, string>> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** `\\uXXXX` per UTF-16 unit (so a character beyond U+FFFF becomes the surrogate pair JSON expects). */
function unicodeEscape(char: string): string {
  let out = '';
  for (let i = 0; i < char.length; i++) out += `\\u${char.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return out;
}

/** `text` as one line of printable text: see {@link consoleLogger}. */
function escaped(text: string): string {
  return text.replace(UNSAFE, (char) => SHORT_ESCAPES[char] ?? unicodeEscape(char));
}

/** A logger that adds `fields` to every line of `logger` (pino's `child`, for any {@link Logger}). */
export function withFields(logger: Logger, fields: LogFields): Logger {
  const wrap =
    (write: Logger['debug']) =>
    (own: LogFields, message: string): void =>
      write.call(logger, { ...fields, ...own }, message);
  const child: Logger = { debug: wrap(logger.debug), info: wrap(logger.info), warn: wrap(logger.warn), error: wrap(logger.error) };
  if (logger.isLevelEnabled !== undefined) child.isLevelEnabled = (level) => logs(logger, level as LogLevel);
  return child;
}
