/**
 * Raw-frame conformance for connection liveness and server-initiated closes (docs/protocol.md §1.6–1.8,
 * §5.2, §0.1; checklist §11 items 35–37): the idle timeout (1002), the `disconnect` broadcast on a
 * socket id (1001) and batched draining on shutdown (1012). None of them may close with 1000,
 * after which phoenix.js ≤ 1.8.15 would not reconnect.
 */
import type { Socket as NetSocket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/testing/manual-clock.ts';
import { eventually } from '@starling/test-support/eventually';
import { replyPayload, useFixtures, V1, V2 } from '../../support/wire-client.ts';

const { start, connect } = useFixtures();

const OK = replyPayload('ok');

describe('idle timeout (§5.2, item 35)', () => {
  // The endpoint runs on a manual clock: the idle sweep's time moves only when the test advances
  // it, while the frames still travel over a real WebSocket.
  const idle = (clock: ManualClock) => ({ endpoint: { clock }, socket: { websocket: { idleTimeoutMs: 200 } } });

  it('closes a socket that sent nothing for idleTimeoutMs with 1002 (never 1000), ending its channels', async () => {
    const clock = new ManualClock();
    const fixture = await start(idle(clock));
    const client = await connect(fixture, V2);
    await client.join('test:room', '1');
    await clock.advance(175);
    expect(client.raw.ws.readyState).toBe(client.raw.ws.OPEN);
    await clock.advance(50); // 225 ms: past the timeout and its sweep granularity (1/8 of it)
    const { code } = await client.closed;
    expect(code).toBe(1002);
    await eventually(() =>
      expect(fixture.calls.filter((c) => c.callback === 'terminate')).toEqual([{ callback: 'terminate', topic: 'test:room', reason: { shutdown: 'closed' } }]),
    );
    expect(fixture.endpoint.pubsub.subscriberCount('test:room')).toBe(0);
  });

  it('keeps a socket that heartbeats every 100 ms open, and closes it 1002 once the heartbeats stop', async () => {
    const clock = new ManualClock();
    const fixture = await start(idle(clock));
    const client = await connect(fixture, V2);
    for (let i = 1; i <= 6; i++) {
      // The reply proves the heartbeat's bytes were read before the clock moves on.
      expect(await client.push([null, `${i}`, 'phoenix', 'heartbeat', {}])).toEqual([null, `${i}`, 'phoenix', 'phx_reply', OK]);
      await clock.advance(100);
    }
    expect(client.raw.ws.readyState).toBe(client.raw.ws.OPEN);
    await clock.advance(250);
    expect((await client.closed).code).toBe(1002);
  });

  it('counts any inbound frame, not only heartbeats: channel events and WebSocket pings keep the socket open', async () => {
    const clock = new ManualClock();
    const fixture = await start(idle(clock));
    const events = await connect(fixture, V1);
    await events.join('test:room', '1');
    const pings = await connect(fixture, V2);
    for (let i = 2; i <= 7; i++) {
      events.send(['1', `${i}`, 'test:room', 'noreply', {}]);
      const pong = new Promise((resolve) => pings.raw.ws.once('pong', resolve));
      pings.raw.ws.ping();
      await pong;
      await eventually(() => expect(fixture.calls.filter((c) => c.event === 'noreply')).toHaveLength(i - 1));
      await clock.advance(100);
    }
    expect(events.raw.ws.readyState).toBe(events.raw.ws.OPEN);
    expect(pings.raw.ws.readyState).toBe(pings.raw.ws.OPEN);
    await clock.advance(250);
    expect((await events.closed).code).toBe(1002);
    expect((await pings.closed).code).toBe(1002);
  });
});

describe('WebSocket pings (RFC 6455 §5.5.2)', () => {
  it('answers every ping with a pong carrying its payload', async () => {
    const fixture = await start();
    const client = await connect(fixture, V2);
    const pongs: string[] = [];
    client.raw.ws.on('pong', (data: Buffer) => pongs.push(data.toString('utf8')));
    for (const payload of ['a', 'bb', '']) client.raw.ws.ping(payload);
    await eventually(() => expect(pongs).toEqual(['a', 'bb', '']));
    expect(client.raw.ws.readyState).toBe(client.raw.ws.OPEN);
  });

  it('terminates a client that keeps pinging without reading the pongs, past 60 owed at once (as ws)', async () => {
    const fixture = await start();
    const client = await connect(fixture, V2);
    // Stop reading: the pongs fill the kernel's buffers, then wait in the server's send queue.
    (client.raw.ws as unknown as { _socket: NetSocket })._socket.pause();
    const payload = Buffer.alloc(125, 0x61);
    let sent = 0;
    // Bounded: loopback buffers hold a few MB of pongs (~25,000 of these), well under 400,000.
    while (fixture.endpoint.connectionCount > 0 && sent < 400_000) {
      for (let i = 0; i < 1_000; i++) client.raw.ws.ping(payload);
      sent += 1_000;
      await new Promise((resolve) => setImmediate(resolve)); // a turn of the event loop: the pings go out, the server reads them
    }
    expect(fixture.endpoint.connectionCount, `still open after ${sent} pings`).toBe(0);
  });
});

describe('disconnect broadcast on the socket id (§1.6, item 36)', () => {
  it('closes every socket with that id with 1001 and terminates their channels; other users stay', async () => {
    const fixture = await start();
    const first = await connect(fixture, V2, { user_id: '7' });
    const second = await connect(fixture, V1, { user_id: '7' });
    const other = await connect(fixture, V2, { user_id: '8' });
    await first.join('test:a', '1');
    await second.join('test:b', '1');
    await other.join('test:a', '1');

    fixture.endpoint.broadcast('users_socket:7', 'disconnect', {});
    expect((await first.closed).code).toBe(1001);
    expect((await second.closed).code).toBe(1001);
    const terminated = fixture.calls.filter((c) => c.callback === 'terminate');
    expect(terminated).toEqual(
      expect.arrayContaining([
        { callback: 'terminate', topic: 'test:a', reason: { shutdown: 'disconnected' } },
        { callback: 'terminate', topic: 'test:b', reason: { shutdown: 'disconnected' } },
      ]),
    );
    expect(terminated).toHaveLength(2);
    expect(fixture.endpoint.pubsub.subscriberCount('test:b')).toBe(0);

    expect(await other.push(['1', '2', 'test:a', 'reply_ok', {}])).toEqual(['1', '2', 'test:a', 'phx_reply', OK]);
    expect(fixture.endpoint.pubsub.subscriberCount('test:a')).toBe(1);
  });

  it('ignores any other event on the socket id topic: no close, no frame', async () => {
    const fixture = await start();
    const client = await connect(fixture, V2, { user_id: '7' });
    fixture.endpoint.broadcast('users_socket:7', 'something_else', {});
    expect(await client.framesBeforeHeartbeat('1')).toEqual([]);
    expect(client.raw.ws.readyState).toBe(client.raw.ws.OPEN);
  });

  it('closes a socket with the id even when it has no channel joined', async () => {
    const fixture = await start();
    const client = await connect(fixture, V2, { user_id: '9' });
    fixture.endpoint.broadcast('users_socket:9', 'disconnect', {});
    expect((await client.closed).code).toBe(1001);
  });
});

describe('graceful shutdown drains in batches (§1.7, item 37)', () => {
  it('closes every socket with 1012, batchSize at a time, intervalMs apart, and terminates channels with "draining"', async () => {
    const fixture = await start();
    const clients = [];
    for (let i = 1; i <= 5; i++) {
      const client = await connect(fixture, V2);
      await client.join(`test:${i}`, '1');
      clients.push(client);
    }
    const closedAt: number[] = [];
    const closes = clients.map((client) =>
      client.closed.then(({ code }) => {
        closedAt.push(Date.now());
        return code;
      }),
    );

    await fixture.endpoint.close({ batchSize: 2, intervalMs: 250 });
    expect(await Promise.all(closes)).toEqual([1012, 1012, 1012, 1012, 1012]);

    // Three batches, 2 + 2 + 1: short gaps within a batch, about intervalMs between batches.
    const gaps = closedAt
      .sort((a, b) => a - b)
      .slice(1)
      .map((t, i) => t - closedAt[i]!);
    expect(gaps.map((gap) => (gap >= 150 ? 'between batches' : 'same batch'))).toEqual(['same batch', 'between batches', 'same batch', 'between batches']);

    const reasons = fixture.calls.filter((c) => c.callback === 'terminate').map((c) => c.reason);
    expect(reasons).toEqual(Array(5).fill({ shutdown: 'draining' }));
  });
});
