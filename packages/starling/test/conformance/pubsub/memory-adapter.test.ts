import { MemoryBus, MemoryPubSubAdapter } from '../../../src/pubsub/memory-adapter.ts';
import { PubSub } from '../../../src/pubsub/pubsub.ts';
import { pubSubAdapterSuite, type ClusterFactory } from './pubsub-adapter.suite.ts';
import { streamStoreSuite } from './stream-store.suite.ts';

const NAME = 'in-process (MemoryBus)';
let nodes: PubSub[] = [];

const factory: ClusterFactory = {
  async start(n, history) {
    const bus = new MemoryBus();
    nodes = Array.from({ length: n }, () => new PubSub({ adapter: new MemoryPubSubAdapter(bus), history }));
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
