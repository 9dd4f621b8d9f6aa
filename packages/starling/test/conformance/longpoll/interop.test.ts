/**
 * LongPoll and WebSocket clients on one topic of one node (§4.5, §4.10, §6): broadcasts reach
 * every subscriber whatever its transport. Checklist §11 item 49, single-node half (the
 * multi-node half needs a second node behind a shared PubSub and belongs to the cluster suite).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RawClient } from '@starling/test-support/raw-client';
import { startFixture, type Fixture } from '../../support/fixture.ts';
import { LongPollClient } from '@starling/test-support/long-poll-client';

const TOPIC = 'test:mixed';
let fixture: Fixture;
const rawClients: RawClient[] = [];

afterEach(async () => {
  for (const client of rawClients.splice(0)) client.close();
  await fixture?.close();
});

async function bothJoined(): Promise<{ lp: LongPollClient; ws: RawClient }> {
  fixture = await startFixture({ socket: { longpoll: { windowMs: 300 } } });
  const lp = await LongPollClient.open(fixture.longPollUrl);
  await lp.post([['lp1', 'lp1', TOPIC, 'phx_join', {}]]);
  await lp.reply('lp1');
  const ws = await RawClient.connect(`${fixture.wsUrl}?vsn=2.0.0`);
  rawClients.push(ws);
  ws.send(['ws1', 'ws1', TOPIC, 'phx_join', {}]);
  await ws.reply('ws1');
  return { lp, ws };
}

describe('a LongPoll and a WebSocket client on the same topic (item 49, one node)', () => {
  it('the WebSocket client sees a broadcast from the LongPoll client, and so does the sender', async () => {
    const { lp, ws } = await bothJoined();

    const published = await lp.post([['lp1', 'lp2', TOPIC, 'broadcast', { event: 'shout', payload: { from: 'longpoll' } }]]);

    expect(published.body).toEqual({ status: 200 });
    expect(await ws.nextJson((f) => f[3] === 'shout')).toEqual([null, null, TOPIC, 'shout', { from: 'longpoll' }]);
    expect(await lp.next((f) => f[3] === 'shout')).toEqual([null, null, TOPIC, 'shout', { from: 'longpoll' }]);
  });

  it('the LongPoll client sees a broadcast from the WebSocket client', async () => {
    const { lp, ws } = await bothJoined();

    ws.send(['ws1', 'ws2', TOPIC, 'broadcast', { event: 'shout', payload: { from: 'websocket' } }]);

    expect(await lp.next((f) => f[3] === 'shout')).toEqual([null, null, TOPIC, 'shout', { from: 'websocket' }]);
  });

  it('broadcastFrom skips only the sending channel, whatever the transports', async () => {
    const { lp, ws } = await bothJoined();

    ws.send(['ws1', 'ws2', TOPIC, 'broadcast_from', { event: 'from_ws', payload: {} }]);
    ws.send(['ws1', 'ws3', TOPIC, 'broadcast', { event: 'marker', payload: {} }]);

    expect(await lp.next((f) => f[3] === 'from_ws')).toEqual([null, null, TOPIC, 'from_ws', {}]);
    await ws.nextJson((f) => f[3] === 'marker');
    expect(ws.frames.some((f) => !f.binary && Array.isArray(f.json) && f.json[3] === 'from_ws')).toBe(false);
  });

  it('an intercepted broadcast reaches the LongPoll client as a push from its own handleOut', async () => {
    const { lp, ws } = await bothJoined();

    ws.send(['ws1', 'ws2', TOPIC, 'broadcast', { event: 'intercepted', payload: { n: 1 } }]);

    expect(await lp.next((f) => f[3] === 'intercepted')).toEqual(['lp1', null, TOPIC, 'intercepted', { n: 1, by: 'lp1' }]);
    expect(await ws.nextJson((f) => f[3] === 'intercepted')).toEqual(['ws1', null, TOPIC, 'intercepted', { n: 1, by: 'ws1' }]);
  });

  it('presence tracked over LongPoll is listed for the WebSocket client, and the reverse', async () => {
    fixture = await startFixture({ socket: { longpoll: { windowMs: 300 } } });
    const lp = await LongPollClient.open(fixture.longPollUrl);
    await lp.post([['lp1', 'lp1', TOPIC, 'phx_join', { track: 'on-longpoll' }]]);
    await lp.next((f) => f[3] === 'presence_state');
    const ws = await RawClient.connect(`${fixture.wsUrl}?vsn=2.0.0`);
    rawClients.push(ws);

    ws.send(['ws1', 'ws1', TOPIC, 'phx_join', { track: 'on-websocket' }]);

    const state = await ws.nextJson((f) => f[3] === 'presence_state');
    expect(Object.keys(state[4] as object)).toEqual(['on-longpoll']);
    const diff = await lp.next((f) => f[3] === 'presence_diff' && 'on-websocket' in (f[4] as { joins: object }).joins);
    expect(diff).toEqual([
      null,
      null,
      TOPIC,
      'presence_diff',
      { joins: { 'on-websocket': { metas: [expect.objectContaining({ phx_ref: expect.any(String) })] } }, leaves: {} },
    ]);
  });
});
