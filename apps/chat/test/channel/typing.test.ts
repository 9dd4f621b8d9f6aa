/**
 * Typing notices, in-process on `starling-channels/testing` (the real socket, room channel and
 * SQLite store, rooms keeping history as the chat's do): `typing` tells the others in the room
 * `typing {user}`, never the sender; it is never stored and never a publication of the room's
 * topic, so a page that reconnects gets no stale notices in its replay; guests cannot send it and
 * it is budgeted.
 */
import { describe, expect, it } from 'vitest';
import { eventually } from '@starling/test-support/eventually';
import type { HistoryPage } from '../../src/room-channel.ts';
import { joined, sendAll, useChatChannels } from '../support/channel-test.ts';

const chatChannels = useChatChannels();
const LOBBY = 'rooms:lobby';

describe('typing notices', () => {
  it('tells the others in the room who is typing, not the sender and not another room', async () => {
    const chat = chatChannels();
    const ada = await chat.connect();
    const { channel: adaLobby } = await joined(ada.client, LOBBY, { name: 'ada' });
    const { channel: bob } = await joined((await chat.connect()).client, LOBBY, { name: 'bob' });
    const { channel: guest } = await joined((await chat.connect(null)).client, LOBBY);
    const room = await chat.store.rooms.createRoom(ada.userId, 'elsewhere');
    const { channel: elsewhere } = await joined((await chat.connect(ada.userId)).client, `rooms:${room.id}`, { name: 'ada' });

    adaLobby.push('typing', {});

    expect((await bob.assertPush('typing')).payload).toEqual({ user: `ada#${ada.mark}` });
    expect((await guest.assertPush('typing')).payload).toEqual({ user: `ada#${ada.mark}` });
    await adaLobby.refutePush('typing');
    await elsewhere.refutePush('typing');
  });

  it('is not on the room’s stream: never broadcast on the room topic, never stored, never replayed to a page that reconnects', async () => {
    const chat = chatChannels();
    const { channel: ada } = await joined((await chat.connect()).client, LOBBY, { name: 'ada' });
    const { channel: bob } = await joined((await chat.connect()).client, LOBBY, { name: 'bob' });
    const reader = await chat.connect(null);
    await joined(reader.client, LOBBY);
    await sendAll(ada, ['before']);
    const seenRef = await eventually(() => {
      const frame = reader.client.received.find((f) => f.event === 'new_msg');
      expect(frame).toBeDefined();
      return frame!.ref;
    }, 2000);
    reader.client.close();

    ada.push('typing', {});
    // Bob, online, hears it; nothing is published on the room's topic.
    await bob.assertPush('typing');
    await ada.refuteBroadcast('typing');
    await sendAll(ada, ['after']);

    const back = await chat.connect(null);
    await joined(back.client, LOBBY, { recover: seenRef });
    const replayed = await eventually(() => {
      const events = back.client.received.filter((f) => f.topic === LOBBY && f.event !== 'phx_reply').map((f) => f.event);
      expect(events).toContain('phx_stream');
      return events;
    }, 2000);
    expect(replayed).not.toContain('typing');
    expect(replayed.filter((event) => event === 'new_msg')).toHaveLength(1);
    const { reply } = await joined<HistoryPage>((await chat.connect(null)).client, LOBBY);
    expect(reply.messages.map((message) => message.body)).toEqual(['before', 'after']);
  });

  it('refuses guests, and budgets each user (TYPING_PER_USER), answered slow down', async () => {
    const chat = chatChannels({ limits: { typingPerUser: { count: 1, seconds: 60 } } });
    const { channel: ada } = await joined((await chat.connect()).client, LOBBY, { name: 'ada' });
    const { channel: bob } = await joined((await chat.connect()).client, LOBBY, { name: 'bob' });
    const { channel: guest } = await joined((await chat.connect(null)).client, LOBBY);

    await guest.assertReply(guest.push('typing', {}), 'error', { reason: 'sign in to post' });
    ada.push('typing', {});
    await bob.assertPush('typing');
    await ada.assertReply(ada.push('typing', {}), 'error', { reason: 'slow down' });
    await bob.refutePush('typing');
  });
});
