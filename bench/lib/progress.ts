/**
 * @module bench/progress
 * The harness's view of a fan-out phase: the slowest worker's progress — every subscriber of
 * every worker has each seq below `done` — as the workers report it, relayed to the publishing
 * worker when there are several (with one, it sees its own). Scenarios wait on it to end a phase
 * (reached, stalled, or out of time); a writer outside the workers paces itself on it.
 *
 * @example
 * const progress = new Progress(session);
 * await progress.until(total, 30_000); // → how far every subscriber got
 */
import type { Session } from './session.ts';

/** No progress for this long ends a phase: what is missing by then counts as lost. */
export const STALL_MS = 3_000;

/** Tracks the slowest worker's progress (every subscriber has seq < done) and forwards it. */
export class Progress {
  readonly #done: number[];
  #global = 0;
  #lastChange = Date.now();
  #waiters: (() => void)[] = [];

  constructor(session: Session) {
    const { workers } = session;
    this.#done = workers.map(() => 0);
    workers.forEach((worker, i) => {
      worker.on('progress', ({ done }) => {
        this.#done[i] = done;
        const global = Math.min(...this.#done);
        if (global <= this.#global) return;
        this.#global = global;
        this.#lastChange = Date.now();
        // With one worker the publisher already sees its own progress; otherwise relay it.
        if (workers.length > 1) session.publisher.send({ type: 'progress', done: global });
        const waiters = this.#waiters;
        this.#waiters = [];
        for (const wake of waiters) wake();
      });
    });
  }

  /** Every seq below this has reached every subscriber. */
  get done(): number {
    return this.#global;
  }

  /** Resolves at the next advance, or after `ms`. */
  advanced(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Resolves with the progress once it reaches `target`, stalls for `stallMs` ({@link STALL_MS}), or `capMs` passes. */
  async until(target: number, capMs: number, stallMs = STALL_MS): Promise<number> {
    const deadline = Date.now() + capMs;
    this.#lastChange = Date.now();
    // Bounded: every pass waits at most 100 ms, and the deadline ends the loop.
    while (this.#global < target && Date.now() < deadline && Date.now() - this.#lastChange < stallMs) await this.advanced(100);
    return this.#global;
  }
}
