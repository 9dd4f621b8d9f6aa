/**
 * @module clock
 * The time source of the runtime, as a contract: the rate limiter, join timeouts, delayed
 * `sendInfo` and the idle sweep read a {@link Clock} (the endpoint's: the real one) instead of
 * `performance.now()` and `setTimeout`, so that `starling-channels/testing` can move time forward
 * with its `ManualClock` instead of sleeping.
 *
 * @example
 * import { ManualClock } from 'starling-channels/testing';
 *
 * const clock = new ManualClock();
 * clock.setTimeout(() => console.log('due'), 5_000);
 * await clock.advance(5_000); // logs "due": no sleeping
 */

/** A timer started by {@link Clock.setTimeout}; only its clock can cancel it. */
export interface ClockTimer {
  /** Present on Node timers; a manual clock's timers have nothing to unref. */
  unref?(): unknown;
}

/** A monotonic time source with timers. */
export interface Clock {
  /** Monotonic milliseconds (as `performance.now()`), for measuring intervals only. */
  now(): number;
  /** Calls `callback` once, `ms` milliseconds from now. */
  setTimeout(callback: () => void, ms: number): ClockTimer;
  /** Cancels a timer of this clock; a timer that already ran or was cancelled is ignored. */
  clearTimeout(timer: ClockTimer): void;
}
