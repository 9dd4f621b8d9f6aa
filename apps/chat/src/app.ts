/**
 * The chat application: an endpoint with the user socket at `/socket`, the page at `/`, its API,
 * `/health` and `/metrics` (Prometheus), over the chat store (SQLite under `dataDir` by default, PostgreSQL with
 * `databaseUrl`). Used by `server.ts` (the `npm start` process) and by tests that run the chat
 * in-process.
 */
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import type { RequestListener, Server } from 'node:http';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { collectDefaultMetrics } from 'prom-client';
import { Endpoint, PubSub, TrustedProxies, type PresenceClusterOptions, type SocketMountOptions } from 'starling-channels';
import { createMetrics } from 'starling-channels/metrics';
import { buildAssets } from './assets.ts';
import { clusterMetricsRenderer } from './cluster-metrics.ts';
import { openEngine, type EngineOptions } from './engine.ts';
import { createHttpHandler } from './http.ts';
import { Readiness } from './readiness.ts';
import { Identity } from './identity.ts';
import { Budgets, DEFAULT_LIMITS, type ChatLimits } from './limits.ts';
import { loadSecretKeyBase } from './secret.ts';
import { openChatStore, type ChatStore } from './store/index.ts';
import { roomHistory } from './room-channel.ts';
import { createUserSocket } from './user-socket.ts';

/** Options of {@link startChat}; every one but `now` and `presence` has an environment variable in `server.ts`. */
export interface ChatOptions extends EngineOptions {
  port?: number;
  host?: string;
  /** Where the SQLite database and a generated secret live. Default `./data`. */
  dataDir?: string;
  /** PostgreSQL connection string; SQLite when absent. */
  databaseUrl?: string;
  /**
   * The engine several processes share (`engine.ts`), at most one of: `redisUrl` (a standalone
   * Redis), `redisClusterNodes` (a Redis Cluster's masters, `host:port`) or `natsUrl` (NATS with
   * JetStream, `nats://host:port`). Broadcasts, the rooms' replay streams, presence and LongPoll
   * sessions then span every process using it; in-process when none is set.
   */
  redisUrl?: string;
  redisClusterNodes?: readonly string[];
  natsUrl?: string;
  /** Token secret; generated and saved in `dataDir` when absent. */
  secretKeyBase?: string;
  /** User token lifetime in seconds. Default 30 days. */
  userTokenMaxAge?: number;
  /** Invite link lifetime in seconds. Default 7 days. */
  inviteMaxAge?: number;
  /** How many users an invite link admits unless its creator says otherwise. Default 25. */
  inviteMaxUses?: number;
  /** Absolute session lifetime in seconds: renewing a user token never extends past it. Default 90 days. */
  sessionMaxAge?: number;
  /**
   * The chat's public origin, scheme included (`https://chat.example.com`): links are built from
   * it and page origins are checked against it. Default `http://<host>:<port>`.
   */
  publicUrl?: string;
  /** Bearer token `/metrics` requires; without one `/metrics` answers loopback clients only. */
  metricsToken?: string;
  /**
   * The reverse proxies in front of the chat (`TRUSTED_PROXIES`): addresses and CIDR ranges, e.g.
   * `"127.0.0.1,10.0.0.0/8"`. A request from one of them is attributed to the client address it
   * forwards in `X-Forwarded-For`, for every per-address budget, the connection cap and `/metrics`.
   * Default: none (each request is its TCP peer's).
   */
  trustedProxies?: string | readonly string[];
  /** Open sockets per client address (`CONNECTIONS_PER_IP`). Default the framework's, 100. */
  connectionsPerIp?: number;
  /** Budgets and caps (the replay bounds of rooms included); each field defaults to {@link DEFAULT_LIMITS}. */
  limits?: Partial<ChatLimits>;
  logger?: Logger;
  /** Socket options (timeouts, limits). */
  socket?: SocketMountOptions;
  /**
   * How presence replication decides that a silent node is gone (the framework's default: down
   * after 10 s of silence); a test shortens it instead of waiting.
   */
  presence?: PresenceClusterOptions;
  /** In a `WORKERS` worker: `/metrics` shows the whole cluster's, summed by the primary. */
  clusterMetrics?: boolean;
  /**
   * The wall clock token lifetimes are measured on, in milliseconds since the epoch. Default
   * `Date.now`; a test moves it forward instead of sleeping until a token expires.
   */
  now?: () => number;
}

