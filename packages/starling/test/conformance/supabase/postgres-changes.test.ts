/**
 * `postgres_changes` for the unchanged `@supabase/realtime-js` (2.119.0, and 2.119.2 on
 * `@supabase/phoenix`), served by
 * `starling/supabase` from a private PostgreSQL with wal_level=logical: the join reply's bindings
 * and ids, the "Subscribed to PostgreSQL" system message, `postgres_changes_options.wait`,
 * INSERT/UPDATE/DELETE as realtime-js turns them into `eventType/new/old`, every filter operator
 * and `not.`, refusals with reasons, and row-level security under each subscriber's JWT claims —
 * including a policy that raises for one subscriber while the others keep receiving — with
 * `errors` as Supabase fills it (401 for a role that may not read the key, 413 for a huge row),
 * and a crashed channel's bindings released.
 */
import type { Server } from 'node:http';
import { RealtimeClient, type RealtimeChannel, type RealtimePostgresChangesPayload } from '@supabase/realtime-js';
import { RealtimeClient as LatestRealtimeClient } from 'realtime-js-latest';
import { SignJWT } from 'jose';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { eventually, sleep } from '@starling/test-support/eventually';
import { startLogicalPostgres, type LogicalPostgres } from '@starling/test-support/logical-postgres';
import { RawClient } from '@starling/test-support/raw-client';
import { Endpoint, silentLogger } from '../../../src/index.ts';
import { createMetrics } from '../../../src/metrics/index.ts';
import { createRealtime, type Realtime } from '../../../src/supabase/index.ts';

const SECRET = 'a-test-jwt-secret-of-at-least-thirty-two-characters-long';
type Change = RealtimePostgresChangesPayload<Record<string, unknown>>;

let database: LogicalPostgres;
let sql: pg.Client;
let endpoint: Endpoint;
let realtime: Realtime;
let server: Server;
let url: string;
const clients: RealtimeClient[] = [];
/** The realtime-js under test: each version runs the whole contract. */
let Client: typeof RealtimeClient = RealtimeClient;
const VERSIONS = [
  ['2.119.0', RealtimeClient],
  ['2.119.2', LatestRealtimeClient as unknown as typeof RealtimeClient],
] as const;

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

    -- Open to everyone: the filter cases.
    CREATE TABLE items (id int PRIMARY KEY, name text, n int, price numeric, flag bool, at timestamptz, code uuid);
    ALTER TABLE items REPLICA IDENTITY FULL;
    GRANT SELECT ON items TO anon, authenticated;

    -- Each signed-in user sees their own rows; nobody may read "secret"; anon has no grant at all.
    CREATE TABLE todos (id int PRIMARY KEY, owner text, title text, secret text);
    ALTER TABLE todos REPLICA IDENTITY FULL;
    ALTER TABLE todos ENABLE ROW LEVEL SECURITY;
    CREATE POLICY own_rows ON todos FOR SELECT TO authenticated USING (owner = current_setting('request.jwt.claims', true)::jsonb ->> 'sub');
    GRANT SELECT (id, owner, title) ON todos TO authenticated;

    -- A policy that raises for one user.
    CREATE FUNCTION fragile_check() RETURNS bool LANGUAGE plpgsql AS $$
    BEGIN
      IF current_setting('request.jwt.claims', true)::jsonb ->> 'sub' = 'bomb' THEN RAISE EXCEPTION 'policy exploded'; END IF;
      RETURN true;
    END $$;
    CREATE TABLE fragile (id int PRIMARY KEY, note text);
    ALTER TABLE fragile ENABLE ROW LEVEL SECURITY;
    CREATE POLICY explodes ON fragile FOR SELECT TO authenticated USING (fragile_check());
    GRANT SELECT ON fragile TO authenticated;

    -- A policy that takes 3 s for one user (past the 2 s check timeout).
    CREATE FUNCTION slow_check() RETURNS bool LANGUAGE plpgsql AS $$
    BEGIN
      IF current_setting('request.jwt.claims', true)::jsonb ->> 'sub' = 'slow' THEN PERFORM pg_sleep(3); END IF;
      RETURN true;
    END $$;
    CREATE TABLE sluggish (id int PRIMARY KEY);
    ALTER TABLE sluggish ENABLE ROW LEVEL SECURITY;
    CREATE POLICY waits ON sluggish FOR SELECT TO authenticated USING (slow_check());
    GRANT SELECT ON sluggish TO authenticated;

    -- Only the crash test listens here, so every check on it is that test's.
    CREATE TABLE crashy (id int PRIMARY KEY, owner text);
    ALTER TABLE crashy ENABLE ROW LEVEL SECURITY;
    CREATE POLICY everyone ON crashy FOR SELECT TO authenticated USING (true);
    GRANT SELECT ON crashy TO authenticated;

    CREATE TABLE unpublished (id int PRIMARY KEY);
    CREATE TABLE keyless (id int);
    CREATE PUBLICATION supabase_realtime FOR TABLE items, todos, fragile, sluggish, keyless, crashy;
  `);
  endpoint = new Endpoint({ logger: silentLogger });
  realtime = createRealtime(endpoint, {
    jwtSecret: SECRET,
    authorize: ({ claims }) => claims.role === 'authenticated',
    postgresChanges: { connectionString: database.url, checkTimeoutMs: 2000, broadcastFromDatabase: true },
  });
  await realtime.start();
  await sql.query('GRANT EXECUTE ON FUNCTION realtime.send TO authenticated');
  endpoint.socket('/realtime/v1', realtime.socket);
  server = await endpoint.listen({ port: 0 });
  const address = server.address();
  url = `ws://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/realtime/v1`;
}, 30_000);

