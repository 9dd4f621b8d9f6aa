/**
 * @module store
 * The chat's store, one contract per concept (see `chat-store.ts`), and the pick of its backend
 * from configuration: PostgreSQL when a database URL is given (the chat passes `DATABASE_URL`, so
 * several nodes can share history), otherwise a local SQLite file for a single node.
 *
 * @example
 * const store = await openChatStore({ databaseUrl: process.env.DATABASE_URL });
 */
import type { ChatStore } from './chat-store.ts';
import { PostgresChatStore } from './postgres/postgres-chat-store.ts';
import { SqliteChatStore } from './sqlite/sqlite-chat-store.ts';

export type { ChatStore } from './chat-store.ts';
export { HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT, type AppendOptions, type HistoryOptions, type MessageStore, type StoredMessage } from './message-store.ts';
export { UNREAD_COUNT_CAP, type ReadStore, type UnreadCount } from './read-store.ts';
export type { Invite, InviteOptions, Member, Room, RoomStore } from './room-store.ts';
export { StoreError, StoreErrorCodes, type StoreErrorCode } from './store-error.ts';
export type { UserStore } from './user-store.ts';
export { PostgresChatStore, type PostgresChatStoreOptions } from './postgres/postgres-chat-store.ts';
export { SqliteChatStore } from './sqlite/sqlite-chat-store.ts';

/** Where the SQLite store lives when no file is configured, relative to the working directory. */
export const DEFAULT_SQLITE_FILE = './data/chat.sqlite3';

/** Options of {@link openChatStore}. */
export interface OpenChatStoreOptions {
  /** A `postgres://` URL; when set (and not empty) PostgreSQL is used and `sqliteFile` is ignored. */
  databaseUrl?: string;
  /** The SQLite file used without `databaseUrl`. Default {@link DEFAULT_SQLITE_FILE}. */
  sqliteFile?: string;
}

/**
 * Opens the configured store, creating its schema when missing. Rejects with a `StoreError`
 * (`ERR_STORE_UNAVAILABLE` when PostgreSQL cannot be reached).
 */
export async function openChatStore(options: OpenChatStoreOptions = {}): Promise<ChatStore> {
  if (options.databaseUrl) return PostgresChatStore.connect({ connectionString: options.databaseUrl });
  return SqliteChatStore.open(options.sqliteFile ?? DEFAULT_SQLITE_FILE);
}
