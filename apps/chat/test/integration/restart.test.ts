/**
 * A crash loses nothing that was broadcast: the real server process (`apps/chat/src/server.ts`,
 * configured by environment) is killed with SIGKILL right after its clients heard their messages,
 * then started again on the same storage; every message is in the next join reply. Private rooms,
 * memberships and user tokens (signed with the secret generated in DATA_DIR) survive as well.
 *
 * Runs once on SQLite in DATA_DIR and once on the machine's real PostgreSQL (DATABASE_URL, a fresh
 * database per test). PostgreSQL is required: the test fails, never skips, when it is unreachable.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ChatApi, sendAll, type HistoryPage } from '../support/chat.ts';
import { ChatProcess } from '../support/chat-process.ts';
import { ClientPool, freePort, joined, phoenix18Client } from '@starling/test-support/official-client';
import { createTempDatabase } from '@starling/test-support/postgres';

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  // Last in, first out: clients before servers, servers before their storage.
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'starling-chat-restart-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function startServer(env: Record<string, string>): Promise<ChatProcess> {
  const server = await ChatProcess.start(env);
  cleanups.push(() => server.kill('SIGKILL'));
  return server;
}

function clients(): ClientPool {
  const pool = new ClientPool(phoenix18Client);
  cleanups.push(() => pool.close());
  return pool;
}

const bodies = (page: unknown): string[] => (page as HistoryPage).messages.map((message) => message.body);

/** Sends messages, kills the server with SIGKILL, starts it again with the same `env` and reads them back. */
async function crashAndRestart(storage: Record<string, string>): Promise<void> {
  // Alice sends 30 messages at once, more than a user's default budget (20 a minute): raised here.
  const env = { ...storage, PORT: String(await freePort()), DATA_DIR: tempDir(), MESSAGES_PER_USER: '100/60' };
  const before = await startServer(env);
  const api = new ChatApi(before.baseUrl);
  const socketUrl = `${before.baseUrl.replace('http', 'ws')}/socket`;
  const alice = await api.newUser();
  const bob = await api.newUser();
  const { room, invite } = await api.createRoom(alice, 'Book club');
  await api.call('POST', '/api/invites/accept', { token: bob.token, body: { invite: new URL(invite).searchParams.get('invite') } });

  const talking = clients().socket(socketUrl, { params: { token: alice.token } });
  const lobby = talking.channel('rooms:lobby', { user: 'alice' });
  const club = talking.channel(`rooms:${room.id}`, { user: 'alice' });
  await joined(lobby);
  await joined(club);
  const lobbyBodies = Array.from({ length: 30 }, (_, i) => `lobby ${i + 1}`);
  const clubBodies = ['in the club', 'émoji 🐦 and <b>markup</b>'];
  // sendAll waits for each broadcast: everything below was seen by a client.
  await sendAll(lobby, lobbyBodies);
  await sendAll(club, clubBodies);

  await before.kill('SIGKILL');
  const after = await startServer(env);

  const reading = clients();
  expect(bodies(await joined(reading.socket(socketUrl).channel('rooms:lobby')))).toEqual(lobbyBodies);
  // Bob's token, his membership and the room itself outlived the process.
  expect((await new ChatApi(after.baseUrl).call('POST', '/api/identity', { body: { token: bob.token } })).body).toMatchObject({ userId: bob.userId });
  expect(bodies(await joined(reading.socket(socketUrl, { params: { token: bob.token } }).channel(`rooms:${room.id}`)))).toEqual(clubBodies);
}

describe('the chat server killed with SIGKILL and started again', () => {
  it('keeps every broadcast message, room, membership and token with SQLite in DATA_DIR', async () => {
    await crashAndRestart({});
  });

  it('keeps every broadcast message, room, membership and token with PostgreSQL from DATABASE_URL', async () => {
    const database = await createTempDatabase();
    cleanups.push(() => database.drop());

    await crashAndRestart({ DATABASE_URL: database.url });
  });
});
