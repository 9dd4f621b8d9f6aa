/**
 * @module starling-channels/supabase
 * A Supabase-Realtime-compatible socket, so the unchanged `@supabase/realtime-js` client (and
 * supabase-js's `supabase.channel(…)`) can use a Starling endpoint for **Broadcast** and
 * **Presence**: `realtime:<name>` topics, the join config (`broadcast.self`, `broadcast.ack`,
 * `presence.key`, `presence.enabled`, `private`), client-driven presence, `access_token`
 * refresh, and the REST broadcast endpoints. API keys and access tokens are JWTs verified with
 * `jose` (an optional peer dependency: install it to use this subpath), expiry included.
 * With `postgresChanges` (a database URL), **Postgres Changes** too: the row changes of the
 * publication `supabase_realtime`, read by `starling/postgres` from a logical replication slot
 * and authorized row by row by PostgreSQL's row-level security under each subscriber's JWT
 * claims (needs `pg` and `pg-logical-replication`; call `start()`). Without it, a join that asks
 * for `postgres_changes` is refused with a reason.
 * Private channels' `persist`ed broadcasts are kept for `broadcast.replay` in `realtime.messages`
 * with a database, else in the PubSub's history when it keeps history for {@link PERSISTED_TOPICS}.
 * Each connection is bounded as Supabase bounds a client: channels, broadcasts a second, payload
 * size and presence calls ({@link DEFAULT_CONNECTION_LIMITS}, {@link DEFAULT_PRESENCE_LIMIT}).
 * The wire details are in the repository's docs/supabase.md.
 *
 * @example
 * import { Endpoint } from 'starling-channels';
 * import { createRealtime } from 'starling-channels/supabase';
 *
 * const endpoint = new Endpoint({ secretKeyBase: process.env.SECRET_KEY_BASE });
 * const realtime = createRealtime(endpoint, {
 *   jwtSecret: process.env.REALTIME_JWT_SECRET,
 *   // private channels: only signed-in users (the role Supabase gives to RLS policies)
 *   authorize: ({ claims }) => claims.role === 'authenticated',
 * });
 * endpoint.socket('/realtime/v1', realtime.socket);
 * await endpoint.listen({ port: 4000, fallback: (req, res) => void (realtime.handleRequest(req, res) || res.writeHead(404).end()) });
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Endpoint } from '../endpoint.ts';
import { Socket, accept, refuse, type SocketFraming } from '../socket.ts';
import { createVerifier, type JwtClaims, type JwtVerification } from './auth.ts';
import { createRealtimeChannel, pubsubTopicOf, type AuthorizationRequest, type Authorize, type RealtimeSocketAssigns } from './realtime-channel.ts';
import { createBroadcastApi } from './rest.ts';
import { DEFAULT_REST_BUDGETS, RestBudgets, resolveRestBudgets, type RestBudget, type RestBudgetOptions } from './rest-budget.ts';
import { realClock } from '../runtime/clock.ts';
import type pg from 'pg';
import type { ChangeSourceStats, PostgresChangeSource } from '../postgres/change-source.ts';
import { PostgresChanges, SUPABASE_PUBLICATION, type PostgresChangesStats } from './postgres-changes.ts';
import { DEFAULT_MAX_RECORD_BYTES } from './change-payload.ts';
import { realtimeMigration, databaseBroadcastOf, isMessagesTable } from './database-broadcast.ts';
import { accessByHook, type AccessCheck, type Extension } from './channel-access.ts';
import { ChannelPolicies } from './channel-policies.ts';
import type { BroadcastStore } from './broadcast-store.ts';
import { PostgresBroadcastStore } from './postgres-broadcast-store.ts';
import { HistoryBroadcastStore, PERSISTED_TOPICS, persistedTopicOf } from './history-broadcast-store.ts';
import type { ConnectionBudget, ConnectionLimits } from './connection-limits.ts';
import { newConnectionBudget } from './connection-limits.ts';
import { ErrorCodes, StarlingError } from '../errors.ts';

export type {
  JwtClaims,
  AuthorizationRequest,
  Authorize,
  Extension,
  RealtimeSocketAssigns,
  ConnectionBudget,
  RestBudget,
  RestBudgetOptions,
  PostgresChangesStats,
  ChangeSourceStats,
};
export { DEFAULT_REST_BUDGETS };
export { MIN_JWT_SECRET_BYTES } from './auth.ts';
export { pubsubTopicOf, PERSISTED_TOPICS };
export { MAX_REPLAY } from './broadcast-store.ts';
export { databaseBroadcastMigration, realtimeMigration } from './database-broadcast.ts';

/** Options of {@link createRealtime}. */
export interface RealtimeOptions extends JwtVerification {
  /**
   * Who may `read` (join and receive) and `write` (broadcast, track presence) a private channel,
   * per extension (`broadcast`, `presence`). Public channels need only a valid API key.
   *
   * - A function: the app's policy (see {@link AuthorizationRequest}).
   * - `'policies'`: Supabase's way — the row-level-security policies on `realtime.messages` in the
   *   `postgresChanges` database (required then), evaluated under the subscriber's JWT role and
   *   claims with `realtime.topic()` naming the channel. `start()` installs the `realtime` schema
   *   ({@link realtimeMigration}). A channel that may read presence but not broadcast is admitted
   *   and gets no broadcasts (every broadcast then goes through the channel, one push per member).
   *
   * Default: private channels are refused to everyone.
   */
  authorize?: Authorize | 'policies' | undefined;
  /** The path the socket will be mounted at, for the REST API's URLs. Default `/realtime/v1`. */
  path?: string | undefined;
  /** Largest REST request body. Default 1 MiB, as a WebSocket frame. */
  maxBodyBytes?: number | undefined;
  /**
   * Rate and byte budgets of the REST broadcast API, per client address (behind the endpoint's
   * `trustedProxies`, the forwarded one) and per key (the bearer token's `sub`, else the API key —
   * every anonymous caller shares the anon key's). A request over either is answered 429 with
   * `Retry-After` and counted in `endpoint.stats.restBroadcastsRefused`. Default
   * {@link DEFAULT_REST_BUDGETS}; `false` turns one off.
   * @throws RangeError (from createRealtime) for a non-positive rate or a `byteBurst` below `maxBodyBytes`
   */
  restBudget?: RestBudgetOptions | undefined;
  /**
   * Presence `track`/`untrack` calls one connection may make per window, all its channels
   * together; more are refused `{reason: "presence rate limited"}` until the window ends. Default
   * {@link DEFAULT_PRESENCE_LIMIT}: Supabase's, 5 calls per 30 s.
   */
  presenceLimit?: { readonly calls: number; readonly windowMs: number } | undefined;
  /**
   * Channels one connection may have joined (or be joining) at once; one more is refused
   * `{reason: "ChannelRateLimitReached: …"}`. Default 100 ({@link DEFAULT_CONNECTION_LIMITS}).
   * The mount's `maxChannels` (default 100) bounds joins too, with its own reason: mount the
   * socket with `maxChannels` above this one to have this answer.
   */
  maxChannelsPerConnection?: number | undefined;
  /**
   * Broadcasts one connection may send a second, all its channels together, in bursts of as many;
   * the broadcast over it ends its channel as Supabase ends one: a `system` push
   * `{extension: "system", status: "error", message: "Too many messages per second"}`, then
   * `phx_close`. Default 100; `Infinity` turns it off. (The mount's `rateLimit` bounds every
   * message of a socket besides.)
   */
  broadcastsPerSecond?: number | undefined;
  /**
   * Largest payload of a broadcast or a presence `track` — its JSON in UTF-8 bytes, or a binary
   * payload's bytes — over the socket or REST. A larger one is answered an error reply
   * `{reason: "Payload size exceeded: …"}` (REST: 413). Default 256 000 (Supabase's 256 KB).
   * It cannot pass the transports' frame bound (`maxFrameSize`, 1 MiB) or `maxBodyBytes`.
   */
  maxPayloadBytes?: number | undefined;
  /** @deprecated Use {@link presenceLimit}: this is `{calls: n, windowMs: 1000}`. */
  presenceCallsPerSecond?: number | undefined;
  /** Refuse every public channel: joins must be `private` (Supabase's "private channels only"). Default false. */
  privateOnly?: boolean | undefined;
  /** Serves `postgres_changes` from this database (see {@link PostgresChangesOptions}). */
  postgresChanges?: PostgresChangesOptions | undefined;
}

