/**
 * The chat example (`examples/chat/app.ts`) driven by the official client, both versions: the
 * lobby, a refused room, messages, ping, presence with `user_joined`, and the intercepted
 * `user_joined` that a socket joined with `{ignore: NAME}` does not hear for NAME.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { PresenceEntry } from 'phoenix';
import { startChat, type Chat } from '../../src/app.ts';
import { eventually } from '@starling/test-support/eventually';
import { ClientPool, inboxOf, joined, joinOutcome, officialClients, pushOutcome } from '@starling/test-support/official-client';

describe.each(officialClients)('the chat with $name', (client) => {
  let chat: Chat;
  let pool: ClientPool;
  let dataDir: string | undefined;

  async function start(): Promise<string> {
    dataDir = mkdtempSync(join(tmpdir(), 'starling-chat-'));
    chat = await startChat({ port: 0, dataDir, logger: pino({ level: 'silent' }) });
    pool = new ClientPool(client);
    return `ws://127.0.0.1:${chat.port}/socket`;
  }

  afterEach(async () => {
    await pool?.close();
    await chat?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('lets anyone join rooms:lobby; the join reply carries the (empty) history', async () => {
    const endpoint = await start();

    expect(await joinOutcome(pool.socket(endpoint).channel('rooms:lobby'))).toEqual({ status: 'ok', response: { messages: [], more: false } });
  });

  it('refuses any other room with {reason: "unauthorized"}', async () => {
    const endpoint = await start();

    expect(await joinOutcome(pool.socket(endpoint).channel('rooms:secret'))).toEqual({ status: 'error', response: { reason: 'unauthorized' } });
  });

  it('broadcasts new_msg to every socket in the room, the sender included', async () => {
    const endpoint = await start();
    const sender = pool.socket(endpoint).channel('rooms:lobby');
    const listener = pool.socket(endpoint).channel('rooms:lobby');
    await joined(sender);
    await joined(listener);
    const senderHeard = inboxOf(sender, 'new_msg');
    const listenerHeard = inboxOf(listener, 'new_msg');

    sender.push('new_msg', { body: 'hello everyone' });

    const heard = await listenerHeard.next();
    expect(heard).toMatchObject({ body: 'hello everyone', author: 'guest' });
    expect(await senderHeard.next()).toEqual(heard);
  });

  it.each([{}, { body: 42 }, { body: '' }])('answers new_msg %j with error {reason: "invalid payload", issues: [body]}', async (payload) => {
    const endpoint = await start();
    const channel = pool.socket(endpoint).channel('rooms:lobby');
    await joined(channel);

    expect(await pushOutcome(channel, 'new_msg', payload)).toMatchObject({
      status: 'error',
      response: { reason: 'invalid payload', issues: [{ path: ['body'] }] },
    });
  });

  it('answers ping with ok and the same payload', async () => {
    const endpoint = await start();
    const channel = pool.socket(endpoint).channel('rooms:lobby');
    await joined(channel);

    expect(await pushOutcome(channel, 'ping', { at: 123, nested: { ok: true } })).toEqual({ status: 'ok', response: { at: 123, nested: { ok: true } } });
  });

  it('lists a user who joined with {user} in presence and announces user_joined', async () => {
    const endpoint = await start();
    const observer = pool.socket(endpoint).channel('rooms:lobby');
    const observed = new client.Presence(observer);
    await joined(observer);
    const announced = inboxOf(observer, 'user_joined');
    const alice = pool.socket(endpoint).channel('rooms:lobby', { user: 'alice' });
    const alicePresence = new client.Presence(alice);

    await joined(alice);

    expect(await announced.next()).toEqual({ user: 'alice' });
    const listed = (presence: typeof observed): string[] => presence.list((key: string, entry: PresenceEntry) => `${key}:${entry.metas.length}`);
    await eventually(() => expect(listed(observed)).toEqual(['alice:1']));
    await eventually(() => expect(listed(alicePresence)).toEqual(['alice:1']));
  });

  it('does not tell a socket that joined with {ignore: "bob"} that bob joined, while others hear it', async () => {
    const endpoint = await start();
    const ignoring = pool.socket(endpoint).channel('rooms:lobby', { ignore: 'bob' });
    const listening = pool.socket(endpoint).channel('rooms:lobby');
    await joined(ignoring);
    await joined(listening);
    const ignoringHeard = inboxOf(ignoring, 'user_joined');
    const listeningHeard = inboxOf(listening, 'user_joined');

    await joined(pool.socket(endpoint).channel('rooms:lobby', { user: 'bob' }));
    expect(await listeningHeard.next()).toEqual({ user: 'bob' });
    await joined(pool.socket(endpoint).channel('rooms:lobby', { user: 'carol' }));

    // Both announcements go through the ignoring channel's handleOut in order: once carol's has
    // arrived, bob's would have arrived before it.
    expect(await ignoringHeard.next()).toEqual({ user: 'carol' });
    expect(ignoringHeard.items).toEqual([]);
    expect(await listeningHeard.next()).toEqual({ user: 'carol' });
  });
});
