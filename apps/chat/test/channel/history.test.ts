/**
 * The room channel's history, in-process on `starling-channels/testing` (the real socket, channel and
 * SQLite store; no server): a message is stored before it is broadcast, ids increase within a
 * room, the join reply carries the last 50 messages oldest first as `{messages, more}`, `history
 * {before}` pages back from there, and each room keeps its own history.
 */
import { describe, expect, it } from 'vitest';
import type { HistoryPage, WireMessage } from '../../src/room-channel.ts';
import { joined, sendAll, useChatChannels } from '../support/channel-test.ts';

const chatChannels = useChatChannels();

const numbered = (count: number, prefix = 'message'): string[] => Array.from({ length: count }, (_, i) => `${prefix} ${i + 1}`);
const bodiesOf = (messages: readonly WireMessage[]): string[] => messages.map((message) => message.body);

describe('chat history', () => {
  it('replies to a join with the last 50 of 60 messages, oldest first, and more: true', async () => {
    const chat = chatChannels();
    const { channel: writer } = await joined((await chat.connect()).client, 'rooms:lobby', { name: 'alice' });
    await sendAll(writer, numbered(60));

    const { reply } = await joined<HistoryPage>((await chat.connect(null)).client, 'rooms:lobby');

    expect(bodiesOf(reply.messages)).toEqual(numbered(60).slice(10));
    expect(reply.more).toBe(true);
  });

  it('gives each message the fields the page renders: id, body, author (the join name and the user’s mark) and an ISO time', async () => {
    const chat = chatChannels();
    const alice = await chat.connect();
    const { channel: writer } = await joined(alice.client, 'rooms:lobby', { name: 'alice' });
    const before = Date.now();
    const [broadcast] = await sendAll(writer, ['hello']);

    const { reply } = await joined<HistoryPage>((await chat.connect(null)).client, 'rooms:lobby');

    expect(reply.messages).toEqual([broadcast]);
    expect(broadcast).toEqual({ id: expect.any(Number), body: 'hello', author: `alice#${alice.mark}`, inserted_at: expect.any(String) });
    const insertedAt = Date.parse(broadcast!.inserted_at);
    expect(new Date(insertedAt).toISOString()).toBe(broadcast!.inserted_at);
    expect(insertedAt).toBeGreaterThanOrEqual(before - 1000);
    expect(insertedAt).toBeLessThanOrEqual(Date.now() + 1000);
  });

  it('numbers messages with ids that increase within the room', async () => {
    const { channel } = await joined((await chatChannels().connect()).client, 'rooms:lobby');

    const ids = (await sendAll(channel, numbered(20))).map((message) => message.id);

    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('pages back with history {before}: the pages join up without gap or overlap until more is false', async () => {
    const chat = chatChannels();
    const { channel: writer } = await joined((await chat.connect()).client, 'rooms:lobby');
    const sent = await sendAll(writer, numbered(120));
    const { channel: reader, reply } = await joined<HistoryPage>((await chat.connect(null)).client, 'rooms:lobby');
    const pages = [reply];

    while (pages.at(-1)!.more) {
      const oldest = pages.at(-1)!.messages[0]!;
      pages.push((await reader.assertReply(reader.push('history', { before: oldest.id }), 'ok')) as HistoryPage);
    }

    expect(pages.map((page) => page.messages.length)).toEqual([50, 50, 20]);
    expect(pages.reverse().flatMap((page) => page.messages)).toEqual(sent);
  });

  it('answers history {before: the first id} with an empty page and more: false', async () => {
    const { channel } = await joined((await chatChannels().connect()).client, 'rooms:lobby');
    const [first] = await sendAll(channel, ['only one']);

    await channel.assertReply(channel.push('history', { before: first!.id }), 'ok', { messages: [], more: false });
  });

  it("keeps each room's history to itself", async () => {
    const chat = chatChannels();
    const alice = await chat.connect();
    const room = await chat.store.rooms.createRoom(alice.userId, 'Book club');
    const { channel: lobby } = await joined(alice.client, 'rooms:lobby');
    const { channel: club } = await joined(alice.client, `rooms:${room.id}`);
    await sendAll(lobby, ['in the lobby']);
    await sendAll(club, ['in the club']);

    const again = (await chat.connect(alice.userId)).client;
    expect(bodiesOf((await joined<HistoryPage>(again, 'rooms:lobby')).reply.messages)).toEqual(['in the lobby']);
    expect(bodiesOf((await joined<HistoryPage>(again, `rooms:${room.id}`)).reply.messages)).toEqual(['in the club']);
  });

  it('refuses a room to a user who is not a member, and to a guest', async () => {
    const chat = chatChannels();
    const owner = await chat.connect();
    const room = await chat.store.rooms.createRoom(owner.userId, 'Private');

    expect(await (await chat.connect()).client.join(`rooms:${room.id}`)).toMatchObject({ status: 'error', response: { reason: 'unauthorized' } });
    expect(await (await chat.connect(null)).client.join(`rooms:${room.id}`)).toMatchObject({ status: 'error', response: { reason: 'unauthorized' } });
  });
});
