/**
 * Slow readers: a client that stops reading cannot make the server queue without bound.
 * WebSocket: past `websocket.maxQueuedBytes` (default 1 MiB) unsent, the socket is closed with 1008
 * and its TCP connection destroyed at once (the client, reading again, sees 1006). LongPoll: past
 * `longpoll.maxQueuedBytes` buffered between polls, the session ends (the next poll gets 410).
 * Either way the others keep receiving everything, in order.
 */
import type { Socket as NetSocket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startFixture, type Fixture } from '../support/fixture.ts';
import { LongPollClient } from '@starling/test-support/long-poll-client';
import { eventually } from '@starling/test-support/eventually';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const MiB = 1024 * 1024;

let fixture: Fixture | undefined;
const sockets: WebSocket[] = [];

afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await fixture?.close();
  fixture = undefined;
});

/** A V2 subscriber that keeps only a count and checks order (storing 80 MB of frames would skew the heap). */
class CountingSubscriber {
  received = 0;
  outOfOrder = 0;
  closed: Promise<number>;

  readonly ws: WebSocket;
  private constructor(ws: WebSocket) {
    this.ws = ws;
    this.closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
  }

  static async join(url: string, topic: string): Promise<CountingSubscriber> {
    const ws = new WebSocket(`${url}?vsn=2.0.0`, { maxPayload: 100 * MiB });
    sockets.push(ws);
    ws.on('error', () => {});
    const subscriber = new CountingSubscriber(ws);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const joined = new Promise<void>((resolve) => {
      ws.on('message', (data: Buffer) => {
        const [, ref, , event, payload] = JSON.parse(data.toString('utf8')) as [unknown, unknown, string, string, { seq?: number }];
        if (ref === '1' && event === 'phx_reply') return resolve();
        if (event !== 'm') return;
        if (payload.seq !== subscriber.received) subscriber.outOfOrder++;
        subscriber.received++;
      });
    });
    ws.send(JSON.stringify(['1', '1', topic, 'phx_join', {}]));
    await joined;
    return subscriber;
  }

  /** Stops reading: the TCP socket is paused, so the kernel buffers fill up and then the server's queue. */
  stopReading(): void {
    (this.ws as unknown as { _socket: NetSocket })._socket.pause();
  }

  resumeReading(): void {
    (this.ws as unknown as { _socket: NetSocket })._socket.resume();
  }
}

