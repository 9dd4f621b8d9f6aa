/**
 * @module errors
 * Faults raised by Starling, each with a stable `code` (catalogued in docs/errors.md). Expected
 * outcomes — a refused join, an unmatched topic — are values, not errors.
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
