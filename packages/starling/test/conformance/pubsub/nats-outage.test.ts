/**
 * NATS-specific cases of the NatsPubSubAdapter, on a private nats-server this file starts, kills
 * and restarts (never the machine's shared one): topics as subjects and the envelope on the wire;
 * hostile or foreign messages; start with NATS down; an outage — kill NATS, keep broadcasting,
 * restart it, measure how long until broadcasts cross again; history while NATS is unreachable;
 * and a server that comes back without its store, whose streams start new epochs.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { NatsPubSubAdapter } from '../../../src/nats/index.ts';
import { PubSub } from '../../../src/pubsub/pubsub.ts';
import type { HistoryOptions } from '../../../src/pubsub/stream.ts';
import { Endpoint, Socket, accept, ok, silentLogger } from '../../../src/index.ts';
import { ChannelTest } from '../../../src/testing/index.ts';
import { eventually, sleep } from '@starling/test-support/eventually';
import { startThrowawayNats, type ThrowawayNats } from '@starling/test-support/nats';
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

let nats: ThrowawayNats;
const started: PubSub[] = [];
const rawClients: NatsConnection[] = [];
const newPrefix = (): string => `outage-${randomBytes(4).toString('hex')}`;

/** A started node with its own adapter on the throwaway NATS. */
async function node(prefix: string, options: { nodeId?: string; history?: HistoryOptions } = {}): Promise<{ pubsub: PubSub; adapter: NatsPubSubAdapter }> {
  const adapter = new NatsPubSubAdapter({ servers: nats.url, prefix, logger, connectTimeoutMs: 3000, maxReconnectDelayMs: 100 });
  const pubsub = new PubSub({ adapter, nodeId: options.nodeId, history: options.history });
  started.push(pubsub);
  await pubsub.start();
  return { pubsub, adapter };
}

/** A plain NATS connection, to speak to NATS without the adapter. */
async function raw(): Promise<NatsConnection> {
  const client = await connect({ servers: nats.url });
  rawClients.push(client);
  return client;
}

beforeAll(async () => {
  nats = await startThrowawayNats();
});

afterEach(async () => {
  await Promise.all(started.splice(0).map((pubsub) => pubsub.close()));
  await Promise.all(rawClients.splice(0).map((client) => client.close()));
});

afterAll(async () => {
  await nats.stop();
});

describe('NatsPubSubAdapter: topics as subjects, the envelope on the wire', () => {
  it('publishes the version-1 envelope on <prefix>.t.<topic as base64url>, whatever characters the topic holds', async () => {
    const prefix = newPrefix();
    const { pubsub } = await node(prefix, { nodeId: 'node-a' });
    const topic = 'rooms.a *>b c';
    const spy = await raw();
    const seen: Array<{ subject: string; bytes: Uint8Array }> = [];
    spy.subscribe(`${prefix}.t.>`, { callback: (_err, msg) => void seen.push({ subject: msg.subject, bytes: msg.data }) });
    await spy.flush();

    pubsub.broadcast(topic, 'new_msg', { body: 'hi' });
    await eventually(() => expect(seen).toHaveLength(1));
    expect(seen[0]!.subject).toBe(`${prefix}.t.${Buffer.from(topic).toString('base64url')}`);
    expect([...seen[0]!.bytes]).toEqual([
      ...[0x01], //                          format version 1
      ...[0x00, 0x06], //                    origin length 6 (u16 BE)
      ...Buffer.from('node-a'), //           origin node id
      ...[0x00], //                          payload kind 0: JSON
      ...[0x00, 0x00, 0x00, 0x0d], //        topic length 13 (u32 BE)
      ...Buffer.from(topic), //              topic
      ...[0x00, 0x00, 0x00, 0x07], //        event length 7 (u32 BE)
      ...Buffer.from('new_msg'), //          event
      ...Buffer.from('{"body":"hi"}'), //    payload: the rest, JSON text
    ]);
  });

  it('drops other versions, truncated, foreign messages and envelopes whose topic is not their subject, and survives', async () => {
    const prefix = newPrefix();
    const { pubsub, adapter } = await node(prefix);
    const room = new Recorder();
    await pubsub.subscribe('room', room);
    const publisher = await raw();
    const subject = `${prefix}.t.${Buffer.from('room').toString('base64url')}`;
    const envelope = (version: number, topic: string, payload: string): Buffer =>
      Buffer.concat([
        Buffer.from([version, 0x00, 0x03]), //           format version, origin length 3
        Buffer.from('raw'), //                           origin
        Buffer.from([0x00]), //                          payload kind JSON
        Buffer.from([0, 0, 0, Buffer.byteLength(topic)]), // topic length
        Buffer.from(topic),
        Buffer.from([0, 0, 0, 7]), //                    event length 7
        Buffer.from('new_msg'),
        Buffer.from(payload), //                         the rest
      ]);
    publisher.publish(subject, envelope(99, 'room', '{}')); // unknown format version
    publisher.publish(subject, envelope(1, 'room', '{}').subarray(0, 12)); // truncated
    publisher.publish(subject, envelope(1, 'othr', '{}')); // topic ≠ subject
    publisher.publish(subject, 'hello'); // foreign
    publisher.publish(subject, envelope(1, 'room', '{"body":"hand-made"}'));
    await publisher.flush();

    await eventually(() => expect(room.received).toHaveLength(1));
    expect(room.received[0]).toEqual({ topic: 'room', event: 'new_msg', payload: { body: 'hand-made' } });
    expect(adapter.stats).toMatchObject({ malformed: 4, received: 1 });
  });

  it('refuses a prefix that cannot be a subject token', () => {
    expect(() => new NatsPubSubAdapter({ prefix: 'a.b' })).toThrow(RangeError);
    expect(() => new NatsPubSubAdapter({ prefix: 'a b' })).toThrow(RangeError);
  });
});

