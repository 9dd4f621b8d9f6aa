/**
 * A self-hostable Supabase-Realtime-compatible server: Broadcast and Presence for the unchanged
 * `@supabase/realtime-js` client (and supabase-js), at `ws://HOST:PORT/realtime/v1`, and the same
 * service for the official `phoenix` client at `/socket`. `npm run realtime` starts it.
 *
 * Environment: `REALTIME_JWT_SECRET` (required: the HS256 secret that signs API keys and access
 * tokens, at least 32 bytes), `REALTIME_JWT_ISSUER` / `REALTIME_JWT_AUDIENCE` (optional: tokens
 * must name them), `PORT` (4000), `HOST` (127.0.0.1), `REDIS_URL` (several nodes),
 * `SECRET_KEY_BASE`, `LOG_LEVEL` (info), `TRUSTED_PROXIES` (the reverse proxies whose
 * `X-Forwarded-For` names the client, e.g. `127.0.0.1,10.0.0.0/8`). Its policy: a private channel needs a token whose `role` is
 * `authenticated`; an anon key gets public channels.
 *
 * With `DATABASE_URL`, **Postgres Changes** too: the row changes of the tables in the publication
 * `supabase_realtime` (created empty when missing), from the logical replication slot
 * `REALTIME_SLOT` (default `starling_realtime`), authorized by the tables' row-level security
 * under each subscriber's JWT claims; and Broadcast from Database (`realtime.send`, installed at
 * start). The database needs `wal_level=logical`; the server refuses
 * to start, saying why, otherwise. With several nodes (`REDIS_URL`), one consumes the slot and
 * another takes over if it dies.
 */
import { Endpoint, PubSub, TrustedProxies, consoleLogger, type LogLevel } from 'starling-channels';
import { RedisPubSubAdapter } from 'starling-channels/redis';
import { createRealtime } from 'starling-channels/supabase';

const secret = process.env.REALTIME_JWT_SECRET;
if (!secret) {
  console.error('REALTIME_JWT_SECRET is required: the HS256 secret that signs the API keys and access tokens your clients present');
  process.exit(1);
}
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
const pubsub = redisUrl ? new PubSub({ adapter: new RedisPubSubAdapter({ url: redisUrl, prefix: 'starling-realtime', logger }) }) : undefined;
// Behind the listed proxies, per-address limits (connections, REST budgets) apply to the forwarded client.
const endpoint = new Endpoint({ secretKeyBase: process.env.SECRET_KEY_BASE || undefined, pubsub, logger, trustedProxies });
const listOf = (value: string | undefined): string[] | undefined => (value ? value.split(',').map((item) => item.trim()) : undefined);
let realtime;
try {
  realtime = createRealtime(endpoint, {
    jwtSecret: secret,
    issuer: listOf(process.env.REALTIME_JWT_ISSUER),
    audience: listOf(process.env.REALTIME_JWT_AUDIENCE),
    // The example policy (Supabase gives this role to RLS policies): private channels are for signed-in users.
    authorize: ({ claims }) => claims.role === 'authenticated',
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
const mount = { checkOrigin: false } as const;
endpoint.socket('/realtime/v1', realtime.socket, mount).socket('/socket', realtime.phoenixSocket, mount);

try {
  await realtime.start();
} catch (err) {
  console.error(`postgres_changes cannot start: ${(err as Error).message}`);
  process.exit(1);
}

const port = Number(process.env.PORT ?? 4000);
const host = process.env.HOST ?? '127.0.0.1';
await endpoint.listen({
  port,
  host,
  fallback(req, res) {
    if (realtime.handleRequest(req, res)) return;
    if (req.url === '/health') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    res.writeHead(404).end();
  },
});
logger.info(
  { url: `ws://${host}:${port}/realtime/v1`, pubsub: redisUrl ? 'redis' : 'in-process', postgresChanges: realtime.source !== null },
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
