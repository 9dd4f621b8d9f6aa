/**
 * @module pubsub
 * Topic-based publish/subscribe. Local subscribers are kept here; an adapter carries broadcasts
 * to other nodes. A broadcast is dispatched to local subscribers at once (never waiting for the
 * adapter), synchronously and in subscription order, as one message object shared by all of them
 * (the channels' fan-out encodes it once per serializer from there).
 *
 * @example
 * import { PubSub } from 'starling-channels';
 *
 * const pubsub = new PubSub();
 * await pubsub.start();
 * pubsub.subscribe('rooms:lobby', { deliver: (message) => console.log(message.event) });
 * pubsub.broadcast('rooms:lobby', 'new_msg', { body: 'hi' });
 */
import { randomBytes } from 'node:crypto';

import type { Clock, ClockTimer } from '../clock.ts';
import { ErrorCodes, StarlingError } from '../errors.ts';
import { realClock } from '../runtime/clock.ts';
import { isBinaryPayload, type BroadcastMessage, type StreamPosition } from '../protocol.ts';
import type { PubSubAdapter } from './adapter.ts';
import { isHistoryAdapter, type HistoryAdapter } from './history-adapter.ts';
import { MemoryPubSubAdapter } from './memory-adapter.ts';
import { PositionReads } from './position-reads.ts';
import { StreamOrder } from './stream-order.ts';
import { History, type HistoryOptions, type StreamLimits, type StreamRead } from './stream.ts';

/** Counters of the broadcast path, for metrics and tests. */
export interface PubSubStats {
  /** Broadcasts dispatched locally (from this node or received from others). */
  broadcasts: number;
  /** Adapter `subscribe` calls that failed (remote delivery for that topic waits for the adapter to recover). */
  subscribeFailures: number;
  /** Publications on history topics whose append failed (the store was unreachable): delivered nowhere. */
  appendFailures: number;
  /** Holes in a history topic's live order on this node that were filled by reading the stream. */
  gapsFilled: number;
  /** Holes the stream no longer covered (trimmed or a new epoch): local subscribers missed those publications. */
  gapsLost: number;
}

/** Receives broadcasts for the topics it subscribed to. */
export interface Subscriber {
  /**
   * Called synchronously during dispatch; must not throw. Every local subscriber of one broadcast
   * receives the same `message` object: treat it as immutable.
   */
  deliver(message: BroadcastMessage): void;
  /**
   * Publications of this history topic were lost on their way into its stream (the store was
   * unreachable): the subscriber's view of the stream has a hole that no read can fill. Told once
   * on this node when the append fails, and on the other nodes once the adapter is connected again.
   */
  lost?(): void;
}

/**
 * The event of the control broadcast that tells the other nodes a history topic lost
 * publications; reserved (an app's broadcast of it is never dispatched).
 */
export const STREAM_LOST_EVENT = 'phx_stream_lost';

/** Options of {@link PubSub}. */
export interface PubSubOptions {
  /**
   * Carries broadcasts to other nodes; default: in-process, single node. With `history` it must be
   * a {@link HistoryAdapter} (both built-in adapters are).
   */
  adapter?: PubSubAdapter | undefined;
  /** This node's id; default: random. */
  nodeId?: string | undefined;
  /**
   * Topics that keep history, so that clients can rejoin without a gap (docs/recovery.md). The
   * adapter keeps the streams; every node of a cluster must use the same history options.
   */
  history?: HistoryOptions | undefined;
  /** Time for the PubSub's own timers (announcing lost publications); default the real clock. */
  clock?: Clock | undefined;
}

/** Local subscriber registry plus an adapter for the rest of the cluster. */
export class PubSub {
  /** This node's cluster-unique id. */
  readonly nodeId: string;
  /** Counters of the broadcast path. */
  readonly stats: PubSubStats = { broadcasts: 0, subscribeFailures: 0, appendFailures: 0, gapsFilled: 0, gapsLost: 0 };
  readonly #history: History | null;
  /**
   * The history's limits for filling a hole in this node's live order: the node's own catch-up,
   * not a client's replay, so it may read as much as the stream keeps (maxReplayBytes is for clients).
   */
  readonly #gapLimits: StreamLimits | null;
  readonly #adapter: PubSubAdapter;
  /** The adapter again, as the store of the history topics' streams; null without history. */
  readonly #streams: HistoryAdapter | null;
  readonly #topics = new Map<string, Set<Subscriber>>();
  /** Adapter subscriptions under way, by topic. */
  readonly #subscribing = new Map<string, Promise<void>>();
  readonly #order: StreamOrder<Subscriber>;
  /** broadcastFrom on history topics: whom each of this node's appends in flight must skip. */
  readonly #skips = new Map<number, Subscriber>();
  #publishId = 0;
  /** Topics that lost publications, to announce to the other nodes once the adapter is back. */
  readonly #unannounced = new Set<string>();
  #announcer: ClockTimer | null = null;
  readonly #clock: Clock;
  #started: Promise<void> | null = null;
  /** Position-only reads (joins without `recover`), one round trip per topic at a time. */
  readonly #positions = new PositionReads((topic) => this.#read(topic, null, this.#history?.limits ?? null));

