/**
 * @module runtime/services
 * Internal: what the runtime of one endpoint shares, as two objects built once and referenced,
 * never copied — an idle server holds thousands of connections, each of which keeps one
 * reference to its {@link Mount} (and through it the endpoint's {@link Services}) instead of its
 * own bag of pointers.
 */
import type { ChannelEndpoint } from '../channel.ts';
import type { TrustedProxies } from '../client-address.ts';
import type { Logger } from '../logger.ts';
import type { Clock } from './clock.ts';
import type { Presence } from '../presence/presence.ts';
import type { PubSub } from '../pubsub/pubsub.ts';
import type { Socket } from '../socket.ts';
import type { TokenSigner } from '../token/token.ts';
import type { ConnectionsPerIp } from '../transport/connections-per-ip.ts';
import type { OriginContext } from '../transport/origin.ts';
import type { LiveConnection } from '../transport/transport.ts';
import type { ConnectionLimits } from './connection.ts';
import type { EndpointStats } from './endpoint-stats.ts';

/** The endpoint's services: one object per endpoint. */
export interface Services {
  /** The endpoint itself, as channels see it (`socket.endpoint`). */
  readonly endpoint: ChannelEndpoint;
  readonly pubsub: PubSub;
  readonly presence: Presence;
  readonly logger: Logger;
  readonly tokens: TokenSigner;
  /** The endpoint's counters (`endpoint.stats`). */
  readonly stats: EndpointStats;
  /** Every open connection, for draining on shutdown. */
  readonly live: Set<LiveConnection>;
  /**
   * Time for the rate limit, join timeouts and delayed `sendInfo` ({@link realClock} unless
   * `starling-channels/testing` controls it). Not read on the broadcast fan-out path.
   */
  readonly clock: Clock;
  /** The endpoint's `trustedProxies`, or null: where every per-address rule reads a client's address. */
  readonly trustedProxies: TrustedProxies | null;
}

/** A socket definition mounted at a path, with its resolved options: one object per mount. */
export interface Mount {
  /** The path prefix, e.g. `/socket`. */
  readonly path: string;
  readonly socket: Socket;
  readonly limits: ConnectionLimits;
  readonly services: Services;
  /** Open connections per IP address, or null when `maxConnectionsPerIp` is unlimited. */
  readonly connectionsPerIp: ConnectionsPerIp | null;
  /** The compiled origin check. */
  readonly originAllowed: (origin: string | undefined, context: OriginContext) => boolean;
  /** What the origin check accepts, in words, for the log of a refusal. */
  readonly expectedOrigins: (context: OriginContext) => string;
  /** The endpoint's public host for `checkOrigin: true`, if configured. */
  readonly configuredHost: string | undefined;
  /** The endpoint's public URL for `checkOrigin: true`, if configured. */
  readonly configuredUrl: URL | undefined;
}
