/**
 * `ChannelTest.settle()` reads the same on every PubSub: after it, what was broadcast before it has
 * reached the clients — at once in process, and after the round trip to Redis with the Redis
 * adapter (a history topic's publications are delivered only once Redis appended them). The same
 * test body runs on both; the Redis one runs on the machine's real Redis, behind a TCP relay
 * (a Redis on another host is further away still).
 */
import { randomBytes } from 'node:crypto';
import { ensureRedis } from '@starling/test-support/redis';
import { TcpProxy } from '@starling/test-support/tcp-proxy';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Endpoint, PubSub, Socket, accept, ok, parsePosition, silentLogger } from '../../../src/index.ts';
import { RedisPubSubAdapter } from '../../../src/redis/index.ts';
import { ChannelTest } from '../../../src/testing/index.ts';

const history = { topics: ['rooms:*'] };
const logger = pino({ level: 'silent' });
let test: ChannelTest | null = null;
let proxy: TcpProxy | null = null;

afterEach(async () => {
  await test?.close();
  await test?.endpoint.close();
  test = null;
  await proxy?.close();
  proxy = null;
});

/** Redis behind a relay in this process: each round trip takes a few more event-loop turns, as a Redis across a network does. */
async function redisUrl(): Promise<string> {
  const port = Number(new URL(await ensureRedis()).port || 6379);
  proxy = await TcpProxy.start(port);
  return `redis://127.0.0.1:${proxy.port}`;
}

const pubsubs: Array<[string, () => Promise<PubSub>]> = [
  ['in process', () => Promise.resolve(new PubSub({ history }))],
  [
    'on Redis',
    async () => new PubSub({ adapter: new RedisPubSubAdapter({ url: await redisUrl(), prefix: `settle-${randomBytes(4).toString('hex')}`, logger }), history }),
  ],
];

describe.each(pubsubs)('ChannelTest.settle() %s', (_name, makePubSub) => {
  it('returns once the broadcasts made before it reached the client: each is there, with its position, without waiting', async () => {
    const socket = new Socket({ connect: () => accept({}) }).channel('rooms:*', { join: () => ok() });
    const endpoint = new Endpoint({ logger: silentLogger, pubsub: await makePubSub() }).socket('/socket', socket, { websocket: false, longpoll: false });
    test = new ChannelTest(endpoint);
    const { channel } = await (await test.connect()).join('rooms:a');
    await channel.assertPush('phx_stream');

    for (let n = 1; n <= 50; n++) test.broadcast('rooms:a', 'news', { n });
    await test.settle();
    // No wait at all: timeoutMs 0 fails unless the push is already in the inbox.
    for (let n = 1; n <= 50; n++) {
      const push = await channel.assertPush('news', { n }, { timeoutMs: 0 });
      expect(parsePosition(push.ref)?.offset).toBe(n);
      const broadcast = await channel.assertBroadcast('news', { n }, { timeoutMs: 0 });
      expect(broadcast.position?.offset).toBe(n);
    }
  });
});
