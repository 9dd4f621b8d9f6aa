/**
 * A private channel in real Chromium: the latest supabase-js (2.119.x), unchanged, bundled into a
 * page served from another origin, against `npm run realtime` with `DATABASE_URL` (a private
 * PostgreSQL with wal_level=logical). The test signs each user's JWT as an auth server would; the
 * page hands it to supabase-js (`accessToken`, `realtime.setAuth()`) and joins a private channel
 * that the RLS policies on `realtime.messages` — from Supabase's Realtime Authorization guide —
 * open to the room's members only. Two members see each other in presence and hear each other's
 * broadcasts; a signed-in stranger sees the refusal.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import pg from 'pg';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { useChromium } from '@starling/test-support/browser';
import { eventually } from '@starling/test-support/eventually';
import { startLogicalPostgres, type LogicalPostgres } from '@starling/test-support/logical-postgres';
import { servePage, type PageServer } from './support/page-server.ts';
import { key, startServer, stopServers } from './support/realtime-process.ts';

const ADA = '00000000-0000-4000-8000-0000000000ad';
const BOB = '00000000-0000-4000-8000-0000000000b0';
const EVE = '00000000-0000-4000-8000-0000000000e5';

let database: LogicalPostgres;
const browser = useChromium();
let pages: PageServer;

beforeAll(async () => {
  database = await startLogicalPostgres();
  const sql = new pg.Client(database.url);
  await sql.connect();
  try {
    await sql.query(`
      CREATE ROLE anon NOLOGIN;
      CREATE ROLE authenticated NOLOGIN;
      CREATE TABLE room_members (user_id uuid NOT NULL, room text NOT NULL);
      GRANT SELECT ON room_members TO authenticated;
      INSERT INTO room_members VALUES ('${ADA}', 'room-1'), ('${BOB}', 'room-1'), ('${EVE}', 'room-2');
    `);
  } finally {
    await sql.end();
  }
  pages = await servePage('private-app.ts');
}, 60_000);

afterAll(async () => {
  try {
    await pages?.close();
    await stopServers();
  } finally {
    await database?.stop();
  }
});

async function events(page: Page): Promise<unknown[]> {
  return page.evaluate(() => (globalThis as unknown as { events?: unknown[] }).events ?? []);
}

it('bundles the latest supabase-js 2.119.x, with the realtime-js of the same release', () => {
  const require = createRequire(import.meta.url);
  const supabaseJs = require.resolve('supabase-js-latest/package.json');
  const realtimeJs = createRequire(supabaseJs).resolve('@supabase/realtime-js/package.json');
  const version = (file: string) => (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  expect(version(supabaseJs)).toMatch(/^2\.119\.([2-9]|\d{2,})$/);
  expect(version(realtimeJs)).toBe(version(supabaseJs));
});

it('supabase-js in Chromium joins a private channel its RLS policies open, sees presence and broadcasts; a stranger is refused', async () => {
  const port = await startServer({ DATABASE_URL: database.url });
  // The migration the server applied at start made realtime.messages: the guide's policies go on it.
  const sql = new pg.Client(database.url);
  await sql.connect();
  try {
    await sql.query(`
      CREATE POLICY "members receive" ON realtime.messages FOR SELECT TO authenticated
        USING (EXISTS (SELECT 1 FROM room_members WHERE user_id = (SELECT auth.uid()) AND room = (SELECT realtime.topic()))
               AND realtime.messages.extension IN ('broadcast', 'presence'));
      CREATE POLICY "members send" ON realtime.messages FOR INSERT TO authenticated
        WITH CHECK (EXISTS (SELECT 1 FROM room_members WHERE user_id = (SELECT auth.uid()) AND room = (SELECT realtime.topic()))
                    AND realtime.messages.extension IN ('broadcast', 'presence'));
    `);
  } finally {
    await sql.end();
  }
  const anon = await key({ role: 'anon' });
  const open = async (name: string, sub: string): Promise<Page> => {
    const token = await key({ role: 'authenticated', sub });
    const page = await browser.newPage();
    const query = new URLSearchParams({ url: `http://127.0.0.1:${port}`, key: anon, token, name, room: 'room-1' });
    await page.goto(`${pages.url}/?${query.toString()}`);
    return page;
  };
  const ada = await open('ada', ADA);
  await eventually(async () => expect(await events(ada)).toContainEqual({ status: 'SUBSCRIBED' }), 10_000);
  const bob = await open('bob', BOB);
  await eventually(async () => {
    for (const page of [ada, bob]) {
      expect(await events(page)).toContainEqual({ presence: ['ada', 'bob'] });
      expect(await events(page)).toContainEqual({ broadcast: { from: 'bob' } });
      expect(await events(page)).toContainEqual({ tracked: 'ok' });
    }
  }, 10_000);
  expect(await events(ada)).toContainEqual({ broadcast: { from: 'ada' } }); // self: true

  // Eve is signed in, but a member of room-2 only: the policies refuse her room-1, with the reason.
  const eve = await open('eve', EVE);
  await eventually(
    async () =>
      expect(await events(eve)).toContainEqual({
        status: 'CHANNEL_ERROR',
        error: expect.stringMatching(/You do not have permissions to read from this Channel topic: room-1/),
      }),
    10_000,
  );
  expect(await events(eve)).not.toContainEqual({ status: 'SUBSCRIBED' });
  expect(await events(ada)).not.toContainEqual({ presence: ['ada', 'bob', 'eve'] });
}, 60_000);
