/**
 * Scale out on a Redis Cluster (multi-process): two real server processes on a private Redis
 * Cluster of three masters (started once for this file), with `RedisClusterPubSubAdapter`. Clients
 * on different nodes talk as if there were one server — broadcasts cross nodes, presence is
 * cluster-wide, a client recovers on node B by position what was published while it was away —
 * and one shard's outage stays that shard's: its master killed and restarted empty, its topics get
 * a new epoch (an old position: `recovered: false`, nothing replayed) while the topics of the other
 * shards carry on, during the outage and across it.
 */
import { Cluster } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  joinedClient,
  killAllNodes,
  presenceRefs,
  presenceSeenBy,
  redisClusterEnv,
  startCluster,
  untilSubscribed,
  type ChannelClient,
  type ClusterNode,
} from '../support/cluster.ts';
import { topicSlot } from '../../src/redis/cluster-slots.ts';
import { eventually } from '@starling/test-support/eventually';
import { startThrowawayRedisCluster, type ThrowawayRedisCluster } from '@starling/test-support/redis-cluster';

let redis: ThrowawayRedisCluster;
const clients: ChannelClient[] = [];

beforeAll(async () => {
  redis = await startThrowawayRedisCluster();
}, 30_000);

afterEach(async () => {
  for (const client of clients.splice(0)) client.raw.close();
  await killAllNodes();
});

afterAll(async () => {
  await redis?.stop();
});

type Frame = [string | null, string | null, string, string, Record<string, unknown>];

function framesOf(client: ChannelClient): Frame[] {
  return client.raw.frames.flatMap((frame) => (!frame.binary && Array.isArray(frame.json) && frame.json[2] === client.topic ? [frame.json as Frame] : []));
}

/** The positions of the `news` pushes `client` received, in arrival order. */
function newsPositions(client: ChannelClient): string[] {
  return framesOf(client)
    .filter((frame) => frame[3] === 'news')
    .map((frame) => frame[1] as string);
}

async function streamPush(client: ChannelClient): Promise<{ position: string; recovered?: boolean }> {
  let push: Frame | undefined;
  await eventually(() => {
    push = framesOf(client).find((frame) => frame[3] === 'phx_stream');
    expect(push).toBeDefined();
  });
  return push![4] as { position: string; recovered?: boolean };
}

async function joined(node: ClusterNode, topic: string, payload: Record<string, unknown> = {}): Promise<ChannelClient> {
  const client = await joinedClient(node, topic, payload);
  clients.push(client);
  return client;
}

/** The index (in `redis.nodes`) of the master serving `topic`'s slot. */
async function masterOf(topic: string): Promise<number> {
  const admin = new Cluster([...redis.nodes], { lazyConnect: true });
  try {
    await admin.connect();
    const slots = await admin.cluster('SLOTS');
    const slot = topicSlot(topic);
    const range = slots.find(([from, to]) => from <= slot && slot <= to);
    return redis.nodes.findIndex((node) => node.port === range?.[2]?.[1]);
  } finally {
    admin.disconnect();
  }
}

/** A history topic (`test:h…`) served by master `index`, or (`on: false`) by another one. */
async function topicOn(index: number, on: boolean, stem: string): Promise<string> {
  for (let n = 0; ; n++) {
    const topic = `test:h-${stem}-${n}`;
    if (((await masterOf(topic)) === index) === on) return topic;
  }
}

