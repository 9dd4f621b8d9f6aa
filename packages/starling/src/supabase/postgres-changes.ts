/**
 * @module supabase/postgres-changes
 * Internal: Supabase's `postgres_changes` on one node. Every node subscribes once to the PubSub
 * topic the change source publishes on (the source runs on one node at a time; see
 * `starling/postgres`), drops re-sent changes by commit LSN, and serves its own channels:
 *
 * - a channel registers its bindings at join ({@link PostgresChanges.register}), checked against
 *   the publication, the table's columns and what the claims' role may select (supabase/change-bindings);
 * - each change is matched against the bindings (event, schema, table, filter) as it arrives, and
 *   the matching channels are grouped by their JWT claims; each distinct claims has its own
 *   pipeline, which asks PostgreSQL once per change — batched: every change that queued while the
 *   previous check ran goes into one query — whether those claims may see the row
 *   ({@link RowSecurity}); columns the role may not select are left out (supabase/change-payload);
 * - one `postgres_changes` push per change per channel, with the ids of every binding it matched,
 *   in commit order.
 *
 * `errors`, as Supabase fills it: a role that may not select the table's primary key gets, for
 * every INSERT and UPDATE its bindings name (whatever their filters: the decision uses no row
 * data), a notice `errors: ["Error 401: Unauthorized"]` without the row; a row over
 * `maxRecordBytes` comes with `errors: ["Error 413: Payload Too Large"]` and only its small values.
 * A row that row-level security hides is not pushed (counted `unauthorized`), as in Supabase.
 *
 * A check that fails concerns only the claims it ran for: their channels miss that change (counted
 * as `check_failed` and logged), everyone else gets it. No notice is pushed for it: it would tell a
 * subscriber that a row matching its filter changed, which the failing policy may have hidden.
 * DELETEs are not checked (Supabase's documented behaviour: the row is gone), and their
 * `old_record` carries only the primary key when the table has row-level security enabled, and
 * only the columns the role may select.
 */
import type { Logger } from '../logger.ts';
import type { PubSub } from '../pubsub/pubsub.ts';
import { ChangeCursor } from '../postgres/change-cursor.ts';
import type { RowChange } from '../postgres/change-source.ts';
import type { JwtClaims } from './auth.ts';
import { changeData, recordBytes, unauthorizedNotice, type ChangeData, type ChangePayload } from './change-payload.ts';
import { matchBinding, parseBindings, type Binding, type BindingRequest } from './change-bindings.ts';
import { RowSecurity, type QueryPool } from './row-security.ts';
import { TableCatalog } from './table-catalog.ts';

export type { ChangePayload } from './change-payload.ts';

/** Supabase's publication name. */
export const SUPABASE_PUBLICATION = 'supabase_realtime';

/** A channel's registration: who it is, what it may see, where its pushes go. */
export interface ChangeListener {
  claims: JwtClaims;
  deliver(payload: ChangePayload): void;
}

/** Counters of postgres_changes on this node. */
export interface PostgresChangesStats {
  /** Channels with postgres_changes bindings on this node now (a gauge). */
  channels: number;
  /** Changes received from the PubSub (after dropping re-sent ones). */
  changes: number;
  /** Row-level-security queries run (one per batch per distinct claims and table). */
  authorizationChecks: number;
  /** Pushes to channels, those with `errors` included. */
  delivered: number;
  /** Pushes not made, by reason: `unauthorized` (row-level security hides the row), `check_failed` (the check raised or timed out), `duplicate` (re-sent by the source after a crash). */
  dropped: { unauthorized: number; check_failed: number; duplicate: number };
  /** Pushes made with `errors`, by error: `unauthorized` (401: the role may not select the primary key), `payload_too_large` (413). */
  errors: { unauthorized: number; payload_too_large: number };
}

/** Why a change is not pushed to a listener. */
type Refusal = 'unauthorized' | 'check_failed';

/** How one set of claims gets one change: the row's data, an `Error 401` notice, or nothing (why). */
type Outcome = { readonly kind: 'data'; readonly data: ChangeData } | { readonly kind: 'notice'; readonly data: ChangeData } | { readonly kind: Refusal };

