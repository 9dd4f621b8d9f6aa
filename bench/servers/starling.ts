/**
 * @module bench/servers/starling
 * The benchmark app on Starling, through its public API only: sockets at `/socket`, topic
 * `bench:fanout` routed to a channel where `publish` broadcasts the payload as `msg` to every
 * subscriber (the publisher included, no reply) and `ping` replies `ok` with the same payload.
 *
 * Cross-node: the PubSub comes from {@link createPubSub} (`BENCH_PUBSUB=memory|redis`); the
 * `fanout-cluster` scenario starts two of these servers on one Redis.
 *
 * History (the `starling-history` peer): with `BENCH_HISTORY_SIZE=N`, `bench:fanout` keeps its
 * last N publications (docs/recovery.md), so every broadcast is appended to the topic's stream and
 * carries its position as `ref`, and a join with `{recover: position}` replays what was missed.
 * Nothing else changes: the same channel, the same topic, the same client.
 */
import { createServer } from 'node:http';
import { pino, type Logger } from 'pino';
import { Endpoint, PubSub, Socket, noreply, ok, reply, type Channel, type HistoryOptions, type OutPayload } from 'starling-channels';
import { serve } from './serve.ts';

/**
 * The PubSub of this node — the cross-node hook. `memory` (default): in-process, one node.
 * `redis`: the Redis adapter at `BENCH_REDIS_URL`, so that two of these servers form a cluster.
 */
async function createPubSub(logger: Logger, history: HistoryOptions | undefined): Promise<PubSub> {
  const kind = process.env.BENCH_PUBSUB ?? 'memory';
  if (kind === 'memory') return new PubSub({ history });
  if (kind === 'redis') {
    // Loaded only when asked for: the memory runs must not pay for the Redis client.
    const { RedisPubSubAdapter } = await import('starling-channels/redis');
    const adapter = new RedisPubSubAdapter({ url: process.env.BENCH_REDIS_URL, prefix: process.env.BENCH_REDIS_PREFIX, logger });
    return new PubSub({ adapter, history });
  }
  throw new Error(`BENCH_PUBSUB=${kind}: expected memory or redis`);
}

/** `BENCH_HISTORY_SIZE=N`: `bench:fanout` keeps its last N publications; unset: no history. */
function historyOptions(): HistoryOptions | undefined {
  const size = process.env.BENCH_HISTORY_SIZE;
  if (size === undefined || size === '') return undefined;
  return { topics: ['bench:fanout'], size: Number(size) };
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
  const endpoint = new Endpoint({ logger, pubsub: await createPubSub(logger, historyOptions()) });
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
