/**
 * The history as the store of persisted broadcasts, on the in-process PubSub with a manual clock:
 * the newest `limit` since `since`, oldest first; a persist's own ttl; the history's ttlMs trimming
 * the oldest of the newest `limit` (the replay then gives those still kept); a replay heavier than
 * `maxReplayBytes` refused with a reason; a PubSub without history for the topics refused.
 */
import { describe, expect, it } from 'vitest';
import { MemoryBus, MemoryPubSubAdapter, PubSub, type HistoryOptions } from '../../../src/index.ts';
import { HistoryBroadcastStore, PERSISTED_TOPICS } from '../../../src/supabase/history-broadcast-store.ts';
import { ManualClock } from '../../../src/testing/manual-clock.ts';

async function storeOn(history: Partial<HistoryOptions> = {}): Promise<{ store: HistoryBroadcastStore; clock: ManualClock }> {
  const clock = new ManualClock();
  await clock.advance(1_000_000); // a "now" well after 0, as the epoch's is
  const pubsub = new PubSub({ adapter: new MemoryPubSubAdapter(new MemoryBus(clock)), history: { topics: [PERSISTED_TOPICS], size: 25, ...history } });
  await pubsub.start();
  return { store: new HistoryBroadcastStore(pubsub, () => clock.now()), clock };
}

async function payloads(store: HistoryBroadcastStore, topic: string, since: number, limit: number): Promise<unknown> {
  const outcome = await store.replay(topic, since, limit);
  return 'refused' in outcome ? outcome : outcome.messages.map((message) => message.payload);
}

describe('HistoryBroadcastStore', () => {
  it('replays the newest `limit` stored at or after `since`, oldest first, each with an id of its own', async () => {
    const { store, clock } = await storeOn();
    for (const n of [1, 2, 3, 4]) {
      await store.persist('room', 'e', { n }, null);
      await clock.advance(10);
    }
    await store.persist('other', 'e', { n: 9 }, null);
    const start = 1_000_000;
    expect(await payloads(store, 'room', start, 25)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
    expect(await payloads(store, 'room', start, 2)).toEqual([{ n: 3 }, { n: 4 }]);
    expect(await payloads(store, 'room', start + 15, 25)).toEqual([{ n: 3 }, { n: 4 }]);
    expect(await payloads(store, 'room', start + 100, 25)).toEqual([]);
    expect(await payloads(store, 'empty', 0, 25)).toEqual([]);
    const outcome = await store.replay('room', start, 25);
    const ids = 'messages' in outcome ? outcome.messages.map((message) => message.id) : [];
    expect(new Set(ids).size).toBe(4);
  });

  it('drops a broadcast once its own ttl is over, the others staying', async () => {
    const { store, clock } = await storeOn();
    await store.persist('room', 'e', { brief: true }, 100);
    await store.persist('room', 'e', { kept: true }, null);
    await clock.advance(99);
    expect(await payloads(store, 'room', 0, 25)).toEqual([{ brief: true }, { kept: true }]);
    await clock.advance(1);
    expect(await payloads(store, 'room', 0, 25)).toEqual([{ kept: true }]);
  });

  it("gives those still kept when the history's ttlMs dropped the oldest of the newest `limit`", async () => {
    const { store, clock } = await storeOn({ ttlMs: 1000 });
    await store.persist('room', 'e', { n: 1 }, null);
    await clock.advance(600);
    await store.persist('room', 'e', { n: 2 }, null);
    await clock.advance(300);
    await store.persist('room', 'e', { n: 3 }, null);
    await clock.advance(200); // n: 1 is 1100 ms old
    expect(await payloads(store, 'room', 0, 3)).toEqual([{ n: 2 }, { n: 3 }]);
    expect(await payloads(store, 'room', 0, 25)).toEqual([{ n: 2 }, { n: 3 }]);
    await clock.advance(600); // n: 2 is 1100 ms old
    expect(await payloads(store, 'room', 0, 3)).toEqual([{ n: 3 }]);
    await clock.advance(500);
    expect(await payloads(store, 'room', 0, 3)).toEqual([]);
  });

  it('refuses a replay heavier than maxReplayBytes, saying to ask for fewer; fewer fit', async () => {
    const { store } = await storeOn({ maxReplayBytes: 3500 });
    for (const n of [1, 2, 3]) await store.persist('room', 'e', { n, text: 'x'.repeat(1200) }, null);
    expect(await store.replay('room', 0, 3)).toEqual({
      refused: expect.stringMatching(/newest 3 stored broadcasts are more than this server replays at once/),
    });
    expect(((await payloads(store, 'room', 0, 2)) as Array<{ n: number }>).map((payload) => payload.n)).toEqual([2, 3]);
  });

  it('needs a PubSub with history for the persisted topics', () => {
    expect(() => new HistoryBroadcastStore(new PubSub())).toThrow(/keeps no history for realtime-persisted:\*/);
    expect(() => new HistoryBroadcastStore(new PubSub({ history: { topics: ['rooms:*'] } }))).toThrow(TypeError);
  });
});
