/**
 * The runtime (`Connection`, `ChannelServer`) driven in-process through `starling-channels/testing`: the
 * mailbox's order and crash isolation, frames held while a join is pending, the join timeout,
 * the rate limit and the input limits — with the harness's clock instead of real-time sleeps.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Socket, error, noreply, ok, reply, type Channel } from '../../../src/index.ts';
import { ChannelTest, type TestSocket } from '../../../src/testing/index.ts';
import type { SocketMountOptions as MountOptions } from '../../../src/endpoint.ts';

/** A promise the test settles by hand. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const handled: string[] = [];
const gates = new Map<string, Promise<void>>();
let joinGate: Promise<unknown> | null = null;

const TestChannel = {
  async join(topic, params) {
    if (joinGate !== null) await joinGate;
    if ((params as { refuse?: boolean }).refuse) return error({ reason: 'unauthorized' });
    return ok({ topic });
  },
  async handleIn(event, payload, socket) {
    const { id } = payload as { id?: string };
    handled.push(`${socket.topic} ${event} ${id ?? ''}`.trim());
    const gate = id === undefined ? undefined : gates.get(id);
    if (gate !== undefined) await gate;
    if (event === 'crash') throw new Error('boom');
    if (event === 'noreply') return noreply();
    return reply('ok', { id });
  },
} satisfies Channel;

const userSocket = new Socket().channel('test:*', TestChannel);

/** Sends one frame with a fresh ref and awaits its reply. */
function request(client: TestSocket, joinRef: string | null, topic: string, event: string, payload: Record<string, unknown> = {}) {
  const ref = client.nextRef();
  client.send({ joinRef, ref, topic, event, payload });
  return client.awaitReply(ref, topic, event, 500);
}

let test: ChannelTest;
function harness(mount: MountOptions = {}): ChannelTest {
  test = new ChannelTest(userSocket, { mount, assertTimeoutMs: 500, refuteTimeoutMs: 20 });
  return test;
}

afterEach(async () => {
  await test.close();
  handled.length = 0;
  gates.clear();
  joinGate = null;
});

describe('the mailbox', () => {
  it('handles a channel’s events one at a time in arrival order, even when an earlier one is slower', async () => {
    const { channel } = await (await harness().connect()).join('test:a');
    const slow = deferred();
    gates.set('1', slow.promise);
    const first = channel.push('work', { id: '1' });
    const second = channel.push('work', { id: '2' });
    await test.settle();
    // The second waits in the mailbox while the first is suspended.
    expect(handled).toEqual(['test:a work 1']);
    slow.resolve();
    expect(await first.reply()).toEqual({ status: 'ok', response: { id: '1' } });
    expect(await second.reply()).toEqual({ status: 'ok', response: { id: '2' } });
    expect(handled).toEqual(['test:a work 1', 'test:a work 2']);
    const client = channel;
    const ids = (await Promise.all([client.push('work', { id: '3' }).reply(), client.push('work', { id: '4' }).reply()])).map((r) => r.response);
    expect(ids).toEqual([{ id: '3' }, { id: '4' }]);
  });

  it('runs the mailboxes of two channels independently: one suspended does not hold the other', async () => {
    const client = await harness().connect();
    const a = (await client.join('test:a')).channel;
    const b = (await client.join('test:b')).channel;
    const slow = deferred();
    gates.set('1', slow.promise);
    const held = a.push('work', { id: '1' });
    expect(await b.push('work', { id: '2' }).reply()).toEqual({ status: 'ok', response: { id: '2' } });
    slow.resolve();
    expect((await held.reply()).response).toEqual({ id: '1' });
  });

  it('isolates a crash: the channel gets phx_error and ends, its queued events are dropped, the socket and its other channels go on', async () => {
    const client = await harness().connect();
    const a = (await client.join('test:a')).channel;
    const b = (await client.join('test:b')).channel;
    const slow = deferred();
    gates.set('c', slow.promise);
    a.push('crash', { id: 'c' });
    const queued = a.push('work', { id: 'after' });
    slow.resolve();
    await a.assertPush('phx_error', { reason: 'channel_crash' });
    // The queued event never ran and gets no reply (the client times out, as with Phoenix); the
    // channel is gone, so a new push is answered "unmatched topic".
    await expect(queued.reply({ timeoutMs: 20 })).rejects.toThrow('no reply to push "work"');
    expect(handled).toEqual(['test:a crash c']);
    expect(await a.push('work').reply()).toEqual({ status: 'error', response: { reason: 'unmatched topic' } });
    expect(await b.push('work', { id: 'b' }).reply()).toEqual({ status: 'ok', response: { id: 'b' } });
    expect(client.closed).toBe(false);
    expect(test.endpoint.stats.errors.ERR_CHANNEL_CRASH).toBe(1);
  });
});

