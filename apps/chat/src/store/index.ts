/**
 * @module store
 * Picks the chat's {@link MessageStore} from configuration: PostgreSQL when a database URL is
 * given (the chat passes `DATABASE_URL`, so several nodes can share history), otherwise a local
 * SQLite file for a single node.
 *
 * @example
 * const store = await openMessageStore({ databaseUrl: process.env.DATABASE_URL });
 */
import type { MessageStore } from './message-store.ts';
import { PostgresMessageStore } from './postgres-message-store.ts';
import { SqliteMessageStore } from './sqlite-message-store.ts';

export {
  HISTORY_DEFAULT_LIMIT,
  HISTORY_MAX_LIMIT,
  StoreError,
  StoreErrorCodes,
  type HistoryOptions,
  type Invite,
  type InviteOptions,
  type Member,
  type MessageStore,
  type Room,
  type StoreErrorCode,
  type StoredMessage,
} from './message-store.ts';
export { PostgresMessageStore, type PostgresMessageStoreOptions } from './postgres-message-store.ts';
export { SqliteMessageStore } from './sqlite-message-store.ts';

/** Where the SQLite store lives when no file is configured, relative to the working directory. */
export const DEFAULT_SQLITE_FILE = './data/chat.sqlite3';

/** Options of {@link openMessageStore}. */
export interface OpenMessageStoreOptions {
  /** A `postgres://` URL; when set (and not empty) PostgreSQL is used and `sqliteFile` is ignored. */
  databaseUrl?: string;
  /** The SQLite file used without `databaseUrl`. Default {@link DEFAULT_SQLITE_FILE}. */
  sqliteFile?: string;
}

/**
 * Opens the configured store, creating its schema when missing. Rejects with a `StoreError`
 * (`ERR_STORE_UNAVAILABLE` when PostgreSQL cannot be reached).
 */
export async function openMessageStore(options: OpenMessageStoreOptions = {}): Promise<MessageStore> {
  if (options.databaseUrl) return PostgresMessageStore.connect({ connectionString: options.databaseUrl });
  return SqliteMessageStore.open(options.sqliteFile ?? DEFAULT_SQLITE_FILE);
}