/** `value` as an origin (`scheme://host[:port]`, no path); throws a clear error otherwise. */
export function parsePublicUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`PUBLIC_URL must be an absolute URL such as https://chat.example.com (got ${JSON.stringify(value)})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('PUBLIC_URL must start with http:// or https://');
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '') throw new Error('PUBLIC_URL must be an origin only (no path, query or fragment)');
  return url.origin;
}

/** A running chat server. */
export interface Chat {
  readonly endpoint: Endpoint;
  readonly server: Server;
  readonly store: ChatStore;
  /** The bound port. */
  readonly port: number;
  /** The store's and the PubSub's health, as `/ready` reports it. */
  readonly readiness: Readiness;
  /** Drains sockets, closes the server and the store. */
  close(): Promise<void>;
}

/** Starts the chat; resolves once it accepts sockets. */
export async function startChat(options: ChatOptions = {}): Promise<Chat> {
  const logger = options.logger ?? pino({ level: process.env.LOG_LEVEL ?? 'info' });
  const dataDir = options.dataDir ?? './data';
  // History of private rooms and the token secret live here: other local users may not read them.
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // A shared directory (/tmp: world-writable, sticky) is not the chat's to make private.
  if ((statSync(dataDir).mode & 0o1002) !== 0) throw new Error(`DATA_DIR must be a directory of the chat's own, not a shared one such as /tmp (${dataDir})`);
  chmodSync(dataDir, 0o700);
  const [assets, store] = await Promise.all([buildAssets(), openChatStore({ databaseUrl: options.databaseUrl, sqliteFile: join(dataDir, 'chat.sqlite3') })]);
  const secretKeyBase = loadSecretKeyBase(options.secretKeyBase, dataDir, logger);
  const limits: ChatLimits = { ...DEFAULT_LIMITS, ...options.limits };
  // Rooms keep their recent publications so that a page that reconnects resumes without a gap and
  // without reading the store (room-channel.ts); with an engine the streams live there, for every node.
  const history = roomHistory(limits);
  const engine = openEngine(options, logger);
  const pubsub = engine === null ? undefined : new PubSub({ adapter: engine.adapter, history });
  const host = options.host ?? '127.0.0.1';
  const publicUrl = options.publicUrl === undefined ? undefined : parsePublicUrl(options.publicUrl);
  const trustedProxies = options.trustedProxies === undefined ? undefined : new TrustedProxies(options.trustedProxies);
  // Pages of the public URL may open sockets; without one, the page's own scheme, host and port.
  const endpoint = new Endpoint({
    secretKeyBase,
    logger,
    ...(pubsub === undefined ? { history } : { pubsub }),
    checkOrigin: publicUrl === undefined ? true : [publicUrl],
    trustedProxies,
    presence: options.presence,
  });
  const identity = new Identity(
    endpoint.tokens,
    {
      userTokenMaxAge: options.userTokenMaxAge ?? 30 * 24 * 3600,
      inviteMaxAge: options.inviteMaxAge ?? 7 * 24 * 3600,
      sessionMaxAge: options.sessionMaxAge ?? 90 * 24 * 3600,
    },
    store.users,
    options.now,
  );
  const metrics = createMetrics(endpoint);
  collectDefaultMetrics({ register: metrics.registry });
  const budgets = new Budgets(limits, metrics.registry);
  const socketOptions: SocketMountOptions = { maxConnectionsPerIp: options.connectionsPerIp, ...options.socket };
  endpoint.socket('/socket', createUserSocket(identity, store, budgets, { pubsub: endpoint.pubsub, registry: metrics.registry }), socketOptions);
  // The link base needs the bound port (port 0 picks one), known only once listening.
  let handler: RequestListener = (_req, res) => void res.writeHead(503).end();
  const server = await endpoint.listen({
    port: options.port ?? 4000,
    host,
    fallback: (req, res) => handler(req, res),
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : (options.port ?? 4000);
  const linkBase = publicUrl ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const readiness = new Readiness(
    [
      { name: options.databaseUrl ? 'postgresql' : 'sqlite', check: () => store.ping() },
      ...(pubsub === undefined || engine === null ? [] : [{ name: engine.dependency, check: async () => pubsub.connected }]),
    ],
    { logger, registry: metrics.registry },
  );
  handler = createHttpHandler({
    readiness,
    renderMetrics: options.clusterMetrics ? clusterMetricsRenderer(metrics.registry) : () => metrics.render(),
    assets,
    identity,
    store,
    logger,
    metrics,
    budgets,
    trustedProxies: trustedProxies ?? null,
    publicUrl: linkBase,
    metricsToken: options.metricsToken,
    inviteMaxUses: options.inviteMaxUses ?? 25,
    // Closes every socket of the user (close 1001); their page reconnects and is re-checked.
    disconnectUser: (userId) => endpoint.broadcast(`users_socket:${userId}`, 'disconnect', {}),
  });
  return {
    endpoint,
    server,
    store,
    port,
    readiness,
    async close() {
      readiness.close();
      await endpoint.close({ intervalMs: 0 });
      await store.close();
    },
  };
}