/** Heap plus Buffers (broadcast frames live outside the V8 heap), after a full collection. */
function retainedBytes(): number {
  gc();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external;
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('WebSocket slow reader', () => {
  it('closes a client that stops reading at the 1 MiB bound; memory stays flat; others get 10,000 broadcasts in order', async () => {
    fixture = await startFixture();
    const topic = 'test:fanout';
    const healthy = [await CountingSubscriber.join(fixture.wsUrl, topic), await CountingSubscriber.join(fixture.wsUrl, topic)];
    const slow = await CountingSubscriber.join(fixture.wsUrl, topic);
    slow.stopReading();

    const messages = 10_000;
    // ~8 KB each: 80 MB in all, far more than the kernel's socket buffers can hide.
    const pad = 'x'.repeat(8_000);
    const before = retainedBytes();
    const rssBefore = process.memoryUsage().rss;
    let peakRetained = 0;
    let afterBroadcasting = 0;
    for (let seq = 0; seq < messages; seq++) {
      fixture.endpoint.broadcast(topic, 'm', { seq, pad });
      // The server paces itself on its healthy readers (at most 100 frames ≈ 800 KB in flight,
      // under the bound) — what a well-behaved app sees; the slow reader is not waited for.
      if (seq % 25 === 24) {
        while (healthy.some((client) => client.received < seq + 1 - 100)) await nextTurn();
      }
      if (seq % 1_000 === 999) peakRetained = Math.max(peakRetained, retainedBytes() - before);
    }
    await eventually(() => expect(healthy.map((client) => client.received)).toEqual([messages, messages]), 10_000);
    // Measured while the slow client still holds its connection open and unread.
    afterBroadcasting = retainedBytes() - before;
    const rssGrowth = process.memoryUsage().rss - rssBefore;

    expect(healthy.map((client) => client.outOfOrder)).toEqual([0, 0]);
    expect(fixture.endpoint.stats.slowReaderCloses).toBe(1);
    expect(fixture.endpoint.connectionCount).toBe(2);
    expect(fixture.endpoint.pubsub.subscriberCount(topic)).toBe(2);
    // 80 MB went out; an unbounded queue would hold most of it for the paused client.
    expect(afterBroadcasting).toBeLessThan(24 * MiB);
    expect(peakRetained).toBeLessThan(24 * MiB);

    // Reading again, the client finds what the kernel had buffered and then the end of the stream:
    // the 1008 close frame was destroyed with the queue, so it sees an abnormal close.
    slow.resumeReading();
    expect(await slow.closed).toBe(1006);
    expect(slow.received).toBeLessThan(messages);
    expect(slow.outOfOrder).toBe(0);
    console.info(
      `slow reader: retained growth ${(afterBroadcasting / MiB).toFixed(1)} MiB after broadcasting, peak ${(peakRetained / MiB).toFixed(1)} MiB, ` +
        `rss growth ${(rssGrowth / MiB).toFixed(1)} MiB; the slow client got ${slow.received}/${messages} (kernel buffers) before 1006`,
    );
  });

  it('keeps a client that reads, even when it receives far more than the bound in total', async () => {
    fixture = await startFixture({ socket: { websocket: { maxQueuedBytes: 64 * 1024 } } });
    const client = await CountingSubscriber.join(fixture.wsUrl, 'test:steady');
    const pad = 'x'.repeat(1_000);
    for (let seq = 0; seq < 2_000; seq++) {
      fixture.endpoint.broadcast('test:steady', 'm', { seq, pad });
      if (seq % 10 === 9) while (client.received < seq + 1 - 20) await nextTurn();
    }
    await eventually(() => expect(client.received).toBe(2_000), 5_000);
    expect(client.outOfOrder).toBe(0);
    expect(fixture.endpoint.stats.slowReaderCloses).toBe(0);
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('delivers frames each larger than the bound to a client that reads them', async () => {
    fixture = await startFixture({ socket: { websocket: { maxQueuedBytes: 16 * 1024 } } });
    const client = await CountingSubscriber.join(fixture.wsUrl, 'test:big');
    const pad = 'x'.repeat(256 * 1024);
    for (let seq = 0; seq < 5; seq++) {
      fixture.endpoint.broadcast('test:big', 'm', { seq, pad });
      await eventually(() => expect(client.received).toBe(seq + 1));
    }
    expect(fixture.endpoint.stats.slowReaderCloses).toBe(0);
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
  });
});

describe('LongPoll slow reader', () => {
  const topic = 'test:lp';
  /** The V2 text of one broadcast of `{i}` on `topic`, as the session buffers it. */
  const frameBytes = (i: number): number => Buffer.byteLength(JSON.stringify([null, null, topic, 'm', { i }]));

  async function joinedSession(maxQueuedBytes: number): Promise<LongPollClient> {
    fixture = await startFixture({ socket: { longpoll: { windowMs: 2_000, maxQueuedBytes } } });
    const client = await LongPollClient.open(fixture.longPollUrl);
    expect((await client.post([['1', '1', topic, 'phx_join', {}]])).body.status).toBe(200);
    // Take the join reply, so that the buffer holds only what follows.
    await client.next((frame) => frame[3] === 'phx_reply');
    return client;
  }

  it('keeps a session whose buffer reaches exactly maxQueuedBytes; the poll gets every frame', async () => {
    const bound = frameBytes(1) * 5;
    const client = await joinedSession(bound);

    for (let i = 1; i <= 5; i++) fixture!.endpoint.broadcast(topic, 'm', { i });
    const answer = await client.poll();

    expect(answer.body.status).toBe(200);
    expect(answer.body.messages).toHaveLength(5);
    expect(fixture!.endpoint.stats.slowReaderCloses).toBe(0);
  });

  it('ends a session whose buffer grows past maxQueuedBytes: its channels terminate and the next poll gets 410', async () => {
    const bound = frameBytes(1) * 5;
    const client = await joinedSession(bound);

    for (let i = 1; i <= 6; i++) fixture!.endpoint.broadcast(topic, 'm', { i });
    await eventually(() =>
      expect(fixture!.calls.filter((call) => call.callback === 'terminate')).toEqual([{ callback: 'terminate', topic, reason: { shutdown: 'closed' } }]),
    );
    const answer = await client.poll();

    expect(answer.body).toEqual({ status: 410, token: expect.any(String), messages: [] });
    expect(answer.body.token).not.toBe(client.token);
    expect(fixture!.endpoint.stats.slowReaderCloses).toBe(1);
    expect(fixture!.endpoint.pubsub.subscriberCount(topic)).toBe(0);
  });

  it('delivers a single frame larger than the bound', async () => {
    const client = await joinedSession(1_024);
    const pad = 'x'.repeat(10_000);

    fixture!.endpoint.broadcast(topic, 'm', { pad });
    const answer = await client.poll();

    expect(answer.body.messages).toEqual([JSON.stringify([null, null, topic, 'm', { pad }])]);
    expect(fixture!.endpoint.stats.slowReaderCloses).toBe(0);
  });

  it('bounds a never-polled session under a flood at the default 1 MiB', async () => {
    fixture = await startFixture({ socket: { longpoll: { windowMs: 5_000 } } });
    const client = await LongPollClient.open(fixture.longPollUrl);
    await client.post([['1', '1', topic, 'phx_join', {}]]);
    const pad = 'x'.repeat(1_000);

    for (let i = 0; i < 2_000; i++) fixture.endpoint.broadcast(topic, 'm', { i, pad });
    await eventually(() => expect(fixture!.endpoint.connectionCount).toBe(0));

    expect(fixture.endpoint.stats.slowReaderCloses).toBe(1);
    expect((await client.poll()).body.status).toBe(410);
  });
});
