/**
 * The official client over its LongPoll transport, end to end (§6): join, push and reply,
 * broadcasts to and from a WebSocket client on the same topic (checklist §11 item 49, one node),
 * presence, and — for 1.8.16 — recovery after the session ends (§6.3, §6.9: a 410 on a poll with
 * a token makes 1.8.2+ clients reconnect and rejoin; 1.7 clients take it for a fresh open and
 * lose their channels, a documented client limitation, so that case is not looped over 1.7).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { PresenceEntry } from 'phoenix';
import { startFixture, type Fixture } from '../../support/fixture.ts';
import { eventually } from '@starling/test-support/eventually';
import { ClientPool, inboxOf, joined, joinOutcome, officialClients, phoenix18Client, pushOutcome } from '@starling/test-support/official-client';

const WINDOW_MS = 300;

describe.each(officialClients)('$name over LongPoll', (client) => {
  let fixture: Fixture;
  let pool: ClientPool;

  async function start(): Promise<string> {
    fixture = await startFixture({ socket: { longpoll: { windowMs: WINDOW_MS } } });
    pool = new ClientPool(client);
    return `ws://127.0.0.1:${fixture.port}/socket`;
  }

  afterEach(async () => {
    await pool?.close();
    await fixture?.close();
  });

  it("keeps the app's own `token` param apart from the session token (the guide's `params: {token}`)", async () => {
    const endpoint = await start();
    const channel = pool.socket(endpoint, { longPoll: true, params: { token: 'user-token-123' } }).channel('test:lp-token');

    await joined(channel);
    // Several polls later the session is still the same one, and connect saw the app's token.
    for (let poll = 0; poll < 3; poll++) await fixture.handled('GET');
    expect(await pushOutcome(channel, 'echo', { n: 2 })).toEqual({ status: 'ok', response: { n: 2 } });
    expect(fixture.connects.map((c) => c.params.token)).toEqual(['user-token-123']);
  });

  it('joins, pushes and gets replies', async () => {
    const endpoint = await start();
    const channel = pool.socket(endpoint, { longPoll: true }).channel('test:lp', { reply: { via: 'longpoll' } });

    expect(await joinOutcome(channel)).toEqual({ status: 'ok', response: { via: 'longpoll' } });
    expect(await pushOutcome(channel, 'echo', { n: 1 })).toEqual({ status: 'ok', response: { n: 1 } });
    expect(await pushOutcome(channel, 'reply_error', {})).toEqual({ status: 'error', response: { e: 1 } });
    expect(fixture.connects.map((c) => c.info.transport)).toEqual(['longpoll']);
  });

  it('gets a refused join as an error reply', async () => {
    const endpoint = await start();
    const channel = pool.socket(endpoint, { longPoll: true }).channel('test:lp', { refuse: true });

    expect(await joinOutcome(channel)).toEqual({ status: 'error', response: { reason: 'unauthorized' } });
  });

  it('receives the broadcast of a WebSocket client on the same topic, and the WebSocket client receives its broadcast', async () => {
    const endpoint = await start();
    const overLongPoll = pool.socket(endpoint, { longPoll: true }).channel('test:mixed');
    const overWebSocket = pool.socket(endpoint).channel('test:mixed');
    await joined(overLongPoll);
    await joined(overWebSocket);
    const longPollHeard = inboxOf(overLongPoll, 'shout');
    const webSocketHeard = inboxOf(overWebSocket, 'shout');

    overWebSocket.push('broadcast', { event: 'shout', payload: { from: 'websocket' } });
    overLongPoll.push('broadcast', { event: 'shout', payload: { from: 'longpoll' } });

    expect(await longPollHeard.next((p) => (p as { from: string }).from === 'websocket')).toEqual({ from: 'websocket' });
    expect(await webSocketHeard.next((p) => (p as { from: string }).from === 'longpoll')).toEqual({ from: 'longpoll' });
    expect(await longPollHeard.next((p) => (p as { from: string }).from === 'longpoll')).toEqual({ from: 'longpoll' });
  });

  it('sends many pushes made in one turn and gets every reply, in order', async () => {
    const endpoint = await start();
    const channel = pool.socket(endpoint, { longPoll: true }).channel('test:batch');
    await joined(channel);

    const replies = await Promise.all(Array.from({ length: 30 }, (_, i) => pushOutcome(channel, 'echo', { i })));

    expect(replies).toEqual(Array.from({ length: 30 }, (_, i) => ({ status: 'ok', response: { i } })));
    expect(fixture.calls.filter((c) => c.callback === 'handleIn').map((c) => (c.payload as { i: number }).i)).toEqual(Array.from({ length: 30 }, (_, i) => i));
  });

  it('lists presence tracked over LongPoll and over WebSocket', async () => {
    const endpoint = await start();
    const overLongPoll = pool.socket(endpoint, { longPoll: true }).channel('test:presence', { track: 'on-longpoll' });
    const presence = new client.Presence(overLongPoll);
    await joined(overLongPoll);
    await joined(pool.socket(endpoint).channel('test:presence', { track: 'on-websocket' }));

    await eventually(() =>
      expect(presence.list((key: string, entry: PresenceEntry) => `${key}:${entry.metas.length}`).sort()).toEqual(['on-longpoll:1', 'on-websocket:1']),
    );
  });

  it('keeps the session alive across several poll windows', async () => {
    const endpoint = await start();
    const channel = pool.socket(endpoint, { longPoll: true }).channel('test:idle');
    await joined(channel);

    // Four more polls: each came after a window that ended with nothing to deliver.
    for (let poll = 0; poll < 4; poll++) await fixture.handled('GET');

    expect(await pushOutcome(channel, 'echo', { still: 'here' })).toEqual({ status: 'ok', response: { still: 'here' } });
    expect(fixture.calls.filter((c) => c.callback === 'terminate')).toEqual([]);
  });
});

describe('phoenix 1.8.16 over LongPoll, when the session ends', () => {
  const client = phoenix18Client;
  let fixture: Fixture;
  let pool: ClientPool;

  afterEach(async () => {
    await pool?.close();
    await fixture?.close();
  });

  it('opens a new session after a disconnect broadcast (410) and rejoins its channel (items 36, 38)', async () => {
    fixture = await startFixture({ socket: { longpoll: { windowMs: WINDOW_MS } } });
    pool = new ClientPool(client);
    const socket = pool.socket(`ws://127.0.0.1:${fixture.port}/socket`, { longPoll: true, params: { user_id: 'lp' } });
    const closeCodes: number[] = [];
    socket.onClose((event) => closeCodes.push(event.code));
    const channel = socket.channel('test:gone');
    await joined(channel);

    fixture.endpoint.broadcast('users_socket:lp', 'disconnect', {});

    await eventually(() => expect(fixture.calls).toContainEqual({ callback: 'terminate', topic: 'test:gone', reason: { shutdown: 'disconnected' } }));
    await eventually(() => expect(fixture.calls.filter((c) => c.callback === 'join')).toHaveLength(2), 5000);
    expect(closeCodes).toContain(3410);
    expect(fixture.connects.length).toBeGreaterThanOrEqual(2);
    await eventually(() => expect(channel.state).toBe('joined'));
    expect(await pushOutcome(channel, 'echo', { back: true })).toEqual({ status: 'ok', response: { back: true } });
  });
});
