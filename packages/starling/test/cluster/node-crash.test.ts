/**
 * Scale out (multi-process): one of three real server processes dies the way a crash or the OOM
 * killer ends it (SIGKILL: no drain, no goodbye). The other nodes notice only by its silence, so
 * its presences leave there after the down bound (`PRESENCE_DOWN_AFTER_MS`, heartbeats every
 * `PRESENCE_HEARTBEAT_MS`) — not before, and not much later; they keep serving meanwhile; and an
 * official phoenix client that was on the dead node reconnects, through a proxy that now points at
 * a surviving node (as a load balancer would), rejoins its channel and can push.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  clusterEnv,
  joinedClient,
  killAllNodes,
  liveChildProcesses,
  presenceSeenBy,
  startCluster,
  stopNode,
  type ChannelClient,
  type ClusterNode,
} from '../support/cluster.ts';
import { eventually } from '@starling/test-support/eventually';
import { ClientPool, Inbox, inboxOf, phoenix18Client, pushOutcome } from '@starling/test-support/official-client';
import { ensureRedis } from '@starling/test-support/redis';
import { TcpProxy } from '@starling/test-support/tcp-proxy';

const HEARTBEAT_MS = 500;
const DOWN_AFTER_MS = 3000;
/**
 * When the leaves may arrive, counted from the kill. The dead node was last heard at most one
 * heartbeat before it died, so not before DOWN_AFTER − HEARTBEAT (less a little timer jitter);
 * the guarantee is DOWN_AFTER + HEARTBEAT, and the upper bound leaves room for a loaded machine.
 */
const EARLIEST_LEAVE_MS = DOWN_AFTER_MS - HEARTBEAT_MS - 100;
const LATEST_LEAVE_MS = 6000;

const clients: ChannelClient[] = [];
const pool = new ClientPool(phoenix18Client);
let proxy: TcpProxy | null = null;

afterEach(async () => {
  for (const client of clients.splice(0)) client.raw.close();
  await pool.close();
  await proxy?.close();
  proxy = null;
  await killAllNodes();
});

afterAll(() => {
  expect(liveChildProcesses()).toEqual([]);
});

function leaveOf(key: string, topic: string): (frame: unknown[]) => boolean {
  return (frame) => frame[2] === topic && frame[3] === 'presence_diff' && key in (frame[4] as { leaves: object }).leaves;
}

describe('a node killed with SIGKILL', () => {
  it('loses its presences on the other nodes within the down bound; they keep serving; its official client rejoins elsewhere', async () => {
    const env = clusterEnv(await ensureRedis(), { PRESENCE_HEARTBEAT_MS: String(HEARTBEAT_MS), PRESENCE_DOWN_AFTER_MS: String(DOWN_AFTER_MS) });
    const [a, b, c] = (await startCluster(env)) as [ClusterNode, ClusterNode, ClusterNode];
    const topic = 'test:crash';
    const watchers = [await joinedClient(b, topic), await joinedClient(c, topic)];
    clients.push(...watchers, await joinedClient(a, topic, { track: 'alice' }));

    // The official client's URL is fixed: the proxy decides which node it reaches.
    proxy = await TcpProxy.start(a.port);
    const socket = pool.socket(`ws://127.0.0.1:${proxy.port}/socket`);
    const channel = socket.channel(topic, {});
    const joins = new Inbox<string>();
    // The join push's hooks stay registered across rejoins: one entry per successful (re)join.
    channel.join(3000).receive('ok', () => joins.add('ok'));
    await joins.next(undefined, 3000);
    const news = inboxOf(channel, 'news');

    await eventually(
      async () => {
        for (const watcher of watchers) expect(Object.keys(presenceSeenBy(watcher.raw, topic))).toEqual(['alice']);
        for (const node of [b, c]) expect(Object.keys(await node.presence(topic))).toEqual(['alice']);
      },
      5000,
      50,
    );

    const killedAt = Date.now();
    expect(await stopNode(a, 'SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
    proxy.retarget(b.port);
    const leftAfter = Promise.all(
      watchers.map(async (watcher) => {
        await watcher.raw.nextJson(leaveOf('alice', topic), LATEST_LEAVE_MS + 1000);
        return Date.now() - killedAt;
      }),
    );
    // Awaited below; until then a rejection (the test failing earlier) must not go unhandled.
    leftAfter.catch(() => undefined);

    // While A's presences are still listed, the client is back, on B, and its channel works.
    await joins.next(undefined, 5000);
    expect(await pushOutcome(channel, 'echo', { after: 'failover' })).toEqual({ status: 'ok', response: { after: 'failover' } });
    await c.broadcast(topic, 'news', { from: 'C' });
    expect(await news.next(undefined, 3000)).toEqual({ from: 'C' });
    for (const node of [b, c]) expect(await node.health()).toBe(200);

    const [onB, onC] = await leftAfter;
    console.log(`SIGKILL: alice left on B after ${onB} ms, on C after ${onC} ms (heartbeat ${HEARTBEAT_MS} ms, down after ${DOWN_AFTER_MS} ms)`);
    for (const ms of [onB!, onC!]) {
      expect(ms).toBeGreaterThanOrEqual(EARLIEST_LEAVE_MS);
      expect(ms).toBeLessThanOrEqual(LATEST_LEAVE_MS);
    }
    for (const node of [b, c]) expect(await node.presence(topic)).toEqual({});
  }, 30_000);
});
