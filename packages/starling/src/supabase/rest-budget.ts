/**
 * @module supabase/rest-budget
 * Internal: the rate and byte budgets of the REST broadcast API. The anon key is public, so
 * anyone may call the API; each request costs one request and its body's bytes from two budgets,
 * its client address's (the forwarded one behind a trusted proxy) and its key's (the bearer
 * token's `sub`, else the API key: an anon key is shared by every anonymous caller, so its budget
 * bounds them all together). Each is a token bucket that refills continuously; a request either
 * budget cannot pay is refused — HTTP 429 with `Retry-After` — and costs nothing. The address is
 * charged before the key is even verified, so a flood costs one map lookup per request.
 *
 * @example
 * const budgets = new RestBudgets(resolveRestBudgets(options.restBudget, maxBodyBytes), realClock, stats);
 * const charge = budgets.charge(address, contentLength); // throws TooManyRequests
 * charge.key(keyId);
 * charge.body(body.length); // bodies without Content-Length are charged once read
 */
import type { Clock } from '../runtime/clock.ts';
import type { EndpointStats } from '../runtime/endpoint-stats.ts';
import { HttpError } from '../transport/http-body.ts';

/** A rate and byte budget of the REST broadcast API, for one client address or one key. */
export interface RestBudget {
  /** Requests per second, sustained. */
  requestsPerSecond?: number | undefined;
  /** Requests accepted at once after a quiet period (the bucket's size). Default 2 × `requestsPerSecond`. */
  requestBurst?: number | undefined;
  /** Body bytes per second, sustained. */
  bytesPerSecond?: number | undefined;
  /** Body bytes accepted at once; at least `maxBodyBytes`. Default 4 × `bytesPerSecond`, at least `maxBodyBytes`. */
  byteBurst?: number | undefined;
}

/** The REST API's budgets (`restBudget` of `createRealtime`); `false` turns one off. */
export interface RestBudgetOptions {
  /** Per client address. Default {@link DEFAULT_REST_BUDGETS}`.perAddress`. */
  perAddress?: RestBudget | false | undefined;
  /** Per key: the bearer token's `sub`, else the API key. Default {@link DEFAULT_REST_BUDGETS}`.perKey`. */
  perKey?: RestBudget | false | undefined;
}

/**
 * Defaults: one address sends at most 10 requests and 256 KiB a second (bursts of 20 and 1 MiB);
 * one key — all anonymous callers of an anon key together — 100 requests and 2 MiB a second.
 */
export const DEFAULT_REST_BUDGETS = {
  perAddress: { requestsPerSecond: 10, bytesPerSecond: 256 * 1024 },
  perKey: { requestsPerSecond: 100, bytesPerSecond: 2 * 1024 * 1024 },
} as const satisfies Record<string, RestBudget>;

/** A resolved budget. */
type Rate = Readonly<Required<RestBudget>>;

/** Which budget refused a request, as counted in `endpoint.stats.restBroadcastsRefused`. */
export type RestBudgetScope = 'address' | 'key';

