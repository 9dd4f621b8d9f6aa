// The optional subpaths type-check against their peers (ioredis, prom-client, jose).
import { Endpoint, PubSub } from 'starling';
import { createMetrics, type Metrics } from 'starling/metrics';
import { RedisPubSubAdapter } from 'starling/redis';
import { createRealtime, type Realtime } from 'starling/supabase';

export function build(url: string, jwtSecret: string): { endpoint: Endpoint; metrics: Metrics; realtime: Realtime } {
  const endpoint = new Endpoint({ pubsub: new PubSub({ adapter: new RedisPubSubAdapter({ url, prefix: 'app' }) }) });
  const realtime = createRealtime(endpoint, { jwtSecret, authorize: ({ claims, access }) => access === 'read' && claims.role === 'authenticated' });
  endpoint.socket('/realtime/v1', realtime.socket);
  return { endpoint, metrics: createMetrics(endpoint), realtime };
}
