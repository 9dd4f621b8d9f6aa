/**
 * Private channels as Supabase Realtime authorizes them, for the unchanged `@supabase/realtime-js`:
 * `authorize: 'policies'` reads the row-level-security policies on `realtime.messages` of a real
 * PostgreSQL, under each subscriber's JWT role and claims, with `realtime.topic()` and the
 * `extension` column — the policies of Supabase's Realtime Authorization guide, unchanged (with
 * the `auth.uid()` the migration installs on a database that is not Supabase's). Read is asked
 * at join, write at the first write of each kind, everything again at a token refresh.
 */
import type { Server } from 'node:http';
import { RealtimeClient, type RealtimeChannel } from '@supabase/realtime-js';
import { SignJWT } from 'jose';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { eventually, sleep } from '@starling/test-support/eventually';
import { startLogicalPostgres, type LogicalPostgres } from '@starling/test-support/logical-postgres';
import { Endpoint, silentLogger } from '../../../src/index.ts';
import { createRealtime, type Realtime } from '../../../src/supabase/index.ts';

const SECRET = 'a-test-jwt-secret-of-at-least-thirty-two-characters-long';
const ALICE = '00000000-0000-4000-8000-00000000000a';
const BOB = '00000000-0000-4000-8000-00000000000b';
const CAROL = '00000000-0000-4000-8000-00000000000c';

let database: LogicalPostgres;
let sql: pg.Client;
let endpoint: Endpoint;
let realtime: Realtime;
let server: Server;
let url: string;
const clients: RealtimeClient[] = [];

async function jwt(claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
}

beforeAll(async () => {
  database = await startLogicalPostgres();
  sql = new pg.Client(database.url);
  await sql.connect();
  await sql.query(`
    CREATE ROLE anon NOLOGIN;
    CREATE ROLE authenticated NOLOGIN;
    GRANT USAGE ON SCHEMA public TO anon, authenticated;
    CREATE TABLE rooms_users (user_id uuid, topic text, can_write boolean NOT NULL DEFAULT true);
    GRANT SELECT ON rooms_users TO authenticated;
  `);
  endpoint = new Endpoint({ logger: silentLogger });
  realtime = createRealtime(endpoint, { jwtSecret: SECRET, authorize: 'policies', postgresChanges: { connectionString: database.url, checkTimeoutMs: 2000 } });
  await realtime.start();
  // The policies of Supabase's Realtime Authorization guide, as a Supabase user has them.
  await sql.query(`
    CREATE POLICY "members read broadcast and presence" ON realtime.messages FOR SELECT TO authenticated
      USING (EXISTS (SELECT 1 FROM rooms_users WHERE user_id = (SELECT auth.uid()) AND topic = (SELECT realtime.topic())
                     AND realtime.messages.extension IN ('broadcast', 'presence')));
    CREATE POLICY "members write presence only" ON realtime.messages FOR INSERT TO authenticated
      WITH CHECK (EXISTS (SELECT 1 FROM rooms_users WHERE user_id = (SELECT auth.uid()) AND topic = (SELECT realtime.topic()) AND can_write)
                  AND realtime.messages.extension = 'presence');
    CREATE POLICY "writers broadcast" ON realtime.messages FOR INSERT TO authenticated
      WITH CHECK (realtime.topic() = 'open-mic' AND realtime.messages.extension = 'broadcast');
    -- The lobby: anyone signed in sees who is there, nobody reads its broadcasts.
    CREATE POLICY "lobby presence" ON realtime.messages FOR SELECT TO authenticated
      USING (realtime.topic() = 'lobby' AND realtime.messages.extension = 'presence');
    CREATE POLICY "lobby write" ON realtime.messages FOR INSERT TO authenticated
      WITH CHECK (realtime.topic() = 'lobby');
    INSERT INTO rooms_users VALUES ('${ALICE}', 'room-1', true), ('${BOB}', 'room-1', false), ('${ALICE}', 'open-mic', true), ('${CAROL}', 'open-mic', true);
  `);
  endpoint.socket('/realtime/v1', realtime.socket);
  server = await endpoint.listen({ port: 0, fallback: (req, res) => void (realtime.handleRequest(req, res) || res.writeHead(404).end()) });
  const address = server.address();
  url = `ws://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/realtime/v1`;
}, 30_000);

