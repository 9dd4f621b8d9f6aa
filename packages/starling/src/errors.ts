/**
 * @module errors
 * The error catalogue (docs/errors.md): faults raised by Starling ({@link ErrorCodes}, thrown as a
 * {@link StarlingError} with a stable `code`) and faults the runtime counts instead of throwing
 * ({@link CountedErrors}, in `endpoint.stats.errors`); a code both do, such as
 * `ERR_MALFORMED_FRAME`, is spelled once. Expected outcomes — a refused join, an unmatched
 * topic — are values, not errors.
 */

/** Stable error codes. */
export const ErrorCodes = {
  malformedFrame: 'ERR_MALFORMED_FRAME',
  unsupportedVsn: 'ERR_UNSUPPORTED_VSN',
  invalidPattern: 'ERR_INVALID_TOPIC_PATTERN',
  invalidPayload: 'ERR_INVALID_PAYLOAD',
  invalidCallbackResult: 'ERR_INVALID_CALLBACK_RESULT',
  notJoined: 'ERR_NOT_JOINED',
  adapter: 'ERR_PUBSUB_ADAPTER',
  presence: 'ERR_PRESENCE',
  changeSource: 'ERR_CHANGE_SOURCE',
} as const;

/** One of {@link ErrorCodes}. */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** The faults counted in `EndpointStats.errors`, by a stable code (listed in docs/errors.md). */
export const CountedErrors = {
  /** An inbound frame that could not be decoded (WebSocket 1007, LongPoll 400): a {@link MalformedFrameError}. */
  malformedFrame: ErrorCodes.malformedFrame,
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

/** Base class of every Starling fault. */
export class StarlingError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A frame that cannot be decoded: invalid JSON, wrong shape, truncated binary header. */
export class MalformedFrameError extends StarlingError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.malformedFrame, message, options);
  }
}
