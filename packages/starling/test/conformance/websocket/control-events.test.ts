/**
 * Raw-frame conformance for control events and the server's exact replies (docs/protocol.md §3;
 * checklist §11 items 8–25), run with every JSON serializer. Joins use join_ref = ref ("1", as
 * phoenix.js does) and the events after them use other refs ("2", "3", …), so a server that
 * confuses the two fails.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { Fixture } from '../../support/fixture.ts';
import { startCustomEndpoint } from '../../support/custom-endpoint.ts';
import { eventually } from '@starling/test-support/eventually';
import { JSON_DIALECTS, replyPayload, useFixtures, V2 } from '../../support/wire-client.ts';
import { noreply, ok } from '../../../src/index.ts';

const { start, connect, track } = useFixtures();

const OK = replyPayload('ok');
const UNMATCHED = replyPayload('error', { reason: 'unmatched topic' });

for (const dialect of JSON_DIALECTS) {
  describe(`control events over ${dialect.name}`, () => {
    let fixture: Fixture;
    beforeEach(async () => {
      fixture = await start();
    });
    const open = () => connect(fixture, dialect);

    describe('heartbeat (§3.1, item 8)', () => {
      it('answers [null,R,"phoenix","heartbeat",{}] with ok and a null join_ref, with no channel joined', async () => {
        const client = await open();
        expect(await client.push([null, '7', 'phoenix', 'heartbeat', {}])).toEqual(client.wire([null, '7', 'phoenix', 'phx_reply', OK]));
      });

      it('answers with a null join_ref whatever join_ref and payload the heartbeat carried', async () => {
        const client = await open();
        await client.join('test:a', '1');
        expect(await client.push(['1', '2', 'phoenix', 'heartbeat', { ignored: true }])).toEqual(client.wire([null, '2', 'phoenix', 'phx_reply', OK]));
      });

      it('treats any other event on topic "phoenix" as a message to an unjoined topic', async () => {
        const client = await open();
        expect(await client.push([null, '3', 'phoenix', 'ping', {}])).toEqual(client.wire([null, '3', 'phoenix', 'phx_reply', UNMATCHED]));
      });

      it('answers a heartbeat at once while a join on the socket is still running', async () => {
        const client = await open();
        client.send(['1', '1', 'test:slow', 'phx_join', { delayMs: 400 }]);
        client.send([null, '2', 'phoenix', 'heartbeat', {}]);
        expect(await client.nextFrames(1)).toEqual([client.wire([null, '2', 'phoenix', 'phx_reply', OK])]);
        expect(await client.reply('1')).toEqual(client.wire(['1', '1', 'test:slow', 'phx_reply', OK]));
      });
    });

    describe('phx_join (§3.2, items 9–12)', () => {
      it('answers an accepted join with ["J","J",T,"phx_reply",{"status":"ok","response":{}}]', async () => {
        const client = await open();
        expect(await client.join('test:lobby', '1')).toEqual(client.wire(['1', '1', 'test:lobby', 'phx_reply', OK]));
      });

      it('puts the join callback’s reply in the response', async () => {
        const client = await open();
        expect(await client.join('test:lobby', '1', { reply: { x: 1 } })).toEqual(
          client.wire(['1', '1', 'test:lobby', 'phx_reply', replyPayload('ok', { x: 1 })]),
        );
      });

      it('answers a refused join with its reason, and leaves no channel behind', async () => {
        const client = await open();
        expect(await client.join('test:secret', '1', { refuse: true })).toEqual(
          client.wire(['1', '1', 'test:secret', 'phx_reply', replyPayload('error', { reason: 'unauthorized' })]),
        );
        expect(await client.push(['1', '2', 'test:secret', 'echo', {}])).toEqual(client.wire([null, '2', 'test:secret', 'phx_reply', UNMATCHED]));
      });

      it('answers a join that throws with "join crashed"; the socket and its other channels keep working', async () => {
        const client = await open();
        await client.join('test:other', '1');
        expect(await client.join('test:boom', '2', { crash: true })).toEqual(
          client.wire(['2', '2', 'test:boom', 'phx_reply', replyPayload('error', { reason: 'join crashed' })]),
        );
        expect(await client.push(['1', '3', 'test:other', 'echo', { still: 'here' }])).toEqual(
          client.wire(['1', '3', 'test:other', 'phx_reply', replyPayload('ok', { still: 'here' })]),
        );
        expect(await client.push([null, '4', 'phoenix', 'heartbeat', {}])).toEqual(client.wire([null, '4', 'phoenix', 'phx_reply', OK]));
        expect(await client.push(['2', '5', 'test:boom', 'echo', {}])).toEqual(client.wire([null, '5', 'test:boom', 'phx_reply', UNMATCHED]));
      });

      it('answers a join of a topic no pattern matches with "unmatched topic" and a null join_ref', async () => {
        const client = await open();
        expect(await client.join('nowhere:1', '1')).toEqual(client.wire([null, '1', 'nowhere:1', 'phx_reply', UNMATCHED]));
        expect(fixture.calls).toEqual([]);
      });

      it('routes an exact pattern only to that exact topic', async () => {
        const client = await open();
        expect(await client.join('exact', '1')).toEqual(client.wire(['1', '1', 'exact', 'phx_reply', OK]));
        expect(await client.join('exactly', '2')).toEqual(client.wire([null, '2', 'exactly', 'phx_reply', UNMATCHED]));
      });

      it('uses the join_ref as sent, and the ref when the join_ref is null, as the channel’s join ref', async () => {
        const client = await open();
        client.send([null, '4', 'test:nulljoin', 'phx_join', {}]);
        expect(await client.reply('4')).toEqual(client.wire([null, '4', 'test:nulljoin', 'phx_reply', OK]));
        client.send([null, '5', 'test:nulljoin', 'push', { event: 'hello', payload: {} }]);
        expect(await client.receive((f) => f[3] === 'hello')).toEqual(client.wire(['4', null, 'test:nulljoin', 'hello', {}]));
        expect(await client.push(['4', '6', 'test:nulljoin', 'reply_ok', {}])).toEqual(client.wire(['4', '6', 'test:nulljoin', 'phx_reply', OK]));
      });
    });

    describe('events on a joined topic (§3.3, items 14–18)', () => {
      it('answers reply ok with ["J","R",T,"phx_reply",{"status":"ok","response":{}}]', async () => {
        const client = await open();
        await client.join('test:room', '1');
        expect(await client.push(['1', '2', 'test:room', 'reply_ok', {}])).toEqual(client.wire(['1', '2', 'test:room', 'phx_reply', OK]));
      });

      it('answers reply {error, {e:1}} with status "error" and response {"e":1}', async () => {
        const client = await open();
        await client.join('test:room', '1');
        expect(await client.push(['1', '2', 'test:room', 'reply_error', {}])).toEqual(
          client.wire(['1', '2', 'test:room', 'phx_reply', replyPayload('error', { e: 1 })]),
        );
      });

      it('answers a custom status with that status string', async () => {
        const client = await open();
        await client.join('test:room', '1');
        expect(await client.push(['1', '2', 'test:room', 'reply_not_found', {}])).toEqual(
          client.wire(['1', '2', 'test:room', 'phx_reply', replyPayload('not_found', {})]),
        );
      });

      it('answers with the channel’s join ref when the event carried a null join_ref', async () => {
        const client = await open();
        await client.join('test:room', '1');
        expect(await client.push([null, '2', 'test:room', 'reply_ok', {}])).toEqual(client.wire(['1', '2', 'test:room', 'phx_reply', OK]));
      });

      it('sends no frame at all for a noreply handler (nothing with that ref within 1 s)', async () => {
        const client = await open();
        await client.join('test:room', '1');
        client.send(['1', '2', 'test:room', 'noreply', {}]);
        expect(await client.none((f) => f[1] === '2', 1000)).toBe(true);
        expect(fixture.calls.filter((c) => c.callback === 'handleIn').map((c) => c.event)).toEqual(['noreply']);
      });

      it('answers an event on a never-joined topic with "unmatched topic" and a null join_ref, even when it carried one', async () => {
        const client = await open();
        await client.join('test:room', '1');
        expect(await client.push(['1', '2', 'test:elsewhere', 'echo', {}])).toEqual(client.wire([null, '2', 'test:elsewhere', 'phx_reply', UNMATCHED]));
        expect(fixture.calls.filter((c) => c.callback === 'handleIn')).toEqual([]);
      });

      it('drops an event with a stale join_ref silently (no frame, no handleIn), and handles it with a null join_ref', async () => {
        const client = await open();
        await client.join('test:room', '1');
        client.send(['99', '2', 'test:room', 'echo', { n: 'stale' }]);
        // Frames are handled in order: once the next push is answered, the stale one was dropped.
        expect(await client.push(['1', '3', 'test:room', 'echo', { n: 'current' }])).toEqual(
          client.wire(['1', '3', 'test:room', 'phx_reply', replyPayload('ok', { n: 'current' })]),
        );
        expect(await client.none((f) => f[1] === '2', 100)).toBe(true);
        expect(await client.push([null, '4', 'test:room', 'echo', { n: 'null' }])).toEqual(
          client.wire(['1', '4', 'test:room', 'phx_reply', replyPayload('ok', { n: 'null' })]),
        );
        expect(fixture.calls.filter((c) => c.callback === 'handleIn').map((c) => c.payload)).toEqual([{ n: 'current' }, { n: 'null' }]);
      });

      it('echoes a numeric ref as a number', async () => {
        const client = await open();
        await client.join('test:room', '1');
        expect(await client.push(['1', 9, 'test:room', 'reply_ok', {}])).toEqual(client.wire(['1', 9, 'test:room', 'phx_reply', OK]));
        expect(await client.push([null, 10, 'phoenix', 'heartbeat', {}])).toEqual(client.wire([null, 10, 'phoenix', 'phx_reply', OK]));
      });

      it('echoes a numeric join_ref as a number', async () => {
        const client = await open();
        client.send([5, 5, 'test:room', 'phx_join', {}]);
        expect(await client.reply(5)).toEqual(client.wire([5, 5, 'test:room', 'phx_reply', OK]));
        expect(await client.push([5, 6, 'test:room', 'reply_ok', {}])).toEqual(client.wire([5, 6, 'test:room', 'phx_reply', OK]));
      });

      it('hands a string payload to handleIn unchanged', async () => {
        const client = await open();
        await client.join('test:room', '1');
        expect(await client.push(['1', '2', 'test:room', 'echo', 'just a string'])).toEqual(
          client.wire(['1', '2', 'test:room', 'phx_reply', replyPayload('ok', 'just a string')]),
        );
        expect(fixture.calls.find((c) => c.callback === 'handleIn')?.payload).toBe('just a string');
      });
    });

    describe('phx_leave (§3.5, items 19–20)', () => {
      it('answers a leave with the reply and then phx_close, runs terminate with "left", and forgets the topic', async () => {
        const client = await open();
        await client.join('test:room', '1');
        client.send(['1', '2', 'test:room', 'phx_leave', {}]);
        expect(await client.nextFrames(2)).toEqual([
          client.wire(['1', '2', 'test:room', 'phx_reply', OK]),
          client.wire(['1', '1', 'test:room', 'phx_close', {}]),
        ]);
        expect(fixture.calls.filter((c) => c.callback === 'terminate')).toEqual([{ callback: 'terminate', topic: 'test:room', reason: { shutdown: 'left' } }]);
        expect(await client.push(['1', '3', 'test:room', 'echo', {}])).toEqual(client.wire([null, '3', 'test:room', 'phx_reply', UNMATCHED]));
      });

      it('accepts a leave with a null join_ref', async () => {
        const client = await open();
        await client.join('test:room', '1');
        client.send([null, '2', 'test:room', 'phx_leave', {}]);
        expect(await client.nextFrames(2)).toEqual([
          client.wire(['1', '2', 'test:room', 'phx_reply', OK]),
          client.wire(['1', '1', 'test:room', 'phx_close', {}]),
        ]);
      });

      it('answers a leave of a topic not joined with ok echoing its join_ref, and nothing else', async () => {
        const client = await open();
        client.send(['1', '2', 'test:never', 'phx_leave', {}]);
        expect(await client.framesBeforeHeartbeat('3')).toEqual([client.wire(['1', '2', 'test:never', 'phx_reply', OK])]);
        expect(fixture.calls).toEqual([]);
      });

      it('ignores a leave whose join_ref is another join’s: no reply, the channel stays', async () => {
        const client = await open();
        await client.join('test:room', '1');
        client.send(['99', '2', 'test:room', 'phx_leave', {}]);
        expect(await client.framesBeforeHeartbeat('3')).toEqual([]);
        expect(await client.push(['1', '4', 'test:room', 'reply_ok', {}])).toEqual(client.wire(['1', '4', 'test:room', 'phx_reply', OK]));
      });
    });

    describe('channel stops and crashes (§3.6–3.7, items 21–22)', () => {
      it('sends ["J","J",T,"phx_close",{}] when the handler stops with a normal reason', async () => {
        const client = await open();
        await client.join('test:room', '1');
        client.send(['1', '2', 'test:room', 'stop_normal', {}]);
        expect(await client.nextFrames(1)).toEqual([client.wire(['1', '1', 'test:room', 'phx_close', {}])]);
        expect(fixture.calls.filter((c) => c.callback === 'terminate').map((c) => c.reason)).toEqual(['normal']);
        expect(await client.push(['1', '3', 'test:room', 'echo', {}])).toEqual(client.wire([null, '3', 'test:room', 'phx_reply', UNMATCHED]));
      });

      it('writes the stop’s reply before phx_close', async () => {
        const client = await open();
        await client.join('test:room', '1');
        client.send(['1', '2', 'test:room', 'stop_with_reply', {}]);
        expect(await client.nextFrames(2)).toEqual([
          client.wire(['1', '2', 'test:room', 'phx_reply', replyPayload('ok', { bye: true })]),
          client.wire(['1', '1', 'test:room', 'phx_close', {}]),
        ]);
      });

      for (const event of ['crash', 'stop_abnormal']) {
        it(`sends ["J","J",T,"phx_error",{"reason":"channel_crash"}] when the handler ${event === 'crash' ? 'throws' : 'stops with an abnormal reason'}; the socket stays and T can be rejoined`, async () => {
          const client = await open();
          await client.join('test:room', '1');
          await client.join('test:neighbour', '2');
          client.send(['1', '3', 'test:room', event, {}]);
          expect(await client.nextFrames(1)).toEqual([client.wire(['1', '1', 'test:room', 'phx_error', { reason: 'channel_crash' }])]);
          expect(await client.push(['1', '4', 'test:room', 'echo', {}])).toEqual(client.wire([null, '4', 'test:room', 'phx_reply', UNMATCHED]));
          expect(await client.push(['2', '5', 'test:neighbour', 'reply_ok', {}])).toEqual(client.wire(['2', '5', 'test:neighbour', 'phx_reply', OK]));
          expect(await client.join('test:room', '6')).toEqual(client.wire(['6', '6', 'test:room', 'phx_reply', OK]));
          expect(await client.push(['6', '7', 'test:room', 'reply_ok', {}])).toEqual(client.wire(['6', '7', 'test:room', 'phx_reply', OK]));
          expect(fixture.endpoint.pubsub.subscriberCount('test:room')).toBe(1);
        });
      }
    });

    describe('duplicate join (§3.8, item 23)', () => {
      it('answers the new join, then closes the old one with its own join_ref, and keeps one subscription', async () => {
        const client = await open();
        await client.join('test:room', '1');
        client.send(['5', '5', 'test:room', 'phx_join', {}]);
        expect(await client.nextFrames(2)).toEqual([
          client.wire(['5', '5', 'test:room', 'phx_reply', OK]),
          client.wire(['1', '1', 'test:room', 'phx_close', {}]),
        ]);
        expect(fixture.endpoint.pubsub.subscriberCount('test:room')).toBe(1);

        // A broadcast reaches the socket once (it is written before the handler's reply).
        client.send(['5', '6', 'test:room', 'broadcast', { event: 'news', payload: { n: 1 } }]);
        expect(await client.nextFrames(2)).toEqual([
          client.wire([null, null, 'test:room', 'news', { n: 1 }]),
          client.wire(['5', '6', 'test:room', 'phx_reply', OK]),
        ]);
        expect(await client.framesBeforeHeartbeat('7')).toEqual([]);
        // The old channel is killed without terminate, as Phoenix does.
        expect(fixture.calls.filter((c) => c.callback === 'terminate')).toEqual([]);
      });
    });

    describe('ordering around joins (§3.2, §3.9, items 24–25)', () => {
      it('handles events written together with their phx_join after the join (no "unmatched topic")', async () => {
        const client = await open();
        client.sendTogether([
          ['1', '1', 'test:room', 'phx_join', {}],
          ['1', '2', 'test:room', 'echo', { n: 1 }],
          ['1', '3', 'test:room', 'echo', { n: 2 }],
        ]);
        expect(await client.nextFrames(3)).toEqual([
          client.wire(['1', '1', 'test:room', 'phx_reply', OK]),
          client.wire(['1', '2', 'test:room', 'phx_reply', replyPayload('ok', { n: 1 })]),
          client.wire(['1', '3', 'test:room', 'phx_reply', replyPayload('ok', { n: 2 })]),
        ]);
      });

      it('holds events behind a slow join of their topic, but not frames for other topics', async () => {
        const client = await open();
        await client.join('test:fast', '1');
        client.sendTogether([
          ['2', '2', 'test:slow', 'phx_join', { delayMs: 150 }],
          ['2', '3', 'test:slow', 'echo', { n: 1 }],
          ['1', '4', 'test:fast', 'reply_ok', {}],
        ]);
        expect(await client.nextFrames(3)).toEqual([
          client.wire(['1', '4', 'test:fast', 'phx_reply', OK]),
          client.wire(['2', '2', 'test:slow', 'phx_reply', OK]),
          client.wire(['2', '3', 'test:slow', 'phx_reply', replyPayload('ok', { n: 1 })]),
        ]);
      });

      it('answers events held behind a join that is refused with "unmatched topic"', async () => {
        const client = await open();
        client.sendTogether([
          ['1', '1', 'test:secret', 'phx_join', { refuse: true, delayMs: 50 }],
          ['1', '2', 'test:secret', 'echo', {}],
        ]);
        expect(await client.nextFrames(2)).toEqual([
          client.wire(['1', '1', 'test:secret', 'phx_reply', replyPayload('error', { reason: 'unauthorized' })]),
          client.wire([null, '2', 'test:secret', 'phx_reply', UNMATCHED]),
        ]);
      });

      it('writes the join reply before any frame of that join, even when a broadcast on T is sent while the join runs', async () => {
        const other = await open();
        await other.join('test:room', '1');
        const client = await open();
        const joins = (): number => fixture.calls.filter((call) => call.callback === 'join' && call.topic === 'test:room').length;
        const joinsBefore = joins();
        client.send(['7', '7', 'test:room', 'phx_join', { delayMs: 100, track: 'alice' }]);
        // The join callback has started (it records itself first, then waits its 100 ms).
        await eventually(() => expect(joins()).toBe(joinsBefore + 1));
        fixture.endpoint.broadcast('test:room', 'during_join', { from: 'server' });
        other.send(['1', '2', 'test:room', 'broadcast', { event: 'during_join', payload: { from: 'peer' } }]);
        const [first, second] = await client.nextFrames(2);
        expect(first).toEqual(client.wire(['7', '7', 'test:room', 'phx_reply', OK]));
        // The join's own push (its presence_state) follows the reply.
        expect(second).toEqual(client.wire(['7', null, 'test:room', 'presence_state', {}]));
      });
    });
  });
}

describe('join frames written inside join (§3.2, item 25)', () => {
  it('writes a push made by join itself after the join reply', async () => {
    const custom = track(
      await startCustomEndpoint({
        join(_topic, _payload, socket) {
          socket.push('welcome', { n: 1 });
          return ok({ joined: true });
        },
        handleIn: () => noreply(),
      }),
    );
    const client = await connect(custom, V2);
    client.send(['3', '3', 'room:1', 'phx_join', {}]);
    const frames = await client.nextFrames(2);
    expect(frames[0]).toEqual(['3', '3', 'room:1', 'phx_reply', replyPayload('ok', { joined: true })]);
    expect(frames[1]).toEqual(['3', null, 'room:1', 'welcome', { n: 1 }]);
  });
});

describe('channel limit (§3.2, §7.4, item 13)', () => {
  it('refuses the 101st simultaneous join with "too many channels joined", carrying its J and R; after one leave a join succeeds', async () => {
    const fixture = await start();
    const client = await connect(fixture, V2);
    for (let i = 1; i <= 100; i++) client.send([`j${i}`, `j${i}`, `test:${i}`, 'phx_join', {}]);
    for (let i = 1; i <= 100; i++) expect(await client.reply(`j${i}`)).toEqual([`j${i}`, `j${i}`, `test:${i}`, 'phx_reply', OK]);

    // join_ref ≠ ref on purpose: both must be echoed.
    expect(await client.push(['j101', 'r101', 'test:101', 'phx_join', {}])).toEqual([
      'j101',
      'r101',
      'test:101',
      'phx_reply',
      replyPayload('error', { reason: 'too many channels joined' }),
    ]);
    // Re-joining a topic already joined is a duplicate join, not a new channel.
    expect(await client.push(['k1', 'k1', 'test:1', 'phx_join', {}])).toEqual(['k1', 'k1', 'test:1', 'phx_reply', OK]);

    client.send(['j2', 'l2', 'test:2', 'phx_leave', {}]);
    expect(await client.reply('l2')).toEqual(['j2', 'l2', 'test:2', 'phx_reply', OK]);
    expect(await client.join('test:101', 'j102')).toEqual(['j102', 'j102', 'test:101', 'phx_reply', OK]);
  });

  it('counts joins still running against the limit', async () => {
    const fixture = await start({ socket: { maxChannels: 2 } });
    const client = await connect(fixture, V2);
    client.send(['1', '1', 'test:a', 'phx_join', { delayMs: 100 }]);
    client.send(['2', '2', 'test:b', 'phx_join', { delayMs: 100 }]);
    expect(await client.push(['3', '3', 'test:c', 'phx_join', {}])).toEqual([
      '3',
      '3',
      'test:c',
      'phx_reply',
      replyPayload('error', { reason: 'too many channels joined' }),
    ]);
  });
});

describe('join time bound (§0.1)', () => {
  it('answers a join slower than joinTimeoutMs with {"reason":"join timeout"} and no channel', async () => {
    const fixture = await start({ socket: { joinTimeoutMs: 100 } });
    const client = await connect(fixture, V2);
    expect(await client.join('test:slow', '1', { delayMs: 400 })).toEqual([
      '1',
      '1',
      'test:slow',
      'phx_reply',
      replyPayload('error', { reason: 'join timeout' }),
    ]);
    expect(await client.push(['1', '2', 'test:slow', 'echo', {}])).toEqual([null, '2', 'test:slow', 'phx_reply', UNMATCHED]);
    // That the late decision leaves no subscription is tested on the harness clock (test/unit/runtime).
  });
});

describe('frame shape tolerance (§2.2, item 18)', () => {
  it('accepts a V2 array with more than five elements and ignores the extras', async () => {
    const fixture = await start();
    const client = await connect(fixture, V2);
    client.raw.send(['1', '1', 'test:room', 'phx_join', {}, 'extra']);
    expect(await client.reply('1')).toEqual(['1', '1', 'test:room', 'phx_reply', OK]);
    client.raw.send(['1', '2', 'test:room', 'echo', { n: 1 }, 'extra', 42]);
    expect(await client.reply('2')).toEqual(['1', '2', 'test:room', 'phx_reply', replyPayload('ok', { n: 1 })]);
  });

  it('accepts a V1 object without join_ref', async () => {
    const fixture = await start();
    const client = await connect(fixture, JSON_DIALECTS[1]!);
    client.raw.send({ topic: 'test:room', event: 'phx_join', payload: {}, ref: '1' });
    expect(await client.reply('1')).toEqual({ event: 'phx_reply', payload: OK, ref: '1', topic: 'test:room' });
    client.raw.send({ topic: 'test:room', event: 'reply_ok', payload: {}, ref: '2' });
    expect(await client.reply('2')).toEqual({ event: 'phx_reply', payload: OK, ref: '2', topic: 'test:room' });
  });
});
