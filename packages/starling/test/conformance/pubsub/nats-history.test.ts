/**
 * History over NATS when a node's subscription drops (docs/recovery.md, "Positions": "a node
 * that misses some reads them back from the stream"): node B reaches NATS through a TCP proxy
 * that cuts its connection while node A publishes; when the next publication JetStream
 * republishes reaches B, B sees the hole in the offsets and fills it from the stream before
 * going on — its subscribers get every offset once and in order. A hole the stream no longer
 * covers is counted and delivery goes on.
 */
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { NatsPubSubAdapter } from '../../../src/nats/index.ts';
import { PubSub } from '../../../src/pubsub/pubsub.ts';
import type { HistoryOptions } from '../../../src/pubsub/stream.ts';
import { eventually } from '@starling/test-support/eventually';
import { ensureNats } from '@starling/test-support/nats';
import { TcpProxy } from '@starling/test-support/tcp-proxy';
import { Recorder } from './pubsub-adapter.suite.ts';

const logger = pino({ level: 'silent' });
const started: PubSub[] = [];
const proxies: TcpProxy[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((node) => node.close()));
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
});

/** Nodes A and B of one cluster; B reaches NATS through `proxy`. */
async function cluster(history: HistoryOptions): Promise<{ a: PubSub; b: PubSub; proxy: TcpProxy }> {
  const url = await ensureNats();
  const proxy = await TcpProxy.start(Number(new URL(url).port));
  proxies.push(proxy);
  const prefix = `history-${randomBytes(4).toString('hex')}`;
  const options = { prefix, logger, storage: 'memory', maxReconnectDelayMs: 50 } as const;
  const a = new PubSub({ adapter: new NatsPubSubAdapter({ ...options, servers: url }), history });
  const b = new PubSub({ adapter: new NatsPubSubAdapter({ ...options, servers: `nats://127.0.0.1:${proxy.port}` }), history });
  started.push(a, b);
  await Promise.all([a.start(), b.start()]);
  return { a, b, proxy };
}

/** Cuts B's line until it has noticed, then lets it reconnect. */
async function dropConnection(b: PubSub, proxy: TcpProxy, meanwhile: () => void): Promise<void> {
  proxy.cut();
  await eventually(() => expect(b.connected).toBe(false));
  meanwhile();
  proxy.restore();
  await eventually(() => expect(b.connected).toBe(true), 5000);
}

const offsets = (recorder: Recorder): number[] => recorder.received.map((m) => m.position?.offset ?? -1);

describe('NatsPubSubAdapter history: a node whose subscription dropped', () => {
  it('fills the hole from the stream: its subscribers get every offset once and in order', async () => {
    const { a, b, proxy } = await cluster({ topics: ['room'], size: 100 });
    const onB = new Recorder();
    await b.subscribe('room', onB);
    for (let i = 1; i <= 5; i++) a.broadcast('room', 'n', { i });
    await eventually(() => expect(offsets(onB)).toEqual([1, 2, 3, 4, 5]));

    await dropConnection(b, proxy, () => {
      for (let i = 6; i <= 10; i++) a.broadcast('room', 'n', { i }); // B is not connected now
    });
    await eventually(async () => {
      // Once B has resubscribed, a publication reaches it and reveals the hole.
      a.broadcast('room', 'probe', {});
      await eventually(() => expect(onB.events).toContain('probe'), 300);
    }, 10_000);

    const received = offsets(onB);
    expect(received).toEqual(Array.from({ length: received.length }, (_, i) => i + 1));
    expect(onB.received.slice(5, 10).map((m) => m.payload)).toEqual([6, 7, 8, 9, 10].map((i) => ({ i })));
    expect(b.stats.gapsFilled).toBeGreaterThanOrEqual(1);
    expect(b.stats.gapsLost).toBe(0);
  });

  it('counts a hole the stream no longer covers and goes on with what comes next', async () => {
    const { a, b, proxy } = await cluster({ topics: ['room'], size: 3 });
    const onB = new Recorder();
    await b.subscribe('room', onB);
    a.broadcast('room', 'n', { i: 1 });
    await eventually(() => expect(offsets(onB)).toEqual([1]));

    await dropConnection(b, proxy, () => {
      for (let i = 2; i <= 10; i++) a.broadcast('room', 'n', { i }); // the stream keeps 8…10 only
    });
    await a.flush();
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
