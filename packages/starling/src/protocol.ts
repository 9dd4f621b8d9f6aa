/**
 * @module protocol
 * The Phoenix wire vocabulary: control events, reserved topics, reply statuses and the message
 * model every serializer reads and writes. Wire strings are spelled here (and in the serializers)
 * exactly as Phoenix spells them, and nowhere else.
 */
/** Control events of the Phoenix protocol. */
export const Events = {
  join: 'phx_join',
  leave: 'phx_leave',
  reply: 'phx_reply',
  close: 'phx_close',
  error: 'phx_error',
  heartbeat: 'heartbeat',
  presenceState: 'presence_state',
  presenceDiff: 'presence_diff',
  /** Pushed after a join on a history topic: the stream position, and whether `recover` was honoured (docs/recovery.md). */
  stream: 'phx_stream',
  /** Broadcast on a socket id topic: closes every socket of that id (§1.6). */
  disconnect: 'disconnect',
} as const;

/** The reserved topic that carries heartbeats. */
export const PHOENIX_TOPIC = 'phoenix';

/** Reasons the server puts in `{reason}` error replies. */
export const Reasons = {
  unmatchedTopic: 'unmatched topic',
  joinCrashed: 'join crashed',
  joinTimeout: 'join timeout',
  tooManyChannels: 'too many channels joined',
  channelCrash: 'channel_crash',
  /** An inbound message beyond the socket's `rateLimit` budget; it was not handled. */
  rateLimited: 'rate limited',
  /** A topic longer than `maxTopicLength`. */
  topicTooLong: 'topic too long',
  /** An event name longer than `maxEventLength`. */
  eventTooLong: 'event too long',
  /** A `phx_join` whose params exceed `maxJoinParamsBytes`. */
  joinParamsTooLarge: 'join params too large',
  /** A client event whose payload failed the channel's schema for it (the reply carries `issues`). */
  invalidPayload: 'invalid payload',
  /** A client event the channel has no schema for, when it validates with `schemas`. */
  unknownEvent: 'unknown event',
} as const;

/** WebSocket close codes the server sends (see docs/errors.md). */
export const CloseCodes = {
  /** `disconnect` broadcast on the socket id: the client should reconnect and re-authenticate. */
  goingAway: 1001,
  /** Idle timeout (no inbound frame for `idleTimeoutMs`). */
  idleTimeout: 1002,
  /** A frame that could not be decoded (invalid UTF-8, invalid JSON, wrong shape). */
  invalidPayload: 1007,
  /**
   * Policy violation: the client does not read its frames (more than `maxQueuedBytes` queued). The
   * TCP connection is destroyed right after, so the client usually sees 1006 instead.
   */
  slowReader: 1008,
  /** Policy violation: the client kept sending beyond its `rateLimit` for `closeAfterMs`. */
  rateLimited: 1008,
  /** A frame larger than `maxFrameSize`. */
  tooBig: 1009,
  /** Unexpected server-side failure of the socket. */
  internalError: 1011,
  /** Graceful shutdown: reconnect, ideally to another node. */
  serviceRestart: 1012,
} as const;

/**
 * Where a publication sits in its topic's stream (docs/recovery.md §1): frames of a publication on
 * a history topic carry it as their `ref`, `phx_stream` and a join's `recover` param as a string.
 */
export interface StreamPosition {
  /** Names one unbroken past of the stream; a new epoch means everything before it is gone. Never contains `:`. */
  readonly epoch: string;
  /** 1 for the first publication of an epoch, +1 for each next one; 0 before the first. */
  readonly offset: number;
}

/** The wire form of a position: `"<epoch>:<offset>"`, offset in decimal. */
export function formatPosition(position: StreamPosition): string {
  return `${position.epoch}:${position.offset}`;
}

const POSITION = /^([^:]{1,64}):(0|[1-9]\d{0,15})$/;

/** Reads a wire position (`"<epoch>:<offset>"`); null for anything else (untrusted input). */
export function parsePosition(value: unknown): StreamPosition | null {
  if (typeof value !== 'string') return null;
  const match = POSITION.exec(value);
  if (match === null) return null;
  const offset = Number(match[2]);
  return Number.isSafeInteger(offset) ? { epoch: match[1] as string, offset } : null;
}

/** A `ref` or `join_ref`: opaque, echoed with the JSON type it came with (string or number). */
export type Ref = string | number | null;

/** A raw-bytes payload, as Phoenix's `{:binary, bytes}`. Only V2 WebSocket sockets can receive one. */
export interface BinaryPayload {
  readonly binary: Uint8Array;
}

/** True when `payload` carries raw bytes rather than JSON. */
export function isBinaryPayload(payload: unknown): payload is BinaryPayload {
  return typeof payload === 'object' && payload !== null && (payload as { binary?: unknown }).binary instanceof Uint8Array;
}

/** One decoded frame, in either direction: the five fields of the Phoenix message model. */
export interface Message {
  joinRef: Ref;
  ref: Ref;
  topic: string;
  event: string;
  /** Any JSON value, or a {@link BinaryPayload} for binary frames. */
  payload: unknown;
}

/** A reply to a client push: `phx_reply` with `{status, response}`. */
export interface ReplyMessage {
  joinRef: Ref;
  ref: Ref;
  topic: string;
  status: string;
  /** Any JSON value, or a {@link BinaryPayload}. */
  response: unknown;
}

/** A broadcast on a topic: no refs; delivered to every subscriber. */
export interface BroadcastMessage {
  topic: string;
  event: string;
  /** A JSON object, or a {@link BinaryPayload}. */
  payload: unknown;
  /**
   * Where the publication sits in its topic's stream, on history topics only (docs/recovery.md);
   * frames of it carry it as their `ref`.
   */
  position?: StreamPosition | undefined;
}
