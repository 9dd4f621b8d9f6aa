/**
 * @module runtime/clock
 * Internal: the time source of the runtime. The rate limiter, the join timeout and delayed
 * `sendInfo` read the {@link Clock} of their endpoint's services instead of `performance.now()`
 * and `setTimeout`, so that `starling-channels/testing` can move time forward without sleeping. The
 * broadcast fan-out reads no clock at all.
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

/** The real clock: `performance.now()` and Node's timers. */
export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout),
};
