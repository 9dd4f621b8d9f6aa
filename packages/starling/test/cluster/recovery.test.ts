/**
 * Gap-free recovery across real server processes sharing a Redis (docs/recovery.md): a client
 * leaves node A and recovers on node B what was published meanwhile on both nodes; and when Redis
 * comes back empty (a private redis-server this file kills and restarts), the old position is
 * refused — `recovered: false`, nothing replayed — never a stale or partial replay.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { clusterEnv, joinedClient, killAllNodes, startCluster, untilSubscribed, type ChannelClient, type ClusterNode } from '../support/cluster.ts';
import { eventually } from '@starling/test-support/eventually';
import { startThrowawayRedis, type ThrowawayRedis } from '@starling/test-support/redis';

let redis: ThrowawayRedis;
const clients: ChannelClient[] = [];

beforeAll(async () => {
  redis = await startThrowawayRedis();
});

afterEach(async () => {
  for (const client of clients.splice(0)) client.raw.close();
  await killAllNodes();
});

afterAll(async () => {
  await redis?.stop();
});

type Frame = [string | null, string | null, string, string, Record<string, unknown>];

/** The frames of `client` on its topic, as V2 tuples, in arrival order. */
function framesOf(client: ChannelClient): Frame[] {
  return client.raw.frames.flatMap((frame) => (!frame.binary && Array.isArray(frame.json) && frame.json[2] === client.topic ? [frame.json as Frame] : []));
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

describe('recovery across nodes over Redis', () => {
  it('a client that leaves node A recovers on node B everything published meanwhile on both nodes, once and in order', async () => {
    const env = clusterEnv(redis.url);
    const [a, b] = (await startCluster(env, ['A', 'B'])) as [ClusterNode, ClusterNode];
    const topic = 'test:h-room';
    const onA = await joined(a, topic);
    const watcher = await joined(b, topic); // keeps B subscribed, sees the stream order
    await untilSubscribed(env, topic, 2);
    await a.broadcast(topic, 'news', { n: 0 });
    await eventually(() => expect(onA.received('news')).toHaveLength(1));
    const last = framesOf(onA).find((frame) => frame[3] === 'news')![1] as string;
    onA.raw.close();

    for (let n = 1; n <= 40; n++) await (n % 2 === 0 ? a : b).broadcast(topic, 'news', { n });
    await eventually(() => expect(watcher.received('news')).toHaveLength(41));

    const back = await joined(b, topic, { recover: last });
    const stream = await streamPush(back);
    expect(stream.recovered).toBe(true);
    const replayed = framesOf(back).filter((frame) => frame[3] === 'news');
    const expected = framesOf(watcher)
      .filter((frame) => frame[3] === 'news')
      .slice(1); // the stream order, after n=0
    expect(replayed.map((frame) => [frame[1], frame[4]])).toEqual(expected.map((frame) => [frame[1], frame[4]]));
    expect(new Set(replayed.map((frame) => frame[4].n)).size).toBe(40);
    const [epoch, offset] = last.split(':');
    expect(replayed.map((frame) => frame[1])).toEqual(Array.from({ length: 40 }, (_, i) => `${epoch}:${Number(offset) + 1 + i}`));
    expect(stream.position).toBe(replayed.at(-1)![1]);
    // phx_stream comes after the replay, and live traffic after it.
    const order = framesOf(back).map((frame) => frame[3]);
    expect(order.lastIndexOf('news')).toBeLessThan(order.indexOf('phx_stream'));
    await a.broadcast(topic, 'news', { n: 41 });
    await eventually(() => expect(back.received('news').at(-1)).toEqual({ n: 41 }));
  });

  it('after Redis lost its data, an old position is refused (recovered false, nothing replayed) and positions start a new epoch', async () => {
    const env = clusterEnv(redis.url);
    const [a, b] = (await startCluster(env, ['A', 'B'])) as [ClusterNode, ClusterNode];
    const topic = 'test:h-loss';
    const first = await joined(a, topic);
    await untilSubscribed(env, topic, 1);
    for (let n = 1; n <= 5; n++) await a.broadcast(topic, 'news', { n });
    await eventually(() => expect(first.received('news')).toHaveLength(5));
    const before = framesOf(first).filter((frame) => frame[3] === 'news')[1]![1] as string; // offset 2

    await redis.restart(); // same port, empty
    // A join on a history topic needs the stream: while the node has not reconnected, it ends in
    // phx_error (the official client rejoins by itself; this raw one tries again).
    let watcher: ChannelClient | undefined;
    await eventually(async () => {
      const client = await joined(b, topic);
      await eventually(() => expect(framesOf(client).map((frame) => frame[3])).toContainEqual(expect.stringMatching(/^phx_(stream|error)$/)));
      expect(framesOf(client).map((frame) => frame[3])).toContain('phx_stream');
      watcher = client;
    }, 15_000);
    await eventually(async () => {
      // Both nodes reconnected and resubscribed: a new publication reaches the watcher.
      await a.broadcast(topic, 'news', { n: 'after' });
      expect(watcher?.received('news')).toContainEqual({ n: 'after' });
    }, 15_000);

    const back = await joined(b, topic, { recover: before });
    const stream = await streamPush(back);
    expect(stream.recovered).toBe(false);
    expect(stream.position.split(':')[0]).not.toBe(before.split(':')[0]);
    expect(back.received('news')).toEqual([]);
  });
});
