/**
 * @module supabase/postgres-changes
 * Internal: Supabase's `postgres_changes` on one node. Every node subscribes once to the PubSub
 * topic the change source publishes on (the source runs on one node at a time; see
 * `starling/postgres`), drops re-sent changes by commit LSN, and serves its own channels:
 *
 * - a channel registers its bindings at join ({@link PostgresChanges.register}), checked against
 *   the publication and the table's columns;
 * - each change is matched against the bindings (event, schema, table, filter), the matching
 *   channels are grouped by their JWT claims, and PostgreSQL is asked once per change per
 *   distinct claims — batched, several changes per query — whether those claims may see the row
 *   ({@link RowSecurity}); columns the role may not select are left out;
 * - one `postgres_changes` push per change per channel, with the ids of every binding it matched,
 *   in commit order.
 *
 * A check that fails concerns only the claims it ran for: their channels miss that change (counted
 * as `check_failed` and logged), everyone else gets it. DELETEs are not checked (Supabase's
 * documented behaviour: the row is gone), and their `old_record` carries only the primary key
 * when the table has row-level security enabled, and only the columns the role may select.
 */
import type { Logger } from '../logger.ts';
import type { PubSub } from '../pubsub/pubsub.ts';
import { ChangeCursor } from '../postgres/change-cursor.ts';
import type { RowChange } from '../postgres/change-source.ts';
import type { JsonValue } from '../postgres/values.ts';
import type { JwtClaims } from './auth.ts';
import { matchesFilter, parseFilter, type Condition } from './filter.ts';
import { RowSecurity, type QueryPool } from './row-security.ts';

/** Supabase's publication name. */
export const SUPABASE_PUBLICATION = 'supabase_realtime';

/** A binding as the client sends it in `config.postgres_changes`. */
export interface BindingRequest {
  readonly event: string;
  readonly schema: string;
  readonly table?: string | undefined;
  readonly filter?: string | undefined;
}

/** The `postgres_changes` push payload. */
export interface ChangePayload {
  readonly ids: readonly number[];
  readonly data: {
    readonly schema: string;
    readonly table: string;
    readonly commit_timestamp: string;
    readonly type: RowChange['type'];
    readonly columns: readonly { readonly name: string; readonly type: string }[];
    readonly record?: Readonly<Record<string, JsonValue>>;
    readonly old_record?: Readonly<Record<string, JsonValue>>;
    readonly errors: null | readonly string[];
  };
}

/** A channel's registration: who it is, what it may see, where its pushes go. */
export interface ChangeListener {
  claims: JwtClaims;
  deliver(payload: ChangePayload): void;
}

/** Counters of postgres_changes on this node. */
export interface PostgresChangesStats {
  /** Changes received from the PubSub (after dropping re-sent ones). */
  changes: number;
  /** Row-level-security queries run (one per batch per distinct claims and table). */
  authorizationChecks: number;
  /** Changes pushed to channels. */
  delivered: number;
  /** Pushes not made, by reason: `unauthorized` (RLS or grants hide the row), `check_failed` (the check raised or timed out), `duplicate` (re-sent by the source after a crash). */
  dropped: { unauthorized: number; check_failed: number; duplicate: number };
}

interface Binding {
  readonly id: number;
  readonly event: string;
  readonly schema: string;
  readonly table: string | null;
  readonly conditions: readonly Condition[];
  readonly listener: ChangeListener;
}

interface TableInfo {
  readonly types: ReadonlyMap<string, string>;
  readonly primaryKey: readonly { readonly name: string; readonly type: string }[];
  readonly rowSecurity: boolean;
}

/** Options of {@link PostgresChanges}. */
export interface PostgresChangesOptions {
  /** The sessions for catalog and authorization queries (there once the source is started; throws before). */
  readonly pool: () => QueryPool;
  readonly pubsub: PubSub;
  /** The PubSub topic the change source broadcasts on. */
  readonly topic: string;
  readonly publication: string;
  /** Resolves when the change source has its slot (from then on no committed change is lost). */
  readonly sourceReady: Promise<void>;
  /** `statement_timeout` of one authorization query. */
  readonly checkTimeoutMs: number;
  readonly logger: Logger;
}

const EVENTS = new Set(['*', 'INSERT', 'UPDATE', 'DELETE']);
const MAX_BATCH = 200;
const TABLE_CACHE_MS = 10_000;

/** postgres_changes for the channels of one node. */
export class PostgresChanges {
  readonly stats: PostgresChangesStats = { changes: 0, authorizationChecks: 0, delivered: 0, dropped: { unauthorized: 0, check_failed: 0, duplicate: 0 } };
  readonly #options: PostgresChangesOptions;
  readonly #security: RowSecurity;
  readonly #bindings = new Map<ChangeListener, Binding[]>();
  readonly #cursor = new ChangeCursor();
  readonly #tables = new Map<string, { readonly at: number; readonly info: Promise<TableInfo | null> }>();
  #queue: RowChange[] = [];
  #draining = false;
  #nextId = 1;
  readonly #live: Promise<void>;

