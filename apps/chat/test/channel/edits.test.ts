/**
 * Editing and deleting one's own messages, in-process on `starling-channels/testing` (the real
 * socket, room channel and SQLite store): only the author — by user id, whatever name they show —
 * may change a message; the change is stored (history pages show the current text or a
 * tombstone), broadcast to everyone as `msg_edited` / `msg_deleted`, replayed to a page that
 * reconnects, and budgeted.
 */
import type { TestSocket } from 'starling-channels/testing';
import { describe, expect, it } from 'vitest';
import { eventually } from '@starling/test-support/eventually';
import type { HistoryPage, WireMessage } from '../../src/room-channel.ts';
import { joined, sendAll, useChatChannels } from '../support/channel-test.ts';

const chatChannels = useChatChannels();
const LOBBY = 'rooms:lobby';

/** The events `client` received on the lobby, in order, with their payloads. */
function eventsOf(client: TestSocket): Array<[string, unknown]> {
  return client.received.filter((frame) => frame.topic === LOBBY && frame.event !== 'phx_reply').map((frame) => [frame.event, frame.payload]);
}

describe('editing and deleting messages', () => {
  it('lets the author edit: everyone gets msg_edited with the new text and edited_at, and later pages show it', async () => {
    const chat = chatChannels();
    const { channel: ada } = await joined((await chat.connect()).client, LOBBY, { name: 'ada' });
    const [sent] = await sendAll(ada, ['helo']);

    ada.push('edit_msg', { id: sent!.id, body: 'hello' });

    const edited = (await ada.assertBroadcast('msg_edited')).payload as WireMessage;
    expect(edited).toEqual({ ...sent, body: 'hello', edited_at: expect.any(String) });
    const { reply } = await joined<HistoryPage>((await chat.connect(null)).client, LOBBY);
    expect(reply.messages).toEqual([edited]);
  });

  it('lets the author delete: everyone gets msg_deleted, a tombstone with no text, and later pages show the tombstone', async () => {
    const chat = chatChannels();
    const { channel: ada } = await joined((await chat.connect()).client, LOBBY, { name: 'ada' });
    const [sent] = await sendAll(ada, ['oops']);

    ada.push('delete_msg', { id: sent!.id });

    const tombstone = (await ada.assertBroadcast('msg_deleted')).payload as WireMessage;
    expect(tombstone).toEqual({ ...sent, body: '', deleted: true });
    const { reply } = await joined<HistoryPage>((await chat.connect(null)).client, LOBBY);
    expect(reply.messages).toEqual([tombstone]);
  });

  it('refuses anyone but the author, checked by user id: another user showing the same name, and a guest', async () => {
    const chat = chatChannels();
    const { channel: ada } = await joined((await chat.connect()).client, LOBBY, { name: 'ada' });
    const [sent] = await sendAll(ada, ['mine']);
    const { channel: impostor } = await joined((await chat.connect()).client, LOBBY, { name: 'ada' });
    const { channel: guest } = await joined((await chat.connect(null)).client, LOBBY);

    await impostor.assertReply(impostor.push('edit_msg', { id: sent!.id, body: 'hijacked' }), 'error', { reason: 'not found' });
    await impostor.assertReply(impostor.push('delete_msg', { id: sent!.id }), 'error', { reason: 'not found' });
    await guest.assertReply(guest.push('delete_msg', { id: sent!.id }), 'error', { reason: 'sign in to post' });

    await ada.refuteBroadcast('msg_edited');
    await ada.refuteBroadcast('msg_deleted');
    const { reply } = await joined<HistoryPage>((await chat.connect(null)).client, LOBBY);
    expect(reply.messages).toEqual([sent]);
  });

  it('lets the author change a message from another socket of theirs, but only in the room it was posted in', async () => {
    const chat = chatChannels();
    const ada = await chat.connect();
    const { channel: lobby } = await joined(ada.client, LOBBY, { name: 'ada' });
    const [sent] = await sendAll(lobby, ['in the lobby']);
    const room = await chat.store.rooms.createRoom(ada.userId, 'elsewhere');
    const { channel: other } = await joined((await chat.connect(ada.userId)).client, `rooms:${room.id}`, { name: 'ada' });

    await other.assertReply(other.push('edit_msg', { id: sent!.id, body: 'moved?' }), 'error', { reason: 'not found' });
    const { channel: again } = await joined((await chat.connect(ada.userId)).client, LOBBY, { name: 'ada' });
    again.push('edit_msg', { id: sent!.id, body: 'from my phone' });
    expect((await lobby.assertBroadcast('msg_edited')).payload).toMatchObject({ id: sent!.id, body: 'from my phone' });
  });

  it('replays edits and deletes to a page that reconnects from before them, in order, after the messages they change', async () => {
    const chat = chatChannels();
    const bob = await chat.connect();
    const { channel: ada } = await joined((await chat.connect()).client, LOBBY, { name: 'ada' });
    const away = await chat.connect(bob.userId);
    await joined(away.client, LOBBY, { name: 'bob' });
    const [first] = await sendAll(ada, ['first']);
    const seenRef = await eventually(() => {
      const frame = away.client.received.find((f) => f.event === 'new_msg');
      expect(frame).toBeDefined();
      return frame!.ref;
    }, 2000);
    away.client.close();

    const [second] = await sendAll(ada, ['second']);
    ada.push('edit_msg', { id: first!.id, body: 'first, edited' });
    await ada.assertBroadcast('msg_edited');
    ada.push('delete_msg', { id: second!.id });
    await ada.assertBroadcast('msg_deleted');

    const back = await chat.connect(bob.userId);
    const { reply } = await joined(back.client, LOBBY, { name: 'bob', recover: seenRef });
    expect(reply).toEqual({});
    const events = await eventually(() => {
      const seen = eventsOf(back.client);
      expect(seen.map(([event]) => event)).toContain('phx_stream');
      return seen.filter(([event]) => ['new_msg', 'msg_edited', 'msg_deleted'].includes(event));
    }, 2000);
    expect(events).toEqual([
      ['new_msg', second],
      ['msg_edited', { ...first, body: 'first, edited', edited_at: expect.any(String) }],
      ['msg_deleted', { ...second, body: '', deleted: true }],
    ]);
  });

  it('answers an edit that is no message (an empty body, a bad id) with invalid payload', async () => {
    const chat = chatChannels();
    const { channel: ada } = await joined((await chat.connect()).client, LOBBY, { name: 'ada' });
    const [sent] = await sendAll(ada, ['fine']);
    await ada.assertReply(ada.push('edit_msg', { id: sent!.id, body: '   ' }), 'error', (reply) => (reply as { reason: string }).reason === 'invalid payload');
    await ada.assertReply(ada.push('delete_msg', { id: 'x' }), 'error', (reply) => (reply as { reason: string }).reason === 'invalid payload');
  });

  it('budgets edits and deletes per user (EDITS_PER_USER), answered slow down', async () => {
    const chat = chatChannels({ limits: { editsPerUser: { count: 2, seconds: 60 } } });
    const { channel: ada } = await joined((await chat.connect()).client, LOBBY, { name: 'ada' });
    const [sent] = await sendAll(ada, ['one']);
    ada.push('edit_msg', { id: sent!.id, body: 'two' });
    ada.push('edit_msg', { id: sent!.id, body: 'three' });
    await ada.assertReply(ada.push('delete_msg', { id: sent!.id }), 'error', { reason: 'slow down' });
    const { reply } = await joined<HistoryPage>((await chat.connect(null)).client, LOBBY);
    expect(reply.messages.map((message) => message.body)).toEqual(['three']);
  });
});
