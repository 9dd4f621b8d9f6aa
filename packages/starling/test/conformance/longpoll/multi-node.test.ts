/**
 * LongPoll without sticky sessions (§6.11, checklist item 49): two nodes share one PubSub (the
 * in-process bus here; Redis in the multi-process suite). A session opened on node A keeps working
 * when its polls and publishes land on node B: B forwards them to A and relays A's answers. A
 * request for a session whose node is gone is treated as one for an unknown session.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBus, MemoryPubSubAdapter, PubSub } from '../../../src/index.ts';
import { startFixture, type Fixture } from '../../support/fixture.ts';
import { LongPollClient, longPollRequest } from '@starling/test-support/long-poll-client';

const WINDOW_MS = 300;
let fixtures: Fixture[] = [];

async function cluster(n: number): Promise<Fixture[]> {
  const bus = new MemoryBus();
  for (let i = 0; i < n; i++) {
    fixtures.push(
      await startFixture({
        // Nodes of one cluster share the secret: a session token signed by one verifies on all.
        endpoint: { pubsub: new PubSub({ adapter: new MemoryPubSubAdapter(bus) }), secretKeyBase: 'k'.repeat(64) },
        socket: { longpoll: { windowMs: WINDOW_MS, pubsubTimeoutMs: 300 } },
      }),
    );
  }
  return fixtures;
}

/** The same session's client, pointed at another node's URL. */
function via(client: LongPollClient, node: Fixture): LongPollClient {
  return Object.assign(Object.create(Object.getPrototypeOf(client) as object) as LongPollClient, client, { url: node.longPollUrl, frames: client.frames });
}

afterEach(async () => {
  await Promise.all(fixtures.map((fixture) => fixture.close()));
  fixtures = [];
});

describe('LongPoll across nodes', () => {
  it('keeps a session whose requests alternate between the owner and another node', async () => {
    const [a, b] = await cluster(2);
    const onA = await LongPollClient.open(a!.longPollUrl);
    const onB = via(onA, b!);

    expect((await onB.post([['1', '1', 'test:room', 'phx_join', {}]])).body).toEqual({ status: 200 });
    expect(await onB.reply('1')).toEqual(['1', '1', 'test:room', 'phx_reply', { status: 'ok', response: {} }]);
    expect((await onA.post([['1', '2', 'test:room', 'echo', { n: 2 }]])).body).toEqual({ status: 200 });
    expect(await onB.reply('2')).toEqual(['1', '2', 'test:room', 'phx_reply', { status: 'ok', response: { n: 2 } }]);
    expect((await onB.post([['1', '3', 'test:room', 'echo', { n: 3 }]])).body).toEqual({ status: 200 });
    expect(await onA.reply('3')).toEqual(['1', '3', 'test:room', 'phx_reply', { status: 'ok', response: { n: 3 } }]);
    // Only node A ever ran connect: the session never moved.
    expect(a!.connects).toHaveLength(1);
    expect(b!.connects).toHaveLength(0);
  });

  it('answers a poll forwarded to the owner as soon as a broadcast arrives there, and 204 after the window', async () => {
    const [a, b] = await cluster(2);
    const onB = via(await LongPollClient.open(a!.longPollUrl), b!);
    await onB.post([['1', '1', 'test:room', 'phx_join', {}]]);
    await onB.reply('1');

    const started = Date.now();
    const empty = await onB.poll();
    expect(empty.body).toEqual({ status: 204, token: onB.token, messages: [] });
    expect(Date.now() - started).toBeGreaterThanOrEqual(WINDOW_MS - 20);

    const held = onB.poll();
    setTimeout(() => b!.endpoint.broadcast('test:room', 'news', { n: 1 }), 100);
    const answer = await held;
    expect(answer.body.status).toBe(200);
    expect(answer.body.messages!.map((m) => JSON.parse(m) as unknown)).toEqual([[null, null, 'test:room', 'news', { n: 1 }]]);
  });

  it('treats a session whose node is gone as unknown: GET opens a new session, POST answers 410', async () => {
    const [a, b] = await cluster(2);
    const onA = await LongPollClient.open(a!.longPollUrl);
    await a!.close();
    fixtures = [b!];

    const post = await longPollRequest(b!.longPollUrl, {
      method: 'POST',
      query: { vsn: '2.0.0', token: onA.token },
      headers: { 'content-type': 'application/x-ndjson' },
      body: JSON.stringify(['1', '1', 'test:room', 'phx_join', {}]),
    });
    expect(post.body).toEqual({ status: 410 });
    const get = await longPollRequest(b!.longPollUrl, { query: { vsn: '2.0.0', token: onA.token } });
    expect(get.body.status).toBe(410);
    expect(get.body.token).toEqual(expect.any(String));
    expect(get.body.token).not.toBe(onA.token);
  });
});
