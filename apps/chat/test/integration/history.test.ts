/**
 * The chat's message history through the official client (phoenix 1.8.16): a message is stored
 * before it is broadcast, ids increase within a room, the join reply carries the last 50
 * messages oldest first as `{messages, more}`, and `history {before}` pages back from there.
 */
import { describe, expect, it } from 'vitest';
import { sendAll, useChats, type HistoryPage, type WireMessage } from '../support/chat.ts';
import { joined, pushOutcome } from '@starling/test-support/official-client';

const chats = useChats();

const numbered = (count: number, prefix = 'message'): string[] => Array.from({ length: count }, (_, i) => `${prefix} ${i + 1}`);
const bodiesOf = (messages: readonly WireMessage[]): string[] => messages.map((message) => message.body);

describe('chat history', () => {
  it('replies to a join with the last 50 of 60 messages, oldest first, and more: true', async () => {
    const chat = await chats.start();
    const writer = (await chats.userSocket(chat)).socket.channel('rooms:lobby', { user: 'alice' });
    await joined(writer);
    await sendAll(writer, numbered(60));

    const reply = (await joined(chats.socket(chat).channel('rooms:lobby'))) as HistoryPage;

    expect(bodiesOf(reply.messages)).toEqual(numbered(60).slice(10));
    expect(reply.more).toBe(true);
  });

  it('gives each message the fields the page renders: id, body, author (the join name and the user’s mark) and an ISO time', async () => {
    const chat = await chats.start();
    const { user, socket } = await chats.userSocket(chat);
    const writer = socket.channel('rooms:lobby', { name: 'alice' });
    await joined(writer);
    const before = Date.now();
    const [broadcast] = await sendAll(writer, ['hello']);

    const { messages } = (await joined(chats.socket(chat).channel('rooms:lobby'))) as HistoryPage;

    expect(messages).toEqual([broadcast]);
    expect(broadcast).toEqual({ id: expect.any(Number), body: 'hello', author: `alice#${user.mark}`, inserted_at: expect.any(String) });
    const insertedAt = Date.parse(broadcast!.inserted_at);
    expect(new Date(insertedAt).toISOString()).toBe(broadcast!.inserted_at);
    expect(insertedAt).toBeGreaterThanOrEqual(before - 1000);
    expect(insertedAt).toBeLessThanOrEqual(Date.now() + 1000);
  });

  it('numbers messages with ids that increase within the room', async () => {
    const chat = await chats.start();
    const writer = (await chats.userSocket(chat)).socket.channel('rooms:lobby');
    await joined(writer);

    const ids = (await sendAll(writer, numbered(20))).map((message) => message.id);

    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('pages back with history {before}: the pages join up without gap or overlap until more is false', async () => {
    const chat = await chats.start();
    const writer = (await chats.userSocket(chat)).socket.channel('rooms:lobby');
    await joined(writer);
    const sent = await sendAll(writer, numbered(120));
    const reader = chats.socket(chat).channel('rooms:lobby');
    const pages = [(await joined(reader)) as HistoryPage];

    while (pages.at(-1)!.more) {
      const oldest = pages.at(-1)!.messages[0]!;
      const outcome = await pushOutcome(reader, 'history', { before: oldest.id });
      expect(outcome.status).toBe('ok');
      pages.push(outcome.response as HistoryPage);
    }

    expect(pages.map((page) => page.messages.length)).toEqual([50, 50, 20]);
    expect(pages.reverse().flatMap((page) => page.messages)).toEqual(sent);
  });

  it('answers history {before: the first id} with an empty page and more: false', async () => {
    const chat = await chats.start();
    const channel = (await chats.userSocket(chat)).socket.channel('rooms:lobby');
    await joined(channel);
    const [first] = await sendAll(channel, ['only one']);

    expect(await pushOutcome(channel, 'history', { before: first!.id })).toEqual({ status: 'ok', response: { messages: [], more: false } });
  });

  it('answers history with a before that is not an integer with error {reason: "invalid payload", issues: [before]}', async () => {
    const chat = await chats.start();
    const channel = (await chats.userSocket(chat)).socket.channel('rooms:lobby');
    await joined(channel);

    expect(await pushOutcome(channel, 'history', { before: '10' })).toMatchObject({
      status: 'error',
      response: { reason: 'invalid payload', issues: [{ path: ['before'] }] },
    });
  });

  it("keeps each room's history to itself", async () => {
    const chat = await chats.start();
    const alice = await chat.newUser();
    const { room } = await chat.createRoom(alice, 'Book club');
    const socket = chats.socket(chat, { token: alice.token });
    const lobby = socket.channel('rooms:lobby');
    const club = socket.channel(`rooms:${room.id}`);
    await joined(lobby);
    await joined(club);
    await sendAll(lobby, ['in the lobby']);
    await sendAll(club, ['in the club']);

    const again = chats.socket(chat, { token: alice.token });
    expect(bodiesOf(((await joined(again.channel('rooms:lobby'))) as HistoryPage).messages)).toEqual(['in the lobby']);
    expect(bodiesOf(((await joined(again.channel(`rooms:${room.id}`))) as HistoryPage).messages)).toEqual(['in the club']);
  });
});
