/**
 * Typed channels (`Channel<Assigns, Events>`) and validation at the edge (`schemas`): the types
 * narrow and restrict as documented (checked by `tsc`, with `@ts-expect-error` where code must not
 * compile), and the runtime validates inbound payloads with any Standard Schema — zod here, and
 * a hand-written async one — before `handleIn`, through `starling-channels/testing`.
 */
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import {
  Socket,
  error,
  handleInByEvent,
  noreply,
  ok,
  reply,
  type Channel,
  type ChannelSocket,
  type InferEvents,
  type InferPayloads,
  type ReplyResult,
  type StandardSchemaV1,
} from '../../src/index.ts';
import { ChannelTest } from '../../src/testing/index.ts';

type Assigns = { user: string };
type RoomEvents = {
  in: { new_msg: { body: string }; history: { before: number } };
  out: { new_msg: { body: string; author: string } };
};

describe('typed channels (types)', () => {
  it('narrows handleIn by event, and restricts push and broadcast to the out map', () => {
    const channel = {
      join: () => ok(),
      handleIn(event, payload, socket) {
        if (event === 'new_msg') {
          expectTypeOf(payload).toEqualTypeOf<{ body: string }>();
          socket.broadcast('new_msg', { body: payload.body, author: socket.assigns.user });
          // @ts-expect-error -- not an out event's payload
          socket.broadcast('new_msg', { wrong: 1 });
          // @ts-expect-error -- not an out event
          socket.push('nope', { body: 'x', author: 'y' });
          // @ts-expect-error -- not in the payload of new_msg
          void payload.nope;
          return noreply();
        }
        expectTypeOf(event).toEqualTypeOf<'history'>();
        expectTypeOf(payload).toEqualTypeOf<{ before: number }>();
        // @ts-expect-error -- not an in event: the comparison cannot be true
        if (event === 'misspelled') return noreply();
        return reply('ok', { before: payload.before });
      },
    } satisfies Channel<Assigns, RoomEvents>;
    expectTypeOf(channel.handleIn).parameter(2).toEqualTypeOf<ChannelSocket<Assigns, RoomEvents>>();
  });

  it('with declared replies, a path without a result and an ok reply of another type do not compile', () => {
    type WithReplies = RoomEvents & { replies: { history: { messages: string[] } } };
    const good = {
      join: () => ok(),
      handleIn(event, payload, _socket) {
        if (event === 'history') return reply('ok', { messages: [String(payload.before)] });
        if (payload.body === '') return reply('error', { reason: 'empty' });
        return noreply();
      },
    } satisfies Channel<Assigns, WithReplies>;
    const forgotten = {
      join: () => ok(),
      // @ts-expect-error -- new_msg falls through without a result, where the channel declares replies
      handleIn(event, payload, _socket) {
        if (event === 'history') return reply('ok', { messages: [String(payload.before)] });
      },
    } satisfies Channel<Assigns, WithReplies>;
    const wrongReply = {
      join: () => ok(),
      // @ts-expect-error -- the ok response is not a declared reply
      handleIn: (_event, _payload, _socket) => reply('ok', { messages: 'not a list' }),
    } satisfies Channel<Assigns, WithReplies>;
    expect([typeof forgotten.handleIn, typeof wrongReply.handleIn]).toEqual(['function', 'function']);
    expect(good.handleIn('history', { before: 3 }, undefined as unknown as ChannelSocket<Assigns, WithReplies>)).toEqual({
      kind: 'reply',
      status: 'ok',
      response: { messages: ['3'] },
    });
  });

  it('infers the in map from the schemas', () => {
    const schemas = { new_msg: z.object({ body: z.string().trim().min(1) }), ping: z.object({ n: z.number().int() }) };
    type In = InferPayloads<typeof schemas>;
    expectTypeOf<In>().toEqualTypeOf<{ new_msg: { body: string }; ping: { n: number } }>();
    const channel = {
      schemas,
      join: () => ok(),
      handleIn: (event, payload, _socket) => (event === 'ping' ? reply('ok', { n: payload.n }) : noreply()),
    } satisfies Channel<Assigns, { in: In; out: Record<never, never> }>;
    // @ts-expect-error -- a schema whose output does not match the in map
    void ({ ...channel, schemas: { ...schemas, ping: z.object({ n: z.string() }) } } satisfies Channel<Assigns, { in: In; out: Record<never, never> }>);
  });

  it('hands handleIn the schemas’ output, while InferEvents also records their input for the client', () => {
    const schemas = { start: z.object({ rounds: z.number().int().default(3) }), say: z.object({ text: z.string().trim() }) };
    type GameEvents = InferEvents<typeof schemas> & { out: { started: { rounds: number } } };
    expectTypeOf<GameEvents['in']>().toEqualTypeOf<{ start: { rounds: number }; say: { text: string } }>();
    expectTypeOf<GameEvents['input']>().toEqualTypeOf<{ start: { rounds?: number | undefined }; say: { text: string } }>();
    const channel = {
      schemas,
      join: () => ok(),
      handleIn(event, payload, socket) {
        if (event === 'start') {
          expectTypeOf(payload).toEqualTypeOf<{ rounds: number }>();
          socket.broadcast('started', { rounds: payload.rounds });
        }
        return noreply();
      },
    } satisfies Channel<Assigns, GameEvents>;
    expect(typeof channel.handleIn).toBe('function');
    // A hand-written schema typed only by its output: the client pushes that output.
    expectTypeOf<InferEvents<{ even: typeof evenNumber }>['input']>().toEqualTypeOf<{ even: { n: number } }>();
  });

  it('infers reply literals without `as const`, and keeps arrays mutable', () => {
    type Accepting = {
      in: { start: { at: number }; list: Record<string, never> };
      out: Record<never, never>;
      replies: { start: { accepted: true; mode: 'fast' | 'slow' }; list: { names: string[] } };
    };
    const channel = {
      join: () => ok(),
      handleIn(event, _payload, _socket) {
        if (event === 'start') return reply('ok', { accepted: true, mode: 'fast' });
        return reply('ok', { names: ['ada', 'grace'] });
      },
    } satisfies Channel<Assigns, Accepting>;
    expectTypeOf(reply('ok', { accepted: true })).toEqualTypeOf<ReplyResult<'ok', { readonly accepted: true }>>();
    expectTypeOf(reply('ok', { names: ['ada'] }).response.names).toEqualTypeOf<['ada']>();
    expectTypeOf(reply('ok')).toEqualTypeOf<ReplyResult<'ok', Record<string, never>>>();
    expectTypeOf(reply('ok', JSON.parse('{}') as unknown)).toEqualTypeOf<ReplyResult<'ok', unknown>>();
    expect(channel.handleIn('start', { at: 1 }, undefined as unknown as ChannelSocket<Assigns, Accepting>)).toEqual({
      kind: 'reply',
      status: 'ok',
      response: { accepted: true, mode: 'fast' },
    });
  });

  it('handleInByEvent types each event’s payload, socket and ok reply by that event alone', () => {
    type Replying = RoomEvents & { replies: { history: { messages: string[] }; new_msg: { id: number } } };
    const channel = {
      join: () => ok(),
      handleIn: handleInByEvent({
        history: (payload) => reply('ok', { messages: [String(payload.before)] }),
        new_msg(payload, socket) {
          socket.broadcast('new_msg', { body: payload.body, author: socket.assigns.user });
          return reply('ok', { id: 1 });
        },
      }),
    } satisfies Channel<Assigns, Replying>;
    const crossed = {
      join: () => ok(),
      handleIn: handleInByEvent({
        // @ts-expect-error -- new_msg's reply, not history's: a single handleIn would accept it
        history: () => reply('ok', { id: 1 }),
        new_msg: () => noreply(),
      }),
    } satisfies Channel<Assigns, Replying>;
    const missing = {
      join: () => ok(),
      // @ts-expect-error -- every in event needs its handler
      handleIn: handleInByEvent({ history: () => noreply() }),
    } satisfies Channel<Assigns, Replying>;
    type Partly = RoomEvents & { replies: { history: { messages: string[] } } };
    const undeclared = {
      join: () => ok(),
      handleIn: handleInByEvent({
        history: () => reply('ok', { messages: [] }),
        // @ts-expect-error -- new_msg declares no reply: its ok reply carries nothing
        new_msg: () => reply('ok', { messages: [] }),
      }),
    } satisfies Channel<Assigns, Partly>;
    expect([typeof channel.handleIn, typeof crossed.handleIn, typeof missing.handleIn, typeof undeclared.handleIn]).toEqual([
      'function',
      'function',
      'function',
      'function',
    ]);
  });

  it('a typed handleIn with fewer than its three parameters does not compile (handleInByEvent’s handlers may)', () => {
    const two = {
      join: () => ok(),
      // @ts-expect-error -- (event, payload): the parameters are one [event, payload, socket] tuple per event
      handleIn: (event, payload) => (event === 'history' ? reply('ok', { before: payload }) : noreply()),
    } satisfies Channel<Assigns, RoomEvents>;
    const short = {
      join: () => ok(),
      handleIn: handleInByEvent({ history: (payload) => reply('ok', { before: payload.before }), new_msg: () => noreply() }),
    } satisfies Channel<Assigns, RoomEvents>;
    expect([typeof two.handleIn, typeof short.handleIn]).toEqual(['function', 'function']);
  });

  it('keeps untyped channels as they were: any event, unknown payloads, any object pushed', () => {
    const channel = {
      join: () => ok(),
      handleIn(event, payload, socket) {
        expectTypeOf(event).toEqualTypeOf<string>();
        expectTypeOf(payload).toEqualTypeOf<unknown>();
        socket.push('anything', { wrong: 1 });
      },
    } satisfies Channel;
    expect(typeof channel.handleIn).toBe('function');
  });
});

