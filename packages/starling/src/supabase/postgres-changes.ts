/**
 * @module supabase/postgres-changes
 * Internal: Supabase's `postgres_changes` on one node. Every node subscribes once to the PubSub
 * topic the change source publishes on (the source runs on one node at a time; see
 * `starling/postgres`), drops re-sent changes by commit LSN, and serves its own channels:
 *
 * - a channel registers its bindings at join ({@link PostgresChanges.register}), checked against
 *   the publication and the table's columns;
 * - each change is matched against the bindings (event, schema, table, filter) as it arrives, and
 *   the matching channels are grouped by their JWT claims; each distinct claims has its own
 *   pipeline, which asks PostgreSQL once per change — batched: every change that queued while the
 *   previous check ran goes into one query — whether those claims may see the row
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

/** Why a change is not pushed to a listener. */
type Refusal = 'unauthorized' | 'check_failed';

/** One change for the listeners of one set of claims, and their matching binding ids. */
interface Delivery {
  readonly change: RowChange;
  readonly claims: JwtClaims;
  readonly to: { readonly listener: ChangeListener; readonly ids: readonly number[] }[];
}

interface Pipeline {
  readonly pending: Delivery[];
  running: boolean;
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
  /** Changes waiting for their check and delivery, per distinct claims. */
  readonly #pipelines = new Map<string, Pipeline>();
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
    // Every check runs as the token's role: one the server cannot become would fail them all.
    const role = typeof listener.claims.role === 'string' ? listener.claims.role : '';
    const { rows: roles } = await this.#options
      .pool()
      .query<{ member: boolean }>('SELECT pg_has_role(current_user, oid, $2) AS member FROM pg_roles WHERE rolname = $1', [role, 'MEMBER']);
    if (roles.length === 0) return { ok: false, reason: `postgres_changes: the token's role ${JSON.stringify(role)} does not exist in the database` };
    if (roles[0]?.member !== true) return { ok: false, reason: `postgres_changes: the server's database role may not SET ROLE ${JSON.stringify(role)}` };
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
    // Who wants it is decided now, in commit order: a binding registered later does not get it.
    const byClaims = new Map<string, Delivery>();
    for (const [listener, bindings] of this.#bindings) {
      const ids: number[] = [];
      for (const binding of bindings) if (this.#matches(binding, change)) ids.push(binding.id);
      if (ids.length === 0) continue;
      const key = claimsKey(listener.claims);
      let delivery = byClaims.get(key);
      if (delivery === undefined) byClaims.set(key, (delivery = { change, claims: listener.claims, to: [] }));
      delivery.to.push({ listener, ids });
    }
    for (const [key, delivery] of byClaims) {
      let pipeline = this.#pipelines.get(key);
      if (pipeline === undefined) this.#pipelines.set(key, (pipeline = { pending: [], running: false }));
      pipeline.pending.push(delivery);
      if (!pipeline.running) void this.#run(key, pipeline);
    }
  }

  /**
   * One pipeline per distinct claims: its changes are checked in batches (everything that queued
   * while the previous check ran) and delivered in commit order. A slow or failing check holds
   * up only the subscribers with those claims.
   */
  async #run(key: string, pipeline: Pipeline): Promise<void> {
    pipeline.running = true;
    try {
      while (pipeline.pending.length > 0) {
        const batch = pipeline.pending.splice(0, MAX_BATCH);
        try {
          await this.#process(batch);
        } catch (err) {
          this.#options.logger.error({ err }, 'postgres_changes: a batch of changes could not be processed');
        }
      }
    } finally {
      pipeline.running = false;
      if (pipeline.pending.length === 0) this.#pipelines.delete(key);
    }
  }

  #matches(binding: Binding, change: RowChange): boolean {
    if (binding.event !== '*' && binding.event !== change.type) return false;
    if (binding.schema !== '*' && binding.schema !== change.schema) return false;
    if (binding.table !== null && binding.table !== change.table) return false;
    const row = change.type === 'DELETE' ? change.oldRecord : change.record;
    return matchesFilter(binding.conditions, row ?? {});
  }

  /** Checks and delivers one batch of one claims' changes. */
  async #process(batch: readonly Delivery[]): Promise<void> {
    const claims = (batch[0] as Delivery).claims;
    // The rows to check, per table (DELETEs are not checked).
    const byTable = new Map<string, number[]>();
    batch.forEach(({ change }, index) => {
      if (change.type === 'DELETE') return;
      const table = `${change.schema}.${change.table}`;
      const indexes = byTable.get(table) ?? [];
      indexes.push(index);
      byTable.set(table, indexes);
    });
    const outcome = new Map<number, boolean | Error>();
    await Promise.all(
      [...byTable.values()].map(async (indexes) => {
        const first = (batch[indexes[0] as number] as Delivery).change;
        try {
          const info = await this.#table(first.schema, first.table);
          if (info === null) throw new Error(`table ${first.schema}.${first.table} no longer exists`);
          if (!info.rowSecurity) {
            // No policies: the grants alone decide, and they are the same for every row.
            const columns = await this.#security.selectable(String(claims.role), first.schema, first.table);
            for (const index of indexes) outcome.set(index, columns.size > 0);
            return;
          }
          this.stats.authorizationChecks++;
          const visible = await this.#security.visible(
            claims,
            { schema: first.schema, table: first.table, primaryKey: info.primaryKey },
            indexes.map((index) => (batch[index] as Delivery).change.record ?? {}),
          );
          indexes.forEach((index, i) => outcome.set(index, visible.has(i)));
        } catch (err) {
          this.#options.logger.warn({ err, table: `${first.schema}.${first.table}`, role: claims.role }, 'postgres_changes: authorization check failed');
          for (const index of indexes) outcome.set(index, err as Error);
        }
      }),
    );
    for (const [index, { change, to }] of batch.entries()) {
      let data: ChangePayload['data'] | Refusal;
      try {
        data = await this.#payload(change, claims, outcome.get(index));
      } catch (err) {
        this.#options.logger.warn({ err }, 'postgres_changes: column grants could not be read');
        data = 'check_failed';
      }
      for (const { listener, ids } of to) {
        if (!this.#bindings.has(listener)) continue;
        if (typeof data === 'string') {
          this.stats.dropped[data]++;
          continue;
        }
        listener.deliver({ ids, data });
        this.stats.delivered++;
      }
    }
  }

  /** The push for the listeners of `claims`, or why they may not have it. */
  async #payload(change: RowChange, claims: JwtClaims, outcome: boolean | Error | undefined): Promise<ChangePayload['data'] | Refusal> {
    if (change.type !== 'DELETE') {
      if (outcome instanceof Error || outcome === undefined) return 'check_failed';
      if (!outcome) return 'unauthorized';
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
    return data;
  }
}

/** Claims that are equal as JSON see the same rows: one check serves them all. */
function claimsKey(claims: JwtClaims): string {
  return JSON.stringify(claims);
}
