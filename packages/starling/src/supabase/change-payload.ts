/**
 * @module supabase/change-payload
 * Internal: the `data` of a `postgres_changes` push for one set of claims, as Supabase Realtime's
 * `realtime.apply_rls` builds it — and the two cases where Supabase fills `errors`:
 *
 * - **`Error 401: Unauthorized`**: the claims' role may not select the table's primary key, so the
 *   row cannot be authorized at all. The push says only that a change happened: `{schema, table,
 *   type, commit_timestamp: null, columns: [], record: {}, old_record: {}, errors: [...]}` (record
 *   on INSERT and UPDATE, old_record on UPDATE and DELETE, so realtime-js builds `new` and `old`).
 * - **`Error 413: Payload Too Large`**: the row's values are larger than `maxRecordBytes` (1 MiB
 *   by default, Supabase's): the push carries only the values of at most 64 bytes (as JSON).
 *
 * Otherwise `errors` is null, and `record`, `old_record` and `columns` keep only the columns the
 * role may select (DELETEs on a table with row-level security: only the primary key).
 *
 * @example
 * changeData(change, { selectable, keyOnly: false, oversized: false }); // {..., errors: null}
 * unauthorizedNotice(change);                                            // {..., errors: ['Error 401: Unauthorized']}
 */
import type { RowChange } from '../postgres/change-source.ts';
import type { JsonValue } from '../postgres/values.ts';

/** Supabase's `errors` entries. */
export const ChangeErrors = {
  unauthorized: 'Error 401: Unauthorized',
  payloadTooLarge: 'Error 413: Payload Too Large',
} as const;

/** A row change as one subscriber receives it: the `data` of a `postgres_changes` push. */
export interface ChangeData {
  readonly schema: string;
  readonly table: string;
  /** ISO 8601, milliseconds; null in an `Error 401` notice (as Supabase sends it). */
  readonly commit_timestamp: string | null;
  readonly type: RowChange['type'];
  readonly columns: readonly { readonly name: string; readonly type: string }[];
  readonly record?: Readonly<Record<string, JsonValue>>;
  readonly old_record?: Readonly<Record<string, JsonValue>>;
  readonly errors: null | readonly string[];
}

/** The `postgres_changes` push payload. */
export interface ChangePayload {
  readonly ids: readonly number[];
  readonly data: ChangeData;
}

/** Supabase's default largest row (`poll_max_record_bytes`). */
export const DEFAULT_MAX_RECORD_BYTES = 1024 * 1024;
/** In an oversized row, values up to this size (as JSON) are kept (Supabase's rule). */
const SMALL_VALUE_BYTES = 64;

/** The JSON size of a change's values, new and old row together. */
export function recordBytes(change: RowChange): number {
  return (
    (change.record === null ? 0 : Buffer.byteLength(JSON.stringify(change.record))) +
    (change.oldRecord === null ? 0 : Buffer.byteLength(JSON.stringify(change.oldRecord)))
  );
}

/** What one set of claims may see of a change's table. */
export interface Visibility {
  /** The columns the role may select. */
  readonly selectable: ReadonlySet<string>;
  /** Only these columns of the old row of a DELETE (the primary key when the table has row-level security), or null for no such limit. */
  readonly deleteColumns: ReadonlySet<string> | null;
  /** The change's values are over `maxRecordBytes`: keep only the small ones, with `Error 413`. */
  readonly oversized: boolean;
}

/** The push data of `change` for claims that may see it, as `visibility` says. */
export function changeData(change: RowChange, visibility: Visibility): ChangeData {
  const { selectable, oversized } = visibility;
  const limit = change.type === 'DELETE' ? visibility.deleteColumns : null;
  const keep = (name: string): boolean => selectable.has(name) && (limit === null || limit.has(name));
  const pick = (row: Readonly<Record<string, JsonValue>> | null): Record<string, JsonValue> => {
    const out: Record<string, JsonValue> = {};
    if (row === null) return out;
    for (const name of Object.keys(row)) {
      if (!keep(name)) continue;
      const value = row[name] as JsonValue;
      if (oversized && Buffer.byteLength(JSON.stringify(value)) > SMALL_VALUE_BYTES) continue;
      out[name] = value;
    }
    return out;
  };
  return {
    schema: change.schema,
    table: change.table,
    commit_timestamp: change.commitTimestamp,
    type: change.type,
    columns: change.columns.filter((column) => selectable.has(column.name)),
    ...(change.type !== 'DELETE' ? { record: pick(change.record) } : {}),
    ...(change.type !== 'INSERT' ? { old_record: pick(change.oldRecord) } : {}),
    errors: oversized ? [ChangeErrors.payloadTooLarge] : null,
  };
}

/** The `Error 401` notice of `change`: for claims whose role may not select the table's primary key. */
export function unauthorizedNotice(change: RowChange): ChangeData {
  return {
    schema: change.schema,
    table: change.table,
    commit_timestamp: null,
    type: change.type,
    columns: [],
    ...(change.type !== 'DELETE' ? { record: {} } : {}),
    ...(change.type !== 'INSERT' ? { old_record: {} } : {}),
    errors: [ChangeErrors.unauthorized],
  };
}