/** One listener's share of a change: the bindings whose filter it matched, and those to notify (filter aside). */
interface Recipient {
  readonly listener: ChangeListener;
  readonly ids: readonly number[];
  readonly noticeIds: readonly number[];
}

/** One change for the listeners of one set of claims. */
interface Delivery {
  readonly change: RowChange;
  readonly claims: JwtClaims;
  /** The change's values are over `maxRecordBytes` (measured once per change). */
  readonly oversized: boolean;
  readonly to: Recipient[];
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
  /** Rows larger than this (their values as JSON) are pushed with only their small values and `Error 413`. */
  readonly maxRecordBytes: number;
  readonly logger: Logger;
}

const MAX_BATCH = 200;

/** postgres_changes for the channels of one node. */
export class PostgresChanges {
  readonly stats: PostgresChangesStats = {
    channels: 0,
    changes: 0,
    authorizationChecks: 0,
    delivered: 0,
    dropped: { unauthorized: 0, check_failed: 0, duplicate: 0 },
    errors: { unauthorized: 0, payload_too_large: 0 },
  };
  readonly #options: PostgresChangesOptions;
  readonly #security: RowSecurity;
  readonly #bindings = new Map<ChangeListener, readonly Binding[]>();
  readonly #cursor = new ChangeCursor();
  readonly #catalog: TableCatalog;
  /** Changes waiting for their check and delivery, per distinct claims. */
  readonly #pipelines = new Map<string, Pipeline>();
  #nextId = 1;
  readonly #live: Promise<void>;

  constructor(options: PostgresChangesOptions) {
    this.#options = options;
    this.#security = new RowSecurity(options.pool, options.checkTimeoutMs);
    this.#catalog = new TableCatalog(options.pool);
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
    const parsed = await parseBindings(requests, {
      role,
      publication: this.#options.publication,
      catalog: this.#catalog,
      security: this.#security,
      nextId: () => this.#nextId++,
    });
    if (!parsed.ok) return parsed;
    const { bindings, echoed } = parsed;
    this.#bindings.set(listener, bindings);
    this.stats.channels = this.#bindings.size;
    return { ok: true, bindings: echoed };
  }

  /** Stops delivering to `listener`. Idempotent. */
  unregister(listener: ChangeListener): void {
    this.#bindings.delete(listener);
    this.stats.channels = this.#bindings.size;
  }

