/**
 * @module starling-channels/client
 * Typed event maps for the official `phoenix` client, in the browser or anywhere: the same
 * `Events` type as the server's `Channel<Assigns, Events>` types `push` (the `input` map when the
 * events have one — what the schemas accept, e.g. without a defaulted field — else `in`, with the
 * declared reply) and `on` (the `out` map). No runtime cost: {@link typedChannel} returns the
 * phoenix channel itself, typed. This module imports nothing (no server code, no `node:`
 * module); `phoenix` is an optional peer you install for the browser.
 *
 * @example
 * import { Socket } from 'phoenix';
 * import { typedChannel } from 'starling-channels/client';
 *
 * // Shared with the server's `Channel<Assigns, RoomEvents>` (a type-only import in real code).
 * type RoomEvents = {
 *   in: { new_msg: { body: string }; history: { before: number } };
 *   out: { new_msg: { body: string; author: string } };
 *   replies: { history: { messages: string[] } };
 * };
 * const socket = new Socket('/socket', { params: { token } });
 * socket.connect();
 * const room = typedChannel<RoomEvents>(socket.channel('rooms:lobby', {}));
 * room.on('new_msg', ({ body, author }) => console.log(author, body));
 * room.join().receive('ok', () => {
 *   room.push('history', { before: 100 }).receive('ok', ({ messages }) => console.log(messages.length));
 * });
 */
import type { ChannelEvents, EventName, ReplyOf } from '../channel.ts';

export type { ChannelEvents, EventName, ReplyOf } from '../channel.ts';

/** A push of the `phoenix` client: what this module needs of it. */
export interface PhoenixPush {
  receive(status: string, callback: (response: unknown) => unknown): PhoenixPush;
}

/** A channel of the `phoenix` client (`socket.channel(topic, params)`): what this module needs of it. */
export interface PhoenixChannel {
  join(timeout?: number): PhoenixPush;
  leave(timeout?: number): PhoenixPush;
  push(event: string, payload: object, timeout?: number): PhoenixPush;
  on(event: string, callback: (payload: unknown) => unknown): number;
  off(event: string, ref?: number): void;
}

/**
 * What the client pushes for inbound event `K`: `E['input'][K]` when the events declare an
 * `input` map (the schemas' input types, see `InferEvents`), else `E['in'][K]`.
 */
export type PushPayload<E extends ChannelEvents, K extends EventName<E['in']>> = E extends { readonly input: infer I }
  ? K extends keyof I
    ? I[K]
    : E['in'][K]
  : E['in'][K];

/** A push whose `"ok"` reply is typed `R`; other statuses (`"error"`, `"timeout"`) carry `unknown`. */
export interface TypedPush<R> {
  receive(status: 'ok', callback: (response: R) => void): TypedPush<R>;
  receive(status: string, callback: (response: unknown) => void): TypedPush<R>;
}

/**
 * A phoenix channel typed by a server's event maps: the client pushes `in` events and hears
 * `out` events.
 */
export interface TypedChannel<E extends ChannelEvents> {
  /** The channel's topic. */
  readonly topic: string;
  /** Joins; the join reply is not typed by the event maps. */
  join(timeout?: number): TypedPush<unknown>;
  /** Leaves. */
  leave(timeout?: number): TypedPush<unknown>;
  /** Pushes an inbound event of the server's `in` map with its payload ({@link PushPayload}: the `input` type when declared). */
  push<K extends EventName<E['in']>>(event: K, payload: PushPayload<E, K>, timeout?: number): TypedPush<ReplyOf<E, K>>;
  /** Listens for an event of the server's `out` map. @returns a ref for {@link off} */
  on<K extends EventName<E['out']>>(event: K, callback: (payload: E['out'][K]) => void): number;
  /** Stops listening (all listeners of `event`, or the one with `ref`). */
  off(event: EventName<E['out']>, ref?: number): void;
}

/**
 * Types a `phoenix` channel by the server's event maps. Returns the same channel object: nothing
 * is wrapped or checked at runtime (the server validates what it receives with its `schemas`).
 */
export function typedChannel<E extends ChannelEvents>(channel: PhoenixChannel): TypedChannel<E> {
  return channel as unknown as TypedChannel<E>;
}

export { recoverableChannel, type ChannelFactory, type HookableChannel, type RecoverableChannel, type RecoveryOptions, type StreamNotice } from './recovery.ts';
