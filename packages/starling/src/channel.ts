/**
 * @module channel
 * The Channel contract: what an application writes to handle one topic (or a family of topics
 * routed by a pattern such as `"rooms:*"`). A channel is a plain object; the runtime creates one
 * server per joined topic per socket and calls these callbacks one at a time, in order, even when
 * they are async. Per-join state lives in `socket.assigns`.
 *
 * Every payload a callback receives comes from an untrusted client: validate it.
 *
 * @example
 * import { error, noreply, ok, reply, type Channel } from 'starling';
 *
 * const RoomChannel = {
 *   join(topic, _params, _socket) {
 *     return topic === 'rooms:lobby' ? ok() : error({ reason: 'unauthorized' });
 *   },
 *   handleIn(event, payload, socket) {
 *     const body = (payload as { body?: unknown }).body;
 *     if (event !== 'new_msg' || typeof body !== 'string') return reply('error', { reason: 'bad message' });
 *     socket.broadcast('new_msg', { body });
 *     return noreply();
 *   },
 * } satisfies Channel;
 */
import type { BinaryPayload, Ref } from './protocol.ts';
import type { PresenceList, PresenceMeta } from './presence/presence-state.ts';

/** Per-socket and per-channel state, set in `connect` and in channel callbacks. */
export type Assigns = Record<string, unknown>;

/** A payload an app may push or broadcast: a JSON object, or raw bytes (V2 WebSocket only). */
export type OutPayload = Readonly<Record<string, unknown>> | BinaryPayload;

/**
 * Why a channel stopped. `"normal"`, `"shutdown"` and `{shutdown: …}` are graceful (the client
 * gets `phx_close` and does not rejoin); any other reason is a crash (`phx_error`, the client
 * rejoins).
 */
export type StopReason = string | { readonly shutdown: string } | Error;

/** The reason `terminate` receives. */
export type TerminateReason = { readonly shutdown: 'left' | 'closed' | 'duplicate_join' | 'disconnected' | 'draining' | 'inactive' } | StopReason;

/** Result of `join`: accepted (with an optional reply) or refused with a reply. */
export type JoinResult = { readonly kind: 'ok'; readonly response: unknown } | { readonly kind: 'error'; readonly response: unknown };

/** A reply to one client push. */
export interface Reply {
  readonly status: string;
  readonly response: unknown;
}

/** Result of `handleIn`. Returning nothing (`undefined`) means `noreply()`. */
export type HandleInResult =
  { readonly kind: 'noreply' } | ({ readonly kind: 'reply' } & Reply) | { readonly kind: 'stop'; readonly reason: StopReason; readonly reply?: Reply };

/** Result of `handleOut` and `handleInfo`. Returning nothing means `noreply()`. */
export type HandleResult = { readonly kind: 'noreply' } | { readonly kind: 'stop'; readonly reason: StopReason };

/** A value, or a promise of it: every callback may be sync or async. */
export type MaybePromise<T> = T | Promise<T>;

/** Accept a join, optionally replying with `response` (default `{}`). */
export function ok(response: unknown = {}): JoinResult {
  return { kind: 'ok', response };
}

/** Refuse a join with `response`, conventionally `{reason: "…"}`. No channel remains. */
export function error(response: unknown): JoinResult {
  return { kind: 'error', response };
}

const NOREPLY = Object.freeze({ kind: 'noreply' as const });

/** Handle an event without replying. */
export function noreply(): { readonly kind: 'noreply' } {
  return NOREPLY;
}

/** Reply to the client's push with `status` (`"ok"`, `"error"` or any string) and `response`. */
export function reply(status: string, response: unknown = {}): HandleInResult {
  return { kind: 'reply', status, response };
}

/** Stop the channel; with `reply`, the reply is written first. */
export function stop(reason: StopReason, replyWith?: Reply): { readonly kind: 'stop'; readonly reason: StopReason; readonly reply?: Reply } {
  return replyWith ? { kind: 'stop', reason, reply: replyWith } : { kind: 'stop', reason };
}

/** True when `reason` is graceful (`phx_close`) rather than a crash (`phx_error`). */
export function isGracefulStop(reason: StopReason): boolean {
  if (typeof reason === 'string') return reason === 'normal' || reason === 'shutdown';
  return !(reason instanceof Error) && typeof reason.shutdown === 'string';
}

