/**
 * @module pubsub/history-adapter
 * The history contract (docs/recovery.md): a {@link PubSubAdapter} that also keeps, per history
 * topic, a bounded **stream** of its publications, each with a position. PubSub requires one when
 * it is given `history` (a type error, and `ERR_PUBSUB_ADAPTER` at run time for JavaScript
 * callers); both built-in adapters are one (`MemoryPubSubAdapter`, `RedisPubSubAdapter`), and the
 * shared stream store suite (`test/conformance/pubsub/stream-store.suite.ts`) pins what follows.
 *
 * @example
 * import { PubSub, type HistoryAdapter } from 'starling-channels';
 * import { RedisPubSubAdapter } from 'starling-channels/redis';
 *
 * const adapter: HistoryAdapter = new RedisPubSubAdapter({ url: process.env.REDIS_URL });
 * const pubsub = new PubSub({ adapter, history: { topics: ['rooms:*'] } });
 */
import type { BroadcastMessage, StreamPosition } from '../protocol.ts';
import type { PubSubAdapter } from './adapter.ts';
import type { StreamLimits, StreamRead } from './stream.ts';

/**
 * A PubSub adapter that keeps the streams of history topics.
 *
 * Guarantees, besides those of {@link PubSubAdapter}:
 * - **one step, one order**: `append` gives the publication its topic's next offset and publishes
 *   it in one atomic step (in process: synchronously; Redis: one Lua script), so every node sees
 *   the same offsets, and receives them in offset order from one source — this node too, through
 *   `deliver` with its `publishId` (history publications are echoed, plain ones never are);
 * - **offsets**: +1 per publication within an epoch, starting at 1; a new epoch whenever the
 *   stream's past is lost (store restarted empty, stream dropped by `maxTopics` or `maxBytes`);
 * - **read after subscribe**: once `subscribe(topic)` resolved, every later publication of the
 *   topic is delivered to this node; so a reader that subscribes first and reads the stream after
 *   the subscription resolved misses nothing — each publication is in the read (or the read says
 *   it was trimmed) or delivered, some in both: it skips those at or below the read's position;
 * - **bounded**: a stream keeps at most `limits.size` publications for `limits.ttlMs`; at most
 *   `limits.maxTopics` topics and `limits.maxBytes` bytes are kept (the least recently published
 *   topic goes first and gets a new epoch); a read never returns more than `limits.maxReplayBytes`;
 * - **backpressure**: `append` returns at once and never throws or queues without bound; past the
 *   adapter's own bound of appends in flight (Redis: `maxPendingPublishes`) it calls `lost`;
 * - **outage**: while the store is unreachable `append` calls `lost(publishId, topic)` — the publication
 *   is delivered nowhere, not even on this node, so no node shows what the stream does not hold —
 *   and `readStream` rejects with `ERR_PUBSUB_ADAPTER` (a join on the topic then ends with
 *   `phx_error`, and the client rejoins with the same `recover` later). A node whose subscription
 *   dropped meanwhile sees the hole in the offsets and PubSub reads it back from the stream.
 */
export interface HistoryAdapter extends PubSubAdapter {
  /**
   * Appends `message` to its topic's stream and publishes it, with its position, to every node
   * subscribed to the topic — this one included, with `publishId` — through `deliver`. Never
   * throws; a failed append calls `lost(publishId, topic)` instead (see the guarantees above).
   */
  append(message: BroadcastMessage, publishId: number, limits: StreamLimits): void;
  /**
   * The publications of `topic` after `since` and its latest position (see {@link StreamRead});
   * `since` null: the position only. Reading a topic that never published creates nothing. A
   * replay is bounded: when the publications after `since` weigh more than
   * `limits.maxReplayBytes` (their replay size, `StreamRead.bytes`), none is returned and
   * `recovered` is false — measured where they are kept, from sizes known at append, so an
   * oversized replay is never copied or sent.
   * @throws StarlingError `ERR_PUBSUB_ADAPTER` (rejects) when the store is unreachable
   */
  readStream(topic: string, since: StreamPosition | null, limits: StreamLimits): StreamRead | Promise<StreamRead>;
}

/** True when `adapter` keeps streams (for callers that cannot be type-checked). */
export function isHistoryAdapter(adapter: PubSubAdapter): adapter is HistoryAdapter {
  const candidate = adapter as Partial<HistoryAdapter>;
  return typeof candidate.append === 'function' && typeof candidate.readStream === 'function';
}
