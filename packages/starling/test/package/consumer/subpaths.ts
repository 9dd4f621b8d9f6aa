// The subpaths type-check: the optional ones against their peers (ioredis, the NATS client, prom-client, jose), and starling/testing.
import { Endpoint, PubSub } from 'starling-channels';
import { createMetrics, type Metrics } from 'starling-channels/metrics';
import { NatsPubSubAdapter } from 'starling-channels/nats';
import { RedisPubSubAdapter } from 'starling-channels/redis';
import { createRealtime, type Realtime } from 'starling-channels/supabase';
import { ChannelTest, type TestReply } from 'starling-channels/testing';

export function build(url: string, jwtSecret: string): { endpoint: Endpoint; metrics: Metrics; realtime: Realtime } {
  const endpoint = new Endpoint({ pubsub: new PubSub({ adapter: new RedisPubSubAdapter({ url, prefix: 'app' }) }) });
  const realtime = createRealtime(endpoint, { jwtSecret, authorize: ({ claims, access }) => access === 'read' && claims.role === 'authenticated' });
  endpoint.socket('/realtime/v1', realtime.socket);
  return { endpoint, metrics: createMetrics(endpoint), realtime };
}

export async function ping(endpoint: Endpoint): Promise<TestReply> {
  const test = new ChannelTest(endpoint, { path: '/socket' });
  const { channel } = await (await test.connect({ token: 't' })).join('rooms:lobby', { user: 'ada' });
  return channel.push('ping', { n: 1 }).reply();
}

/** A PubSub over NATS, with history topics in JetStream. */
export function natsPubSub(servers: string): PubSub {
  return new PubSub({ adapter: new NatsPubSubAdapter({ servers, prefix: 'app' }), history: { topics: ['rooms:*'] } });
}
