/**
 * `socket.subscribe`/`unsubscribe`: a channel hears other topics' broadcasts in `handleInfo`, as
 * `{kind: 'broadcast', topic, event, payload}`, for as long as it follows them — one topic or
 * several, in any order of leaving, and none after the channel ends.
 */
import { afterEach, expect, it } from 'vitest';
import { Endpoint, Socket, accept, noreply, ok, reply, silentLogger, type Channel } from '../../../src/index.ts';
import { ChannelTest } from '../../../src/testing/index.ts';

const FollowChannel = {
  join: () => ok({}),
  handleIn(event, payload, socket) {
    const { topic } = payload as { topic: string };
    if (event === 'follow') socket.subscribe(topic);
    else socket.unsubscribe(topic);
    return reply('ok', {});
  },
  handleInfo(message, socket) {
    const heard = message as { kind: string; topic: string; event: string };
    socket.push('heard', { kind: heard.kind, topic: heard.topic, event: heard.event });
    return noreply();
  },
} satisfies Channel<Record<string, never>>;

let endpoint: Endpoint;
let test: ChannelTest;
afterEach(async () => {
  await test?.close();
  await endpoint?.close();
});

async function follower() {
  endpoint = new Endpoint({ logger: silentLogger }).socket('/socket', new Socket({ connect: () => accept({}) }).channel('me:*', FollowChannel));
  test = new ChannelTest(endpoint, { path: '/socket' });
  const client = await test.connect({});
  return { channel: (await client.join('me:1')).channel };
}

it('delivers the broadcasts of every followed topic, and stops for the ones left, first or later', async () => {
  const { channel } = await follower();
  for (const topic of ['news:a', 'news:b', 'news:c']) await channel.assertReply(channel.push('follow', { topic }), 'ok');
  for (const topic of ['news:a', 'news:b', 'news:c']) endpoint.broadcast(topic, 'story', {});
  for (const topic of ['news:a', 'news:b', 'news:c']) await channel.assertPush('heard', { kind: 'broadcast', topic, event: 'story' });

  // Leave the first topic followed, then a later one: only news:b is heard, and a probe on it
  // broadcast last shows that nothing of the others came before it.
  await channel.assertReply(channel.push('unfollow', { topic: 'news:a' }), 'ok');
  await channel.assertReply(channel.push('unfollow', { topic: 'news:c' }), 'ok');
  endpoint.broadcast('news:a', 'story', {});
  endpoint.broadcast('news:c', 'story', {});
  endpoint.broadcast('news:b', 'probe', {});
  await channel.assertPush('heard', { kind: 'broadcast', topic: 'news:b', event: 'probe' });
  // Whatever came before the probe is in the inbox already: no wait needed to refute it.
  await channel.refutePush('heard', (heard) => (heard as { event: string }).event === 'story', { timeoutMs: 0 });

  // Following again after leaving works, and following twice delivers once.
  await channel.assertReply(channel.push('follow', { topic: 'news:a' }), 'ok');
  await channel.assertReply(channel.push('follow', { topic: 'news:a' }), 'ok');
  endpoint.broadcast('news:a', 'again', {});
  endpoint.broadcast('news:b', 'probe2', {});
  await channel.assertPush('heard', { kind: 'broadcast', topic: 'news:a', event: 'again' });
  await channel.assertPush('heard', { kind: 'broadcast', topic: 'news:b', event: 'probe2' });
  await channel.refutePush('heard', { kind: 'broadcast', topic: 'news:a', event: 'again' }, { timeoutMs: 0 });
});

it('drops every subscription when the channel leaves', async () => {
  const { channel } = await follower();
  for (const topic of ['news:a', 'news:b']) await channel.assertReply(channel.push('follow', { topic }), 'ok');
  expect([endpoint.pubsub.subscriberCount('news:a'), endpoint.pubsub.subscriberCount('news:b')]).toEqual([1, 1]);
  await channel.leave();
  expect([endpoint.pubsub.subscriberCount('news:a'), endpoint.pubsub.subscriberCount('news:b')]).toEqual([0, 0]);
});
