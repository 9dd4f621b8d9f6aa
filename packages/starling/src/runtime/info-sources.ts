/**
 * @module runtime/info-sources
 * Internal: what feeds one channel's `handleInfo` besides direct `sendInfo` — the other topics it
 * subscribed to (`socket.subscribe`) and its delayed `sendInfo` timers. Made on a channel's first
 * use of either (thousands of idle channels never need one) and ended with the channel.
 */
import type { InfoBroadcast } from '../channel.ts';
import type { PubSub, Subscriber } from '../pubsub/pubsub.ts';
import type { Clock, ClockTimer } from './clock.ts';

/** The subscriptions and timers of one channel, each handing its message to `receive`. */
export class InfoSources {
  readonly #pubsub: PubSub;
  readonly #clock: Clock;
  readonly #receive: (message: unknown) => void;
  #subscriptions: Map<string, Subscriber> | null = null;
  #timers: Set<ClockTimer> | null = null;

  constructor(pubsub: PubSub, clock: Clock, receive: (message: unknown) => void) {
    this.#pubsub = pubsub;
    this.#clock = clock;
    this.#receive = receive;
  }

  /** Hands `message` to `receive` after `delayMs` on the clock (cancelled by {@link close}). */
  after(delayMs: number, message: unknown): void {
    const timer = this.#clock.setTimeout(() => {
      this.#timers?.delete(timer);
      this.#receive(message);
    }, delayMs);
    (this.#timers ??= new Set()).add(timer);
  }

  /** Subscribes to `topic`: each of its broadcasts is received as an {@link InfoBroadcast}. Idempotent. */
  subscribe(topic: string): void {
    if (this.#subscriptions?.has(topic)) return;
    const subscriber: Subscriber = {
      deliver: (message) => {
        const info: InfoBroadcast = { kind: 'broadcast', ...message };
        this.#receive(info);
      },
    };
    (this.#subscriptions ??= new Map()).set(topic, subscriber);
    void this.#pubsub.subscribe(topic, subscriber);
  }

  /** Undoes {@link subscribe}. */
  unsubscribe(topic: string): void {
    const subscriptions = this.#subscriptions;
    const subscriber = subscriptions?.get(topic);
    if (subscriptions === null || subscriber === undefined) return;
    subscriptions.delete(topic);
    this.#pubsub.unsubscribe(topic, subscriber);
  }

  /** Leaves every subscription and cancels every timer. */
  close(): void {
    if (this.#subscriptions !== null) {
      for (const [topic, subscriber] of this.#subscriptions) this.#pubsub.unsubscribe(topic, subscriber);
      this.#subscriptions = null;
    }
    if (this.#timers !== null) {
      for (const timer of this.#timers) this.#clock.clearTimeout(timer);
      this.#timers = null;
    }
  }
}
