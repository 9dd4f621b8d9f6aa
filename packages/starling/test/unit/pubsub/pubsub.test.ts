/**
 * PubSub's own guarantees, beyond what every adapter promises (the shared adapter suite): a
 * failing adapter never surfaces as a rejected promise, and local delivery does not depend on it.
 */
import { describe, expect, it } from 'vitest';
import type { BroadcastMessage } from '../../../src/protocol.ts';
import type { PubSubAdapter } from '../../../src/pubsub/adapter.ts';
import { PubSub } from '../../../src/pubsub/pubsub.ts';
import { settle } from '../../../src/testing/manual-clock.ts';
import { Endpoint } from '../../../src/endpoint.ts';

/** An adapter whose backend is gone: every subscribe rejects. */
function brokenAdapter(): PubSubAdapter & { published: BroadcastMessage[] } {
  const published: BroadcastMessage[] = [];
  return {
    published,
    start: () => Promise.resolve(),
    subscribe: () => Promise.reject(new Error('backend unreachable')),
    unsubscribe: () => Promise.reject(new Error('backend unreachable')),
    publish: (message) => void published.push(message),
    close: () => Promise.resolve(),
  };
}

describe('PubSub with an adapter whose subscribe rejects', () => {
  it('resolves subscribe anyway, counts the failure, and keeps delivering locally', async () => {
    const adapter = brokenAdapter();
    const pubsub = new PubSub({ adapter });
    await pubsub.start();
    const received: string[] = [];
    // Ignoring the promise, as a channel does on join, must be safe: it never rejects.
    const subscribed = pubsub.subscribe('rooms:lobby', { deliver: (message) => received.push(message.event) });
    await expect(subscribed).resolves.toBeUndefined();
    expect(pubsub.stats.subscribeFailures).toBe(1);

    pubsub.broadcast('rooms:lobby', 'new_msg', { body: 'hi' });
    expect(received).toEqual(['new_msg']);
    expect(adapter.published).toEqual([{ topic: 'rooms:lobby', event: 'new_msg', payload: { body: 'hi' } }]);
  });

  it('swallows a rejected unsubscribe as well', async () => {
    const pubsub = new PubSub({ adapter: brokenAdapter() });
    await pubsub.start();
    const subscriber = { deliver: () => {} };
    await pubsub.subscribe('t', subscriber);
    pubsub.unsubscribe('t', subscriber);
    // An unhandled rejection would fail this test file (vitest reports them as errors).
    await new Promise((resolve) => setImmediate(resolve));
    expect(pubsub.subscriberCount('t')).toBe(0);
  });
});

describe('PubSub subscriptions under way', () => {
  it('makes a later subscriber of the topic wait for the adapter subscription the first one started', async () => {
    let confirm = (): void => undefined;
    const adapter: PubSubAdapter = {
      start: () => Promise.resolve(),
      subscribe: () => new Promise<void>((resolve) => (confirm = resolve)),
      unsubscribe: () => Promise.resolve(),
      publish: () => undefined,
      close: () => Promise.resolve(),
    };
    const pubsub = new PubSub({ adapter });
    await pubsub.start();
    const settled: string[] = [];
    void pubsub.subscribe('room', { deliver: () => undefined }).then(() => settled.push('first'));
    void pubsub.subscribe('room', { deliver: () => undefined }).then(() => settled.push('second'));
    await settle(); // every promise chain that does not wait for the adapter has run by now
    expect(settled).toEqual([]); // what a history join reads after must not be read before Redis confirmed
    confirm();
    await settle();
    expect(settled).toEqual(['first', 'second']);
    await expect(pubsub.subscribe('room', { deliver: () => undefined })).resolves.toBeUndefined(); // confirmed: at once
  });
});

describe('PubSub history options', () => {
  it('refuses history with an adapter that keeps no streams, and bounds that are not positive integers', () => {
    const plain: PubSubAdapter = { ...brokenAdapter() };
    // @ts-expect-error history needs a HistoryAdapter: a plain adapter does not type-check…
    expect(() => new PubSub({ adapter: plain, history: { topics: ['rooms:*'] } })).toThrow(expect.objectContaining({ code: 'ERR_PUBSUB_ADAPTER' }) as Error);
    // …nor, from a caller that is not type-checked (plain JavaScript), pass at run time.
    expect(() => Reflect.construct(PubSub, [{ adapter: plain, history: { topics: ['rooms:*'] } }])).toThrow(
      expect.objectContaining({ code: 'ERR_PUBSUB_ADAPTER' }) as Error,
    );
    for (const bad of [{ size: 0 }, { ttlMs: 1.5 }, { maxTopics: -1 }]) {
      expect(() => new PubSub({ history: { topics: ['rooms:*'], ...bad } })).toThrow(RangeError);
    }
    expect(() => new PubSub({ history: { topics: ['rooms:*x'] } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_TOPIC_PATTERN' }) as Error);
  });

  it('belong to the PubSub an endpoint is given, not to the endpoint too', () => {
    expect(() => new Endpoint({ pubsub: new PubSub(), history: { topics: ['rooms:*'] } })).toThrow(TypeError);
    expect(new Endpoint({ history: { topics: ['rooms:*'] } }).pubsub.hasHistory('rooms:lobby')).toBe(true);
  });

  it('covers topics by pattern or predicate', () => {
    const byPattern = new PubSub({ history: { topics: ['rooms:*', 'system'] } });
    expect(['rooms:lobby', 'system', 'systems', 'users:1'].map((topic) => byPattern.hasHistory(topic))).toEqual([true, true, false, false]);
    const byPredicate = new PubSub({ history: { topics: (topic) => topic.endsWith(':log') } });
    expect(byPredicate.hasHistory('a:log')).toBe(true);
    expect(byPredicate.hasHistory('a:chat')).toBe(false);
  });
});
