/**
 * @module starling-channels/testing
 * Test channels in-process, as Phoenix.ChannelTest does: connect a client to a socket
 * definition, join topics, push events and assert replies, pushes and broadcasts — through the
 * real runtime, with no network and no port, and with a clock the test moves (`advance`) instead
 * of sleeping. Works under any test runner: failures are `node:assert` `AssertionError`s.
 *
 * @example
 * import assert from 'node:assert/strict';
 * import { Socket, accept, noreply, ok, reply, type Channel } from 'starling-channels';
 * import { ChannelTest } from 'starling-channels/testing';
 *
 * const RoomChannel = {
 *   join: () => ok({ welcome: true }),
 *   handleIn(event, payload, socket) {
 *     if (event === 'ping') return reply('ok', payload as Record<string, unknown>);
 *     socket.broadcast('shout', { from: socket.assigns.user });
 *     socket.sendInfo('tick', 5_000);
 *     return noreply();
 *   },
 *   handleInfo(_message, socket) {
 *     socket.push('tick', {});
 *   },
 * } satisfies Channel<{ user: string }>;
 * const userSocket = new Socket<{ user: string }>({ connect: (params) => accept({ user: String(params.user) }) }).channel('rooms:*', RoomChannel);
 *
 * const test = new ChannelTest(userSocket); // or new ChannelTest(endpoint, { path: '/socket' })
 * const client = await test.connect({ user: 'ada' });
 * const { status, response, channel } = await client.join('rooms:lobby');
 * assert.deepEqual([status, response], ['ok', { welcome: true }]);
 *
 * await channel.assertReply(channel.push('ping', { n: 1 }), 'ok', { n: 1 });
 * channel.push('shout');
 * await channel.assertBroadcast('shout', { from: 'ada' });
 * await channel.refutePush('tick');
 * await test.advance(5_000); // the delayed sendInfo falls due: no sleeping
 * await channel.assertPush('tick', {});
 * await test.close();
 */
export {
  ChannelTest,
  ConnectRefusedError,
  TestChannel,
  TestPush,
  TestSocket,
  type ChannelTestOptions,
  type PayloadMatch,
  type ReceivedFrame,
  type TestConnectInfo,
  type TestJoin,
  type TestReply,
  type WaitOptions,
} from './channel-test.ts';
export { ManualClock } from './manual-clock.ts';
export type { Clock, ClockTimer } from '../runtime/clock.ts';
