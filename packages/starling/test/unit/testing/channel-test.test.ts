/**
 * `starling-channels/testing` itself: connect (with `connect`/`id`), join, push and reply, pushes and
 * broadcasts asserted and refuted (and failing with readable messages), leave, close, and the
 * manual clock driving delayed `sendInfo`.
 */
import { AssertionError } from 'node:assert';
import { afterEach, describe, expect, it } from 'vitest';
import { Endpoint, Socket, accept, error, noreply, ok, refuse, reply, silentLogger, type Channel, type TerminateReason } from '../../../src/index.ts';
import { ChannelTest, ConnectRefusedError, ManualClock } from '../../../src/testing/index.ts';

type Assigns = { user: string };

const terminated: TerminateReason[] = [];

const RoomChannel = {
  join(topic, params) {
    if (topic === 'rooms:secret') return error({ reason: 'unauthorized' });
    return ok({ joined: topic, params });
  },
  handleIn(event, payload, socket) {
    switch (event) {
      case 'ping':
        return reply('ok', payload as Record<string, unknown>);
      case 'shout':
        socket.broadcast('shout', { from: socket.assigns.user });
        return noreply();
      case 'whisper':
        socket.push('whisper', { to: socket.assigns.user });
        return noreply();
      case 'later':
        socket.sendInfo({ tick: 1 }, 5_000);
        return noreply();
      default:
        return reply('error', { reason: `unknown event ${event}` });
    }
  },
  handleInfo(message, socket) {
    socket.push('tick', message as Record<string, unknown>);
  },
  terminate(reason) {
    terminated.push(reason);
  },
} satisfies Channel<Assigns>;

const userSocket = new Socket<Assigns>({
  connect: (params) => (typeof params.user === 'string' ? accept({ user: params.user }) : refuse(401)),
  id: (assigns) => `users:${assigns.user}`,
}).channel('rooms:*', RoomChannel);

let test: ChannelTest;
afterEach(async () => {
  await test?.close();
  terminated.length = 0;
});

describe('ChannelTest', () => {
  it('connects through connect and id, and reports a refusal with its status', async () => {
    test = new ChannelTest(userSocket);
    const client = await test.connect({ user: 'ada' });
    expect(client.id).toBe('users:ada');
    const refused = await test.connect({}).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ConnectRefusedError);
    expect((refused as ConnectRefusedError).status).toBe(401);
  });

  it('joins (reply ok or error), pushes and awaits replies', async () => {
    test = new ChannelTest(userSocket);
    const client = await test.connect({ user: 'ada' });
    const joined = await client.join('rooms:lobby', { a: 1 });
    expect([joined.status, joined.response]).toEqual(['ok', { joined: 'rooms:lobby', params: { a: 1 } }]);
    expect(await client.join('rooms:secret')).toMatchObject({ status: 'error', response: { reason: 'unauthorized' } });
    const push = joined.channel.push('ping', { n: 1 });
    expect(await push.reply()).toEqual({ status: 'ok', response: { n: 1 } });
    expect(await joined.channel.assertReply(joined.channel.push('nope'), 'error')).toEqual({ reason: 'unknown event nope' });
  });

  it('asserts pushes and broadcasts, and consumes what it asserted', async () => {
    test = new ChannelTest(userSocket);
    const ada = (await (await test.connect({ user: 'ada' })).join('rooms:lobby')).channel;
    const bob = (await (await test.connect({ user: 'bob' })).join('rooms:lobby')).channel;
    ada.push('whisper');
    expect(await ada.assertPush('whisper', { to: 'ada' })).toEqual({ to: 'ada' });
    await bob.refutePush('whisper');
    bob.push('shout');
    await ada.assertBroadcast('shout', { from: 'bob' });
    await test.refuteBroadcast('rooms:lobby', 'shout');
    // Bob's broadcast reached Ada's client through the fastlane, and Bob's own.
    await ada.assertPush('shout', (payload) => (payload as { from?: unknown }).from === 'bob');
    await bob.assertPush('shout', { from: 'bob' });
    await ada.refutePush('shout');
  });

  it('fails with a readable message listing what arrived instead', async () => {
    test = new ChannelTest(userSocket, { assertTimeoutMs: 20, refuteTimeoutMs: 20 });
    const { channel } = await (await test.connect({ user: 'ada' })).join('rooms:lobby');
    channel.push('whisper');
    const failure = await channel.assertPush('whisper', { to: 'bob' }).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(AssertionError);
    expect((failure as Error).message).toBe(
      `assertPush: no push "whisper" with { to: 'bob' } on rooms:lobby within 20 ms; unconsumed pushes: "whisper" { to: 'ada' }`,
    );
    await expect(channel.refutePush('whisper')).rejects.toThrow(`refutePush: unexpected push "whisper" on rooms:lobby: { to: 'ada' }`);
    await expect(channel.assertReply(channel.push('ping', { n: 1 }), 'error')).rejects.toThrow(
      'assertReply: push "ping" was answered ok { n: 1 }, expected error',
    );
    await expect(test.assertBroadcast('rooms:lobby', 'shout')).rejects.toThrow('assertBroadcast: no broadcast "shout" on rooms:lobby within 20 ms');
    await expect(test.assertBroadcast('rooms:other', 'shout')).rejects.toThrow('not subscribed to rooms:other');
  });

  it('leaves and closes: terminate runs with the reason', async () => {
    test = new ChannelTest(userSocket);
    const client = await test.connect({ user: 'ada' });
    const { channel } = await client.join('rooms:lobby');
    expect(await channel.leave()).toEqual({ status: 'ok', response: {} });
    await channel.assertPush('phx_close', {});
    expect(terminated).toEqual([{ shutdown: 'left' }]);
    await client.join('rooms:b');
    client.close();
    expect(client.closed).toBe(true);
    expect(terminated).toEqual([{ shutdown: 'left' }, { shutdown: 'closed' }]);
  });

  it('moves time with advance: a delayed sendInfo runs when it falls due, not before', async () => {
    test = new ChannelTest(userSocket);
    const { channel } = await (await test.connect({ user: 'ada' })).join('rooms:lobby');
    channel.push('later');
    await test.advance(4_999);
    await channel.refutePush('tick', undefined, { timeoutMs: 10 });
    await test.advance(1);
    await channel.assertPush('tick', { tick: 1 });
    expect(test.clock.now()).toBe(5_000);
  });

  it('closes an idle client with 1002 on the harness clock (the WebSocket idle sweeper); activity keeps it open', async () => {
    test = new ChannelTest(userSocket, { idleTimeoutMs: 60_000 });
    const quiet = await test.connect({ user: 'ada' });
    const busy = await test.connect({ user: 'bob' });
    await quiet.join('rooms:lobby');
    for (let t = 0; t < 90_000; t += 30_000) {
      expect(await busy.heartbeat()).toEqual({ status: 'ok', response: {} });
      await test.advance(30_000);
    }
    expect(quiet.closedBy).toEqual({ code: 1002, reason: 'idle timeout' });
    expect(terminated).toEqual([{ shutdown: 'closed' }]);
    expect(busy.closedBy).toBeNull();
    expect(busy.closed).toBe(false);
  });

  it("drives an app's endpoint: its mount and its PubSub", async () => {
    const endpoint = new Endpoint({ logger: silentLogger }).socket('/live', userSocket, { maxChannels: 1 });
    test = new ChannelTest(endpoint, { path: '/live' });
    const client = await test.connect({ user: 'ada' });
    const { channel } = await client.join('rooms:lobby');
    expect(await client.join('rooms:two')).toMatchObject({ status: 'error', response: { reason: 'too many channels joined' } });
    endpoint.broadcast('rooms:lobby', 'news', { n: 1 });
    await channel.assertPush('news', { n: 1 });
    expect(() => new ChannelTest(endpoint, { path: '/nowhere' })).toThrow('no socket is mounted at /nowhere');
    await endpoint.close();
  });
});

