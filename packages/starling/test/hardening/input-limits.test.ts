/**
 * Input limits, each with a clear outcome and its default:
 * - `maxTopicLength` / `maxEventLength` (255 UTF-8 bytes): error reply `{reason: "topic too long"}` /
 *   `{reason: "event too long"}` with the frame's ref and a null join_ref; the socket lives on;
 * - `maxJoinParamsBytes` (64 KiB of JSON): the join is refused `{reason: "join params too large"}`;
 * - `maxPayloadDepth` (32): a frame nesting deeper is malformed — close 1007 (LongPoll: HTTP 400,
 *   session ended) — found by scanning the bytes before any parsing.
 * Exactly at a limit is accepted.
 */
import { describe, expect, it } from 'vitest';
import { LongPollClient, rawLongPollRequest } from '@starling/test-support/long-poll-client';
import { JSON_DIALECTS, replyPayload, useFixtures, V2 } from '../support/wire-client.ts';

const { start, connect } = useFixtures();

const OK = replyPayload('ok');
const refusal = (reason: string): unknown => replyPayload('error', { reason });

/** A payload nested `depth` levels deep (`{}` is 1), alternating objects and arrays. */
function nested(depth: number): unknown {
  let value: unknown = depth % 2 === 1 ? {} : [];
  for (let level = depth - 1; level >= 1; level--) value = level % 2 === 1 ? { a: value } : [value];
  return value;
}

/** A topic routed to the fixture's test channel, exactly `bytes` UTF-8 bytes long. */
const topicOf = (bytes: number): string => `test:${'t'.repeat(bytes - 'test:'.length)}`;

describe.each(JSON_DIALECTS)('topic and event length ($name)', (dialect) => {
  it('joins a topic of exactly 255 bytes; one byte more is refused "topic too long" and join is not called', async () => {
    const fixture = await start();
    const client = await connect(fixture, dialect);

    expect(await client.join(topicOf(255), '1')).toEqual(client.wire(['1', '1', topicOf(255), 'phx_reply', OK]));
    expect(await client.join(topicOf(256), '2')).toEqual(client.wire([null, '2', topicOf(256), 'phx_reply', refusal('topic too long')]));
    expect(fixture.calls.filter((call) => call.callback === 'join').map((call) => call.topic)).toEqual([topicOf(255)]);
  });

  it('handles an event name of exactly 255 bytes; one byte more is refused "event too long" and handleIn is not called', async () => {
    const fixture = await start();
    const client = await connect(fixture, dialect);
    await client.join('test:room', '1');
    const event255 = 'e'.repeat(255);

    // The fixture answers any unknown event with {reason: "unknown event"}: proof it was handled.
    expect(await client.push(['1', '2', 'test:room', event255, {}])).toEqual(client.wire(['1', '2', 'test:room', 'phx_reply', refusal('unknown event')]));
    expect(await client.push(['1', '3', 'test:room', `${event255}e`, {}])).toEqual(
      client.wire([null, '3', 'test:room', 'phx_reply', refusal('event too long')]),
    );
    expect(fixture.calls.filter((call) => call.callback === 'handleIn')).toHaveLength(1);
    expect(await client.push(['1', '4', 'test:room', 'reply_ok', {}])).toEqual(client.wire(['1', '4', 'test:room', 'phx_reply', OK]));
  });
});

describe('topic and event length', () => {
  it('counts UTF-8 bytes, not characters', async () => {
    const fixture = await start();
    const client = await connect(fixture);
    const fits = `test:${'é'.repeat(125)}`; // 5 + 250 bytes
    const over = `test:${'é'.repeat(126)}`; // 131 characters, 257 bytes

    expect(await client.join(fits, '1')).toEqual(['1', '1', fits, 'phx_reply', OK]);
    expect(await client.join(over, '2')).toEqual([null, '2', over, 'phx_reply', refusal('topic too long')]);
  });

  it('applies to events on topics the socket has not joined too, before routing', async () => {
    const fixture = await start({ socket: { maxTopicLength: 12 } });
    const client = await connect(fixture);

    expect(await client.push([null, '1', 'test:1234567', 'reply_ok', {}])).toEqual([null, '1', 'test:1234567', 'phx_reply', refusal('unmatched topic')]);
    expect(await client.push([null, '2', 'test:12345678', 'reply_ok', {}])).toEqual([null, '2', 'test:12345678', 'phx_reply', refusal('topic too long')]);
  });

  it('honours the options maxTopicLength and maxEventLength', async () => {
    const fixture = await start({ socket: { maxTopicLength: 10, maxEventLength: 9 } });
    const client = await connect(fixture);

    expect(await client.join('test:12345', '1')).toEqual(['1', '1', 'test:12345', 'phx_reply', OK]);
    expect(await client.join('test:123456', '2')).toEqual([null, '2', 'test:123456', 'phx_reply', refusal('topic too long')]);
    expect(await client.push(['1', '3', 'test:12345', 'reply_ok', {}])).toEqual(['1', '3', 'test:12345', 'phx_reply', OK]);
    expect(await client.push(['1', '4', 'test:12345', 'reply_ok!', {}])).toEqual(['1', '4', 'test:12345', 'phx_reply', refusal('unknown event')]);
    expect(await client.push(['1', '5', 'test:12345', 'reply_ok!!', {}])).toEqual([null, '5', 'test:12345', 'phx_reply', refusal('event too long')]);
    expect(await client.push(['1', '6', 'test:12345', 'phx_leave', {}])).toEqual(['1', '6', 'test:12345', 'phx_reply', OK]);
  });

  it('refuses, at mount time, limits too small for the protocol itself (phx_leave must fit)', async () => {
    await expect(start({ socket: { maxEventLength: 8 } })).rejects.toThrow(RangeError);
    await expect(start({ socket: { maxPayloadDepth: 0 } })).rejects.toThrow(RangeError);
  });
});

