/**
 * Users and invitations as signed tokens (Phoenix.Token format): a user token carries a random
 * user id and when its session started; an invite token carries the id of a stored invite (which
 * has its own expiry, use limit and revocation). Both expire, and a session ends for good
 * `sessionMaxAge` after it started: renewing a token never extends it. A user may revoke every
 * session of theirs that started before now (a stolen token).
 *
 * A user is shown as `name#mark`: the name they chose and a mark derived from their user id, so
 * two users may pick the same name but no one can appear as someone else.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { TokenSigner } from 'starling-channels';
import { displayNameText } from './text.ts';

const USER_SALT = 'user socket';
const INVITE_SALT = 'room invite';

/** Token lifetimes in seconds. */
export interface TokenAges {
  readonly userTokenMaxAge: number;
  readonly inviteMaxAge: number;
  /** Absolute session lifetime: no token of a session is valid past its start plus this. */
  readonly sessionMaxAge: number;
}

/** Where revoked sessions are kept: the chat store's `UserStore`. */
export interface Revocations {
  /** Sessions of `userId` that started before this time (milliseconds since the epoch) are revoked; 0 for none. */
  sessionsRevokedBefore(userId: string): Promise<number>;
}

/** A verified user token. */
export interface Session {
  readonly userId: string;
  /** When the session started, in milliseconds since the epoch. */
  readonly since: number;
}

/** Characters of the mark: 36 bits, so matching someone's mark takes ~10^10 new identities. */
const MARK_LENGTH = 6;

/** The stable mark of a user, shown after their name: derived from the user id, which stays private. */
export function markOf(userId: string): string {
  return createHash('sha256').update(userId).digest('base64url').slice(0, MARK_LENGTH);
}

/**
 * How a user is shown to everyone: `name#mark`. The mark is what follows the last `#` (a name may
 * contain `#`; the page shows the mark in an element of its own). A name saved before format
 * characters were refused (see `text.ts`) is shown as `anonymous`, so no stored profile can
 * reorder the mark either.
 */
export function displayName(name: string, userId: string): string {
  return `${displayNameText(name, Infinity) ?? 'anonymous'}#${markOf(userId)}`;
}

/** Issues and checks the chat's tokens. */
export class Identity {
  private readonly tokens: TokenSigner;
  private readonly ages: TokenAges;
  private readonly revocations: Revocations;
  private readonly now: () => number;

  /** @param now the clock in milliseconds (for tests). Default `Date.now`. */
  constructor(tokens: TokenSigner, ages: TokenAges, revocations: Revocations, now: () => number = Date.now) {
    this.tokens = tokens;
    this.ages = ages;
    this.revocations = revocations;
    this.now = now;
  }

  /**
   * The session of a valid user token that has not been revoked, or null. Rejects when the
   * revocations cannot be read (a store outage): an unverifiable token is not accepted.
   */
  async verify(token: unknown): Promise<Session | null> {
    const session = this.sessionOf(token);
    if (session === null) return null;
    return session.since >= (await this.revocations.sessionsRevokedBefore(session.userId)) ? session : null;
  }

  /** Now, in milliseconds since the epoch: the time a revocation takes effect from. */
  nowMs(): number {
    return this.now();
  }

  /** A new user id and its token, starting a session. */
  newUser(): { userId: string; token: string } {
    return this.newSession(randomBytes(12).toString('base64url'));
  }

  /** A token of a new session of `userId` (after revoking the old ones). */
  newSession(userId: string): { userId: string; token: string } {
    return { userId, token: this.#sign({ userId, since: this.now() }) };
  }

  /** A fresh token of the same session, or null once the session's absolute lifetime is over. */
  renew(session: Session): string | null {
    return this.#remaining(session) > 0 ? this.#sign(session) : null;
  }

  /**
   * The session of a valid user token, or null (missing, tampered, expired, session over, wrong
   * salt). Does not look at revocations: {@link verify} does.
   */
  sessionOf(token: unknown): Session | null {
    const verified = this.tokens.verify(USER_SALT, token, { maxAge: this.ages.userTokenMaxAge, now: this.now() });
    if (!verified.ok) return null;
    const data = verified.data;
    // A token from before sessions had a start (data: the bare user id) starts its session now.
    let session: Session | null = typeof data === 'string' ? { userId: data, since: this.now() } : null;
    if (typeof data === 'object' && data !== null && !Array.isArray(data) && 'u' in data && 's' in data) {
      const { u, s } = data as { u: unknown; s: unknown };
      if (typeof u === 'string' && typeof s === 'number') session = { userId: u, since: s };
    }
    return session !== null && this.#remaining(session) > 0 ? session : null;
  }

  /** When an invite made now expires. */
  inviteExpiry(): Date {
    return new Date(this.now() + this.ages.inviteMaxAge * 1000);
  }

  /** An invite token for the stored invite `inviteId`. */
  inviteToken(inviteId: string): string {
    return this.tokens.sign(INVITE_SALT, inviteId, { maxAge: this.ages.inviteMaxAge, signedAt: Math.floor(this.now() / 1000) });
  }

  /** The invite id in a valid invite token, or null. */
  inviteOf(token: unknown): string | null {
    const verified = this.tokens.verify(INVITE_SALT, token, { maxAge: this.ages.inviteMaxAge, now: this.now() });
    return verified.ok && typeof verified.data === 'string' ? verified.data : null;
  }

  /** Seconds the session has left. */
  #remaining(session: Session): number {
    return Math.floor((session.since + this.ages.sessionMaxAge * 1000 - this.now()) / 1000);
  }

  #sign(session: Session): string {
    const now = Math.floor(this.now() / 1000);
    const maxAge = Math.min(this.ages.userTokenMaxAge, this.#remaining(session));
    return this.tokens.sign(USER_SALT, { u: session.userId, s: session.since }, { maxAge, signedAt: now });
  }
}