/** Where Postgres Changes come from. */
export interface PostgresChangesOptions {
  /**
   * The database, as a role that may replicate (`REPLICATION`), create the publication and slot,
   * and `SET ROLE` to the roles your tokens name (`anon`, `authenticated`, …): be a member of them.
   */
  connectionString: string;
  /** The publication whose tables are served. Default `supabase_realtime` (created empty when missing). */
  publication?: string | undefined;
  /** The logical replication slot. Default `starling_realtime`. Drop it when you retire the server, or PostgreSQL keeps WAL for it. */
  slot?: string | undefined;
  /** `statement_timeout` of one authorization query, in ms. Default 5000. */
  checkTimeoutMs?: number | undefined;
  /** Sessions for authorization queries. Default 4. */
  poolSize?: number | undefined;
  /**
   * A row whose values (new and old, as JSON) are larger than this is pushed with only its values
   * of at most 64 bytes and `errors: ["Error 413: Payload Too Large"]`, as Supabase does. Default
   * 1 MiB (Supabase's).
   */
  maxRecordBytes?: number | undefined;
  /**
   * Broadcast from Database: `start()` installs `realtime.messages` and `realtime.send(payload,
   * event, topic, private)` (idempotently; the role needs CREATE on the database), and every row
   * `realtime.send` adds reaches that topic's `broadcast` listeners once its transaction commits.
   * Default false.
   */
  broadcastFromDatabase?: boolean | undefined;
}