describe('join params size', () => {
  /** Join params `{"pad":"x…"}` whose JSON is exactly `bytes` long. */
  const paramsOf = (bytes: number): { pad: string } => ({ pad: 'x'.repeat(bytes - JSON.stringify({ pad: '' }).length) });

  it('accepts join params of exactly 64 KiB of JSON; one byte more is refused "join params too large"', async () => {
    const fixture = await start();
    const client = await connect(fixture);
    expect(JSON.stringify(paramsOf(65_536)).length).toBe(65_536);

    expect(await client.join('test:a', '1', paramsOf(65_536))).toEqual(['1', '1', 'test:a', 'phx_reply', OK]);
    expect(await client.join('test:b', '2', paramsOf(65_537))).toEqual([null, '2', 'test:b', 'phx_reply', refusal('join params too large')]);
    expect(fixture.calls.filter((call) => call.callback === 'join').map((call) => call.topic)).toEqual(['test:a']);
    expect(await client.push([null, '3', 'phoenix', 'heartbeat', {}])).toEqual([null, '3', 'phoenix', 'phx_reply', OK]);
  });

  it('does not limit the payload of other events', async () => {
    const fixture = await start({ socket: { maxJoinParamsBytes: 100 } });
    const client = await connect(fixture);
    await client.join('test:room', '1');
    const big = { pad: 'x'.repeat(10_000) };

    expect(await client.push(['1', '2', 'test:room', 'echo', big])).toEqual(['1', '2', 'test:room', 'phx_reply', replyPayload('ok', big)]);
  });
});

describe.each(JSON_DIALECTS)('payload depth ($name)', (dialect) => {
  it('echoes a payload nested exactly 32 levels; 33 levels close the socket with 1007, and only that socket', async () => {
    const fixture = await start();
    const bystander = await connect(fixture, V2);
    await bystander.join('test:room', '1');
    const client = await connect(fixture, dialect);
    await client.join('test:deep', '1');

    expect(await client.push(['1', '2', 'test:deep', 'echo', nested(32)])).toEqual(
      client.wire(['1', '2', 'test:deep', 'phx_reply', replyPayload('ok', nested(32))]),
    );
    client.send(['1', '3', 'test:deep', 'echo', nested(33)]);

    expect((await client.closed).code).toBe(1007);
    expect(fixture.calls.filter((call) => call.callback === 'handleIn')).toHaveLength(1);
    expect(await bystander.push(['1', '9', 'test:room', 'reply_ok', {}])).toEqual(['1', '9', 'test:room', 'phx_reply', OK]);
  });
});

describe('payload depth', () => {
  it('does not count brackets inside strings, escaped quotes included', async () => {
    const fixture = await start({ socket: { maxPayloadDepth: 2 } });
    const client = await connect(fixture);
    await client.join('test:room', '1');
    const payload = { s: `"[{${'['.repeat(100)}\\"{{{`, t: ['{[{[', '\\'] };

    expect(await client.push(['1', '2', 'test:room', 'echo', payload])).toEqual(['1', '2', 'test:room', 'phx_reply', replyPayload('ok', payload)]);
  });

  it('closes a 500,000-level frame with 1007 without parsing it', async () => {
    const fixture = await start();
    const client = await connect(fixture);
    const frame = `[null,"1","test:room","echo",${'['.repeat(500_000)}${']'.repeat(500_000)}]`;

    client.raw.sendRaw(frame);

    expect(await client.closed).toEqual({ code: 1007, reason: 'malformed frame' });
    expect(fixture.calls).toEqual([]);
  });

  it('honours the option maxPayloadDepth', async () => {
    const fixture = await start({ socket: { maxPayloadDepth: 3 } });
    const client = await connect(fixture);
    await client.join('test:room', '1');

    expect(await client.push(['1', '2', 'test:room', 'echo', nested(3)])).toEqual(['1', '2', 'test:room', 'phx_reply', replyPayload('ok', nested(3))]);
    client.send(['1', '3', 'test:room', 'echo', nested(4)]);
    expect((await client.closed).code).toBe(1007);
  });

  it('LongPoll: a POST with a too-deep frame is HTTP 400 and ends the session', async () => {
    const fixture = await start();
    const client = await LongPollClient.open(fixture.longPollUrl);
    expect((await client.post([['1', '1', 'test:room', 'phx_join', {}]])).body.status).toBe(200);

    const answer = await rawLongPollRequest(fixture.longPollUrl, {
      method: 'POST',
      query: { vsn: '2.0.0', token: client.token },
      headers: { 'content-type': 'application/x-ndjson' },
      body: JSON.stringify(['1', '2', 'test:room', 'echo', nested(33)]),
    });

    expect(answer.httpStatus).toBe(400);
    expect((await client.post([[null, '3', 'phoenix', 'heartbeat', {}]])).body.status).toBe(410);
  });
});