  #receive(change: RowChange): void {
    if (!this.#cursor.accept(change)) {
      this.stats.dropped.duplicate++;
      return;
    }
    this.stats.changes++;
    // Who wants it is decided now, in commit order: a binding registered later does not get it.
    const byClaims = new Map<string, Delivery>();
    let oversized: boolean | undefined;
    for (const [listener, bindings] of this.#bindings) {
      let ids: number[] | null = null;
      let noticeIds: number[] | null = null;
      for (const binding of bindings) {
        const match = matchBinding(binding, change);
        if (match === 'no') continue;
        (noticeIds ??= []).push(binding.id);
        if (match === 'yes') (ids ??= []).push(binding.id);
      }
      if (noticeIds === null) continue;
      const key = claimsKey(listener.claims);
      let delivery = byClaims.get(key);
      if (delivery === undefined) {
        oversized ??= recordBytes(change) > this.#options.maxRecordBytes;
        byClaims.set(key, (delivery = { change, claims: listener.claims, oversized, to: [] }));
      }
      delivery.to.push({ listener, ids: ids ?? [], noticeIds });
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

  /** Checks and delivers one batch of one claims' changes. */
  async #process(batch: readonly Delivery[]): Promise<void> {
    const claims = (batch[0] as Delivery).claims;
    const role = typeof claims.role === 'string' ? claims.role : '';
    // The INSERTs and UPDATEs to decide, per table (DELETEs are not checked).
    const byTable = new Map<string, number[]>();
    batch.forEach(({ change }, index) => {
      if (change.type === 'DELETE') return;
      const table = `${change.schema}.${change.table}`;
      const indexes = byTable.get(table) ?? [];
      indexes.push(index);
      byTable.set(table, indexes);
    });
    const checked = new Map<number, boolean | 'key_hidden' | Error>();
    await Promise.all(
      [...byTable.values()].map(async (indexes) => {
        const first = (batch[indexes[0] as number] as Delivery).change;
        try {
          const info = await this.#catalog.table(first.schema, first.table);
          if (info === null) throw new Error(`table ${first.schema}.${first.table} no longer exists`);
          const selectable = await this.#security.selectable(role, first.schema, first.table);
          if (info.primaryKey.some((column) => !selectable.has(column.name))) {
            // No row can be checked for a role that may not read its key: Supabase's 401.
            for (const index of indexes) checked.set(index, 'key_hidden');
            return;
          }
          // Only rows some filter selected are worth a check.
          const wanted = indexes.filter((index) => (batch[index] as Delivery).to.some((recipient) => recipient.ids.length > 0));
          if (!info.rowSecurity) {
            // No policies: the grants alone decide, and they are the same for every row.
            for (const index of wanted) checked.set(index, true);
            return;
          }
          if (wanted.length === 0) return;
          this.stats.authorizationChecks++;
          const visible = await this.#security.visible(
            claims,
            { schema: first.schema, table: first.table, primaryKey: info.primaryKey },
            wanted.map((index) => {
              const { change } = batch[index] as Delivery;
              // Changes from an older node over the PubSub may come without their transaction's id.
              return { key: change.record ?? {}, xid: typeof change.xid === 'number' ? change.xid : undefined };
            }),
          );
          wanted.forEach((index, i) => checked.set(index, visible.has(i)));
        } catch (err) {
          this.#options.logger.warn({ err, table: `${first.schema}.${first.table}`, role: claims.role }, 'postgres_changes: authorization check failed');
          for (const index of indexes) checked.set(index, err as Error);
        }
      }),
    );
    for (const [index, delivery] of batch.entries()) {
      let outcome: Outcome;
      try {
        outcome = await this.#outcome(delivery, role, checked.get(index));
      } catch (err) {
        this.#options.logger.warn({ err }, 'postgres_changes: column grants could not be read');
        outcome = { kind: 'check_failed' };
      }
      for (const { listener, ids, noticeIds } of delivery.to) {
        if (!this.#bindings.has(listener)) continue;
        if (outcome.kind === 'notice') {
          listener.deliver({ ids: noticeIds, data: outcome.data });
          this.stats.delivered++;
          this.stats.errors.unauthorized++;
          continue;
        }
        // Filters decide everything else: a listener here only to be told of 401s gets nothing more.
        if (ids.length === 0) continue;
        if (outcome.kind !== 'data') {
          this.stats.dropped[outcome.kind]++;
          continue;
        }
        listener.deliver({ ids, data: outcome.data });
        this.stats.delivered++;
        if (delivery.oversized) this.stats.errors.payload_too_large++;
      }
    }
  }

  /** What the listeners of one claims get of `delivery`'s change, given its check. */
  async #outcome({ change, oversized }: Delivery, role: string, checked: boolean | 'key_hidden' | Error | undefined): Promise<Outcome> {
    if (change.type !== 'DELETE') {
      if (checked === 'key_hidden') return { kind: 'notice', data: unauthorizedNotice(change) };
      if (checked instanceof Error) return { kind: 'check_failed' };
      // Not checked (undefined): no filter selected it; its listeners are only there for notices.
      if (checked !== true) return { kind: 'unauthorized' };
    }
    const selectable = await this.#security.selectable(role, change.schema, change.table);
    let deleteColumns: ReadonlySet<string> | null = null;
    if (change.type === 'DELETE') {
      const info = await this.#catalog.table(change.schema, change.table);
      if (info === null || info.rowSecurity) deleteColumns = new Set(info?.primaryKey.map((column) => column.name) ?? []);
    }
    return { kind: 'data', data: changeData(change, { selectable, deleteColumns, oversized }) };
  }
}

/** Each claims object's key, made once: a token's claims are read for every change it is matched to. */
const claimsKeys = new WeakMap<JwtClaims, string>();

/** Claims that are equal as JSON see the same rows: one check serves them all. */
function claimsKey(claims: JwtClaims): string {
  let key = claimsKeys.get(claims);
  if (key === undefined) claimsKeys.set(claims, (key = JSON.stringify(claims)));
  return key;
}
