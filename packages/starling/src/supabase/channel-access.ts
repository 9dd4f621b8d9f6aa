/**
 * @module supabase/channel-access
 * Internal: the question a private channel asks — may these claims read or write this topic, per
 * extension (`broadcast`, `presence`)? — and its two answerers: the app's `authorize` function,
 * or the row-level-security policies on `realtime.messages` (supabase/channel-policies).
 *
 * A channel asks `read` for both extensions at join, and is admitted when either is allowed; it
 * then receives only what it may read. It asks `write` for one extension at its first broadcast or
 * track, and asks everything again at every `access_token` refresh.
 */
import type { JwtClaims } from './auth.ts';
import type { Extension, Permissions } from './channel-policies.ts';

export type { Extension, Permissions };

/** What `authorize` is asked: may the token's holder read (join) or write (broadcast, track) `topic`? */
export interface AuthorizationRequest {
  /** The topic without its `realtime:` prefix, as the client named the channel. */
  readonly topic: string;
  readonly claims: JwtClaims;
  readonly access: 'read' | 'write';
  /**
   * Which of the channel's messages: `broadcast` or `presence` (the `extension` column of
   * Supabase's `realtime.messages`). A join asks `read` of both and is admitted when either is
   * allowed; it then receives only the messages it may read.
   */
  readonly extension: Extension;
}

/** The app's policy for private channels (the role Supabase gives to row-level-security policies). */
export type Authorize = (request: AuthorizationRequest) => boolean | Promise<boolean>;

/**
 * Answers an access question for each of `extensions`.
 * @throws (rejects) when the answer cannot be had (a policy that raises, an unreachable database)
 */
export type AccessCheck = (topic: string, claims: JwtClaims, access: 'read' | 'write', extensions: readonly Extension[]) => Promise<Permissions>;

/** The extensions of a channel, in the order checks ask them. */
export const EXTENSIONS: readonly Extension[] = ['broadcast', 'presence'];

/** An {@link AccessCheck} that asks the app's `authorize`, once per extension. */
export function accessByHook(authorize: Authorize): AccessCheck {
  return async (topic, claims, access, extensions) => {
    const answers = await Promise.all(extensions.map(async (extension) => authorize({ topic, claims, access, extension })));
    const permissions: Partial<Record<Extension, boolean>> = {};
    extensions.forEach((extension, i) => (permissions[extension] = answers[i] === true));
    return permissions;
  };
}
