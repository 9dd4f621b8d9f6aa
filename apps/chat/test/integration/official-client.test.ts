/**
 * The chat example (`examples/chat/app.ts`) driven by the official client, both versions: the
 * lobby, a refused room, messages, ping, presence with `user_joined`, and the intercepted
 * `user_joined` that a socket joined with `{ignore: NAME#mark}` does not hear for that user.
 * Posting and presence need a user token; guests read.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { PresenceEntry } from 'phoenix';
import { startChat, type Chat } from '../../src/app.ts';
import { UNLIMITED } from '../support/chat.ts';
import { eventually } from '@starling/test-support/eventually';
import { ClientPool, inboxOf, joined, joinOutcome, officialClients, pushOutcome } from '@starling/test-support/official-client';

describe.each(officialClients)('the chat with $name', (client) => {
  let chat: Chat;
  let pool: ClientPool;
  let dataDir: string | undefined;

  async function start(): Promise<string> {
    dataDir = mkdtempSync(join(tmpdir(), 'starling-chat-'));
    chat = await startChat({ port: 0, dataDir, logger: pino({ level: 'silent' }), limits: UNLIMITED });
    pool = new ClientPool(client);
    return `ws://127.0.0.1:${chat.port}/socket`;
  }

  /** A socket of a brand-new user: `{token}` from `POST /api/identity`. */
  async function userSocket(endpoint: string): Promise<{ socket: ReturnType<ClientPool['socket']>; mark: string }> {
    const response = await fetch(`http://127.0.0.1:${chat.port}/api/identity`, { method: 'POST', body: '{}' });
    const { token, mark } = (await response.json()) as { token: string; mark: string };
    return { socket: pool.socket(endpoint, { params: { token } }), mark };
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
    const { socket, mark } = await userSocket(endpoint);
    const sender = socket.channel('rooms:lobby', { name: 'alice' });
    const listener = pool.socket(endpoint).channel('rooms:lobby');
    await joined(sender);
    await joined(listener);
    const senderHeard = inboxOf(sender, 'new_msg');
    const listenerHeard = inboxOf(listener, 'new_msg');

    sender.push('new_msg', { body: 'hello everyone' });

    const heard = await listenerHeard.next();
    expect(heard).toMatchObject({ body: 'hello everyone', author: `alice#${mark}` });
    expect(await senderHeard.next()).toEqual(heard);
  });

  it.each([{}, { body: 42 }, { body: '' }])('answers new_msg %j with error {reason: "invalid payload", issues: [body]}', async (payload) => {
    const endpoint = await start();
    const channel = (await userSocket(endpoint)).socket.channel('rooms:lobby');
    await joined(channel);

    expect(await pushOutcome(channel, 'new_msg', payload)).toMatchObject({
      status: 'error',
      response: { reason: 'invalid payload', issues: [{ path: ['body'] }] },
    });
  });

  it('answers a guest’s new_msg with error {reason: "sign in to post"} and stores nothing', async () => {
    const endpoint = await start();
    const guest = pool.socket(endpoint).channel('rooms:lobby', { name: 'alice' });
    await joined(guest);

    expect(await pushOutcome(guest, 'new_msg', { body: 'hi' })).toEqual({ status: 'error', response: { reason: 'sign in to post' } });
    expect(await joinOutcome(pool.socket(endpoint).channel('rooms:lobby'))).toEqual({ status: 'ok', response: { messages: [], more: false } });
  });

  it('answers ping with ok and the same payload', async () => {
    const endpoint = await start();
    const channel = pool.socket(endpoint).channel('rooms:lobby');
    await joined(channel);

    expect(await pushOutcome(channel, 'ping', { at: 123, nested: { ok: true } })).toEqual({ status: 'ok', response: { at: 123, nested: { ok: true } } });
  });

  it('lists a user who joined with {name} in presence under their user id, shown as name#mark, and announces user_joined', async () => {
    const endpoint = await start();
    const observer = pool.socket(endpoint).channel('rooms:lobby');
    const observed = new client.Presence(observer);
    await joined(observer);
    const announced = inboxOf(observer, 'user_joined');
    const { socket, mark } = await userSocket(endpoint);
    const alice = socket.channel('rooms:lobby', { name: 'alice' });
    const alicePresence = new client.Presence(alice);

    await joined(alice);

    expect(await announced.next()).toEqual({ user: `alice#${mark}` });
    const listed = (presence: typeof observed): string[] =>
      presence.list((key: string, entry: PresenceEntry) => `${key.length}:${(entry.metas[0] as { name?: string }).name}:${entry.metas.length}`);
    await eventually(() => expect(listed(observed)).toEqual([`16:alice#${mark}:1`]));
    await eventually(() => expect(listed(alicePresence)).toEqual([`16:alice#${mark}:1`]));
  });

  it('does not let anyone take another user’s name: a second "alice" has a different mark and presence entry', async () => {
    const endpoint = await start();
    const observer = pool.socket(endpoint).channel('rooms:lobby');
    const observed = new client.Presence(observer);
    await joined(observer);
    const real = await userSocket(endpoint);
    const impostor = await userSocket(endpoint);
    await joined(real.socket.channel('rooms:lobby', { name: 'alice' }));
    const impostorChannel = impostor.socket.channel('rooms:lobby', { name: 'alice', user: `alice#${real.mark}` });
    await joined(impostorChannel);
    const heard = inboxOf(observer, 'new_msg');

    impostorChannel.push('new_msg', { body: 'I am alice' });

    expect(await heard.next()).toMatchObject({ body: 'I am alice', author: `alice#${impostor.mark}` });
    expect(impostor.mark).not.toBe(real.mark);
    const names = (): string[] => observed.list((_key: string, entry: PresenceEntry) => String((entry.metas[0] as { name?: string }).name)).sort();
    await eventually(() => expect(names()).toEqual([`alice#${impostor.mark}`, `alice#${real.mark}`].sort()));
  });

  it('does not tell a socket that joined with {ignore: "bob#mark"} that bob joined, while others hear it', async () => {
    const endpoint = await start();
    const bob = await userSocket(endpoint);
    const carol = await userSocket(endpoint);
    const ignoring = pool.socket(endpoint).channel('rooms:lobby', { ignore: `bob#${bob.mark}` });
    const listening = pool.socket(endpoint).channel('rooms:lobby');
    await joined(ignoring);
    await joined(listening);
    const ignoringHeard = inboxOf(ignoring, 'user_joined');
    const listeningHeard = inboxOf(listening, 'user_joined');

    await joined(bob.socket.channel('rooms:lobby', { name: 'bob' }));
    expect(await listeningHeard.next()).toEqual({ user: `bob#${bob.mark}` });
    await joined(carol.socket.channel('rooms:lobby', { name: 'carol' }));

    // Both announcements go through the ignoring channel's handleOut in order: once carol's has
    // arrived, bob's would have arrived before it.
    expect(await ignoringHeard.next()).toEqual({ user: `carol#${carol.mark}` });
    expect(ignoringHeard.items).toEqual([]);
    expect(await listeningHeard.next()).toEqual({ user: `carol#${carol.mark}` });
  });
});
