/**
 * @module supabase/row-security
 * Internal: PostgreSQL decides who sees a changed row, as Supabase Realtime has it decide. For one
 * set of JWT claims and a batch of changed rows of one table, one transaction runs
 * `SET LOCAL ROLE <claims.role>` with `request.jwt.claims` set, and selects those rows by primary
 * key: the rows it returns are the ones the claims may see, under the table's row-level-security
 * policies and grants — once its snapshot sees their transactions (a commit is streamed a moment
 * before it is visible; a row not found then is asked again, not taken as hidden). Which columns the role may select (column grants) is asked once per role
 * and table, and kept for {@link COLUMN_CACHE_MS}.
 *
 * A check that fails (a policy that raises, `statement_timeout`, an unknown role) rejects for
 * those claims only; the caller decides what that means for its subscribers.
 */
import type { JwtClaims } from './auth.ts';
import type { JsonValue } from '../postgres/values.ts';

/** How long the selectable columns of a role and table are kept before being asked again. */
export const COLUMN_CACHE_MS = 10_000;

/** What the check needs of a table. */
export interface CheckedTable {
  readonly schema: string;
  readonly table: string;
  /** The primary key's columns and their types. */
  readonly primaryKey: readonly { readonly name: string; readonly type: string }[];
}

/** Attempts of a check that fails for a transient reason, and the delay growing between them. */
const RETRIES = 4;
const RETRY_DELAY_MS = 250;

/**
 * No SQLSTATE (the connection broke), connection exceptions (08…), and an operator or crash
 * shutdown (57P01-57P03): the database's trouble, not the policy's.
 */
function isTransient(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code) || code.startsWith('08') || /^57P0[1-3]$/.test(code);
}

/** Permission denied: the role may not select the table (or its key) at all. Not a failure: nothing is visible. */
const INSUFFICIENT_PRIVILEGE = '42501';

