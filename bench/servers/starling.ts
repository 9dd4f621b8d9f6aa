/**
 * @module bench/servers/starling
 * The benchmark app on Starling, through its public API only: sockets at `/socket`, topic
 * `bench:fanout` routed to a channel where `publish` broadcasts the payload as `msg` to every
 * subscriber (the publisher included, no reply) and `ping` replies `ok` with the same payload.
 *
 * Cross-node: the PubSub comes from `createPubSub` (bench/servers/pubsub.ts,
 * `BENCH_PUBSUB=memory|redis|redis-cluster|nats`); the cross-node scenarios start 2 or 4 of these
 * servers on one engine.
 *
 * History (the `starling-history` peer): with `BENCH_HISTORY_SIZE=N`, `bench:fanout` keeps its
 * last N publications (docs/recovery.md), so every broadcast is appended to the topic's stream and
 * carries its position as `ref`, and a join with `{recover: position}` replays what was missed.
 * Nothing else changes: the same channel, the same topic, the same client.
 */
import { createServer } from 'node:http';
import { pino } from 'pino';
import { Endpoint, Socket, noreply, ok, reply, type Channel, type HistoryOptions, type OutPayload } from 'starling-channels';
import { createPubSub } from './pubsub.ts';
import { serve } from './serve.ts';

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
