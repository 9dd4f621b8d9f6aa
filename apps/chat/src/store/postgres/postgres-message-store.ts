/**
 * @module postgres-message-store
 * The {@link MessageStore} of a `PostgresChatStore`: the `messages` table, whose identity column
 * numbers every room's messages in one sequence. Appends to one room are serialized so that ids
 * become visible in order (see the `append` statement). Edits and deletes update the row in place,
 * guarded by its author id in the same statement.
 *
 * Durability rests on the server's `synchronous_commit` (default `on`): a statement's commit is
 * flushed to the server's WAL before the call resolves.
 */
import { historyQuery, mentionsOf, mentionsText, type AppendOptions, type HistoryOptions, type MessageStore, type StoredMessage } from '../message-store.ts';
import { assertStorableText, isStorableText } from '../store-error.ts';
import type { PostgresDatabase, PostgresTables } from './postgres-database.ts';

/** The statements, with every name qualified by the quoted schema `s`. */
function sql(s: string) {
  const messageColumns = 'id, room, author, body, inserted_at AS "insertedAt", author_id AS "authorId", edited_at AS "editedAt", deleted, mentions';
  return {
    // Concurrent inserts draw identity values in one order and may commit in another, so a reader
    // could see id 11 before id 10 and page past 10 for good. Holding a per-room lock from before
    // the id is drawn until the commit makes ids become visible in order. The lock lives in the
    // MATERIALIZED CTE so that it is taken before the outer row (and its id) exists; it is released
    // by the statement's own commit. One round trip, no explicit transaction. The price: appends to
    // one room commit one at a time (a WAL flush each, hundreds per second) — far above chat rates;
    // other rooms are not held up.
    append: `
      WITH serialize_room AS MATERIALIZED (SELECT pg_advisory_xact_lock(hashtext($4::text), hashtext($1::text)))
      INSERT INTO ${s}.messages (room, author, body, author_id, mentions)
      SELECT $1::text, $2::text, $3::text, $5::text, $6::text FROM serialize_room
      RETURNING ${messageColumns}`,
    newest: `SELECT ${messageColumns} FROM ${s}.messages WHERE room = $1 ORDER BY id DESC LIMIT $2`,
    newestBefore: `SELECT ${messageColumns} FROM ${s}.messages WHERE room = $1 AND id < $2 ORDER BY id DESC LIMIT $3`,
    edit: `UPDATE ${s}.messages SET body = $4, mentions = $5, edited_at = now()
      WHERE room = $1 AND id = $2 AND author_id = $3 AND NOT deleted RETURNING ${messageColumns}`,
    remove: `UPDATE ${s}.messages SET body = '', mentions = '[]', deleted = true
      WHERE room = $1 AND id = $2 AND author_id = $3 RETURNING ${messageColumns}`,
  };
}

interface MessageRow {
  id: string; // BIGINT arrives as a string; ids stay far below 2^53.
  room: string;
  author: string;
  body: string;
  insertedAt: Date;
  authorId: string | null;
  editedAt: Date | null;
  deleted: boolean;
  mentions: string;
}

const toMessage = (row: MessageRow): StoredMessage => ({
  id: Number(row.id),
  room: row.room,
  author: row.author,
  body: row.body,
  insertedAt: row.insertedAt.toISOString(),
  authorId: row.authorId,
  editedAt: row.editedAt?.toISOString() ?? null,
  deleted: row.deleted,
  mentions: mentionsOf(row.mentions),
});

/** Ids beyond a bigint (or not integers) name no message: asked as such they would be a query error. */
const isMessageId = (id: number): boolean => Number.isSafeInteger(id) && id > 0;

/** A {@link MessageStore} on a {@link PostgresDatabase}. */
export class PostgresMessageStore implements MessageStore {
  /** The tables this part needs, created when missing. */
  static readonly schema: PostgresTables = {
    createTables: (s) => `
      CREATE TABLE IF NOT EXISTS ${s}.messages (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        room TEXT NOT NULL,
        author TEXT NOT NULL,
        body TEXT NOT NULL,
        inserted_at TIMESTAMPTZ NOT NULL DEFAULT now()
      );
      CREATE INDEX IF NOT EXISTS messages_room_id ON ${s}.messages (room, id)`,
  };

  /** What migration 2 adds to {@link PostgresMessageStore.schema}: who wrote a message, its edits, deletion and mentions. */
  static editsSchema(s: string): string {
    return `
      ALTER TABLE ${s}.messages
        ADD COLUMN IF NOT EXISTS author_id TEXT,
        ADD COLUMN IF NOT EXISTS edited_at TIMESTAMPTZ,
        ADD COLUMN IF NOT EXISTS deleted BOOLEAN NOT NULL DEFAULT false,
        ADD COLUMN IF NOT EXISTS mentions TEXT NOT NULL DEFAULT '[]'`;
  }

  readonly #database: PostgresDatabase;
  readonly #sql: ReturnType<typeof sql>;

  /** Queries through `database`, whose schema must hold {@link PostgresMessageStore.schema}. */
  constructor(database: PostgresDatabase) {
    this.#database = database;
    this.#sql = sql(database.quotedSchema);
  }

  append(room: string, author: string, body: string, options: AppendOptions = {}): Promise<StoredMessage> {
    return this.#database.call('append', async () => {
      const mentions = options.mentions ?? [];
      assertStorableText({ room, author, body, authorId: options.authorId ?? '', ...Object.fromEntries(mentions.map((id, i) => [`mentions[${i}]`, id])) });
      const values = [room, author, body, this.#database.schema, options.authorId ?? null, mentionsText(mentions)];
      const { rows } = await this.#database.query<MessageRow>(this.#sql.append, values);
      return toMessage(rows[0]!);
    });
  }

  edit(room: string, id: number, authorId: string, body: string, mentions: readonly string[] = []): Promise<StoredMessage | null> {
    return this.#database.call('edit', async () => {
      assertStorableText({ body, ...Object.fromEntries(mentions.map((mention, i) => [`mentions[${i}]`, mention])) });
      if (!isStorableText(room) || !isStorableText(authorId) || !isMessageId(id)) return null;
      const { rows } = await this.#database.query<MessageRow>(this.#sql.edit, [room, id, authorId, body, mentionsText(mentions)]);
      return rows[0] === undefined ? null : toMessage(rows[0]);
    });
  }

  remove(room: string, id: number, authorId: string): Promise<StoredMessage | null> {
    return this.#database.call('remove', async () => {
      if (!isStorableText(room) || !isStorableText(authorId) || !isMessageId(id)) return null;
      const { rows } = await this.#database.query<MessageRow>(this.#sql.remove, [room, id, authorId]);
      return rows[0] === undefined ? null : toMessage(rows[0]);
    });
  }

  history(room: string, options?: HistoryOptions): Promise<StoredMessage[]> {
    return this.#database.call('history', async () => {
      const { before, limit } = historyQuery(options);
      if (!isStorableText(room)) return [];
      const { rows } =
        before === null
          ? await this.#database.query<MessageRow>(this.#sql.newest, [room, limit])
          : await this.#database.query<MessageRow>(this.#sql.newestBefore, [room, before, limit]);
      return rows.reverse().map(toMessage);
    });
  }
}
