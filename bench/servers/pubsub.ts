/**
 * @module bench/servers/pubsub
 * The PubSub of a Starling peer's node (the starling, starling-history and supabase servers),
 * chosen by `BENCH_PUBSUB`: the cross-node hook of the bench.
 *
 * @example
 * const endpoint = new Endpoint({ logger, pubsub: await createPubSub(logger, undefined) });
 */
import { PubSub, type HistoryOptions, type Logger } from 'starling-channels';

/**
 * The PubSub of this node — the cross-node hook. `memory` (default): in-process, one node.
 * `redis`: `RedisPubSubAdapter` at `BENCH_REDIS_URL`; `redis-cluster`: `RedisClusterPubSubAdapter`
 * on `BENCH_REDIS_CLUSTER_NODES` (`host:port,…`); `nats`: `NatsPubSubAdapter` at `BENCH_NATS_URL`
 * (history in JetStream) — so that several of these servers form a cluster. Every channel and
 * stream under `BENCH_PUBSUB_PREFIX`.
 */
export async function createPubSub(logger: Logger, history: HistoryOptions | undefined): Promise<PubSub> {
  const kind = process.env.BENCH_PUBSUB ?? 'memory';
  const prefix = process.env.BENCH_PUBSUB_PREFIX;
  // The adapters are loaded only when asked for: the memory runs must not pay for their clients.
  switch (kind) {
    case 'memory':
      return new PubSub({ history });
    case 'redis': {
      const { RedisPubSubAdapter } = await import('starling-channels/redis');
      return new PubSub({ adapter: new RedisPubSubAdapter({ url: process.env.BENCH_REDIS_URL, prefix, logger }), history });
    }
    case 'redis-cluster': {
      const { RedisClusterPubSubAdapter } = await import('starling-channels/redis');
      const nodes = (process.env.BENCH_REDIS_CLUSTER_NODES ?? '').split(',').filter(Boolean);
      return new PubSub({ adapter: new RedisClusterPubSubAdapter({ nodes, prefix, logger }), history });
    }
    case 'nats': {
      const { NatsPubSubAdapter, natsOptionsFromUrl } = await import('starling-channels/nats');
      const { servers, connectionOptions } = natsOptionsFromUrl(process.env.BENCH_NATS_URL ?? 'nats://127.0.0.1:4222', 'BENCH_NATS_URL');
      return new PubSub({ adapter: new NatsPubSubAdapter({ servers, connectionOptions, prefix, logger }), history });
    }
    default:
      throw new Error(`BENCH_PUBSUB=${kind}: expected memory, redis, redis-cluster or nats`);
  }
}
