/**
 * The node's view of a history topic's stream: a join's position-only read (its `phx_stream`) is
 * answered from what this node has dispatched, or from a read it already made since subscribing —
 * no round trip to the store per join — and that position is never one a client could lose a
 * publication after. Two nodes on one in-process bus; node A's adapter counts its store reads, can
 * look disconnected, and can lose deliveries (as a Redis subscriber connection does in an outage).
 */
import { describe, expect, it } from 'vitest';
import type { BroadcastMessage } from '../../../src/protocol.ts';
import type { PubSubNode } from '../../../src/pubsub/adapter.ts';
import type { HistoryAdapter } from '../../../src/pubsub/history-adapter.ts';
import { MemoryBus, MemoryPubSubAdapter } from '../../../src/pubsub/memory-adapter.ts';
import { PubSub } from '../../../src/pubsub/pubsub.ts';
import { settle } from '../../../src/testing/manual-clock.ts';
import { ChannelTest } from '../../../src/testing/index.ts';
import { Endpoint, Socket, accept, ok, silentLogger, type Channel, type JoinResult } from '../../../src/index.ts';

const history = { topics: ['rooms:*'] };

/** Node A's adapter: the bus's, with its store reads counted, a connection switch and a delivery switch. */
function watched(bus: MemoryBus) {
  const inner = new MemoryPubSubAdapter(bus);
  const state = { reads: 0, connected: true, losing: false, failing: false };
  let local: PubSubNode | null = null;
  const adapter: HistoryAdapter = {
    start: (node) =>
      inner.start({
        // Kept to report this node's appends as failed (the store refused them) while `failing`.
        ...(local = node),
        id: node.id,
        deliver: (message, publishId) => {
          if (!state.losing) node.deliver(message, publishId);
        },
        lost: (publishId, topic) => node.lost(publishId, topic),
      }),
    subscribe: (topic) => inner.subscribe(topic),
    unsubscribe: (topic) => inner.unsubscribe(topic),
    publish: (message) => inner.publish(message),
    close: () => inner.close(),
    append: (message, publishId, limits) => (state.failing ? local?.lost(publishId, message.topic) : inner.append(message, publishId, limits)),
    readStream: (topic, since, limits) => {
      state.reads++;
      return inner.readStream(topic, since, limits);
    },
    isConnected: () => state.connected,
  };
  return { adapter, state };
}

async function twoNodes() {
  const bus = new MemoryBus();
  const { adapter, state } = watched(bus);
  const a = new PubSub({ adapter, history });
  const b = new PubSub({ adapter: new MemoryPubSubAdapter(bus), history });
  await Promise.all([a.start(), b.start()]);
  return { a, b, state };
}

/** A subscriber that records the offsets it is delivered. */
function recorder(): { deliver(message: BroadcastMessage): void; offsets: number[] } {
  const offsets: number[] = [];
  return { offsets, deliver: (message) => void offsets.push(message.position?.offset ?? -1) };
}

describe("a node's view of a history topic's stream", () => {
  it('answers position-only reads from the latest read, then from the last publication dispatched, without the store', async () => {
    const { a, b, state } = await twoNodes();
    await a.subscribe('rooms:lobby', recorder());
    expect((await a.readStream('rooms:lobby', null)).position.offset).toBe(0);
    expect(state.reads).toBe(1);
    expect((await a.readStream('rooms:lobby', null)).position.offset).toBe(0);
    b.broadcast('rooms:lobby', 'new_msg', { n: 1 });
    b.broadcast('rooms:lobby', 'new_msg', { n: 2 });
    await settle();
    expect(await a.readStream('rooms:lobby', null)).toMatchObject({ position: { offset: 2 }, recovered: false, publications: [], bytes: 0 });
    expect(state.reads).toBe(1);
  });

  it('reads the store for a topic the node does not subscribe to, and while the adapter is disconnected', async () => {
    const { a, state } = await twoNodes();
    await a.readStream('rooms:lobby', null);
    await a.readStream('rooms:lobby', null);
    expect(state.reads).toBe(2);
    await a.subscribe('rooms:lobby', recorder());
    await a.readStream('rooms:lobby', null);
    state.connected = false;
    await a.readStream('rooms:lobby', null);
    expect(state.reads).toBe(4);
  });

  it('forgets the view when the last local subscriber leaves', async () => {
    const { a, state } = await twoNodes();
    const subscriber = recorder();
    await a.subscribe('rooms:lobby', subscriber);
    await a.readStream('rooms:lobby', null);
    a.unsubscribe('rooms:lobby', subscriber);
    await a.subscribe('rooms:lobby', subscriber);
    await a.readStream('rooms:lobby', null);
    expect(state.reads).toBe(2);
  });

  it('reads back what the node missed before its first publication, for a subscriber answered from the view', async () => {
    const { a, b, state } = await twoNodes();
    const first = recorder();
    await a.subscribe('rooms:lobby', first);
    await a.readStream('rooms:lobby', null); // the view: offset 0
    state.losing = true;
    b.broadcast('rooms:lobby', 'new_msg', { n: 1 });
    b.broadcast('rooms:lobby', 'new_msg', { n: 2 });
    await settle();
    state.losing = false;
    const second = recorder();
    await a.subscribe('rooms:lobby', second);
    // Behind the store (which is at 2), never ahead of it: what follows still reaches the subscriber.
    expect((await a.readStream('rooms:lobby', null)).position.offset).toBe(0);
    b.broadcast('rooms:lobby', 'new_msg', { n: 3 });
    await settle();
    expect(second.offsets).toEqual([1, 2, 3]);
    expect(first.offsets).toEqual([1, 2, 3]);
    expect(a.stats.gapsFilled).toBe(1);
  });
});

