/**
 * Scale out (multi-process): cluster-wide presence across three real server processes on one
 * Redis (the machine's shared one, a fresh prefix per test). Every node lists the same presences
 * and every client's `presence_state` and `presence_diff`s add up to them; a node that shuts down
 * gracefully takes its presences with it at once, not after the down bound.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  clusterEnv,
  joinedClient,
  killAllNodes,
  liveChildProcesses,
  presenceRefs,
  presenceSeenBy,
  startCluster,
  stopNode,
  within,
  type ChannelClient,
  type ClusterNode,
} from '../support/cluster.ts';
import { eventually } from '@starling/test-support/eventually';
import { ensureRedis } from '@starling/test-support/redis';

/** Short enough to keep tests fast, long enough that "at once" is clearly not the down bound. */
const TIMING = { PRESENCE_HEARTBEAT_MS: '500', PRESENCE_DOWN_AFTER_MS: '3000' } as const;

const clients: ChannelClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.raw.close();
  await killAllNodes();
});

afterAll(() => {
  expect(liveChildProcesses()).toEqual([]);
});

async function joined(node: ClusterNode, topic: string, payload: Record<string, unknown> = {}): Promise<ChannelClient> {
  const client = await joinedClient(node, topic, payload);
  clients.push(client);
  return client;
}

describe('presence across three nodes', () => {
  it('lists the same presences on every node, and every client’s state and diffs converge to them', async () => {
    const nodes = await startCluster(clusterEnv(await ensureRedis(), TIMING));
    const [a, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    const topic = 'test:presence';
    const watcher = await joined(c, topic);
    const alice = await joined(a, topic, { track: 'alice' });
    const bob = await joined(b, topic, { track: 'bob' });

    const lists = await eventually(
      async () => {
        const lists = await Promise.all(nodes.map((node) => node.presence(topic)));
        expect(Object.keys(lists[0]!).sort()).toEqual(['alice', 'bob']);
        expect(lists[1], 'B’s list').toEqual(lists[0]);
        expect(lists[2], 'C’s list').toEqual(lists[0]);
        return lists;
      },
      5000,
      50,
    );
    expect(lists[0]!.alice!.metas).toEqual([{ online_at: '1', phx_ref: expect.any(String) }]);

    const expected = presenceRefs(lists[0]!);
    await eventually(
      () => {
        expect(presenceSeenBy(alice.raw, topic), 'alice on A').toEqual(expected);
        expect(presenceSeenBy(bob.raw, topic), 'bob on B').toEqual(expected);
        expect(presenceSeenBy(watcher.raw, topic), 'a watcher on C').toEqual(expected);
      },
      5000,
      50,
    );
  });

  it('removes the presences of a node that shuts down gracefully on the others at once', async () => {
    const [a, b, c] = (await startCluster(clusterEnv(await ensureRedis(), TIMING))) as [ClusterNode, ClusterNode, ClusterNode];
    const topic = 'test:shutdown';
    const watchers = [await joined(b, topic), await joined(c, topic)];
    const alice = await joined(a, topic, { track: 'alice' });
    await eventually(
      async () => {
        for (const watcher of watchers) expect(Object.keys(presenceSeenBy(watcher.raw, topic))).toEqual(['alice']);
        for (const node of [b, c]) expect(Object.keys(await node.presence(topic))).toEqual(['alice']);
      },
      5000,
      50,
    );

    const startedAt = Date.now();
    const exit = stopNode(a, 'SIGTERM');
    const leftAfter = await Promise.all(
      watchers.map(async (watcher) => {
        await watcher.raw.nextJson((frame) => frame[2] === topic && frame[3] === 'presence_diff' && 'alice' in (frame[4] as { leaves: object }).leaves, 5000);
        return Date.now() - startedAt;
      }),
    );
    console.log(`graceful shutdown: alice left on B after ${leftAfter[0]} ms, on C after ${leftAfter[1]} ms (down bound ${TIMING.PRESENCE_DOWN_AFTER_MS} ms)`);

    expect(await exit).toEqual({ code: 0, signal: null });
    // The goodbye, not the down detection: far below the 3 s bound.
    for (const ms of leftAfter) expect(ms).toBeLessThan(1000);
    for (const node of [b, c]) expect(await node.presence(topic)).toEqual({});
    // Alice's own socket was drained with 1012 (reconnect, elsewhere).
    expect((await within(alice.raw.closed, 1000, 'alice’s socket closed')).code).toBe(1012);
  });
});
