/**
 * @module message-store
 * The chat's persistence contract: a {@link MessageStore} keeps each room's message history and
 * the rooms with their members. Two implementations run the same conformance suite
 * (`test/conformance/message-store/`): `SqliteMessageStore` for a single node and
 * `PostgresMessageStore` for several nodes sharing one database.
 *
 * Every text argument is untrusted user input. A store keeps it as an opaque value and returns it
 * exactly as given — it never escapes, trims, normalises or measures it (the channel enforces
 * length limits; the web page escapes on render). The one thing it refuses is text it could not
 * give back unchanged: see {@link StoreErrorCodes.invalidText}.
 *
 * @example
 * const store = await openMessageStore({ databaseUrl: process.env.DATABASE_URL });
 * const room = await store.createRoom('alice', 'Book club');
 * await store.addMember(room.id, 'bob');
 * await store.append(room.id, 'bob', 'hello');
 * const latest = await store.history(room.id); // newest 50, oldest first
 * const older = await store.history(room.id, { before: latest[0]?.id, limit: 50 });
 * await store.close();
 */
import { randomBytes } from 'node:crypto';

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

/** A room created by a user. */
export interface Room {
  /** Random and unguessable: 16 URL-safe characters (96 random bits, base64url). */
  id: string;
  name: string;
  ownerId: string;
  /** ISO 8601 in UTC. */
  createdAt: string;
}

/** A link that makes whoever redeems it a member of a room, a limited number of times until it expires. */
export interface Invite {
  /** Random and unguessable, like a room id. */
  id: string;
  roomId: string;
  /** The user who created it: the only one who may revoke it. */
  createdBy: string;
  /** How many users may redeem it. */
  maxUses: number;
  /** How many have. */
  uses: number;
  /** ISO 8601 in UTC; redeeming fails from then on. */
  expiresAt: string;
  revoked: boolean;
}

/** A member of a room, with their profile's display name. */
export interface Member {
  userId: string;
  /** The profile's name, or null if they never set one. */
  name: string | null;
}

/** Options of {@link MessageStore.createInvite}. */
export interface InviteOptions {
  /** At least 1. */
  maxUses: number;
  expiresAt: Date;
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
 * Where the chat keeps messages, rooms and memberships.
 *
 * Guarantees shared by every method and implementation:
 * - **Faults are coded.** Every rejection is a {@link StoreError}; `ERR_STORE_UNAVAILABLE` means the
 *   backend cannot be reached right now and a later call may succeed on the same instance — a store
 *   recovers by itself and is never left unusable by an outage.
 * - **Text is kept exactly.** Any well-formed Unicode string (emoji, combining marks, right-to-left
 *   text, markup, the empty string) comes back byte for byte; text a backend cannot represent
 *   faithfully is refused with `ERR_STORE_INVALID_TEXT` rather than altered.
 * - **Instances share state.** Several instances opened on the same database (other processes,
 *   other nodes) see each other's writes once the writing call has resolved.
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
   * `room` is any string key — a {@link Room} id or a topic like `lobby`; it need not be a created room.
   */
  append(room: string, author: string, body: string): Promise<StoredMessage>;

  /**
   * The newest `limit` messages of `room` with an id below `before` (or the newest overall),
   * returned oldest first, ordered by id. Successive pages with `before` set to the previous page's
   * first id cover the history without overlap or gap. An unknown room has an empty history.
   */
  history(room: string, options?: HistoryOptions): Promise<StoredMessage[]>;

  /** Creates a room with a fresh random id; the owner is a member from the start. */
  createRoom(ownerId: string, name: string): Promise<Room>;

  /** The room with this id, or `null` if there is none. */
  getRoom(id: string): Promise<Room | null>;

  /**
   * Makes `userId` a member of the room. Idempotent: adding a member again changes nothing.
   * Rejects with `ERR_STORE_UNKNOWN_ROOM` if the room does not exist.
   */
  addMember(roomId: string, userId: string): Promise<void>;

  /** Whether `userId` is a member of the room; `false` for an unknown room. */
  isMember(roomId: string, userId: string): Promise<boolean>;

  /** The rooms `userId` is a member of, oldest first (in the order they were created). */
  roomsOf(userId: string): Promise<Room[]>;

