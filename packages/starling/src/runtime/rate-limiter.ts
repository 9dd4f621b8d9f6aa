/**
 * @module runtime/rate-limiter
 * Internal: the per-socket inbound rate limit, a token bucket. The bucket holds up to `burst`
 * tokens and refills at `messagesPerSecond`; each inbound message (heartbeats excepted — the
 * connection never asks for them) takes one token, and a message finding the bucket empty is
 * refused. Refusals less than {@link STREAK_GAP_MS} apart form a *streak*; a socket whose streak
 * has lasted `closeAfterMs` is over budget continuously and is to be closed.
 *
 * @example
 * const limiter = new RateLimiter(resolveRateLimit({ messagesPerSecond: 100, burst: 200 })!, performance.now());
 * limiter.admit(performance.now()); // 'admit' | 'refuse' | 'close'
 */

import type { RateLimitOptions } from '../rate-limit.ts';

/** A resolved rate limit. */
export type RateLimit = Readonly<Required<RateLimitOptions>>;

/** What {@link RateLimiter.admit} decides for one message. */
export const Admissions = {
  /** Within budget: handle the message. */
  admit: 'admit',
  /** Over budget: refuse it (reply `{reason: "rate limited"}`). */
  refuse: 'refuse',
  /** Over budget for `closeAfterMs`: refuse it and close the socket. */
  close: 'close',
} as const;

/** One of {@link Admissions}. */
export type Admission = (typeof Admissions)[keyof typeof Admissions];

/**
 * Two refusals further apart than this are separate streaks: a client that bursts once and then
 * slows down is never closed, while a flood refuses messages every few milliseconds.
 */
export const STREAK_GAP_MS = 1_000;

/**
 * The resolved limit of a mount option: defaults filled in; null for `false` (no limit).
 * @throws RangeError for a non-positive rate, a burst below 1 or a negative `closeAfterMs`
 */
export function resolveRateLimit(option: RateLimitOptions | false | undefined): RateLimit | null {
  if (option === false) return null;
  const limit = { messagesPerSecond: option?.messagesPerSecond ?? 100, burst: option?.burst ?? 200, closeAfterMs: option?.closeAfterMs ?? 5_000 };
  if (!(limit.messagesPerSecond > 0)) throw new RangeError('rateLimit.messagesPerSecond must be positive');
  if (!(limit.burst >= 1)) throw new RangeError('rateLimit.burst must be at least 1');
  if (!(limit.closeAfterMs >= 0)) throw new RangeError('rateLimit.closeAfterMs must not be negative');
  return limit;
}

/** The token bucket of one socket. Times are monotonic milliseconds (`performance.now()`). */
export class RateLimiter {
  #tokens: number;
  #updated: number;
  #streakStart = 0;
  #lastRefusal = Number.NEGATIVE_INFINITY;

  private readonly limit: RateLimit;
  constructor(limit: RateLimit, now: number) {
    this.limit = limit;
    this.#tokens = limit.burst;
    this.#updated = now;
  }

  /** Takes a token for one message arriving at `now`, or decides how to refuse it. */
  admit(now: number): Admission {
    const { messagesPerSecond, burst, closeAfterMs } = this.limit;
    this.#tokens = Math.min(burst, this.#tokens + ((now - this.#updated) * messagesPerSecond) / 1000);
    this.#updated = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return Admissions.admit;
    }
    if (now - this.#lastRefusal > STREAK_GAP_MS) this.#streakStart = now;
    this.#lastRefusal = now;
    return now - this.#streakStart >= closeAfterMs ? Admissions.close : Admissions.refuse;
  }
}