describe('NatsPubSubAdapter: start and outages', () => {
  it('rejects start with ERR_PUBSUB_ADAPTER after connectTimeoutMs when NATS is unreachable', async () => {
    const adapter = new NatsPubSubAdapter({ servers: 'nats://127.0.0.1:1', logger, connectTimeoutMs: 300 });
    const startedAt = Date.now();
    const error = await adapter.start({ id: 'lonely', deliver: () => undefined, lost: () => undefined }).catch((err: unknown) => err);
    expect(error).toMatchObject({ name: 'StarlingError', code: 'ERR_PUBSUB_ADAPTER' });
    expect(Date.now() - startedAt).toBeLessThan(2000);
    adapter.publish({ topic: 'room', event: 'x', payload: {} }); // never throws, even now
    expect(adapter.stats.dropped).toBe(1);
    await adapter.close();
  });

  it('degrades to local delivery while NATS is down and resumes within seconds after it is back', async () => {
    const unhandled: unknown[] = [];
    const collect = (err: unknown): void => void unhandled.push(err);
    process.on('unhandledRejection', collect);
    process.on('uncaughtException', collect);
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
      await nats.stop();
      await eventually(() => expect(a.connected).toBe(false));
      const droppedBefore = aAdapter.stats.dropped;
      for (let i = 0; i < 3; i++) {
        expect(() => a.broadcast('room', 'during', { i })).not.toThrow();
        expect(onA.events.at(-1)).toBe('during'); // local subscribers: synchronously, as ever
      }
      // Dropped and counted, not left in the client's buffer to be sent after the outage.
      expect(aAdapter.stats.dropped - droppedBefore).toBe(3);
      const late = new Recorder();
      const lateSubscribedAt = Date.now();
      await b.subscribe('late', late);
      expect(Date.now() - lateSubscribedAt).toBeLessThan(500);
      await sleep(500); // the outage itself, not a wait for a condition: several 100 ms reconnects are refused (the client reports none)

      const restartedAt = performance.now();
      await nats.restart();
      let probes = 0;
      await eventually(
        () => {
          a.broadcast('room', 'probe', { n: ++probes });
          expect(onB.events).toContain('probe');
        },
        10_000,
        25,
      );
      const resumeMs = Math.round(performance.now() - restartedAt);
      console.info(`[nats-outage] broadcasts resumed ${resumeMs} ms after restarting NATS (${probes} probes)`);
      expect(resumeMs).toBeLessThan(10_000);
      await eventually(() => expect(a.connected).toBe(true));

      a.broadcast('room', 'after', {});
      a.broadcast('late', 'late-msg', {});
      await eventually(() => expect(late.events).toEqual(['late-msg']));
      await eventually(() => expect(onB.events.at(-1)).toBe('after'));
      expect(onB.events).not.toContain('during');
      const probeNumbers = onB.received.filter((m) => m.event === 'probe').map((m) => (m.payload as { n: number }).n);
      expect(probeNumbers).toEqual([...probeNumbers].sort((x, y) => x - y));

      // The outage was reported once per node, and so was the recovery.
      const outage = logs.slice(logsBefore);
      expect(outage.filter((line) => line.msg.startsWith('NATS connection lost')).length).toBe(2);
      expect(outage.filter((line) => line.msg === 'NATS connection restored').length).toBe(2);
      expect(unhandled).toEqual([]);
      expect(consoleError).not.toHaveBeenCalled();
    } finally {
      process.off('unhandledRejection', collect);
      process.off('uncaughtException', collect);
      consoleError.mockRestore();
    }
  });

  it('closes promptly while NATS is down', async () => {
    const { pubsub, adapter } = await node(newPrefix());
    await pubsub.subscribe('room', new Recorder());
    await nats.stop();
    const closingAt = Date.now();
    await pubsub.close();
    expect(Date.now() - closingAt).toBeLessThan(500);
    adapter.publish({ topic: 'room', event: 'x', payload: {} });
    expect(adapter.stats.dropped).toBeGreaterThan(0);
    await nats.restart();
  });
});

