/**
 * The shared PubSubAdapter and stream store suites on the NATS adapter: every node has its own
 * NatsPubSubAdapter (one connection) on the machine's NATS with JetStream, under a prefix unique
 * to this run and cluster — its own subjects and its own JetStream streams — so parallel test
 * files and earlier clusters cannot interfere. Each cluster's streams are deleted when it stops.
 */
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { NatsPubSubAdapter } from '../../../src/nats/index.ts';
import { PubSub } from '../../../src/pubsub/pubsub.ts';
import { deleteNatsStreams, ensureNats } from '@starling/test-support/nats';
import { pubSubAdapterSuite, type ClusterFactory } from './pubsub-adapter.suite.ts';
import { streamStoreSuite } from './stream-store.suite.ts';

const runPrefix = `t${process.pid}-${randomBytes(4).toString('hex')}`;
const logger = pino({ level: 'silent' });
let clusters = 0;
const NAME = 'NATS';
let nodes: PubSub[] = [];
let prefix = '';
let url = '';

const factory: ClusterFactory = {
  async start(n, history) {
    url = await ensureNats();
    prefix = `${runPrefix}-${++clusters}`;
    nodes = Array.from({ length: n }, () => new PubSub({ adapter: new NatsPubSubAdapter({ servers: url, prefix, logger, storage: 'memory' }), history }));
    await Promise.all(nodes.map((node) => node.start()));
    return nodes;
  },
  async stop() {
    await Promise.all(nodes.map((node) => node.close()));
    nodes = [];
    if (prefix !== '') await deleteNatsStreams(url, prefix);
  },
};

pubSubAdapterSuite(NAME, factory);
streamStoreSuite(NAME, factory);
