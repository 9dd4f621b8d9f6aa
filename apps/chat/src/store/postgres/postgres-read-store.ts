/**
 * @module postgres-read-store
 * The {@link ReadStore} of a `PostgresChatStore`: the `read_positions` table, one row per user and
 * room, written with single upserts and counted against the `messages` table of the same schema.
 */
import { UNREAD_COUNT_CAP, type ReadStore, type UnreadCount } from '../read-store.ts';
import { assertStorableText, isStorableText } from '../store-error.ts';
import type { PostgresDatabase, PostgresTables } from './postgres-database.ts';

/** The statements, with every name qualified by the quoted schema `s`. */
function sql(s: string) {
  return {
    markRead: `
      INSERT INTO ${s}.read_positions (user_id, room, message_id) VALUES ($1, $2, $3)
      ON CONFLICT (user_id, room) DO UPDATE SET message_id = GREATEST(${s}.read_positions.message_id, EXCLUDED.message_id)`,
    // One round trip for every room; the LIMIT inside bounds the count of a room never read.
    unread: `
      SELECT r.room, COALESCE(p.message_id, 0) AS "lastRead", c.count, c.mentions
      FROM unnest($2::text[]) WITH ORDINALITY AS r(room, n)
      LEFT JOIN ${s}.read_positions p ON p.user_id = $1 AND p.room = r.room
      CROSS JOIN LATERAL (
        SELECT count(*)::int AS count, count(*) FILTER (WHERE mentioned)::int AS mentions FROM (
          SELECT strpos(m.mentions, $4) > 0 AS mentioned FROM ${s}.messages m
          WHERE m.room = r.room AND m.id > COALESCE(p.message_id, 0) AND NOT m.deleted AND m.author_id IS DISTINCT FROM $1
          LIMIT $3) AS counted) AS c
      ORDER BY r.n`,
  };
}

/** A {@link ReadStore} on a {@link PostgresDatabase}. */
export class PostgresReadStore implements ReadStore {
  /** The tables this part needs, created when missing (it also reads `messages`). */
  static readonly schema: PostgresTables = {
    createTables: (s) => `
      CREATE TABLE IF NOT EXISTS ${s}.read_positions (
        user_id TEXT NOT NULL,
        room TEXT NOT NULL,
        message_id BIGINT NOT NULL,
        PRIMARY KEY (user_id, room)
      )`,
  };

  readonly #database: PostgresDatabase;
  readonly #sql: ReturnType<typeof sql>;

  /** Queries through `database`, whose schema must hold {@link PostgresReadStore.schema} and the messages'. */
  constructor(database: PostgresDatabase) {
    this.#database = database;
    this.#sql = sql(database.quotedSchema);
  }

  markRead(userId: string, room: string, messageId: number): Promise<void> {
    return this.#database.call('markRead', async () => {
      assertStorableText({ userId, room });
      // A bigint holds every id a store gives; beyond it no message can be "read past".
      const id = Math.max(0, Math.min(Number.MAX_SAFE_INTEGER, Math.floor(messageId)));
      await this.#database.query(this.#sql.markRead, [userId, room, id]);
    });
  }

  unread(userId: string, rooms: readonly string[]): Promise<UnreadCount[]> {
    return this.#database.call('unread', async () => {
      const none = (room: string): UnreadCount => ({ room, lastRead: 0, count: 0, mentions: 0 });
      if (!isStorableText(userId)) return rooms.map(none);
      // Rooms a query could not carry faithfully are answered without asking (they match nothing).
      const storable = rooms.filter(isStorableText);
      // The mentions column is a JSON array: the id as a JSON string is what it holds.
      const values = [userId, storable, UNREAD_COUNT_CAP, JSON.stringify(userId)];
      const { rows } = await this.#database.query<{ room: string; lastRead: string; count: number; mentions: number }>(this.#sql.unread, values);
      const found = rows.map((row) => ({ room: row.room, lastRead: Number(row.lastRead), count: row.count, mentions: row.mentions }));
      return rooms.map((room) => (isStorableText(room) ? found.shift()! : none(room)));
    });
  }
}
