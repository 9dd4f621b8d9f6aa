/**
 * @module pubsub/adapter
 * The PubSub adapter contract: the only part of PubSub that differs per backend. It carries
 * broadcasts to the *other* nodes of a cluster. Local subscribers, encode-once fan-out and
 * self-filtering live once in {@link PubSub}; an adapter never sees a subscriber. An adapter that
 * also keeps streams, for topics with history, implements {@link HistoryAdapter} (history-adapter.ts).
 */
import type { BroadcastMessage } from '../protocol.ts';

/** What an adapter knows about the node it serves. */
export interface PubSubNode {
  /** A cluster-unique id of this node (includes a boot id, so a restarted node is a new one). */
  readonly id: string;
  /**
   * Hands a broadcast to this node's local subscribers: one published by another node, or a
   * publication appended by `append` (of any node, this one's with its `publishId`). Synchronous.
   *
   * **Must not throw, and is guarded as if it could**: subscribers must not throw, but one that
   * does is a bug of that subscriber, not of the cluster. So every adapter calls `deliver` inside
   * a `try`, logs what it catches and goes on: a throw never reaches the adapter's socket parser,
   * an unhandled rejection or an uncaught microtask, and never stops the delivery to other nodes
   * or of later broadcasts.
   */
  deliver(message: BroadcastMessage, publishId?: number): void;
  /**
   * This node's `append` with `publishId` (of a publication of `topic`) failed: nothing of it will
   * be delivered anywhere. With the topic, the node tells the topic's subscribers — here at once,
   * on other nodes once the adapter is connected again — that their stream has a hole.
   */
  lost(publishId: number, topic?: string): void;
}

/**
 * Carries broadcasts between nodes.
 *
 * Guarantees every adapter gives (checked by the shared conformance suite):
 * - **no echo**: a node never receives its own `publish` back through `deliver` (its own `append`s
 *   do come back: that is how they are delivered on the node, in stream order);
 * - **order per publisher**: two publishes of one node reach another node in publish order;
 * - **interest**: after `subscribe(topic)` resolves, broadcasts for `topic` published by other
 *   nodes are delivered; after `unsubscribe(topic)` they may stop;
 * - **at-most-once, best effort**: nothing is persisted or retried; what is published while the
 *   backend is unreachable may be lost (the local node still delivers its own broadcasts);
 * - **never blocks, bounded**: `publish` returns at once and never throws; what the backend has
 *   not taken yet is bounded (the Redis adapter drops past `maxPendingPublishes`, counted), so a
 *   slow or absent backend costs messages, never memory or latency of the local fan-out;
 * - **guarded delivery**: every call of {@link PubSubNode.deliver} is guarded (see there).
 */
export interface PubSubAdapter {
  /** Connects; `node` is where remote broadcasts go. Resolves when ready. */
  start(node: PubSubNode): Promise<void>;
  /** This node gained its first local subscriber of `topic`. */
  subscribe(topic: string): Promise<void>;
  /** This node lost its last local subscriber of `topic`. */
  unsubscribe(topic: string): Promise<void>;
  /** Sends `message` to the other nodes that subscribe to its topic. Never throws. */
  publish(message: BroadcastMessage): void;
  /** Disconnects. Resolves once nothing more will be delivered. */
  close(): Promise<void>;
  /**
   * Whether the adapter reaches its backend now (for readiness checks): false while it is
   * unreachable, true once it is back. Absent means always (an in-process adapter).
   */
  isConnected?(): boolean;
  /**
   * A round trip through the backend: resolves once everything this node published or appended
   * before the call has been taken by the backend and has come back — appends delivered to this
   * node's subscribers — or was dropped. Never rejects, and resolves at once while the backend is
   * unreachable. Optional: an adapter that delivers within the tick (the in-process one) has none.
   * For tests (`starling-channels/testing`'s `settle()`), not for the broadcast path.
   */
  flush?(): Promise<void>;
}
