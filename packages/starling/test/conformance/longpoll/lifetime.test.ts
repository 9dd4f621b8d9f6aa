/**
 * How a LongPoll session ends (§6.8, §1.6): expiry after 1.5 × window_ms without a poll, and the
 * `disconnect` broadcast on the socket id. Checklist §11 items 47 and 36 (LongPoll and WebSocket
 * sockets of one user on one node).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RawClient } from '@starling/test-support/raw-client';
import { startFixture, type Fixture } from '../../support/fixture.ts';
import { eventually } from '@starling/test-support/eventually';
import { LongPollClient, longPollRequest, ndjson } from '@starling/test-support/long-poll-client';

const WINDOW_MS = 200;
let fixture: Fixture;
const rawClients: RawClient[] = [];

async function start(): Promise<Fixture> {
  fixture = await startFixture({ socket: { longpoll: { windowMs: WINDOW_MS } } });
  return fixture;
}

async function rawJoin(topic: string, query = 'vsn=2.0.0'): Promise<RawClient> {
  const ws = await RawClient.connect(`${fixture.wsUrl}?${query}`);
  rawClients.push(ws);
  ws.send(['w1', 'w1', topic, 'phx_join', {}]);
  await ws.reply('w1');
  return ws;
}

afterEach(async () => {
  for (const client of rawClients.splice(0)) client.close();
  await fixture?.close();
});

const isPresenceDiff = (side: 'joins' | 'leaves', key: string) => (frame: unknown[]) =>
  frame[3] === 'presence_diff' && key in ((frame[4] as Record<string, Record<string, unknown>>)[side] ?? {});

describe('session expiry (item 47)', () => {
  it('ends a session not polled for 1.5 × window_ms: its channels terminate, its presence leaves, and it answers 410', async () => {
    const { longPollUrl, calls } = await start();
    const observer = await rawJoin('test:expiry');
    const client = await LongPollClient.open(longPollUrl);
    await client.post([['j1', 'r1', 'test:expiry', 'phx_join', { track: 'lp-user' }]]);
    // Taken before the last poll is sent, so never later than the moment its answer re-arms the expiry.
    const lastPollSent = Date.now();
    await client.reply('r1');
    const joined = await observer.nextJson(isPresenceDiff('joins', 'lp-user'));

    const left = await observer.nextJson(isPresenceDiff('leaves', 'lp-user'), 3000);

    expect(Date.now() - lastPollSent).toBeGreaterThanOrEqual(WINDOW_MS * 1.5 - 5); // timers may fire a millisecond early
    expect((left[4] as { leaves: unknown }).leaves).toEqual((joined[4] as { joins: unknown }).joins);
    expect(calls).toContainEqual({ callback: 'terminate', topic: 'test:expiry', reason: { shutdown: 'inactive' } });
    const published = await client.post([['j1', 'r2', 'test:expiry', 'echo', {}]]);
    expect(published.body).toEqual({ status: 410 });
    const polled = await client.poll();
    expect(polled.body).toEqual({ status: 410, token: expect.any(String), messages: [] });
    expect(polled.body.token).not.toBe(client.token);
  });

  it('keeps a session alive as long as the client keeps polling', async () => {
    const { longPollUrl, calls } = await start();
    const client = await LongPollClient.open(longPollUrl);
    await client.post([['j1', 'r1', 'test:alive', 'phx_join', {}]]);
    await client.reply('r1');

    const started = Date.now();
    while (Date.now() - started < WINDOW_MS * 4) await client.poll();
    const published = await client.post([['j1', 'r2', 'test:alive', 'echo', { still: 'here' }]]);

    expect(published.body).toEqual({ status: 200 });
    expect(await client.reply('r2')).toEqual(['j1', 'r2', 'test:alive', 'phx_reply', { status: 'ok', response: { still: 'here' } }]);
    expect(calls.filter((c) => c.callback === 'terminate')).toEqual([]);
  });
});

describe('disconnect broadcast on the socket id (item 36)', () => {
  it('ends every LongPoll session and WebSocket of that id, and only those', async () => {
    const { longPollUrl, endpoint, calls, handled } = await start();
    const lp = await LongPollClient.open(longPollUrl, { user_id: '7', vsn: '2.0.0' });
    await lp.post([['j1', 'r1', 'test:lp7', 'phx_join', {}]]);
    await lp.reply('r1');
    const ws = await rawJoin('test:ws7', 'user_id=7&vsn=2.0.0');
    const otherUser = await LongPollClient.open(longPollUrl, { user_id: '8', vsn: '2.0.0' });
    await otherUser.post([['j1', 'r1', 'test:lp8', 'phx_join', {}]]);
    await otherUser.reply('r1');
    const getHeld = handled('GET');
    const heldPoll = lp.poll();
    await getHeld; // the GET has reached the server and is held

    endpoint.broadcast('users_socket:7', 'disconnect', {});

    expect((await heldPoll).body).toEqual({ status: 410 });
    expect((await ws.closed).code).toBe(1001);
    await eventually(() => {
      expect(calls).toContainEqual({ callback: 'terminate', topic: 'test:lp7', reason: { shutdown: 'disconnected' } });
      expect(calls).toContainEqual({ callback: 'terminate', topic: 'test:ws7', reason: { shutdown: 'disconnected' } });
    });
    expect((await lp.post([['j1', 'r2', 'test:lp7', 'echo', {}]])).body).toEqual({ status: 410 });
    const reopened = await lp.poll();
    expect(reopened.body).toEqual({ status: 410, token: expect.any(String), messages: [] });
    expect(reopened.body.token).not.toBe(lp.token);
    expect((await otherUser.post([['j1', 'r2', 'test:lp8', 'echo', { n: 8 }]])).body).toEqual({ status: 200 });
    expect(await otherUser.reply('r2')).toEqual(['j1', 'r2', 'test:lp8', 'phx_reply', { status: 'ok', response: { n: 8 } }]);
    expect(calls.filter((c) => c.topic === 'test:lp8' && c.callback === 'terminate')).toEqual([]);
  });

  it('ignores other events on the socket id topic', async () => {
    const { longPollUrl, endpoint } = await start();
    const lp = await LongPollClient.open(longPollUrl, { user_id: '7', vsn: '2.0.0' });

    endpoint.broadcast('users_socket:7', 'something_else', {});
    const polled = await lp.poll();

    expect(polled.body).toEqual({ status: 204, token: lp.token, messages: [] });
    const published = await longPollRequest(longPollUrl, {
      method: 'POST',
      query: { vsn: '2.0.0', token: lp.token },
      headers: { 'content-type': 'application/x-ndjson' },
      body: ndjson([[null, 'h1', 'phoenix', 'heartbeat', {}]]),
    });
    expect(published.body).toEqual({ status: 200 });
  });
});
