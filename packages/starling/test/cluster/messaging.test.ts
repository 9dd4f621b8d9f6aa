/**
 * Scale out (multi-process): three real server processes share one Redis (the machine's shared
 * one, under a prefix of this file's own), and clients on different nodes talk as if there were
 * one server — broadcasts cross nodes in order per publisher, a `disconnect` on a socket id
 * reaches that id's sockets on every node, and a LongPoll session survives requests that land on
 * any node. The nodes are started once for the file; every test uses its own topics and ids.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  clusterEnv,
  joinedClient,
  killAllNodes,
  liveChildProcesses,
  startCluster,
  untilSubscribed,
  within,
  type ClusterNode,
  type ClusterNodeEnv,
} from '../support/cluster.ts';
import { eventually } from '@starling/test-support/eventually';
import { LongPollClient } from '@starling/test-support/long-poll-client';
import { RawClient } from '@starling/test-support/raw-client';
import { ensureRedis } from '@starling/test-support/redis';

const MESSAGES_PER_PUBLISHER = 100;
const WINDOW_MS = 1000;

let env: ClusterNodeEnv;
let a: ClusterNode;
let b: ClusterNode;
let c: ClusterNode;
const clients: RawClient[] = [];

beforeAll(async () => {
  env = clusterEnv(await ensureRedis(), { LONGPOLL_WINDOW_MS: String(WINDOW_MS) });
  [a, b, c] = (await startCluster(env)) as [ClusterNode, ClusterNode, ClusterNode];
});

afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});

afterAll(async () => {
  await killAllNodes();
  expect(liveChildProcesses()).toEqual([]);
});

/** The same LongPoll session's client, sending its requests to another node. */
function via(client: LongPollClient, node: ClusterNode): LongPollClient {
  return Object.assign(Object.create(Object.getPrototypeOf(client) as object) as LongPollClient, client, {
    url: node.longPollUrl,
    frames: client.frames,
  });
}

describe('a cluster of three nodes on one Redis', () => {
  it('delivers every client’s broadcasts to clients on every node, in order per publisher', async () => {
    const topic = 'test:numbered';
    const members = { A: await joinedClient(a, topic), B: await joinedClient(b, topic), C: await joinedClient(c, topic) };
    clients.push(...Object.values(members).map((member) => member.raw));
    await untilSubscribed(env, topic, 3);

    // All three publish at once, each through its own node: 100 numbered messages apiece.
    for (let n = 1; n <= MESSAGES_PER_PUBLISHER; n++) {
      for (const [from, member] of Object.entries(members)) member.push('broadcast', { event: 'numbered', payload: { from, n } });
    }

    const all = MESSAGES_PER_PUBLISHER * 3;
    await eventually(
      () => {
        for (const member of Object.values(members)) expect(member.received('numbered')).toHaveLength(all);
      },
      10_000,
      50,
    );
    const inOrder = Array.from({ length: MESSAGES_PER_PUBLISHER }, (_, i) => i + 1);
    for (const [at, member] of Object.entries(members)) {
      const received = member.received('numbered') as Array<{ from: string; n: number }>;
      for (const from of Object.keys(members)) {
        expect(
          received.filter((message) => message.from === from).map((message) => message.n),
          `${from}'s messages as received on ${at}`,
        ).toEqual(inOrder);
      }
    }
  });

  it('closes every socket of an id, on every node, with 1001 when one node broadcasts disconnect; other ids stay', async () => {
    const sevens = await Promise.all([a, b, c].map((node) => RawClient.connect(`${node.wsUrl}?vsn=2.0.0&user_id=7`)));
    const eights = await Promise.all([a, c].map((node) => RawClient.connect(`${node.wsUrl}?vsn=2.0.0&user_id=8`)));
    clients.push(...sevens, ...eights);
    await untilSubscribed(env, 'users_socket:7', 3);

    await b.broadcast('users_socket:7', 'disconnect');

    const closes = await within(Promise.all(sevens.map((client) => client.closed)), 3000, 'every user 7 socket closed');
    expect(closes.map((close) => close.code)).toEqual([1001, 1001, 1001]);
    for (const [i, eight] of eights.entries()) {
      eight.send([null, `hb${i}`, 'phoenix', 'heartbeat', {}]);
      expect(await eight.reply(`hb${i}`)).toEqual([null, `hb${i}`, 'phoenix', 'phx_reply', { status: 'ok', response: {} }]);
    }
  });

  it('keeps a LongPoll session whose requests alternate between the three nodes', async () => {
    const topic = 'test:longpoll';
    const onA = await LongPollClient.open(a.longPollUrl);
    const [onB, onC] = [via(onA, b), via(onA, c)];

    // The session lives on A; B and C forward to it.
    expect((await onB.post([['1', '1', topic, 'phx_join', {}]])).body).toEqual({ status: 200 });
    expect(await onC.reply('1')).toEqual(['1', '1', topic, 'phx_reply', { status: 'ok', response: {} }]);
    expect((await onA.post([['1', '2', topic, 'echo', { n: 2 }]])).body).toEqual({ status: 200 });
    expect(await onB.reply('2')).toEqual(['1', '2', topic, 'phx_reply', { status: 'ok', response: { n: 2 } }]);
    expect((await onC.post([['1', '3', topic, 'echo', { n: 3 }]])).body).toEqual({ status: 200 });
    expect(await onA.reply('3')).toEqual(['1', '3', topic, 'phx_reply', { status: 'ok', response: { n: 3 } }]);

    // A broadcast from yet another node reaches the session, polled through a node that is not its own.
    await untilSubscribed(env, topic, 1);
    await c.broadcast(topic, 'news', { n: 4 });
    expect(await onB.next((frame) => frame[3] === 'news')).toEqual([null, null, topic, 'news', { n: 4 }]);
    // Still the one session: a poll through C answers with its token, not a new session's 410.
    const poll = await onC.poll(WINDOW_MS + 3000);
    expect(poll.body).toMatchObject({ status: 204, token: onA.token });
  });
});