  /** The members of a room (the owner included), ordered by user id; empty for an unknown room. */
  membersOf(roomId: string): Promise<Member[]>;

  /** Ends `userId`'s membership; resolves with whether they were a member. The owner cannot be removed (false). */
  removeMember(roomId: string, userId: string): Promise<boolean>;

  /** Creates an invite to the room. Rejects with `ERR_STORE_UNKNOWN_ROOM` if the room does not exist. */
  createInvite(roomId: string, createdBy: string, options: InviteOptions): Promise<Invite>;

  /**
   * Makes `userId` a member through the invite and resolves with the room, or with null when the
   * invite is unknown, revoked, expired (at `now`) or used up. A member redeeming it again gets the
   * room without spending a use. Uses are counted atomically: concurrent redeemers never exceed `maxUses`.
   */
  redeemInvite(inviteId: string, userId: string, now?: Date): Promise<Room | null>;

  /** Revokes an invite on behalf of `userId`; resolves with false unless they created it. */
  revokeInvite(inviteId: string, userId: string): Promise<boolean>;

  /**
   * Ends every session of `userId` that started before `before` (milliseconds since the epoch): a later
   * call with an earlier time changes nothing.
   */
  revokeSessions(userId: string, before: number): Promise<void>;

  /** The time before which `userId`'s sessions are revoked (milliseconds since the epoch), or 0. */
  sessionsRevokedBefore(userId: string): Promise<number>;

  /** Sets the display name of `userId`'s profile (replacing any). */
  setProfileName(userId: string, name: string): Promise<void>;

  /** The display name of `userId`'s profile, or null if they never set one. */
  profileName(userId: string): Promise<string | null>;

  /**
   * Waits for calls in flight to settle, then releases the backend (connections, file handles).
   * Idempotent; any call made after `close()` rejects with `ERR_STORE_CLOSED`.
   */
  close(): Promise<void>;
}

/** Stable codes of {@link StoreError}. */
export const StoreErrorCodes = {
  /** The backend cannot be reached or is overloaded right now; retrying later may succeed. */
  unavailable: 'ERR_STORE_UNAVAILABLE',
  /** The store was closed with `close()`. */
  closed: 'ERR_STORE_CLOSED',
  /** `addMember` named a room that does not exist. */
  unknownRoom: 'ERR_STORE_UNKNOWN_ROOM',
  /**
   * Text that no backend could return unchanged: it contains U+0000 (PostgreSQL `text` cannot hold
   * it) or a lone UTF-16 surrogate (not Unicode; encoding to UTF-8 would replace it with U+FFFD).
   */
  invalidText: 'ERR_STORE_INVALID_TEXT',
  /** Any other backend fault (corrupt file, permission denied, unexpected schema); see `cause`. */
  failed: 'ERR_STORE_FAILED',
} as const;

/** One of {@link StoreErrorCodes}. */
export type StoreErrorCode = (typeof StoreErrorCodes)[keyof typeof StoreErrorCodes];

/** The only kind of error a {@link MessageStore} rejects with; the backend's error is its `cause`. */
export class StoreError extends Error {
  readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'StoreError';
  }
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

// A lone surrogate is a "Cs" code point under the `u` flag; a valid pair is one astral code point.
// eslint-disable-next-line no-control-regex -- NUL is exactly what PostgreSQL cannot store
const UNSTORABLE = /[\u0000\p{Cs}]/u;

/**
 * Whether every backend returns `value` unchanged (see {@link StoreErrorCodes.invalidText}). A
 * lookup by a key that fails this cannot match anything stored, and must not be sent as is: the
 * drivers would encode a lone surrogate as U+FFFD and match a different key.
 */
export function isStorableText(value: string): boolean {
  return !UNSTORABLE.test(value);
}

/** Throws `ERR_STORE_INVALID_TEXT` naming the first field that fails {@link isStorableText}. */
export function assertStorableText(fields: Record<string, string>): void {
  for (const [field, value] of Object.entries(fields)) {
    if (!isStorableText(value)) {
      throw new StoreError(StoreErrorCodes.invalidText, `${field} contains U+0000 or a lone surrogate`);
    }
  }
}

/** A fresh {@link Room.id} or {@link Invite.id}: 12 random bytes as 16 base64url characters. */
export function newRoomId(): string {
  return randomBytes(12).toString('base64url');
}
