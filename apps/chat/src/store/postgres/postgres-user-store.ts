/**
 * @module postgres-user-store
 * The {@link UserStore} of a `PostgresChatStore`: the `session_revocations` and `profiles` tables,
 * one row per user each, written with single upserts.
 */
import { assertStorableText, isStorableText } from '../store-error.ts';
import type { UserStore } from '../user-store.ts';
import type { PostgresDatabase, PostgresTables } from './postgres-database.ts';

/** The statements, with every name qualified by the quoted schema `s`. */
function sql(s: string) {
  return {
    revokeSessions: `
      INSERT INTO ${s}.session_revocations (user_id, before) VALUES ($1, $2)
      ON CONFLICT (user_id) DO UPDATE SET before = GREATEST(${s}.session_revocations.before, EXCLUDED.before)`,
    revokedBefore: `SELECT before FROM ${s}.session_revocations WHERE user_id = $1`,
    setProfileName: `INSERT INTO ${s}.profiles (user_id, name) VALUES ($1, $2) ON CONFLICT (user_id) DO UPDATE SET name = EXCLUDED.name`,
    profileName: `SELECT name FROM ${s}.profiles WHERE user_id = $1`,
  };
}

/** A {@link UserStore} on a {@link PostgresDatabase}. */
export class PostgresUserStore implements UserStore {
  /** The tables this part needs, created when missing. */
  static readonly schema: PostgresTables = {
    createTables: (s) => `
      CREATE TABLE IF NOT EXISTS ${s}.session_revocations (
        user_id TEXT PRIMARY KEY,
        before BIGINT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS ${s}.profiles (
        user_id TEXT PRIMARY KEY,
        name TEXT NOT NULL
      )`,
  };

  readonly #database: PostgresDatabase;
  readonly #sql: ReturnType<typeof sql>;

  /** Queries through `database`, whose schema must hold {@link PostgresUserStore.schema}. */
  constructor(database: PostgresDatabase) {
    this.#database = database;
    this.#sql = sql(database.quotedSchema);
  }

  revokeSessions(userId: string, before: number): Promise<void> {
    return this.#database.call('revokeSessions', async () => {
      assertStorableText({ userId });
      await this.#database.query(this.#sql.revokeSessions, [userId, Math.floor(before)]);
    });
  }

  sessionsRevokedBefore(userId: string): Promise<number> {
    return this.#database.call('sessionsRevokedBefore', async () => {
      if (!isStorableText(userId)) return 0;
      const { rows } = await this.#database.query<{ before: string }>(this.#sql.revokedBefore, [userId]);
      return rows[0] === undefined ? 0 : Number(rows[0].before);
    });
  }

  setProfileName(userId: string, name: string): Promise<void> {
    return this.#database.call('setProfileName', async () => {
      assertStorableText({ userId, name });
      await this.#database.query(this.#sql.setProfileName, [userId, name]);
    });
  }

  profileName(userId: string): Promise<string | null> {
    return this.#database.call('profileName', async () => {
      if (!isStorableText(userId)) return null;
      const { rows } = await this.#database.query<{ name: string }>(this.#sql.profileName, [userId]);
      return rows[0]?.name ?? null;
    });
  }
}
