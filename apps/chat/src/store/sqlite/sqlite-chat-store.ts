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
import { SqliteDatabase } from './sqlite-database.ts';
import { SqliteMessageStore } from './sqlite-message-store.ts';
import { SqliteReadStore } from './sqlite-read-store.ts';
import { SqliteRoomStore } from './sqlite-room-store.ts';
import { SqliteUserStore } from './sqlite-user-store.ts';

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
    const schemas = [SqliteMessageStore.schema, SqliteMessageStore.migrate, SqliteRoomStore.schema, SqliteUserStore.schema, SqliteReadStore.schema];
    return SqliteDatabase.open(file, schemas, (database) => new SqliteChatStore(database));
  }

  close(): Promise<void> {
    return this.#database.close();
  }
}