afterAll(async () => {
  try {
    await endpoint?.close({ intervalMs: 0 });
    await realtime?.close();
    await sql?.end();
  } finally {
    await database?.stop(); // whatever failed above, the private cluster goes
  }
});

afterEach(async () => {
  for (const client of clients.splice(0)) await client.disconnect();
});

async function client(claims: Record<string, unknown>): Promise<RealtimeClient> {
  const realtime = new Client(url, { params: { apikey: await jwt(claims) }, transport: WebSocket as never, heartbeatIntervalMs: 25_000 });
  clients.push(realtime);
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

/** A channel listening to `filter` on `table` (every event), subscribed; resolves with what it receives. */
async function listen(realtime: RealtimeClient, table: string, filter?: string, event: '*' | 'INSERT' | 'UPDATE' | 'DELETE' = '*'): Promise<Change[]> {
  const seen: Change[] = [];
  const channel = realtime.channel(`t-${Math.random()}`);
  channel.on('postgres_changes', { event: event as '*', schema: 'public', table, ...(filter === undefined ? {} : { filter }) }, (payload: Change) =>
    seen.push(payload),
  );
  const outcome = await subscribed(channel);
  expect(outcome).toEqual({ status: 'SUBSCRIBED' });
  return seen;
}

const ids = (changes: Change[]): unknown[] => changes.map((change) => (change.eventType === 'DELETE' ? change.old.id : change.new.id));

/** Lets changes in flight arrive before asserting an absence (a refutation window, not a sync). */
async function settle(): Promise<void> {
  const marker = await sql.query<{ id: number }>('SELECT coalesce(max(id), 0) + 1000000 AS id FROM items');
  const probe = await listen(await client({ role: 'anon' }), 'items', `id=eq.${marker.rows[0]?.id}`);
  await sql.query('INSERT INTO items (id) VALUES ($1)', [marker.rows[0]?.id]);
  // Commit order: once the later probe row arrives, everything committed before it has been handed out.
  await eventually(() => expect(probe).toHaveLength(1), 5000);
  await sleep(50); // a refutation window: the probe came over another socket, whose order says nothing of this one's
}

for (const [version, VersionClient] of VERSIONS)
  describe(`postgres_changes with realtime-js ${version}`, () => {
    beforeAll(async () => {
      Client = VersionClient;
      // Each version starts from empty tables (TRUNCATE is not a row change: nobody hears it).
      await sql.query('TRUNCATE items, todos, fragile, sluggish, crashy');
    });

    it('answers the join with every binding, in order, with ids, then says "Subscribed to PostgreSQL"', async () => {
      const raw = await RawClient.connect(`${url}/websocket?apikey=${await jwt({ role: 'anon' })}&vsn=2.0.0`);
      try {
        const bindings = [
          { event: 'INSERT', schema: 'public', table: 'items', filter: 'n=gt.3' },
          { event: '*', schema: 'public' },
          { event: 'DELETE', schema: '*' },
        ];
        raw.send(['1', '1', 'realtime:raw', 'phx_join', { config: { postgres_changes: bindings } }]);
        const reply = (await raw.reply('1'))[4] as { status: string; response: { postgres_changes: Array<Record<string, unknown>> } };
        expect(reply.status).toBe('ok');
        const echoed = reply.response.postgres_changes;
        expect(echoed.map(({ id: _id, ...rest }) => rest)).toEqual(bindings);
        expect(echoed.every((binding) => typeof binding.id === 'number')).toBe(true);
        expect(new Set(echoed.map((binding) => binding.id)).size).toBe(3);
        const system = await raw.nextJson((frame) => frame[3] === 'system');
        expect(system[4]).toEqual({ extension: 'postgres_changes', status: 'ok', message: 'Subscribed to PostgreSQL', channel: 'raw' });
      } finally {
        raw.close();
      }
    });

    it('turns INSERT, UPDATE and DELETE into eventType, new and old, with the columns converted by type', async () => {
      const seen = await listen(await client({ role: 'anon' }), 'items', 'id=gte.100');
      await sql.query(`INSERT INTO items VALUES (100, 'pen', 3, 1.25, true, '2026-01-02 03:04:05+00', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')`);
      await sql.query(`UPDATE items SET name = 'ink' WHERE id = 100`);
      await sql.query(`DELETE FROM items WHERE id = 100`);
      await eventually(() => expect(seen).toHaveLength(3), 5000);
      const [insert, update, remove] = seen as [Change, Change, Change];
      expect(insert).toMatchObject({ schema: 'public', table: 'items', eventType: 'INSERT', old: {}, errors: null });
      expect(insert.new).toMatchObject({ id: 100, name: 'pen', n: 3, price: 1.25, flag: true, code: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' });
      expect(Date.parse(insert.commit_timestamp)).toBeGreaterThan(Date.now() - 60_000);
      expect(update).toMatchObject({ eventType: 'UPDATE', new: { id: 100, name: 'ink' }, old: { id: 100, name: 'pen' } });
      expect(remove).toMatchObject({ eventType: 'DELETE', new: {}, old: { id: 100, name: 'ink', n: 3 } });
    });

    it('delivers only what each filter operator (and its not.) selects, comparing by the column type', async () => {
      // Rows 1-5: numbers compared as numbers (10 > 9), text, booleans, NULLs and timestamps.
      const cases: Array<[string, number[]]> = [
        ['n=eq.10', [2]],
        ['n=neq.10', [1, 3]], // NULL is neither equal nor unequal
        ['n=lt.10', [1, 3]],
        ['n=lte.10', [1, 2, 3]],
        ['n=gt.9', [2]],
        ['n=gte.9', [1, 2]],
        ['n=in.(9,10)', [1, 2]],
        ['name=in.("a,b",c)', [3, 4]],
        ['name=like.ap%', [1]],
        ['name=ilike.AP%', [1, 2]],
        ['name=match.^[A-Z]', [2]],
        ['name=imatch.^ap', [1, 2]],
        ['flag=is.true', [1]],
        ['flag=is.null', [4, 5]],
        ['n=isdistinct.10', [1, 3, 4, 5]],
        ['n=not.eq.10', [1, 3]],
        ['flag=not.is.null', [1, 2, 3]],
        ['name=not.like.ap%', [2, 3, 4]],
        ['n=not.in.(9,10)', [3]],
        ['price=gt.2.5', [2]],
        ['at=lt.2026-01-01T12:00:00Z', [1]],
        ['n=gte.9,flag=is.false', [2]],
      ];
      const anon = await client({ role: 'anon' });
      const received = await Promise.all(cases.map(([filter]) => listen(anon, 'items', `id=lt.10,${filter}`, 'INSERT')));
      await sql.query(`
      INSERT INTO items (id, name, n, price, flag, at) VALUES
        (1, 'apple', 9, 1.5, true, '2026-01-01 10:00:00+00'),
        (2, 'Apricot', 10, 10.5, false, '2026-01-01 14:00:00+02'),
        (3, 'a,b', 2, null, false, null),
        (4, 'c', null, null, null, null),
        (5, null, null, null, null, null)`);
      await settle();
      const outcome = Object.fromEntries(cases.map(([filter], i) => [filter, ids(received[i] as Change[])]));
      expect(outcome).toEqual(Object.fromEntries(cases));
    });

    it('refuses a join with a clear reason: unknown column, unknown operator, unpublished table, value of the wrong type', async () => {
      const anon = await client({ role: 'anon' });
      const refusal = async (table: string, filter?: string): Promise<string | undefined> => {
        const channel = anon.channel(`bad-${Math.random()}`);
        channel.on('postgres_changes', { event: '*', schema: 'public', table, ...(filter === undefined ? {} : { filter }) }, () => {});
        const outcome = await subscribed(channel);
        expect(outcome.status).toBe('CHANNEL_ERROR');
        return outcome.error;
      };
      expect(await refusal('items', 'nope=eq.1')).toMatch(/column "nope" does not exist/);
      expect(await refusal('items', 'n=between.1')).toMatch(/operator "between" is not supported/);
      expect(await refusal('unpublished')).toMatch(/public\.unpublished is not in the publication supabase_realtime/);
      expect(await refusal('items', 'n=eq.ten')).toMatch(/"ten" is not a value of n \(int4\)/);
      expect(await refusal('keyless')).toMatch(/no primary key/);
      const stranger = (await client({ role: 'nobody' })).channel('stranger');
      stranger.on('postgres_changes', { event: '*', schema: 'public', table: 'items' }, () => {});
      expect(await subscribed(stranger)).toEqual({
        status: 'CHANNEL_ERROR',
        error: 'postgres_changes: the token\'s role "nobody" does not exist in the database',
      });
    });

    it('with postgres_changes_options.wait, answers the join once live: a write right after SUBSCRIBED arrives', async () => {
      const anon = await client({ role: 'anon' });
      const seen: Change[] = [];
      const channel = anon.channel('waiting', { config: { postgres_changes_options: { wait: true, timeout: 5000 } } } as never);
      channel.on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'items', filter: 'id=eq.300' }, (payload: Change) => seen.push(payload));
      expect(await subscribed(channel)).toEqual({ status: 'SUBSCRIBED' });
      await sql.query(`INSERT INTO items (id) VALUES (300)`);
      await eventually(() => expect(ids(seen)).toEqual([300]), 5000);
    });

    it('authorizes each row by RLS under the JWT claims: own rows only, anon none (a 401 notice each), ungranted columns absent', async () => {
      const alice = await listen(await client({ role: 'authenticated', sub: 'alice' }), 'todos');
      const bob = await listen(await client({ role: 'authenticated', sub: 'bob' }), 'todos');
      const anon = await listen(await client({ role: 'anon' }), 'todos', undefined, 'INSERT');
      const unauthorizedBefore = realtime.changeStats?.errors.unauthorized ?? 0;
      await sql.query(`INSERT INTO todos VALUES (1, 'alice', 'a1', 's1'), (2, 'bob', 'b1', 's2'), (3, 'alice', 'a2', 's3')`);
      await sql.query(`UPDATE todos SET title = 'b1!' WHERE id = 2`);
      // Each set of claims has its own queue: wait for these two, then refute anon's.
      await eventually(() => {
        expect(ids(alice)).toEqual([1, 3]);
        expect(ids(bob)).toEqual([2, 2]);
      }, 5000);
      await settle();
      // anon may not select the table's key: Supabase tells it of each INSERT, without the row.
      expect(anon).toEqual(
        Array.from({ length: 3 }, () => ({
          schema: 'public',
          table: 'todos',
          commit_timestamp: null,
          eventType: 'INSERT',
          new: {},
          old: {},
          errors: ['Error 401: Unauthorized'],
        })),
      );
      expect((realtime.changeStats?.errors.unauthorized ?? 0) - unauthorizedBefore).toBe(3);
      expect(alice[0]).toMatchObject({ errors: null });
      expect(alice[0]?.new).toEqual({ id: 1, owner: 'alice', title: 'a1' }); // no "secret": not granted
      expect(bob[1]).toMatchObject({ eventType: 'UPDATE', new: { title: 'b1!' }, old: { id: 2, title: 'b1' } });
      expect(bob[1]?.old).not.toHaveProperty('secret');
    });

    it('tells a role that may not read the key of every INSERT and UPDATE, whatever its filter, with no row data', async () => {
      // anon may select nothing of todos, so its filter on id is refused and it may only listen to it all.
      const anon = await client({ role: 'anon' });
      const filtered = anon.channel(`f-${Math.random()}`);
      filtered.on('postgres_changes', { event: '*', schema: 'public', table: 'todos', filter: 'id=eq.1' }, () => {});
      expect(await subscribed(filtered)).toEqual({
        status: 'CHANNEL_ERROR',
        error: 'postgres_changes: the role "anon" may not select column id of public.todos, so it cannot filter on it',
      });
      const all = await listen(anon, 'todos');
      await sql.query(`INSERT INTO todos VALUES (40, 'alice', 'x', 'y')`);
      await sql.query(`UPDATE todos SET title = 'z' WHERE id = 40`);
      await sql.query(`DELETE FROM todos WHERE id = 40`);
      await eventually(() => expect(all.map((change) => change.eventType)).toEqual(['INSERT', 'UPDATE', 'DELETE']), 5000);
      expect(all[1]).toMatchObject({ new: {}, old: {}, errors: ['Error 401: Unauthorized'] });
      // A DELETE is not checked (Supabase): it comes with what the role may select of the key, here nothing.
      expect(all[2]).toMatchObject({ eventType: 'DELETE', old: {}, errors: null });
    });

    it('sends a row larger than maxRecordBytes with only its small values and "Error 413: Payload Too Large"', async () => {
      const seen = await listen(await client({ role: 'anon' }), 'items', 'id=eq.700');
      const tooLargeBefore = realtime.changeStats?.errors.payload_too_large ?? 0;
      await sql.query(`INSERT INTO items (id, name, n) VALUES (700, repeat('x', 1100000), 7)`);
      await eventually(() => expect(seen).toHaveLength(1), 10_000);
      expect(seen[0]).toMatchObject({ eventType: 'INSERT', errors: ['Error 413: Payload Too Large'] });
      // The 1.1 MB name is left out; the small values stay (NULLs included).
      expect(seen[0]?.new).toMatchObject({ id: 700, n: 7, price: null });
      expect(seen[0]?.new).not.toHaveProperty('name');
      expect((realtime.changeStats?.errors.payload_too_large ?? 0) - tooLargeBefore).toBe(1);
    });

    it('releases the bindings of a channel that crashes: no more checks or pushes for it', async () => {
      const raw = await RawClient.connect(`${url}/websocket?apikey=${await jwt({ role: 'authenticated', sub: 'crasher' })}&vsn=2.0.0`);
      try {
        const channels = realtime.changeStats?.channels ?? 0;
        const checks = (): number => realtime.changeStats?.authorizationChecks ?? 0;
        // A server-side fault: the presence store throws on this key's track, and the channel crashes.
        const { presence } = endpoint;
        const track = presence.track.bind(presence);
        presence.track = (owner, topic, key, meta) => {
          if (key === 'crash-me') throw new Error('injected fault');
          return track(owner, topic, key, meta);
        };
        const config = { presence: { key: 'crash-me', enabled: true }, postgres_changes: [{ event: '*', schema: 'public', table: 'crashy' }] };
        raw.send(['1', '1', 'realtime:crashy', 'phx_join', { config }]);
        expect((await raw.reply('1'))[4]).toMatchObject({ status: 'ok' });
        expect(realtime.changeStats?.channels).toBe(channels + 1);
        let before = checks();
        await sql.query(`INSERT INTO crashy VALUES (1, 'crasher')`);
        await raw.nextJson((frame) => frame[3] === 'postgres_changes', 5000);
        expect(checks() - before).toBe(1); // its row was checked for it while it lived
        raw.send(['1', '2', 'realtime:crashy', 'presence', { type: 'presence', event: 'track', payload: {} }]);
        expect((await raw.nextJson((frame) => frame[3] === 'phx_error'))[4]).toEqual({ reason: 'channel_crash' });
        expect(realtime.changeStats?.channels).toBe(channels);
        before = checks();
        await sql.query(`INSERT INTO crashy VALUES (2, 'crasher')`);
        await settle();
        expect(checks() - before).toBe(0);
        expect(raw.frames.some((frame) => !frame.binary && (frame.json as unknown[])[3] === 'postgres_changes')).toBe(false);
      } finally {
        raw.close();
      }
    });

    it('sends a DELETE on a table with RLS to every subscriber, unchecked, with the primary key only (as Supabase documents)', async () => {
      await sql.query(`INSERT INTO todos VALUES (10, 'alice', 'gone', 'x')`);
      const bob = await listen(await client({ role: 'authenticated', sub: 'bob' }), 'todos', undefined, 'DELETE');
      await sql.query(`DELETE FROM todos WHERE id = 10`);
      await eventually(() => expect(bob).toHaveLength(1), 5000);
      expect(bob[0]).toMatchObject({ eventType: 'DELETE', old: { id: 10 } });
      expect(Object.keys(bob[0]?.old ?? {})).toEqual(['id']);
    });

    it('a policy that raises for one subscriber costs only that subscriber the change; the others, and its later changes, still arrive', async () => {
      const bomb = await client({ role: 'authenticated', sub: 'bomb' });
      const bombFragile = await listen(bomb, 'fragile');
      const bombItems = await listen(bomb, 'items', 'id=eq.500');
      const fine = await listen(await client({ role: 'authenticated', sub: 'fine' }), 'fragile');
      await sql.query(`INSERT INTO fragile VALUES (1, 'one')`);
      await sql.query(`INSERT INTO items (id) VALUES (500)`);
      await sql.query(`INSERT INTO fragile VALUES (2, 'two')`);
      await eventually(() => expect(ids(fine)).toEqual([1, 2]), 5000);
      await eventually(() => expect(ids(bombItems)).toEqual([500]), 5000);
      // The bomb's own queue may still be failing the second change when the others have theirs.
      await eventually(() => expect(realtime.changeStats?.dropped.check_failed).toBeGreaterThanOrEqual(2), 5000);
      // No notice either: it would say that a row matching its bindings changed, which the policy may hide.
      expect(bombFragile).toEqual([]);
      // Operators see it: drops by reason, checks, errors, channels, and the slot's lag.
      const text = await createMetrics(endpoint, { changes: realtime }).render();
      expect(text).toMatch(/starling_postgres_changes_dropped_total\{reason="check_failed"\} [2-9]/);
      expect(text).toMatch(/starling_postgres_changes_errors_total\{error="unauthorized"\} [1-9]/);
      expect(text).toMatch(/starling_postgres_changes_channels [1-9]/);
      expect(text).toMatch(/starling_postgres_authorization_checks_total [1-9]/);
      expect(text).toMatch(/starling_postgres_slot_lag_bytes \d+/);
      expect(text).toMatch(/starling_postgres_changes_read_total [1-9]/);
    });

    it('a slow policy for one subscriber does not hold up the others: each set of claims has its own pipeline', async () => {
      const slow = await listen(await client({ role: 'authenticated', sub: 'slow' }), 'sluggish');
      const quick = await listen(await client({ role: 'authenticated', sub: 'quick' }), 'sluggish');
      const failedBefore = realtime.changeStats?.dropped.check_failed ?? 0;
      const started = Date.now();
      await sql.query('INSERT INTO sluggish VALUES (1), (2)');
      await eventually(() => expect(ids(quick)).toEqual([1, 2]), 5000);
      // The slow subscriber's check is still running (3 s, cut at the 2 s timeout) when the quick one has both rows.
      expect(Date.now() - started).toBeLessThan(1500);
      await eventually(() => expect(realtime.changeStats?.dropped.check_failed).toBe(failedBefore + 2), 5000);
      expect(slow).toEqual([]);
    });

    it('asks PostgreSQL once per change per distinct claims, not once per subscriber', async () => {
      const before = realtime.changeStats?.authorizationChecks ?? 0;
      const carol = { role: 'authenticated', sub: 'carol', exp: Math.floor(Date.now() / 1000) + 3600 };
      // Five sockets with the very same claims (one token).
      const token = await new SignJWT(carol).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(SECRET));
      const seen: Change[][] = [];
      for (let i = 0; i < 5; i++) {
        const socket = new Client(url, { params: { apikey: token }, transport: WebSocket as never, heartbeatIntervalMs: 25_000 });
        clients.push(socket);
        seen.push(await listen(socket, 'todos', 'id=eq.20'));
      }
      await sql.query(`INSERT INTO todos VALUES (20, 'carol', 'c', 'x')`);
      for (const each of seen) await eventually(() => expect(ids(each)).toEqual([20]), 5000);
      expect((realtime.changeStats?.authorizationChecks ?? 0) - before).toBe(1);
    });
  });

