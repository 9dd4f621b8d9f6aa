/**
 * @module sqlite-user-store
 * The {@link UserStore} of a `SqliteChatStore`: the `session_revocations` and `profiles` tables,
 * one row per user each.
 */
import type Database from 'better-sqlite3';
import { assertStorableText, isStorableText } from '../store-error.ts';
import type { UserStore } from '../user-store.ts';
import type { SqliteDatabase } from './sqlite-database.ts';

function prepare(db: Database.Database) {
  return {
    revokeSessions: db.prepare<[string, number]>(
      'INSERT INTO session_revocations (user_id, before) VALUES (?, ?) ON CONFLICT (user_id) DO UPDATE SET before = max(before, excluded.before)',
    ),
    revokedBefore: db.prepare<[string], number>('SELECT before FROM session_revocations WHERE user_id = ?').pluck(),
    setProfileName: db.prepare<[string, string]>('INSERT INTO profiles (user_id, name) VALUES (?, ?) ON CONFLICT (user_id) DO UPDATE SET name = excluded.name'),
    profileName: db.prepare<[string], string>('SELECT name FROM profiles WHERE user_id = ?').pluck(),
  };
}

/** A {@link UserStore} on a {@link SqliteDatabase}. */
export class SqliteUserStore implements UserStore {
  /** The tables this part needs, created when missing. */
  static readonly schema = `
    CREATE TABLE IF NOT EXISTS session_revocations (
      user_id TEXT PRIMARY KEY,
      before INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS profiles (
      user_id TEXT PRIMARY KEY,
      name TEXT NOT NULL
    ) WITHOUT ROWID;
  `;

  readonly #database: SqliteDatabase;
  readonly #statements: ReturnType<typeof prepare>;

  /** Prepares its statements on `database`, whose schema must include {@link SqliteUserStore.schema}. */
  constructor(database: SqliteDatabase) {
    this.#database = database;
    this.#statements = prepare(database.db);
  }

  revokeSessions(userId: string, before: number): Promise<void> {
    return this.#database.call('revokeSessions', () => {
      assertStorableText({ userId });
      this.#statements.revokeSessions.run(userId, Math.floor(before));
    });
  }

  sessionsRevokedBefore(userId: string): Promise<number> {
    return this.#database.call('sessionsRevokedBefore', () => (isStorableText(userId) ? (this.#statements.revokedBefore.get(userId) ?? 0) : 0));
  }

  setProfileName(userId: string, name: string): Promise<void> {
    return this.#database.call('setProfileName', () => {
      assertStorableText({ userId, name });
      this.#statements.setProfileName.run(userId, name);
    });
  }

  profileName(userId: string): Promise<string | null> {
    return this.#database.call('profileName', () => (isStorableText(userId) ? (this.#statements.profileName.get(userId) ?? null) : null));
  }
}
