/**
 * @module runtime/callback-results
 * Internal: what the runtime accepts from a channel definition and its callbacks, checked. App
 * code is typed, but a callback can still return anything at run time (plain JavaScript, a cast,
 * a forgotten `return`): these pure functions turn its values into decisions for the channel
 * server, or into an `ERR_INVALID_CALLBACK_RESULT` / `ERR_INVALID_PAYLOAD` fault that ends only
 * that channel.
 */
import type { Channel, Reply, StopReason } from '../channel.ts';
import { ErrorCodes, StarlingError } from '../errors.ts';
import { isBinaryPayload } from '../protocol.ts';

/** True for a promise (or any thenable) returned by a callback or a validator. */
export function isPromise<T>(value: unknown): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** What a `join` result asks for. */
export type JoinDecision =
  | { readonly kind: 'ok'; readonly response: unknown; readonly pubsubTopic: string | undefined }
  | { readonly kind: 'error'; readonly response: unknown }
  | { readonly kind: 'invalid'; readonly error: StarlingError };

/** Reads the value `join` settled with (`ok(…)` or `error(…)`). */
export function joinDecision(result: unknown): JoinDecision {
  const decided = result as { kind?: unknown; response?: unknown; pubsubTopic?: unknown } | null;
  if (decided?.kind === 'ok') {
    const { pubsubTopic } = decided;
    if (pubsubTopic !== undefined && (typeof pubsubTopic !== 'string' || pubsubTopic === '')) return invalid('ok(…, {pubsubTopic}) needs a non-empty string');
    return { kind: 'ok', response: decided.response ?? {}, pubsubTopic };
  }
  if (decided?.kind === 'error') return { kind: 'error', response: decided.response ?? {} };
  return invalid(`join returned ${String(result)}; use ok() or error()`);
}

/** What the result of `handleIn`, `handleOut` or `handleInfo` asks for. */
export type CallbackOutcome =
  | { readonly kind: 'noreply' }
  | { readonly kind: 'reply'; readonly status: string; readonly response: unknown }
  | { readonly kind: 'stop'; readonly reason: StopReason; readonly reply?: Reply | undefined }
  | { readonly kind: 'invalid'; readonly error: StarlingError };

const NO_REPLY: CallbackOutcome = { kind: 'noreply' };

/** Reads a callback's settled result (`undefined` is `noreply()`); only `handleIn` may reply. */
export function callbackOutcome(result: unknown, fromHandleIn: boolean): CallbackOutcome {
  if (result === undefined) return NO_REPLY;
  const outcome = result as { kind?: unknown } | null;
  switch (outcome?.kind) {
    case 'noreply':
      return NO_REPLY;
    case 'reply':
      return fromHandleIn ? (outcome as CallbackOutcome) : invalid('only handleIn can reply');
    case 'stop':
      return outcome as CallbackOutcome;
    default:
      return invalid(`invalid callback result ${JSON.stringify(result)}`);
  }
}

/** @throws StarlingError `ERR_INVALID_PAYLOAD` unless `payload` is an object or `{binary}` (push and broadcast). */
export function assertOutPayload(payload: unknown): void {
  if (isBinaryPayload(payload)) return;
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw new StarlingError(ErrorCodes.invalidPayload, 'push and broadcast payloads must be objects or {binary}');
  }
}

/** A channel definition with what its servers derive from it, shared by all of them. */
export interface ChannelKind {
  readonly channel: Channel;
  /** The intercepted events as a set; null when it intercepts none. */
  readonly intercepts: ReadonlySet<string> | null;
}

const kinds = new WeakMap<Channel, ChannelKind>();

/** The {@link ChannelKind} of `channel`, made once per channel definition. */
export function channelKindOf(channel: Channel): ChannelKind {
  let kind = kinds.get(channel);
  if (kind === undefined) {
    kind = { channel, intercepts: channel.intercept?.length ? new Set(channel.intercept) : null };
    kinds.set(channel, kind);
  }
  return kind;
}

function invalid(message: string): { readonly kind: 'invalid'; readonly error: StarlingError } {
  return { kind: 'invalid', error: new StarlingError(ErrorCodes.invalidCallbackResult, message) };
}
