/**
 * `npm run realtime` with `DATABASE_URL`: Postgres Changes for the unchanged supabase-js, from a
 * private PostgreSQL with wal_level=logical; two nodes sharing an engine (a private standalone
 * Redis, Redis Cluster or NATS, one of each for the file), the one consuming the replication slot
 * SIGKILLed in the middle of 1,000 inserts made at a steady rate, and a subscriber on the other
 * node getting all 1,000, once each, in commit order; and the clear refusal to start when the
 * database is not set up for logical replication.
 */
import { spawn } from 'node:child_process';
import { createClient } from '@supabase/supabase-js';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { eventually } from '@starling/test-support/eventually';
import { startLogicalPostgres, type LogicalPostgres } from '@starling/test-support/logical-postgres';
import { ensurePostgres, TEST_DATABASE_URL } from '@starling/test-support/postgres';
import { ENGINES, startThrowawayEngine, type ThrowawayEngine } from '@starling/test-support/engines';
import { SECRET, SERVER, key, killServer, serverOutput, startServer, stopServers } from './support/realtime-process.ts';

let database: LogicalPostgres;
let sql: pg.Client;
const disconnects: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  database = await startLogicalPostgres();
  sql = new pg.Client(database.url);
  await sql.connect();
  await sql.query(`
    CREATE ROLE anon NOLOGIN;
    GRANT USAGE ON SCHEMA public TO anon;
    CREATE TABLE events (id int PRIMARY KEY, body text);
    GRANT SELECT ON events TO anon;
  `);
}, 30_000);

afterEach(async () => {
  for (const disconnect of disconnects.splice(0)) await disconnect();
  await stopServers();
});

afterAll(async () => {
  try {
    await sql?.end();
  } finally {
    await database?.stop(); // whatever failed above, the private server goes
  }
});

/** Whose replication connection holds the slot now (null: nobody). */
async function slotHolder(): Promise<number | null> {
  const { rows } = await sql.query<{ pid: number | null }>("SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = 'starling_realtime'");
  return rows[0]?.pid ?? null;
}

