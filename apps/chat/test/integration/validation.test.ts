/**
 * What the room channel accepts from clients (official client, phoenix 1.8.16): a message body is
 * 1 to 2000 characters once trimmed, a display name 1 to 32; anything else is answered with an
 * error reply that says why, and nothing is stored or broadcast.
 */
import type { Channel } from 'phoenix';
import { describe, expect, it } from 'vitest';
import { sendAll, useChats, type ChatUser, type HistoryPage } from '../support/chat.ts';
import { inboxOf, joined, joinOutcome, pushOutcome } from '@starling/test-support/official-client';

const chats = useChats();

async function lobby(params: Record<string, unknown> = {}): Promise<{ channel: Channel; user: ChatUser; history: () => Promise<HistoryPage> }> {
  const chat = await chats.start();
  const { user, socket } = await chats.userSocket(chat);
  const channel = socket.channel('rooms:lobby', params);
  await joined(channel);
  return { channel, user, history: async () => (await joined(chats.socket(chat).channel('rooms:lobby'))) as HistoryPage };
}

describe('message bodies', () => {
  it.each([
    ['empty', ''],
    ['whitespace only', ' \t\n  '],
    ['2001 characters', 'x'.repeat(2001)],
    ['2001 characters once trimmed', ` ${'x'.repeat(2001)} `],
    ['not a string', 42],
    ['control characters', 'a\u0000\u0001\u001b[2J'],
    ['a lone surrogate', 'broken \ud83d'],
  ])('refuses a body that is %s with error {reason: "invalid payload"}, storing and broadcasting nothing', async (_, body) => {
    const { channel, history } = await lobby();
    const heard = inboxOf(channel, 'new_msg');

    expect(await pushOutcome(channel, 'new_msg', { body })).toMatchObject({ status: 'error', response: { reason: 'invalid payload' } });

    // A valid message sent after the refused one is the first thing heard and stored.
    await sendAll(channel, ['next']);
    expect(heard.items.map((message) => (message as { body: string }).body)).toEqual(['next']);
    expect((await history()).messages.map((message) => message.body)).toEqual(['next']);
  });

  it('accepts a body of exactly 2000 characters', async () => {
    const { channel } = await lobby();

    const [message] = await sendAll(channel, ['x'.repeat(2000)]);

    expect(message?.body).toHaveLength(2000);
  });

  it('counts characters, not UTF-16 units: 2000 emoji are accepted, 2001 are not', async () => {
    const { channel } = await lobby();

    const [message] = await sendAll(channel, ['🐦'.repeat(2000)]);
    expect(message?.body).toBe('🐦'.repeat(2000));
    expect(await pushOutcome(channel, 'new_msg', { body: '🐦'.repeat(2001) })).toMatchObject({ status: 'error', response: { reason: 'invalid payload' } });
  });

  it('keeps line breaks and tabs inside a body', async () => {
    const { channel } = await lobby();

    const [message] = await sendAll(channel, ['line one\n\tline two']);

    expect(message?.body).toBe('line one\n\tline two');
  });

  it('stores and broadcasts the body trimmed', async () => {
    const { channel, history } = await lobby();
    const heard = inboxOf(channel, 'new_msg');

    channel.push('new_msg', { body: '  hello  \n' });

    expect(await heard.next()).toMatchObject({ body: 'hello' });
    expect((await history()).messages.map((message) => message.body)).toEqual(['hello']);
  });
});

describe('display names', () => {
  it.each([
    ['33 characters', 'n'.repeat(33)],
    ['empty', ''],
    ['whitespace only', '   '],
    ['not a string', 7],
  ])('refuses a join whose name is %s with error {reason: "invalid name"}', async (_, user) => {
    const chat = await chats.start();

    expect(await joinOutcome(chats.socket(chat).channel('rooms:lobby', { user }))).toEqual({ status: 'error', response: { reason: 'invalid name' } });
  });

  it('accepts a name of exactly 32 characters and signs messages with it and the user’s mark', async () => {
    const { channel, user } = await lobby({ name: 'n'.repeat(32) });

    const [message] = await sendAll(channel, ['hi']);

    expect(message?.author).toBe(`${'n'.repeat(32)}#${user.mark}`);
  });

  it('signs the messages of a user who joined without a name as "anonymous" with their mark', async () => {
    const { channel, user } = await lobby();

    const [message] = await sendAll(channel, ['hi']);

    expect(message?.author).toBe(`anonymous#${user.mark}`);
  });

  it('keeps the name in the user’s server-side profile: a later join without a name, from another socket, shows it', async () => {
    const chat = await chats.start();
    const { user, socket } = await chats.userSocket(chat);
    await joined(socket.channel('rooms:lobby', { name: 'alice' }));
    const again = chats.socket(chat, { token: user.token }).channel('rooms:lobby');
    await joined(again);

    const [message] = await sendAll(again, ['hi']);

    expect(message?.author).toBe(`alice#${user.mark}`);
  });

  it('takes the old {user} param as the chosen name', async () => {
    const { channel, user } = await lobby({ user: 'alice' });

    const [message] = await sendAll(channel, ['hi']);

    expect(message?.author).toBe(`alice#${user.mark}`);
  });

  it.each([
    ['a control character', 'al\u0007ice'],
    ['a line break', 'al\nice'],
    ['a lone surrogate', 'al\ud800ice'],
  ])('refuses a name with %s with error {reason: "invalid name"}', async (_, name) => {
    const chat = await chats.start();
    const { socket } = await chats.userSocket(chat);

    expect(await joinOutcome(socket.channel('rooms:lobby', { name }))).toEqual({ status: 'error', response: { reason: 'invalid name' } });
  });

  it('lets a user named "__proto__" join, post and appear in presence', async () => {
    const { channel, user } = await lobby({ name: '__proto__' });

    const [message] = await sendAll(channel, ['hi']);

    expect(message?.author).toBe(`__proto__#${user.mark}`);
    expect(await pushOutcome(channel, 'ping', {})).toEqual({ status: 'ok', response: {} });
  });
});
