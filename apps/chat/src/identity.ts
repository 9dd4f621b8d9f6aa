/**
 * Users and invitations as signed tokens (Phoenix.Token format): a user token carries a random
 * user id; an invite token carries a private room's id. Both expire.
 */
import { randomBytes } from 'node:crypto';
import type { TokenSigner } from 'starling';

const USER_SALT = 'user socket';
const INVITE_SALT = 'room invite';

/** Token lifetimes in seconds. */
export interface TokenAges {
  readonly userTokenMaxAge: number;
  readonly inviteMaxAge: number;
}

/** Issues and checks the chat's tokens. */
export class Identity {
  private readonly tokens: TokenSigner;
  private readonly ages: TokenAges;
  constructor(tokens: TokenSigner, ages: TokenAges) {
    this.tokens = tokens;
    this.ages = ages;
  }

  /** A new user id and its token. */
  newUser(): { userId: string; token: string } {
    const userId = randomBytes(12).toString('base64url');
    return { userId, token: this.userToken(userId) };
  }

  /** A fresh token for `userId`. */
  userToken(userId: string): string {
    return this.tokens.sign(USER_SALT, userId, { maxAge: this.ages.userTokenMaxAge });
  }

  /** The user id in a valid user token, or null (missing, tampered, expired, wrong salt). */
  userOf(token: unknown): string | null {
    const verified = this.tokens.verify(USER_SALT, token, { maxAge: this.ages.userTokenMaxAge });
    return verified.ok && typeof verified.data === 'string' ? verified.data : null;
  }

  /** An invite token for `roomId`. */
  inviteToken(roomId: string): string {
    return this.tokens.sign(INVITE_SALT, roomId, { maxAge: this.ages.inviteMaxAge });
  }

  /** The room id in a valid invite token, or null. */
  roomOfInvite(token: unknown): string | null {
    const verified = this.tokens.verify(INVITE_SALT, token, { maxAge: this.ages.inviteMaxAge });
    return verified.ok && typeof verified.data === 'string' ? verified.data : null;
  }
}
