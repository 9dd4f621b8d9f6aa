/**
 * The three engines the apps' nodes can share — a standalone Redis, a Redis Cluster of three
 * masters and NATS with JetStream — each as a private server of the test file that starts it, so
 * that the apps' fixed prefixes (`starling-chat`, `starling-realtime`) never meet another file's or
 * another checkout's streams. A cluster test loops over {@link ENGINES} and starts one engine per
 * `describe` in `beforeAll` (a Redis Cluster takes seconds to form; a test never starts its own).
 *
 * @example
 * describe.each(ENGINES)('two nodes on $label', ({ kind }) => {
 *   let engine: ThrowawayEngine;
 *   beforeAll(async () => (engine = await startThrowawayEngine(kind)), 60_000);
 *   afterAll(() => engine?.stop());
 *   it('…', async () => startServer({ ...engine.env }));
 * });
 */
import { startThrowawayNats } from './nats.ts';
import { startThrowawayRedis } from './redis.ts';
import { startThrowawayRedisCluster } from './redis-cluster.ts';

/** The engines, with the words a test title uses for each. */
export const ENGINES = [
  { kind: 'redis', label: 'standalone Redis' },
  { kind: 'redis-cluster', label: 'a Redis Cluster' },
  { kind: 'nats', label: 'NATS' },
] as const;

/** One of {@link ENGINES}. */
export type EngineKind = (typeof ENGINES)[number]['kind'];

/** A running private engine. */
export interface ThrowawayEngine {
  readonly kind: EngineKind;
  /**
   * The apps' environment naming it: the variable of this engine set, the other two empty (which
   * both apps read as unset), so that the machine's own settings cannot leak in.
   */
  readonly env: { readonly REDIS_URL: string; readonly REDIS_CLUSTER_NODES: string; readonly NATS_URL: string };
  /** The same as the chat's `startChat` options: exactly one of the three. */
  readonly options: { readonly redisUrl?: string; readonly redisClusterNodes?: readonly string[]; readonly natsUrl?: string };
  /** Kills the engine's servers (a NATS store directory goes when the test process exits). */
  stop(): Promise<void>;
}

/** Starts a private engine of `kind` and resolves once it serves. */
export async function startThrowawayEngine(kind: EngineKind): Promise<ThrowawayEngine> {
  const none = { REDIS_URL: '', REDIS_CLUSTER_NODES: '', NATS_URL: '' };
  switch (kind) {
    case 'redis': {
      const redis = await startThrowawayRedis();
      return { kind, env: { ...none, REDIS_URL: redis.url }, options: { redisUrl: redis.url }, stop: () => redis.stop() };
    }
    case 'redis-cluster': {
      const cluster = await startThrowawayRedisCluster();
      return {
        kind,
        env: { ...none, REDIS_CLUSTER_NODES: cluster.nodesEnv },
        options: { redisClusterNodes: cluster.nodesEnv.split(',') },
        stop: () => cluster.stop(),
      };
    }
    case 'nats': {
      const nats = await startThrowawayNats();
      return { kind, env: { ...none, NATS_URL: nats.url }, options: { natsUrl: nats.url }, stop: () => nats.stop() };
    }
  }
}
