/**
 * @module rate-limit
 * The per-socket inbound rate limit's options (`rateLimit` of the socket mount options): a token
 * bucket per socket; heartbeats are never limited. The bucket itself is internal
 * (`runtime/rate-limiter.ts`).
 *
 * @example
 * import { Endpoint, type RateLimitOptions } from 'starling-channels';
 *
 * const rateLimit: RateLimitOptions = { messagesPerSecond: 20, burst: 40, closeAfterMs: 10_000 };
 * new Endpoint().socket('/socket', userSocket, { rateLimit });
 */

/** Options of the per-socket inbound rate limit (`rateLimit` of the socket mount options). */
export interface RateLimitOptions {
  /** Sustained messages per second. Default 100. */
  messagesPerSecond?: number | undefined;
  /** Messages accepted at once after a quiet period (the bucket's size). Default 200. */
  burst?: number | undefined;
  /** Close the socket once it has been refused messages continuously for this long. Default 5,000 ms; `Infinity`: never. */
  closeAfterMs?: number | undefined;
}
