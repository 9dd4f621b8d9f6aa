// The optional subpaths type-check against their peers (ioredis, prom-client).
import { Endpoint, PubSub } from 'starling';
import { createMetrics, type Metrics } from 'starling/metrics';
import { RedisPubSubAdapter } from 'starling/redis';

export function build(url: string): { endpoint: Endpoint; metrics: Metrics } {
  const endpoint = new Endpoint({ pubsub: new PubSub({ adapter: new RedisPubSubAdapter({ url, prefix: 'app' }) }) });
  return { endpoint, metrics: createMetrics(endpoint) };
}
