/**
 * Redis Cluster-specific cases of the RedisClusterPubSubAdapter, on a private 3-master cluster:
 * where a topic's data lives — its meta, its list and its shard channel in one hash slot, whatever
 * braces the topic name holds (a hash tag in a topic must not split its keys over two slots) —
 * and a prefix that would do so refused; and the whole cluster's outage, after which broadcasts
 * resume, also on topics subscribed while it was down.
 */
import { randomBytes } from 'node:crypto';
import { Cluster } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisClusterPubSubAdapter } from '../../../src/redis/index.ts';
import { PubSub } from '../../../src/pubsub/pubsub.ts';
import { eventually } from '@starling/test-support/eventually';
import { startThrowawayRedisCluster, type ThrowawayRedisCluster } from '@starling/test-support/redis-cluster';
import { Recorder } from './pubsub-adapter.suite.ts';

const logger = pino({ level: 'silent' });
let redis: ThrowawayRedisCluster;
let admin: Cluster;
const started: PubSub[] = [];

beforeAll(async () => {
  redis = await startThrowawayRedisCluster();
  admin = new Cluster([...redis.nodes], { lazyConnect: true });
  await admin.connect();
}, 30_000);

afterEach(async () => {
  await Promise.all(started.splice(0).map((node) => node.close()));
});

afterAll(async () => {
  admin.disconnect();
  await redis.stop();
});

/** Every key under `prefix`, with the slot Redis puts it in. */
async function keysOf(prefix: string): Promise<Array<{ key: string; slot: number }>> {
  const keys = (await Promise.all(admin.nodes('master').map((node) => node.keys(`${prefix}:*`)))).flat();
  return Promise.all(keys.map(async (key) => ({ key, slot: Number(await admin.cluster('KEYSLOT', key)) })));
}

describe('RedisClusterPubSubAdapter: where a topic lives', () => {
  it('keeps each topic’s meta, list and shard channel in one slot, whatever braces its name holds', async () => {
    const prefix = `layout-${randomBytes(4).toString('hex')}`;
    const topics = ['rooms:lobby', 'rooms:{a}', '}{', '{}x', 'rooms:{b}c}'];
    const history = { topics: ['*'] };
    const a = new PubSub({ adapter: new RedisClusterPubSubAdapter({ nodes: redis.nodes, prefix, logger }), history });
    const b = new PubSub({ adapter: new RedisClusterPubSubAdapter({ nodes: redis.nodes, prefix, logger }), history });
    started.push(a, b);
    await Promise.all([a.start(), b.start()]);
    const heard = new Map(topics.map((topic) => [topic, new Recorder()]));
    for (const topic of topics) await b.subscribe(topic, heard.get(topic)!);
    for (const topic of topics) a.broadcast(topic, 'n', { topic });
    // Delivered through each topic's shard channel, from the append script on the topic's slot.
    for (const topic of topics) await eventually(() => expect(heard.get(topic)!.received.map((m) => m.payload)).toEqual([{ topic }]));

    const keys = await keysOf(prefix);
    for (const topic of topics) {
      const own = keys.filter(({ key }) => key.endsWith(`:m:${topic}`) || key.endsWith(`:l:${topic}`));
      expect(own.map(({ key }) => key.slice(key.lastIndexOf('}:') + 2, key.lastIndexOf('}:') + 3)).sort(), topic).toEqual(['l', 'm']);
      expect(new Set(own.map(({ slot }) => slot)).size, `${topic}: one slot`).toBe(1);
      // The slot's store key (epoch, generation) is in that slot too.
      expect(
        keys.some(({ key, slot }) => key.endsWith(':s') && slot === own[0]!.slot),
        `${topic}: its slot's store`,
      ).toBe(true);
    }
    // The topics spread over several slots (and so, shards): not all on one.
    const slots = new Set(keys.filter(({ key }) => key.includes(':m:')).map(({ slot }) => slot));
    expect(slots.size).toBeGreaterThan(1);

    // Recovery works for each of them (their keys are found where the append put them).
    for (const topic of topics) {
      const { position } = await b.readStream(topic, null);
      expect((await b.readStream(topic, { epoch: position.epoch, offset: 0 })).publications.map((m) => m.payload)).toEqual([{ topic }]);
    }
  });

  it('resumes broadcasts after the whole cluster was down, also on topics subscribed during the outage', async () => {
    const prefix = `outage-${randomBytes(4).toString('hex')}`;
    const a = new PubSub({ adapter: new RedisClusterPubSubAdapter({ nodes: redis.nodes, prefix, logger }) });
    const b = new PubSub({ adapter: new RedisClusterPubSubAdapter({ nodes: redis.nodes, prefix, logger }) });
    started.push(a, b);
    await Promise.all([a.start(), b.start()]);
    const before = new Recorder();
    await b.subscribe('room', before);
    a.broadcast('room', 'before', {});
    await eventually(() => expect(before.events).toEqual(['before']));

    await redis.killAll();
    await eventually(() => expect(a.connected).toBe(false), 10_000);
    const late = new Recorder();
    await b.subscribe('late', late); // refused by a cluster that is down: must be made on reconnect
    expect(() => a.broadcast('room', 'during', {})).not.toThrow();
    await redis.restartAll();

    await eventually(
      () => {
        a.broadcast('room', 'probe', {});
        a.broadcast('late', 'probe', {});
        expect(before.events).toContain('probe');
        expect(late.events).toContain('probe');
      },
      20_000,
      100,
    );
    expect(before.events).not.toContain('during');
  }, 40_000);

  it('refuses a prefix with a brace: it would put every topic in one slot', () => {
    for (const prefix of ['chat{1}', 'a}b', '{']) {
      expect(() => new RedisClusterPubSubAdapter({ nodes: redis.nodes, prefix, logger }), prefix).toThrow(
        expect.objectContaining({ code: 'ERR_PUBSUB_ADAPTER', message: expect.stringContaining('must not contain { or }') }),
      );
    }
  });
});