/** A hand-written Standard Schema (no library), validating asynchronously. */
const evenNumber: StandardSchemaV1<unknown, { n: number }> = {
  '~standard': {
    version: 1,
    vendor: 'test',
    validate: async (value) => {
      await Promise.resolve();
      const n = (value as { n?: unknown } | null)?.n;
      return typeof n === 'number' && n % 2 === 0 ? { value: { n } } : { issues: [{ message: 'n must be even', path: [{ key: 'n' }] }] };
    },
  },
};

const handled: unknown[] = [];
const schemas = { new_msg: z.object({ body: z.string().trim().min(1).max(20) }), even: evenNumber };
type ValidatedEvents = { in: InferPayloads<typeof schemas>; out: { new_msg: { body: string; author: string } } };

const ValidatedChannel = {
  schemas,
  join: (topic) => (topic === 'rooms:lobby' ? ok() : error({ reason: 'unauthorized' })),
  handleIn(event, payload, socket) {
    handled.push([event, payload]);
    if (event === 'even') return reply('ok', { half: payload.n / 2 });
    socket.broadcast('new_msg', { body: payload.body, author: socket.assigns.user });
    return reply('ok', { body: payload.body });
  },
} satisfies Channel<Assigns, ValidatedEvents>;

describe('validation at the edge (schemas)', () => {
  let test: ChannelTest;
  afterEach(async () => {
    await test.close();
    handled.length = 0;
  });

  async function lobby() {
    test = new ChannelTest(new Socket<Assigns>({ connect: () => ({ ok: true, assigns: { user: 'ada' } }) }).channel('rooms:*', ValidatedChannel));
    return (await (await test.connect()).join('rooms:lobby')).channel;
  }

  it('hands handleIn the schema’s output (here trimmed) for a valid payload', async () => {
    const channel = await lobby();
    await channel.assertReply(channel.push('new_msg', { body: '  hi  ' }), 'ok', { body: 'hi' });
    await channel.assertBroadcast('new_msg', { body: 'hi', author: 'ada' });
    expect(handled).toEqual([['new_msg', { body: 'hi' }]]);
  });

  it('answers an invalid payload {reason: "invalid payload", issues} and never calls handleIn', async () => {
    const channel = await lobby();
    const response = await channel.assertReply(channel.push('new_msg', { body: 42 }), 'error');
    expect(response).toEqual({ reason: 'invalid payload', issues: [{ message: expect.any(String), path: ['body'] }] });
    await channel.assertReply(channel.push('new_msg', {}), 'error', (r) => (r as { reason?: string }).reason === 'invalid payload');
    expect(handled).toEqual([]);
  });

  it('awaits an async schema, in mailbox order', async () => {
    const channel = await lobby();
    const odd = channel.push('even', { n: 3 });
    const even = channel.push('even', { n: 4 });
    expect(await odd.reply()).toEqual({ status: 'error', response: { reason: 'invalid payload', issues: [{ message: 'n must be even', path: ['n'] }] } });
    expect(await even.reply()).toEqual({ status: 'ok', response: { half: 2 } });
    expect(handled).toEqual([['even', { n: 4 }]]);
  });

  it('answers an event without a schema {reason: "unknown event"}', async () => {
    const channel = await lobby();
    await channel.assertReply(channel.push('constructor', {}), 'error', { reason: 'unknown event' });
    await channel.assertReply(channel.push('other', {}), 'error', { reason: 'unknown event' });
    expect(handled).toEqual([]);
  });
});

