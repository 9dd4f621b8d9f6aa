/**
 * @module postgres/values
 * Internal: a column's text (pgoutput sends every value in PostgreSQL's text format) as a JSON
 * value, by the column's type: booleans and numbers as JSON's, `json`/`jsonb` parsed, everything
 * else (timestamps, uuids, arrays, ranges…) as PostgreSQL's
 * own text, which loses nothing. Integers beyond 2^53 stay text for the same reason.
 */

/** A JSON value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

const INTEGER_TYPES = new Set(['int2', 'int4', 'int8', 'oid']);
const FLOAT_TYPES = new Set(['float4', 'float8', 'numeric']);

/** The value of a column of type `type` (e.g. `int4`, `text`) whose text is `text`. */
export function columnValue(type: string, text: string | null | undefined): JsonValue {
  if (text === null || text === undefined) return null;
  if (type === 'bool') return text === 't' || text === 'true';
  if (INTEGER_TYPES.has(type)) {
    const value = Number(text);
    return Number.isSafeInteger(value) ? value : text;
  }
  if (FLOAT_TYPES.has(type)) {
    const value = Number(text);
    // NaN and ±Infinity are valid floats but not JSON numbers. A numeric becomes a JSON number,
    // as Supabase sends it: a double's precision.
    return Number.isFinite(value) ? value : text;
  }
  if (type === 'json' || type === 'jsonb') {
    try {
      return JSON.parse(text) as JsonValue;
    } catch {
      return text;
    }
  }
  return text;
}
