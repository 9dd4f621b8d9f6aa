/**
 * @module supabase/broadcast-store
 * Internal: the contract of the store behind Supabase's broadcast **persist** and **replay**. A
 * private channel's client stores a broadcast with `send({…, persist: true})` or
 * `httpSend(…, {persist: true})`; a later join with `config.broadcast.replay: {since, limit}` gets
 * the newest `limit` (at most {@link MAX_REPLAY}) stored since `since` (ms since the epoch),
 * oldest first, before live traffic. Two stores keep them:
 *
 * - `PostgresBroadcastStore` (postgres-broadcast-store.ts): `realtime.messages`, as Supabase does,
 *   with a database;
 * - `HistoryBroadcastStore` (history-broadcast-store.ts): the PubSub's history — in process, or
 *   Redis shared by every node — without one.
 *
 * Who may store or replay is decided by the channel's policy before a store is asked.
 */

/** The most broadcasts one join replays (Supabase's bound). */
export const MAX_REPLAY = 25;

/** A stored broadcast, as replayed: `id` becomes the replayed message's `meta.id`. */
export interface StoredBroadcast {
  readonly id: string;
  readonly event: string;
  readonly payload: unknown;
}

/** What a replay read gives: the broadcasts, oldest first, or why the join cannot have them. */
export type ReplayOutcome = { readonly messages: readonly StoredBroadcast[] } | { readonly refused: string };

/**
 * Where persisted broadcasts of private channels are kept.
 *
 * Guarantees: a `persist` that resolved is seen by every later `replay`, on every node that shares
 * the store, until the store's retention drops it; `replay` answers in the order the broadcasts
 * were stored. Payloads are JSON (binary ones are refused before the store is asked).
 */
export interface BroadcastStore {
  /**
   * Stores a broadcast of the private channel `topic` (the name, without `realtime:`), kept for
   * `ttlMs` when given (and the store honours it), else as long as the store keeps any.
   * @throws (rejects) when it could not be stored
   */
  persist(topic: string, event: string, payload: unknown, ttlMs: number | null): Promise<void>;
  /**
   * The newest `limit` (1 to {@link MAX_REPLAY}) broadcasts of the private channel `topic`
   * stored at or after `sinceMs`, oldest first; or a refusal with the reason the client gets.
   * @throws (rejects) when the store cannot be read
   */
  replay(topic: string, sinceMs: number, limit: number): Promise<ReplayOutcome>;
}

/** `limit` within 1 and {@link MAX_REPLAY}. */
export function replayLimit(limit: number): number {
  return Math.max(1, Math.min(limit, MAX_REPLAY));
}
