/**
 * @module user-store
 * What the chat keeps about a user besides their messages and rooms: when their sessions were
 * revoked (a stolen token is cut off by revoking every session that started before now) and their
 * profile's display name. The user id is the random id of the user's token (see `identity.ts`).
 *
 * @example
 * await store.users.revokeSessions(userId, Date.now());
 * const before = await store.users.sessionsRevokedBefore(userId); // tokens issued earlier are refused
 * await store.users.setProfileName(userId, 'Ada');
 */

/**
 * Users' session revocations and profiles. The guarantees of `ChatStore` (`chat-store.ts`) hold for every
 * method; what each adds is written on it.
 */
export interface UserStore {
  /**
   * Ends every session of `userId` that started before `before` (milliseconds since the epoch; a
   * fraction is rounded down). Only moves forward: a later call with an earlier time changes
   * nothing, so concurrent revocations on several nodes keep the latest.
   */
  revokeSessions(userId: string, before: number): Promise<void>;

  /** The time before which `userId`'s sessions are revoked (milliseconds since the epoch), or 0 if never. */
  sessionsRevokedBefore(userId: string): Promise<number>;

  /** Sets the display name of `userId`'s profile (replacing any). */
  setProfileName(userId: string, name: string): Promise<void>;

  /** The display name of `userId`'s profile, or null if they never set one. */
  profileName(userId: string): Promise<string | null>;
}
