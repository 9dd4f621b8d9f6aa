/**
 * @module supabase/table-catalog
 * Internal: what postgres_changes needs to know of the database's tables, read from PostgreSQL's
 * catalog — which tables a publication serves, and a table's columns with their types, its
 * primary key and whether row-level security is on (kept {@link TABLE_CACHE_MS}, so an
 * `ALTER TABLE … ENABLE ROW LEVEL SECURITY` is seen within that time).
 *
 * @example
 * const catalog = new TableCatalog(() => pool);
 * const info = await catalog.table('public', 'todos'); // {types, primaryKey, rowSecurity} or null
 */
import type { QueryPool } from './row-security.ts';

/** How long a table's description is kept before it is read again. */
export const TABLE_CACHE_MS = 10_000;

/** A table as postgres_changes sees it. */
export interface TableInfo {
  /** Column name → type name (`int4`, `text`, …), in table order. */
  readonly types: ReadonlyMap<string, string>;
  readonly primaryKey: readonly { readonly name: string; readonly type: string }[];
  readonly rowSecurity: boolean;
}

/** Reads (and caches) tables' descriptions through a pool. */
export class TableCatalog {
  readonly #pool: () => QueryPool;
  readonly #tables = new Map<string, { readonly at: number; readonly info: Promise<TableInfo | null> }>();

  constructor(pool: () => QueryPool) {
    this.#pool = pool;
  }

  /** The `schema.table` names of the tables in `publication`, read now. */
  async published(publication: string): Promise<ReadonlySet<string>> {
    const { rows } = await this.#pool().query<{ name: string }>("SELECT schemaname || '.' || tablename AS name FROM pg_publication_tables WHERE pubname = $1", [
      publication,
    ]);
    return new Set(rows.map((row) => row.name));
  }

  /** `schema.table`'s description, or null when there is no such table. */
  table(schema: string, table: string): Promise<TableInfo | null> {
    const key = `${schema}.${table}`;
    const now = Date.now();
    const cached = this.#tables.get(key);
    if (cached !== undefined && now - cached.at < TABLE_CACHE_MS) return cached.info;
    const info = this.#pool()
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
}
