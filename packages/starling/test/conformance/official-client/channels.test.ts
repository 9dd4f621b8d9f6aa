/**
 * The official `phoenix` client (1.8.16 and 1.7.21) over WebSocket against the fixture server:
 * join, refused join, replies, broadcasts between sockets, leave (§3, §4). The same behaviours
 * are checked frame by frame by the raw suites; here the client itself must be satisfied.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ClientMessage } from 'phoenix';
import { startFixture, type Fixture } from '../../support/fixture.ts';
import { eventually } from '@starling/test-support/eventually';
import {
  ClientPool,
  Inbox,
  inboxOf,
  joinOutcome,
  joined,
  leaveOutcome,
  officialClients,
  phoenix18Client,
  pushOutcome,
  roundTrip,
} from '@starling/test-support/official-client';

describe.each(officialClients)('$name over WebSocket', (client) => {
  let fixture: Fixture;
  let pool: ClientPool;

  async function start(): Promise<{ endpoint: string }> {
    fixture = await startFixture();
    pool = new ClientPool(client);
    return { endpoint: `ws://127.0.0.1:${fixture.port}/socket` };
  }

  afterEach(async () => {
    await pool?.close();
    await fixture?.close();
  });

  describe('join', () => {
    it('is answered ok with an empty response, and the channel is joined', async () => {
      const { endpoint } = await start();
      const channel = pool.socket(endpoint).channel('test:join', { hello: 'server' });

      const outcome = await joinOutcome(channel);

      expect(outcome).toEqual({ status: 'ok', response: {} });
      expect(channel.state).toBe('joined');
      expect(fixture.calls).toEqual([{ callback: 'join', topic: 'test:join', payload: { hello: 'server' } }]);
    });

    it('hands the join reply of the channel to the client', async () => {
      const { endpoint } = await start();
      const channel = pool.socket(endpoint).channel('test:join', { reply: { welcome: 'in', n: 1 } });

      expect(await joinOutcome(channel)).toEqual({ status: 'ok', response: { welcome: 'in', n: 1 } });
    });

    it('reaches connect with the socket params', async () => {
      const { endpoint } = await start();
      const channel = pool.socket(endpoint, { params: { user_id: 'u1', user: { id: 7 } } }).channel('test:join');

      await joined(channel);

      expect(fixture.connects.map((c) => c.params)).toEqual([{ user_id: 'u1', user: { id: '7' } }]);
    });
  });

  describe('refused join', () => {
    it('is answered error with the channel reason {reason: "unauthorized"}', async () => {
      const { endpoint } = await start();
      const channel = pool.socket(endpoint).channel('test:private', { refuse: true });

      const outcome = await joinOutcome(channel);

      expect(outcome).toEqual({ status: 'error', response: { reason: 'unauthorized' } });
      expect(channel.state).toBe('errored');
    });

    it('of a topic no channel serves is answered error {reason: "unmatched topic"}', async () => {
      const { endpoint } = await start();
      const channel = pool.socket(endpoint).channel('nowhere:at-all');

      expect(await joinOutcome(channel)).toEqual({ status: 'error', response: { reason: 'unmatched topic' } });
    });
  });

  describe('replies to pushes', () => {
    it('delivers an ok reply with its response', async () => {
      const { endpoint } = await start();
      const channel = pool.socket(endpoint).channel('test:reply');
      await joined(channel);

      expect(await pushOutcome(channel, 'echo', { x: 1, list: [1, 'two'] })).toEqual({ status: 'ok', response: { x: 1, list: [1, 'two'] } });
    });

    it('delivers an error reply with its response', async () => {
      const { endpoint } = await start();
      const channel = pool.socket(endpoint).channel('test:reply');
      await joined(channel);

      expect(await pushOutcome(channel, 'reply_error', {})).toEqual({ status: 'error', response: { e: 1 } });
    });

    it('delivers a reply with a custom status to receive(status)', async () => {
      const { endpoint } = await start();
      const channel = pool.socket(endpoint).channel('test:reply');
      await joined(channel);

      expect(await pushOutcome(channel, 'reply_not_found', {}, ['not_found'])).toEqual({ status: 'not_found', response: {} });
    });

    it('delivers an async reply made after handleIn returned', async () => {
      const { endpoint } = await start();
      const channel = pool.socket(endpoint).channel('test:reply');
      await joined(channel);

      expect(await pushOutcome(channel, 'async_reply', {})).toEqual({ status: 'ok', response: { later: true } });
    });

    it('sends pushes made before the join completed once it is joined', async () => {
      const { endpoint } = await start();
      const channel = pool.socket(endpoint).channel('test:early');
      const joining = joined(channel);

      const early = pushOutcome(channel, 'echo', { early: true });

      await joining;
      expect(await early).toEqual({ status: 'ok', response: { early: true } });
    });
  });

  describe('broadcast between two sockets', () => {
    it('reaches the other socket and the sender', async () => {
      const { endpoint } = await start();
      const alice = pool.socket(endpoint).channel('test:room');
      const bob = pool.socket(endpoint).channel('test:room');
      await joined(alice);
      await joined(bob);
      const aliceHeard = inboxOf(alice, 'shout');
      const bobHeard = inboxOf(bob, 'shout');

      const reply = await pushOutcome(alice, 'broadcast', { event: 'shout', payload: { text: 'hi' } });

      expect(reply.status).toBe('ok');
      expect(await bobHeard.next()).toEqual({ text: 'hi' });
      expect(await aliceHeard.next()).toEqual({ text: 'hi' });
    });

    it('from the endpoint reaches every joined socket', async () => {
      const { endpoint } = await start();
      const alice = pool.socket(endpoint).channel('test:room');
      const bob = pool.socket(endpoint).channel('test:room');
      await joined(alice);
      await joined(bob);
      const aliceHeard = inboxOf(alice, 'news');
      const bobHeard = inboxOf(bob, 'news');

      fixture.endpoint.broadcast('test:room', 'news', { n: 1 });

      expect(await aliceHeard.next()).toEqual({ n: 1 });
      expect(await bobHeard.next()).toEqual({ n: 1 });
    });

    it('with broadcastFrom skips the sender only', async () => {
      const { endpoint } = await start();
      const aliceSocket = pool.socket(endpoint);
      const alice = aliceSocket.channel('test:room');
      const bob = pool.socket(endpoint).channel('test:room');
      await joined(alice);
      await joined(bob);
      const aliceHeard = inboxOf(alice, 'psst');
      const bobHeard = inboxOf(bob, 'psst');

      alice.push('broadcast_from', { event: 'psst', payload: { n: 2 } });

      expect(await bobHeard.next()).toEqual({ n: 2 });
      await roundTrip(aliceSocket);
      expect(aliceHeard.items).toEqual([]);
    });

    it('reaches a channel pushed by the server as an event of that channel', async () => {
      const { endpoint } = await start();
      const channel = pool.socket(endpoint).channel('test:push');
      await joined(channel);
      const heard = inboxOf(channel, 'direct');

      channel.push('push', { event: 'direct', payload: { only: 'you' } });

      expect(await heard.next()).toEqual({ only: 'you' });
    });
  });

  describe('leave', () => {
    it('is answered ok, closes the channel and terminates it on the server with reason left', async () => {
      const { endpoint } = await start();
      const channel = pool.socket(endpoint).channel('test:leave');
      await joined(channel);
      let closed = false;
      channel.onClose(() => (closed = true));

      const outcome = await leaveOutcome(channel);

      expect(outcome).toEqual({ status: 'ok', response: {} });
      expect(channel.state).toBe('closed');
      expect(closed).toBe(true);
      await eventually(() => expect(fixture.calls).toContainEqual({ callback: 'terminate', topic: 'test:leave', reason: { shutdown: 'left' } }));
    });

    it('stops broadcasts on the topic from reaching the socket that left', async () => {
      const { endpoint } = await start();
      const leaverSocket = pool.socket(endpoint);
      const seenByLeaver = new Inbox<ClientMessage>();
      leaverSocket.onMessage(seenByLeaver.add);
      const leaver = leaverSocket.channel('test:room');
      const stayer = pool.socket(endpoint).channel('test:room');
      await joined(leaver);
      await joined(stayer);
      await leaveOutcome(leaver);
      const stayerHeard = inboxOf(stayer, 'after_leave');

      stayer.push('broadcast', { event: 'after_leave', payload: {} });

      await stayerHeard.next();
      await roundTrip(leaverSocket);
      expect(seenByLeaver.items.filter((m) => m.event === 'after_leave')).toEqual([]);
    });

    it('keeps the socket and its other channels working', async () => {
      const { endpoint } = await start();
      const socket = pool.socket(endpoint);
      const leaving = socket.channel('test:a');
      const staying = socket.channel('test:b');
      await joined(leaving);
      await joined(staying);

      await leaveOutcome(leaving);

      expect(await pushOutcome(staying, 'echo', { still: 'here' })).toEqual({ status: 'ok', response: { still: 'here' } });
      expect(socket.isConnected()).toBe(true);
    });
  });

  describe('server-side channel ends', () => {
    it('a graceful stop closes the channel for good (phx_close)', async () => {
      const { endpoint } = await start();
      const channel = pool.socket(endpoint).channel('test:stop');
      await joined(channel);
      const closed = new Inbox();
      channel.onClose(() => closed.add('closed'));

      channel.push('stop_normal', {});

      await closed.next();
      expect(channel.state).toBe('closed');
    });

    it('a crash errors the channel (phx_error) and the client rejoins it', async () => {
      const { endpoint } = await start();
      const channel = pool.socket(endpoint).channel('test:crash');
      await joined(channel);
      const errors = new Inbox();
      channel.onError(errors.add);

      channel.push('crash', {});

      expect(await errors.next()).toEqual({ reason: 'channel_crash' });
      await eventually(() => expect(fixture.calls.filter((c) => c.callback === 'join')).toHaveLength(2));
      await eventually(() => expect(channel.state).toBe('joined'));
      expect(await pushOutcome(channel, 'echo', { again: true })).toEqual({ status: 'ok', response: { again: true } });
    });
  });
});

describe('phoenix 1.8.16 authToken option (§1.4)', () => {
  const client = phoenix18Client;
  let fixture: Fixture;
  let pool: ClientPool;

  afterEach(async () => {
    await pool?.close();
    await fixture?.close();
  });

  it.each([
    { transport: 'websocket', longPoll: false },
    { transport: 'longpoll', longPoll: true },
  ])('reaches connect as connectInfo.authToken over $transport', async ({ transport, longPoll }) => {
    fixture = await startFixture({ socket: { longpoll: { windowMs: 300 } } });
    pool = new ClientPool(client);
    const socket = pool.socket(`ws://127.0.0.1:${fixture.port}/socket`, { longPoll, authToken: 'SFMyNTY.token-1_x' });

    await joined(socket.channel('test:auth'));

    expect(fixture.connects.map((c) => [c.info.transport, c.info.authToken])).toEqual([[transport, 'SFMyNTY.token-1_x']]);
  });
});
