/**
 * Two chat nodes sharing an engine — a standalone Redis (`REDIS_URL`), a Redis Cluster of three
 * masters (`REDIS_CLUSTER_NODES`) or NATS with JetStream (`NATS_URL`), one private engine per
 * kind for the whole file — and a data directory:
 * - a message written on one node is heard on the other, and a client whose node became
 *   unreachable reconnects to the other one and gets exactly what it missed from the rooms'
 *   replay streams in the engine, without a page read from the store;
 * - a node killed with SIGKILL (no goodbye) leaves the other node's presence list once it has
 *   been silent for the survivor's down bound.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Presence as PhoenixPresence, PresenceEntry } from 'phoenix';
import { pino } from 'pino';
import { recoverableChannel, type StreamNotice } from 'starling-channels/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startChat, type Chat } from '../../src/app.ts';
import { ChatProcess } from '../support/chat-process.ts';
import { ChatApi, sendAll, UNLIMITED, type WireMessage } from '../support/chat.ts';
import { ENGINES, startThrowawayEngine, type ThrowawayEngine } from '@starling/test-support/engines';
import { eventually } from '@starling/test-support/eventually';
import { ClientPool, freePort, Inbox, joined, phoenix18Client } from '@starling/test-support/official-client';
import { TcpProxy } from '@starling/test-support/tcp-proxy';

const chats: Chat[] = [];
const processes: ChatProcess[] = [];
let pool: ClientPool | undefined;
let proxy: TcpProxy | undefined;
let dataDir: string | undefined;

afterEach(async () => {
  await pool?.close();
  await proxy?.close();
  for (const chat of chats.splice(0)) await chat.close();
  for (const server of processes.splice(0)) await server.kill('SIGKILL');
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  pool = proxy = dataDir = undefined;
});

/** `chat_history_pages_total{request}` from a node's `/metrics`. */
async function pagesRead(chat: Chat, request: 'join' | 'history'): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${chat.port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`chat_history_pages_total{request="${request}"} `));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

/** The names a Presence lists, sorted. */
function names(presence: PhoenixPresence): string[] {
  return presence.list((_key: string, entry: PresenceEntry) => String((entry.metas[0] as { name?: string } | undefined)?.name)).sort();
}

describe.each(ENGINES.map(({ kind, label }) => [label, kind] as const))('two chat nodes on %s', (_label, kind) => {
  let engine: ThrowawayEngine;
  beforeAll(async () => {
    engine = await startThrowawayEngine(kind);
  }, 60_000);
  afterAll(async () => {
    await engine?.stop();
  });

  it('resume a room on the other node: the missed messages once and in order, recovered: true, no page read', async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'starling-chat-'));
    const options = { port: 0, dataDir, ...engine.options, logger: pino({ level: 'silent' }), limits: UNLIMITED };
    const first = await startChat(options);
    chats.push(first);
    const second = await startChat(options);
    chats.push(second);
    pool = new ClientPool(phoenix18Client);
    proxy = await TcpProxy.start(first.port);

    const { token } = await new ChatApi(`http://127.0.0.1:${second.port}`).newUser();
    const writer = pool.socket(`ws://127.0.0.1:${second.port}/socket`, { params: { token } }).channel('rooms:lobby', { name: 'alice' });
    await joined(writer);
    const reader = pool.socket(`ws://127.0.0.1:${proxy.port}/socket`);
    const notices = new Inbox<StreamNotice>();
    const room = recoverableChannel(reader, 'rooms:lobby', { onStream: notices.add });
    const heard = new Inbox<WireMessage>();
    room.channel.on('new_msg', heard.add);
    await joined(room.channel);
    await notices.next(); // phx_stream: the first node's subscription is in place
    // Written on the second node, heard on the first: the publication went through the engine.
    await sendAll(writer, ['seen']);
    await heard.next((message) => message.body === 'seen');
    const joinPages = await pagesRead(second, 'join');

    proxy.cut();
    await eventually(() => expect(reader.isConnected()).toBe(false), 2000);
    await sendAll(writer, ['missed 1', 'missed 2', 'missed 3']);
    // The first node is gone for this client: the line now leads to the second.
    proxy.retarget(second.port);
    proxy.restore();

    expect(await notices.next(() => true, 5000)).toEqual({ position: expect.any(String), recovered: true });
    expect(heard.items.map((message) => message.body)).toEqual(['missed 1', 'missed 2', 'missed 3']);
    expect(await pagesRead(second, 'join')).toBe(joinPages);
    expect(second.endpoint.connectionCount).toBe(2);
  });

  it('drop the users of a node killed with SIGKILL from the survivor’s presence list', async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'starling-chat-'));
    const secretKeyBase = randomBytes(48).toString('base64');
    // The survivor calls a node silent for 4 s gone (the default is 10 s), beside the killed node's
    // heartbeat every 1.5 s.
    const survivor = await startChat({
      port: 0,
      dataDir,
      secretKeyBase,
      ...engine.options,
      logger: pino({ level: 'silent' }),
      presence: { downAfterMs: 4000 },
    });
    chats.push(survivor);
    // The node that dies is the real server process, as deployed.
    const doomed = await ChatProcess.start({ PORT: String(await freePort()), DATA_DIR: dataDir, SECRET_KEY_BASE: secretKeyBase, ...engine.env }, 30_000);
    processes.push(doomed);
    pool = new ClientPool(phoenix18Client);

    const alice = await new ChatApi(doomed.baseUrl).newUser();
    const bob = await new ChatApi(`http://127.0.0.1:${survivor.port}`).newUser();
    const onDoomed = pool
      .socket(`${doomed.baseUrl.replace('http', 'ws')}/socket`, { params: { token: alice.token } })
      .channel('rooms:lobby', { name: 'alice' });
    const onSurvivor = pool.socket(`ws://127.0.0.1:${survivor.port}/socket`, { params: { token: bob.token } }).channel('rooms:lobby', { name: 'bob' });
    const seenBySurvivor = new pool.client.Presence(onSurvivor);
    const seenByDoomed = new pool.client.Presence(onDoomed);
    await joined(onSurvivor);
    await joined(onDoomed);
    const both = [`alice#${alice.mark}`, `bob#${bob.mark}`];
    await eventually(() => expect(names(seenBySurvivor)).toEqual(both), 10_000);
    await eventually(() => expect(names(seenByDoomed)).toEqual(both), 10_000);

    await doomed.kill('SIGKILL');
    await eventually(() => expect(names(seenBySurvivor)).toEqual([`bob#${bob.mark}`]), 15_000);
  });
});
