/**
 * History over Redis when a node's subscription drops (docs/recovery.md, "Positions": "a node
 * that misses some reads them back from the stream"): node B's subscriber connection is killed
 * (CLIENT KILL of that one connection, on the shared Redis) while node A publishes; when the next
 * publication reaches B, B sees the hole in the offsets and fills it from the stream before going
 * on — its subscribers get every offset once and in order. A hole the stream no longer covers is
 * counted and delivery goes on.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisPubSubAdapter } from '../../../src/redis/index.ts';
import { PubSub } from '../../../src/pubsub/pubsub.ts';
import type { HistoryOptions } from '../../../src/pubsub/stream.ts';
import { eventually } from '@starling/test-support/eventually';
import { ensureRedis, startThrowawayRedis } from '@starling/test-support/redis';
import { Endpoint, Socket, accept, ok, silentLogger } from '../../../src/index.ts';
import { ChannelTest } from '../../../src/testing/index.ts';
import { Recorder } from './pubsub-adapter.suite.ts';

const logger = pino({ level: 'silent' });
const started: PubSub[] = [];
let admin: Redis | null = null;

afterEach(async () => {
  await Promise.all(started.splice(0).map((node) => node.close()));
  admin?.disconnect();
  admin = null;
});

/** Nodes A and B of one cluster; B's connections are named `<b>:pub` / `<b>:sub` so a test can find them. */
async function cluster(history: HistoryOptions): Promise<{ a: PubSub; b: PubSub; bName: string; url: string }> {
  const url = await ensureRedis();
  const prefix = `starling-history-${randomBytes(4).toString('hex')}`;
  const bName = `${prefix}-B`;
  const a = new PubSub({ adapter: new RedisPubSubAdapter({ url, prefix, logger }), history });
  const b = new PubSub({ adapter: new RedisPubSubAdapter({ url, prefix, logger, redisOptions: { connectionName: bName } }), history });
  started.push(a, b);
  await Promise.all([a.start(), b.start()]);
  return { a, b, bName, url };
}

/** Kills exactly one client connection, found by its name. */
async function killConnection(url: string, name: string): Promise<void> {
  admin ??= new Redis(url);
  const list = (await admin.client('LIST')) as string;
  const line = list.split('\n').find((entry) => entry.includes(` name=${name} `));
  const id = line?.match(/^id=(\d+) /)?.[1];
  if (id === undefined) throw new Error(`no Redis client named ${name}`);
  await admin.client('KILL', 'ID', id);
}

const offsets = (recorder: Recorder): number[] => recorder.received.map((m) => m.position?.offset ?? -1);

describe('RedisPubSubAdapter history: a node whose subscription dropped', () => {
  it('fills the hole from the stream: its subscribers get every offset once and in order', async () => {
    const { a, b, bName, url } = await cluster({ topics: ['room'], size: 100 });
    const onB = new Recorder();
    await b.subscribe('room', onB);
    for (let i = 1; i <= 5; i++) a.broadcast('room', 'n', { i });
    await eventually(() => expect(offsets(onB)).toEqual([1, 2, 3, 4, 5]));

    await killConnection(url, `${bName}:sub`);
    for (let i = 6; i <= 10; i++) a.broadcast('room', 'n', { i }); // B is not subscribed now
    await eventually(async () => {
      // Once B has resubscribed, a publication reaches it and reveals the hole.
      a.broadcast('room', 'probe', {});
      await eventually(() => expect(onB.events).toContain('probe'), 300);
    }, 10_000);

    const received = onB.received.map((m) => m.position?.offset);
    expect(received).toEqual(Array.from({ length: received.length }, (_, i) => i + 1));
    expect(onB.received.slice(5, 10).map((m) => m.payload)).toEqual([6, 7, 8, 9, 10].map((i) => ({ i })));
    expect(b.stats.gapsFilled).toBeGreaterThanOrEqual(1);
    expect(b.stats.gapsLost).toBe(0);
  });

  it('counts a hole the stream no longer covers and goes on with what comes next', async () => {
    const { a, b, bName, url } = await cluster({ topics: ['room'], size: 3 });
    const onB = new Recorder();
    await b.subscribe('room', onB);
    a.broadcast('room', 'n', { i: 1 });
    await eventually(() => expect(offsets(onB)).toEqual([1]));

    await killConnection(url, `${bName}:sub`);
    for (let i = 2; i <= 10; i++) a.broadcast('room', 'n', { i }); // the stream keeps 8…10 only
    await eventually(async () => {
      a.broadcast('room', 'probe', {});
      await eventually(() => expect(onB.events).toContain('probe'), 300);
    }, 10_000);

    expect(b.stats.gapsLost).toBe(1);
    const after = offsets(onB).slice(1);
    expect(after[0]).toBeGreaterThan(2);
    expect(after).toEqual(Array.from({ length: after.length }, (_, i) => (after[0] as number) + i)); // in order, no duplicate
  });
});

