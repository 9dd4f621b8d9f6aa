/**
 * @module starling-channels/redis
 * Starling's Redis adapters: {@link RedisPubSubAdapter} spreads broadcasts over several nodes
 * sharing one Redis; {@link RedisClusterPubSubAdapter} does the same on a Redis Cluster (7+, sharded
 * pub/sub), spreading topics over its shards.
 * Needs `ioredis` (an optional peer dependency: install it to use this subpath).
 * The envelope format is exported for tools that speak it (and for nodes of a newer format that
 * must recognise this one); its functions are pure.
 *
 * @example
 * import { PubSub } from 'starling-channels';
 * import { RedisPubSubAdapter } from 'starling-channels/redis';
 * const pubsub = new PubSub({ adapter: new RedisPubSubAdapter({ url: 'redis://redis:6379', prefix: 'chat' }) });
 */
export { RedisPubSubAdapter, type RedisPubSubAdapterOptions, type RedisPubSubStats } from './redis-pubsub-adapter.ts';
export { RedisClusterPubSubAdapter, type RedisClusterPubSubAdapterOptions } from './redis-cluster-pubsub-adapter.ts';
export { ENVELOPE_VERSION, MAX_ORIGIN_BYTES, PayloadKinds, decodeEnvelope, encodeEnvelope, envelopeHeader, type Envelope } from './envelope.ts';
