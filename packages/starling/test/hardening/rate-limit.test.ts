/**
 * The per-socket inbound rate limit (`rateLimit`, a token bucket). A message over budget gets
 * `[null, ref, topic, "phx_reply", {"status":"error","response":{"reason":"rate limited"}}]` and
 * is not handled; a socket refused continuously for `closeAfterMs` is closed with 1008
 * "rate limited". Heartbeats are never limited and take no tokens.
 *
 * These run over real sockets; what depends on time (refill, the close after `closeAfterMs`,
 * separate streaks) is tested on the harness's clock in test/unit/runtime/runtime.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { LongPollClient } from '@starling/test-support/long-poll-client';
import { ManualClock } from '../../src/testing/manual-clock.ts';
import { replyPayload, useFixtures, type Tuple } from '../support/wire-client.ts';

const { start, connect } = useFixtures();

const OK = replyPayload('ok');
const RATE_LIMITED = replyPayload('error', { reason: 'rate limited' });
/** So slow that no token comes back during a test: the burst is the whole budget. */
const NO_REFILL = 0.001;

describe('a message over budget', () => {
  it('is answered "rate limited" with its ref and topic and a null join_ref, and never reaches the channel; exactly `burst` pass', async () => {
    const fixture = await start({ socket: { rateLimit: { messagesPerSecond: NO_REFILL, burst: 10, closeAfterMs: Infinity } } });
    const client = await connect(fixture);
    expect(await client.join('test:room', '1')).toEqual(['1', '1', 'test:room', 'phx_reply', OK]);

    // The join took one token; nine pushes use up the burst of ten.
    const pushes: Tuple[] = Array.from({ length: 10 }, (_, i) => ['1', `p${i}`, 'test:room', 'reply_ok', {}]);
    client.sendTogether(pushes);

    for (let i = 0; i < 9; i++) expect(await client.reply(`p${i}`)).toEqual(['1', `p${i}`, 'test:room', 'phx_reply', OK]);
    expect(await client.reply('p9')).toEqual([null, 'p9', 'test:room', 'phx_reply', RATE_LIMITED]);
    expect(fixture.calls.filter((call) => call.callback === 'handleIn')).toHaveLength(9);
    expect(fixture.endpoint.stats.rateLimited).toBe(1);
  });

  it('refuses joins, leaves and events alike (the join callback is not called)', async () => {
    const fixture = await start({ socket: { rateLimit: { messagesPerSecond: NO_REFILL, burst: 1, closeAfterMs: Infinity } } });
    const client = await connect(fixture);
    expect(await client.join('test:a', '1')).toEqual(['1', '1', 'test:a', 'phx_reply', OK]);

    expect(await client.join('test:b', '2')).toEqual([null, '2', 'test:b', 'phx_reply', RATE_LIMITED]);
    expect(await client.push(['1', '3', 'test:a', 'phx_leave', {}])).toEqual([null, '3', 'test:a', 'phx_reply', RATE_LIMITED]);
    expect(await client.push(['1', '4', 'test:a', 'reply_ok', {}])).toEqual([null, '4', 'test:a', 'phx_reply', RATE_LIMITED]);
    expect(fixture.calls.map((call) => `${call.callback} ${call.topic}`)).toEqual(['join test:a']);
  });

  it('is refused on LongPoll too: the refusal travels on the next poll', async () => {
    const fixture = await start({ socket: { rateLimit: { messagesPerSecond: NO_REFILL, burst: 3, closeAfterMs: Infinity } } });
    const client = await LongPollClient.open(fixture.longPollUrl);

    const posted = await client.post([
      ['1', '1', 'test:room', 'phx_join', {}],
      ['1', '2', 'test:room', 'reply_ok', {}],
      ['1', '3', 'test:room', 'reply_ok', {}],
      ['1', '4', 'test:room', 'reply_ok', {}],
    ]);

    expect(posted.body.status).toBe(200);
    expect(await client.next((frame) => frame[1] === '3')).toEqual(['1', '3', 'test:room', 'phx_reply', OK]);
    expect(await client.next((frame) => frame[1] === '4')).toEqual([null, '4', 'test:room', 'phx_reply', RATE_LIMITED]);
  });

  it('is not limited at all with rateLimit: false', async () => {
    const fixture = await start({ socket: { rateLimit: false } });
    const client = await connect(fixture);
    await client.join('test:room', '1');

    client.sendTogether(Array.from({ length: 500 }, (_, i): Tuple => ['1', `p${i}`, 'test:room', 'reply_ok', {}]));

    expect(await client.reply('p499')).toEqual(['1', 'p499', 'test:room', 'phx_reply', OK]);
    expect(fixture.endpoint.stats.rateLimited).toBe(0);
  });
});

