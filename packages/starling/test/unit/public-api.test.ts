/**
 * Pins the public API: the named exports of src/index.ts and the shapes of the types apps write
 * against. The type assertions are checked by `tsc` (part of `npm test`).
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import * as starling from '../../src/index.ts';
import type { Channel, ChannelSocket, HandleInResult, JoinResult, Ref } from '../../src/index.ts';

describe('public API', () => {
  it('exports exactly the documented runtime names', () => {
    expect(Object.keys(starling).sort()).toEqual(
      [
        'CloseCodes',
        'CountedErrors',
        'DEFAULT_HISTORY_LIMITS',
        'DEFAULT_MAX_CONNECTIONS_PER_IP',
        'Endpoint',
        'ErrorCodes',
        'Events',
        'MalformedFrameError',
        'MemoryBus',
        'MIN_SECRET_KEY_BASE_LENGTH',
        'MemoryPubSubAdapter',
        'PHOENIX_TOPIC',
        'Presence',
        'PubSub',
        'Reasons',
        'Socket',
        'StarlingError',
        'TokenSigner',
        'TopicPattern',
        'TrustedProxies',
        'accept',
        'clientAddress',
        'consoleLogger',
        'error',
        'formatPosition',
        'groupByKey',
        'handleInByEvent',
        'isBinaryPayload',
        'noreply',
        'ok',
        'parsePosition',
        'presenceDiff',
        'refuse',
        'reply',
        'signToken',
        'silentLogger',
        'stop',
        'verifyToken',
      ].sort(),
    );
  });

  it('result helpers build the values the runtime reads', () => {
    expect(starling.ok()).toEqual({ kind: 'ok', response: {} });
    expect(starling.error({ reason: 'unauthorized' })).toEqual({ kind: 'error', response: { reason: 'unauthorized' } });
    expect(starling.reply('not_found', { id: 1 })).toEqual({ kind: 'reply', status: 'not_found', response: { id: 1 } });
    expect(starling.stop('normal', { status: 'ok', response: {} })).toEqual({ kind: 'stop', reason: 'normal', reply: { status: 'ok', response: {} } });
    expect(starling.accept({ userId: 1 })).toEqual({ ok: true, assigns: { userId: 1 } });
    expect(starling.refuse(429)).toEqual({ ok: false, status: 429 });
  });

  it('types: a channel is a plain object whose callbacks may be sync or async', () => {
    const channel = {
      join: async () => starling.ok({ hello: 'world' }),
      handleIn: () => starling.noreply(),
    } satisfies Channel;
    expectTypeOf(channel.join).returns.resolves.toEqualTypeOf<JoinResult>();
    expectTypeOf<ReturnType<NonNullable<Channel['handleIn']>>>().toEqualTypeOf<HandleInResult | void | Promise<HandleInResult | void>>();
    expectTypeOf<ChannelSocket<{ userId: number }>['assigns']>().toEqualTypeOf<{ userId: number }>();
    expectTypeOf<Ref>().toEqualTypeOf<string | number | null>();
  });
});
