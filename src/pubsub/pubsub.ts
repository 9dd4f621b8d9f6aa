/**
 * @module pubsub
 * Topic-based publish/subscribe with encode-once fan-out. Local subscribers are kept here; an
 * adapter carries broadcasts to other nodes. A broadcast is dispatched to local subscribers at
 * once (never waiting for the adapter), and each subscriber asks the shared
 * {@link EncodedBroadcast} for its serializer's frame: the first asks encode, the rest reuse the
 * same bytes.
 *
 * @example
 * const pubsub = new PubSub();
 * await pubsub.start();
 * pubsub.subscribe('rooms:lobby', { deliver: (message) => console.log(message.event) });
 * pubsub.broadcast('rooms:lobby', 'new_msg', { body: 'hi' });
 */
import { randomBytes } from 'node:crypto';
import type { Frame } from '../frame.ts';
import type { BroadcastMessage } from '../protocol.ts';
import type { Serializer } from '../serializer/serializer.ts';
import type { PubSubAdapter } from './adapter.ts';
import { MemoryPubSubAdapter } from './memory-adapter.ts';

/** Counters of the broadcast path, for metrics and tests. */
export interface PubSubStats {
  /** Broadcasts dispatched locally (from this node or received from others). */
  broadcasts: number;
  /** Serializer encodings of broadcasts (ideally one per serializer per broadcast). */
  encodes: number;
}

/**
 * One broadcast being dispatched, with its frames cached per serializer. Created once per
 * dispatch and shared by every subscriber.
 */
export class EncodedBroadcast {
  #serializer: Serializer | null = null;
  #frame: Frame | null = null;
  #others: Map<Serializer, Frame | null> | null = null;

  constructor(
    /** The broadcast. */
    readonly message: BroadcastMessage,
    private readonly stats: PubSubStats,
  ) {}

  /** The frame for `serializer` (encoded on first request), or null if it cannot carry it. */
  frameFor(serializer: Serializer): Frame | null {
    // One field for the common single-serializer case; a map only for mixed clients.
    if (this.#serializer === serializer) return this.#frame;
    if (this.#serializer === null) {
      this.#serializer = serializer;
      this.#frame = this.#encode(serializer);
      return this.#frame;
    }
    this.#others ??= new Map();
    let frame = this.#others.get(serializer);
    if (frame === undefined) {
      frame = this.#encode(serializer);
      this.#others.set(serializer, frame);
    }
    return frame;
  }

  #encode(serializer: Serializer): Frame | null {
    this.stats.encodes++;
    return serializer.encodeBroadcast(this.message);
  }
}

/** Receives broadcasts for the topics it subscribed to. */
export interface Subscriber {
  /** Called synchronously during dispatch; must not throw. */
  deliver(message: BroadcastMessage, encoded: EncodedBroadcast): void;
}

/** Options of {@link PubSub}. */
export interface PubSubOptions {
  /** Carries broadcasts to other nodes; default: in-process, single node. */
  adapter?: PubSubAdapter;
  /** This node's id; default: random. */
  nodeId?: string;
}

/** Local subscriber registry plus an adapter for the rest of the cluster. */
export class PubSub {
  /** This node's cluster-unique id. */
  readonly nodeId: string;
  /** Counters of the broadcast path. */
  readonly stats: PubSubStats = { broadcasts: 0, encodes: 0 };
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
   * delivery once the adapter has registered interest (the returned promise).
   */
  subscribe(topic: string, subscriber: Subscriber): Promise<void> {
    let subscribers = this.#topics.get(topic);
    if (subscribers === undefined) {
      subscribers = new Set();
      this.#topics.set(topic, subscribers);
      subscribers.add(subscriber);
      return this.#adapter.subscribe(topic);
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
    const encoded = new EncodedBroadcast(message, this.stats);
    for (const subscriber of subscribers) {
      if (subscriber !== from) subscriber.deliver(message, encoded);
    }
  }
}
