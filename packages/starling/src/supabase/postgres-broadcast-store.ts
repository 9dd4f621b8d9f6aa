/**
 * @module supabase/postgres-broadcast-store
 * Internal: persisted broadcasts in `realtime.messages`, as Supabase keeps them (the contract is
 * supabase/broadcast-store). A stored row is marked `delivered`: the server sent it live itself,
 * so the change stream (Broadcast from Database) does not send it again; rows that
 * `realtime.send` added are replayed too. Rows are written and read by the server's own role; who
 * may do either is decided by the channel's policies before. A persist's `ttl` is not honoured:
 * rows stay until the database's owner deletes them.
 */
import { replayLimit, type BroadcastStore, type ReplayOutcome, type StoredBroadcast } from './broadcast-store.ts';
import type { QueryPool } from './row-security.ts';

/** `realtime.messages` as the store of persisted broadcasts. */
export class PostgresBroadcastStore implements BroadcastStore {
  readonly #pool: () => QueryPool;

  constructor(pool: () => QueryPool) {
    this.#pool = pool;
  }

  /**
   * Stores a broadcast of the private channel `topic` (a `ttl` is not honoured).
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
  async replay(topic: string, sinceMs: number, limit: number): Promise<ReplayOutcome> {
    const { rows } = await this.#pool().query<StoredBroadcast>(
      `SELECT id::text AS id, event, payload FROM realtime.messages
        WHERE topic = $1 AND private AND extension = 'broadcast' AND event IS NOT NULL AND inserted_at >= to_timestamp($2::double precision / 1000)
        ORDER BY inserted_at DESC, id DESC LIMIT $3`,
      [topic, sinceMs, replayLimit(limit)],
    );
    return { messages: rows.reverse() };
  }
}
