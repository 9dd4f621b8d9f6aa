/**
 * @module bench/servers/starling
 * The benchmark app on Starling, through its public API only: sockets at `/socket`, topic
 * `bench:fanout` routed to a channel where `publish` broadcasts the payload as `msg` to every
 * subscriber (the publisher included, no reply) and `ping` replies `ok` with the same payload.
 *
 * Cross-node: the PubSub comes from {@link createPubSub} (`BENCH_PUBSUB=memory|redis`); the
 * `fanout-cluster` scenario starts two of these servers on one Redis.
 */
import { createServer } from 'node:http';
import { pino, type Logger } from 'pino';
import { Endpoint, PubSub, Socket, noreply, ok, reply, type Channel, type OutPayload } from 'starling';
import { serve } from './serve.ts';

/**
 * The PubSub of this node — the cross-node hook. `memory` (default): in-process, one node.
 * `redis`: the Redis adapter at `BENCH_REDIS_URL`, so that two of these servers form a cluster.
 */
async function createPubSub(logger: Logger): Promise<PubSub> {
  const kind = process.env.BENCH_PUBSUB ?? 'memory';
  if (kind === 'memory') return new PubSub();
  if (kind === 'redis') {
    // Loaded only when asked for: the memory runs must not pay for the Redis client.
    const { RedisPubSubAdapter } = await import('starling/redis');
    return new PubSub({ adapter: new RedisPubSubAdapter({ url: process.env.BENCH_REDIS_URL, logger }) });
  }
  throw new Error(`BENCH_PUBSUB=${kind}: expected memory or redis`);
}

const BenchChannel = {
  join: () => ok(),
  handleIn(event, payload, socket) {
    switch (event) {
      case 'publish':
        socket.broadcast('msg', payload as OutPayload);
        return noreply();
      case 'ping':
        return reply('ok', payload);
      default:
        return reply('error', { reason: 'unknown event' });
    }
  },
} satisfies Channel;

await serve(async () => {
  const logger = pino({ level: 'silent' });
  const endpoint = new Endpoint({ logger, pubsub: await createPubSub(logger) });
  // The load generator is trusted and pushes far beyond a browser's pace: no inbound rate limit.
  endpoint.socket('/socket', new Socket().channel('bench:*', BenchChannel), {
    rateLimit: false,
    // The load generator opens every client from one address.
    maxConnectionsPerIp: Infinity,
  });
  await endpoint.pubsub.start();
  const server = createServer((req, res) => {
    if (!endpoint.handleRequest(req, res)) res.writeHead(404).end();
  });
  endpoint.attach(server);
  return { server, close: () => endpoint.close({ intervalMs: 0 }) };
});