describe('handleInByEvent (runtime)', () => {
  const ByEventChannel = {
    join: () => ok(),
    handleIn: handleInByEvent({
      history: (payload) => reply('ok', { messages: [`before ${payload.before}`] }),
      new_msg(payload, socket) {
        socket.broadcast('new_msg', { body: payload.body, author: socket.assigns.user });
        return noreply();
      },
    }),
  } satisfies Channel<Assigns, RoomEvents>;
  let test: ChannelTest;
  afterEach(() => test.close());

  it('runs the handler of the pushed event, and answers an event without one {reason: "unknown event"}', async () => {
    test = new ChannelTest(new Socket<Assigns>({ connect: () => ({ ok: true, assigns: { user: 'ada' } }) }).channel('rooms:*', ByEventChannel));
    const { channel } = await (await test.connect()).join('rooms:lobby');
    await channel.assertReply(channel.push('history', { before: 7 }), 'ok', { messages: ['before 7'] });
    channel.push('new_msg', { body: 'hi' });
    await channel.assertBroadcast('new_msg', { body: 'hi', author: 'ada' });
    // Unchecked clients reach a channel without schemas with any event, inherited names included.
    await channel.assertReply(channel.push('constructor', {}), 'error', { reason: 'unknown event' });
    await channel.assertReply(channel.push('other', {}), 'error', { reason: 'unknown event' });
  });
});