/** A Supabase-Realtime-compatible socket and its REST API. */
export interface Realtime {
  /** The socket definition for realtime-js clients: mount it with `endpoint.socket(path, realtime.socket)`. */
  readonly socket: Socket<RealtimeSocketAssigns>;
  /**
   * The same service for the official `phoenix` client (Phoenix framing; connect with an
   * `apikey` param and join `realtime:<name>` topics): mounted beside {@link socket}, its clients
   * share topics with realtime-js clients.
   */
  readonly phoenixSocket: Socket<RealtimeSocketAssigns>;
  /**
   * Serves the REST broadcast API (`POST <path>/api/broadcast…`); returns false for any other
   * request, so it composes with an app's own handler (e.g. in `listen`'s `fallback`).
   */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean;
  /**
   * Starts the change source (with `postgresChanges`; otherwise resolves at once): checks
   * `wal_level`, creates the publication and slot when missing.
   * @throws StarlingError `ERR_CHANGE_SOURCE` (rejects) when that fails
   */
  start(): Promise<void>;
  /** Stops the change source and closes the database sessions (the slot stays). */
  close(): Promise<void>;
  /** Counters of postgres_changes on this node (null without `postgresChanges`). */
  readonly changeStats: PostgresChangesStats | null;
  /** Counters of this node's change source, and the slot's lag in bytes (null without `postgresChanges`). */
  readonly source: { readonly stats: ChangeSourceStats; lagBytes(): Promise<number | null> } | null;
}

/** The PubSub topic the change source broadcasts rows on: outside `realtime:*`, so no client can join it. */
const CHANGES_TOPIC = 'starling:postgres_changes';

const denyAll: Authorize = () => false;

/** Supabase's presence rate limit per connection: 5 `track`/`untrack` calls per 30 s. */
export const DEFAULT_PRESENCE_LIMIT = { calls: 5, windowMs: 30_000 } as const;

