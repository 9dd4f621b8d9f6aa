/**
 * @module message-store
 * Each room's message history: a {@link MessageStore} appends messages and reads them back a page
 * at a time, newest first. It is the durable record behind a room's broadcasts: the room channel
 * stores a message before it broadcasts it, and a page that joins reads its first page here.
 *
 * @example
 * const stored = await store.messages.append('lobby', 'alice', 'hello');
 * const latest = await store.messages.history('lobby'); // newest 50, oldest first
 * const older = await store.messages.history('lobby', { before: latest[0]?.id, limit: 50 });
 */

/** One message as stored. */
export interface StoredMessage {
  /** Assigned by the store; strictly increasing within a room (see {@link MessageStore.append}). */
  id: number;
  room: string;
  author: string;
  body: string;
  /** When the store accepted the message: ISO 8601 in UTC, e.g. `2025-01-31T09:15:00.123Z`. */
  insertedAt: string;
}

/** Options of {@link MessageStore.history}. */
export interface HistoryOptions {
  /** Only messages with an id below this one: pass the oldest id you hold to page backwards. */
  before?: number;
  /**
   * How many messages at most: {@link HISTORY_DEFAULT_LIMIT} when absent, capped at
   * {@link HISTORY_MAX_LIMIT}; a value below 1 counts as 1 and a fraction is rounded down.
   */
  limit?: number;
}

/**
 * Where the chat keeps each room's messages. The guarantees of `ChatStore` (`chat-store.ts`) hold for every
 * method; what each adds is written on it.
 */
export interface MessageStore {
  /**
   * Stores a message in `room` and resolves with it.
   *
   * - **Durable:** resolves only once the message survives the process being killed (SIGKILL) right
   *   after; a later instance on the same database will return it.
   * - **Ordered:** its id is greater than the id of every message of `room` whose `append` resolved
   *   before this call, and history never shows a message before an earlier-numbered one of the
   *   same room has become visible (no gaps appear behind a reader's `before` cursor).
   * - **Outcome unknown on outage:** if it rejects with `ERR_STORE_UNAVAILABLE` the message may or may
   *   not have been stored; the store does not retry, so it never stores a message twice.
   *
   * `room` is any string key — a room id or a topic like `lobby`; it need not be a created room.
   */
  append(room: string, author: string, body: string): Promise<StoredMessage>;

  /**
   * The newest `limit` messages of `room` with an id below `before` (or the newest overall),
   * returned oldest first, ordered by id. Successive pages with `before` set to the previous page's
   * first id cover the history without overlap or gap. An unknown room has an empty history.
   */
  history(room: string, options?: HistoryOptions): Promise<StoredMessage[]>;
}

/** Messages returned by `history` when no limit is given. */
export const HISTORY_DEFAULT_LIMIT = 50;

/** The most messages one `history` call returns. */
export const HISTORY_MAX_LIMIT = 200;

/** {@link HistoryOptions} resolved to the values a backend query takes. */
export interface HistoryQuery {
  /** A non-negative integer, or `null` when the newest messages are wanted. */
  before: number | null;
  /** An integer from 1 to {@link HISTORY_MAX_LIMIT}. */
  limit: number;
}

/** Resolves `history` options once, so every implementation applies the same defaults and caps. */
export function historyQuery(options: HistoryOptions = {}): HistoryQuery {
  const { before, limit } = options;
  return {
    // Integral so that a bigint column accepts it: `id < 10.5` selects what `id < 11` does.
    before: typeof before === 'number' && !Number.isNaN(before) && before <= Number.MAX_SAFE_INTEGER ? Math.max(0, Math.ceil(before)) : null,
    limit: typeof limit === 'number' && !Number.isNaN(limit) ? Math.min(HISTORY_MAX_LIMIT, Math.max(1, Math.floor(limit))) : HISTORY_DEFAULT_LIMIT,
  };
}
