/**
 * @module runtime/clock
 * Internal: the real {@link Clock} (the contract is the public `clock.ts`) and timing helpers on
 * any clock. The broadcast fan-out reads no clock at all.
 */

import type { Clock } from '../clock.ts';

export type { Clock, ClockTimer } from '../clock.ts';

/** The real clock: `performance.now()` and Node's timers. */
export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout),
};

/** How a promise raced against a clock timer ended (see {@link settleWithin}). */
export type Settled<T> =
  { readonly kind: 'resolved'; readonly value: T } | { readonly kind: 'rejected'; readonly error: unknown } | { readonly kind: 'timeout' };

/** Races `promise` against a timer of `clock` (cleared when the promise wins); never rejects. */
export function settleWithin<T>(promise: Promise<T>, ms: number, clock: Clock): Promise<Settled<T>> {
  return new Promise((resolve) => {
    const timer = clock.setTimeout(() => resolve({ kind: 'timeout' }), ms);
    promise.then(
      (value) => {
        clock.clearTimeout(timer);
        resolve({ kind: 'resolved', value });
      },
      (error: unknown) => {
        clock.clearTimeout(timer);
        resolve({ kind: 'rejected', error });
      },
    );
  });
}
