/**
 * @module supabase/database-broadcast
 * Internal: Broadcast from Database, as Supabase has it. SQL code calls
 * `realtime.send(payload, event, topic, private)` (in a trigger, a function, a transaction);
 * the row it adds to `realtime.messages` travels the same replication stream as the row changes,
 * and reaches the realtime-js `broadcast` listeners of that topic once the transaction commits:
 * the private channel's when `private` (whose members `authorize` let in), else the public one's.
 *
 * {@link databaseBroadcastMigration} creates what it needs, idempotently.
 */
import type { RowChange } from '../postgres/change-source.ts';

/** Where `realtime.send` writes. */
export const MESSAGES_TABLE = { schema: 'realtime', table: 'messages' } as const;

/**
 * The SQL that installs `realtime.messages` and `realtime.send(payload jsonb, event text, topic
 * text, private boolean DEFAULT true)` and adds the table to `publication`. Idempotent: run it at
 * every start. `realtime.send` runs as its owner (SECURITY DEFINER, pinned search_path), and
 * nobody may execute it until granted: `GRANT EXECUTE ON FUNCTION realtime.send TO <role>` for the
 * roles whose code broadcasts (a trigger runs as the role that wrote the row).
 */
export function databaseBroadcastMigration(publication: string): string {
  const quoted = `"${publication.replace(/"/g, '""')}"`;
  const literal = `'${publication.replace(/'/g, "''")}'`;
  return `
    CREATE SCHEMA IF NOT EXISTS realtime;
    CREATE TABLE IF NOT EXISTS realtime.messages (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      topic text NOT NULL,
      extension text NOT NULL DEFAULT 'broadcast',
      event text,
      payload jsonb,
      private boolean NOT NULL DEFAULT true,
      inserted_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE OR REPLACE FUNCTION realtime.send(payload jsonb, event text, topic text, private boolean DEFAULT true)
      RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = '' AS
      $$ INSERT INTO realtime.messages (topic, extension, event, payload, private) VALUES (topic, 'broadcast', event, payload, private) $$;
    REVOKE ALL ON FUNCTION realtime.send(jsonb, text, text, boolean) FROM PUBLIC;
    -- Reaching the schema grants nothing by itself: the table has no grants, the function needs EXECUTE.
    GRANT USAGE ON SCHEMA realtime TO PUBLIC;
    DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_publication_tables WHERE pubname = ${literal} AND schemaname = 'realtime' AND tablename = 'messages') THEN
        ALTER PUBLICATION ${quoted} ADD TABLE realtime.messages;
      END IF;
    END $$;
  `;
}

/** A `realtime.messages` row to broadcast, or null when `change` is not one. */
export function databaseBroadcastOf(change: RowChange): { topic: string; isPrivate: boolean; event: string; payload: unknown } | null {
  if (change.schema !== MESSAGES_TABLE.schema || change.table !== MESSAGES_TABLE.table || change.type !== 'INSERT') return null;
  const row = change.record ?? {};
  if (row.extension !== 'broadcast' || typeof row.topic !== 'string' || typeof row.event !== 'string') return null;
  return { topic: row.topic, isPrivate: row.private !== false, event: row.event, payload: row.payload ?? {} };
}

/** True for changes of `realtime.messages`, which are broadcasts, not row changes to serve. */
export function isMessagesTable(change: RowChange): boolean {
  return change.schema === MESSAGES_TABLE.schema && change.table === MESSAGES_TABLE.table;
}
