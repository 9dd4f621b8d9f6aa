/**
 * @module read-store
 * Where each user stopped reading each room: a {@link ReadStore} keeps the id of the last message
 * a user has seen per room (their last-read position) and counts what came after it. It lives on
 * the server so that every device of a user shows the same unread counts, and a reload finds them
 * as they were.
 *
 * @example
 * await store.reads.markRead('u1', 'lobby', 42);
 * const [lobby] = await store.reads.unread('u1', ['lobby']); // {room: 'lobby', lastRead: 42, count: 3, mentions: 1}
 */

/** A user's unread state in one room. */
export interface UnreadCount {
  room: string;
  /** The id of the last message the user has read, 0 if they never read the room. */
  lastRead: number;
  /**
   * Messages after `lastRead` that others wrote and that are not deleted, counted up to
   * {@link UNREAD_COUNT_CAP} (a count that reaches it means "at least that many").
   */
  count: number;
  /** How many of those mention the user (see `StoredMessage.mentions`), within the same cap. */
  mentions: number;
}

/** Where counting stops: a page shows "99+" rather than making the store count a long history. */
export const UNREAD_COUNT_CAP = 100;

/**
 * Users' last-read positions. The guarantees of `ChatStore` (`chat-store.ts`) hold for every method;
 * what each adds is written on it.
 */
export interface ReadStore {
  /**
   * Moves `userId`'s last-read position in `room` to `messageId` (a fraction is rounded down).
   * Only moves forward: an earlier id changes nothing, so two devices reporting out of order keep
   * the furthest. The id need not be a message of the room (the store does not check).
   */
  markRead(userId: string, room: string, messageId: number): Promise<void>;

  /**
   * The unread state of `userId` in each of `rooms`, in the order given (duplicates answered
   * once each time they appear). Messages the user wrote are never unread to them; messages
   * without an author id (see `StoredMessage.authorId`) count as others'.
   */
  unread(userId: string, rooms: readonly string[]): Promise<UnreadCount[]>;
}
