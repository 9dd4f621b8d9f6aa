/**
 * @module supabase/filter
 * Internal: the `filter` of a `postgres_changes` binding, as realtime-js's
 * `RealtimePostgresFilterBuilder` writes it: a comma-separated AND of `column=op.value`, `op` one
 * of {@link OPERATORS}, optionally prefixed `not.`, values quoted PostgREST-style (`"a,b"`, `\"`,
 * `\\`) and `in.(a,"b,c")` lists. {@link parseFilter} checks it against the table's columns;
 * {@link matchesFilter} compares a row with it by each column's type (numbers as numbers,
 * timestamps as instants), with SQL's NULL semantics: a comparison with NULL is not a match, and
 * neither is its `not.`.
 */
import type { JsonValue } from '../postgres/values.ts';

/** The operators a filter may use. */
export const OPERATORS = ['eq', 'neq', 'lt', 'lte', 'gt', 'gte', 'in', 'like', 'ilike', 'is', 'match', 'imatch', 'isdistinct'] as const;

/** One of {@link OPERATORS}. */
export type Operator = (typeof OPERATORS)[number];

/** One `column=[not.]op.value` condition, ready to compare. */
export interface Condition {
  readonly column: string;
  readonly type: string;
  readonly operator: Operator;
  readonly negated: boolean;
  /** The value(s), already in the column's comparable form (a list for `in`). */
  readonly values: readonly Comparable[];
  /** `like`, `ilike`, `match`, `imatch`: the pattern. */
  readonly pattern: RegExp | null;
}

type Comparable = number | boolean | string | null;

/** A parsed filter, or why it is refused. */
export type ParsedFilter = { readonly ok: true; readonly conditions: readonly Condition[] } | { readonly ok: false; readonly reason: string };

const NUMERIC = new Set(['int2', 'int4', 'int8', 'float4', 'float8', 'numeric', 'oid']);
const INSTANTS = new Set(['timestamptz', 'timestamp']);
const TRUE_TEXT = new Set(['t', 'true', 'yes', 'on', '1', 'y']);
const FALSE_TEXT = new Set(['f', 'false', 'no', 'off', '0', 'n']);

/** Splits on `separator` outside double quotes and parentheses. */
function split(text: string, separator: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const char = text[i] as string;
    if (quoted && char === '\\' && i + 1 < text.length) {
      current += char + (text[++i] as string);
      continue;
    }
    if (char === '"') quoted = !quoted;
    else if (!quoted && char === '(') depth++;
    else if (!quoted && char === ')') depth--;
    if (char === separator && !quoted && depth === 0) {
      parts.push(current);
      current = '';
    } else current += char;
  }
  parts.push(current);
  return parts;
}

/** A PostgREST value: `"…"` unquoted and unescaped, anything else as it is. */
function unquote(text: string): string {
  if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) return text.slice(1, -1).replace(/\\(.)/g, '$1');
  return text;
}

