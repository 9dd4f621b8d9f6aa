/**
 * @module starling
 * Phoenix-style real-time Channels for Node.js, wire-compatible with the official `phoenix`
 * client: an {@link Endpoint} mounts a {@link Socket}, which routes topics to {@link Channel}s.
 * Subpaths: `starling-channels/redis` (a PubSub adapter for several nodes; needs `ioredis`) and
 * `starling-channels/metrics` (Prometheus metrics; needs `prom-client`).
 *
 * @example
 * import { Endpoint, Socket, ok, error, noreply, type Channel } from 'starling-channels';
 *
 * const RoomChannel = {
 *   join: (topic) => (topic === 'rooms:lobby' ? ok() : error({ reason: 'unauthorized' })),
 *   handleIn(event, payload, socket) {
 *     if (event === 'new_msg') socket.broadcast('new_msg', { body: String((payload as { body?: unknown }).body) });
 *     return noreply();
 *   },
 * } satisfies Channel;
 *
 * const endpoint = new Endpoint().socket('/socket', new Socket().channel('rooms:*', RoomChannel));
 * await endpoint.listen({ port: 4000 });
 */
export {
  Endpoint,
  type EndpointOptions,
  type SocketMountOptions,
  DEFAULT_MAX_CONNECTIONS_PER_IP,
  MIN_SECRET_KEY_BASE_LENGTH,
  type DrainOptions,
  type ListenOptions,
} from './endpoint.ts';
export { TrustedProxies, clientAddress, type ForwardedHeader, type TrustedProxiesOptions } from './client-address.ts';
export type { EndpointStats } from './endpoint-stats.ts';
export type { RateLimitOptions } from './rate-limit.ts';
export type { Clock, ClockTimer } from './clock.ts';
export { Socket, accept, refuse, type SocketOptions, type SocketFraming, type ConnectInfo, type ConnectResult, type Params, type Route } from './socket.ts';
export {
  ok,
  error,
  noreply,
  reply,
  stop,
  handleInByEvent,
  type Assigns,
  type Channel,
  type ChannelEvents,
  type ChannelSchemas,
  type ChannelSocket,
  type EventName,
  type HandleInArgs,
  type HandleInReturn,
  type HandleInReturnOf,
  type EventHandlers,
  type HandleOutArgs,
  type HandleInResult,
  type HandleResult,
  type InfoBroadcast,
  type JoinResult,
  type JoinOptions,
  type ChannelEndpoint,
  type InferPayloads,
  type InferInputs,
  type InferEvents,
  type ReplyOf,
  type MaybePromise,
  type NoReply,
  type OutPayload,
  type Reply,
  type ReplyResult,
  type StandardSchemaV1,
  type StopResult,
  type UntypedEvents,
  type SocketRef,
  type StopReason,
  type TerminateReason,
} from './channel.ts';
export { TopicPattern } from './topic.ts';
export {
  Events,
  Reasons,
  CloseCodes,
  PHOENIX_TOPIC,
  isBinaryPayload,
  formatPosition,
  parsePosition,
  type BinaryPayload,
  type BroadcastMessage,
  type Ref,
  type StreamPosition,
} from './protocol.ts';
export { StarlingError, MalformedFrameError, ErrorCodes, CountedErrors, type ErrorCode, type CountedError } from './errors.ts';
export { consoleLogger, silentLogger, type Logger, type LogFields, type LogLevel } from './logger.ts';
export { PubSub, type PubSubOptions, type PubSubStats, type Subscriber } from './pubsub/pubsub.ts';
export type { PubSubAdapter, PubSubNode } from './pubsub/adapter.ts';
export type { HistoryAdapter } from './pubsub/history-adapter.ts';
export { MemoryPubSubAdapter, MemoryBus, type MemoryPubSubAdapterOptions } from './pubsub/memory-adapter.ts';
export { DEFAULT_HISTORY_LIMITS, type HistoryOptions, type StreamLimits, type StreamRead } from './pubsub/stream.ts';
export { Presence } from './presence/presence.ts';
export type { PresenceClusterOptions } from './presence/presence-cluster.ts';
export {
  groupByKey,
  presenceDiff,
  type PresenceDiff,
  type PresenceEntry,
  type PresenceList,
  type PresenceMeta,
  type TrackedMeta,
} from './presence/presence-state.ts';
export { TokenSigner, signToken, verifyToken } from './token/token.ts';
export type { MaxAge, SignOptions, TokenData, TokenError, TypedVerifyOptions, VerifyOptions, VerifyResult } from './token/token.ts';
export type { Term, TermObject } from './token/etf.ts';
export type { CheckOrigin } from './transport/origin.ts';
export type { WebSocketOptions, LongPollOptions } from './transport/options.ts';
