/**
 * The window between a join's reply and the end of its stream read (docs/recovery.md, "Join"):
 * a publication made in it reaches the client exactly once whether or not the join replayed
 * anything, and the phx_stream position it gets is the one live traffic follows without a gap.
 * Deterministic with the in-process store: the channel's `join` publishes on a microtask, after
 * the reply and before the read.
 */
import { describe, expect, it } from 'vitest';
import { Endpoint, Socket, accept, error, ok, silentLogger, type Channel } from '../../../src/index.ts';
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

/**
 * The join window: on a history topic its node already subscribes to, a joining channel holds
 * what is published while its `join` runs — after the app read its state (a page of history),
 * before the join is decided — and the client gets it after `phx_stream`, whose position is just
 * before it. Without the window it would be in neither the page nor the live traffic.
 */
describe('a publication made while the join callback runs', () => {
  function gated() {
    const holder: { endpoint?: Endpoint; open?: () => void } = {};
    const RoomChannel = {
      async join(_topic, params, socket) {
        const { wait, refuse, wire, shout } = params as { wait?: boolean; refuse?: boolean; wire?: string; shout?: boolean };
        if (shout === true) socket.broadcast('shout', { from: 'the joining channel' });
        if (wait === true) await new Promise<void>((resolve) => (holder.open = resolve));
        if (refuse === true) return error({ reason: 'no' });
        return wire === undefined ? ok() : ok({}, { pubsubTopic: wire });
      },
    } satisfies Channel;
    const socket = new Socket({ connect: () => accept({}) }).channel('rooms:*', RoomChannel);
    const endpoint = new Endpoint({ logger: silentLogger, history: { topics: ['rooms:*', 'wired:*'] } }).socket('/socket', socket, {
      websocket: false,
      longpoll: false,
    });
    holder.endpoint = endpoint;
    return { test: new ChannelTest(endpoint), endpoint, open: () => holder.open?.() };
  }

  const after = (client: { received: ReadonlyArray<{ topic: string; event: string; ref: unknown; payload: unknown }> }): unknown[] =>
    client.received
      .filter((frame) => frame.topic === 'rooms:a' && frame.event !== 'phx_reply')
      .map((frame) => (frame.event === 'phx_stream' ? frame.payload : [frame.event, frame.ref]));

  it('reaches the client after phx_stream, whose position is just before it', async () => {
    const { test, endpoint, open } = gated();
    const first = await test.connect();
    await first.join('rooms:a');
    const late = await test.connect();
    const joined = late.join('rooms:a', { wait: true });
    await test.settle(); // the join callback now waits, its state read
    endpoint.broadcast('rooms:a', 'news', { during: 'join' });
    open();
    await joined;
    await test.settle();
    const epoch = (first.received.find((frame) => frame.event === 'phx_stream')?.payload as { position: string }).position.split(':')[0];
    expect(after(late)).toEqual([{ position: `${epoch}:0` }, ['news', `${epoch}:1`]]);
    await test.close();
  });

  it('is let go when the join is refused, or wired to another PubSub topic', async () => {
    const { test, endpoint, open } = gated();
    const first = await test.connect();
    await first.join('rooms:a');
    // The first client, and the harness, which follows every topic joined (assertBroadcast).
    const subscribers = endpoint.pubsub.subscriberCount('rooms:a');
    const refused = await test.connect();
    const refusing = refused.join('rooms:a', { wait: true, refuse: true });
    await test.settle();
    expect(endpoint.pubsub.subscriberCount('rooms:a')).toBe(subscribers + 1);
    open();
    expect(await refusing).toMatchObject({ status: 'error' });
    expect(endpoint.pubsub.subscriberCount('rooms:a')).toBe(subscribers);

    const wired = await test.connect();
    const wiring = wired.join('rooms:a', { wait: true, wire: 'wired:a' });
    await test.settle();
    endpoint.broadcast('rooms:a', 'news', { for: 'rooms:a only' });
    open();
    await wiring;
    await test.settle();
    expect(wired.received.filter((frame) => frame.event === 'news')).toEqual([]);
    expect(endpoint.pubsub.subscriberCount('rooms:a')).toBe(subscribers);
    expect(endpoint.pubsub.subscriberCount('wired:a')).toBeGreaterThanOrEqual(1);
    await test.close();
  });

  it('never brings back what the joining channel itself broadcast during its join', async () => {
    const { test } = gated();
    const first = await test.connect();
    await first.join('rooms:a');
    const late = await test.connect();
    await late.join('rooms:a', { shout: true });
    await test.settle();
    expect(late.received.filter((frame) => frame.event === 'shout')).toEqual([]);
    expect(first.received.filter((frame) => frame.event === 'shout')).toHaveLength(1);
    await test.close();
  });
});
