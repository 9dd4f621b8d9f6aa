/**
 * The shared PubSubAdapter and stream store suites on the Redis Cluster adapter: a private Redis
 * Cluster of three masters (started once for this file from `redis-server` in cluster mode), every
 * node with its own RedisClusterPubSubAdapter, under a prefix unique to each test's cluster.
 */
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll } from 'vitest';
import { RedisClusterPubSubAdapter } from '../../../src/redis/index.ts';
import { PubSub } from '../../../src/pubsub/pubsub.ts';
import { startThrowawayRedisCluster, type ThrowawayRedisCluster } from '@starling/test-support/redis-cluster';
import { pubSubAdapterSuite, type ClusterFactory } from './pubsub-adapter.suite.ts';
import { streamStoreSuite } from './stream-store.suite.ts';

const runPrefix = `starling-test-${process.pid}-${randomBytes(4).toString('hex')}`;
const logger = pino({ level: 'silent' });
const NAME = 'Redis Cluster';
let redis: ThrowawayRedisCluster;
let clusters = 0;
let nodes: PubSub[] = [];

beforeAll(async () => {
  redis = await startThrowawayRedisCluster();
}, 30_000);

afterAll(async () => {
  await redis.stop();
});

const factory: ClusterFactory = {
  async start(n, history) {
    const prefix = `${runPrefix}-${++clusters}`;
    nodes = Array.from({ length: n }, () => new PubSub({ adapter: new RedisClusterPubSubAdapter({ nodes: redis.nodes, prefix, logger }), history }));
    await Promise.all(nodes.map((node) => node.start()));
    return nodes;
  },
  async stop() {
    await Promise.all(nodes.map((node) => node.close()));
    nodes = [];
  },
};

pubSubAdapterSuite(NAME, factory);
streamStoreSuite(NAME, factory);
