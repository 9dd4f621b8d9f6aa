/**
 * @module pubsub/adapter
 * The PubSub adapter contract: the only part of PubSub that differs per backend. It carries
 * broadcasts to the *other* nodes of a cluster. Local subscribers, encode-once fan-out and
 * self-filtering live once in {@link PubSub}; an adapter never sees a subscriber.
 */
import type { BroadcastMessage } from '../protocol.ts';
import type { StreamLimits, StreamPosition, StreamRead } from './stream.ts';

/** What an adapter knows about the node it serves. */
export interface PubSubNode {
  /** A cluster-unique id of this node (includes a boot id, so a restarted node is a new one). */
  readonly id: string;
  /**
   * Hands a broadcast to this node's local subscribers: one published by another node, or a
   * publication appended by `append` (of any node, this one's with its `publishId`).
   */
  deliver(message: BroadcastMessage, publishId?: number): void;
  /** This node's `append` with `publishId` failed: nothing of it will be delivered anywhere. */
  lost(publishId: number): void;
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
 *   backend is unreachable may be lost (the local node still delivers its own broadcasts).
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
   * History (docs/recovery.md), for adapters that keep streams; both built-in adapters do.
   * Appends `message` to its topic's stream, giving it the next position, and publishes the
   * positioned message to every node that subscribes to the topic — **this node included**, with
   * `publishId` — through `deliver`. Append and publish are one step: every node sees the same
   * offsets, in the same order. Never throws; a failed append calls `lost(publishId)`. A stream
   * keeps at most `limits.size` publications for `limits.ttlMs`, and at most `limits.maxTopics`
   * topics keep one (the least recently published is dropped; its topic gets a new epoch).
   */
  append?(message: BroadcastMessage, publishId: number, limits: StreamLimits): void;
  /**
   * History: the publications of `topic` after `since` and its latest position (see
   * {@link StreamRead}). Reading a topic that never published creates nothing. A replay is
   * bounded: when the publications after `since` weigh more than `limits.maxReplayBytes` (their
   * replay size, `StreamRead.bytes`), none is returned and `recovered` is false — measured where
   * they are kept, from sizes known at append, so an oversized replay is never copied or sent.
   */
  readStream?(topic: string, since: StreamPosition | null, limits: StreamLimits): StreamRead | Promise<StreamRead>;
}