/** `value` (text from a filter, or a row's JSON value) in the comparable form of `type`; undefined when it is not a value of that type. */
function comparable(type: string, value: JsonValue | undefined): Comparable | undefined {
  if (value === null || value === undefined) return null;
  if (NUMERIC.has(type)) {
    const number = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
    return Number.isNaN(number) ? undefined : number;
  }
  if (type === 'bool') {
    if (typeof value === 'boolean') return value;
    const text = String(value).toLowerCase();
    return TRUE_TEXT.has(text) ? true : FALSE_TEXT.has(text) ? false : undefined;
  }
  if (INSTANTS.has(type) && typeof value === 'string') {
    // PostgreSQL's "2026-01-02 03:04:05.123+00" → ISO, so that Date can read it; a timestamp
    // without zone is read as UTC on both sides, which keeps their order.
    const iso = value
      .trim()
      .replace(' ', 'T')
      .replace(/([+-]\d\d)$/, '$1:00');
    const ms = Date.parse(type === 'timestamp' && !/[zZ]|[+-]\d\d:\d\d$/.test(iso) ? `${iso}Z` : iso);
    return Number.isNaN(ms) ? undefined : ms;
  }
  if (type === 'uuid') return String(value).toLowerCase();
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** A LIKE pattern (`%`, `_`, `\` escapes) as an anchored RegExp. */
function likePattern(pattern: string, flags: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i] as string;
    if (char === '\\' && i + 1 < pattern.length) source += (pattern[++i] as string).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    else if (char === '%') source += '[\\s\\S]*';
    else if (char === '_') source += '[\\s\\S]';
    else source += char.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, flags);
}

/**
 * Parses `filter` (empty: no condition) for a table whose columns are `types` (name → type).
 * Refused: an unknown column or operator, a value that is not of the column's type, an invalid
 * pattern, an empty `in` list.
 */
export function parseFilter(filter: string, types: ReadonlyMap<string, string>): ParsedFilter {
  const conditions: Condition[] = [];
  if (filter.trim() === '') return { ok: true, conditions };
  for (const part of split(filter, ',')) {
    const equals = part.indexOf('=');
    if (equals <= 0) return { ok: false, reason: `invalid filter condition ${JSON.stringify(part)}: expected column=operator.value` };
    const column = part.slice(0, equals).trim();
    const type = types.get(column);
    if (type === undefined) return { ok: false, reason: `invalid filter: column ${JSON.stringify(column)} does not exist` };
    let rest = part.slice(equals + 1);
    const negated = rest.startsWith('not.');
    if (negated) rest = rest.slice(4);
    const dot = rest.indexOf('.');
    const operator = (dot < 0 ? rest : rest.slice(0, dot)) as Operator;
    if (!OPERATORS.includes(operator))
      return { ok: false, reason: `invalid filter: operator ${JSON.stringify(operator)} is not supported (${OPERATORS.join(', ')})` };
    if (dot < 0) return { ok: false, reason: `invalid filter condition ${JSON.stringify(part)}: expected column=operator.value` };
    const raw = rest.slice(dot + 1);
    const typed = (text: string): Comparable | undefined => comparable(type, text);
    let values: Comparable[] = [];
    let pattern: RegExp | null = null;
    if (operator === 'in') {
      if (!raw.startsWith('(') || !raw.endsWith(')') || raw.length === 2)
        return { ok: false, reason: `invalid filter: ${column}=in. needs a list, as in.(1,2)` };
      for (const item of split(raw.slice(1, -1), ',')) {
        const value = typed(unquote(item.trim()));
        if (value === undefined) return { ok: false, reason: `invalid filter: ${JSON.stringify(item)} is not a value of ${column} (${type})` };
        values.push(value);
      }
    } else if (operator === 'is') {
      const keyword = raw.toLowerCase();
      if (!['null', 'true', 'false', 'unknown'].includes(keyword))
        return { ok: false, reason: `invalid filter: ${column}=is. takes null, true, false or unknown` };
      values = [keyword === 'true' ? true : keyword === 'false' ? false : null];
    } else if (operator === 'like' || operator === 'ilike') {
      pattern = likePattern(unquote(raw), operator === 'ilike' ? 'is' : 's');
    } else if (operator === 'match' || operator === 'imatch') {
      try {
        pattern = new RegExp(unquote(raw), operator === 'imatch' ? 'i' : '');
      } catch {
        return { ok: false, reason: `invalid filter: ${JSON.stringify(raw)} is not a regular expression` };
      }
    } else {
      const text = unquote(raw);
      // isdistinct.null is the NULL-safe "is not null".
      const value = operator === 'isdistinct' && text === 'null' ? null : typed(text);
      if (value === undefined || (value === null && operator !== 'isdistinct')) {
        return { ok: false, reason: `invalid filter: ${JSON.stringify(text)} is not a value of ${column} (${type})` };
      }
      values = [value];
    }
    conditions.push({ column, type, operator, negated, values, pattern });
  }
  return { ok: true, conditions };
}

/** SQL's three-valued result of one condition on `row`: null is "unknown". */
function evaluate(condition: Condition, row: Readonly<Record<string, JsonValue>>): boolean | null {
  const value = comparable(condition.type, row[condition.column]) ?? null;
  const [first = null] = condition.values;
  switch (condition.operator) {
    case 'is':
      return value === first;
    case 'isdistinct':
      return value !== first;
    default:
      if (value === null) return null;
  }
  switch (condition.operator) {
    case 'eq':
      return value === first;
    case 'neq':
      return value !== first;
    case 'lt':
      return first !== null && value < first;
    case 'lte':
      return first !== null && value <= first;
    case 'gt':
      return first !== null && value > first;
    case 'gte':
      return first !== null && value >= first;
    case 'in':
      return condition.values.includes(value);
    default:
      // like, ilike, match, imatch: on the value's text, as PostgreSQL casts it.
      return condition.pattern?.test(typeof row[condition.column] === 'string' ? (row[condition.column] as string) : String(value)) ?? false;
  }
}

/**
 * True when `row` satisfies every condition. A condition on a column the row lacks counts as
 * satisfied: a DELETE's old row carries only the replica-identity columns, and Supabase lets
 * such deletes through rather than guess.
 */
export function matchesFilter(conditions: readonly Condition[], row: Readonly<Record<string, JsonValue>>): boolean {
  for (const condition of conditions) {
    if (!Object.hasOwn(row, condition.column)) continue;
    const result = evaluate(condition, row);
    if (result === null || result === condition.negated) return false;
  }
  return true;
}
