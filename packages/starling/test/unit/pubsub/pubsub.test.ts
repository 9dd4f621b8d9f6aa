/**
 * PubSub's own guarantees, beyond what every adapter promises (the shared adapter suite): a
 * failing adapter never surfaces as a rejected promise, and local delivery does not depend on it.
 */
import { describe, expect, it } from 'vitest';
import type { BroadcastMessage } from '../../../src/protocol.ts';
import type { PubSubAdapter } from '../../../src/pubsub/adapter.ts';
import { PubSub } from '../../../src/pubsub/pubsub.ts';

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
