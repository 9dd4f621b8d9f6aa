/**
 * @module runtime/endpoint-stats
 * The endpoint's counters, read as `endpoint.stats`: traffic, the protective limits that fired and
 * faults by code. They only ever grow, so a metrics exporter (`createMetrics`) can publish them as
 * counters as they are; they are plain numbers so that the hot path pays one `++` for each.
 *
 * @example
 * const { messagesIn, slowReaderCloses, errors } = endpoint.stats;
 * console.log(errors.ERR_MALFORMED_FRAME);
 */

/** The faults counted in {@link EndpointStats.errors}, by a stable code (listed in docs/errors.md). */
export const CountedErrors = {
  /** An inbound frame that could not be decoded (WebSocket 1007, LongPoll 400). */
  malformedFrame: 'ERR_MALFORMED_FRAME',
  /** A channel callback threw or returned an invalid result after the join (`phx_error` sent). */
  channelCrash: 'ERR_CHANNEL_CRASH',
  /** A channel's `join` threw or returned an invalid result (`{reason: "join crashed"}`). */
  joinCrash: 'ERR_JOIN_CRASH',
  /** The socket's `connect` threw (HTTP 500). */
  connectCrash: 'ERR_CONNECT_CRASH',
  /** Handling an inbound frame failed unexpectedly (WebSocket 1011). */
  socketCrash: 'ERR_SOCKET_CRASH',
} as const;

/** One of {@link CountedErrors}. */
export type CountedError = (typeof CountedErrors)[keyof typeof CountedErrors];

/** What the endpoint did and how often its limits fired since it started. */
export interface EndpointStats {
  /** Inbound messages decoded on open sockets (heartbeats and refused messages included). */
  messagesIn: number;
  /** Frames written to sockets (replies, pushes, broadcasts, control messages). */
  messagesOut: number;
  /** Encoded bytes of those frames (payload bytes, without WebSocket or HTTP framing). */
  bytesOut: number;
  /** Broadcast encodings by the fan-out: ideally one per serializer in use per broadcast, however many subscribers. */
  broadcastEncodes: number;
  /** Sockets closed (WebSocket) or sessions ended (LongPoll) for holding more than `maxQueuedBytes` unsent. */
  slowReaderCloses: number;
  /** Inbound messages refused by the rate limit (answered `{reason: "rate limited"}`, or the one that closed the socket). */
  rateLimited: number;
  /** Sockets closed with 1008 "rate limited" after staying over budget for `closeAfterMs`. */
  rateLimitCloses: number;
  /** Connections refused because their IP address already had `maxConnectionsPerIp` open. */
  connectionsPerIpRefused: number;
  /** LongPoll sessions refused because the mount already had `longpoll.maxSessions` open. */
  longpollSessionsRefused: number;
  /**
   * Joins with `recover` answered `recovered: false` although the position was still kept, because
   * what was missed weighs more than `history.maxReplayBytes` or than the client's transport can
   * take (docs/recovery.md): the client reloads its state instead.
   */
  replaysRefused: number;
  /**
   * Supabase REST broadcasts (`starling-channels/supabase`) refused with HTTP 429, by the budget that
   * refused them: the client address's or the key's.
   */
  restBroadcastsRefused: { address: number; key: number };
  /** Faults by code; every code is present, starting at 0. */
  errors: Record<CountedError, number>;
}

/** A zeroed set of counters. */
export function createEndpointStats(): EndpointStats {
  const errors = {} as Record<CountedError, number>;
  for (const code of Object.values(CountedErrors)) errors[code] = 0;
  return {
    messagesIn: 0,
    messagesOut: 0,
    bytesOut: 0,
    broadcastEncodes: 0,
    slowReaderCloses: 0,
    rateLimited: 0,
    rateLimitCloses: 0,
    connectionsPerIpRefused: 0,
    longpollSessionsRefused: 0,
    replaysRefused: 0,
    restBroadcastsRefused: { address: 0, key: 0 },
    errors,
  };
}
