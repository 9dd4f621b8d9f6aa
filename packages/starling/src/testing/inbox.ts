/**
 * @module testing/inbox
 * What a test client received, in arrival order, and waiting for what it has not yet: the one
 * inbox of `starling-channels/testing`, used by the channel harness for frames and broadcasts and
 * by tests of the official client for the events of a channel. Waits in real time, with timers
 * captured at load, so a test runner's fake timers installed later cannot stall it.
 *
 * @example
 * import { Inbox } from 'starling-channels/testing';
 *
 * const inbox = new Inbox<{ body: string }>();
 * channel.on('new_msg', inbox.add); // phoenix's channel, for instance
 * const message = await inbox.next((m) => m.body === 'hi'); // taken out of the inbox
 */
const realSetTimeout = setTimeout;
const realClearTimeout = clearTimeout;

/** Collects values in arrival order; waits for the one a test expects. */
export class Inbox<T = unknown> {
  /** The values received and not yet taken, in arrival order. */
  readonly items: T[] = [];
  readonly #waiters = new Set<() => void>();

  /** Adds a value (bound, so it can be passed as a callback). */
  readonly add = (item: T): void => {
    this.items.push(item);
    for (const wake of [...this.#waiters]) wake();
  };

  /**
   * Waits for the first value `match` accepts (already here or arriving within `timeoutMs`) and
   * takes it out of the inbox.
   * @throws Error (rejects) `failure()`, by default one that lists what is here, when none arrives in time
   */
  next(match: (item: T) => boolean = () => true, timeoutMs = 3000, failure?: () => Error): Promise<T> {
    return this.#wait(match, timeoutMs, true, failure);
  }

  /** As {@link next}, but leaves the value in the inbox. */
  peek(match: (item: T) => boolean = () => true, timeoutMs = 3000, failure?: () => Error): Promise<T> {
    return this.#wait(match, timeoutMs, false, failure);
  }

  /**
   * Resolves after `timeoutMs` when no value `match` accepts is here or arrives; rejects with
   * `failure(value)` as soon as one is.
   */
  async refute(match: (item: T) => boolean, timeoutMs: number, failure: (item: T) => Error): Promise<void> {
    const found = await this.#wait(match, timeoutMs, false, () => new Error('none')).then(
      (item) => ({ item }),
      () => null,
    );
    if (found !== null) throw failure(found.item);
  }

  #wait(match: (item: T) => boolean, timeoutMs: number, take: boolean, failure: (() => Error) | undefined): Promise<T> {
    const find = (): { item: T } | undefined => {
      const index = this.items.findIndex(match);
      if (index < 0) return undefined;
      const item = this.items[index] as T;
      if (take) this.items.splice(index, 1);
      return { item };
    };
    const now = find();
    if (now !== undefined) return Promise.resolve(now.item);
    return new Promise<T>((resolve, reject) => {
      const check = (): void => {
        const found = find();
        if (found === undefined) return;
        this.#waiters.delete(check);
        realClearTimeout(timer);
        resolve(found.item);
      };
      const timer = realSetTimeout(() => {
        this.#waiters.delete(check);
        reject(failure?.() ?? new Error(`nothing matching within ${timeoutMs} ms; have: ${describeItems(this.items)}`));
      }, timeoutMs);
      this.#waiters.add(check);
    });
  }
}

function describeItems(items: readonly unknown[]): string {
  try {
    return JSON.stringify(items);
  } catch {
    return `${items.length} item(s)`;
  }
}