afterAll(async () => {
  try {
    await endpoint?.close({ intervalMs: 0 });
    await realtime?.close();
    await sql?.end();
  } finally {
    await database?.stop();
  }
});

afterEach(async () => {
  for (const client of clients.splice(0)) await client.disconnect();
});

/** A realtime-js client with the anon key, signed in as `sub` (uuid) unless null. */
async function client(sub: string | null): Promise<RealtimeClient> {
  const realtime = new RealtimeClient(url, { params: { apikey: await jwt({ role: 'anon' }) }, transport: WebSocket as never, heartbeatIntervalMs: 25_000 });
  clients.push(realtime);
  if (sub !== null) await realtime.setAuth(await jwt({ role: 'authenticated', sub }));
  return realtime;
}

function subscribed(channel: RealtimeChannel, timeoutMs = 5000): Promise<{ status: string; error?: string }> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ status: 'no answer' }), timeoutMs);
    channel.subscribe((status, err) => {
      if (status === 'CLOSED') return;
      clearTimeout(timer);
      resolve(err === undefined ? { status } : { status, error: err.message });
    });
  });
}

function heard(channel: RealtimeChannel, event: string): unknown[] {
  const seen: unknown[] = [];
  channel.on('broadcast', { event }, (message) => seen.push(message.payload));
  return seen;
}

function privateChannel(realtime: RealtimeClient, topic: string, config: Record<string, unknown> = {}): RealtimeChannel {
  return realtime.channel(topic, { config: { private: true, ...config } });
}

