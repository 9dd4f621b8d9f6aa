/**
 * @module chat-store
 * The chat's persistence, one contract per concept: a {@link ChatStore} bundles the
 * {@link MessageStore} (each room's history), the {@link RoomStore} (rooms, their members and
 * invites), the {@link UserStore} (sessions and profiles) and the {@link ReadStore} (where each
 * user stopped reading each room) of one database, and closes them
 * together. Two implementations run the same conformance suite, one slice per part
 * (`test/store/*.suite.ts`): `SqliteChatStore` for a single node and `PostgresChatStore` for
 * several nodes sharing one database. Code that needs one concept takes that part only.
 *
 * @example
 * const store = await openChatStore({ databaseUrl: process.env.DATABASE_URL });
 * const room = await store.rooms.createRoom('alice', 'Book club');
 * await store.rooms.addMember(room.id, 'bob');
 * await store.messages.append(room.id, 'bob', 'hello');
 * const latest = await store.messages.history(room.id); // newest 50, oldest first
 * await store.users.setProfileName('bob', 'Bob');
 * await store.reads.markRead('bob', room.id, latest.at(-1)?.id ?? 0);
 * await store.close();
 */
import type { MessageStore } from './message-store.ts';
import type { ReadStore } from './read-store.ts';
import type { RoomStore } from './room-store.ts';
import type { UserStore } from './user-store.ts';

/**
 * The parts of the chat's store on one database.
 *
 * Guarantees shared by every method of every part, in every implementation:
 * - **Faults are coded.** Every rejection is a `StoreError` (`store-error.ts`); `ERR_STORE_UNAVAILABLE` means the
 *   backend cannot be reached right now and a later call may succeed on the same instance — a store
 *   recovers by itself and is never left unusable by an outage.
 * - **Text is kept exactly.** Any well-formed Unicode string (emoji, combining marks, right-to-left
 *   text, markup, the empty string) comes back byte for byte; text a backend cannot represent
 *   faithfully is refused with `ERR_STORE_INVALID_TEXT` rather than altered. A lookup by such text
 *   finds nothing.
 * - **Instances share state.** Several instances opened on the same database (other processes,
 *   other nodes) see each other's writes once the writing call has resolved.
 * - **Durable.** What a resolved call wrote is still there after the store is closed, or its
 *   process killed, and another one opened on the same database.
 */
export interface ChatStore {
  /** Each room's message history. */
  readonly messages: MessageStore;
  /** Rooms, their members and invites. */
  readonly rooms: RoomStore;
  /** Users' sessions and profiles. */
  readonly users: UserStore;
  /** Each user's last-read position per room, and the unread counts after it. */
  readonly reads: ReadStore;
  /**
   * Resolves once the backend answers a trivial query, for readiness checks; rejects with
   * `ERR_STORE_UNAVAILABLE` while it cannot be reached (and `ERR_STORE_CLOSED` after `close()`).
   */
  ping(): Promise<void>;
  /**
   * Waits for calls in flight to settle, then releases the backend (connections, file handles).
   * Idempotent; any call made after `close()`, on any part, rejects with `ERR_STORE_CLOSED`.
   */
  close(): Promise<void>;
}