describe('heartbeats', () => {
  it('are answered while the socket is over budget, and take no tokens', async () => {
    const fixture = await start({ socket: { rateLimit: { messagesPerSecond: NO_REFILL, burst: 3, closeAfterMs: Infinity } } });
    const client = await connect(fixture);
    await client.join('test:room', '1');

    // Fifty heartbeats leave the two remaining tokens untouched…
    client.sendTogether(Array.from({ length: 50 }, (_, i): Tuple => [null, `h${i}`, 'phoenix', 'heartbeat', {}]));
    expect(await client.reply('h49')).toEqual([null, 'h49', 'phoenix', 'phx_reply', OK]);
    expect(await client.push(['1', '2', 'test:room', 'reply_ok', {}])).toEqual(['1', '2', 'test:room', 'phx_reply', OK]);
    expect(await client.push(['1', '3', 'test:room', 'reply_ok', {}])).toEqual(['1', '3', 'test:room', 'phx_reply', OK]);
    // …and once the budget is spent, a heartbeat is still answered between two refusals.
    expect(await client.push(['1', '4', 'test:room', 'reply_ok', {}])).toEqual([null, '4', 'test:room', 'phx_reply', RATE_LIMITED]);
    expect(await client.push([null, 'h50', 'phoenix', 'heartbeat', {}])).toEqual([null, 'h50', 'phoenix', 'phx_reply', OK]);
    expect(await client.push(['1', '5', 'test:room', 'reply_ok', {}])).toEqual([null, '5', 'test:room', 'phx_reply', RATE_LIMITED]);
  });
});

describe('sustained abuse', () => {
  it('a flooding socket is closed with 1008 "rate limited" after closeAfterMs; a socket on the same topic is unaffected', async () => {
    const closeAfterMs = 500;
    // The bucket's time is the test's: it moves 40 ms per calm push, whatever the machine's load.
    const clock = new ManualClock();
    const fixture = await start({ endpoint: { clock }, socket: { rateLimit: { messagesPerSecond: 100, burst: 200, closeAfterMs } } });
    const calm = await connect(fixture);
    await calm.join('test:room', '1');
    const flooder = await connect(fixture);
    await flooder.join('test:room', '1');
    let closed = false;
    const flooderClosed = flooder.closed.then((result) => {
      closed = true;
      return result;
    });

    // As fast as it can: 100 pushes per write, the next write as soon as the last one left.
    const flooding = (async () => {
      for (let batch = 0; !closed && batch < 10_000; batch++) {
        flooder.sendTogether(Array.from({ length: 100 }, (_, i): Tuple => ['1', `f${batch * 100 + i}`, 'test:room', 'reply_ok', { n: batch * 100 + i }]));
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    // Meanwhile the calm socket pushes at 25/s, well within its own budget: every push is answered.
    for (let i = 0; i < 30; i++) {
      expect(await calm.push(['1', `c${i}`, 'test:room', 'echo', { i }])).toEqual(['1', `c${i}`, 'test:room', 'phx_reply', replyPayload('ok', { i })]);
      await clock.advance(40); // the calm client's pace: 25 pushes a second, well within its budget
    }
    await flooding;

    expect(await flooderClosed).toEqual({ code: 1008, reason: 'rate limited' });
    const replies = flooder.raw.frames.flatMap((frame) => (!frame.binary && Array.isArray(frame.json) && frame.json[3] === 'phx_reply' ? [frame.json] : []));
    const admitted = replies.filter((reply) => (reply[4] as { status: string }).status === 'ok').map((reply) => reply[1]);
    const refused = replies
      .filter((reply) => reply[0] === null && (reply[4] as { response?: { reason?: string } }).response?.reason === 'rate limited')
      .map((reply) => reply[1]);
    expect(admitted.length + refused.length).toBe(replies.length);
    // The burst (minus the join's token) plus what at most 1.2 s of refill allows; nothing more.
    expect(admitted.length).toBeGreaterThanOrEqual(199);
    expect(admitted.length).toBeLessThan(199 + 100 * 2);
    // How many the flood got out before the close depends on the machine's load; that most were refused does not.
    expect(refused.length).toBeGreaterThan(admitted.length);
    // No refused push reached the channel. (An admitted push still being handled when the socket
    // closed may have lost its reply, so `handled` may hold one or two more than `admitted`.)
    const handled = new Set(fixture.calls.filter((call) => call.event === 'reply_ok').map((call) => `f${(call.payload as { n: number }).n}`));
    expect(refused.filter((ref) => handled.has(ref as string))).toEqual([]);
    expect(admitted.filter((ref) => !handled.has(ref as string))).toEqual([]);
    // Every refusal is counted, the last one being the message that closed the socket.
    expect(fixture.endpoint.stats).toMatchObject({ rateLimited: refused.length + 1, rateLimitCloses: 1 });
    expect(fixture.calls.filter((call) => call.callback === 'terminate')).toHaveLength(1);
    // The calm socket is still open and joined.
    expect(await calm.push(['1', 'last', 'test:room', 'reply_ok', {}])).toEqual(['1', 'last', 'test:room', 'phx_reply', OK]);
    expect(fixture.endpoint.connectionCount).toBe(1);
  });
});