  constructor(options: PostgresChangesOptions) {
    this.#options = options;
    this.#security = new RowSecurity(options.pool, options.checkTimeoutMs);
    const subscribed = options.pubsub.subscribe(options.topic, {
      deliver: (message) => this.#receive(message.payload as RowChange),
    });
    this.#live = Promise.all([subscribed, options.sourceReady]).then(() => undefined);
    // Readiness is awaited by joins; a failed source is reported where it is started.
    this.#live.catch(() => undefined);
  }

  /** Resolves once a registered binding gets every change committed from then on. */
  get live(): Promise<void> {
    return this.#live;
  }

  /**
   * Checks `requests` and registers them for `listener`: the bindings with their ids, in the
   * same order, or why the join is refused.
   */
  async register(
    listener: ChangeListener,
    requests: readonly unknown[],
  ): Promise<{ readonly ok: true; readonly bindings: readonly (BindingRequest & { id: number })[] } | { readonly ok: false; readonly reason: string }> {
    const published = await this.#published();
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
      if (table !== null) {
        if (schema === '*') return { ok: false, reason: 'postgres_changes: a table needs its schema' };
        if (!published.has(`${schema}.${table}`)) {
          return { ok: false, reason: `postgres_changes: table ${schema}.${table} is not in the publication ${this.#options.publication}` };
        }
        const info = await this.#table(schema, table);
        if (info === null) return { ok: false, reason: `postgres_changes: table ${schema}.${table} does not exist` };
        if (info.primaryKey.length === 0)
          return { ok: false, reason: `postgres_changes: table ${schema}.${table} has no primary key, so row-level security cannot be checked` };
        const parsed = parseFilter(filter, info.types);
        if (!parsed.ok) return { ok: false, reason: `postgres_changes: ${parsed.reason}` };
        conditions = parsed.conditions;
      } else if (filter.trim() !== '') {
        return { ok: false, reason: 'postgres_changes: a filter needs a table' };
      }
      const id = this.#nextId++;
      bindings.push({ id, event, schema, table, conditions, listener });
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
    this.#bindings.set(listener, bindings);
    return { ok: true, bindings: echoed };
  }

  /** Stops delivering to `listener`. */
  unregister(listener: ChangeListener): void {
    this.#bindings.delete(listener);
  }