describe('a Starling cluster on a Redis Cluster', () => {
  it('carries broadcasts across nodes, in order per publisher', async () => {
    const env = redisClusterEnv(redis.nodesEnv);
    const [a, b] = (await startCluster(env, ['A', 'B'])) as [ClusterNode, ClusterNode];
    const rooms = ['test:room-1', 'test:room-2', 'test:room-3'];
    const onB = await Promise.all(rooms.map((topic) => joined(b, topic)));
    for (const topic of rooms) await untilSubscribed(env, topic, 1);
    for (let n = 0; n < 20; n++) for (const topic of rooms) await a.broadcast(topic, 'news', { n });
    for (const client of onB) {
      await eventually(() => expect(client.received('news')).toEqual(Array.from({ length: 20 }, (_, n) => ({ n }))));
    }
  });

  it('lists the same presences on both nodes, and each client’s state and diffs converge to them', async () => {
    const [a, b] = (await startCluster(redisClusterEnv(redis.nodesEnv, { PRESENCE_HEARTBEAT_MS: '500' }), ['A', 'B'])) as [ClusterNode, ClusterNode];
    const topic = 'test:presence';
    const alice = await joined(a, topic, { track: 'alice' });
    const bob = await joined(b, topic, { track: 'bob' });
    const list = await eventually(async () => {
      const [onA, onB] = await Promise.all([a.presence(topic), b.presence(topic)]);
      expect(Object.keys(onA).sort()).toEqual(['alice', 'bob']);
      expect(onB).toEqual(onA);
      return onA;
    }, 5000);
    await eventually(() => {
      expect(presenceSeenBy(alice.raw, topic)).toEqual(presenceRefs(list));
      expect(presenceSeenBy(bob.raw, topic)).toEqual(presenceRefs(list));
    }, 5000);
  });

  it('a client that leaves node A recovers on node B, by position, everything published meanwhile on both nodes', async () => {
    const env = redisClusterEnv(redis.nodesEnv);
    const [a, b] = (await startCluster(env, ['A', 'B'])) as [ClusterNode, ClusterNode];
    const topic = 'test:h-room';
    const onA = await joined(a, topic);
    const watcher = await joined(b, topic);
    await untilSubscribed(env, topic, 2);
    await a.broadcast(topic, 'news', { n: 0 });
    await eventually(() => expect(onA.received('news')).toHaveLength(1));
    const last = newsPositions(onA)[0]!;
    onA.raw.close();

    for (let n = 1; n <= 20; n++) await (n % 2 === 0 ? a : b).broadcast(topic, 'news', { n });
    await eventually(() => expect(watcher.received('news')).toHaveLength(21));

    const back = await joined(b, topic, { recover: last });
    const stream = await streamPush(back);
    expect(stream.recovered).toBe(true);
    const [epoch, offset] = last.split(':');
    expect(newsPositions(back)).toEqual(Array.from({ length: 20 }, (_, i) => `${epoch}:${Number(offset) + 1 + i}`));
    expect(newsPositions(back)).toEqual(newsPositions(watcher).slice(1));
    expect(back.received('news')).toEqual(watcher.received('news').slice(1));
  });

  it('one shard down and back empty: its topics get a new epoch (recovered false), the other shards’ topics carry on', async () => {
    const env = redisClusterEnv(redis.nodesEnv);
    const [a, b] = (await startCluster(env, ['A', 'B'])) as [ClusterNode, ClusterNode];
    const lost = await topicOn(0, true, 'lost'); // on the master that is killed
    const kept = await topicOn(0, false, 'kept'); // on another master
    const lostOnA = await joined(a, lost);
    const keptOnA = await joined(a, kept);
    await untilSubscribed(env, lost, 1);
    await untilSubscribed(env, kept, 1);
    for (let n = 1; n <= 3; n++) {
      await b.broadcast(lost, 'news', { n });
      await b.broadcast(kept, 'news', { n });
    }
    await eventually(() => expect([lostOnA.received('news').length, keptOnA.received('news').length]).toEqual([3, 3]));
    const lostPosition = newsPositions(lostOnA)[2]!;
    const keptPosition = newsPositions(keptOnA)[2]!;
    keptOnA.raw.close(); // comes back later with its position

    await redis.killMaster(0);
    // The other shards carry on: a publication on `kept` during the outage is delivered and stored.
    const keptWatcher = await joined(a, kept);
    await eventually(async () => {
      await b.broadcast(kept, 'news', { n: 'during' });
      expect(keptWatcher.received('news')).toContainEqual({ n: 'during' });
    }, 10_000);

    await redis.restartMaster(0); // its slots back, its data gone
    await eventually(async () => {
      await b.broadcast(lost, 'news', { n: 'after' });
      expect(lostOnA.received('news')).toContainEqual({ n: 'after' });
    }, 15_000);

    const lostBack = await joined(b, lost, { recover: lostPosition });
    const lostStream = await streamPush(lostBack);
    expect(lostStream.recovered).toBe(false);
    expect(lostStream.position.split(':')[0]).not.toBe(lostPosition.split(':')[0]);
    expect(lostBack.received('news')).toEqual([]);

    const keptBack = await joined(b, kept, { recover: keptPosition });
    const keptStream = await streamPush(keptBack);
    expect(keptStream.recovered).toBe(true);
    expect(keptStream.position.split(':')[0]).toBe(keptPosition.split(':')[0]);
    expect(keptBack.received('news').length).toBeGreaterThanOrEqual(1);
    expect(keptBack.received('news').every((payload) => (payload as { n: unknown }).n === 'during')).toBe(true);
  });
});
