/**
 * @module supabase/broadcast-store
 * Internal: broadcasts kept for replay, in `realtime.messages`, as Supabase keeps them. A private
 * channel's client stores one with `send({…, persist: true})` or `httpSend(…, {persist: true})`;
 * a later join with `config.broadcast.replay: {since, limit}` gets the newest `limit` (at most
 * {@link MAX_REPLAY}) stored since `since` (ms since the epoch), oldest first, before live
 * traffic. A stored row is marked `delivered`: the server sent it live itself, so the change
 * stream (Broadcast from Database) does not send it again. Rows are written and read by the
 * server's own role; who may do either is decided by the channel's policies before.
 */
import type { QueryPool } from './row-security.ts';

/** The most broadcasts one join replays (Supabase's bound). */
export const MAX_REPLAY = 25;

/** A stored broadcast, as replayed. */
export interface StoredBroadcast {
  readonly id: string;
  readonly event: string;
  readonly payload: unknown;
}

/** `realtime.messages` as the store of persisted broadcasts. */
export class BroadcastStore {
  readonly #pool: () => QueryPool;

  constructor(pool: () => QueryPool) {
    this.#pool = pool;
  }

  /**
   * Stores a broadcast of the private channel `topic`.
   * @throws (rejects) the database's error
   */
  async persist(topic: string, event: string, payload: unknown): Promise<void> {
    await this.#pool().query(
      "INSERT INTO realtime.messages (topic, extension, event, payload, private, delivered) VALUES ($1, 'broadcast', $2, $3::jsonb, true, true)",
      [topic, event, JSON.stringify(payload ?? {})],
    );
  }

  /**
   * The newest `limit` broadcasts of the private channel `topic` stored at or after `sinceMs`, oldest first.
   * @throws (rejects) the database's error
   */
  async replay(topic: string, sinceMs: number, limit: number): Promise<StoredBroadcast[]> {
    const { rows } = await this.#pool().query<StoredBroadcast>(
      `SELECT id::text AS id, event, payload FROM realtime.messages
        WHERE topic = $1 AND private AND extension = 'broadcast' AND event IS NOT NULL AND inserted_at >= to_timestamp($2::double precision / 1000)
        ORDER BY inserted_at DESC, id DESC LIMIT $3`,
      [topic, sinceMs, Math.max(1, Math.min(limit, MAX_REPLAY))],
    );
    return rows.reverse();
  }
}
