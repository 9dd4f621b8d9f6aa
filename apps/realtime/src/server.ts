/**
 * A self-hostable Supabase-Realtime-compatible server: Broadcast and Presence for the unchanged
 * `@supabase/realtime-js` client (and supabase-js), at `ws://HOST:PORT/realtime/v1`, and the same
 * service for the official `phoenix` client at `/socket`. `npm run realtime` starts it.
 *
 * Environment: `REALTIME_JWT_SECRET` (the HS256 secret that signs API keys and access tokens, at
 * least 32 bytes) and/or `REALTIME_JWKS_URL` (a JWKS of asymmetric keys): one is required;
 * `REALTIME_JWT_ISSUER` / `REALTIME_JWT_AUDIENCE` (optional: tokens must name them),
 * `REALTIME_PRIVATE_ONLY=true` (refuse public channels), `REALTIME_PRESENCE_CALLS` /
 * `REALTIME_PRESENCE_WINDOW_MS` (presence calls per connection per window, default 5 per 30 s),
 * `REALTIME_CHANNELS_PER_CONNECTION` (100), `REALTIME_BROADCASTS_PER_SECOND` (100, per connection),
 * `REALTIME_MAX_PAYLOAD_BYTES` (256000): Supabase's defaults; `REALTIME_PERSIST_TTL_MS` (three
 * days) and `REALTIME_PERSIST_MAX_BYTES` (64 MiB): how long and how much of the persisted
 * broadcasts are kept without a database,
 * `METRICS_TOKEN` (`/metrics` needs it as a bearer token; without it, loopback clients only), `PORT` (4000), `HOST` (127.0.0.1);
 * for several nodes one of `REDIS_URL`, `REDIS_CLUSTER_NODES` (`host:port,…`, a Redis Cluster) or
 * `NATS_URL` (`nats://host:port`, NATS with JetStream);
 * `SECRET_KEY_BASE`, `LOG_LEVEL` (info), `TRUSTED_PROXIES` (the reverse proxies whose
 * `X-Forwarded-For` names the client, e.g. `127.0.0.1,10.0.0.0/8`). Without a database its policy
 * is: a private channel needs a token whose `role` is `authenticated`; an anon key gets public channels;
 * persisted broadcasts are kept in the PubSub's history (in process, or in the engine of several nodes) for replay.
 *
 * With `DATABASE_URL`, **Postgres Changes** too: the row changes of the tables in the publication
 * `supabase_realtime` (created empty when missing), from the logical replication slot
 * `REALTIME_SLOT` (default `starling_realtime`), authorized by the tables' row-level security
 * under each subscriber's JWT claims; Broadcast from Database (`realtime.send`, installed at
 * start); and private channels authorized as Supabase does, by the row-level-security policies on
 * `realtime.messages` (`realtime.topic()`, the `extension` column, `auth.uid()`). The database needs `wal_level=logical`; the server refuses
 * to start, saying why, otherwise. With several nodes (sharing an engine), one consumes the slot and
 * another takes over if it dies (the replication slot is held through a PostgreSQL advisory lock;
 * the changes reach the other nodes over their engine).
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Endpoint, PubSub, TrustedProxies, consoleLogger, type HistoryOptions, type LogLevel } from 'starling-channels';
import { createMetrics } from 'starling-channels/metrics';
import { NatsPubSubAdapter, natsOptionsFromUrl, type NatsUrlOptions } from 'starling-channels/nats';
import { RedisClusterPubSubAdapter, RedisPubSubAdapter } from 'starling-channels/redis';
import { DEFAULT_CONNECTION_LIMITS, MAX_REPLAY, PERSISTED_TOPICS, createRealtime } from 'starling-channels/supabase';

const secret = process.env.REALTIME_JWT_SECRET || undefined;
const jwksUrl = process.env.REALTIME_JWKS_URL || undefined;
if (secret === undefined && jwksUrl === undefined) {
  console.error(
    'REALTIME_JWT_SECRET is required (or REALTIME_JWKS_URL): the HS256 secret, or the JWKS, that signs the API keys and access tokens your clients present',
  );
  process.exit(1);
}
/** A positive integer from the environment, or the default; exits saying why on anything else. */
function positive(name: string): number | undefined {
  const value = process.env[name];
  if (value === undefined || value === '') return undefined;
  if (!/^[1-9][0-9]*$/.test(value)) {
    console.error(`${name} must be a positive integer, got ${JSON.stringify(value)}`);
    process.exit(1);
  }
  return Number(value);
}
const presenceCalls = positive('REALTIME_PRESENCE_CALLS');
const presenceWindowMs = positive('REALTIME_PRESENCE_WINDOW_MS');
const maxChannelsPerConnection = positive('REALTIME_CHANNELS_PER_CONNECTION') ?? DEFAULT_CONNECTION_LIMITS.maxChannelsPerConnection;
const broadcastsPerSecond = positive('REALTIME_BROADCASTS_PER_SECOND');
const maxPayloadBytes = positive('REALTIME_MAX_PAYLOAD_BYTES');
const persistTtlMs = positive('REALTIME_PERSIST_TTL_MS') ?? 3 * 24 * 3600 * 1000;
const persistMaxBytes = positive('REALTIME_PERSIST_MAX_BYTES');
let trustedProxies: TrustedProxies | undefined;
try {
  const value = process.env.TRUSTED_PROXIES ?? '';
  trustedProxies = value.trim() === '' ? undefined : new TrustedProxies(value);
} catch (err) {
  console.error(`TRUSTED_PROXIES must be a comma-separated list of IP addresses and CIDR ranges (${err instanceof Error ? err.message : String(err)})`);
  process.exit(1);
}
const logger = consoleLogger((process.env.LOG_LEVEL ?? 'info') as LogLevel);
const redisUrl = process.env.REDIS_URL || undefined;
const redisClusterNodes = process.env.REDIS_CLUSTER_NODES ? process.env.REDIS_CLUSTER_NODES.split(',').map((node) => node.trim()) : undefined;
const natsUrl = process.env.NATS_URL || undefined;
// The engine several nodes share: at most one.
const engines = (
  [
    ['REDIS_URL', redisUrl],
    ['REDIS_CLUSTER_NODES', redisClusterNodes],
    ['NATS_URL', natsUrl],
  ] as const
).flatMap(([name, value]) => (value === undefined ? [] : [name]));
if (engines.length > 1) {
  console.error(
    `${engines.join(' and ')} are exclusive: set one of REDIS_URL (a standalone Redis), REDIS_CLUSTER_NODES (a Redis Cluster) or NATS_URL (NATS with JetStream)`,
  );
  process.exit(1);
}
if (redisClusterNodes?.some((node) => !/^[A-Za-z0-9.-]+:\d{1,5}$/.test(node))) {
  console.error('REDIS_CLUSTER_NODES must be host:port pairs separated by commas, such as 10.0.0.1:6379,10.0.0.2:6379');
  process.exit(1);
}
let nats: NatsUrlOptions | undefined;
try {
  nats = natsUrl === undefined ? undefined : natsOptionsFromUrl(natsUrl, 'NATS_URL');
} catch (err) {
  console.error((err as Error).message);
  process.exit(1);
}
const prefix = 'starling-realtime';
// Without a database, persisted broadcasts live in the PubSub's history: the newest MAX_REPLAY of
// each channel (no replay asks for more), for REALTIME_PERSIST_TTL_MS, in the engine when there is one.
const history: HistoryOptions | undefined = process.env.DATABASE_URL
  ? undefined
  : { topics: [PERSISTED_TOPICS], size: MAX_REPLAY, ttlMs: persistTtlMs, maxTopics: 100_000, maxBytes: persistMaxBytes };
