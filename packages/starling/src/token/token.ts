/**
 * @module token/token
 * Phoenix.Token: signed, timestamped, URL-safe tokens, byte-compatible with Phoenix/Plug.Crypto, so a
 * token minted by an Elixir app verifies here and the other way round (docs/protocol.md §8).
 *
 * ```ts
 * const signer = new TokenSigner(secretKeyBase);
 * const token = signer.sign('user socket', user.id);          // embed in the page
 * const result = signer.verify('user socket', params.token, { maxAge: 86_400 });
 * if (result.ok) socket.assigns.userId = result.data;
 * ```
 *
 * A token is `"SFMyNTY." + b64url(payload) + "." + b64url(HMAC)`, the payload being the Erlang term
 * `{data, signed_at_ms, max_age_s}`. Tokens are signed, not encrypted: anyone can read `data`.
 * The salt namespaces tokens, so one minted for "user auth" never passes as a "user socket" token.
 *
 * Token strings come from clients: {@link verifyToken} never throws on them, it returns `invalid`.
 */
import { createHmac, pbkdf2Sync, timingSafeEqual } from 'node:crypto';
import { Tuple, atom, decodeTerm, encodeTerm, tuple } from './etf.ts';
import type { Atom, Term } from './etf.ts';
import type { StandardSchemaV1 } from '../standard-schema.ts';

/** HMAC / PBKDF2 digests Plug.Crypto supports. */
export type TokenDigest = 'sha256' | 'sha384' | 'sha512';

/** A max age in seconds, or `'infinity'` for a token that never expires. */
export type MaxAge = number | 'infinity';

/** Why a token was refused. */
export type TokenError = 'invalid' | 'expired' | 'missing';

/**
 * The outcome of {@link verifyToken}: a refusal is an expected result, not an exception. `data` is
 * typed `T` as the caller asked: checked when `verify` was given a `schema`, a promise otherwise.
 */
export type VerifyResult<T = Term> = { readonly ok: true; readonly data: T } | { readonly ok: false; readonly reason: TokenError };

/**
 * What a token may carry, checked against `T` itself: a {@link Term}'s scalars, and arrays and
 * object types — interfaces included, which have no index signature — made of such data.
 * Functions and `undefined` values are refused at compile time (objects are checked field by
 * field, not as a whole against `Term`, whose index signature would let a function field through).
 */
export type TokenData<T> = T extends (...args: never[]) => unknown
  ? never
  : T extends null | boolean | number | bigint | string | Atom | Tuple
    ? T
    : T extends object
      ? { [K in keyof T]: TokenData<T[K]> }
      : never;

/** Key derivation parameters (Plug.Crypto's `:key_iterations`, `:key_length`, `:key_digest`). */
export interface KeyOptions {
  /** PBKDF2 iterations. Default 1000. */
  keyIterations?: number | undefined;
  /** Derived key length in bytes. Default 32. */
  keyLength?: number | undefined;
  /** PBKDF2 digest. Default `'sha256'`. */
  keyDigest?: TokenDigest | undefined;
}

/** Options of {@link signToken}. */
export interface SignOptions extends KeyOptions {
  /** When the token was signed, in **seconds** since the epoch (stored in ms). Default: now. */
  signedAt?: number | undefined;
  /** Stored in the token; verify uses it unless given its own. Default 86,400 (one day). */
  maxAge?: MaxAge | undefined;
  /** HMAC digest: `'sha256'` writes `SFMyNTY` (HS256, Phoenix's choice), others HS384/HS512. */
  digest?: TokenDigest | undefined;
}

/** Options of {@link verifyToken}. */
export interface VerifyOptions extends KeyOptions {
  /** Overrides the max age stored in the token. `<= 0` means expired. */
  maxAge?: MaxAge | undefined;
  /** The current time in **milliseconds** (for tests). Default `Date.now()`. */
  now?: number | undefined;
}

/**
 * Options of a typed verify: with a Standard Schema (zod, valibot, …), the data is checked and
 * transformed by it; data it refuses makes the token `invalid`. The schema must validate
 * synchronously (verify is called in `connect` and `join` on every connection).
 */
export interface TypedVerifyOptions<T> extends VerifyOptions {
  schema?: StandardSchemaV1<unknown, T> | undefined;
}

const DEFAULT_MAX_AGE = 86_400;

/** The protected header is base64url of "HS256"/"HS384"/"HS512"; it fixes the HMAC digest. */
const HEADERS: Readonly<Record<TokenDigest, string>> = {
  sha256: 'SFMyNTY',
  sha384: 'SFMzODQ',
  sha512: 'SFM1MTI',
};
const DIGEST_OF_HEADER = new Map(Object.entries(HEADERS).map(([digest, header]) => [header, digest as TokenDigest]));

