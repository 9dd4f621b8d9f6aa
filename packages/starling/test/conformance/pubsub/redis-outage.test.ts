/**
 * Redis-specific cases of the RedisPubSubAdapter, on a private redis-server this file starts,
 * kills and restarts (never the machine's shared one): the envelope on the wire, byte for byte,
 * and what happens to hostile or foreign messages; prefix isolation; interest; start with Redis
 * down; and an outage — kill Redis, keep broadcasting, restart it, measure how long until
 * broadcasts cross again.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { RedisPubSubAdapter } from '../../../src/redis/index.ts';
import { PubSub } from '../../../src/pubsub/pubsub.ts';
import { eventually } from '@starling/test-support/eventually';
import { startThrowawayRedis, type ThrowawayRedis } from '@starling/test-support/redis';
import { Recorder } from './pubsub-adapter.suite.ts';

/** Log lines of the adapters, parsed, to check what they report. */
const logs: Array<{ level: number; msg: string; err?: { code?: string } }> = [];
const logger = pino(
  { level: 'debug' },
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(JSON.parse(chunk.toString()) as (typeof logs)[number]);
      done();
    },
  }),
);

let redis: ThrowawayRedis;
const started: PubSub[] = [];
const rawClients: Redis[] = [];
const newPrefix = (): string => `outage-test-${randomBytes(4).toString('hex')}`;

/** A started node with its own adapter on the throwaway Redis. */
async function node(prefix: string, nodeId?: string): Promise<{ pubsub: PubSub; adapter: RedisPubSubAdapter }> {
  const adapter = new RedisPubSubAdapter({ url: redis.url, prefix, logger, connectTimeoutMs: 3000 });
  const pubsub = new PubSub(nodeId === undefined ? { adapter } : { adapter, nodeId });
  started.push(pubsub);
  await pubsub.start();
  return { pubsub, adapter };
}

/** A plain ioredis client, to speak to Redis without the adapter. */
async function raw(): Promise<Redis> {
  const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
  client.on('error', () => undefined);
  rawClients.push(client);
  await client.connect();
  return client;
}

beforeAll(async () => {
  redis = await startThrowawayRedis();
});

afterEach(async () => {
  await Promise.all(started.splice(0).map((pubsub) => pubsub.close()));
  for (const client of rawClients.splice(0)) client.disconnect();
});

afterAll(async () => {
  await redis.stop();
});

describe('RedisPubSubAdapter: the envelope on the wire', () => {
  it('publishes the version-1 envelope on <prefix>:t:<topic>, byte for byte', async () => {
    const prefix = newPrefix();
    const { pubsub } = await node(prefix, 'node-a');
    const spy = await raw();
    const seen: Array<{ channel: string; bytes: Buffer }> = [];
    spy.on('messageBuffer', (channel: Buffer, bytes: Buffer) => seen.push({ channel: channel.toString(), bytes }));
    await spy.subscribe(`${prefix}:t:room`);

    pubsub.broadcast('room', 'new_msg', { body: 'hi' });
    pubsub.broadcast('room', 'file', { binary: new Uint8Array([0, 255]) });
    await eventually(() => expect(seen).toHaveLength(2));

    expect(seen[0]!.channel).toBe(`${prefix}:t:room`);
    expect([...seen[0]!.bytes]).toEqual([
      ...[0x01], //                          format version 1
      ...[0x00, 0x06], //                    origin length 6 (u16 BE)
      ...Buffer.from('node-a'), //           origin node id
      ...[0x00], //                          payload kind 0: JSON
      ...[0x00, 0x00, 0x00, 0x04], //        topic length 4 (u32 BE)
      ...Buffer.from('room'), //             topic
      ...[0x00, 0x00, 0x00, 0x07], //        event length 7 (u32 BE)
      ...Buffer.from('new_msg'), //          event
      ...Buffer.from('{"body":"hi"}'), //    payload: the rest, JSON text
    ]);
    expect([...seen[1]!.bytes]).toEqual([
      ...[0x01, 0x00, 0x06, ...Buffer.from('node-a')], // version 1, origin
      ...[0x01], //                                       payload kind 1: raw bytes
      ...[0x00, 0x00, 0x00, 0x04, ...Buffer.from('room')],
      ...[0x00, 0x00, 0x00, 0x04, ...Buffer.from('file')],
      ...[0x00, 0xff], //                                 payload: the rest, raw bytes
    ]);
  });

  it('delivers a hand-built envelope; drops other versions, truncated, lying and foreign messages, and survives', async () => {
    const prefix = newPrefix();
    const { pubsub, adapter } = await node(prefix);
    const room = new Recorder();
    await pubsub.subscribe('room', room);
    const publisher = await raw();
    const channel = `${prefix}:t:room`;
    const envelope = (version: number, kind: number, topic: string, payload: Buffer): Buffer =>
      Buffer.concat([
        Buffer.from([version]), //                      format version
        Buffer.from([0x00, 0x03]), //                   origin length 3
        Buffer.from('raw'), //                          origin
        Buffer.from([kind]), //                         payload kind
        Buffer.from([0, 0, 0, Buffer.byteLength(topic)]), // topic length
        Buffer.from(topic),
        Buffer.from([0, 0, 0, 7]), //                   event length 7
        Buffer.from('new_msg'),
        payload, //                                     the rest
      ]);
    const good = envelope(1, 0, 'room', Buffer.from('{"body":"hand-made"}'));
    const logsBefore = logs.length;

    await publisher.publish(channel, envelope(99, 0, 'room', Buffer.from('{}'))); // unknown format version
    await publisher.publish(channel, good.subarray(0, 12)); // truncated inside the topic
    await publisher.publish(channel, envelope(1, 7, 'room', Buffer.from('{}'))); // unknown payload kind
    await publisher.publish(channel, envelope(1, 0, 'room', Buffer.from('{not json'))); // payload not JSON
    await publisher.publish(channel, envelope(1, 0, 'othr', Buffer.from('{}'))); // topic ≠ channel
    await publisher.publish(channel, Buffer.alloc(0)); // empty
    await publisher.publish(channel, 'hello'); // foreign: 'h' = version 104
    await publisher.publish(channel, good);
    await publisher.publish(channel, envelope(1, 1, 'room', Buffer.from([1, 2, 3])));

    await eventually(() => expect(room.received).toHaveLength(2));
    expect(room.received[0]).toEqual({ topic: 'room', event: 'new_msg', payload: { body: 'hand-made' } });
    expect(room.received[1]!.payload).toEqual({ binary: new Uint8Array([1, 2, 3]) });
    expect(adapter.stats).toMatchObject({ malformed: 7, received: 2 });
    // Logged with back-off (1st, 2nd, 4th), each with its stable code.
    const warnings = logs.slice(logsBefore).filter((line) => line.msg.startsWith('dropped an undecodable message'));
    expect(warnings.map((line) => line.err?.code)).toEqual(['ERR_UNSUPPORTED_VSN', 'ERR_MALFORMED_FRAME', 'ERR_MALFORMED_FRAME']);

    // Still working.
    const { pubsub: other } = await node(prefix);
    other.broadcast('room', 'later', {});
    await eventually(() => expect(room.events).toEqual(['new_msg', 'new_msg', 'later']));
  });
});

