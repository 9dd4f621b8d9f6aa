/**
 * The engine several chat processes share — for broadcasts, presence, the rooms' replay streams
 * and LongPoll forwarding — chosen by exactly one setting: a standalone Redis (`REDIS_URL`), a
 * Redis Cluster (`REDIS_CLUSTER_NODES`) or NATS with JetStream (`NATS_URL`). None: one process,
 * in-process PubSub. Every cross-process feature of the chat goes through the framework's PubSub,
 * so the three serve the chat alike; the README's "Scaling out" says when to pick which.
 *
 * @example
 * const engine = openEngine({ natsUrl: 'nats://127.0.0.1:4222' }, logger);
 * const pubsub = engine && new PubSub({ adapter: engine.adapter, history });
 */
import type { Logger } from 'pino';
import type { HistoryAdapter } from 'starling-channels';
import { NatsPubSubAdapter, natsOptionsFromUrl } from 'starling-channels/nats';
import { RedisClusterPubSubAdapter, RedisPubSubAdapter } from 'starling-channels/redis';

/** The chat's settings that pick the engine; at most one may be set. */
export interface EngineOptions {
  /** A standalone Redis: `redis://…` or `rediss://…`. */
  readonly redisUrl?: string | undefined;
  /** Some masters of a Redis Cluster, `host:port` each (the rest is discovered). */
  readonly redisClusterNodes?: readonly string[] | undefined;
  /** NATS with JetStream: `nats://[user:pass@ | token@]host:port`, several of one cluster separated by commas. */
  readonly natsUrl?: string | undefined;
}

/** What `/ready`, the metrics and the startup line call each engine. */
export type EngineName = 'redis' | 'redis-cluster' | 'nats';

/** The adapter of the engine in use. */
export interface Engine {
  readonly name: EngineName;
  /** The dependency `/ready` and `chat_dependency_up` name: `redis` (standalone or cluster) or `nats`. */
  readonly dependency: 'redis' | 'nats';
  readonly adapter: HistoryAdapter;
}

/** Subjects, streams and keys of the chat start with this on every engine. */
const PREFIX = 'starling-chat';

/** The engine `options` name, or null when they name none. */
export function engineName(options: EngineOptions): EngineName | null {
  if (options.redisClusterNodes !== undefined) return 'redis-cluster';
  if (options.redisUrl !== undefined) return 'redis';
  if (options.natsUrl !== undefined) return 'nats';
  return null;
}

/**
 * The adapter of the engine `options` name, not yet connected (the endpoint starts it), or null.
 * @throws Error when more than one engine is set, or `natsUrl` is malformed
 */
export function openEngine(options: EngineOptions, logger: Logger): Engine | null {
  const set = [options.redisUrl, options.redisClusterNodes, options.natsUrl].filter((value) => value !== undefined);
  if (set.length > 1) throw new Error('redisUrl, redisClusterNodes and natsUrl are exclusive: set one');
  const name = engineName(options);
  if (name === 'redis-cluster')
    return { name, dependency: 'redis', adapter: new RedisClusterPubSubAdapter({ nodes: options.redisClusterNodes ?? [], prefix: PREFIX, logger }) };
  if (name === 'redis') return { name, dependency: 'redis', adapter: new RedisPubSubAdapter({ url: options.redisUrl, prefix: PREFIX, logger }) };
  if (name === 'nats') {
    const { servers, connectionOptions } = natsOptionsFromUrl(options.natsUrl ?? '', 'NATS_URL');
    return { name, dependency: 'nats', adapter: new NatsPubSubAdapter({ servers, connectionOptions, prefix: PREFIX, logger }) };
  }
  return null;
}
