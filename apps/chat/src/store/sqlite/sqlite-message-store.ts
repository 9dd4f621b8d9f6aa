/**
 * @module sqlite-message-store
 * The {@link MessageStore} of a `SqliteChatStore`: the `messages` table, whose AUTOINCREMENT id
 * numbers every room's messages in one sequence that never reuses a number. Appends commit one at
 * a time (SQLite has one writer), so ids become visible in order. Edits and deletes update the row
 * in place, guarded by its author id in the same statement.
 */
import type Database from 'better-sqlite3';
import { historyQuery, mentionsOf, mentionsText, type AppendOptions, type HistoryOptions, type MessageStore, type StoredMessage } from '../message-store.ts';
import { assertStorableText, isStorableText } from '../store-error.ts';
import type { SqliteDatabase } from './sqlite-database.ts';

const MESSAGE_COLUMNS = 'id, room, author, body, inserted_at AS insertedAt, author_id AS authorId, edited_at AS editedAt, deleted, mentions';

/** A row as SQLite returns it: booleans are integers, mentions JSON text. */
interface MessageRow extends Omit<StoredMessage, 'deleted' | 'mentions'> {
  deleted: number;
  mentions: string;
}

const toMessage = (row: MessageRow): StoredMessage => ({ ...row, deleted: row.deleted !== 0, mentions: mentionsOf(row.mentions) });

function prepare(db: Database.Database) {
  return {
    insertMessage: db.prepare<[string, string, string, string, string | null, string], MessageRow>(
      `INSERT INTO messages (room, author, body, inserted_at, author_id, mentions) VALUES (?, ?, ?, ?, ?, ?) RETURNING ${MESSAGE_COLUMNS}`,
    ),
    newest: db.prepare<[string, number], MessageRow>(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE room = ? ORDER BY id DESC LIMIT ?`),
    newestBefore: db.prepare<[string, number, number], MessageRow>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE room = ? AND id < ? ORDER BY id DESC LIMIT ?`,
    ),
    edit: db.prepare<[string, string, string, string, number, string], MessageRow>(
      `UPDATE messages SET body = ?, mentions = ?, edited_at = ? WHERE room = ? AND id = ? AND author_id = ? AND deleted = 0 RETURNING ${MESSAGE_COLUMNS}`,
    ),
    remove: db.prepare<[string, number, string], MessageRow>(
      `UPDATE messages SET body = '', mentions = '[]', deleted = 1 WHERE room = ? AND id = ? AND author_id = ? RETURNING ${MESSAGE_COLUMNS}`,
    ),
  };
}

/** A {@link MessageStore} on a {@link SqliteDatabase}. */
export class SqliteMessageStore implements MessageStore {
  /** The table as migration 1 made it (released: never edited; see {@link SqliteMessageStore.editsSchema}). */
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

  /** What migration 2 adds to {@link SqliteMessageStore.schema}: who wrote a message, its edits, deletion and mentions. */
  static readonly editsSchema = `
    ALTER TABLE messages ADD COLUMN author_id TEXT;
    ALTER TABLE messages ADD COLUMN edited_at TEXT;
    ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE messages ADD COLUMN mentions TEXT NOT NULL DEFAULT '[]';
  `;

  readonly #database: SqliteDatabase;
  readonly #statements: ReturnType<typeof prepare>;

  /** Prepares its statements on `database`, whose schema must include {@link SqliteMessageStore.schema} and {@link SqliteMessageStore.editsSchema}. */
  constructor(database: SqliteDatabase) {
    this.#database = database;
    this.#statements = prepare(database.db);
  }

  append(room: string, author: string, body: string, options: AppendOptions = {}): Promise<StoredMessage> {
    return this.#database.call('append', () => {
      const mentions = options.mentions ?? [];
      assertStorableText({ room, author, body, authorId: options.authorId ?? '', ...Object.fromEntries(mentions.map((id, i) => [`mentions[${i}]`, id])) });
      const insertedAt = new Date().toISOString();
      return toMessage(this.#statements.insertMessage.get(room, author, body, insertedAt, options.authorId ?? null, mentionsText(mentions))!);
    });
  }

  edit(room: string, id: number, authorId: string, body: string, mentions: readonly string[] = []): Promise<StoredMessage | null> {
    return this.#database.call('edit', () => {
      assertStorableText({ body, ...Object.fromEntries(mentions.map((mention, i) => [`mentions[${i}]`, mention])) });
      if (!isStorableText(room) || !isStorableText(authorId)) return null;
      const row = this.#statements.edit.get(body, mentionsText(mentions), new Date().toISOString(), room, id, authorId);
      return row === undefined ? null : toMessage(row);
    });
  }

  remove(room: string, id: number, authorId: string): Promise<StoredMessage | null> {
    return this.#database.call('remove', () => {
      if (!isStorableText(room) || !isStorableText(authorId)) return null;
      const row = this.#statements.remove.get(room, id, authorId);
      return row === undefined ? null : toMessage(row);
    });
  }

  history(room: string, options?: HistoryOptions): Promise<StoredMessage[]> {
    return this.#database.call('history', () => {
      const { before, limit } = historyQuery(options);
      if (!isStorableText(room)) return [];
      const newestFirst = before === null ? this.#statements.newest.all(room, limit) : this.#statements.newestBefore.all(room, before, limit);
      return newestFirst.reverse().map(toMessage);
    });
  }
}