describe('policies on realtime.messages decide private channels', () => {
  it('lets members of a topic join it (per-topic membership read) and refuses everyone else, with a reason', async () => {
    expect(await subscribed(privateChannel(await client(ALICE), 'room-1'))).toEqual({ status: 'SUBSCRIBED' });
    const stranger = await subscribed(privateChannel(await client(CAROL), 'room-1'));
    expect(stranger.status).toBe('CHANNEL_ERROR');
    expect(stranger.error).toMatch(/You do not have permissions to read from this Channel topic: room-1/);
    // The anon key has no policy at all.
    expect((await subscribed(privateChannel(await client(null), 'room-1'))).status).toBe('CHANNEL_ERROR');
  });

  it('lets a member with presence-only write track presence and refuses its broadcasts', async () => {
    const alice = privateChannel(await client(ALICE), 'room-1', { broadcast: { ack: true }, presence: { key: 'alice' } });
    expect(await subscribed(alice)).toEqual({ status: 'SUBSCRIBED' });
    expect(await alice.track({ online: true })).toBe('ok');
    expect(await alice.send({ type: 'broadcast', event: 'note', payload: { n: 1 } })).toBe('error');
    // Bob may read but write nothing (can_write false): not even presence.
    const bob = privateChannel(await client(BOB), 'room-1', { presence: { key: 'bob', enabled: true } });
    expect(await subscribed(bob)).toEqual({ status: 'SUBSCRIBED' });
    expect(await bob.track({ online: true })).toBe('error');
    await eventually(() => expect(Object.keys(bob.presenceState())).toEqual(['alice']));
  });

  it('admits a channel that may read presence but not broadcast: it sees who is there and gets no broadcasts', async () => {
    const watcher = privateChannel(await client(CAROL), 'lobby', { presence: { key: 'carol', enabled: true } });
    const heardByWatcher = heard(watcher, 'shout');
    expect(await subscribed(watcher)).toEqual({ status: 'SUBSCRIBED' });
    const talker = privateChannel(await client(ALICE), 'lobby', { broadcast: { ack: true, self: true }, presence: { key: 'alice' } });
    const heardByTalker = heard(talker, 'shout');
    expect(await subscribed(talker)).toEqual({ status: 'SUBSCRIBED' });
    expect(await talker.track({ here: true })).toBe('ok');
    await eventually(() => expect(Object.keys(watcher.presenceState())).toEqual(['alice']));
    // Written (the lobby's insert policy allows broadcast), but nobody may read broadcasts there.
    expect(await talker.send({ type: 'broadcast', event: 'shout', payload: { n: 1 } })).toBe('ok');
    await sleep(300); // a refutation window: the broadcast would have arrived by now
    expect(heardByWatcher).toEqual([]);
    expect(heardByTalker).toEqual([]);
  });

  it('delivers broadcasts to readers when write is allowed, binary ones included', async () => {
    const carol = privateChannel(await client(CAROL), 'open-mic');
    const heardByCarol = heard(carol, 'song');
    expect(await subscribed(carol)).toEqual({ status: 'SUBSCRIBED' });
    const alice = privateChannel(await client(ALICE), 'open-mic', { broadcast: { ack: true } });
    expect(await subscribed(alice)).toEqual({ status: 'SUBSCRIBED' });
    expect(await alice.send({ type: 'broadcast', event: 'song', payload: { la: 1 } })).toBe('ok');
    expect(await alice.send({ type: 'broadcast', event: 'song', payload: new Uint8Array([1, 2, 3]).buffer })).toBe('ok');
    await eventually(() => expect(heardByCarol).toHaveLength(2));
    expect(heardByCarol[0]).toEqual({ la: 1 });
    expect([...new Uint8Array(heardByCarol[1] as ArrayBuffer)]).toEqual([1, 2, 3]);
  });

  it('asks again at a token refresh: a member removed from the topic is put out, and hears nothing more', async () => {
    await sql.query(`INSERT INTO rooms_users VALUES ('${CAROL}', 'room-2', true), ('${ALICE}', 'room-2', true)`);
    const realtime = await client(CAROL);
    const carol = privateChannel(realtime, 'room-2');
    const system: unknown[] = [];
    carol.on('system', {}, (payload) => system.push(payload));
    const heardByCarol = heard(carol, 'news'); // nothing is sent: a closed channel must stay empty
    expect(await subscribed(carol)).toEqual({ status: 'SUBSCRIBED' });

    // Still a member: a refresh changes nothing.
    await realtime.setAuth(await jwt({ role: 'authenticated', sub: CAROL, n: 1 }));
    await sleep(200); // a refutation window for a wrongful system error
    expect(system).toEqual([]);

    await sql.query(`DELETE FROM rooms_users WHERE user_id = '${CAROL}' AND topic = 'room-2'`);
    await realtime.setAuth(await jwt({ role: 'authenticated', sub: CAROL, n: 2 }));
    await eventually(() =>
      expect(system).toEqual([expect.objectContaining({ status: 'error', extension: 'system', message: expect.stringMatching(/Unauthorized/) })]),
    );
    await eventually(() => expect(carol.state).toBe('closed'));
    expect(heardByCarol).toEqual([]);
  });

  it('refuses a join whose policy raises, saying so, and keeps serving the others', async () => {
    await sql.query(`
      CREATE FUNCTION explode() RETURNS bool LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'policy exploded'; END $$;
      CREATE POLICY "fragile" ON realtime.messages FOR SELECT TO authenticated USING (CASE WHEN realtime.topic() = 'fragile' THEN explode() ELSE false END);
    `);
    const refused = await subscribed(privateChannel(await client(ALICE), 'fragile'));
    expect(refused.status).toBe('CHANNEL_ERROR');
    expect(refused.error).toMatch(/You do not have permissions to read from this Channel topic: fragile/);
    expect(await subscribed(privateChannel(await client(ALICE), 'room-1'))).toEqual({ status: 'SUBSCRIBED' });
  });
});

