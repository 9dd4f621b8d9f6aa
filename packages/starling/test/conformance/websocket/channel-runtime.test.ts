/**
 * Raw-frame conformance for the channel runtime as the wire shows it (docs/protocol.md §4.4–4.6,
 * §4.10; checklist §11 items 28–32): pushes, broadcasts, broadcastFrom, intercepted events,
 * encode-once fan-out and async replies. Every subscriber joins with its own join_ref so a frame
 * carrying the wrong one is caught.
 */
import { describe, expect, it } from 'vitest';
import type { Fixture } from '../../support/fixture.ts';
import { JSON_DIALECTS, replyPayload, useFixtures, V1, V1_NO_VSN, V2, type Dialect, type WireClient } from '../../support/wire-client.ts';

const { start, connect } = useFixtures();

const OK = replyPayload('ok');

/** Connects and joins `topic` as `joinRef`. */
async function joined(
  fixture: Fixture,
  dialect: Dialect,
  topic: string,
  joinRef: string,
  params: Record<string, string> = {},
  joinPayload: object = {},
): Promise<WireClient> {
  const client = await connect(fixture, dialect, params);
  expect(await client.join(topic, joinRef, joinPayload)).toEqual(client.wire([joinRef, joinRef, topic, 'phx_reply', OK]));
  return client;
}