describe('RedisPubSubAdapter: isolation and interest', () => {
  it('keeps clusters with different prefixes apart on one Redis', async () => {
    const [prefixA, prefixB] = [newPrefix(), newPrefix()];
    const { pubsub: a1 } = await node(prefixA);
    const { pubsub: a2 } = await node(prefixA);
    const { pubsub: b1, adapter: b1Adapter } = await node(prefixB);
    const onA2 = new Recorder();
    const onB1 = new Recorder();
    await a2.subscribe('room', onA2);
    await b1.subscribe('room', onB1);
    a1.broadcast('room', 'for-a', {});
    await eventually(() => expect(onA2.events).toEqual(['for-a']));
    // Redis queued 'for-a' to every subscribed connection before A2 got it; B1's subscriber
    // connection answers a later SUBSCRIBE only after what was queued before it.
    await b1.subscribe('barrier', new Recorder());
    expect(onB1.events).toEqual([]);
    expect(b1Adapter.stats.received).toBe(0);
  });

  it('does not even receive topics it has no local subscriber of', async () => {
    const prefix = newPrefix();
    const { pubsub: a } = await node(prefix);
    const { pubsub: b, adapter: bAdapter } = await node(prefix);
    const marker = new Recorder();
    await b.subscribe('marker', marker);
    for (let i = 0; i < 10; i++) a.broadcast('room', 'nobody-here', {});
    a.broadcast('marker', 'marker', {});
    await eventually(() => expect(marker.events).toEqual(['marker']));
    expect(bAdapter.stats.received).toBe(1);
    expect(bAdapter.stats.malformed).toBe(0);
  });
});

