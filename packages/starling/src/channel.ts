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
import { Reasons, type BinaryPayload, type Ref } from './protocol.ts';
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
 * - `in`: event → payload the client pushes, as `handleIn` receives it (narrowed by event) — with
 *   `schemas`, the schema's *output*;
 * - `input` (optional): event → what the client may push for it, when that differs from `in` — the
 *   schema's *input*, e.g. a field with a `.default()` the client may leave out. The typed client
 *   (`starling-channels/client`) types pushes by it; {@link InferEvents} produces `in` and `input`
 *   together from the schemas;
 * - `out`: event → payload the server sends (`socket.push`, `broadcast`, `broadcastFrom`,
 *   `handleOut` accept only these);
 * - `replies` (optional): event of `in` → the response of its `"ok"` reply. Once a channel
 *   declares replies, its `handleIn` must return a result on every path (a forgotten
 *   `return reply(…)` does not compile) and its `"ok"` replies must be declared ones;
 *   {@link handleInByEvent} checks each event's reply against that event's own.
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
  readonly input?: object;
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
 * `if (event === 'new_msg')` narrows `payload` to that event's payload. A typed `handleIn` declares
 * all three parameters: TypeScript cannot relate a shorter parameter list to a union of tuples
 * (see {@link Channel.handleIn}).
 */
export type HandleInArgs<A extends Assigns, E extends ChannelEvents> = {
  [K in EventName<E['in']>]: [event: K, payload: E['in'][K], socket: ChannelSocket<A, E>];
}[EventName<E['in']>];

/** The arguments of `handleOut`: one `[event, payload, socket]` tuple per outbound event. */
export type HandleOutArgs<A extends Assigns, E extends ChannelEvents> = {
  [K in EventName<E['out']>]: [event: K, payload: E['out'][K], socket: ChannelSocket<A, E>];
}[EventName<E['out']>];

/** The declared `"ok"` reply of inbound event `K` (`E['replies'][K]`), or `unknown` when there is none. */
export type ReplyOf<E extends ChannelEvents, K extends string> = E extends { readonly replies: infer R } ? (K extends keyof R ? R[K] : unknown) : unknown;

/**
 * What handling inbound event `K` of a channel with events `E` returns: anything (or nothing)
 * without declared `replies`; with them, an explicit result, whose `"ok"` response is `K`'s
 * declared reply — or, for an event without one, empty (`reply('ok')`). Error replies carry any
 * response.
 */
export type HandleInReturnOf<E extends ChannelEvents, K extends string> = E extends { readonly replies: infer R extends object }
  ? NoReply | ReplyResult<'ok', K extends keyof R ? R[K] : Record<string, never>> | ReplyResult<'error'> | StopResult
  : HandleInResult | void;

/**
 * What `handleIn` of a channel with events `E` returns: one of its events' results
 * ({@link HandleInReturnOf}). A single `handleIn` is checked against all of them at once — an
 * `"ok"` response declared for another event compiles — since its return type cannot follow the
 * narrowed event; {@link handleInByEvent} checks each event against its own.
 */
export type HandleInReturn<E extends ChannelEvents> = { [K in EventName<E['in']>]: HandleInReturnOf<E, K> }[EventName<E['in']>];

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

/** A value a reply's response may hold, as {@link reply} infers literals in it. */
type ReplyValue = string | number | boolean | bigint | null | undefined | ReplyValue[] | { [key: string]: ReplyValue } | object;

/**
 * Reply to the client's push with `status` (`"ok"`, `"error"` or any string) and `response`
 * (default `{}`). The status and response types are kept, literals included, for typed channels'
 * `replies`: `reply('ok', {accepted: true})` is a `{accepted: true}` reply without `as const`
 * (arrays stay mutable, so `{messages: ['a']}` is a `string[]` reply too).
 */
