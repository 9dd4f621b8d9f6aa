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
 * const mine = await store.messages.append('lobby', 'Ada#Xk3f9a', 'helo', { authorId: 'u1' });
 * await store.messages.edit('lobby', mine.id, 'u1', 'hello'); // the author only
 * await store.messages.remove('lobby', mine.id, 'u1'); // kept as a tombstone: `deleted`, empty body
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
  /**
   * The author's user id: who may edit or delete it. Null for a message appended without one
   * (stored before authors were kept by id): nobody may change it.
   */
  authorId: string | null;
  /** When its author last edited it (ISO 8601 in UTC), or null if never. */
  editedAt: string | null;
  /** Whether its author deleted it: it stays in the history as a tombstone, with an empty body and no mentions. */
  deleted: boolean;
  /** The user ids it mentions, in the order given to `append` (the latest edit's). */
  mentions: string[];
}

/** Options of {@link MessageStore.append}. */
export interface AppendOptions {
  /** The author's user id, checked by `edit` and `remove`. */
  authorId?: string;
  /** The user ids the message mentions. */
  mentions?: readonly string[];
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
  append(room: string, author: string, body: string, options?: AppendOptions): Promise<StoredMessage>;

  /**
   * Replaces the body (and mentions) of message `id` of `room` if `authorId` is its author and it
   * is not deleted, setting `editedAt`; resolves with the message as it now is, or null when there
   * is no such message of that author (another author's message is never changed). Atomic: the
   * author check and the write are one statement.
   */
  edit(room: string, id: number, authorId: string, body: string, mentions?: readonly string[]): Promise<StoredMessage | null>;

  /**
   * Deletes message `id` of `room` if `authorId` is its author: it becomes a tombstone (`deleted`,
   * empty body, no mentions) that keeps its id, author and time, so pages and replays show "message
   * deleted" where it was. Resolves with the tombstone, or null when there is no such message of
   * that author. Deleting twice resolves with the tombstone again.
   */
  remove(room: string, id: number, authorId: string): Promise<StoredMessage | null>;

  /**
   * The newest `limit` messages of `room` with an id below `before` (or the newest overall),
   * returned oldest first, ordered by id. Successive pages with `before` set to the previous page's
   * first id cover the history without overlap or gap. An unknown room has an empty history.
   * Messages come as they are now: edited text, deleted ones as tombstones.
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

/** The mentions column's text: a JSON array of user ids (one format on both backends). */
export function mentionsText(mentions: readonly string[] | undefined): string {
  return JSON.stringify(mentions ?? []);
}

/** Reads the mentions column back; anything but an array of strings counts as none. */
export function mentionsOf(text: string): string[] {
  try {
    const parsed: unknown = JSON.parse(text);
    return Array.isArray(parsed) ? parsed.filter((item): item is string => typeof item === 'string') : [];
  } catch {
    return [];
  }
}
