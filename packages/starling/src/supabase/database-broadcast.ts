/**
 * @module supabase/database-broadcast
 * Internal: Broadcast from Database, as Supabase has it. SQL code calls
 * `realtime.send(payload, event, topic, private)` (in a trigger, a function, a transaction);
 * the row it adds to `realtime.messages` travels the same replication stream as the row changes,
 * and reaches the realtime-js `broadcast` listeners of that topic once the transaction commits:
 * the private channel's when `private` (whose members `authorize` let in), else the public one's.
 *
 * {@link realtimeMigration} creates what it needs, idempotently.
 */
import type { RowChange } from '../postgres/change-source.ts';

/** Where `realtime.send` writes. */
export const MESSAGES_TABLE = { schema: 'realtime', table: 'messages' } as const;

/**
 * The SQL that installs, idempotently (run it at every start), what Supabase's clients and
 * policies expect of the `realtime` schema:
 *
 * - `realtime.messages (id, topic, extension, event, payload, private, inserted_at, delivered)`,
 *   in `publication`, with row-level security on and SELECT/INSERT granted to PUBLIC: nobody sees
 *   or adds a row until a policy allows it. Its policies decide who may read and write private
 *   channels (`extension` is `broadcast` or `presence`); it also keeps persisted broadcasts.
 * - `realtime.topic()`: inside a policy, the topic of the channel being checked.
 * - `realtime.send(payload jsonb, event text, topic text, private boolean DEFAULT true)`: Broadcast
 *   from Database. It runs as its owner (SECURITY DEFINER, pinned search_path), and nobody may
 *   execute it until granted: `GRANT EXECUTE ON FUNCTION realtime.send TO <role>` for the roles
 *   whose code broadcasts (a trigger runs as the role that wrote the row).
 * - Where the database has no `auth` schema (it is not Supabase's): `auth.uid()`, `auth.role()`
 *   and `auth.jwt()`, reading `request.jwt.claims` as Supabase's do.
 */
export function realtimeMigration(publication: string): string {
  const quoted = `"${publication.replace(/"/g, '""')}"`;
  const literal = `'${publication.replace(/'/g, "''")}'`;
  return `
    -- Two nodes starting at once take turns.
    SELECT pg_advisory_xact_lock(hashtext('starling realtime migration'));
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
    -- True for a persisted broadcast the server already delivered live: the change stream skips it.
    ALTER TABLE realtime.messages ADD COLUMN IF NOT EXISTS delivered boolean NOT NULL DEFAULT false;
    CREATE INDEX IF NOT EXISTS messages_topic_inserted_at ON realtime.messages (topic, inserted_at);
    ALTER TABLE realtime.messages ENABLE ROW LEVEL SECURITY;
    GRANT USAGE ON SCHEMA realtime TO PUBLIC;
    GRANT SELECT, INSERT ON realtime.messages TO PUBLIC;
    CREATE OR REPLACE FUNCTION realtime.topic() RETURNS text LANGUAGE sql STABLE AS
      $$ SELECT nullif(current_setting('realtime.topic', true), '')::text $$;
    CREATE OR REPLACE FUNCTION realtime.send(payload jsonb, event text, topic text, private boolean DEFAULT true)
      RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = '' AS
      $$ INSERT INTO realtime.messages (topic, extension, event, payload, private) VALUES (topic, 'broadcast', event, payload, private) $$;
    REVOKE ALL ON FUNCTION realtime.send(jsonb, text, text, boolean) FROM PUBLIC;
    DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_publication_tables WHERE pubname = ${literal} AND schemaname = 'realtime' AND tablename = 'messages') THEN
        ALTER PUBLICATION ${quoted} ADD TABLE realtime.messages;
      END IF;
      IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'auth') THEN
        CREATE SCHEMA auth;
        GRANT USAGE ON SCHEMA auth TO PUBLIC;
        CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS
          $f$ SELECT coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''), nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')::uuid $f$;
        CREATE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS
          $f$ SELECT coalesce(nullif(current_setting('request.jwt.claim.role', true), ''), nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')::text $f$;
        CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS
          $f$ SELECT coalesce(nullif(current_setting('request.jwt.claim', true), ''), nullif(current_setting('request.jwt.claims', true), ''))::jsonb $f$;
      END IF;
    END $$;
  `;
}

/** The former name of {@link realtimeMigration}, which it now is. */
export const databaseBroadcastMigration = realtimeMigration;

/** A `realtime.messages` row to broadcast, or null when `change` is not one. */
export function databaseBroadcastOf(change: RowChange): { topic: string; isPrivate: boolean; event: string; payload: unknown } | null {
  if (change.schema !== MESSAGES_TABLE.schema || change.table !== MESSAGES_TABLE.table || change.type !== 'INSERT') return null;
  const row = change.record ?? {};
  // A persisted broadcast the server delivered live already (`delivered`) is not sent twice.
  if (row.extension !== 'broadcast' || row.delivered === true || typeof row.topic !== 'string' || typeof row.event !== 'string') return null;
  return { topic: row.topic, isPrivate: row.private !== false, event: row.event, payload: row.payload ?? {} };
}

/** True for changes of `realtime.messages`, which are broadcasts, not row changes to serve. */
export function isMessagesTable(change: RowChange): boolean {
  return change.schema === MESSAGES_TABLE.schema && change.table === MESSAGES_TABLE.table;
}
