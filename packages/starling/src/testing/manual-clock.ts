/**
 * @module testing/manual-clock
 * A clock that moves only when a test says so: `starling-channels/testing` runs the real runtime on it, so
 * rate limits, join timeouts and delayed `sendInfo` can be tested without sleeping.
 */
import type { Clock, ClockTimer } from '../runtime/clock.ts';

interface ManualTimer extends ClockTimer {
  readonly at: number;
  readonly seq: number;
  readonly callback: () => void;
  cancelled: boolean;
}

// Captured at load: a test runner's fake timers installed later do not stall the harness.
const realSetImmediate = setImmediate;

/** Lets every pending promise chain (and one round of I/O callbacks) run. */
export async function settle(rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => realSetImmediate(resolve));
}

/**
 * A manual {@link Clock}: `now()` starts at 0 and changes only through {@link ManualClock.advance},
 * which runs the timers that fall due, in order of their due time (then of their creation).
 */
export class ManualClock implements Clock {
  #now = 0;
  #seq = 0;
  #timers: ManualTimer[] = [];

  /** Milliseconds advanced so far. */
  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): ClockTimer {
    const timer: ManualTimer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, callback, cancelled: false };
    this.#timers.push(timer);
    return timer;
  }

  clearTimeout(timer: ClockTimer): void {
    const manual = timer as ManualTimer;
    manual.cancelled = true;
    this.#timers = this.#timers.filter((t) => t !== manual);
  }

  /** Timers not yet run nor cancelled. */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  /**
   * Moves time forward by `ms`, running each timer that falls due at its own due time, and lets
   * the promise chains each one starts settle before the next runs (a timer they start within the
   * window runs too).
   */
  async advance(ms: number): Promise<void> {
    if (!(ms >= 0)) throw new RangeError('advance(ms) needs a non-negative number of milliseconds');
    const target = this.#now + ms;
    for (;;) {
      const next = this.#due(target);
      if (next === undefined) break;
      this.#timers = this.#timers.filter((t) => t !== next);
      this.#now = next.at;
      next.callback();
      await settle();
    }
    this.#now = target;
    await settle();
  }

  #due(target: number): ManualTimer | undefined {
    let next: ManualTimer | undefined;
    for (const timer of this.#timers) {
      if (timer.at <= target && (next === undefined || timer.at < next.at || (timer.at === next.at && timer.seq < next.seq))) next = timer;
    }
    return next;
  }
}
