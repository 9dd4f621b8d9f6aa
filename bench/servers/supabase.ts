/**
 * @module bench/servers/supabase
 * The benchmark app as a Supabase-Realtime-compatible service (`starling-channels/supabase`): clients speak
 * realtime-js's protocol at `/realtime/v1` and publish with `broadcast` on `realtime:bench`
 * (with `self`, so the publisher counts as a subscriber, as in the other peers). Same PubSub hook
 * as the Starling peer (bench/servers/pubsub.ts: `BENCH_PUBSUB=memory|redis|redis-cluster|nats`).
 *
 * With `BENCH_DATABASE_URL` (the postgres-changes scenario) it also serves `postgres_changes`
 * from that database, as `npm run realtime` does with `DATABASE_URL`, and answers `stats` with its
 * postgres_changes counters.
 */
import { createServer } from 'node:http';
import { Endpoint, consoleLogger, silentLogger } from 'starling-channels';
import { createRealtime } from 'starling-channels/supabase';
import { SUPABASE_BENCH_SECRET } from '../lib/supabase-key.ts';
import { createPubSub } from './pubsub.ts';
import { serve, type PeerServer } from './serve.ts';

await serve(async (): Promise<PeerServer> => {
  // BENCH_SERVER_LOG=warn (or info, debug) shows what the server logs, e.g. a failing check.
  const level = process.env.BENCH_SERVER_LOG;
  const logger = level === 'warn' || level === 'info' || level === 'debug' || level === 'error' ? consoleLogger(level) : silentLogger;
  const endpoint = new Endpoint({ logger, pubsub: await createPubSub(silentLogger, undefined) });
  const database = process.env.BENCH_DATABASE_URL;
  const realtime = createRealtime(endpoint, {
    jwtSecret: SUPABASE_BENCH_SECRET,
    broadcastsPerSecond: Number.POSITIVE_INFINITY,
    ...(database === undefined ? {} : { postgresChanges: { connectionString: database } }),
  });
  // The load generator is trusted and pushes far beyond a browser's pace: no broadcast rate limit
  // (above), no inbound rate limit.
  // Every bench socket comes from 127.0.0.1: no per-IP cap either.
  endpoint.socket('/realtime/v1', realtime.socket, { rateLimit: false, maxConnectionsPerIp: Number.POSITIVE_INFINITY });
  await endpoint.pubsub.start();
  await realtime.start();
  const server = createServer((req, res) => {
    if (!endpoint.handleRequest(req, res)) res.writeHead(404).end();
  });
  endpoint.attach(server);
  return {
    server,
    async close() {
      await endpoint.close({ intervalMs: 0 });
      await realtime.close();
    },
    stats(): Record<string, number> {
      const changes = realtime.changeStats;
      if (changes === null) return {};
      return {
        channels: changes.channels,
        changes: changes.changes,
        authorizationChecks: changes.authorizationChecks,
        delivered: changes.delivered,
        checkFailed: changes.dropped.check_failed,
        unauthorized: changes.dropped.unauthorized,
        duplicate: changes.dropped.duplicate,
      };
    },
  };
});
