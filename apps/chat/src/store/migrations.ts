/**
 * @module migrations
 * The chat's schema as numbered migrations, for SQLite and PostgreSQL alike: each backend keeps a
 * `schema_migrations` table (version, name, when applied), and opening the store applies, in one
 * transaction, every migration newer than the last one applied — so an upgrade needs no separate
 * step, and several processes starting at once apply each migration once. A database whose
 * version is newer than this code knows is refused (an older chat must not write to a schema it
 * does not know). Migrations are append-only: a released one is never edited, a change is a new
 * version.
 *
 * Version 1 is the schema as it was before migrations existed, written with `IF NOT EXISTS`: on a
 * database made by that code it changes nothing and is recorded, so existing data carry on.
 */
import { StoreError, StoreErrorCodes } from './store-error.ts';

/** One versioned change of the schema; `sql` gets the quoted schema name (PostgreSQL) or nothing (SQLite). */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: (schema: string) => string;
}

/** The migrations after `applied` in order; refuses a database newer than `migrations` know. */
export function pendingMigrations(migrations: readonly Migration[], applied: number): readonly Migration[] {
  const latest = migrations.at(-1)?.version ?? 0;
  if (applied > latest) {
    throw new StoreError(
      StoreErrorCodes.failed,
      `the database's schema is at version ${applied}, newer than this chat's (${latest}): run the chat version that wrote it, or a newer one`,
    );
  }
  return migrations.filter((migration) => migration.version > applied);
}
