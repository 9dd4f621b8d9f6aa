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
 * import { error, noreply, ok, reply, type Channel } from 'starling-channels';
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
import type { Presence } from './presence/presence.ts';
import type { PresenceList, PresenceMeta } from './presence/presence-state.ts';
import type { PubSub } from './pubsub/pubsub.ts';
import type { StandardSchemaV1 } from './standard-schema.ts';
import type { TokenSigner } from './token/token.ts';

export type { StandardSchemaV1 } from './standard-schema.ts';

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

/** Result of `join`: accepted (with an optional reply and {@link JoinOptions}) or refused with a reply. */
export type JoinResult =
  { readonly kind: 'ok'; readonly response: unknown; readonly pubsubTopic?: string | undefined } | { readonly kind: 'error'; readonly response: unknown };

/** How an accepted join is wired to the PubSub; see {@link ok}. */
export interface JoinOptions {
  /**
   * The PubSub topic this channel subscribes to, broadcasts on and tracks presence on, when it
   * must differ from the topic the client joined (default: that topic). Frames to the client
   * still carry the joined topic. Two joins of one client topic with different `pubsubTopic`s
   * share nothing — no broadcast, no presence — which is how the Supabase-compatible socket keeps
   * a private channel apart from the public channel of the same name. Server code reaches such
   * channels with `endpoint.broadcast(pubsubTopic, …)`.
   */
  readonly pubsubTopic?: string | undefined;
}

/** A reply to one client push. */
export interface Reply {
  readonly status: string;
  readonly response: unknown;
}

/** What {@link reply} returns: a reply with its status and response types kept. */
export interface ReplyResult<S extends string = string, R = unknown> {
  readonly kind: 'reply';
  readonly status: S;
  readonly response: R;
}

/** What {@link noreply} returns. */
export interface NoReply {
  readonly kind: 'noreply';
}

/** What {@link stop} returns. */
export interface StopResult {
  readonly kind: 'stop';
  readonly reason: StopReason;
  readonly reply?: Reply;
}

/** Result of `handleIn`. Returning nothing (`undefined`) means `noreply()`. */
export type HandleInResult = NoReply | ({ readonly kind: 'reply' } & Reply) | StopResult;

/**
 * The event maps of a typed channel, from the server's point of view:
 * - `in`: event → payload the client pushes (`handleIn` receives them, narrowed by event);
 * - `out`: event → payload the server sends (`socket.push`, `broadcast`, `broadcastFrom`,
 *   `handleOut` accept only these);
 * - `replies` (optional): event of `in` → the response of its `"ok"` reply. Once a channel
 *   declares replies, its `handleIn` must return a result on every path (a forgotten
 *   `return reply(…)` does not compile) and its `"ok"` replies must be one of the declared types.
 *
 * @example
 * type RoomEvents = {
 *   in: { new_msg: { body: string }; history: { before: number } };
 *   out: { new_msg: { body: string; author: string } };
 *   replies: { history: { messages: string[] } };
 * };
 */
export interface ChannelEvents {
  readonly in: object;
  readonly out: object;
  readonly replies?: object;
}

/** The events of an untyped channel: any event name, `unknown` payloads in, {@link OutPayload} out. */
export interface UntypedEvents {
  readonly in: Readonly<Record<string, unknown>>;
  readonly out: Readonly<Record<string, OutPayload>>;
}

/** The names of the events in one map of a {@link ChannelEvents}. */
export type EventName<M> = keyof M & string;

/**
 * The arguments of `handleIn`: one `[event, payload, socket]` tuple per inbound event, so that
 * `if (event === 'new_msg')` narrows `payload` to that event's payload.
 */
export type HandleInArgs<A extends Assigns, E extends ChannelEvents> = {
  [K in EventName<E['in']>]: [event: K, payload: E['in'][K], socket: ChannelSocket<A, E>];
}[EventName<E['in']>];