const pubsub = redisClusterNodes
  ? new PubSub({ adapter: new RedisClusterPubSubAdapter({ nodes: redisClusterNodes, prefix, logger }), history })
  : redisUrl
    ? new PubSub({ adapter: new RedisPubSubAdapter({ url: redisUrl, prefix, logger }), history })
    : nats
      ? new PubSub({ adapter: new NatsPubSubAdapter({ ...nats, prefix, logger }), history })
      : new PubSub({ history });
// Behind the listed proxies, per-address limits (connections, REST budgets) apply to the forwarded client.
const endpoint = new Endpoint({ secretKeyBase: process.env.SECRET_KEY_BASE || undefined, pubsub, logger, trustedProxies });
const listOf = (value: string | undefined): string[] | undefined => (value ? value.split(',').map((item) => item.trim()) : undefined);
let realtime;
try {
  realtime = createRealtime(endpoint, {
    jwtSecret: secret,
    jwksUrl,
    issuer: listOf(process.env.REALTIME_JWT_ISSUER),
    audience: listOf(process.env.REALTIME_JWT_AUDIENCE),
    // With a database, Supabase's own rule: the row-level-security policies on realtime.messages.
    // Without one, the example policy (Supabase gives this role to RLS policies): private channels are for signed-in users.
    authorize: process.env.DATABASE_URL ? 'policies' : ({ claims }) => claims.role === 'authenticated',
    privateOnly: process.env.REALTIME_PRIVATE_ONLY === 'true',
    presenceLimit: presenceCalls || presenceWindowMs ? { calls: presenceCalls ?? 5, windowMs: presenceWindowMs ?? 30_000 } : undefined,
    maxChannelsPerConnection,
    broadcastsPerSecond,
    maxPayloadBytes,
    postgresChanges: process.env.DATABASE_URL
      ? { connectionString: process.env.DATABASE_URL, slot: process.env.REALTIME_SLOT || undefined, broadcastFromDatabase: true }
      : undefined,
  });
} catch (err) {
  console.error(`REALTIME_JWT_SECRET refused: ${(err as Error).message}`);
  process.exit(1);
}
// Any site may use the service, as with a Supabase project: clients authenticate with their API key,
// never with ambient cookies, so a page from another origin gains nothing it could not do itself.
// The framework's own channel bound sits one above the realtime one, so that a join past it is
// refused with Supabase's reason (ChannelRateLimitReached) rather than the framework's.
const mount = { checkOrigin: false, maxChannels: maxChannelsPerConnection + 1 } as const;
endpoint.socket('/realtime/v1', realtime.socket, mount).socket('/socket', realtime.phoenixSocket, mount);