describe('frames held during a pending join', () => {
  it('are dispatched after the join reply, in order; pushes of the join wait for its reply', async () => {
    const client = await harness().connect();
    const gate = deferred();
    joinGate = gate.promise;
    const joining = client.join('test:a');
    client.send({ joinRef: '1', ref: '2', topic: 'test:a', event: 'work', payload: { id: 'x' } });
    client.send({ joinRef: '1', ref: '3', topic: 'test:a', event: 'work', payload: { id: 'y' } });
    test.broadcast('test:a', 'during_join', { n: 1 });
    await test.settle();
    expect(handled).toEqual([]);
    expect(client.received).toEqual([]);
    gate.resolve();
    const { status, channel } = await joining;
    expect(status).toBe('ok');
    expect(await client.awaitReply('3', 'test:a', 'y', 500)).toEqual({ status: 'ok', response: { id: 'y' } });
    expect(handled).toEqual(['test:a work x', 'test:a work y']);
    // The broadcast sent while the join ran did not reach the joining client (it was not subscribed yet).
    await channel.refutePush('during_join');
    expect(client.received.map((frame) => [frame.ref, frame.event])).toEqual([
      ['1', 'phx_reply'],
      ['2', 'phx_reply'],
      ['3', 'phx_reply'],
    ]);
  });

  it('are answered "unmatched topic" when the join is refused', async () => {
    const client = await harness().connect();
    const gate = deferred();
    joinGate = gate.promise;
    const joining = client.join('test:a', { refuse: true });
    client.send({ joinRef: '1', ref: '2', topic: 'test:a', event: 'work', payload: { id: 'x' } });
    gate.resolve();
    expect(await joining).toMatchObject({ status: 'error', response: { reason: 'unauthorized' } });
    expect(await client.awaitReply('2', 'test:a', 'work', 500)).toEqual({ status: 'error', response: { reason: 'unmatched topic' } });
    expect(handled).toEqual([]);
  });

  it('a join still pending at joinTimeoutMs is answered "join timeout"; deciding later leaves no channel', async () => {
    const client = await harness({ joinTimeoutMs: 10_000 }).connect();
    const gate = deferred();
    joinGate = gate.promise;
    const joining = client.join('test:slow');
    await test.advance(9_999);
    expect(client.received).toEqual([]);
    await test.advance(1);
    expect(await joining).toMatchObject({ status: 'error', response: { reason: 'join timeout' } });
    gate.resolve(); // the join decides "ok" too late
    await test.settle();
    expect(test.endpoint.pubsub.subscriberCount('test:slow')).toBe(1); // the harness's own recording subscription only
    expect(await request(client, '1', 'test:slow', 'work', { id: 'late' })).toEqual({ status: 'error', response: { reason: 'unmatched topic' } });
  });
});

const RATE_LIMITED = { status: 'error', response: { reason: 'rate limited' } };

