/**
 * @module postgres-database
 * The PostgreSQL connection pool behind a `PostgresChatStore`, shared by its parts: connecting,
 * creating the tables each part brings in one schema, running each call with the contract's error
 * codes, and closing once the calls in flight have settled. Table names are qualified with the
 * (quoted) schema, so the store never depends on a connection's `search_path`.
 *
 * Outages: the pool reconnects by itself. While PostgreSQL is unreachable calls reject with
 * `ERR_STORE_UNAVAILABLE`; once it is back, calls on the same instance succeed again. A pooled
 * connection dropped while idle (server restart, `pg_terminate_backend`, a proxy timeout) is
 * discarded and reported to `onError` — it never becomes an uncaught `'error'` event.
 */
import { DatabaseError, escapeIdentifier, Pool, type PoolClient, type QueryResult, type QueryResultRow } from 'pg';
import { pendingMigrations, type Migration } from '../migrations.ts';
import { StoreError, StoreErrorCodes } from '../store-error.ts';

/** Options of `PostgresChatStore.connect`. */
export interface PostgresChatStoreOptions {
  /** e.g. `postgres://user:password@host:5432/database`. */
  connectionString: string;
  /** Schema holding the tables, created when missing. Default `public`. */
  schema?: string;
  /** Most connections the pool opens. Default 10. */
  poolSize?: number;
  /** Shown in `pg_stat_activity.application_name`. Default `starling-chat`. */
  applicationName?: string;
  /** How long a call waits for a new connection before failing as unavailable. Default 5000 ms. */
  connectionTimeoutMillis?: number;
  /**
   * Told about faults that belong to no call — a pooled idle connection that dropped. The pool has
   * already discarded it; the next call opens a fresh one. Default: ignored.
   */
  onError?: (error: StoreError) => void;
}

/** What a part of the store brings to the schema. */
export interface PostgresTables {
  /** `CREATE … IF NOT EXISTS` statements for them, with every name qualified by `schema` (quoted). */
  createTables(schema: string): string;
}

/**
 * SQLSTATE classes meaning "try again later": 08 connection exception, 53 insufficient resources
 * (too many connections), 57P01–57P03 shutdown or startup in progress, 40 serialization failure.
 */
function isTransientSqlState(code: string): boolean {
  return ['08', '53', '40'].includes(code.slice(0, 2)) || ['57P01', '57P02', '57P03'].includes(code);
}

/** Maps whatever `pg` rejected with to the contract's codes. */
function toStoreError(err: unknown, doing: string): StoreError {
  if (err instanceof StoreError) return err;
  const reason = err instanceof Error ? err.message : String(err);
  if (err instanceof DatabaseError && err.code !== undefined) {
    // Every foreign key points at a room (members and invites).
    if (err.code === '23503') return new StoreError(StoreErrorCodes.unknownRoom, `${doing}: no such room`, { cause: err });
    if (isTransientSqlState(err.code)) {
      return new StoreError(StoreErrorCodes.unavailable, `${doing}: PostgreSQL is unavailable: ${reason}`, { cause: err });
    }
    return new StoreError(StoreErrorCodes.failed, `${doing}: ${reason}`, { cause: err });
  }
  // Below SQL: socket errors (ECONNREFUSED, ECONNRESET, ETIMEDOUT…) and pg's own connection
  // errors, which carry no code ("Connection terminated unexpectedly", "timeout exceeded when
  // trying to connect", "Client has encountered a connection error and is not queryable").
  const code = err instanceof Error && 'code' in err ? err.code : undefined;
  if ((typeof code === 'string' && code.startsWith('E')) || /connect|terminat|timeout|queryable/i.test(reason)) {
    return new StoreError(StoreErrorCodes.unavailable, `${doing}: PostgreSQL is unavailable: ${reason}`, { cause: err });
  }
  return new StoreError(StoreErrorCodes.failed, `${doing}: ${reason}`, { cause: err });
}

/** A connection pool on one schema: what the parts of a `PostgresChatStore` query through. */
export class PostgresDatabase {
  /** The schema's name as given (e.g. for advisory lock keys). */
  readonly schema: string;
  /** The schema's name quoted, to qualify table names in SQL. */
  readonly quotedSchema: string;
  readonly #pool: Pool;
  readonly #inFlight = new Set<Promise<unknown>>();
  #closing: Promise<void> | undefined;

  private constructor(pool: Pool, schema: string, onError: ((error: StoreError) => void) | undefined) {
    this.#pool = pool;
    this.schema = schema;
    this.quotedSchema = escapeIdentifier(schema);
    // An idle client that loses its connection emits 'error' through the pool, which has already
    // removed it; without a listener Node would throw it and bring the process down.
    pool.on('error', (err) => onError?.(toStoreError(err, 'idle connection')));
  }