try {
  await realtime.start();
} catch (err) {
  console.error(`postgres_changes cannot start: ${(err as Error).message}`);
  process.exit(1);
}

const metrics = createMetrics(endpoint, { changes: realtime });
const metricsToken = process.env.METRICS_TOKEN || undefined;

/**
 * `/metrics` answers a bearer `METRICS_TOKEN` when one is set, else loopback clients only. A
 * forwarded request counts as loopback only through a trusted proxy: a proxy on this machine
 * would otherwise make every outside client look local.
 */
function metricsAllowed(req: IncomingMessage): boolean {
  if (metricsToken !== undefined) {
    const given = Buffer.from(/^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '');
    const expected = Buffer.from(metricsToken);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
  const forwarded = req.headers['x-forwarded-for'] !== undefined || req.headers.forwarded !== undefined;
  if (forwarded && !(trustedProxies?.includes(req.socket.remoteAddress ?? '') ?? false)) return false;
  const address = endpoint.clientAddress(req);
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

const port = Number(process.env.PORT ?? 4000);
const host = process.env.HOST ?? '127.0.0.1';
await endpoint.listen({
  port,
  host,
  fallback(req, res) {
    if (realtime.handleRequest(req, res)) return;
    if (req.url === '/health') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    if (req.url === '/metrics' && req.method === 'GET') {
      if (!metricsAllowed(req)) return void res.writeHead(403, { 'content-type': 'text/plain' }).end('forbidden');
      return void metrics.render().then(
        (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    }
    res.writeHead(404).end();
  },
});
logger.info(
  {
    url: `ws://${host}:${port}/realtime/v1`,
    pubsub: redisClusterNodes ? 'redis-cluster' : redisUrl ? 'redis' : nats ? 'nats' : 'in-process',
    postgresChanges: realtime.source !== null,
  },
  'realtime listening',
);

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void endpoint
      .close({ intervalMs: 0 })
      .then(() => realtime.close())
      .then(() => process.exit(0));
  });
}
