/**
 * The shared PubSubAdapter suite on the Redis adapter: every node has its own
 * RedisPubSubAdapter (two connections) on the machine's Redis, under a channel prefix unique to
 * this run and cluster, so parallel test files and earlier clusters cannot interfere.
 */
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { RedisPubSubAdapter } from '../../../src/redis/index.ts';
import { PubSub } from '../../../src/pubsub/pubsub.ts';
import { ensureRedis } from '@starling/test-support/redis';
import { pubSubAdapterSuite, type ClusterFactory } from './pubsub-adapter.suite.ts';
import { streamStoreSuite } from './stream-store.suite.ts';

const runPrefix = `starling-test-${process.pid}-${randomBytes(4).toString('hex')}`;
const logger = pino({ level: 'silent' });
let clusters = 0;
const NAME = 'Redis';
let nodes: PubSub[] = [];

const factory: ClusterFactory = {
  async start(n, history) {
    const url = await ensureRedis();
    const prefix = `${runPrefix}-${++clusters}`;
    nodes = Array.from({ length: n }, () => new PubSub({ adapter: new RedisPubSubAdapter({ url, prefix, logger }), history }));
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
