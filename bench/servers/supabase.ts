/**
 * @module bench/servers/supabase
 * The benchmark app as a Supabase-Realtime-compatible service (`starling-channels/supabase`): clients speak
 * realtime-js's protocol at `/realtime/v1` and publish with `broadcast` on `realtime:bench`
 * (with `self`, so the publisher counts as a subscriber, as in the other peers). Same PubSub hook
 * as the Starling peer (`BENCH_PUBSUB=memory|redis`).
 */
import { createServer } from 'node:http';
import { Endpoint, PubSub, silentLogger } from 'starling-channels';
import { createRealtime } from 'starling-channels/supabase';
import { serve } from './serve.ts';

/** The HS256 secret of the bench's API key (`SUPABASE_BENCH_KEY` in the client's dialect). */
export const SUPABASE_BENCH_SECRET = 'starling-bench-jwt-secret-not-for-production-use-000';

async function createPubSub(): Promise<PubSub> {
  if ((process.env.BENCH_PUBSUB ?? 'memory') === 'memory') return new PubSub();
  const { RedisPubSubAdapter } = await import('starling-channels/redis');
  return new PubSub({ adapter: new RedisPubSubAdapter({ url: process.env.BENCH_REDIS_URL, logger: silentLogger }) });
}

await serve(async () => {
  const endpoint = new Endpoint({ logger: silentLogger, pubsub: await createPubSub() });
  // The load generator is trusted and pushes far beyond a browser's pace: no broadcast rate limit,
  // no inbound rate limit.
  const realtime = createRealtime(endpoint, { jwtSecret: SUPABASE_BENCH_SECRET, broadcastsPerSecond: Number.POSITIVE_INFINITY });
  // Every bench socket comes from 127.0.0.1: no per-IP cap either.
  endpoint.socket('/realtime/v1', realtime.socket, { rateLimit: false, maxConnectionsPerIp: Number.POSITIVE_INFINITY });
  await endpoint.pubsub.start();
  const server = createServer((req, res) => {
    if (!endpoint.handleRequest(req, res)) res.writeHead(404).end();
  });
  endpoint.attach(server);
  return { server, close: () => endpoint.close({ intervalMs: 0 }) };
});
