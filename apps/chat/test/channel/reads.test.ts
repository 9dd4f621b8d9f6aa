/**
 * Last-read positions and mentions, in-process on `starling-channels/testing` (the real socket,
 * room channel and SQLite store): `read {id}` moves the user's position in the room, which the
 * next join reply carries as `last_read` on any device; a message that mentions someone online
 * (or a member of a private room) as `@name#mark` carries their mark in `mentions`, stored by
 * user id.
 */
import { describe, expect, it } from 'vitest';
import type { HistoryPage } from '../../src/room-channel.ts';
import { joined, sendAll, useChatChannels } from '../support/channel-test.ts';

const chatChannels = useChatChannels();
const LOBBY = 'rooms:lobby';

describe('read positions', () => {
  it('keeps where a user stopped reading: the join reply on another device says last_read, and the counts follow it', async () => {
    const chat = chatChannels();
    const { channel: ada } = await joined((await chat.connect()).client, LOBBY, { name: 'ada' });
    const sent = await sendAll(ada, ['one', 'two', 'three']);
    const bob = await chat.connect();
    const { channel: laptop, reply: first } = await joined<HistoryPage>(bob.client, LOBBY, { name: 'bob' });
    expect(first.last_read).toBe(0);

    await laptop.assertReply(laptop.push('read', { id: sent[0]!.id }), 'ok', {});

    const { reply } = await joined<HistoryPage>((await chat.connect(bob.userId)).client, LOBBY, { name: 'bob' });
    expect(reply.last_read).toBe(sent[0]!.id);
    expect(await chat.store.reads.unread(bob.userId, ['lobby'])).toEqual([{ room: 'lobby', lastRead: sent[0]!.id, count: 2, mentions: 0 }]);
  });

  it('gives guests no position: their join reply has no last_read and read is refused', async () => {
    const chat = chatChannels();
    const { channel, reply } = await joined<HistoryPage>((await chat.connect(null)).client, LOBBY);
    expect(reply).not.toHaveProperty('last_read');
    await channel.assertReply(channel.push('read', { id: 1 }), 'error', { reason: 'sign in to post' });
  });

  it('budgets read updates per user (READS_PER_USER)', async () => {
    const chat = chatChannels({ limits: { readsPerUser: { count: 1, seconds: 60 } } });
    const { channel } = await joined((await chat.connect()).client, LOBBY, { name: 'bob' });
    await channel.assertReply(channel.push('read', { id: 1 }), 'ok', {});
    await channel.assertReply(channel.push('read', { id: 2 }), 'error', { reason: 'slow down' });
  });
});

describe('mentions', () => {
  it('resolves @name#mark to someone online in the room: the message carries their mark, and the store their user id', async () => {
    const chat = chatChannels();
    const { channel: ada } = await joined((await chat.connect()).client, LOBBY, { name: 'ada' });
    const bob = await chat.connect();
    await joined(bob.client, LOBBY, { name: 'bob' });
    // Online once tracked, which follows the join reply.
    await ada.assertPush('presence_diff', (diff) => Object.hasOwn((diff as { joins: object }).joins, bob.userId));
    const nobody = 'Zz9Zz9';

    const [sent] = await sendAll(ada, [`hi @bob#${bob.mark}, and @ghost#${nobody}`]);

    expect(sent!.mentions).toEqual([bob.mark]);
    const [stored] = await chat.store.messages.history('lobby');
    expect(stored!.mentions).toEqual([bob.userId]);
  });

  it('resolves a member of a private room who is not online, and nobody in a message without a mark', async () => {
    const chat = chatChannels();
    const ada = await chat.connect();
    const room = await chat.store.rooms.createRoom(ada.userId, 'club');
    const carol = await chat.connect();
    await chat.store.rooms.addMember(room.id, carol.userId);
    const { channel } = await joined(ada.client, `rooms:${room.id}`, { name: 'ada' });

    const [withMark, plain] = await sendAll(channel, [`@carol#${carol.mark} are you there?`, 'mail me at a@b.example']);

    expect(withMark!.mentions).toEqual([carol.mark]);
    expect(plain).not.toHaveProperty('mentions');
  });
});
