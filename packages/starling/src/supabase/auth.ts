/**
 * @module supabase/auth
 * Internal: API keys and access tokens are JWTs, checked with `jose` — HS256 against the
 * configured secret, or any algorithm a JWKS publishes — with `exp` (and `nbf`) honoured. As in
 * Supabase Realtime, a token must carry `exp` and `role`: a token that never expires, or one that
 * names no role, is refused. A token that fails is a reason string, never an exception: a refused
 * join or connect is a normal outcome.
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
  /** When set, a token's `iss` must be this (or one of these). */
  readonly issuer?: string | readonly string[] | undefined;
  /** When set, a token's `aud` must name this (or one of these), e.g. Supabase's `authenticated`. */
  readonly audience?: string | readonly string[] | undefined;
}

/**
 * The shortest HS256 secret accepted, in bytes: RFC 7518 §3.2 asks for a key at least as long as
 * the hash (256 bits). A shorter one can be guessed offline from any public key it signed (the
 * anon key is public by design), which would let anyone forge `role: authenticated`.
 */
export const MIN_JWT_SECRET_BYTES = 32;

/** Why a token without them is refused: Supabase Realtime's own words. */
const REQUIRED_CLAIMS = 'Fields `role` and `exp` are required in JWT';

/** The outcome of verifying a token. */
export type Verified = { readonly ok: true; readonly claims: JwtClaims } | { readonly ok: false; readonly reason: string };

/**
 * A verifier for `options`.
 * @throws TypeError when neither a secret nor a JWKS is given, or the secret is shorter than {@link MIN_JWT_SECRET_BYTES}
 */
export function createVerifier(options: JwtVerification): (token: unknown) => Promise<Verified> {
  const secret = options.jwtSecret === undefined ? null : new TextEncoder().encode(options.jwtSecret);
  const jwks = options.jwksUrl === undefined ? null : createRemoteJWKSet(new URL(options.jwksUrl));
  if (secret === null && jwks === null) throw new TypeError('a jwtSecret or a jwksUrl is required to verify API keys and access tokens');
  if (secret !== null && secret.byteLength < MIN_JWT_SECRET_BYTES) {
    throw new TypeError(
      `the JWT secret must be at least ${MIN_JWT_SECRET_BYTES} bytes (it has ${secret.byteLength}): a shorter one can be guessed from any key it signed`,
    );
  }
  const claimChecks = { issuer: copy(options.issuer), audience: copy(options.audience) };
  return async (token) => {
    if (typeof token !== 'string' || token === '') return { ok: false, reason: 'missing token' };
    let last = 'invalid token';
    for (const key of [secret, jwks]) {
      if (key === null) continue;
      try {
        const { payload } =
          typeof key === 'function' ? await jwtVerify(token, key, claimChecks) : await jwtVerify(token, key, { ...claimChecks, algorithms: ['HS256'] });
        if (typeof payload.exp !== 'number' || typeof payload.role !== 'string' || payload.role === '') return { ok: false, reason: REQUIRED_CLAIMS };
        return { ok: true, claims: payload };
      } catch (err) {
        last = reasonOf(err);
      }
    }
    return { ok: false, reason: last };
  };
}

function copy(value: string | readonly string[] | undefined): string | string[] | undefined {
  return typeof value === 'string' || value === undefined ? value : [...value];
}

function reasonOf(err: unknown): string {
  const { code, claim } = err as { code?: unknown; claim?: unknown };
  if (code === 'ERR_JWT_EXPIRED') return 'token expired';
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && (claim === 'iss' || claim === 'aud')) return `token ${claim} not accepted`;
  return 'invalid token';
}

/** Milliseconds until the token of `claims` expires (`Infinity` without `exp`, which verification refuses). */
export function msUntilExpiry(claims: JwtClaims, now = Date.now()): number {
  return typeof claims.exp === 'number' ? claims.exp * 1000 - now : Number.POSITIVE_INFINITY;
}