describe('a channel on a history topic', () => {
  it('never receives a publication at or below the position its phx_stream announced', async () => {
    const { a, b, state } = await twoNodes();
    const RoomChannel = { join: () => ok() } satisfies Channel;
    const socket = new Socket({ connect: () => accept({}) }).channel('rooms:*', RoomChannel);
    const endpoint = new Endpoint({ logger: silentLogger, pubsub: a }).socket('/socket', socket, { websocket: false, longpoll: false });
    const test = new ChannelTest(endpoint);
    const early = await test.connect();
    await early.join('rooms:lobby'); // node A's view starts at 0
    await test.settle();
    state.losing = true;
    b.broadcast('rooms:lobby', 'new_msg', { n: 1 });
    b.broadcast('rooms:lobby', 'new_msg', { n: 2 });
    await settle();
    state.losing = false;
    // Disconnected, node A reads the store for the next join: it is told 2, which A never dispatched.
    state.connected = false;
    const late = await test.connect();
    await late.join('rooms:lobby');
    await test.settle();
    state.connected = true;
    // The next publication makes A read back 1 and 2 for everyone; the late client has them already.
    b.broadcast('rooms:lobby', 'new_msg', { n: 3 });
    await settle();
    await test.settle();
    const refs = (client: typeof late): unknown[] =>
      client.received
        .filter((frame) => frame.topic === 'rooms:lobby' && frame.event !== 'phx_reply')
        .map((frame) => (frame.event === 'phx_stream' ? frame.payload : frame.ref));
    const epoch = (early.received.find((frame) => frame.event === 'phx_stream')?.payload as { position: string }).position.split(':')[0];
    expect(refs(early)).toEqual([{ position: `${epoch}:0` }, `${epoch}:1`, `${epoch}:2`, `${epoch}:3`]);
    expect(refs(late)).toEqual([{ position: `${epoch}:2` }, `${epoch}:3`]);
    await test.close();
  });

  it('is told recovered: false when a publication is lost while its join runs (the join window)', async () => {
    const { a, state } = await twoNodes();
    const gate: { open?: () => void } = {};
    const RoomChannel = {
      join: (_topic, params): JoinResult | Promise<JoinResult> =>
        (params as { wait?: boolean }).wait === true ? new Promise((resolve) => (gate.open = () => resolve(ok()))) : ok(),
    } satisfies Channel;
    const socket = new Socket({ connect: () => accept({}) }).channel('rooms:*', RoomChannel);
    const endpoint = new Endpoint({ logger: silentLogger, pubsub: a }).socket('/socket', socket, { websocket: false, longpoll: false });
    const test = new ChannelTest(endpoint);
    const early = await test.connect();
    await early.join('rooms:lobby'); // node A serves the topic: later joins have a window
    const late = await test.connect();
    const joined = late.join('rooms:lobby', { wait: true });
    await test.settle();
    state.failing = true;
    endpoint.broadcast('rooms:lobby', 'new_msg', { n: 1 }); // never reaches the stream
    state.failing = false;
    gate.open?.();
    await joined;
    await test.settle();
    const stream = late.received.find((frame) => frame.event === 'phx_stream')?.payload;
    expect(stream).toMatchObject({ recovered: false });
    await test.close();
  });
});
