/**
 * @module postgres-chat-store
 * A {@link ChatStore} in PostgreSQL, for a chat running on several nodes that share one database.
 * `connect` creates the schema and every part's tables when missing; any number of nodes may
 * start at once. See `postgres-database.ts` for outages and naming.
 *
 * @example
 * const store = await PostgresChatStore.connect({ connectionString: process.env.DATABASE_URL!, schema: 'chat' });
 * await store.messages.append('lobby', 'alice', 'hi');
 * await store.close();
 */
import type { ChatStore } from '../chat-store.ts';
import type { Migration } from '../migrations.ts';
import { PostgresDatabase, type PostgresChatStoreOptions } from './postgres-database.ts';
import { PostgresMessageStore } from './postgres-message-store.ts';
import { PostgresReadStore } from './postgres-read-store.ts';
import { PostgresRoomStore } from './postgres-room-store.ts';
import { PostgresUserStore } from './postgres-user-store.ts';

export type { PostgresChatStoreOptions } from './postgres-database.ts';

/** The PostgreSQL schema's versions (see `migrations.ts`): append, never edit. */
export const POSTGRES_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'messages, rooms, members, invites, sessions and profiles',
    sql: (schema) => [PostgresMessageStore.schema, PostgresRoomStore.schema, PostgresUserStore.schema].map((part) => part.createTables(schema)).join(';\n'),
  },
  {
    version: 2,
    name: 'message authors, edits, deletes and mentions; read positions',
    sql: (schema) => [PostgresMessageStore.editsSchema(schema), PostgresReadStore.schema.createTables(schema)].join(';\n'),
  },
];

/** A {@link ChatStore} on PostgreSQL through a `pg` connection pool: its parts share the pool. */
export class PostgresChatStore implements ChatStore {
  readonly messages: PostgresMessageStore;
  readonly rooms: PostgresRoomStore;
  readonly users: PostgresUserStore;
  readonly reads: PostgresReadStore;
  readonly #database: PostgresDatabase;

  private constructor(database: PostgresDatabase) {
    this.#database = database;
    this.messages = new PostgresMessageStore(database);
    this.rooms = new PostgresRoomStore(database);
    this.users = new PostgresUserStore(database);
    this.reads = new PostgresReadStore(database);
  }

  /**
   * Connects and creates the schema and tables when missing. Rejects with `ERR_STORE_UNAVAILABLE`
   * if PostgreSQL cannot be reached (it does not wait for it to come up).
   */
  static connect(options: PostgresChatStoreOptions): Promise<PostgresChatStore> {
    return PostgresDatabase.connect(options, POSTGRES_MIGRATIONS, (database) => new PostgresChatStore(database));
  }

  async ping(): Promise<void> {
    await this.#database.call('ping', () => this.#database.query('SELECT 1', []));
  }

  close(): Promise<void> {
    return this.#database.close();
  }
}