/**
 * Captures one client push so that it can be answered later, after `handleIn` returned `noreply()`
 * (Phoenix's `socket_ref`). Replying twice is allowed; the client honours the first.
 */
export interface SocketRef {
  readonly topic: string;
  readonly joinRef: Ref;
  readonly ref: Ref;
  /** Sends `phx_reply` with `status` and `response` for the captured push. */
  reply(status: string, response?: unknown): void;
}

/** What the runtime tells callbacks about the joined topic and its socket. */
export interface ChannelSocket<A extends Assigns = Assigns> {
  /** The exact topic joined, e.g. `"rooms:lobby"`. */
  readonly topic: string;
  /** This join's `join_ref`; frames with another non-null join_ref are stale. */
  readonly joinRef: Ref;
  /** The socket id from the socket's `id()` callback, or null. */
  readonly id: string | null;
  /** `"websocket"` or `"longpoll"`. */
  readonly transport: string;
  /** This channel's own copy of the socket's assigns; mutate it freely. */
  readonly assigns: A;
  /** Merges `patch` into `assigns`. */
  assign(patch: Partial<A>): void;
  /** Sends `event` to this channel's client only (`[joinRef, null, topic, event, payload]`). */
  push(event: string, payload: OutPayload): void;
  /** Sends `event` to every subscriber of the topic on every node, this channel included. */
  broadcast(event: string, payload: OutPayload): void;
  /** Sends `event` to every subscriber of the topic except this channel. */
  broadcastFrom(event: string, payload: OutPayload): void;
  /** Captures the push being handled, to reply later with `socketRef.reply(…)`. */
  socketRef(): SocketRef;
  /**
   * Delivers `message` to this channel's `handleInfo`, after the current callback (and after the
   * join reply when called from `join`): Phoenix's `send(self(), msg)`. With `delayMs`, later.
   */
  sendInfo(message: unknown, delayMs?: number): void;
  /** Subscribes this channel to another topic; its broadcasts arrive in `handleInfo` as {@link InfoBroadcast}. */
  subscribe(topic: string): void;
  /** Undoes {@link ChannelSocket.subscribe}. */
  unsubscribe(topic: string): void;
  /** Tracks this channel's presence under `key` on its topic (see Presence). */
  track(key: string, meta?: PresenceMeta): void;
  /** Stops tracking `key`. */
  untrack(key: string): void;
  /** Replaces the meta tracked under `key` (one diff: joins new, leaves old). */
  updatePresence(key: string, meta: PresenceMeta): void;
  /** Everyone tracked on this topic: the `presence_state` payload. */
  listPresence(): PresenceList;
}

/** A broadcast on a topic the channel subscribed to with `socket.subscribe`, as `handleInfo` sees it. */
export interface InfoBroadcast {
  readonly kind: 'broadcast';
  readonly topic: string;
  readonly event: string;
  readonly payload: unknown;
}

/** A channel: the callbacks for one topic family. Only `join` is required. */
export interface Channel<A extends Assigns = Assigns> {
  /**
   * Authorizes a join. `payload` is the client's join params (untrusted). Return `ok()`,
   * `ok(reply)` or `error({reason})`. A throw answers `{reason: "join crashed"}`.
   */
  join(topic: string, payload: unknown, socket: ChannelSocket<A>): MaybePromise<JoinResult>;
  /** Handles an event pushed by the client. A throw crashes this channel only (`phx_error`). */
  handleIn?(event: string, payload: unknown, socket: ChannelSocket<A>): MaybePromise<HandleInResult | void>;
  /** Outgoing broadcast events that go through `handleOut` for each subscriber instead of the fastlane. */
  readonly intercept?: readonly string[];
  /** Handles an intercepted broadcast: `socket.push` a tailored payload, or drop it. */
  handleOut?(event: string, payload: unknown, socket: ChannelSocket<A>): MaybePromise<HandleResult | void>;
  /** Handles messages from `sendInfo` and subscriptions. */
  handleInfo?(message: unknown, socket: ChannelSocket<A>): MaybePromise<HandleResult | void>;
  /** Runs once when the channel ends (leave, close, stop); not after a crash. */
  terminate?(reason: TerminateReason, socket: ChannelSocket<A>): MaybePromise<void>;
}
