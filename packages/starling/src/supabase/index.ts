/**
 * @module starling-channels/supabase
 * A Supabase-Realtime-compatible socket, so the unchanged `@supabase/realtime-js` client (and
 * supabase-js's `supabase.channel(…)`) can use a Starling endpoint for **Broadcast** and
 * **Presence**: `realtime:<name>` topics, the join config (`broadcast.self`, `broadcast.ack`,
 * `presence.key`, `presence.enabled`, `private`), client-driven presence, `access_token`
 * refresh, and the REST broadcast endpoints. API keys and access tokens are JWTs verified with
 * `jose` (an optional peer dependency: install it to use this subpath), expiry included.
 * `postgres_changes` is not served: a join that asks for it is refused with a reason.
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

export type { JwtClaims, AuthorizationRequest, Authorize, RealtimeSocketAssigns, RestBudget, RestBudgetOptions };
export { DEFAULT_REST_BUDGETS };
export { MIN_JWT_SECRET_BYTES } from './auth.ts';
export { pubsubTopicOf };

/** Options of {@link createRealtime}. */
export interface RealtimeOptions extends JwtVerification {
  /**
   * Decides whether a token's holder may `read` (join) or `write` (broadcast, track presence) a
   * private channel. Public channels need only a valid API key. Default: private channels are
   * refused to everyone.
   */
  authorize?: Authorize | undefined;
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
  /** Presence `track`/`untrack` calls per channel per second; more are refused `{reason: "presence rate limited"}`. Default 10. */
  presenceCallsPerSecond?: number | undefined;
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
}

const denyAll: Authorize = () => false;

/**
 * Creates the socket and REST API of a Supabase-Realtime-compatible service on `endpoint`.
 * Tokens must carry `exp` and `role` (and the `issuer`/`audience` when configured).
 * @throws TypeError when neither `jwtSecret` nor `jwksUrl` is given, or `jwtSecret` is shorter than 32 bytes; RangeError for a malformed `restBudget`
 */
export function createRealtime(endpoint: Endpoint, options: RealtimeOptions): Realtime {
  const verify = createVerifier(options);
  const authorize = options.authorize ?? denyAll;
  const channel = createRealtimeChannel(verify, authorize, { presenceCallsPerSecond: options.presenceCallsPerSecond ?? 10 });
  const socketFor = (framing: SocketFraming): Socket<RealtimeSocketAssigns> =>
    new Socket<RealtimeSocketAssigns>({
      framing,
      async connect(params) {
        const key = await verify(params.apikey);
        return key.ok ? accept({ claims: key.claims }) : refuse(403);
      },
    }).channel('realtime:*', channel);
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const handleRequest = createBroadcastApi({
    path: options.path ?? '/realtime/v1',
    verify,
    authorize,
    maxBodyBytes,
    budgets: new RestBudgets(resolveRestBudgets(options.restBudget, maxBodyBytes), maxBodyBytes, realClock, endpoint.stats),
    clientAddress: (req) => endpoint.clientAddress(req),
    publish: (topic, isPrivate, message) => endpoint.broadcast(pubsubTopicOf(topic, isPrivate), 'broadcast', message),
  });
  return { socket: socketFor('supabase'), phoenixSocket: socketFor('phoenix'), handleRequest };
}
