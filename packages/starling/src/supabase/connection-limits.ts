/**
 * @module supabase/connection-limits
 * Internal: what one realtime connection may spend, all its channels together, as Supabase
 * Realtime bounds a client (its documented defaults: 100 channels per connection, 100 messages a
 * second, 256 KB payloads, 5 presence calls per 30 s). One {@link ConnectionBudget} per
 * connection, made at connect and shared by every channel of it through the socket's assigns;
 * the functions here take it and the time and answer yes or no. Pure: no I/O, no timers.
 *
 * How each limit is told to the client is the channel's business (supabase/realtime-channel):
 * a refused join, an error reply, or the channel closed with a `system` error, as Supabase does.
 */
import { isBinaryPayload } from '../protocol.ts';

/** The limits of one connection, resolved (see `RealtimeOptions`). */
export interface ConnectionLimits {
  /** Channels joined at once (joins in progress count); `Infinity`: no bound. */
  readonly channels: number;
  /** Sustained broadcasts a second, in bursts of as many; `Infinity`: no bound. */
  readonly broadcastsPerSecond: number;
  /** Largest broadcast or presence payload: its JSON in UTF-8 bytes (binary: its bytes). */
  readonly maxPayloadBytes: number;
  /** Presence `track`/`untrack` calls per window. */
  readonly presenceCalls: number;
  readonly presenceWindowMs: number;
}

/**
 * A connection's spending against its {@link ConnectionLimits}: state the server keeps in the
 * socket's assigns (`budget`); one object, so that every channel of the connection spends from it.
 */
export interface ConnectionBudget {
  /** The client topics of the channels joined or joining. */
  readonly channels: Set<string>;
  /** Broadcast tokens left, as of `refilledAt` (ms since the epoch). */
  broadcastTokens: number;
  refilledAt: number;
  /** Presence calls made in the window that began at `presenceWindowStart`. */
  presenceCalls: number;
  presenceWindowStart: number;
}

/** A budget with nothing spent. */
export function newConnectionBudget(limits: ConnectionLimits, now: number): ConnectionBudget {
  return { channels: new Set(), broadcastTokens: limits.broadcastsPerSecond, refilledAt: now, presenceCalls: 0, presenceWindowStart: 0 };
}

/**
 * Counts a join of `topic`; false when the connection has as many channels as it may. A rejoin of
 * a topic already counted (a duplicate join, a rejoin after a crash) takes no second place.
 * {@link releaseChannel} gives the place back when the join is refused or the channel ends.
 */
export function reserveChannel(budget: ConnectionBudget, limits: ConnectionLimits, topic: string): boolean {
  if (budget.channels.has(topic)) return true;
  if (budget.channels.size >= limits.channels) return false;
  budget.channels.add(topic);
  return true;
}

/** Gives back the place of `topic`'s channel. */
export function releaseChannel(budget: ConnectionBudget, topic: string): void {
  budget.channels.delete(topic);
}

/**
 * Spends one broadcast: a token bucket of `broadcastsPerSecond` tokens, refilled continuously.
 * False when empty: the connection sent more than a second's worth faster than it refills.
 */
export function takeBroadcast(budget: ConnectionBudget, limits: ConnectionLimits, now: number): boolean {
  const rate = limits.broadcastsPerSecond;
  if (rate === Number.POSITIVE_INFINITY) return true;
  budget.broadcastTokens = Math.min(rate, budget.broadcastTokens + ((now - budget.refilledAt) * rate) / 1000);
  budget.refilledAt = now;
  if (budget.broadcastTokens < 1) return false;
  budget.broadcastTokens -= 1;
  return true;
}

/**
 * Spends one presence call: `presenceCalls` per fixed window of `presenceWindowMs` that starts at
 * the first call after the previous window ended (Supabase's rule). False when spent.
 */
export function takePresenceCall(budget: ConnectionBudget, limits: ConnectionLimits, now: number): boolean {
  if (now - budget.presenceWindowStart >= limits.presenceWindowMs) {
    budget.presenceWindowStart = now;
    budget.presenceCalls = 0;
  }
  return ++budget.presenceCalls <= limits.presenceCalls;
}

/** True when `payload` is larger than `max` bytes (JSON text in UTF-8 bytes; binary: its bytes). */
export function payloadTooLarge(payload: unknown, max: number): boolean {
  if (max === Number.POSITIVE_INFINITY) return false;
  if (isBinaryPayload(payload)) return payload.binary.byteLength > max;
  const json = JSON.stringify(payload ?? null) as string | undefined;
  if (json === undefined) return false;
  // A UTF-16 code unit is at most 3 UTF-8 bytes: most payloads are decided without measuring.
  return json.length * 3 > max && Buffer.byteLength(json, 'utf8') > max;
}