describe('ManualClock', () => {
  it('runs due timers in order of due time then creation, and never early', async () => {
    const clock = new ManualClock();
    const ran: string[] = [];
    clock.setTimeout(() => ran.push('b'), 20);
    clock.setTimeout(() => ran.push('a'), 10);
    clock.setTimeout(() => ran.push('a2'), 10);
    const cancelled = clock.setTimeout(() => ran.push('x'), 15);
    clock.clearTimeout(cancelled);
    await clock.advance(9);
    expect(ran).toEqual([]);
    await clock.advance(11);
    expect(ran).toEqual(['a', 'a2', 'b']);
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('socket.endpoint', () => {
  it('gives channels their endpoint: join verifies a ticket signed with the endpoint’s tokens and handleIn broadcasts through it', async () => {
    const TicketChannel = {
      join(topic, params, socket) {
        const ticket = socket.endpoint.tokens.verify('room ticket', (params as { ticket?: unknown }).ticket, { maxAge: 60 });
        return ticket.ok && ticket.data === topic ? ok() : error({ reason: 'bad ticket' });
      },
      handleIn(_event, _payload, socket) {
        socket.endpoint.broadcast('audit:log', 'pinged', { topic: socket.topic });
        return reply('ok', {});
      },
    } satisfies Channel;
    const endpoint = new Endpoint({ logger: silentLogger });
    endpoint.socket('/socket', new Socket().channel('rooms:*', TicketChannel), { websocket: false, longpoll: false });
    test = new ChannelTest(endpoint);
    const client = await test.connect();
    expect(await client.join('rooms:1', { ticket: endpoint.tokens.sign('room ticket', 'rooms:2') })).toMatchObject({
      status: 'error',
      response: { reason: 'bad ticket' },
    });
    const room = await client.join('rooms:1', { ticket: endpoint.tokens.sign('room ticket', 'rooms:1') });
    expect(room.status).toBe('ok');
    const audit: unknown[] = [];
    const stop = endpoint.subscribe('audit:log', (_event, payload) => audit.push(payload));
    await room.channel.assertReply(room.channel.push('ping', {}), 'ok');
    stop();
    expect(audit).toEqual([{ topic: 'rooms:1' }]);
  });
});