describe('persisted broadcasts, replayed at join', () => {
  beforeAll(async () => {
    await sql.query(`
      CREATE POLICY "journal read" ON realtime.messages FOR SELECT TO authenticated USING (realtime.topic() LIKE 'journal-%');
      CREATE POLICY "journal write" ON realtime.messages FOR INSERT TO authenticated WITH CHECK (realtime.topic() LIKE 'journal-%');
    `);
  });

  /** The events a channel hears, with `meta` as realtime-js hands it over. */
  function heardWithMeta(channel: RealtimeChannel): Array<{ event: string; payload: unknown; meta?: unknown }> {
    const seen: Array<{ event: string; payload: unknown; meta?: unknown }> = [];
    channel.on('broadcast', { event: '*' }, (message) => seen.push({ event: message.event, payload: message.payload, meta: message.meta }));
    return seen;
  }

  it('stores send({persist}) and httpSend(…, {persist}) and replays the newest `limit` since `since`, oldest first, before live traffic', async () => {
    const since = Date.now() - 1000;
    const listener = privateChannel(await client(CAROL), 'journal-1');
    const live = heardWithMeta(listener);
    expect(await subscribed(listener)).toEqual({ status: 'SUBSCRIBED' });
    const writer = privateChannel(await client(ALICE), 'journal-1', { broadcast: { ack: true } });
    expect(await subscribed(writer)).toEqual({ status: 'SUBSCRIBED' });
    expect(await writer.send({ type: 'broadcast', event: 'entry', payload: { n: 1 }, persist: true })).toBe('ok');
    expect(await writer.send({ type: 'broadcast', event: 'entry', payload: { n: 2 } })).toBe('ok'); // not kept
    expect(await writer.httpSend('entry', { n: 3 }, { persist: true })).toEqual({ success: true });
    expect(await writer.send({ type: 'broadcast', event: 'entry', payload: { n: 4 }, persist: true })).toBe('ok');

    const realtime = await client(CAROL);
    const reader = privateChannel(realtime, 'journal-1', { broadcast: { replay: { since, limit: 2 } } });
    const seen = heardWithMeta(reader);
    expect(await subscribed(reader)).toEqual({ status: 'SUBSCRIBED' });
    expect(await writer.send({ type: 'broadcast', event: 'entry', payload: { n: 5 } })).toBe('ok');
    await eventually(() => expect(seen).toHaveLength(3));
    expect(seen.map((message) => message.payload)).toEqual([{ n: 3 }, { n: 4 }, { n: 5 }]);
    expect(seen[0]!.meta).toEqual({ replayed: true, id: expect.any(String) });
    expect(seen[2]!.meta).toBeUndefined();
    // Stored rows travel the replication stream too (Broadcast from Database): they are not sent twice.
    await sleep(300); // a refutation window for a second delivery from the stream
    expect(live.map((message) => message.payload)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }, { n: 5 }]);

    // realtime-js joins again after a reconnect, with the same config: the same replay, then live.
    await realtime.disconnect();
    await eventually(() => expect(reader.state).not.toBe('joined'));
    realtime.connect();
    await eventually(() => expect(reader.state).toBe('joined'));
    await eventually(() => expect(seen).toHaveLength(5));
    expect(seen.slice(3).map((message) => [message.payload, message.meta])).toEqual([
      [{ n: 3 }, { replayed: true, id: (seen[0]!.meta as { id: string }).id }],
      [{ n: 4 }, { replayed: true, id: (seen[1]!.meta as { id: string }).id }],
    ]);
  });

  it('replays nothing older than since, and refuses a replay the channel may not read, saying why', async () => {
    const writer = privateChannel(await client(ALICE), 'journal-2', { broadcast: { ack: true } });
    expect(await subscribed(writer)).toEqual({ status: 'SUBSCRIBED' });
    expect(await writer.send({ type: 'broadcast', event: 'old', payload: {}, persist: true })).toBe('ok');
    // Just after the stored row, on the database's own clock (`inserted_at`): no sleep needed.
    const stored = await sql.query<{ since: string }>(
      "SELECT floor(extract(epoch FROM max(inserted_at)) * 1000) + 1 AS since FROM realtime.messages WHERE event = 'old' AND topic LIKE '%journal-2'",
    );
    const since = Number(stored.rows[0]!.since);
    expect(since).toBeGreaterThan(1);
    const reader = privateChannel(await client(CAROL), 'journal-2', { broadcast: { replay: { since } } });
    const seen = heardWithMeta(reader);
    expect(await subscribed(reader)).toEqual({ status: 'SUBSCRIBED' });
    // A replay comes before live traffic: once a live broadcast is heard, none came.
    expect(await writer.send({ type: 'broadcast', event: 'new', payload: { live: true } })).toBe('ok');
    await eventually(() => expect(seen).toHaveLength(1));
    expect(seen).toEqual([{ event: 'new', payload: { live: true }, meta: undefined }]);

    // The lobby's policies let Carol read presence there, not broadcasts.
    const refused = await subscribed(privateChannel(await client(CAROL), 'lobby', { broadcast: { replay: { since: 0 } } }));
    expect(refused).toEqual({ status: 'CHANNEL_ERROR', error: expect.stringMatching(/You do not have permissions to read from this Channel topic: lobby/) });
  });
});