describe('the rate limit, on the harness clock', () => {
  it('admits a message again once the bucket has refilled, and not before', async () => {
    const client = await harness({ rateLimit: { messagesPerSecond: 2, burst: 1, closeAfterMs: Infinity } }).connect();
    const { channel } = await client.join('test:a');
    expect(await channel.push('work').reply()).toEqual(RATE_LIMITED);
    await test.advance(499); // 2/s: a token comes back after 500 ms
    expect(await channel.push('work').reply()).toEqual(RATE_LIMITED);
    await test.advance(501);
    expect(await channel.push('work', { id: 'ok' }).reply()).toEqual({ status: 'ok', response: { id: 'ok' } });
    expect(await channel.push('work').reply()).toEqual(RATE_LIMITED);
    expect(handled).toEqual(['test:a work ok']);
    expect(test.endpoint.stats.rateLimited).toBe(3);
  });

  it('closes the socket with 1008 once refusals have gone on for closeAfterMs, not at the first one', async () => {
    const client = await harness({ rateLimit: { messagesPerSecond: 0.001, burst: 1, closeAfterMs: 400 } }).connect();
    const { channel } = await client.join('test:a');
    // One refused push every 50 ms: a continuous streak from t=0 to t=400.
    for (let t = 0; t < 400; t += 50) {
      expect(await channel.push('work').reply()).toEqual(RATE_LIMITED);
      await test.advance(50);
    }
    expect(client.closedBy).toBeNull();
    channel.push('work');
    await test.settle();
    expect(client.closedBy).toEqual({ code: 1008, reason: 'rate limited' });
    expect(client.closed).toBe(true);
    expect(test.endpoint.stats).toMatchObject({ rateLimitCloses: 1 });
  });

  it('does not add up refusals more than a second apart: a client bursting now and then stays connected', async () => {
    const client = await harness({ rateLimit: { messagesPerSecond: 2, burst: 2, closeAfterMs: 300 } }).connect();
    const { channel } = await client.join('test:a');
    channel.push('work');
    expect(await channel.push('work').reply()).toEqual(RATE_LIMITED);
    await test.advance(1_100); // the bucket refills to 2; the streak is over
    channel.push('work');
    channel.push('work');
    expect(await channel.push('work').reply()).toEqual(RATE_LIMITED);
    expect(await request(client, null, 'phoenix', 'heartbeat')).toEqual({ status: 'ok', response: {} });
    expect(client.closedBy).toBeNull();
    expect(test.endpoint.stats.rateLimitCloses).toBe(0);
  });

  it('never limits heartbeats', async () => {
    const client = await harness({ rateLimit: { messagesPerSecond: 0.001, burst: 1, closeAfterMs: Infinity } }).connect();
    for (let i = 0; i < 20; i++) expect(await request(client, null, 'phoenix', 'heartbeat')).toEqual({ status: 'ok', response: {} });
    expect((await client.join('test:a')).status).toBe('ok');
  });
});

describe('input limits and the channel limit', () => {
  it('refuses a topic, an event or join params beyond their limits with a reason, and the socket lives on', async () => {
    const client = await harness({ maxTopicLength: 10, maxEventLength: 12, maxJoinParamsBytes: 20 }).connect();
    expect(await client.join('test:toolong')).toMatchObject({ status: 'error', response: { reason: 'topic too long' } });
    expect(await client.join('test:a', { pad: 'x'.repeat(20) })).toMatchObject({ status: 'error', response: { reason: 'join params too large' } });
    const { channel, status } = await client.join('test:a');
    expect(status).toBe('ok');
    expect(await channel.push('e'.repeat(13)).reply()).toEqual({ status: 'error', response: { reason: 'event too long' } });
    expect(await channel.push('e'.repeat(12), { id: 'fits' }).reply()).toEqual({ status: 'ok', response: { id: 'fits' } });
    expect(client.closed).toBe(false);
  });

  it('refuses the join beyond maxChannels, counting joins still pending', async () => {
    const client = await harness({ maxChannels: 2 }).connect();
    await client.join('test:a');
    const gate = deferred();
    joinGate = gate.promise;
    const pending = client.join('test:b');
    expect(await client.join('test:c')).toMatchObject({ status: 'error', response: { reason: 'too many channels joined' } });
    gate.resolve();
    expect((await pending).status).toBe('ok');
  });
});