/** HTTP 429 with the seconds after which the request would be paid for. */
export class TooManyRequests extends HttpError {
  readonly retryAfterSeconds: number;
  constructor(scope: RestBudgetScope, retryAfterSeconds: number) {
    super(429, `rate limited: this ${scope === 'address' ? 'address' : 'key'} is over its REST broadcast budget; retry after ${retryAfterSeconds} s`);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

function resolve(option: RestBudget | false | undefined, defaults: RestBudget, maxBodyBytes: number, name: string): Rate | null {
  if (option === false) return null;
  const requestsPerSecond = option?.requestsPerSecond ?? defaults.requestsPerSecond!;
  const bytesPerSecond = option?.bytesPerSecond ?? defaults.bytesPerSecond!;
  const rate = {
    requestsPerSecond,
    requestBurst: option?.requestBurst ?? 2 * requestsPerSecond,
    bytesPerSecond,
    byteBurst: option?.byteBurst ?? Math.max(4 * bytesPerSecond, maxBodyBytes),
  };
  if (!(rate.requestsPerSecond > 0) || !(rate.bytesPerSecond > 0)) throw new RangeError(`restBudget.${name}: rates must be positive`);
  if (!(rate.requestBurst >= 1)) throw new RangeError(`restBudget.${name}.requestBurst must be at least 1`);
  // A body the API accepts must fit in an empty bucket, or it would be refused for ever.
  if (!(rate.byteBurst >= maxBodyBytes)) throw new RangeError(`restBudget.${name}.byteBurst must be at least maxBodyBytes (${maxBodyBytes})`);
  return rate;
}

/** The resolved budgets of {@link RestBudgetOptions}; throws a RangeError naming a bad value. */
export function resolveRestBudgets(options: RestBudgetOptions | undefined, maxBodyBytes: number): Record<RestBudgetScope, Rate | null> {
  return {
    address: resolve(options?.perAddress, DEFAULT_REST_BUDGETS.perAddress, maxBodyBytes, 'perAddress'),
    key: resolve(options?.perKey, DEFAULT_REST_BUDGETS.perKey, maxBodyBytes, 'perKey'),
  };
}

interface Bucket {
  requests: number;
  bytes: number;
  at: number;
}

/** Keys tracked before a sweep forgets the ones whose buckets are full again. */
const SWEEP_AT = 10_000;

/** Token buckets of requests and bytes, per key, at one {@link Rate}. */
class Buckets {
  readonly #rate: Rate;
  readonly #clock: Clock;
  readonly #buckets = new Map<string, Bucket>();

  constructor(rate: Rate, clock: Clock) {
    this.#rate = rate;
    this.#clock = clock;
  }

  /** Takes `requests` and `bytes` from `key`'s buckets; returns 0, or the seconds until it could. */
  take(key: string, requests: number, bytes: number): number {
    const now = this.#clock.now();
    const bucket = this.#refilled(key, now);
    const { requestsPerSecond, bytesPerSecond } = this.#rate;
    const wait = Math.max((requests - bucket.requests) / requestsPerSecond, (bytes - bucket.bytes) / bytesPerSecond);
    if (wait > 0) return Math.max(1, Math.ceil(wait));
    bucket.requests -= requests;
    bucket.bytes -= bytes;
    if (this.#buckets.size > SWEEP_AT) this.#sweep(now);
    return 0;
  }

  #refilled(key: string, now: number): Bucket {
    const { requestsPerSecond, requestBurst, bytesPerSecond, byteBurst } = this.#rate;
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      bucket = { requests: requestBurst, bytes: byteBurst, at: now };
      this.#buckets.set(key, bucket);
      return bucket;
    }
    const seconds = (now - bucket.at) / 1000;
    bucket.requests = Math.min(requestBurst, bucket.requests + seconds * requestsPerSecond);
    bucket.bytes = Math.min(byteBurst, bucket.bytes + seconds * bytesPerSecond);
    bucket.at = now;
    return bucket;
  }

  #sweep(now: number): void {
    for (const [key] of this.#buckets) {
      const bucket = this.#refilled(key, now);
      if (bucket.requests >= this.#rate.requestBurst && bucket.bytes >= this.#rate.byteBurst) this.#buckets.delete(key);
    }
  }
}

/** What one request still owes once its key is known and (without `Content-Length`) its body read. */
export interface RestCharge {
  /** Charges the key's budget; throws {@link TooManyRequests}. */
  key(id: string): void;
  /** Charges a body whose length was not declared, to the address and the key; throws {@link TooManyRequests}. */
  body(bytes: number): void;
}

/** The REST API's budgets. */
export class RestBudgets {
  readonly #address: Buckets | null;
  readonly #key: Buckets | null;
  readonly #maxBodyBytes: number;
  readonly #stats: EndpointStats;

  constructor(rates: Record<RestBudgetScope, Rate | null>, maxBodyBytes: number, clock: Clock, stats: EndpointStats) {
    this.#address = rates.address === null ? null : new Buckets(rates.address, clock);
    this.#key = rates.key === null ? null : new Buckets(rates.key, clock);
    this.#maxBodyBytes = maxBodyBytes;
    this.#stats = stats;
  }

  /**
   * Charges one request from `address` declaring `declaredBytes` (null without `Content-Length`).
   * @throws TooManyRequests when the address's budget cannot pay
   */
  charge(address: string, declaredBytes: number | null): RestCharge {
    // A body over maxBodyBytes is answered 413 by the read, not 429 for ever.
    const bytes = declaredBytes === null || declaredBytes > this.#maxBodyBytes ? 0 : declaredBytes;
    this.#take('address', address, 1, bytes);
    let keyId: string | null = null;
    return {
      key: (id) => {
        keyId = id;
        this.#take('key', id, 1, bytes);
      },
      body: (read) => {
        if (declaredBytes !== null) return;
        this.#take('address', address, 0, read);
        if (keyId !== null) this.#take('key', keyId, 0, read);
      },
    };
  }

  #take(scope: RestBudgetScope, id: string, requests: number, bytes: number): void {
    const buckets = scope === 'address' ? this.#address : this.#key;
    const wait = buckets === null ? 0 : buckets.take(id, requests, bytes);
    if (wait === 0) return;
    this.#stats.restBroadcastsRefused[scope]++;
    throw new TooManyRequests(scope, wait);
  }
}
