/**
 * @module pubsub
 * Topic-based publish/subscribe. Local subscribers are kept here; an adapter carries broadcasts
 * to other nodes. A broadcast is dispatched to local subscribers at once (never waiting for the
 * adapter), synchronously and in subscription order, as one message object shared by all of them
 * (the channels' fan-out encodes it once per serializer from there).
 *
 * @example
 * import { PubSub } from 'starling';
 *
 * const pubsub = new PubSub();
 * await pubsub.start();
 * pubsub.subscribe('rooms:lobby', { deliver: (message) => console.log(message.event) });
 * pubsub.broadcast('rooms:lobby', 'new_msg', { body: 'hi' });
 */
import { randomBytes } from 'node:crypto';

import type { BroadcastMessage } from '../protocol.ts';
import type { PubSubAdapter } from './adapter.ts';
import { MemoryPubSubAdapter } from './memory-adapter.ts';

/** Counters of the broadcast path, for metrics and tests. */
export interface PubSubStats {
  /** Broadcasts dispatched locally (from this node or received from others). */
  broadcasts: number;
  /** Adapter `subscribe` calls that failed (remote delivery for that topic waits for the adapter to recover). */
  subscribeFailures: number;
}

/** Receives broadcasts for the topics it subscribed to. */
export interface Subscriber {
  /**
   * Called synchronously during dispatch; must not throw. Every local subscriber of one broadcast
   * receives the same `message` object: treat it as immutable.
   */
  deliver(message: BroadcastMessage): void;
}

/** Options of {@link PubSub}. */
export interface PubSubOptions {
  /** Carries broadcasts to other nodes; default: in-process, single node. */
  adapter?: PubSubAdapter | undefined;
  /** This node's id; default: random. */
  nodeId?: string | undefined;
}

/** Local subscriber registry plus an adapter for the rest of the cluster. */
export class PubSub {
  /** This node's cluster-unique id. */
  readonly nodeId: string;
  /** Counters of the broadcast path. */
  readonly stats: PubSubStats = { broadcasts: 0, subscribeFailures: 0 };
  readonly #adapter: PubSubAdapter;
  readonly #topics = new Map<string, Set<Subscriber>>();
  #started: Promise<void> | null = null;

  constructor(options: PubSubOptions = {}) {
    this.#adapter = options.adapter ?? new MemoryPubSubAdapter();
    this.nodeId = options.nodeId ?? randomBytes(8).toString('base64url');
  }

  /** Connects the adapter. Idempotent. */
  start(): Promise<void> {
    this.#started ??= this.#adapter.start({
      id: this.nodeId,
      deliver: (message) => this.#dispatch(message, null),
    });
    return this.#started;
  }

  /**
   * Subscribes `subscriber` to `topic` (exact match). Local delivery starts at once; remote
   * delivery once the adapter has registered interest, when the returned promise resolves.
   *
   * Never rejects, so callers may ignore it: if the adapter fails to subscribe, the promise
   * resolves anyway, the failure is counted in `stats.subscribeFailures`, local delivery goes on,
   * and remote delivery for the topic depends on the adapter's recovery (the Redis adapter
   * resubscribes every topic when it reconnects).
   */
  subscribe(topic: string, subscriber: Subscriber): Promise<void> {
    let subscribers = this.#topics.get(topic);
    if (subscribers === undefined) {
      subscribers = new Set();
      this.#topics.set(topic, subscribers);
      subscribers.add(subscriber);
      return this.#adapter.subscribe(topic).catch(() => {
        this.stats.subscribeFailures++;
      });
    }
    subscribers.add(subscriber);
    return Promise.resolve();
  }

  /** Removes a subscription. Unknown subscriptions are ignored. */
  unsubscribe(topic: string, subscriber: Subscriber): void {
    const subscribers = this.#topics.get(topic);
    if (subscribers === undefined || !subscribers.delete(subscriber)) return;
    if (subscribers.size === 0) {
      this.#topics.delete(topic);
      this.#adapter.unsubscribe(topic).catch(() => {
        // Interest is an optimisation; a failed unsubscribe only means extra traffic.
      });
    }
  }

  /** Number of local subscribers of `topic`. */
  subscriberCount(topic: string): number {
    return this.#topics.get(topic)?.size ?? 0;
  }

  /** Broadcasts to every subscriber of `topic` on every node, except `from` (a local subscriber). */
  broadcast(topic: string, event: string, payload: unknown, from: Subscriber | null = null): void {
    const message: BroadcastMessage = { topic, event, payload };
    this.#dispatch(message, from);
    this.#adapter.publish(message);
  }

  /** Broadcasts to the subscribers of `topic` on this node only, except `from`. */
  localBroadcast(topic: string, event: string, payload: unknown, from: Subscriber | null = null): void {
    this.#dispatch({ topic, event, payload }, from);
  }

  /** Disconnects the adapter. */
  async close(): Promise<void> {
    await this.#adapter.close();
  }

  #dispatch(message: BroadcastMessage, from: Subscriber | null): void {
    const subscribers = this.#topics.get(message.topic);
    this.stats.broadcasts++;
    if (subscribers === undefined) return;
    for (const subscriber of subscribers) {
      if (subscriber !== from) subscriber.deliver(message);
    }
  }
}