describe('NatsPubSubAdapter history: NATS unreachable, or back without its store', () => {
  it('delivers no publication (not even locally, counted) and ends joins with phx_error until NATS is back', async () => {
    const adapter = new NatsPubSubAdapter({ servers: nats.url, prefix: newPrefix(), logger, maxReconnectDelayMs: 100 });
    const pubsub = new PubSub({ adapter, history: { topics: ['rooms:*'] } });
    const socket = new Socket({ connect: () => accept({}) }).channel('rooms:*', { join: () => ok() });
    const endpoint = new Endpoint({ logger: silentLogger, pubsub }).socket('/socket', socket, { websocket: false, longpoll: false });
    const test = new ChannelTest(endpoint);
    try {
      const client = await test.connect();
      const { channel } = await client.join('rooms:a');
      await channel.assertPush('phx_stream');

      await nats.stop();
      await eventually(() => expect(pubsub.connected).toBe(false));
      endpoint.broadcast('rooms:a', 'news', { n: 1 });
      expect(pubsub.stats.appendFailures).toBe(1);
      await channel.refutePush('news', undefined, { timeoutMs: 100 });
      const { status, channel: during } = await (await test.connect()).join('rooms:b');
      expect(status).toBe('ok'); // the app's join accepted it; the stream cannot be read
      await during.assertPush('phx_error', { reason: 'channel_crash' });

      await nats.restart();
      await eventually(async () => {
        const { channel: after } = await (await test.connect()).join('rooms:c');
        await after.assertPush('phx_stream', undefined, { timeoutMs: 300 });
      }, 10_000);
    } finally {
      await test.close();
      await endpoint.close();
    }
  });

  it('keeps positions across a restart that keeps the store, and starts a new epoch when the store is lost', async () => {
    const prefix = newPrefix();
    const history = { topics: ['room'] };
    const { pubsub: a } = await node(prefix, { history });
    const { pubsub: b } = await node(prefix, { history });
    const onB = new Recorder();
    await b.subscribe('room', onB);
    for (let i = 1; i <= 3; i++) a.broadcast('room', 'n', { i });
    await eventually(() => expect(onB.received).toHaveLength(3));
    const before = onB.received[0]!.position!;

    await nats.restart(); // same store: JetStream recovers the stream
    await eventually(() => expect(a.connected && b.connected).toBe(true), 10_000);
    const kept = await eventually(() => b.readStream('room', before), 5000);
    expect(kept).toMatchObject({ recovered: true, position: { epoch: before.epoch, offset: 3 } });
    expect(kept.publications.map((m) => m.payload)).toEqual([{ i: 2 }, { i: 3 }]);

    await nats.restart({ empty: true }); // the store is gone
    await eventually(() => expect(a.connected && b.connected).toBe(true), 10_000);
    const seen = onB.received.length;
    // Appends made before JetStream is ready again are dropped; retry until one arrives (a slow
    // arrival may let a later retry be appended too, so the first one after the restart is read).
    await eventually(async () => {
      a.broadcast('room', 'n', { i: 'new' });
      await eventually(() => expect(onB.received.at(-1)?.payload).toEqual({ i: 'new' }), 300);
    }, 10_000);
    const fresh = onB.received[seen]!.position!;
    expect(fresh.epoch).not.toBe(before.epoch);
    expect(fresh.offset).toBe(1);
    const latest = onB.received.at(-1)!.position!;
    expect(await b.readStream('room', before)).toMatchObject({ recovered: false, publications: [], position: latest });
  });
});

describe('NatsPubSubAdapter history: a publication lost to an outage', () => {
  it('tells the topic’s channels phx_stream {recovered: false}: on the publishing node at once, on the others once NATS is back', async () => {
    const prefix = newPrefix();
    const nodes = ['a', 'b'].map(() => {
      const pubsub = new PubSub({
        adapter: new NatsPubSubAdapter({ servers: nats.url, prefix, logger, maxReconnectDelayMs: 100 }),
        history: { topics: ['rooms:*'] },
      });
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

      await nats.stop();
      await eventually(() => expect(a.pubsub.connected).toBe(false));
      a.endpoint.broadcast('rooms:lost', 'news', { n: 2 }); // never appended
      expect((await onA.assertPush('phx_stream', { position: before, recovered: false })).payload).toEqual({ position: before, recovered: false });
      await onA.refutePush('news');
      await onB.refutePush('phx_stream', undefined, { timeoutMs: 300 }); // unreachable while NATS is down

      await nats.restart();
      await onB.assertPush('phx_stream', (payload) => (payload as { recovered?: unknown }).recovered === false, { timeoutMs: 10_000 });
    } finally {
      for (const { test, endpoint } of nodes) {
        await test.close();
        await endpoint.close();
      }
    }
  });
});
