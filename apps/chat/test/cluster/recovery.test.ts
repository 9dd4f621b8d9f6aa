/**
 * Reconnects across nodes: two chats sharing a Redis (`REDIS_URL`, or a Redis Cluster of three
 * masters with `REDIS_CLUSTER_NODES`) and a data directory keep the rooms' replay streams in
 * Redis, so a client whose node became unreachable reconnects to the other one and gets exactly
 * what it missed there, without a page read from the store.
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
import { ClientPool, Inbox, joined, phoenix18Client } from '@starling/test-support/official-client';
import { startThrowawayRedis } from '@starling/test-support/redis';
import { startThrowawayRedisCluster } from '@starling/test-support/redis-cluster';
import { TcpProxy } from '@starling/test-support/tcp-proxy';

const chats: Chat[] = [];
let redis: { stop(): Promise<void> } | undefined;

/** The engines the nodes can share, each started fresh for its test: the chat's options for it. */
const engines = [
  {
    name: 'one Redis',
    async start(): Promise<{ redisUrl: string }> {
      const server = await startThrowawayRedis();
      redis = server;
      return { redisUrl: server.url };
    },
  },
  {
    name: 'a Redis Cluster',
    async start(): Promise<{ redisClusterNodes: string[] }> {
      const cluster = await startThrowawayRedisCluster();
      redis = cluster;
      return { redisClusterNodes: cluster.nodesEnv.split(',') };
    },
  },
];
let pool: ClientPool | undefined;
let proxy: TcpProxy | undefined;
let dataDir: string | undefined;

afterEach(async () => {
  await pool?.close();
  await proxy?.close();
  for (const chat of chats.splice(0)) await chat.close();
  await redis?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  redis = pool = proxy = dataDir = undefined;
});

/** `chat_history_pages_total{request}` from a node's `/metrics`. */
async function pagesRead(chat: Chat, request: 'join' | 'history'): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${chat.port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`chat_history_pages_total{request="${request}"} `));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

describe.each(engines.map((engine) => [engine.name, engine] as const))('two chat nodes on %s', (_name, engine) => {
  it('resume a room on the other node: the missed messages once and in order, recovered: true, no page read', async () => {
    const shared = await engine.start();
    dataDir = mkdtempSync(join(tmpdir(), 'starling-chat-'));
    const options = { port: 0, dataDir, ...shared, logger: pino({ level: 'silent' }), limits: UNLIMITED };
    const first = await startChat(options);
    chats.push(first);
    const second = await startChat(options);
    chats.push(second);
    pool = new ClientPool(phoenix18Client);
    proxy = await TcpProxy.start(first.port);

    const { token } = (await (await fetch(`http://127.0.0.1:${second.port}/api/identity`, { method: 'POST', body: '{}' })).json()) as { token: string };
    const writer = pool.socket(`ws://127.0.0.1:${second.port}/socket`, { params: { token } }).channel('rooms:lobby', { name: 'alice' });
    await joined(writer);
    const reader = pool.socket(`ws://127.0.0.1:${proxy.port}/socket`);
    const notices = new Inbox<StreamNotice>();
    const room = recoverableChannel(reader, 'rooms:lobby', { onStream: notices.add });
    const heard = new Inbox<WireMessage>();
    room.channel.on('new_msg', heard.add);
    await joined(room.channel);
    await notices.next(); // phx_stream: the first node's Redis subscription is in place
    // Written on the second node, heard on the first: the publication went through Redis.
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
});