export function reply<S extends string>(status: S): ReplyResult<S, Record<string, never>>;
/** Reply with `response`, its literals kept. */
export function reply<S extends string, const R extends { readonly [key: string]: ReplyValue }>(status: S, response: R): ReplyResult<S, R>;
/** Reply with a response that is not an object (e.g. `unknown`), or with `undefined` (`{}`). */
export function reply<S extends string, R = Record<string, never>>(status: S, response?: R): ReplyResult<S, R>;
export function reply<S extends string, R>(status: S, response?: R): ReplyResult<S, R> {
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
  /**
   * Runs `dispose` once when this channel ends, whatever ends it — a leave, its socket closing or
   * being disconnected, a `stop`, a crash (a callback that throws, after which `terminate` does
   * not run), a duplicate join, or a join that is refused, crashes or times out after calling
   * this. For what the channel holds outside the runtime: a registration in a registry, a
   * listener on a shared emitter, a handle. Phoenix gets this from the process dying (links,
   * monitors, Registry); a Node channel must say what to release.
   *
   * Disposers run after `terminate` (when it runs), last registered first; one that throws or
   * rejects is logged and the others still run. Registered once the channel has ended (an async
   * `join` that outlived its timeout), `dispose` runs at once.
   *
   * @example
   * join(topic, params, socket) {
   *   const off = feed.listen(topic, (item) => socket.sendInfo(item));
   *   socket.onExit(off);
   *   return ok();
   * }
   */
  onExit(dispose: () => unknown): void;
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

/**
 * The `input` map of a channel's `schemas`: event → what a client may push, the schema's input
 * type (with `z.number().default(3)`, the field is optional). A schema that declares its input
 * `unknown` (one written by hand) gives its output instead: what it accepts for sure.
 */
export type InferInputs<S extends Readonly<Record<string, StandardSchemaV1>>> = {
  -readonly [K in keyof S]: unknown extends StandardSchemaV1.InferInput<S[K]> ? StandardSchemaV1.InferOutput<S[K]> : StandardSchemaV1.InferInput<S[K]>;
};

/**
 * The `in` and `input` maps of a channel's `schemas`, for one `Events` type that serves both
 * sides: `handleIn` gets the schemas' output, the typed client pushes their input.
 *
 * @example
 * const schemas = { start: z.object({ rounds: z.number().int().default(3) }) };
 * type GameEvents = InferEvents<typeof schemas> & { out: { started: { rounds: number } } };
 * // handleIn: payload.rounds is a number; the client: room.push('start', {}) compiles.
 */
export type InferEvents<S extends Readonly<Record<string, StandardSchemaV1>>> = { in: InferPayloads<S>; input: InferInputs<S> };

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
  /**
   * Handles an event pushed by the client. A throw crashes this channel only (`phx_error`).
   *
   * In a typed channel, declare all three parameters `(event, payload, socket)` (name an unused
   * one `_socket`): the parameters are one tuple per event, which TypeScript narrows together but
   * cannot match to a shorter list — `(event, payload)` fails with "Source has 3 element(s) but
   * target allows only 2". {@link handleInByEvent} takes per-event handlers of any length.
   */
  handleIn?(...eventPayloadSocket: HandleInArgs<A, E>): MaybePromise<HandleInReturn<E>>;
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
  /**
   * Runs once when the channel ends (leave, close, stop); not after a crash, nor for a channel
   * replaced by a duplicate join. Release resources with {@link ChannelSocket.onExit} instead,
   * which runs on every exit.
   */
  terminate?(reason: TerminateReason, socket: ChannelSocket<A, E>): MaybePromise<void>;
}

/**
 * `handleIn`'s events, one handler each: `(payload, socket)` typed by that event, returning that
 * event's result ({@link HandleInReturnOf}: with declared `replies`, its own reply).
 */
export type EventHandlers<A extends Assigns, E extends ChannelEvents> = {
  readonly [K in EventName<E['in']>]: (payload: E['in'][K], socket: ChannelSocket<A, E>) => MaybePromise<HandleInReturnOf<E, K>>;
};

/**
 * Builds `handleIn` from one handler per event — Phoenix's one `handle_in` clause per event. Each
 * handler's payload and `"ok"` reply are typed by its own event: a reply declared for another
 * event does not compile, which a single `handleIn` cannot check (its return type cannot follow
 * the narrowed event). Every `in` event needs a handler. An event without one (a client that
 * ignores the types, on a channel without `schemas`) is answered `{reason: "unknown event"}`,
 * as `schemas` answer it.
 *
 * @example
 * const RoomChannel = {
 *   schemas,
 *   join: () => ok(),
 *   handleIn: handleInByEvent({
 *     history: (payload) => reply('ok', { messages: [] }),
 *     new_msg(payload, socket) {
 *       socket.broadcast('new_msg', { body: payload.body, author: socket.assigns.user });
 *       return noreply();
 *     },
 *   }),
 * } satisfies Channel<{ user: string }, RoomEvents>;
 */
export function handleInByEvent<A extends Assigns, E extends ChannelEvents>(
  handlers: EventHandlers<A, E>,
): (...eventPayloadSocket: HandleInArgs<A, E>) => MaybePromise<HandleInReturn<E>> {
  // Untyped from here: the handlers' types were checked where they were written.
  const byEvent = handlers as unknown as Readonly<Record<string, (payload: unknown, socket: unknown) => MaybePromise<HandleInReturn<E>>>>;
  return (event: string, payload: unknown, socket: unknown) => {
    // Own properties only: an event named "constructor" or "__proto__" is not a handler.
    if (!Object.hasOwn(byEvent, event)) return reply('error', { reason: Reasons.unknownEvent }) as HandleInReturn<E>;
    return byEvent[event]!(payload, socket);
  };
}
