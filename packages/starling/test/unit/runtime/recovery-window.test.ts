/**
 * The window between a join's reply and the end of its stream read (docs/recovery.md, "Join"):
 * a publication made in it reaches the client exactly once whether or not the join replayed
 * anything, and the phx_stream position it gets is the one live traffic follows without a gap.
 * Deterministic with the in-process store: the channel's `join` publishes on a microtask, after
 * the reply and before the read.
 */
import { describe, expect, it } from 'vitest';
import { Endpoint, Socket, accept, ok, silentLogger, type Channel } from '../../../src/index.ts';
import { ChannelTest } from '../../../src/testing/index.ts';

function harness(): { test: ChannelTest; endpoint: Endpoint } {
  const holder: { endpoint?: Endpoint } = {};
  const RoomChannel = {
    join(topic, params) {
      if ((params as { publish?: boolean }).publish === true) queueMicrotask(() => holder.endpoint?.broadcast(topic, 'news', { during: true }));
      return ok();
    },
  } satisfies Channel;
  const socket = new Socket({ connect: () => accept({}) }).channel('rooms:*', RoomChannel);
  const endpoint = new Endpoint({ logger: silentLogger, history: { topics: ['rooms:*'] } }).socket('/socket', socket, { websocket: false, longpoll: false });
  holder.endpoint = endpoint;
  return { test: new ChannelTest(endpoint), endpoint };
}

describe('a publication made while a join reads the stream', () => {
  it('reaches a join without recover, after phx_stream, whose position it directly follows', async () => {
    const { test } = harness();
    const client = await test.connect();
    await client.join('rooms:a', { publish: true });
    await test.settle();
    const frames = client.received
      .filter((frame) => frame.topic === 'rooms:a' && frame.event !== 'phx_reply')
      .map(({ event, ref, payload }) => ({ event, ref, payload }));
    const stream = frames.find((frame) => frame.event === 'phx_stream')?.payload as { position: string };
    const epoch = stream.position.split(':')[0];
    expect(frames).toEqual([
      { event: 'phx_stream', ref: null, payload: { position: `${epoch}:0` } },
      { event: 'news', ref: `${epoch}:1`, payload: { during: true } },
    ]);
    await test.close();
  });

  it('reaches a join whose recover cannot be honoured, after phx_stream {recovered: false}', async () => {
    const { test } = harness();
    const client = await test.connect();
    await client.join('rooms:a', { publish: true, recover: 'gone:3' });
    await test.settle();
    const events = client.received.filter((frame) => frame.topic === 'rooms:a' && frame.event !== 'phx_reply').map(({ event, payload }) => [event, payload]);
    expect(events).toEqual([
      ['phx_stream', { position: expect.stringMatching(/:0$/) as unknown, recovered: false }],
      ['news', { during: true }],
    ]);
    await test.close();
  });

  it('is replayed once, not twice, to a join that recovers', async () => {
    const { test, endpoint } = harness();
    const first = await test.connect();
    await first.join('rooms:a');
    await test.settle();
    const start = (first.received.find((frame) => frame.event === 'phx_stream')?.payload as { position: string }).position;
    endpoint.broadcast('rooms:a', 'news', { before: true });
    const client = await test.connect();
    await client.join('rooms:a', { publish: true, recover: start });
    await test.settle();
    const events = client.received.filter((frame) => frame.topic === 'rooms:a' && frame.event !== 'phx_reply').map(({ event, payload }) => [event, payload]);
    expect(events).toEqual([
      ['news', { before: true }],
      ['news', { during: true }],
      ['phx_stream', { position: expect.stringMatching(/:2$/) as unknown, recovered: true }],
    ]);
    await test.close();
  });
});
