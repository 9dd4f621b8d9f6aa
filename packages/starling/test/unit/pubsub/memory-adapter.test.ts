/**
 * The in-process adapter's own side of the adapter contract (pubsub/adapter.ts, PubSubNode.deliver):
 * a subscriber that throws is a bug of that subscriber, so the adapter guards every delivery as
 * the Redis adapter does — the throw is logged, and neither reaches the publisher nor an uncaught
 * microtask nor stops the delivery to other nodes and of later broadcasts.
 */
import { eventually } from '@starling/test-support/eventually';
import { afterEach, describe, expect, it } from 'vitest';
import type { LogFields, Logger } from '../../../src/logger.ts';
import type { BroadcastMessage } from '../../../src/protocol.ts';
import { MemoryBus, MemoryPubSubAdapter } from '../../../src/pubsub/memory-adapter.ts';
import { PubSub } from '../../../src/pubsub/pubsub.ts';

/** A logger that keeps its errors. */
function recordingLogger(): Logger & { errors: Array<{ fields: LogFields; message: string }> } {
  const errors: Array<{ fields: LogFields; message: string }> = [];
  const ignore = (): void => undefined;
  return { errors, debug: ignore, info: ignore, warn: ignore, error: (fields, message) => void errors.push({ fields, message }) };
}

const throwing = {
  deliver: (): void => {
    throw new Error('subscriber bug');
  },
};

let nodes: PubSub[] = [];
afterEach(async () => {
  await Promise.all(nodes.map((node) => node.close()));
  nodes = [];
});

async function cluster(
  history: boolean,
): Promise<{ a: PubSub; b: PubSub; loggerA: ReturnType<typeof recordingLogger>; loggerB: ReturnType<typeof recordingLogger> }> {
  const bus = new MemoryBus();
  const loggerA = recordingLogger();
  const loggerB = recordingLogger();
  const options = history ? { history: { topics: ['room'] } } : {};
  const a = new PubSub({ adapter: new MemoryPubSubAdapter(bus, { logger: loggerA }), ...options });
  const b = new PubSub({ adapter: new MemoryPubSubAdapter(bus, { logger: loggerB }), ...options });
  nodes = [a, b];
  await Promise.all(nodes.map((node) => node.start()));
  return { a, b, loggerA, loggerB };
}

describe('MemoryPubSubAdapter guards every delivery', () => {
  it('on a history topic: a subscriber that throws on the publishing node does not reach the publisher or stop the other nodes', async () => {
    const { a, b, loggerA } = await cluster(true);
    const onB: BroadcastMessage[] = [];
    await a.subscribe('room', throwing);
    await b.subscribe('room', { deliver: (message) => void onB.push(message) });
    expect(() => a.broadcast('room', 'first', {})).not.toThrow();
    expect(() => a.broadcast('room', 'second', {})).not.toThrow();
    expect(onB.map((message) => [message.event, message.position?.offset])).toEqual([
      ['first', 1],
      ['second', 2],
    ]);
    expect(loggerA.errors.map((entry) => [entry.message, entry.fields.topic])).toEqual([
      ['delivering a broadcast threw', 'room'],
      ['delivering a broadcast threw', 'room'],
    ]);
  });

  it('on a plain topic: a subscriber that throws on a receiving node is logged there, and later broadcasts still arrive', async () => {
    const { a, b, loggerB } = await cluster(false);
    const onB: string[] = [];
    await b.subscribe('room', throwing);
    await a.subscribe('room', { deliver: () => undefined });
    a.broadcast('room', 'first', {});
    await eventually(() => expect(loggerB.errors).toHaveLength(1));
    await b.subscribe('other', { deliver: (message) => void onB.push(message.event) });
    a.broadcast('other', 'second', {});
    await eventually(() => expect(onB).toEqual(['second']));
  });
});