for (const dialect of JSON_DIALECTS) {
  describe(`channel runtime over ${dialect.name}`, () => {
    it('push sends ["J",null,T,E,payload] to this channel’s client only (item 28)', async () => {
      const fixture = await start();
      const client = await joined(fixture, dialect, 'test:room', '11');
      const peer = await joined(fixture, dialect, 'test:room', '21');
      client.send(['11', '12', 'test:room', 'push', { event: 'hello', payload: { a: 1 } }]);
      expect(await client.framesBeforeHeartbeat('13')).toEqual([client.wire(['11', null, 'test:room', 'hello', { a: 1 }])]);
      expect(await peer.framesBeforeHeartbeat('22')).toEqual([]);
    });

    it('broadcast reaches every subscriber, the sender included, as [null,null,T,E,payload] (item 28)', async () => {
      const fixture = await start();
      const sender = await joined(fixture, dialect, 'test:room', '11');
      const peers = [await joined(fixture, V2, 'test:room', '21'), await joined(fixture, V1, 'test:room', '31')];
      sender.send(['11', '12', 'test:room', 'broadcast', { event: 'news', payload: { n: 1 } }]);
      // Non-intercepted broadcasts are written synchronously, before the handler's reply (§3.9).
      expect(await sender.nextFrames(2)).toEqual([
        sender.wire([null, null, 'test:room', 'news', { n: 1 }]),
        sender.wire(['11', '12', 'test:room', 'phx_reply', OK]),
      ]);
      for (const peer of peers) expect(await peer.nextFrames(1)).toEqual([peer.wire([null, null, 'test:room', 'news', { n: 1 }])]);
    });

    it('endpoint.broadcast reaches every subscriber of the topic and no other topic', async () => {
      const fixture = await start();
      const client = await joined(fixture, dialect, 'test:room', '11');
      const elsewhere = await joined(fixture, dialect, 'test:other', '21');
      fixture.endpoint.broadcast('test:room', 'news', { from: 'app' });
      expect(await client.nextFrames(1)).toEqual([client.wire([null, null, 'test:room', 'news', { from: 'app' }])]);
      expect(await elsewhere.framesBeforeHeartbeat('22')).toEqual([]);
    });

    it('a join wired to another PubSub topic (ok(reply, {pubsubTopic})) shares no broadcast or presence with the plain join of its topic', async () => {
      const fixture = await start();
      const plain = await joined(fixture, dialect, 'test:room', '11', {}, { track: 'plain' });
      const apart = await joined(fixture, dialect, 'test:room', '21', {}, { pubsubTopic: 'apart:room', track: 'apart' });
      const apartPeer = await joined(fixture, V2, 'test:room', '31', {}, { pubsubTopic: 'apart:room' });
      expect(await plain.nextFrames(1)).toEqual([plain.wire(['11', null, 'test:room', 'presence_state', {}])]);
      expect(await apart.nextFrames(1)).toEqual([apart.wire(['21', null, 'test:room', 'presence_state', {}])]);
      // Each side sees its own track only.
      const diff = (key: string) => ({ joins: { [key]: { metas: [{ online_at: '1', phx_ref: expect.any(String) }] } }, leaves: {} });
      expect(await plain.nextFrames(1)).toEqual([plain.wire([null, null, 'test:room', 'presence_diff', diff('plain')])]);
      expect(await apart.nextFrames(1)).toEqual([apart.wire([null, null, 'test:room', 'presence_diff', diff('apart')])]);

      await apart.push(['21', '22', 'test:room', 'broadcast', { event: 'news', payload: { side: 'apart' } }]);
      fixture.endpoint.broadcast('test:room', 'news', { side: 'plain' });
      fixture.endpoint.broadcast('apart:room', 'news', { side: 'app' });
      // Frames always carry the topic the client joined.
      const news = (frame: readonly unknown[]) => frame[3] === 'news';
      expect(await apartPeer.receive(news)).toEqual([null, null, 'test:room', 'news', { side: 'apart' }]);
      expect(await apartPeer.receive(news)).toEqual([null, null, 'test:room', 'news', { side: 'app' }]);
      expect(await plain.nextFrames(1)).toEqual([plain.wire([null, null, 'test:room', 'news', { side: 'plain' }])]);
      expect(await plain.framesBeforeHeartbeat('12')).toEqual([]);
    });

    it('broadcastFrom reaches every subscriber except the sending channel, including another socket of the same user (item 29)', async () => {
      const fixture = await start();
      const sender = await joined(fixture, dialect, 'test:room', '11', { user_id: '7' });
      const sameUser = await joined(fixture, dialect, 'test:room', '21', { user_id: '7' });
      const stranger = await joined(fixture, V2, 'test:room', '31', { user_id: '8' });
      sender.send(['11', '12', 'test:room', 'broadcast_from', { event: 'typing', payload: { who: 7 } }]);
      expect(await sameUser.nextFrames(1)).toEqual([sameUser.wire([null, null, 'test:room', 'typing', { who: 7 }])]);
      expect(await stranger.nextFrames(1)).toEqual([[null, null, 'test:room', 'typing', { who: 7 }]]);
      expect(await sender.framesBeforeHeartbeat('13')).toEqual([]);
    });

    it('intercepted events go through each subscriber’s handleOut: A pushes a tailored payload with its join_ref, B drops it (item 30)', async () => {
      const fixture = await start();
      const a = await joined(fixture, dialect, 'test:room', 'A1');
      const b = await joined(fixture, dialect, 'test:room', 'B1', {}, { dropIntercepted: true });
      fixture.endpoint.broadcast('test:room', 'intercepted', { body: 'hi' });
      expect(await a.nextFrames(1)).toEqual([a.wire(['A1', null, 'test:room', 'intercepted', { body: 'hi', by: 'A1' }])]);
      expect(await b.framesBeforeHeartbeat('B2')).toEqual([]);
      expect(fixture.calls.filter((c) => c.callback === 'handleOut').map((c) => c.payload)).toEqual([{ body: 'hi' }, { body: 'hi' }]);
    });

    it('an intercepted event broadcast from a handler arrives after that handler’s reply (§3.9)', async () => {
      const fixture = await start();
      const a = await joined(fixture, dialect, 'test:room', 'A1');
      a.send(['A1', 'A2', 'test:room', 'broadcast', { event: 'intercepted', payload: { n: 1 } }]);
      expect(await a.nextFrames(2)).toEqual([
        a.wire(['A1', 'A2', 'test:room', 'phx_reply', OK]),
        a.wire(['A1', null, 'test:room', 'intercepted', { n: 1, by: 'A1' }]),
      ]);
    });

    it('an async reply through a socket ref, after handleIn returned noreply, is ["J","R",T,"phx_reply",…] (item 32)', async () => {
      const fixture = await start();
      const client = await joined(fixture, dialect, 'test:room', '1');
      client.send(['1', '2', 'test:room', 'async_reply', {}]);
      // The channel stays responsive meanwhile: the async reply comes ~50 ms later.
      expect(await client.push(['1', '3', 'test:room', 'reply_ok', {}])).toEqual(client.wire(['1', '3', 'test:room', 'phx_reply', OK]));
      expect(await client.reply('2')).toEqual(client.wire(['1', '2', 'test:room', 'phx_reply', replyPayload('ok', { later: true })]));
    });
  });
}

describe('encode-once fan-out (§4.10, item 31)', () => {
  async function encodesFor(dialects: Dialect[]): Promise<number> {
    const fixture = await start();
    const clients: WireClient[] = [];
    for (const [i, dialect] of dialects.entries()) clients.push(await joined(fixture, dialect, 'test:fan', `${i + 1}`));
    const before = fixture.endpoint.stats.broadcastEncodes;
    fixture.endpoint.broadcast('test:fan', 'news', { n: 1 });
    for (const client of clients) expect(await client.nextFrames(1)).toEqual([client.wire([null, null, 'test:fan', 'news', { n: 1 }])]);
    return fixture.endpoint.stats.broadcastEncodes - before;
  }

  it('serializes a broadcast to four V2 subscribers once', async () => {
    expect(await encodesFor([V2, V2, V2, V2])).toBe(1);
  });

  it('serializes a broadcast to mixed V1 and V2 subscribers once per serializer (2)', async () => {
    expect(await encodesFor([V2, V1, V2, V1_NO_VSN, V1])).toBe(2);
  });
});
