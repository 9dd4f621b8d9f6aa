/**
 * The chat's rooms resumed by the official client, both versions, with `recoverableChannel` from
 * `starling-channels/client` (what the page uses): over a real server and a line that is cut and restored,
 * a rejoin gets exactly the messages it missed, once and in order, `phx_stream {recovered: true}`,
 * and no page of history is read from the store.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { recoverableChannel, type StreamNotice } from 'starling-channels/client';
import { afterEach, describe, expect, it } from 'vitest';
import { startChat, type Chat } from '../../src/app.ts';
import { sendAll, UNLIMITED, type WireMessage } from '../support/chat.ts';
import { eventually } from '@starling/test-support/eventually';
import { ClientPool, Inbox, joined, officialClients } from '@starling/test-support/official-client';
import { TcpProxy } from '@starling/test-support/tcp-proxy';

/** `chat_history_pages_total{request}` from the chat's `/metrics`. */
async function pagesRead(chat: Chat, request: 'join' | 'history'): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${chat.port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`chat_history_pages_total{request="${request}"} `));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

describe.each(officialClients)('a room resumed with recoverableChannel and $name', (client) => {
  let chat: Chat | undefined;
  let pool: ClientPool | undefined;
  let proxy: TcpProxy | undefined;
  let dataDir: string | undefined;

  afterEach(async () => {
    await pool?.close();
    await proxy?.close();
    await chat?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('gets what it missed while its line was cut, once and in order, then recovered: true, without a page read from the store', async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'starling-chat-'));
    chat = await startChat({ port: 0, dataDir, logger: pino({ level: 'silent' }), limits: UNLIMITED });
    pool = new ClientPool(client);
    proxy = await TcpProxy.start(chat.port);
    const { token } = (await (await fetch(`http://127.0.0.1:${chat.port}/api/identity`, { method: 'POST', body: '{}' })).json()) as { token: string };
    const writer = pool.socket(`ws://127.0.0.1:${chat.port}/socket`, { params: { token } }).channel('rooms:lobby', { name: 'alice' });
    await joined(writer);
    const reader = pool.socket(`ws://127.0.0.1:${proxy.port}/socket`);
    const notices = new Inbox<StreamNotice>();
    const room = recoverableChannel(reader, 'rooms:lobby', { onStream: notices.add });
    const heard = new Inbox<WireMessage>();
    room.channel.on('new_msg', heard.add);
    expect(await joined(room.channel)).toEqual({ messages: [], more: false });
    expect(await notices.next()).toEqual({ position: expect.any(String) });
    await sendAll(writer, ['seen']);
    await heard.next((message) => message.body === 'seen');
    const seenAt = room.position;
    const joinPages = await pagesRead(chat, 'join');

    proxy.cut();
    await eventually(() => expect(reader.isConnected()).toBe(false), 2000);
    await sendAll(writer, ['missed 1', 'missed 2', 'missed 3']);
    proxy.restore();

    const notice = await notices.next(() => true, 5000);
    expect(notice).toEqual({ position: expect.any(String), recovered: true });
    // Three publications after the one seen, in the same epoch.
    const [epoch, offset] = String(seenAt).split(':');
    expect(notice.position).toBe(`${epoch}:${Number(offset) + 3}`);
    expect(room.position).toBe(notice.position);
    await sendAll(writer, ['live']);
    await heard.next((message) => message.body === 'live');
    expect(heard.items.map((message) => message.body)).toEqual(['missed 1', 'missed 2', 'missed 3']);
    expect(await pagesRead(chat, 'join')).toBe(joinPages);
  });
});
