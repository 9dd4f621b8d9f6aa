/**
 * The chat application: an endpoint with the user socket at `/socket`, the page at `/`, its API,
 * `/health` and `/metrics` (Prometheus), over a message store (SQLite under `dataDir` by default, PostgreSQL with
 * `databaseUrl`). Used by `server.ts` (the `npm start` process) and by tests that run the chat
 * in-process.
 */
import type { Server } from 'node:http';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { collectDefaultMetrics } from 'prom-client';
import { RedisPubSubAdapter } from 'starling/redis';
import { Endpoint, PubSub, type SocketMountOptions } from 'starling';
import { createMetrics } from 'starling/metrics';
import { buildAssets } from './assets.ts';
import { createHttpHandler } from './http.ts';
import { Identity } from './identity.ts';
import { loadSecretKeyBase } from './secret.ts';
import { openMessageStore, type MessageStore } from './store/index.ts';
import { createUserSocket } from './user-socket.ts';

/** Options of {@link startChat}; every one has an environment variable in `server.ts`. */
export interface ChatOptions {
  port?: number;
  host?: string;
  /** Where the SQLite database and a generated secret live. Default `./data`. */
  dataDir?: string;
  /** PostgreSQL connection string; SQLite when absent. */
  databaseUrl?: string;
  /** Redis URL: broadcasts, presence and LongPoll sessions span every node using it. In-process when absent. */
  redisUrl?: string;
  /** Token secret; generated and saved in `dataDir` when absent. */
  secretKeyBase?: string;
  /** User token lifetime in seconds. Default 30 days. */
  userTokenMaxAge?: number;
  /** Invite link lifetime in seconds. Default 7 days. */
  inviteMaxAge?: number;
  logger?: Logger;
  /** Socket options (timeouts, limits). */
  socket?: SocketMountOptions;
}

/** A running chat server. */
export interface Chat {
  readonly endpoint: Endpoint;
  readonly server: Server;
  readonly store: MessageStore;
  /** The bound port. */
  readonly port: number;
  /** Drains sockets, closes the server and the store. */
  close(): Promise<void>;
}

/** Starts the chat; resolves once it accepts sockets. */
export async function startChat(options: ChatOptions = {}): Promise<Chat> {
  const logger = options.logger ?? pino({ level: process.env.LOG_LEVEL ?? 'info' });
  const dataDir = options.dataDir ?? './data';
  const [assets, store] = await Promise.all([buildAssets(), openMessageStore({ databaseUrl: options.databaseUrl, sqliteFile: join(dataDir, 'chat.sqlite3') })]);
  const secretKeyBase = loadSecretKeyBase(options.secretKeyBase, dataDir, logger);
  const pubsub = options.redisUrl ? new PubSub({ adapter: new RedisPubSubAdapter({ url: options.redisUrl, prefix: 'starling-chat', logger }) }) : undefined;
  const endpoint = new Endpoint({ secretKeyBase, logger, pubsub });
  const identity = new Identity(endpoint.tokens, {
    userTokenMaxAge: options.userTokenMaxAge ?? 30 * 24 * 3600,
    inviteMaxAge: options.inviteMaxAge ?? 7 * 24 * 3600,
  });
  endpoint.socket('/socket', createUserSocket(identity, store), options.socket);
  const metrics = createMetrics(endpoint);
  collectDefaultMetrics({ register: metrics.registry });
  const server = await endpoint.listen({
    port: options.port ?? 4000,
    host: options.host ?? '127.0.0.1',
    fallback: createHttpHandler({ assets, identity, store, logger, metrics }),
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : (options.port ?? 4000);
  return {
    endpoint,
    server,
    store,
    port,
    async close() {
      await endpoint.close({ intervalMs: 0 });
      await store.close();
    },
  };
}