/** The arguments of `handleOut`: one `[event, payload, socket]` tuple per outbound event. */
export type HandleOutArgs<A extends Assigns, E extends ChannelEvents> = {
  [K in EventName<E['out']>]: [event: K, payload: E['out'][K], socket: ChannelSocket<A, E>];
}[EventName<E['out']>];

/**
 * What `handleIn` of a channel with events `E` returns: anything (or nothing) for a channel without
 * declared `replies`; with them, an explicit result on every path, whose `"ok"` response is one of
 * the declared replies (error replies carry any response).
 */
export type HandleInReturn<E extends ChannelEvents> = E extends { readonly replies: infer R extends object }
  ? NoReply | ReplyResult<'ok', R[keyof R]> | ReplyResult<'error'> | StopResult
  : HandleInResult | void;

/** Result of `handleOut` and `handleInfo`. Returning nothing means `noreply()`. */
export type HandleResult = { readonly kind: 'noreply' } | { readonly kind: 'stop'; readonly reason: StopReason };

/** A value, or a promise of it: every callback may be sync or async. */
export type MaybePromise<T> = T | Promise<T>;

/** Accept a join, optionally replying with `response` (default `{}`), wired as `options` say. */
export function ok(response: unknown = {}, options?: JoinOptions): JoinResult {
  return options?.pubsubTopic === undefined ? { kind: 'ok', response } : { kind: 'ok', response, pubsubTopic: options.pubsubTopic };
}

/** Refuse a join with `response`, conventionally `{reason: "…"}`. No channel remains. */
export function error(response: unknown): JoinResult {
  return { kind: 'error', response };
}

const NOREPLY = Object.freeze({ kind: 'noreply' as const });

/** Handle an event without replying. */
export function noreply(): NoReply {
  return NOREPLY;
}

/**
 * Reply to the client's push with `status` (`"ok"`, `"error"` or any string) and `response`
 * (default `{}`). The status and response types are kept, for typed channels' `replies`.
 */
export function reply<S extends string, R = Record<string, never>>(status: S, response?: R): ReplyResult<S, R> {
  return { kind: 'reply', status, response: (response ?? {}) as R };
}