/** A row's key value as the text PostgreSQL casts back. */
function keyText(value: JsonValue | undefined): string | null {
  if (value === null || value === undefined) return null;
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/**
 * What the checks need of a `pg.Pool`: declared here so that the shipped types need no `@types/pg`
 * (the driver is an optional peer).
 */
export interface QueryPool {
  query<R>(text: string, values?: unknown[]): Promise<{ rows: R[] }>;
  connect(): Promise<QueryClient>;
}

/** A session checked out of a {@link QueryPool}. */
export interface QueryClient {
  query<R>(text: string, values?: unknown[]): Promise<{ rows: R[] }>;
  /** Returns the session; with an error, the pool closes it instead. */
  release(err?: Error): void;
}

/** A changed row to check: its values (the key columns at least), and its transaction's id when known. */
export interface CheckedRow {
  readonly key: Readonly<Record<string, JsonValue>>;
  readonly xid?: number | undefined;
}

/** A `pg_snapshot`: transactions below `xmin` are finished, from `xmax` on not yet, `xip` in between are running. */
export interface Snapshot {
  readonly xmin: bigint;
  readonly xmax: bigint;
  readonly xip: ReadonlySet<bigint>;
}

/** Parses `pg_current_snapshot()`'s text, `xmin:xmax:xip,xip,…` (64-bit ids); null if it is not one. */
export function parseSnapshot(text: string): Snapshot | null {
  const match = /^(\d+):(\d+):([\d,]*)$/.exec(text);
  if (match === null) return null;
  return { xmin: BigInt(match[1]!), xmax: BigInt(match[2]!), xip: new Set(match[3] === '' ? [] : match[3]!.split(',').map(BigInt)) };
}

const EPOCH = 1n << 32n;

/**
 * Whether `snapshot` sees the committed transaction `xid` (32 bits, as pgoutput sends it: its
 * epoch is taken as the one that puts it nearest `xmax`, which a live transaction id always is).
 */
export function snapshotSees(snapshot: Snapshot, xid: number): boolean {
  let full = (snapshot.xmax & ~(EPOCH - 1n)) | BigInt(xid >>> 0);
  if (full - snapshot.xmax >= EPOCH / 2n) full -= EPOCH;
  else if (snapshot.xmax - full > EPOCH / 2n) full += EPOCH;
  return full < snapshot.xmax && !snapshot.xip.has(full);
}

/** Batched row-level-security checks on a pool of sessions. */
export class RowSecurity {
  readonly #pool: () => QueryPool;
  readonly #timeoutMs: number;
  readonly #columns = new Map<string, { readonly at: number; readonly columns: Promise<ReadonlySet<string>> }>();

  constructor(pool: () => QueryPool, timeoutMs: number) {
    this.#pool = pool;
    this.#timeoutMs = timeoutMs;
  }

  /**
   * The indexes of `rows` (each the changed row, with at least its key columns, and its
   * transaction's id) that `claims` may select from `table`: one transaction, one query — and
   * again for the rows whose transaction that query's snapshot did not see yet (PostgreSQL streams
   * a commit a moment before it makes it visible), until it does, within the check's timeout.
   * @throws (rejects) the database's error when a policy raises, the check times out or the role does not exist
   */
  async visible(claims: JwtClaims, table: CheckedTable, rows: readonly CheckedRow[]): Promise<ReadonlySet<number>> {
    const visible = new Set<number>();
    let pending = rows.map((_, index) => index);
    const deadline = Date.now() + this.#timeoutMs;
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.#withRetries(() =>
        this.#visibleOnce(
          claims,
          table,
          pending.map((index) => rows[index] as CheckedRow),
        ),
      );
      for (const i of outcome.found) visible.add(pending[i] as number);
      const unseen = pending.filter((_, i) => outcome.unseen.has(i));
      if (unseen.length === 0) return visible;
      if (Date.now() >= deadline) throw new Error(`the transactions of ${unseen.length} changed rows were still not visible after ${this.#timeoutMs} ms`);
      pending = unseen;
      // The committing session is between its WAL flush and its snapshot update: a moment.
      await new Promise((resolve) => setTimeout(resolve, Math.min(2 ** attempt, 50)));
    }
  }

  async #withRetries<T>(check: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await check();
      } catch (err) {
        // A lost session or a restarting server is not the policy's answer: try again, briefly,
        // before the change is given up for these claims.
        if (!isTransient(err) || attempt >= RETRIES) throw err;
        await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS * attempt));
      }
    }
  }

  /**
   * One check, in a REPEATABLE READ transaction so that the rows and `pg_current_snapshot()` are
   * read with one snapshot: `found` are the rows it returned, `unseen` those it did not return
   * and whose transaction that snapshot does not see (they must be asked again).
   */
  async #visibleOnce(
    claims: JwtClaims,
    table: CheckedTable,
    rows: readonly CheckedRow[],
  ): Promise<{ readonly found: ReadonlySet<number>; readonly unseen: ReadonlySet<number> }> {
    if (rows.length === 0 || table.primaryKey.length === 0) return { found: new Set(), unseen: new Set() };
    const client = await this.#pool().connect();
    let broken: unknown = undefined;
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      await actAs(client, claims, this.#timeoutMs);
      const keys = table.primaryKey;
      const params: (string | null)[] = [];
      const tuples = rows.map((row, index) => {
        params.push(String(index));
        const cells = keys.map((key) => {
          params.push(keyText(row.key[key.name]));
          return `$${params.length}::${escapeIdentifier(key.type)}`;
        });
        return `($${params.length - keys.length}::int, ${cells.join(', ')})`;
      });
      const names = keys.map((_, i) => `k${i}`);
      const on = keys.map((key, i) => `t.${escapeIdentifier(key.name)} = v.k${i}`).join(' AND ');
      const sql = `SELECT pg_current_snapshot()::text AS snapshot, ARRAY(SELECT v.i FROM (VALUES ${tuples.join(', ')}) AS v(i, ${names.join(', ')}) JOIN ${escapeIdentifier(table.schema)}.${escapeIdentifier(table.table)} t ON ${on}) AS found`;
      let answer: { snapshot: string; found: number[] };
      try {
        const { rows: result } = await client.query<{ snapshot: string; found: number[] }>(sql, params);
        answer = result[0] as { snapshot: string; found: number[] };
      } catch (err) {
        if ((err as { code?: unknown }).code === INSUFFICIENT_PRIVILEGE) return { found: new Set(), unseen: new Set() };
        throw err;
      }
      const found = new Set(answer.found.map(Number));
      const snapshot = parseSnapshot(answer.snapshot);
      const unseen = new Set<number>();
      rows.forEach((row, index) => {
        if (!found.has(index) && row.xid !== undefined && snapshot !== null && !snapshotSees(snapshot, row.xid)) unseen.add(index);
      });
      return { found, unseen };
    } catch (err) {
      broken = err;
      throw err;
    } finally {
      await client.query('ROLLBACK').catch((err: unknown) => (broken ??= err));
      // A session whose state is in doubt is not handed to the next check.
      client.release(broken !== undefined && (broken as { code?: unknown }).code === undefined ? (broken as Error) : undefined);
    }
  }

  /** The columns of `schema.table` that `role` may select (column grants, or the table grant). */
  selectable(role: string, schema: string, table: string): Promise<ReadonlySet<string>> {
    const key = JSON.stringify([role, schema, table]);
    const now = Date.now();
    const cached = this.#columns.get(key);
    if (cached !== undefined && now - cached.at < COLUMN_CACHE_MS) return cached.columns;
    const columns = this.#pool()
      .query<{ name: string }>(
        `SELECT a.attname AS name FROM pg_attribute a
          WHERE a.attrelid = to_regclass(format('%I.%I', $2::text, $3::text)) AND a.attnum > 0 AND NOT a.attisdropped
            AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)
            AND has_column_privilege($1, a.attrelid, a.attnum, 'SELECT')`,
        [role, schema, table],
      )
      .then(({ rows }) => new Set(rows.map((row) => row.name)) as ReadonlySet<string>);
    this.#columns.set(key, { at: now, columns });
    columns.catch(() => this.#columns.delete(key));
    return columns;
  }
}

/**
 * Inside a transaction of `client`, becomes the role `claims.role` names with the claims set as
 * Supabase sets them (`request.jwt.claims`, `request.jwt.claim.sub`, `request.jwt.claim.role`,
 * and `realtime.topic` when a topic is given) and `statement_timeout` at `timeoutMs`, until the
 * transaction ends. Policies read them through `auth.uid()`, `auth.jwt()`, `realtime.topic()`.
 */
export async function actAs(client: QueryClient, claims: JwtClaims, timeoutMs: number, topic = ''): Promise<void> {
  const role = typeof claims.role === 'string' ? claims.role : '';
  await client.query(`SET LOCAL ROLE ${escapeIdentifier(role)}`);
  const sub = typeof claims.sub === 'string' ? claims.sub : '';
  await client.query(
    "SELECT set_config('request.jwt.claims', $1, true), set_config('request.jwt.claim.sub', $2, true), set_config('request.jwt.claim.role', $3, true), set_config('statement_timeout', $4, true), set_config('realtime.topic', $5, true)",
    [JSON.stringify(claims), sub, role, String(timeoutMs), topic],
  );
}

/** PostgreSQL's quoted identifier (pg's `escapeIdentifier`, without needing the module at runtime here). */
export function escapeIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
