/**
 * Cluster-wide presence over the PubSub (in-process bus standing in for Redis): every node lists
 * every node's presences, each node dispatches each diff to its own subscribers once, a node that
 * leaves gracefully is dropped at once, a silent (killed) node after `downAfterMs`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Presence } from '../../../src/presence/presence.ts';
import type { BroadcastMessage } from '../../../src/protocol.ts';
import { MemoryBus, MemoryPubSubAdapter } from '../../../src/pubsub/memory-adapter.ts';
import { PubSub } from '../../../src/pubsub/pubsub.ts';
import { ManualClock } from '../../../src/testing/index.ts';
import { settle } from '../../../src/testing/manual-clock.ts';
import { eventually } from '@starling/test-support/eventually';

interface Node {
  pubsub: PubSub;
  presence: Presence;
  diffs: BroadcastMessage[];
}

const TIMING = { heartbeatMs: 50, downAfterMs: 300 };
let nodes: Node[] = [];

async function node(bus: MemoryBus, clock?: ManualClock): Promise<Node> {
  const pubsub = new PubSub({ adapter: new MemoryPubSubAdapter(bus) });
  await pubsub.start();
  const presence = new Presence(pubsub, { ...TIMING, clock });
  await presence.start();
  const diffs: BroadcastMessage[] = [];
  await pubsub.subscribe('room', { deliver: (message) => diffs.push(message) });
  const created = { pubsub, presence, diffs };
  nodes.push(created);
  return created;
}

const keysOf = (n: Node): Record<string, number> =>
  Object.fromEntries(Object.entries(n.presence.list('room')).map(([key, value]) => [key, value.metas.length]));

const diffKeys = (n: Node, side: 'joins' | 'leaves'): string[] => n.diffs.flatMap((d) => Object.keys((d.payload as Record<typeof side, object>)[side]));

afterEach(async () => {
  for (const n of nodes) n.presence.stop();
  await Promise.all(nodes.map((n) => n.pubsub.close()));
  nodes = [];
});

describe('Presence across nodes', () => {
  it('lists a presence tracked on one node on every node, and each node dispatches the join diff once', async () => {
    const bus = new MemoryBus();
    const [a, b, c] = [await node(bus), await node(bus), await node(bus)];
    const owner = {};
    const meta = a.presence.track(owner, 'room', 'alice', { online_at: '1' });

    for (const n of [a, b, c]) {
      await eventually(() => expect(keysOf(n)).toEqual({ alice: 1 }));
      expect(diffKeys(n, 'joins')).toEqual(['alice']);
      expect(n.presence.list('room').alice!.metas[0]!.phx_ref).toBe(meta.phx_ref);
    }
  });

  it('merges presences of one key from several nodes and removes them one by one', async () => {
    const bus = new MemoryBus();
    const [a, b] = [await node(bus), await node(bus)];
    const tabOnA = {};
    const tabOnB = {};
    a.presence.track(tabOnA, 'room', 'alice');
    b.presence.track(tabOnB, 'room', 'alice');
    await eventually(() => expect(keysOf(a)).toEqual({ alice: 2 }));
    await eventually(() => expect(keysOf(b)).toEqual({ alice: 2 }));

    a.presence.untrackAll(tabOnA);
    await eventually(() => expect(keysOf(b)).toEqual({ alice: 1 }));
    expect(diffKeys(b, 'leaves')).toEqual(['alice']);
  });

  it('gives a node that starts later the full state of the others', async () => {
    const bus = new MemoryBus();
    const a = await node(bus);
    a.presence.track({}, 'room', 'alice');
    a.presence.track({}, 'room', 'bob');
    const late = await node(bus);
    await eventually(() => expect(keysOf(late)).toEqual({ alice: 1, bob: 1 }));
  });

  it('drops the presences of a node that shuts down gracefully at once', async () => {
    const bus = new MemoryBus();
    const [a, b] = [await node(bus), await node(bus)];
    a.presence.track({}, 'room', 'alice');
    await eventually(() => expect(keysOf(b)).toEqual({ alice: 1 }));
    const stoppedAt = Date.now();
    a.presence.stop();
    await eventually(() => expect(keysOf(b)).toEqual({}));
    expect(Date.now() - stoppedAt).toBeLessThan(TIMING.downAfterMs);
    expect(diffKeys(b, 'leaves')).toEqual(['alice']);
  });

  it('drops the presences of a node that goes silent (killed) after downAfterMs, not before: on a clock the test moves', async () => {
    const clock = new ManualClock();
    const bus = new MemoryBus(clock);
    const [a, b] = [await node(bus, clock), await node(bus, clock)];
    a.presence.track({}, 'room', 'alice');
    await eventually(() => expect(keysOf(b)).toEqual({ alice: 1 }));
    // Cut A off the bus without a goodbye, as a SIGKILL would: B last heard of it at 0 ms.
    await a.pubsub.close();
    await clock.advance(TIMING.downAfterMs); // B's heartbeats tick every 50 ms; A is silent for exactly downAfterMs
    expect(keysOf(b)).toEqual({ alice: 1 });
    await clock.advance(TIMING.heartbeatMs); // the next tick finds it silent for longer
    expect(keysOf(b)).toEqual({});
    expect(diffKeys(b, 'leaves')).toEqual(['alice']);
  });

  it('brings a node that left and rejoined up to date with the changes it missed', async () => {
    const bus = new MemoryBus();
    const [a, b] = [await node(bus), await node(bus)];
    const owner = {};
    a.presence.track(owner, 'room', 'alice');
    await eventually(() => expect(keysOf(b)).toEqual({ alice: 1 }));
    b.presence.stop();
    a.presence.track(owner, 'room', 'bob');
    await settle(); // the bus delivers on a microtask: B, stopped, has now missed bob's join
    await b.presence.start();
    await eventually(() => expect(keysOf(b)).toEqual({ alice: 1, bob: 1 }));
  });
});