describe('RedisPubSubAdapter history: Redis unreachable', () => {
  it('delivers no publication (not even locally, counted) and ends joins with phx_error until Redis is back', async () => {
    const redis = await startThrowawayRedis();
    const pubsub = new PubSub({
      adapter: new RedisPubSubAdapter({ url: redis.url, logger, maxReconnectDelayMs: 100 }),
      history: { topics: ['rooms:*'] },
    });
    const socket = new Socket({ connect: () => accept({}) }).channel('rooms:*', { join: () => ok() });
    const endpoint = new Endpoint({ logger: silentLogger, pubsub }).socket('/socket', socket, { websocket: false, longpoll: false });
    const test = new ChannelTest(endpoint);
    try {
      const client = await test.connect();
      const { channel } = await client.join('rooms:a');
      await channel.assertPush('phx_stream');

      await redis.stop();
      endpoint.broadcast('rooms:a', 'news', { n: 1 });
      // Counted once the client has seen the connection go (at once, or when the write fails).
      await eventually(() => expect(pubsub.stats.appendFailures).toBe(1));
      await channel.refutePush('news', undefined, { timeoutMs: 100 });
      const { status, channel: during } = await (await test.connect()).join('rooms:b');
      expect(status).toBe('ok'); // the app's join accepted it; the stream cannot be read
      await during.assertPush('phx_error', { reason: 'channel_crash' });

      await redis.restart();
      await eventually(async () => {
        const { channel: after } = await (await test.connect()).join('rooms:c');
        await after.assertPush('phx_stream', undefined, { timeoutMs: 300 });
      }, 10_000);
    } finally {
      await test.close();
      await endpoint.close();
      await redis.stop();
    }
  });
});

describe('RedisPubSubAdapter history: a publication lost to an outage', () => {
  it('tells the topic’s channels phx_stream {recovered: false}: on the publishing node at once, on the others once Redis is back', async () => {
    const redis = await startThrowawayRedis();
    const nodes = ['a', 'b'].map(() => {
      const pubsub = new PubSub({ adapter: new RedisPubSubAdapter({ url: redis.url, logger, maxReconnectDelayMs: 100 }), history: { topics: ['rooms:*'] } });
      const socket = new Socket({ connect: () => accept({}) }).channel('rooms:*', { join: () => ok() });
      const endpoint = new Endpoint({ logger: silentLogger, pubsub }).socket('/socket', socket, { websocket: false, longpoll: false });
      return { pubsub, endpoint, test: new ChannelTest(endpoint) };
    });
    try {
      const [a, b] = nodes as [(typeof nodes)[number], (typeof nodes)[number]];
      const onA = (await (await a.test.connect()).join('rooms:lost')).channel;
      const onB = (await (await b.test.connect()).join('rooms:lost')).channel;
      for (const channel of [onA, onB]) await channel.assertPush('phx_stream');
      a.endpoint.broadcast('rooms:lost', 'news', { n: 1 });
      await onB.assertPush('news', { n: 1 });
      const before = (await onA.assertPush('news', { n: 1 })).ref;

      await redis.stop();
      await eventually(() => expect(a.pubsub.connected).toBe(false));
      a.endpoint.broadcast('rooms:lost', 'news', { n: 2 }); // stored by the app, but never appended
      // Here at once: the stream has a hole no read can fill, so the client must refetch.
      expect((await onA.assertPush('phx_stream', { position: before, recovered: false })).payload).toEqual({ position: before, recovered: false });
      await onA.refutePush('news');
      await onB.refutePush('phx_stream', undefined, { timeoutMs: 300 }); // unreachable while Redis is down

      await redis.restart();
      await onB.assertPush('phx_stream', (payload) => (payload as { recovered?: unknown }).recovered === false, { timeoutMs: 10_000 });
    } finally {
      for (const { test, endpoint } of nodes) {
        await test.close();
        await endpoint.close();
      }
      await redis.stop();
    }
  });
});