  async #published(): Promise<ReadonlySet<string>> {
    const { rows } = await this.#options
      .pool()
      .query<{ name: string }>("SELECT schemaname || '.' || tablename AS name FROM pg_publication_tables WHERE pubname = $1", [this.#options.publication]);
    return new Set(rows.map((row) => row.name));
  }

  #table(schema: string, table: string): Promise<TableInfo | null> {
    const key = `${schema}.${table}`;
    const now = Date.now();
    const cached = this.#tables.get(key);
    if (cached !== undefined && now - cached.at < TABLE_CACHE_MS) return cached.info;
    const info = this.#options
      .pool()
      .query<{ name: string; type: string; pk: boolean; rls: boolean }>(
        `SELECT a.attname AS name, t.typname AS type, coalesce(a.attnum = ANY(i.indkey), false) AS pk, c.relrowsecurity AS rls
           FROM pg_class c
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
           JOIN pg_type t ON t.oid = a.atttypid
           LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
          WHERE c.oid = to_regclass(format('%I.%I', $1::text, $2::text))
          ORDER BY a.attnum`,
        [schema, table],
      )
      .then(({ rows }): TableInfo | null =>
        rows.length === 0
          ? null
          : {
              types: new Map(rows.map((row) => [row.name, row.type])),
              primaryKey: rows.filter((row) => row.pk).map((row) => ({ name: row.name, type: row.type })),
              rowSecurity: rows[0]?.rls === true,
            },
      );
    this.#tables.set(key, { at: now, info });
    info.catch(() => this.#tables.delete(key));
    return info;
  }

  #receive(change: RowChange): void {
    if (!this.#cursor.accept(change)) {
      this.stats.dropped.duplicate++;
      return;
    }
    this.stats.changes++;
    this.#queue.push(change);
    if (!this.#draining) void this.#drain();
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, MAX_BATCH);
        try {
          await this.#process(batch);
        } catch (err) {
          this.#options.logger.error({ err }, 'postgres_changes: a batch of changes could not be processed');
        }
      }
    } finally {
      this.#draining = false;
    }
  }

  #matches(binding: Binding, change: RowChange): boolean {
    if (binding.event !== '*' && binding.event !== change.type) return false;
    if (binding.schema !== '*' && binding.schema !== change.schema) return false;
    if (binding.table !== null && binding.table !== change.table) return false;
    const row = change.type === 'DELETE' ? change.oldRecord : change.record;
    return matchesFilter(binding.conditions, row ?? {});
  }

  async #process(batch: readonly RowChange[]): Promise<void> {
    // Who wants what: per change, the matching bindings grouped by listener, and per distinct
    // claims the changes whose rows must be checked.
    const wanted = batch.map((change) => {
      const byListener = new Map<ChangeListener, number[]>();
      for (const [listener, bindings] of this.#bindings) {
        for (const binding of bindings) {
          if (!this.#matches(binding, change)) continue;
          const ids = byListener.get(listener);
          if (ids === undefined) byListener.set(listener, [binding.id]);
          else ids.push(binding.id);
        }
      }
      return byListener;
    });
    const checks = new Map<string, { claims: JwtClaims; byTable: Map<string, number[]> }>();
    batch.forEach((change, index) => {
      if (change.type === 'DELETE') return;
      for (const listener of (wanted[index] as Map<ChangeListener, number[]>).keys()) {
        const key = claimsKey(listener.claims);
        let check = checks.get(key);
        if (check === undefined) checks.set(key, (check = { claims: listener.claims, byTable: new Map() }));
        const table = `${change.schema}.${change.table}`;
        const indexes = check.byTable.get(table) ?? [];
        if (indexes.at(-1) !== index) indexes.push(index);
        check.byTable.set(table, indexes);
      }
    });
    // Every distinct claims' checks at once: a slow or failing one delays or affects only its own.
    const outcomes = new Map<string, Map<number, boolean | Error>>();
    await Promise.all(
      [...checks].map(async ([key, check]) => {
        const outcome = new Map<number, boolean | Error>();
        outcomes.set(key, outcome);
        for (const [, indexes] of check.byTable) {
          const first = batch[indexes[0] as number] as RowChange;
          try {
            const info = await this.#table(first.schema, first.table);
            if (info === null) throw new Error(`table ${first.schema}.${first.table} no longer exists`);
            if (!info.rowSecurity) {
              // No policies: the grants alone decide, and they are the same for every row.
              const columns = await this.#security.selectable(String(check.claims.role), first.schema, first.table);
              for (const index of indexes) outcome.set(index, columns.size > 0);
              continue;
            }
            this.stats.authorizationChecks++;
            const visible = await this.#security.visible(
              check.claims,
              { schema: first.schema, table: first.table, primaryKey: info.primaryKey },
              indexes.map((index) => (batch[index] as RowChange).record ?? {}),
            );
            indexes.forEach((index, i) => outcome.set(index, visible.has(i)));
          } catch (err) {
            this.#options.logger.warn(
              { err, table: `${first.schema}.${first.table}`, role: check.claims.role },
              'postgres_changes: authorization check failed',
            );
            for (const index of indexes) outcome.set(index, err as Error);
          }
        }
      }),
    );
    for (const [index, change] of batch.entries()) {
      for (const [listener, ids] of wanted[index] as Map<ChangeListener, number[]>) {
        if (!this.#bindings.has(listener)) continue;
        let payload: ChangePayload | null = null;
        try {
          payload = await this.#payload(change, listener.claims, ids, outcomes.get(claimsKey(listener.claims))?.get(index));
        } catch (err) {
          this.#options.logger.warn({ err }, 'postgres_changes: column grants could not be read');
          this.stats.dropped.check_failed++;
          continue;
        }
        if (payload === null) continue;
        listener.deliver(payload);
        this.stats.delivered++;
      }
    }
  }

  /** The push for one listener, or null (counted) when it may not have it. */
  async #payload(change: RowChange, claims: JwtClaims, ids: readonly number[], outcome: boolean | Error | undefined): Promise<ChangePayload | null> {
    if (change.type !== 'DELETE') {
      if (outcome instanceof Error || outcome === undefined) {
        this.stats.dropped.check_failed++;
        return null;
      }
      if (!outcome) {
        this.stats.dropped.unauthorized++;
        return null;
      }
    }
    const role = typeof claims.role === 'string' ? claims.role : '';
    let allowed = await this.#security.selectable(role, change.schema, change.table);
    if (change.type === 'DELETE') {
      const info = await this.#table(change.schema, change.table);
      if (info === null || info.rowSecurity) {
        const key = new Set(info?.primaryKey.map((column) => column.name) ?? []);
        allowed = new Set([...allowed].filter((name) => key.has(name)));
      }
    }
    const pick = (row: Readonly<Record<string, JsonValue>> | null): Record<string, JsonValue> => {
      const out: Record<string, JsonValue> = {};
      if (row !== null) for (const name of Object.keys(row)) if (allowed.has(name)) out[name] = row[name] as JsonValue;
      return out;
    };
    const data: { -readonly [K in keyof ChangePayload['data']]: ChangePayload['data'][K] } = {
      schema: change.schema,
      table: change.table,
      commit_timestamp: change.commitTimestamp,
      type: change.type,
      columns: change.columns.filter((column) => allowed.has(column.name)),
      errors: null,
    };
    if (change.type !== 'DELETE') data.record = pick(change.record);
    if (change.type !== 'INSERT') data.old_record = pick(change.oldRecord);
    return { ids, data };
  }
}

/** Claims that are equal as JSON see the same rows: one check serves them all. */
function claimsKey(claims: JwtClaims): string {
  return JSON.stringify(claims);
}