describe('RedisPubSubAdapter: start and outages', () => {
  it('rejects start with ERR_PUBSUB_ADAPTER after connectTimeoutMs when Redis is unreachable', async () => {
    const adapter = new RedisPubSubAdapter({ url: 'redis://127.0.0.1:1', logger, connectTimeoutMs: 300 });
    const startedAt = Date.now();
    const logsBefore = logs.length;
    const error = await adapter.start({ id: 'lonely', deliver: () => undefined, lost: () => undefined }).catch((err: unknown) => err);
    expect(error).toMatchObject({ name: 'StarlingError', code: 'ERR_PUBSUB_ADAPTER' });
    expect(Date.now() - startedAt).toBeLessThan(2000);
    // A Redis that never answered was not "lost": the log says it was never reached.
    const said = logs.slice(logsBefore).map((line) => line.msg);
    expect(said.some((msg) => msg.startsWith('Redis unreachable: never connected'))).toBe(true);
    expect(said.filter((msg) => msg.startsWith('Redis connection lost'))).toEqual([]);
    adapter.publish({ topic: 'room', event: 'x', payload: {} }); // never throws, even now
    expect(adapter.stats.dropped).toBe(1);
    await adapter.close();
  });

  it('degrades to local delivery while Redis is down and resumes within seconds after it is back', async () => {
    const unhandled: unknown[] = [];
    const collect = (err: unknown): void => void unhandled.push(err);
    process.on('unhandledRejection', collect);
    process.on('uncaughtException', collect);
    // ioredis reports an 'error' event nobody listens to on console.error.
    const consoleError = vi.spyOn(console, 'error');
    try {
      const prefix = newPrefix();
      const { pubsub: a, adapter: aAdapter } = await node(prefix);
      const { pubsub: b } = await node(prefix);
      const onA = new Recorder();
      const onB = new Recorder();
      await a.subscribe('room', onA);
      await b.subscribe('room', onB);
      a.broadcast('room', 'before', {});
      await eventually(() => expect(onB.events).toEqual(['before']));
      expect(a.connected).toBe(true);

      const logsBefore = logs.length;
      await redis.stop();
      // Readiness checks see the outage (`pubsub.connected`), and later its end.
      await eventually(() => expect(a.connected).toBe(false));
      const droppedBefore = aAdapter.stats.dropped;
      for (let i = 0; i < 3; i++) {
        expect(() => a.broadcast('room', 'during', { i })).not.toThrow();
        expect(onA.events.at(-1)).toBe('during'); // local subscribers: synchronously, as ever
      }
      await eventually(() => expect(aAdapter.stats.dropped - droppedBefore).toBe(3));
      // A subscription made during the outage resolves promptly and takes effect on reconnect.
      const late = new Recorder();
      const lateSubscribedAt = Date.now();
      await b.subscribe('late', late);
      expect(Date.now() - lateSubscribedAt).toBeLessThan(500);
      // Long enough for the reconnect back-off to reach its cap, as in a real outage: four refused
      // reconnects (100, 200, 400, 800 ms) on each of the four connections.
      const refused = (): number => logs.slice(logsBefore).filter((line) => /^Redis (connection lost|still unreachable)/.test(line.msg)).length;
      await eventually(() => expect(refused()).toBeGreaterThanOrEqual(16), 10_000);

      const restartedAt = performance.now();
      await redis.restart();
      const redisUpAt = performance.now();
      let probes = 0;
      await eventually(
        () => {
          a.broadcast('room', 'probe', { n: ++probes });
          expect(onB.events).toContain('probe');
        },
        10_000,
        25,
      );
      const resumedAt = performance.now();
      await eventually(() => expect(a.connected).toBe(true));
      const resumeMs = Math.round(resumedAt - restartedAt);
      console.info(
        `[redis-outage] broadcasts resumed ${resumeMs} ms after restarting Redis ` +
          `(${Math.round(resumedAt - redisUpAt)} ms after it answered; ${probes} probes)`,
      );
      expect(resumeMs).toBeLessThan(10_000);

      a.broadcast('room', 'after', {});
      a.broadcast('late', 'late-msg', {});
      await eventually(() => expect(late.events).toEqual(['late-msg']));
      await eventually(() => expect(onB.events.at(-1)).toBe('after'));
      // Dropped, not queued and replayed; the rest in publish order.
      expect(onB.events).not.toContain('during');
      expect(onB.events[0]).toBe('before');
      const probeNumbers = onB.received.filter((m) => m.event === 'probe').map((m) => (m.payload as { n: number }).n);
      expect(probeNumbers).toEqual([...probeNumbers].sort((x, y) => x - y));

      // The outage was reported once per connection, and so was the recovery.
      const outage = logs.slice(logsBefore);
      expect(outage.filter((line) => line.msg.startsWith('Redis connection lost')).length).toBe(4);
      expect(outage.filter((line) => line.msg === 'Redis connection restored').length).toBe(4);
      expect(unhandled).toEqual([]);
      expect(consoleError).not.toHaveBeenCalled();
    } finally {
      process.off('unhandledRejection', collect);
      process.off('uncaughtException', collect);
      consoleError.mockRestore();
    }
  });

  it('closes promptly while Redis is down', async () => {
    const { pubsub, adapter } = await node(newPrefix());
    await pubsub.subscribe('room', new Recorder());
    await redis.stop();
    const closingAt = Date.now();
    await pubsub.close();
    expect(Date.now() - closingAt).toBeLessThan(500);
    adapter.publish({ topic: 'room', event: 'x', payload: {} });
    expect(adapter.stats.dropped).toBeGreaterThan(0);
    await redis.restart();
  });
});
