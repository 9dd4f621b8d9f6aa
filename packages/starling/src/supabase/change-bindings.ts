/**
 * @module supabase/change-bindings
 * Internal: what a channel asks for in `config.postgres_changes` — bindings of an event, a schema,
 * a table and a filter — checked against the database before the join is answered, and whether a
 * row change matches one. A binding is refused, with a reason for the client, when its event is
 * unknown, its table is not in the publication, does not exist or has no primary key, its filter
 * does not parse against the table's columns, or filters on a column the token's role may not
 * select (the filter would tell it that column's values; Supabase refuses it too).
 *
 * @example
 * const parsed = await parseBindings([{ event: 'INSERT', schema: 'public', table: 'todos' }], context);
 * if (parsed.ok) matchBinding(parsed.bindings[0], change); // 'yes' | 'notice' | 'no'
 */
import type { RowChange } from '../postgres/change-source.ts';
import { matchesFilter, parseFilter, type Condition } from './filter.ts';
import type { RowSecurity } from './row-security.ts';
import type { TableCatalog } from './table-catalog.ts';

/** A binding as the client sends it in `config.postgres_changes`. */
export interface BindingRequest {
  readonly event: string;
  readonly schema: string;
  readonly table?: string | undefined;
  readonly filter?: string | undefined;
}

/** A checked binding. */
export interface Binding {
  readonly id: number;
  readonly event: string;
  readonly schema: string;
  readonly table: string | null;
  readonly conditions: readonly Condition[];
  /**
   * The role could not select the table's primary key at join: its INSERTs and UPDATEs become
   * `Error 401` notices, sent whatever the filter says (the filter would tell about rows the role
   * cannot be checked for).
   */
  readonly keyHidden: boolean;
}

/** What checking bindings needs. */
export interface BindingContext {
  /** The token's role. */
  readonly role: string;
  readonly publication: string;
  readonly catalog: TableCatalog;
  readonly security: RowSecurity;
  /** A new binding id, unique on the node. */
  nextId(): number;
}

/** The checked bindings and their echo for the join reply, in the order asked; or why not. */
export type ParsedBindings =
  | { readonly ok: true; readonly bindings: readonly Binding[]; readonly echoed: readonly (BindingRequest & { id: number })[] }
  | { readonly ok: false; readonly reason: string };

const EVENTS = new Set(['*', 'INSERT', 'UPDATE', 'DELETE']);

/** Checks `requests` (untrusted: the join's `config.postgres_changes`). */
export async function parseBindings(requests: readonly unknown[], context: BindingContext): Promise<ParsedBindings> {
  const { role, publication, catalog, security } = context;
  const published = await catalog.published(publication);
  const bindings: Binding[] = [];
  const echoed: (BindingRequest & { id: number })[] = [];
  for (const raw of requests) {
    const request = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
    const event = request.event;
    const schema = request.schema;
    const table = request.table === undefined || request.table === null || request.table === '' ? null : request.table;
    const filter = request.filter === undefined || request.filter === null ? '' : request.filter;
    if (typeof event !== 'string' || !EVENTS.has(event)) return { ok: false, reason: `postgres_changes: event must be one of INSERT, UPDATE, DELETE, *` };
    if (typeof schema !== 'string' || schema === '') return { ok: false, reason: 'postgres_changes: a schema is required ("*" for every schema)' };
    if (table !== null && typeof table !== 'string') return { ok: false, reason: 'postgres_changes: table must be a string' };
    if (typeof filter !== 'string') return { ok: false, reason: 'postgres_changes: filter must be a string' };
    let conditions: readonly Condition[] = [];
    let keyHidden = false;
    if (table !== null) {
      if (schema === '*') return { ok: false, reason: 'postgres_changes: a table needs its schema' };
      if (!published.has(`${schema}.${table}`))
        return { ok: false, reason: `postgres_changes: table ${schema}.${table} is not in the publication ${publication}` };
      const info = await catalog.table(schema, table);
      if (info === null) return { ok: false, reason: `postgres_changes: table ${schema}.${table} does not exist` };
      if (info.primaryKey.length === 0)
        return { ok: false, reason: `postgres_changes: table ${schema}.${table} has no primary key, so row-level security cannot be checked` };
      const parsed = parseFilter(filter, info.types);
      if (!parsed.ok) return { ok: false, reason: `postgres_changes: ${parsed.reason}` };
      conditions = parsed.conditions;
      const selectable = await security.selectable(role, schema, table);
      const hidden = conditions.find((condition) => !selectable.has(condition.column));
      if (hidden !== undefined) {
        return {
          ok: false,
          reason: `postgres_changes: the role ${JSON.stringify(role)} may not select column ${hidden.column} of ${schema}.${table}, so it cannot filter on it`,
        };
      }
      keyHidden = info.primaryKey.some((column) => !selectable.has(column.name));
    } else if (filter.trim() !== '') {
      return { ok: false, reason: 'postgres_changes: a filter needs a table' };
    }
    const id = context.nextId();
    bindings.push({ id, event, schema, table, conditions, keyHidden });
    // Echoed as asked: realtime-js compares event, schema, table and filter with its own,
    // exactly (an empty filter stays "", which it does not take for "no filter").
    echoed.push({
      id,
      event,
      schema,
      ...(typeof request.table === 'string' ? { table: request.table } : {}),
      ...(typeof request.filter === 'string' ? { filter: request.filter } : {}),
    });
  }
  return { ok: true, bindings, echoed };
}

/**
 * `yes` when `binding` selects `change`; `notice` when only its filter does not, but the binding
 * is told of the table's INSERTs and UPDATEs whatever its filter (`Error 401`, see {@link Binding.keyHidden}).
 */
export function matchBinding(binding: Binding, change: RowChange): 'yes' | 'notice' | 'no' {
  if (binding.event !== '*' && binding.event !== change.type) return 'no';
  if (binding.schema !== '*' && binding.schema !== change.schema) return 'no';
  if (binding.table !== null && binding.table !== change.table) return 'no';
  const row = change.type === 'DELETE' ? change.oldRecord : change.record;
  if (matchesFilter(binding.conditions, row ?? {})) return 'yes';
  return binding.keyHidden && change.type !== 'DELETE' ? 'notice' : 'no';
}