/**
 * The defaults of a connection's other limits, Supabase Realtime's documented ones: 100 channels
 * per connection, 100 messages a second (Supabase counts them per project; here per connection),
 * 256 KB payloads.
 */
export const DEFAULT_CONNECTION_LIMITS = { maxChannelsPerConnection: 100, broadcastsPerSecond: 100, maxPayloadBytes: 256_000 } as const;

/** How long an access check may run before the join is refused, when not configured. */
const DEFAULT_CHECK_TIMEOUT_MS = 5000;

/**
 * Creates the socket and REST API of a Supabase-Realtime-compatible service on `endpoint`.
 * Tokens must carry `exp` and `role` (and the `issuer`/`audience` when configured).
 * @throws TypeError when neither `jwtSecret` nor `jwksUrl` is given, or `jwtSecret` is shorter than 32 bytes; RangeError for a malformed `restBudget`
 */
export function createRealtime(endpoint: Endpoint, options: RealtimeOptions): Realtime {
  let startSource = (): Promise<void> => Promise.resolve();
  const verify = createVerifier(options);
  const database = options.postgresChanges;
  if (options.authorize === 'policies' && database === undefined) {
    throw new TypeError("authorize: 'policies' reads the policies of realtime.messages: it needs postgresChanges (the database)");
  }
  let source: PostgresChangeSource | null = null;
  let pool: pg.Pool | null = null;
  let changes: PostgresChanges | null = null;
  if (database !== undefined) {
    const publication = database.publication ?? SUPABASE_PUBLICATION;
    let ready!: () => void;
    let failed!: (err: unknown) => void;
    const sourceReady = new Promise<void>((resolve, reject) => ((ready = resolve), (failed = reject)));
    changes = new PostgresChanges({
      pool: () => {
        if (pool === null) throw new Error('postgres_changes: the server has not been started');
        return pool;
      },
      pubsub: endpoint.pubsub,
      topic: CHANGES_TOPIC,
      publication,
      sourceReady,
      checkTimeoutMs: database.checkTimeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS,
      maxRecordBytes: database.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES,
      logger: endpoint.logger,
    });
    let started: Promise<void> | null = null;
    // The drivers are optional peers: loaded only when postgres_changes is used.
    startSource = () =>
      (started ??= (async () => {
        const [{ default: pgModule }, { PostgresChangeSource }, { ROW_CHANGE_EVENT }] = await Promise.all([
          import('pg'),
          import('../postgres/change-source.ts'),
          import('../postgres/index.ts'),
        ]);
        pool = new pgModule.Pool({ connectionString: database.connectionString, max: database.poolSize ?? 4, application_name: 'starling realtime' });
        pool.on('error', () => undefined); // an idle session that dies is replaced at the next checkout
        source = new PostgresChangeSource({
          connectionString: database.connectionString,
          publication,
          slot: database.slot ?? 'starling_realtime',
          handle: (rows) => {
            for (const change of rows) {
              // realtime.messages rows are Broadcast from Database: to the topic's channels, not to postgres_changes.
              if (isMessagesTable(change)) {
                const message = databaseBroadcastOf(change);
                if (message !== null) {
                  const { topic, isPrivate, event, payload } = message;
                  endpoint.broadcast(pubsubTopicOf(topic, isPrivate), 'broadcast', { type: 'broadcast', event, payload });
                }
                continue;
              }
              endpoint.pubsub.broadcast(CHANGES_TOPIC, ROW_CHANGE_EVENT, change);
            }
          },
          logger: endpoint.logger,
        });
        await source.start();
        if (installsSchema) {
          try {
            await pool.query(realtimeMigration(publication));
          } catch (err) {
            await source.close();
            throw new StarlingError(ErrorCodes.changeSource, `the realtime schema cannot be installed: ${(err as Error).message}`, { cause: err });
          }
        }
      })().then(ready, (err: unknown) => {
        failed(err);
        throw err;
      }));
  }
  let access: AccessCheck;
  if (options.authorize === 'policies') {
    const policies = new ChannelPolicies(() => connected(), database?.checkTimeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS);
    access = (topic, claims, kind, extensions) => policies.check(topic, claims, kind, extensions);
  } else {
    access = accessByHook(options.authorize ?? denyAll);
  }
  const connected = (): pg.Pool => {
    if (pool === null) throw new Error('realtime: the server has not been started');
    return pool;
  };
  // Broadcasts are kept in realtime.messages where start() installs it, else in the PubSub's history if it keeps any for them.
  const installsSchema = database !== undefined && (database.broadcastFromDatabase === true || options.authorize === 'policies');
  const store: BroadcastStore | null = installsSchema
    ? new PostgresBroadcastStore(connected)
    : endpoint.pubsub.hasHistory(persistedTopicOf('x'))
      ? new HistoryBroadcastStore(endpoint.pubsub)
      : null;
  const limits = limitsOf(options);
  const channel = createRealtimeChannel({
    verify,
    access,
    limits,
    privateOnly: options.privateOnly === true,
    changes,
    filterBroadcasts: options.authorize === 'policies',
    store,
    logger: endpoint.logger,
  });
  const socketFor = (framing: SocketFraming): Socket<RealtimeSocketAssigns> =>
    new Socket<RealtimeSocketAssigns>({
      framing,
      async connect(params, info) {
        const key = await verify(params.apikey);
        // The budget is one object: every channel of the connection spends from it.
        return key.ok ? accept({ claims: key.claims, address: info.clientAddress, budget: newConnectionBudget(limits, Date.now()) }) : refuse(403);
      },
    }).channel('realtime:*', channel);
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const handleRequest = createBroadcastApi({
    path: options.path ?? '/realtime/v1',
    verify,
    access,
    store,
    maxBodyBytes,
    maxPayloadBytes: limits.maxPayloadBytes,
    budgets: new RestBudgets(resolveRestBudgets(options.restBudget, maxBodyBytes), maxBodyBytes, realClock, endpoint.stats),
    clientAddress: (req) => endpoint.clientAddress(req),
    publish: (topic, isPrivate, message) => endpoint.broadcast(pubsubTopicOf(topic, isPrivate), 'broadcast', message),
  });
  return {
    socket: socketFor('supabase'),
    phoenixSocket: socketFor('phoenix'),
    handleRequest,
    start: () => startSource(),
    async close() {
      await source?.close();
      await pool?.end().catch(() => undefined);
    },
    changeStats: changes?.stats ?? null,
    get source() {
      return source;
    },
  };
}