  /** With history (or none), on an adapter that keeps streams: the in-process one by default. */
  constructor(options?: PubSubOptions & { readonly adapter?: HistoryAdapter | undefined });
  /** Without history, on any adapter. */
  constructor(options: PubSubOptions & { readonly history?: undefined });
  /** @throws StarlingError `ERR_PUBSUB_ADAPTER` when `history` is set and the adapter keeps no streams (an untyped caller) */
  constructor(options: PubSubOptions = {}) {
    const adapter = options.adapter ?? new MemoryPubSubAdapter();
    this.#adapter = adapter;
    this.#clock = options.clock ?? realClock;
    this.nodeId = options.nodeId ?? randomBytes(8).toString('base64url');
    this.#history = options.history === undefined ? null : new History(options.history);
    this.#gapLimits = this.#history === null ? null : { ...this.#history.limits, maxReplayBytes: this.#history.limits.maxBytes };
    if (this.#history !== null && !isHistoryAdapter(adapter)) {
      throw new StarlingError(ErrorCodes.adapter, 'history needs a HistoryAdapter: a PubSub adapter that keeps streams (append and readStream)');
    }
    this.#streams = this.#history !== null && isHistoryAdapter(adapter) ? adapter : null;
    this.#order = new StreamOrder<Subscriber>({
      dispatch: (message, from) => this.#dispatch(message, from),
      read: (topic, since) => this.#read(topic, since, this.#gapLimits),
      gap: (_topic, filled) => {
        if (filled) this.stats.gapsFilled++;
        else this.stats.gapsLost++;
      },
    });
  }

  /** Connects the adapter. Idempotent. */
  start(): Promise<void> {
    this.#started ??= this.#adapter.start({
      id: this.nodeId,
      deliver: (message, publishId) => this.#receive(message, publishId),
      lost: (publishId, topic) => {
        this.#skips.delete(publishId);
        this.stats.appendFailures++;
        if (topic !== undefined) this.#streamLost(topic);
      },
    });
    return this.#started;
  }

  /** True when `topic` keeps history (its broadcasts have positions). */
  hasHistory(topic: string): boolean {
    return this.#history?.covers(topic) ?? false;
  }

  /**
   * The publications of a history topic after `since`, and its latest position (`since` null:
   * the position only). Subscribe first and read after the subscription resolved: then every
   * publication is either in the read or delivered to the subscriber (some in both; skip those
   * at or below the read's position). A client's replay: when they weigh more than
   * `history.maxReplayBytes`, none is read and `recovered` is false (see {@link StreamRead.bytes}).
   *
   * A position-only read of a topic this node subscribes to is answered, while the adapter is
   * connected, from the node's own view of the stream when it has one — the last publication it
   * dispatched, or the latest position a read answered since it subscribed — without a round trip
   * to the store. That position may be behind the store's (publications on their way to this
   * node), never ahead: everything after it is still delivered to the subscriber.
   * @throws StarlingError `ERR_PUBSUB_ADAPTER` (rejects) when `topic` keeps no history or the store is unreachable
   */
  async readStream(topic: string, since: StreamPosition | null): Promise<StreamRead> {
    if (!this.hasHistory(topic)) throw new StarlingError(ErrorCodes.adapter, `${topic} keeps no history`);
    // Subscribed here, the adapter's subscription in place and its backend reachable: every
    // publication after the node's view of the stream is yet to be dispatched to the subscribers.
    const subscribers = this.#topics.get(topic);
    const live = subscribers !== undefined && !this.#subscribing.has(topic) && this.#adapter.isConnected?.() !== false;
    if (since === null && live) {
      const position = this.#order.position(topic);
      if (position !== null) return { position, recovered: false, publications: [], bytes: 0 };
    }
    const read = await (since === null ? this.#positions.read(topic) : this.#read(topic, since, this.#history?.limits ?? null));
    if (live && this.#topics.get(topic) === subscribers) this.#order.observe(topic, read.position);
    return read;
  }

  /**
   * Subscribes `subscriber` to `topic` (exact match). Local delivery starts at once; remote
   * delivery once the adapter has registered interest, when the returned promise resolves (for
   * every subscriber of the topic, not only the first).
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
      const subscribed = this.#adapter.subscribe(topic).catch(() => {
        this.stats.subscribeFailures++;
      });
      this.#subscribing.set(topic, subscribed);
      void subscribed.then(() => {
        if (this.#subscribing.get(topic) === subscribed) this.#subscribing.delete(topic);
      });
      return subscribed;
    }
    subscribers.add(subscriber);
    // A later subscriber of a topic whose adapter subscription is still under way waits for it too.
    return this.#subscribing.get(topic) ?? Promise.resolve();
  }

  /** Removes a subscription. Unknown subscriptions are ignored. */
  unsubscribe(topic: string, subscriber: Subscriber): void {
    const subscribers = this.#topics.get(topic);
    if (subscribers === undefined || !subscribers.delete(subscriber)) return;
    if (this.#skips.size > 0) {
      for (const [id, skipped] of this.#skips) if (skipped === subscriber) this.#skips.delete(id);
    }
    if (subscribers.size === 0) {
      this.#topics.delete(topic);
      this.#subscribing.delete(topic);
      this.#order.forget(topic);
      this.#adapter.unsubscribe(topic).catch(() => {
        // Interest is an optimisation; a failed unsubscribe only means extra traffic.
      });
    }
  }

  /** Number of local subscribers of `topic`. */
  subscriberCount(topic: string): number {
    return this.#topics.get(topic)?.size ?? 0;
  }

  /**
   * Broadcasts to every subscriber of `topic` on every node, except `from` (a local subscriber).
   *
   * On a history topic the publication is first appended to the topic's stream; every node,
   * this one included, delivers it once the adapter has appended it (at once in process, after a
   * round trip to Redis) with its position, in the stream's order. If the append fails it is
   * delivered nowhere (`stats.appendFailures`).
   * @throws StarlingError `ERR_INVALID_PAYLOAD` for a `{binary}` payload on a history topic: binary
   *   frames have no `ref` to carry a position (docs/recovery.md, "Binary payloads")
   */
  broadcast(topic: string, event: string, payload: unknown, from: Subscriber | null = null): void {
    const message: BroadcastMessage = { topic, event, payload };
    if (this.#history?.covers(topic) === true) {
      if (isBinaryPayload(payload)) throw new StarlingError(ErrorCodes.invalidPayload, `${topic} keeps history: its broadcasts must be JSON, not {binary}`);
      const publishId = ++this.#publishId;
      if (from !== null) this.#skips.set(publishId, from);
      this.#streams?.append(message, publishId, this.#history.limits);
      return;
    }
    this.#dispatch(message, from);
    this.#adapter.publish(message);
  }

  /**
   * Broadcasts to the subscribers of `topic` on this node only, except `from`. Never appended to a
   * stream, even on a history topic (presence diffs travel this way): no position, no replay.
   */
  localBroadcast(topic: string, event: string, payload: unknown, from: Subscriber | null = null): void {
    this.#dispatch({ topic, event, payload }, from);
  }

  /**
   * Resolves once this node's broadcasts made before the call have been through the adapter's
   * round trip (see `PubSubAdapter.flush`): on history topics, delivered here. At once in process.
   */
  flush(): Promise<void> {
    return this.#adapter.flush?.() ?? Promise.resolve();
  }

  /**
   * Whether broadcasts reach the other nodes now: false while the adapter's backend (Redis) is
   * unreachable — then broadcasts are delivered on this node only — true otherwise. For
   * readiness checks; always true for the in-process PubSub.
   */
  get connected(): boolean {
    return this.#adapter.isConnected?.() ?? true;
  }

  /** Disconnects the adapter. */
  async close(): Promise<void> {
    if (this.#announcer !== null) this.#clock.clearTimeout(this.#announcer);
    this.#announcer = null;
    this.#unannounced.clear();
    await this.#adapter.close();
  }

  #receive(message: BroadcastMessage, publishId: number | undefined): void {
    let from: Subscriber | null = null;
    if (publishId !== undefined) {
      from = this.#skips.get(publishId) ?? null;
      this.#skips.delete(publishId);
    }
    if (message.event === STREAM_LOST_EVENT && message.position === undefined && this.hasHistory(message.topic)) {
      this.#tellLost(message.topic);
      return;
    }
    if (message.position === undefined || this.#history === null) this.#dispatch(message, from);
    else if (this.#topics.has(message.topic)) this.#order.receive(message, from);
  }

  #read(topic: string, since: StreamPosition | null, limits: StreamLimits | null): StreamRead | Promise<StreamRead> {
    if (limits === null || this.#streams === null) throw new StarlingError(ErrorCodes.adapter, 'no history');
    return this.#streams.readStream(topic, since, limits);
  }

  /**
   * A publication of `topic` never reached its stream: this node's subscribers are told now; the
   * other nodes, which never saw it, once the adapter can reach them again (checked every second).
   */
  #streamLost(topic: string): void {
    this.#tellLost(topic);
    this.#unannounced.add(topic);
    this.#scheduleAnnounce();
  }

  #scheduleAnnounce(): void {
    if (this.#announcer !== null) return;
    this.#announcer = this.#clock.setTimeout(() => {
      this.#announcer = null;
      if (this.#adapter.isConnected?.() === false) return this.#scheduleAnnounce();
      for (const topic of this.#unannounced) this.#adapter.publish({ topic, event: STREAM_LOST_EVENT, payload: {} });
      this.#unannounced.clear();
    }, 1000);
    this.#announcer.unref?.();
  }

  #tellLost(topic: string): void {
    for (const subscriber of this.#topics.get(topic) ?? []) subscriber.lost?.();
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
