import { MemoryBus, MemoryPubSubAdapter } from '../../../src/pubsub/memory-adapter.ts';
import { PubSub } from '../../../src/pubsub/pubsub.ts';
import { pubSubAdapterSuite } from './pubsub-adapter.suite.ts';

let nodes: PubSub[] = [];

pubSubAdapterSuite('in-process (MemoryBus)', {
  async start(n) {
    const bus = new MemoryBus();
    nodes = Array.from({ length: n }, () => new PubSub({ adapter: new MemoryPubSubAdapter(bus) }));
    await Promise.all(nodes.map((node) => node.start()));
    return nodes;
  },
  async stop() {
    await Promise.all(nodes.map((node) => node.close()));
    nodes = [];
  },
});
