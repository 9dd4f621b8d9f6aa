/**
 * Budgets: how many times a key (a user id, an IP address) may do something in a window, as a
 * token bucket that refills continuously. A budget lives in the process: with several nodes each
 * node grants its own budget, which bounds a client by (nodes × budget). Keys are forgotten once
 * their bucket is full again, so memory stays bounded by the keys active in one window.
 *
 * @example
 * const messages = new Budget(parseRate('30/60')); // 30 per minute, burst 30
 * if (!messages.take(userId)) return reply('error', { reason: 'slow down' });
 */

/** `count` actions per `seconds`, with a burst of `count`. */
export interface Rate {
  readonly count: number;
  readonly seconds: number;
}

/** Parses `"N/S"` (N actions per S seconds), e.g. `"30/60"`; throws naming `name` when malformed. */
export function parseRate(value: string, name = 'rate'): Rate {
  const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(value);
  const count = Number(match?.[1]);
  const seconds = Number(match?.[2]);
  if (match === null || count < 1 || seconds < 1)
    throw new Error(`${name} must look like "N/S": N actions per S seconds, both at least 1 (got ${JSON.stringify(value)})`);
  return { count, seconds };
}

interface Bucket {
  tokens: number;
  at: number;
}

/** Keys tracked before a sweep drops the ones whose bucket is full again. */
const SWEEP_AT = 10_000;

/** A token bucket per key. */
export class Budget {
  readonly rate: Rate;
  readonly #buckets = new Map<string, Bucket>();
  readonly #now: () => number;

  /** @param now the clock in milliseconds (for tests). Default `Date.now`. */
  constructor(rate: Rate, now: () => number = Date.now) {
    this.rate = rate;
    this.#now = now;
  }

  /** Spends one action of `key`'s budget: true when it was available, false when over budget. */
  take(key: string): boolean {
    const now = this.#now();
    const bucket = this.#refilled(key, now);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    if (this.#buckets.size > SWEEP_AT) this.#sweep(now);
    return true;
  }

  #refilled(key: string, now: number): Bucket {
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      bucket = { tokens: this.rate.count, at: now };
      this.#buckets.set(key, bucket);
      return bucket;
    }
    const perMs = this.rate.count / (this.rate.seconds * 1000);
    bucket.tokens = Math.min(this.rate.count, bucket.tokens + (now - bucket.at) * perMs);
    bucket.at = now;
    return bucket;
  }

  #sweep(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      const full = bucket.tokens + (now - bucket.at) * (this.rate.count / (this.rate.seconds * 1000)) >= this.rate.count;
      if (full) this.#buckets.delete(key);
    }
  }
}
