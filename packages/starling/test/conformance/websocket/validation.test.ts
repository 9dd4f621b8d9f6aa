/**
 * Validation at the edge, on the wire: a channel with `schemas` (zod here, any Standard Schema)
 * answers a payload that fails its event's schema with
 * `[join_ref, ref, topic, "phx_reply", {"status":"error","response":{"reason":"invalid payload","issues":[…]}}]`
 * and never calls `handleIn`; a valid payload reaches `handleIn` as the schema's output. Raw V2
 * and V1 frames, and the official client.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { noreply, ok, reply, type Channel, type InferPayloads } from '../../../src/index.ts';
import { startCustomEndpoint } from '../../support/custom-endpoint.ts';
import { JSON_DIALECTS, replyPayload, useFixtures } from '../../support/wire-client.ts';
import { ClientPool, joined, phoenix18Client, pushOutcome } from '@starling/test-support/official-client';

const { connect, track } = useFixtures();

const schemas = {
  new_msg: z.object({ body: z.string().trim().min(1).max(10) }),
  move: z.object({ x: z.number().int(), y: z.number().int() }),
};
type Events = { in: InferPayloads<typeof schemas>; out: { new_msg: { body: string } } };

function validatedChannel(handled: unknown[]): Channel<Record<string, unknown>, Events> {
  return {
    schemas,
    join: () => ok(),
    handleIn(event, payload, socket) {
      handled.push([event, payload]);
      if (event === 'move') return reply('ok', { sum: payload.x + payload.y });
      socket.broadcast('new_msg', { body: payload.body });
      return noreply();
    },
  };
}

const INVALID_BODY = replyPayload('error', {
  reason: 'invalid payload',
  issues: [{ message: 'Invalid input: expected string, received number', path: ['body'] }],
});

for (const dialect of JSON_DIALECTS) {
  describe(`payload validation (${dialect.name})`, () => {
    it('answers an invalid payload with the error reply and its issues; handleIn never sees it', async () => {
      const handled: unknown[] = [];
      const endpoint = track(await startCustomEndpoint(validatedChannel(handled)));
      const client = await connect(endpoint, dialect);
      await client.join('rooms:lobby', '1');

      expect(await client.push(['1', '2', 'rooms:lobby', 'new_msg', { body: 42 }])).toEqual(client.wire(['1', '2', 'rooms:lobby', 'phx_reply', INVALID_BODY]));
      const twoIssues = (await client.push(['1', '3', 'rooms:lobby', 'move', { x: 'a', y: 1.5 }])) as unknown;
      expect(JSON.stringify(twoIssues)).toContain('"reason":"invalid payload"');
      expect(JSON.stringify(twoIssues)).toMatch(/"path":\["x"\].*"path":\["y"\]/);
      expect(await client.push(['1', '4', 'rooms:lobby', 'unknown', {}])).toEqual(
        client.wire(['1', '4', 'rooms:lobby', 'phx_reply', replyPayload('error', { reason: 'unknown event' })]),
      );
      expect(handled).toEqual([]);

      // Valid payloads go through, as the schema's output (trimmed).
      expect(await client.push(['1', '5', 'rooms:lobby', 'move', { x: 2, y: 3 }])).toEqual(
        client.wire(['1', '5', 'rooms:lobby', 'phx_reply', replyPayload('ok', { sum: 5 })]),
      );
      client.send(['1', '6', 'rooms:lobby', 'new_msg', { body: '  hi  ' }]);
      expect(await client.receive((frame) => frame[3] === 'new_msg')).toEqual(client.wire([null, null, 'rooms:lobby', 'new_msg', { body: 'hi' }]));
      expect(handled).toEqual([
        ['move', { x: 2, y: 3 }],
        ['new_msg', { body: 'hi' }],
      ]);
    });
  });
}

describe('payload validation with the official client', () => {
  it('receives the error reply with its issues through push().receive("error")', async () => {
    const handled: unknown[] = [];
    const endpoint = track(await startCustomEndpoint(validatedChannel(handled)));
    const pool = track(new ClientPool(phoenix18Client));
    const channel = pool.socket(endpoint.wsUrl.replace(/\/websocket$/, '')).channel('rooms:lobby');
    await joined(channel);
    expect(await pushOutcome(channel, 'new_msg', { body: 42 })).toEqual({ status: 'error', response: INVALID_BODY.response });
    expect(await pushOutcome(channel, 'move', { x: 1, y: 2 })).toEqual({ status: 'ok', response: { sum: 3 } });
    expect(handled).toEqual([['move', { x: 1, y: 2 }]]);
  });
});
