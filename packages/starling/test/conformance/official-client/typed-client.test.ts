/**
 * `starling-channels/client`: the official client typed by the server's event maps. One `Events` type is
 * shared by a validated server channel and `typedChannel` on the client: `push` takes only `in`
 * events with their payloads and types the declared `"ok"` reply, `on` types `out` payloads; the
 * wrapper is the phoenix channel itself (no runtime layer).
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { noreply, ok, reply, type Channel, type InferEvents, type InferPayloads } from '../../../src/index.ts';
import { typedChannel, type TypedChannel } from '../../../src/client/index.ts';
import { startCustomEndpoint } from '../../support/custom-endpoint.ts';
import { useFixtures } from '../../support/wire-client.ts';
import { ClientPool, phoenix18Client } from '@starling/test-support/official-client';

const { track } = useFixtures();

const schemas = { new_msg: z.object({ body: z.string().min(1) }), history: z.object({ before: z.number() }) };
type RoomEvents = {
  in: InferPayloads<typeof schemas>;
  out: { new_msg: { body: string; author: string } };
  replies: { history: { messages: string[] } };
};

const RoomChannel = {
  schemas,
  join: () => ok(),
  handleIn(event, payload, socket) {
    if (event === 'history') return reply('ok', { messages: [`before ${payload.before}`] });
    socket.broadcast('new_msg', { body: payload.body, author: 'server' });
    return noreply();
  },
} satisfies Channel<Record<string, unknown>, RoomEvents>;

function outcome<R>(push: { receive(status: 'ok', cb: (r: R) => void): unknown; receive(status: string, cb: (r: unknown) => void): unknown }) {
  return new Promise<{ status: string; response: unknown }>((resolve) => {
    push.receive('ok', (response) => resolve({ status: 'ok', response }));
    push.receive('error', (response) => resolve({ status: 'error', response }));
  });
}

describe('typedChannel', () => {
  it('pushes and listens with the shared event maps, end to end with phoenix 1.8', async () => {
    const endpoint = track(await startCustomEndpoint(RoomChannel));
    const pool = track(new ClientPool(phoenix18Client));
    const phoenixChannel = pool.socket(endpoint.wsUrl.replace(/\/websocket$/, '')).channel('rooms:lobby', {});
    const room = typedChannel<RoomEvents>(phoenixChannel);
    expect(room).toBe(phoenixChannel); // no wrapper object at runtime

    const heard = new Promise<{ body: string; author: string }>((resolve) => room.on('new_msg', resolve));
    expect(await outcome(room.join())).toEqual({ status: 'ok', response: {} });

    const history = room.push('history', { before: 7 });
    const messages = await new Promise<string[]>((resolve) => history.receive('ok', (response) => resolve(response.messages)));
    expect(messages).toEqual(['before 7']);

    room.push('new_msg', { body: 'hi' });
    expect(await heard).toEqual({ body: 'hi', author: 'server' });
    // The server still checks: a payload the types forbid (sent untyped) gets the error reply.
    expect(await outcome(phoenixChannel.push('new_msg', { body: '' }))).toMatchObject({ status: 'error', response: { reason: 'invalid payload' } });
  });

  it('types push, its reply and on by the maps (checked by tsc)', () => {
    const check = (room: TypedChannel<RoomEvents>): void => {
      room.push('history', { before: 1 }).receive('ok', (response) => expectTypeOf(response).toEqualTypeOf<{ messages: string[] }>());
      room.push('new_msg', { body: 'x' }).receive('ok', (response) => expectTypeOf(response).toEqualTypeOf<unknown>());
      room.on('new_msg', (payload) => expectTypeOf(payload).toEqualTypeOf<{ body: string; author: string }>());
      // @ts-expect-error -- not an in event
      room.push('nope', {});
      // @ts-expect-error -- wrong payload for new_msg
      room.push('new_msg', { body: 1 });
      // @ts-expect-error -- not an out event
      room.on('history', () => undefined);
    };
    expect(typeof check).toBe('function');
  });

  it('types pushes by the schemas’ input when the events carry it (InferEvents): a defaulted field may be left out', () => {
    const gameSchemas = { start: z.object({ rounds: z.number().int().default(3) }) };
    type GameEvents = InferEvents<typeof gameSchemas> & { out: { started: { rounds: number } }; replies: { start: { rounds: number } } };
    const check = (game: TypedChannel<GameEvents>, plain: TypedChannel<{ in: { start: { rounds: number } }; out: Record<never, never> }>): void => {
      game.push('start', {}).receive('ok', (response) => expectTypeOf(response).toEqualTypeOf<{ rounds: number }>());
      game.push('start', { rounds: 5 });
      // @ts-expect-error -- still the schema's input: rounds is a number
      game.push('start', { rounds: 'five' });
      // @ts-expect-error -- without an input map, the in map: rounds is required
      plain.push('start', {});
    };
    expect(typeof check).toBe('function');
    expect(gameSchemas.start.parse({})).toEqual({ rounds: 3 }); // what the server's handleIn then gets
  });
});