  /**
   * Connects and creates the schema and the tables of `parts` when missing, then resolves with what
   * `build` makes of it. Rejects with `ERR_STORE_UNAVAILABLE` if PostgreSQL cannot be reached (it
   * does not wait for it to come up).
   */
  static async connect<T>(options: PostgresChatStoreOptions, migrations: readonly Migration[], build: (database: PostgresDatabase) => T): Promise<T> {
    const pool = new Pool({
      connectionString: options.connectionString,
      max: options.poolSize ?? 10,
      application_name: options.applicationName ?? 'starling-chat',
      connectionTimeoutMillis: options.connectionTimeoutMillis ?? 5000,
      // Notices a silently vanished peer (a dropped NAT entry) on idle connections.
      keepAlive: true,
    });
    const database = new PostgresDatabase(pool, options.schema ?? 'public', options.onError);
    try {
      await database.#migrate(migrations);
      return build(database);
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw toStoreError(err, 'connect');
    }
  }

  /**
   * Applies the pending migrations (`migrations.ts`). The fast path only reads the migrations
   * table, so restarts need no DDL privileges and take no lock. Otherwise nodes starting together
   * queue on a transaction-scoped advisory lock and the first applies what is pending — because
   * `IF NOT EXISTS` alone still races: two concurrent `CREATE SCHEMA IF NOT EXISTS` can both pass
   * the check and one fails on the catalog's unique index.
   */
  async #migrate(migrations: readonly Migration[]): Promise<void> {
    const latest = migrations.at(-1)?.version ?? 0;
    if ((await this.#appliedVersion(this.#pool)) === latest) return;
    const client: PoolClient = await this.#pool.connect();
    // The pool listens for errors only on idle clients; a checked-out one that loses its connection
    // would otherwise emit an unhandled 'error'. The failure reaches us through the next query.
    const ignore = (): void => undefined;
    client.on('error', ignore);
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`starling-chat schema ${this.schema}`]);
      // CREATE SCHEMA checks the database-level privilege even when the schema exists.
      const schema = await client.query('SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1', [this.schema]);
      if (schema.rowCount === 0) await client.query(`CREATE SCHEMA IF NOT EXISTS ${this.quotedSchema}`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${this.quotedSchema}.schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
      );
      for (const migration of pendingMigrations(migrations, await this.#appliedVersion(client))) {
        await client.query(migration.sql(this.quotedSchema));
        await client.query(`INSERT INTO ${this.quotedSchema}.schema_migrations (version, name) VALUES ($1, $2)`, [migration.version, migration.name]);
      }
      await client.query('COMMIT');
      client.removeListener('error', ignore);
      client.release();
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      client.removeListener('error', ignore);
      client.release(true); // its state is unknown: discard rather than return it to the pool
      throw err;
    }
  }

  /** The last migration applied: 0 without a migrations table (a new database, or one made before them). */
  async #appliedVersion(on: Pool | PoolClient): Promise<number> {
    const table = await on.query('SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = $1 AND tablename = $2', [this.schema, 'schema_migrations']);
    if (table.rowCount === 0) return 0;
    const applied = await on.query<{ version: number }>(`SELECT coalesce(max(version), 0)::int AS version FROM ${this.quotedSchema}.schema_migrations`);
    return applied.rows[0]?.version ?? 0;
  }

  /** Runs one statement on a pooled connection; only inside {@link PostgresDatabase.call}. */
  query<R extends QueryResultRow>(text: string, values: unknown[]): Promise<QueryResult<R>> {
    return this.#pool.query<R>(text, values);
  }

  /**
   * Runs `work` as the call named `doing`: rejects with `ERR_STORE_CLOSED` once closing, tracks it
   * until it settles (so `close` waits for it), and maps whatever it rejects with to a
   * {@link StoreError}.
   */
  async call<T>(doing: string, work: () => Promise<T>): Promise<T> {
    if (this.#closing !== undefined) throw new StoreError(StoreErrorCodes.closed, `${doing}: the store is closed`);
    const running = work();
    this.#inFlight.add(running);
    try {
      return await running;
    } catch (err) {
      throw toStoreError(err, doing);
    } finally {
      this.#inFlight.delete(running);
    }
  }

  /** Waits for the calls in flight to settle, then ends the pool; idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.allSettled([...this.#inFlight]);
      await this.#pool.end();
    })();
    return this.#closing;
  }
}
