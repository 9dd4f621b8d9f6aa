// The subpaths type-check: the optional ones against their peers (ioredis, prom-client), and starling/testing.
import { Endpoint, PubSub } from 'starling';
import { createMetrics, type Metrics } from 'starling/metrics';
import { RedisPubSubAdapter } from 'starling/redis';
import { ChannelTest, type TestReply } from 'starling/testing';

export function build(url: string): { endpoint: Endpoint; metrics: Metrics } {
  const endpoint = new Endpoint({ pubsub: new PubSub({ adapter: new RedisPubSubAdapter({ url, prefix: 'app' }) }) });
  return { endpoint, metrics: createMetrics(endpoint) };
}

export async function ping(endpoint: Endpoint): Promise<TestReply> {
  const test = new ChannelTest(endpoint, { path: '/socket' });
  const { channel } = await (await test.connect({ token: 't' })).join('rooms:lobby', { user: 'ada' });
  return channel.push('ping', { n: 1 }).reply();
}
