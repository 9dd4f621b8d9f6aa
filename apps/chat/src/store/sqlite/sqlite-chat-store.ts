/**
 * @module sqlite-chat-store
 * A {@link ChatStore} in one SQLite file, for a chat running as a single node. Opening creates
 * the file, its directory and the schema when missing; reopening an existing file keeps its data.
 * Several processes may open the same file (see `sqlite-database.ts` for durability and locking).
 *
 * @example
 * const store = SqliteChatStore.open('./data/chat.sqlite3');
 * await store.messages.append('lobby', 'alice', 'hi');
 * await store.close();
 */
import type { ChatStore } from '../chat-store.ts';
import type { Migration } from '../migrations.ts';
import { SqliteDatabase } from './sqlite-database.ts';
import { SqliteMessageStore } from './sqlite-message-store.ts';
import { SqliteReadStore } from './sqlite-read-store.ts';
import { SqliteRoomStore } from './sqlite-room-store.ts';
import { SqliteUserStore } from './sqlite-user-store.ts';

/** The SQLite schema's versions (see `migrations.ts`): append, never edit. */
export const SQLITE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'messages, rooms, members, invites, sessions and profiles',
    sql: () => [SqliteMessageStore.schema, SqliteRoomStore.schema, SqliteUserStore.schema].join('\n'),
  },
  {
    version: 2,
    name: 'message authors, edits, deletes and mentions; read positions',
    sql: () => [SqliteMessageStore.editsSchema, SqliteReadStore.schema].join('\n'),
  },
];

/** A {@link ChatStore} on a local SQLite file through better-sqlite3: its parts share one connection. */
export class SqliteChatStore implements ChatStore {
  readonly messages: SqliteMessageStore;
  readonly rooms: SqliteRoomStore;
  readonly users: SqliteUserStore;
  readonly reads: SqliteReadStore;
  readonly #database: SqliteDatabase;

  private constructor(database: SqliteDatabase) {
    this.#database = database;
    this.messages = new SqliteMessageStore(database);
    this.rooms = new SqliteRoomStore(database);
    this.users = new SqliteUserStore(database);
    this.reads = new SqliteReadStore(database);
  }

  /**
   * Opens (creating when missing) the database at `file` with every part's tables; see
   * {@link SqliteDatabase.open} for file modes and durability. Throws a `StoreError` if the file
   * cannot be opened.
   */
  static open(file: string): SqliteChatStore {
    return SqliteDatabase.open(file, SQLITE_MIGRATIONS, (database) => new SqliteChatStore(database));
  }

  async ping(): Promise<void> {
    await this.#database.call('ping', () => this.#database.db.prepare('SELECT 1').get());
  }

  close(): Promise<void> {
    return this.#database.close();
  }
}
