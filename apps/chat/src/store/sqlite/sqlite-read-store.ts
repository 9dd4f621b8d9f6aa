/**
 * @module sqlite-read-store
 * The {@link ReadStore} of a `SqliteChatStore`: the `read_positions` table, one row per user and
 * room, counted against the `messages` table of the same file.
 */
import type Database from 'better-sqlite3';
import { UNREAD_COUNT_CAP, type ReadStore, type UnreadCount } from '../read-store.ts';
import { assertStorableText, isStorableText } from '../store-error.ts';
import type { SqliteDatabase } from './sqlite-database.ts';

function prepare(db: Database.Database) {
  return {
    markRead: db.prepare<[string, string, number]>(
      'INSERT INTO read_positions (user_id, room, message_id) VALUES (?, ?, ?) ON CONFLICT (user_id, room) DO UPDATE SET message_id = max(message_id, excluded.message_id)',
    ),
    lastRead: db.prepare<[string, string], number>('SELECT message_id FROM read_positions WHERE user_id = ? AND room = ?').pluck(),
    // The LIMIT inside bounds the work: a room never read counts at most the cap, not its history.
    count: db.prepare<[string, string, number, string, number], { count: number; mentions: number }>(
      `SELECT count(*) AS count, coalesce(sum(mentioned), 0) AS mentions FROM (
         SELECT instr(mentions, ?) > 0 AS mentioned FROM messages WHERE room = ? AND id > ? AND deleted = 0 AND author_id IS NOT ? LIMIT ?)`,
    ),
  };
}

/** A {@link ReadStore} on a {@link SqliteDatabase}. */
export class SqliteReadStore implements ReadStore {
  /** The tables this part needs, created when missing (it also reads `messages`). */
  static readonly schema = `
    CREATE TABLE IF NOT EXISTS read_positions (
      user_id TEXT NOT NULL,
      room TEXT NOT NULL,
      message_id INTEGER NOT NULL,
      PRIMARY KEY (user_id, room)
    ) WITHOUT ROWID;
  `;

  readonly #database: SqliteDatabase;
  readonly #statements: ReturnType<typeof prepare>;

  /** Prepares its statements on `database`, whose schema must include {@link SqliteReadStore.schema} and the messages'. */
  constructor(database: SqliteDatabase) {
    this.#database = database;
    this.#statements = prepare(database.db);
  }

  markRead(userId: string, room: string, messageId: number): Promise<void> {
    return this.#database.call('markRead', () => {
      assertStorableText({ userId, room });
      this.#statements.markRead.run(userId, room, Math.floor(messageId));
    });
  }

  unread(userId: string, rooms: readonly string[]): Promise<UnreadCount[]> {
    return this.#database.call('unread', () =>
      rooms.map((room) => {
        if (!isStorableText(userId) || !isStorableText(room)) return { room, lastRead: 0, count: 0, mentions: 0 };
        const lastRead = this.#statements.lastRead.get(userId, room) ?? 0;
        // The mentions column is a JSON array: the id as a JSON string is what it holds.
        const counted = this.#statements.count.get(JSON.stringify(userId), room, lastRead, userId, UNREAD_COUNT_CAP);
        return { room, lastRead, count: counted?.count ?? 0, mentions: counted?.mentions ?? 0 };
      }),
    );
  }
}