/**
 * The connection limits of `options`.
 * @throws RangeError when one is not a positive integer (`Infinity` allowed where it turns a limit off)
 */
function limitsOf(options: RealtimeOptions): ConnectionLimits {
  const limit =
    options.presenceLimit ??
    (options.presenceCallsPerSecond === undefined ? DEFAULT_PRESENCE_LIMIT : { calls: options.presenceCallsPerSecond, windowMs: 1000 });
  if (!Number.isSafeInteger(limit.calls) || limit.calls < 1 || !Number.isSafeInteger(limit.windowMs) || limit.windowMs < 1) {
    throw new RangeError(`presenceLimit must be positive integers, got ${JSON.stringify(limit)}`);
  }
  const positive = (name: keyof typeof DEFAULT_CONNECTION_LIMITS, infinite: boolean): number => {
    const value = options[name] ?? DEFAULT_CONNECTION_LIMITS[name];
    if ((infinite && value === Number.POSITIVE_INFINITY) || (Number.isSafeInteger(value) && value >= 1)) return value;
    throw new RangeError(`${name} must be a positive integer${infinite ? ' or Infinity' : ''}, got ${String(value)}`);
  };
  return {
    channels: positive('maxChannelsPerConnection', true),
    broadcastsPerSecond: positive('broadcastsPerSecond', true),
    maxPayloadBytes: positive('maxPayloadBytes', true),
    presenceCalls: limit.calls,
    presenceWindowMs: limit.windowMs,
  };
}
