/**
 * @module supabase/auth
 * Internal: API keys and access tokens are JWTs, checked with `jose` — HS256 against the
 * configured secret, or any algorithm a JWKS publishes — with `exp` (and `nbf`) honoured. A token
 * that fails is a reason string, never an exception: a refused join or connect is a normal outcome.
 */
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';

/** The claims of a verified token (`role`, `sub`, `exp`, … as the issuer set them). */
export type JwtClaims = JWTPayload & { readonly role?: unknown };

/** How tokens are verified: an HS256 secret, a JWKS URL, or both (either may verify). */
export interface JwtVerification {
  /** The HS256 secret (Supabase's "JWT secret"). */
  readonly jwtSecret?: string | undefined;
  /** A JWKS endpoint for asymmetric keys (e.g. `https://<project>.supabase.co/auth/v1/.well-known/jwks.json`). */
  readonly jwksUrl?: string | URL | undefined;
}

/** The outcome of verifying a token. */
export type Verified = { readonly ok: true; readonly claims: JwtClaims } | { readonly ok: false; readonly reason: string };

/** A verifier for `options`; throws at once when neither a secret nor a JWKS is given. */
export function createVerifier(options: JwtVerification): (token: unknown) => Promise<Verified> {
  const secret = options.jwtSecret === undefined ? null : new TextEncoder().encode(options.jwtSecret);
  const jwks = options.jwksUrl === undefined ? null : createRemoteJWKSet(new URL(options.jwksUrl));
  if (secret === null && jwks === null) throw new TypeError('a jwtSecret or a jwksUrl is required to verify API keys and access tokens');
  return async (token) => {
    if (typeof token !== 'string' || token === '') return { ok: false, reason: 'missing token' };
    let last = 'invalid token';
    for (const key of [secret, jwks]) {
      if (key === null) continue;
      try {
        const { payload } = typeof key === 'function' ? await jwtVerify(token, key) : await jwtVerify(token, key, { algorithms: ['HS256'] });
        return { ok: true, claims: payload };
      } catch (err) {
        last = (err as { code?: unknown }).code === 'ERR_JWT_EXPIRED' ? 'token expired' : 'invalid token';
      }
    }
    return { ok: false, reason: last };
  };
}

/** Milliseconds until the token of `claims` expires (`Infinity` without `exp`). */
export function msUntilExpiry(claims: JwtClaims, now = Date.now()): number {
  return typeof claims.exp === 'number' ? claims.exp * 1000 - now : Number.POSITIVE_INFINITY;
}