describe('npm run realtime with DATABASE_URL', () => {
  it('creates the publication supabase_realtime when missing, and serves its tables to supabase-js', async () => {
    const port = await startServer({ DATABASE_URL: database.url });
    const { rows } = await sql.query("SELECT 1 FROM pg_publication WHERE pubname = 'supabase_realtime'");
    expect(rows).toHaveLength(1);
    await sql.query('ALTER PUBLICATION supabase_realtime ADD TABLE events');
    const supabase = createClient(`http://127.0.0.1:${port}`, await key({ role: 'anon' }), { realtime: { transport: WebSocket as never } });
    disconnects.push(() => supabase.realtime.disconnect());
    const seen: unknown[] = [];
    const status = await new Promise<string>((resolve) => {
      supabase
        .channel('db')
        .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'events' }, (payload) => seen.push(payload.new))
        .subscribe((state) => state !== 'CLOSED' && resolve(state));
    });
    expect(status).toBe('SUBSCRIBED');
    await sql.query(`INSERT INTO events VALUES (1, 'hello')`);
    await eventually(() => expect(seen).toEqual([{ id: 1, body: 'hello' }]), 5000);
    await sql.query('DELETE FROM events');
  }, 30_000);

  it("authorizes private channels by the database's policies on realtime.messages, not by role", async () => {
    const port = await startServer({ DATABASE_URL: database.url });
    await sql.query(`
      DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN CREATE ROLE authenticated NOLOGIN; END IF; END $$;
      DROP POLICY IF EXISTS "own topic" ON realtime.messages;
      CREATE POLICY "own topic" ON realtime.messages FOR SELECT TO authenticated USING (realtime.topic() = 'user:' || auth.uid()::text);
    `);
    const user = '00000000-0000-4000-8000-000000000001';
    const join = async (topic: string): Promise<string> => {
      const supabase = createClient(`http://127.0.0.1:${port}`, await key({ role: 'anon' }), { realtime: { transport: WebSocket as never } });
      disconnects.push(() => supabase.realtime.disconnect());
      await supabase.realtime.setAuth(await key({ role: 'authenticated', sub: user }));
      return new Promise<string>((resolve) =>
        supabase
          .channel(topic, { config: { private: true } })
          .subscribe((state, err) => state !== 'CLOSED' && resolve(err ? `${state}: ${err.message}` : state)),
      );
    };
    expect(await join(`user:${user}`)).toBe('SUBSCRIBED');
    // Signed in (the role the example policy would admit everywhere), but no policy lets it read another's topic.
    expect(await join('user:someone-else')).toMatch(/CHANNEL_ERROR: .*You do not have permissions to read from this Channel topic: user:someone-else/);
  }, 30_000);

  it('refuses to start, saying why, when the database does not have wal_level=logical', async () => {
    await ensurePostgres();
    const child = spawn(process.execPath, ['--import', 'tsx', SERVER], {
      env: { ...process.env, REDIS_URL: '', REALTIME_JWT_SECRET: SECRET, PORT: '0', DATABASE_URL: TEST_DATABASE_URL, REALTIME_SLOT: 'never_created' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
    expect(code).toBe(1);
    expect(output).toMatch(/postgres_changes cannot start: wal_level is \w+, logical replication needs wal_level=logical/);
  }, 30_000);
});

// Each engine's run has ids of its own (from `base`): the slot outlives a run, and a node of the
// next one may replay the previous one's last changes before it confirms them.
describe.each(ENGINES.map(({ kind, label }, i) => [label, kind, 10_000 * (i + 1)] as const))(
  'npm run realtime with DATABASE_URL, two nodes on %s',
  (_label, kind, base) => {
    let engine: ThrowawayEngine;
    beforeAll(async () => {
      engine = await startThrowawayEngine(kind);
    }, 60_000);
    afterAll(async () => {
      await engine?.stop();
    });

    it('the slot consumer is SIGKILLed during 1,000 inserts; a subscriber on the other node gets every row once, in order', async () => {
      const env = { DATABASE_URL: database.url, ...engine.env };
      const first = await startServer(env);
      await eventually(async () => expect(await slotHolder()).not.toBeNull(), 10_000); // the first node consumes
      await sql.query('ALTER PUBLICATION supabase_realtime ADD TABLE events').catch((err: { code?: string }) => {
        if (err.code !== '42710') throw err; // already added by a test before
      });
      const second = await startServer(env);
      const supabase = createClient(`http://127.0.0.1:${second}`, await key({ role: 'anon' }), { realtime: { transport: WebSocket as never } });
      disconnects.push(() => supabase.realtime.disconnect());
      const seen: number[] = [];
      const status = await new Promise<string>((resolve) => {
        supabase
          .channel('steady')
          .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'events', filter: `id=gte.${base}` }, (payload) =>
            seen.push(payload.new.id as number),
          )
          .subscribe((state) => state !== 'CLOSED' && resolve(state));
      });
      expect(status).toBe('SUBSCRIBED');
      const holder = await slotHolder();

      // 1,000 transactions, one row each: the consumer dies after the 300th, 350 more are committed
      // while nobody consumes, the other node takes the slot over within 10 s of the crash, and the
      // last 349 are committed after it has.
      for (let i = 0; i < 1000; i++) {
        await sql.query('INSERT INTO events VALUES ($1, $2)', [base + i, `row ${i}`]);
        if (i === 300) await killServer(first);
        if (i === 650) await eventually(async () => expect(await slotHolder()).not.toBe(holder), 10_000);
      }
      // …and catches up. One last row marks the end: a duplicate the new node replays comes before it.
      await sql.query('INSERT INTO events VALUES ($1, $2)', [base + 1000, 'last']);
      await eventually(() => expect(seen).toContain(base + 1000), 20_000);
      expect(seen).toEqual(Array.from({ length: 1001 }, (_, i) => base + i));
      expect(serverOutput(second)).not.toMatch(/error/i);
    }, 60_000);
  },
);
