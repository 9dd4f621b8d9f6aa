/**
 * Scale out over NATS (multi-process): real server processes sharing the machine's NATS with
 * JetStream (a fresh prefix per test, its streams deleted after it) instead of Redis — broadcasts
 * cross between nodes, presence is cluster-wide and a SIGKILLed node's presences leave after the
 * down bound, and a client that leaves node A recovers on node B, by its position, everything
 * published meanwhile on both nodes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  joinedClient,
  killAllNodes,
  natsClusterEnv,
  presenceRefs,
  presenceSeenBy,
  startCluster,
  stopNode,
  type ChannelClient,
  type ClusterNode,
  type ClusterNodeEnv,
} from '../support/cluster.ts';
import { eventually } from '@starling/test-support/eventually';
import { deleteNatsStreams, ensureNats } from '@starling/test-support/nats';

const TIMING = { PRESENCE_HEARTBEAT_MS: '300', PRESENCE_DOWN_AFTER_MS: '1500' } as const;
const clients: ChannelClient[] = [];
const envs: ClusterNodeEnv[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.raw.close();
  await killAllNodes();
  for (const env of envs.splice(0)) await deleteNatsStreams(env.NATS_URL ?? '', env.REDIS_PREFIX);
});

async function cluster(names: readonly string[]): Promise<ClusterNode[]> {
  const env = natsClusterEnv(await ensureNats(), TIMING);
  envs.push(env);
  return startCluster(env, names);
}

async function joined(node: ClusterNode, topic: string, payload: Record<string, unknown> = {}): Promise<ChannelClient> {
  const client = await joinedClient(node, topic, payload);
  clients.push(client);
  return client;
}

type Frame = [string | null, string | null, string, string, Record<string, unknown>];

function framesOf(client: ChannelClient): Frame[] {
  return client.raw.frames.flatMap((frame) => (!frame.binary && Array.isArray(frame.json) && frame.json[2] === client.topic ? [frame.json as Frame] : []));
}

/**
 * Broadcasts `probe` events from `node` until `client` received one: the join is answered before
 * NATS confirmed the node's subscription, and core NATS drops what nobody subscribes to yet.
 */
async function untilReached(node: ClusterNode, client: ChannelClient): Promise<void> {
  await eventually(async () => {
    await node.broadcast(client.topic, 'probe', {});
    await eventually(() => expect(client.received('probe').length).toBeGreaterThan(0), 200);
  }, 5000);
}

describe('a cluster over NATS', () => {
  it('carries broadcasts between nodes, both ways', async () => {
    const [a, b] = (await cluster(['A', 'B'])) as [ClusterNode, ClusterNode];
    const onA = await joined(a, 'test:room');
    const onB = await joined(b, 'test:room');
    await untilReached(a, onB);
    await untilReached(b, onA);
    await a.broadcast('test:room', 'news', { from: 'A' });
    await b.broadcast('test:room', 'news', { from: 'B' });
    // Each node's own broadcast reaches its client first: no order across publishers.
    for (const client of [onA, onB]) {
      await eventually(() => expect(client.received('news')).toHaveLength(2));
      expect(client.received('news')).toEqual(expect.arrayContaining([{ from: 'A' }, { from: 'B' }]));
    }
  });

  it('lists presences cluster-wide, and drops those of a SIGKILLed node after the down bound', async () => {
    const [a, b] = (await cluster(['A', 'B'])) as [ClusterNode, ClusterNode];
    const topic = 'test:presence';
    await joined(a, topic, { track: 'alice' });
    const bob = await joined(b, topic, { track: 'bob' });
    const both = await eventually(
      async () => {
        const [onA, onB] = await Promise.all([a.presence(topic), b.presence(topic)]);
        expect(Object.keys(onA).sort()).toEqual(['alice', 'bob']);
        expect(onB).toEqual(onA);
        return onA;
      },
      5000,
      50,
    );
    await eventually(() => expect(presenceSeenBy(bob.raw, topic)).toEqual(presenceRefs(both)), 5000, 50);

    await stopNode(a, 'SIGKILL');
    await eventually(async () => expect(Object.keys(await b.presence(topic))).toEqual(['bob']), 6000, 100);
    await eventually(() => expect(Object.keys(presenceSeenBy(bob.raw, topic))).toEqual(['bob']), 2000, 50);
  });

  it('lets a client that left node A recover on node B, by its position, what both nodes published meanwhile', async () => {
    const [a, b] = (await cluster(['A', 'B'])) as [ClusterNode, ClusterNode];
    const topic = 'test:h-room';
    const onA = await joined(a, topic);
    const watcher = await joined(b, topic); // keeps B subscribed, sees the stream order
    await a.broadcast(topic, 'news', { n: 0 });
    await eventually(() => expect(onA.received('news')).toHaveLength(1));
    await eventually(() => expect(watcher.received('news')).toHaveLength(1));
    const last = framesOf(onA).find((frame) => frame[3] === 'news')![1] as string;
    onA.raw.close();

    for (let n = 1; n <= 20; n++) await (n % 2 === 0 ? a : b).broadcast(topic, 'news', { n });
    await eventually(() => expect(watcher.received('news')).toHaveLength(21));

    const back = await joined(b, topic, { recover: last });
    let stream: Frame | undefined;
    await eventually(() => {
      stream = framesOf(back).find((frame) => frame[3] === 'phx_stream');
      expect(stream).toBeDefined();
    });
    expect(stream![4]).toMatchObject({ recovered: true });
    const replayed = framesOf(back).filter((frame) => frame[3] === 'news');
    const expected = framesOf(watcher)
      .filter((frame) => frame[3] === 'news')
      .slice(1);
    expect(replayed.map((frame) => [frame[1], frame[4]])).toEqual(expected.map((frame) => [frame[1], frame[4]]));
    const [epoch, offset] = last.split(':');
    expect(replayed.map((frame) => frame[1])).toEqual(Array.from({ length: 20 }, (_, i) => `${epoch}:${Number(offset) + 1 + i}`));
  });
});