/**
 * Signs `data` into a token verifiable by {@link verifyToken} or by Elixir's `Phoenix.Token.verify`.
 * @param secretKeyBase the endpoint's secret (Phoenix's `secret_key_base`)
 * @param salt namespace of the token, e.g. `"user socket"`; verify must use the same
 * @param data any {@link Term}: strings, numbers, booleans, null, arrays, plain objects
 * @throws EtfError when `data` is not encodable; TypeError on invalid options
 */
export function signToken<T>(secretKeyBase: string, salt: string, data: T & TokenData<T>, opts: SignOptions = {}): string {
  if (opts.signedAt !== undefined && !Number.isFinite(opts.signedAt)) {
    throw new TypeError('signedAt must be a finite number of seconds');
  }
  // Seconds in, milliseconds stored (Plug.Crypto's trunc(signed_at * 1000)).
  const signedMs = opts.signedAt === undefined ? Date.now() : Math.trunc(opts.signedAt * 1000);
  const maxAge = opts.maxAge ?? DEFAULT_MAX_AGE;
  checkMaxAge(maxAge);
  const payload = encodeTerm(tuple(data as Term, signedMs, maxAge === 'infinity' ? atom('infinity') : maxAge));
  const digest = opts.digest ?? 'sha256';
  const signingInput = `${HEADERS[digest]}.${payload.toString('base64url')}`;
  const signature = createHmac(digest, deriveKey(secretKeyBase, salt, opts))
    .update(signingInput)
    .digest();
  return `${signingInput}.${signature.toString('base64url')}`;
}

/**
 * Verifies a token and returns its data, or why it was refused:
 * `missing` for null/undefined; `invalid` for a bad signature, a malformed token (any non-string
 * included), a wrong salt or a signing time in the future; `expired` when older than the max age.
 * With `opts.schema`, the data must also pass the schema (else `invalid`) and is its output.
 * @param token untrusted input, typically straight from connect params
 * @throws TypeError on invalid options, or a schema that validates asynchronously; never because of the token
 */
export function verifyToken<T = Term>(secretKeyBase: string, salt: string, token: unknown, opts: TypedVerifyOptions<T> = {}): VerifyResult<T> {
  if (opts.maxAge !== undefined) checkMaxAge(opts.maxAge);
  if (token === null || token === undefined) return refuse('missing');
  if (typeof token !== 'string') return refuse('invalid');

  const parts = token.split('.');
  if (parts.length !== 3) return refuse('invalid');
  const [header = '', payloadText = '', signatureText = ''] = parts;
  const digest = DIGEST_OF_HEADER.get(header);
  const payload = fromBase64Url(payloadText);
  const signature = fromBase64Url(signatureText);
  if (digest === undefined || payload === null || signature === null) return refuse('invalid');

  const expected = createHmac(digest, deriveKey(secretKeyBase, salt, opts))
    .update(`${header}.${payloadText}`)
    .digest();
  // Lengths of an HMAC are public; only the bytes need the constant-time comparison.
  if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) {
    return refuse('invalid');
  }
  const checked = checkPayload(payload, opts);
  if (!checked.ok || opts.schema === undefined) return checked as VerifyResult<T>;
  return validated(opts.schema, checked.data);
}

function validated<T>(schema: StandardSchemaV1<unknown, T>, data: Term): VerifyResult<T> {
  const result = schema['~standard'].validate(data);
  if (typeof (result as { then?: unknown }).then === 'function') {
    throw new TypeError('a token schema must validate synchronously');
  }
  const settled = result as StandardSchemaV1.Result<T>;
  return settled.issues === undefined ? { ok: true, data: settled.value } : refuse('invalid');
}

/**
 * Holds the secret key base and signs/verifies with it; the Endpoint owns one.
 *
 * ```ts
 * const tokens = new TokenSigner(process.env.SECRET_KEY_BASE!);
 * tokens.verify('user socket', token, { maxAge: 1209600 });
 * ```
 */
export class TokenSigner {
  // Private so the secret does not show up when the endpoint is logged or inspected.
  readonly #secretKeyBase: string;

  /** @throws TypeError when the secret is empty (every token would be forgeable). */
  constructor(secretKeyBase: string) {
    if (typeof secretKeyBase !== 'string' || secretKeyBase.length === 0) {
      throw new TypeError('secretKeyBase must be a non-empty string');
    }
    this.#secretKeyBase = secretKeyBase;
  }