/** Stop the channel; with `reply`, the reply is written first. */
export function stop(reason: StopReason, replyWith?: Reply): StopResult {
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

/**
 * What a channel reaches of its endpoint, as Phoenix's `socket.endpoint`: the `Endpoint` itself
 * satisfies it. For example, verify a signed ticket in `join` with
 * `socket.endpoint.tokens.verify('room ticket', params.ticket, {maxAge: 60})`.
 */
export interface ChannelEndpoint {
  /** The endpoint's Phoenix.Token signer (its `secretKeyBase`). */
  readonly tokens: TokenSigner;
  /** The endpoint's PubSub (every node's, with an adapter). */
  readonly pubsub: PubSub;
  /** The endpoint's Presence tracker. */
  readonly presence: Presence;
  /** Broadcasts `event` to every subscriber of `topic` on every node. */
  broadcast(topic: string, event: string, payload: OutPayload): void;
}

/**
 * What the runtime tells callbacks about the joined topic and its socket. In a typed channel
 * (`E`), `push`, `broadcast` and `broadcastFrom` accept only the events and payloads of `E['out']`.
 */
export interface ChannelSocket<A extends Assigns = Assigns, E extends ChannelEvents = UntypedEvents> {
  /** The exact topic joined, e.g. `"rooms:lobby"`. */
  readonly topic: string;
  /**
   * The PubSub topic behind it: {@link topic} unless the join chose another with
   * `ok(reply, {pubsubTopic})` (see {@link JoinOptions}). Broadcasts and presence use it.
   */
  readonly pubsubTopic: string;
  /** This join's `join_ref`; frames with another non-null join_ref are stale. */
  readonly joinRef: Ref;
  /** The socket id from the socket's `id()` callback, or null. */
  readonly id: string | null;
  /** `"websocket"` or `"longpoll"`. */
  readonly transport: string;
  /** The endpoint this socket belongs to: its token signer, PubSub, Presence and `broadcast`. */
  readonly endpoint: ChannelEndpoint;
  /** This channel's own copy of the socket's assigns; mutate it freely. */
  readonly assigns: A;
  /** Merges `patch` into `assigns`. */
  assign(patch: Partial<A>): void;
  /** Sends `event` to this channel's client only (`[joinRef, null, topic, event, payload]`). */
  push<K extends EventName<E['out']>>(event: K, payload: E['out'][K]): void;
  /** Sends `event` to every subscriber of the topic on every node, this channel included. */
  broadcast<K extends EventName<E['out']>>(event: K, payload: E['out'][K]): void;
  /** Sends `event` to every subscriber of the topic except this channel. */
  broadcastFrom<K extends EventName<E['out']>>(event: K, payload: E['out'][K]): void;
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

/** The `in` map that a channel's `schemas` validate to: event → the schema's output type. */
export type InferPayloads<S extends Readonly<Record<string, StandardSchemaV1>>> = { -readonly [K in keyof S]: StandardSchemaV1.InferOutput<S[K]> };

/** One schema per inbound event of `E`: the `schemas` of a validated channel. */
export type ChannelSchemas<E extends ChannelEvents> = { readonly [K in EventName<E['in']>]: StandardSchemaV1<unknown, E['in'][K]> };

/**
 * A channel: the callbacks for one topic family. Only `join` is required.
 *
 * Typed channels: `Channel<Assigns, Events>` with {@link ChannelEvents} narrows `handleIn`'s event
 * and payload and restricts what `socket.push`/`broadcast` send. Types alone are an unchecked
 * promise about client input; add `schemas` to check it.
 */
export interface Channel<A extends Assigns = Assigns, E extends ChannelEvents = UntypedEvents> {
  /**
   * Authorizes a join. `payload` is the client's join params (untrusted). Return `ok()`,
   * `ok(reply)` or `error({reason})`. A throw answers `{reason: "join crashed"}`.
   */
  join(topic: string, payload: unknown, socket: ChannelSocket<A, E>): MaybePromise<JoinResult>;
  /**
   * Validates inbound payloads at the edge: one Standard Schema (zod, valibot, arktype, …) per
   * event. With `schemas`, `handleIn` receives only validated payloads (the schema's output);
   * a payload that fails is answered `{status: "error", response: {reason: "invalid payload",
   * issues: [{message, path}]}}` and an event without a schema `{reason: "unknown event"}`, and
   * neither reaches `handleIn`. Validation runs in the channel's mailbox, in order.
   */
  readonly schemas?: ChannelSchemas<E>;
  /** Handles an event pushed by the client. A throw crashes this channel only (`phx_error`). */
  handleIn?(...args: HandleInArgs<A, E>): MaybePromise<HandleInReturn<E>>;
  /** Outgoing broadcast events that go through `handleOut` for each subscriber instead of the fastlane. */
  readonly intercept?: readonly EventName<E['out']>[];
  /**
   * Presence in one call (default `true`): the first `socket.track` of a join first sends this
   * channel's client `presence_state` — unless the channel already pushed one — so the official
   * client's `Presence` syncs with no other code, and a typed channel needs no `presence_state` in
   * its `out` map. `false` leaves `presence_state` to the channel (e.g. a protocol that sends it
   * only to clients that asked).
   */
  readonly syncPresence?: boolean;
  /** Handles an intercepted broadcast: `socket.push` a tailored payload, or drop it. */
  handleOut?(...args: HandleOutArgs<A, E>): MaybePromise<HandleResult | void>;
  /** Handles messages from `sendInfo` and subscriptions. */
  handleInfo?(message: unknown, socket: ChannelSocket<A, E>): MaybePromise<HandleResult | void>;
  /** Runs once when the channel ends (leave, close, stop); not after a crash. */
  terminate?(reason: TerminateReason, socket: ChannelSocket<A, E>): MaybePromise<void>;
}
