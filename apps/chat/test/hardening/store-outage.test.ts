/**
 * The chat when its PostgreSQL goes away and comes back: a message sent during the outage gets an
 * error reply `{reason: "unavailable"}` (never a channel crash, never a broadcast of something
 * that was not stored), and once the database is back the same process stores and broadcasts
 * again — no restart. The outage is a TCP proxy between the chat and PostgreSQL cutting the line.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { startChat, type Chat } from '../../src/app.ts';
import { eventually } from '@starling/test-support/eventually';
import { ClientPool, inboxOf, joined, phoenix18Client, pushOutcome } from '@starling/test-support/official-client';
import { createTempDatabase, ensurePostgres, type TempDatabase } from '@starling/test-support/postgres';
import { TcpProxy } from '@starling/test-support/tcp-proxy';
import { ChatApi, UNLIMITED } from '../support/chat.ts';

let chat: Chat | undefined;
let pool: ClientPool | undefined;
let proxy: TcpProxy | undefined;
let database: TempDatabase | undefined;
let dataDir: string | undefined;

afterEach(async () => {
  await pool?.close();
  await chat?.close();
  await proxy?.close();
  await database?.drop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  chat = pool = proxy = database = dataDir = undefined;
});

describe('the chat during a PostgreSQL outage', () => {
  it('answers {reason: "unavailable"} while the database is unreachable and recovers without a restart', async () => {
    await ensurePostgres();
    database = await createTempDatabase();
    const target = new URL(database.url);
    proxy = await TcpProxy.start(Number(target.port || 5432));
    target.hostname = '127.0.0.1';
    target.port = String(proxy.port);
    dataDir = mkdtempSync(join(tmpdir(), 'starling-outage-'));
    chat = await startChat({ port: 0, dataDir, databaseUrl: target.toString(), logger: pino({ level: 'silent' }), limits: UNLIMITED });

    pool = new ClientPool(phoenix18Client);
    const ann = await new ChatApi(`http://127.0.0.1:${chat.port}`).newUser();
    const channel = pool.socket(`ws://127.0.0.1:${chat.port}/socket`, { params: { token: ann.token } }).channel('rooms:lobby', { name: 'ann' });
    const heard = inboxOf(channel, 'new_msg');
    await joined(channel);
    channel.push('new_msg', { body: 'before' });
    await eventually(() => expect(heard.items).toHaveLength(1));

    proxy.cut();
    expect(await pushOutcome(channel, 'new_msg', { body: 'during' }, ['error'], 8000)).toEqual({
      status: 'error',
      response: { reason: 'unavailable' },
    });
    // The channel is still joined: the failure was a reply, not a crash.
    expect(await pushOutcome(channel, 'ping', { still: 'here' })).toEqual({ status: 'ok', response: { still: 'here' } });

    proxy.restore();
    await eventually(
      async () => {
        channel.push('new_msg', { body: `after ${Date.now()}` });
        await eventually(() => expect(heard.items.length).toBeGreaterThan(1), 1500);
      },
      15_000,
      200,
    );
    const bodies = heard.items.map((item) => (item as { body: string }).body);
    expect(bodies[0]).toBe('before');
    expect(bodies).not.toContain('during');
    const history = await chat.store.messages.history('lobby');
    expect(history.map((message) => message.body)).not.toContain('during');
    expect(history[0]!.body).toBe('before');
  });
});