  /** {@link signToken} with this signer's secret: `data` may be typed by any interface of token data. */
  sign<T>(salt: string, data: T & TokenData<T>, opts?: SignOptions): string {
    return signToken(this.#secretKeyBase, salt, data, opts);
  }

  /** {@link verifyToken} with this signer's secret; give a `schema` to check what `data` is. */
  verify<T = Term>(salt: string, token: unknown, opts?: TypedVerifyOptions<T>): VerifyResult<T> {
    return verifyToken(this.#secretKeyBase, salt, token, opts);
  }
}

/** Applies §8.1's time rules to an authentic payload; shapes other than Plug.Crypto's are invalid. */
function checkPayload(payload: Buffer, opts: VerifyOptions): VerifyResult {
  let term: Term;
  try {
    term = decodeTerm(payload);
  } catch {
    return refuse('invalid');
  }
  const parsed = parsePayload(term);
  if (parsed === null) return refuse('invalid');

  const now = opts.now ?? Date.now();
  // Plug.Crypto refuses tokens from the future: a node whose clock runs behind rejects fresh tokens.
  if (parsed.signedMs > now) return refuse('invalid');
  const maxAge = opts.maxAge ?? parsed.maxAge;
  if (maxAge !== 'infinity') {
    if (maxAge <= 0 || parsed.signedMs + Math.trunc(maxAge * 1000) < now) return refuse('expired');
  }
  return { ok: true, data: parsed.data };
}

interface Payload {
  data: Term;
  signedMs: number;
  maxAge: MaxAge;
}

/** `{data, signed_ms, max_age}`, or the legacy `{data, signed_ms}` and `%{data:, signed:}`. */
function parsePayload(term: Term): Payload | null {
  let data: Term | undefined;
  let signed: Term | undefined;
  let maxAge: Term | undefined = DEFAULT_MAX_AGE;
  if (term instanceof Tuple && (term.elements.length === 3 || term.elements.length === 2)) {
    [data, signed] = term.elements;
    if (term.elements.length === 3) maxAge = term.elements[2];
  } else if (isRecord(term) && Object.hasOwn(term, 'data') && Object.hasOwn(term, 'signed')) {
    ({ data, signed } = term);
  }
  if (data === undefined) return null;
  const signedMs = toFiniteNumber(signed);
  if (signedMs === null || !Number.isInteger(signedMs)) return null;
  if (maxAge === 'infinity') return { data, signedMs, maxAge };
  const maxAgeSeconds = toFiniteNumber(maxAge);
  return maxAgeSeconds === null ? null : { data, signedMs, maxAge: maxAgeSeconds };
}

function isRecord(term: Term): term is { readonly [key: string]: Term } {
  return typeof term === 'object' && term !== null && !Array.isArray(term) && !(term instanceof Tuple);
}

function toFiniteNumber(value: Term | undefined): number | null {
  const n = typeof value === 'bigint' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) ? n : null;
}

function checkMaxAge(maxAge: MaxAge): void {
  if (maxAge !== 'infinity' && !Number.isFinite(maxAge)) {
    // NaN would compare false against every time and never expire.
    throw new TypeError("maxAge must be a finite number of seconds or 'infinity'");
  }
}

function refuse(reason: TokenError): { readonly ok: false; readonly reason: TokenError } {
  return { ok: false, reason };
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/**
 * Strict unpadded base64url: Node's decoder skips stray characters and ignores the unused low bits
 * of the last character, which would let an altered token decode to the original bytes.
 */
function fromBase64Url(text: string): Buffer | null {
  if (!BASE64URL.test(text) || text.length % 4 === 1) return null;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : null;
}

/** Derived keys by (secret, salt, parameters): PBKDF2 is deliberately slow, tokens are verified often. */
const keyCache = new Map<string, Buffer>();
/** Salts come from code, so few entries are live; the bound only stops misuse from growing memory. */
const KEY_CACHE_LIMIT = 256;

function deriveKey(secretKeyBase: string, salt: string, opts: KeyOptions): Buffer {
  const iterations = opts.keyIterations ?? 1000;
  const length = opts.keyLength ?? 32;
  const digest = opts.keyDigest ?? 'sha256';
  const cacheKey = JSON.stringify([secretKeyBase, salt, iterations, length, digest]);
  let key = keyCache.get(cacheKey);
  if (key === undefined) {
    key = pbkdf2Sync(secretKeyBase, salt, iterations, length, digest);
    if (keyCache.size >= KEY_CACHE_LIMIT) {
      const oldest = keyCache.keys().next();
      if (oldest.done !== true) keyCache.delete(oldest.value);
    }
    keyCache.set(cacheKey, key);
  }
  return key;
}
