/**
 * @module sqlite-message-store
 * The {@link MessageStore} of a `SqliteChatStore`: the `messages` table, whose AUTOINCREMENT id
 * numbers every room's messages in one sequence that never reuses a number. Appends commit one at
 * a time (SQLite has one writer), so ids become visible in order.
 */
import type Database from 'better-sqlite3';
import { historyQuery, type HistoryOptions, type MessageStore, type StoredMessage } from '../message-store.ts';
import { assertStorableText, isStorableText } from '../store-error.ts';
import type { SqliteDatabase } from './sqlite-database.ts';

const MESSAGE_COLUMNS = 'id, room, author, body, inserted_at AS insertedAt';

function prepare(db: Database.Database) {
  return {
    insertMessage: db.prepare<[string, string, string, string]>('INSERT INTO messages (room, author, body, inserted_at) VALUES (?, ?, ?, ?)'),
    newest: db.prepare<[string, number], StoredMessage>(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE room = ? ORDER BY id DESC LIMIT ?`),
    newestBefore: db.prepare<[string, number, number], StoredMessage>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE room = ? AND id < ? ORDER BY id DESC LIMIT ?`,
    ),
  };
}

/** A {@link MessageStore} on a {@link SqliteDatabase}. */
export class SqliteMessageStore implements MessageStore {
  /** The tables this part needs, created when missing. */
  static readonly schema = `
    CREATE TABLE IF NOT EXISTS messages (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      room TEXT NOT NULL,
      author TEXT NOT NULL,
      body TEXT NOT NULL,
      inserted_at TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS messages_room_id ON messages (room, id);
  `;

  readonly #database: SqliteDatabase;
  readonly #statements: ReturnType<typeof prepare>;

  /** Prepares its statements on `database`, whose schema must include {@link SqliteMessageStore.schema}. */
  constructor(database: SqliteDatabase) {
    this.#database = database;
    this.#statements = prepare(database.db);
  }

  append(room: string, author: string, body: string): Promise<StoredMessage> {
    return this.#database.call('append', () => {
      assertStorableText({ room, author, body });
      const insertedAt = new Date().toISOString();
      const { lastInsertRowid } = this.#statements.insertMessage.run(room, author, body, insertedAt);
      return { id: Number(lastInsertRowid), room, author, body, insertedAt };
    });
  }

  history(room: string, options?: HistoryOptions): Promise<StoredMessage[]> {
    return this.#database.call('history', () => {
      const { before, limit } = historyQuery(options);
      if (!isStorableText(room)) return [];
      const newestFirst = before === null ? this.#statements.newest.all(room, limit) : this.#statements.newestBefore.all(room, before, limit);
      return newestFirst.reverse();
    });
  }
}