describe('Broadcast from Database', () => {
  function heard(realtime: RealtimeClient, name: string, isPrivate: boolean): Promise<unknown[]> {
    const seen: unknown[] = [];
    const channel = realtime.channel(name, { config: { private: isPrivate } });
    channel.on('broadcast', { event: 'ping' }, ({ payload }) => seen.push(payload));
    return subscribed(channel).then((outcome) => {
      expect(outcome).toEqual({ status: 'SUBSCRIBED' });
      return seen;
    });
  }

  it('realtime.send reaches the broadcast listeners of its topic once committed: public to the public channel, private to the private one', async () => {
    const user = await client({ role: 'authenticated', sub: 'alice' });
    const publicRoom = await heard(await client({ role: 'anon' }), 'room', false);
    const privateRoom = await heard(user, 'room', true);
    await sql.query(`SELECT realtime.send('{"n": 1}', 'ping', 'room', false)`);
    await sql.query(`SELECT realtime.send('{"n": 2}', 'ping', 'room', true)`);
    // Rolled back: never sent.
    await sql.query('BEGIN');
    await sql.query(`SELECT realtime.send('{"n": 3}', 'ping', 'room', false)`);
    await sql.query('ROLLBACK');
    await sql.query(`SELECT realtime.send('{"n": 4}', 'ping', 'room', false)`);
    await eventually(() => expect(publicRoom).toEqual([{ n: 1 }, { n: 4 }]), 5000);
    await eventually(() => expect(privateRoom).toEqual([{ n: 2 }]), 5000);
  });

  it("runs inside the writer's transaction, from a trigger, as a role granted EXECUTE", async () => {
    await sql.query(`
      CREATE TABLE notes (id int PRIMARY KEY, body text);
      CREATE FUNCTION notes_broadcast() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM realtime.send(jsonb_build_object('id', NEW.id, 'body', NEW.body), 'ping', 'notes', false); RETURN NEW; END $$;
      CREATE TRIGGER notes_broadcast AFTER INSERT ON notes FOR EACH ROW EXECUTE FUNCTION notes_broadcast();
      GRANT INSERT ON notes TO authenticated;
    `);
    const notes = await heard(await client({ role: 'anon' }), 'notes', false);
    await sql.query('BEGIN');
    await sql.query('SET LOCAL ROLE authenticated');
    await sql.query(`INSERT INTO notes VALUES (1, 'hi')`);
    await sql.query('COMMIT');
    await eventually(() => expect(notes).toEqual([{ id: 1, body: 'hi' }]), 5000);
    // Roles not granted EXECUTE cannot broadcast.
    await sql.query('BEGIN');
    await sql.query('SET LOCAL ROLE anon');
    await expect(sql.query(`SELECT realtime.send('{}', 'ping', 'notes', false)`)).rejects.toThrow(/permission denied for function send/);
    await sql.query('ROLLBACK');
  });
});
