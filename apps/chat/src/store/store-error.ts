/**
 * @module store-error
 * The one kind of fault every part of the `ChatStore` rejects with, and the rule for the text
 * it refuses. Every text argument of a store is untrusted user input: a store keeps it as an opaque
 * value and returns it exactly as given — it never escapes, trims, normalises or measures it (the
 * channel enforces length limits; the web page escapes on render). The one thing it refuses is text
 * it could not give back unchanged: see {@link StoreErrorCodes.invalidText}.
 *
 * @example
 * try {
 *   await store.messages.append('lobby', 'alice', 'hi');
 * } catch (err) {
 *   if (err instanceof StoreError && err.code === StoreErrorCodes.unavailable) retryLater();
 * }
 */

/** Stable codes of {@link StoreError}. */
export const StoreErrorCodes = {
  /** The backend cannot be reached or is overloaded right now; retrying later may succeed. */
  unavailable: 'ERR_STORE_UNAVAILABLE',
  /** The store was closed with `close()`. */
  closed: 'ERR_STORE_CLOSED',
  /** `addMember` or `createInvite` named a room that does not exist. */
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

/** The only kind of error a `ChatStore` rejects with; the backend's error is its `cause`. */
export class StoreError extends Error {
  readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'StoreError';
  }
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
