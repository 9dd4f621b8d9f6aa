/**
 * Persist and replay without a database, for the unchanged `@supabase/realtime-js` (2.119.0 and
 * the latest 2.119.x): `persist: true` broadcasts of private channels are kept in the PubSub's
 * history (topics `realtime-persisted:*`), in process and in Redis shared by two nodes, and a
 * join with `broadcast.replay: {since, limit}` gets them, in order, with `meta: {replayed, id}`,
 * before live traffic — again after a reconnect. Where the history cannot serve it (unreachable,
 * too large for one replay), the join or the persist is refused with a reason.
 */
import type { Server } from 'node:http';
import { RealtimeClient, type RealtimeChannel } from '@supabase/realtime-js';
import { RealtimeClient as LatestRealtimeClient } from 'realtime-js-latest';
import { SignJWT } from 'jose';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { eventually } from '@starling/test-support/eventually';
import { RawClient } from '@starling/test-support/raw-client';
import { startThrowawayRedis, type ThrowawayRedis } from '@starling/test-support/redis';
import { Endpoint, PubSub, silentLogger, type HistoryOptions } from '../../../src/index.ts';
import { RedisPubSubAdapter } from '../../../src/redis/index.ts';
import { PERSISTED_TOPICS, createRealtime, type RealtimeOptions } from '../../../src/supabase/index.ts';

const SECRET = 'a-test-jwt-secret-of-at-least-thirty-two-characters-long';
const HISTORY: HistoryOptions = { topics: [PERSISTED_TOPICS], size: 25 };

async function jwt(claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
}

const services: Array<{ endpoint: Endpoint; server: Server }> = [];
const clients: Array<{ disconnect(): Promise<unknown> }> = [];
let redis: ThrowawayRedis | null = null;

afterEach(async () => {
  for (const client of clients.splice(0)) await client.disconnect();
  for (const { endpoint } of services.splice(0)) await endpoint.close({ intervalMs: 0 });
});

afterAll(async () => {
  await redis?.stop();
});

/** A node serving realtime-js on `pubsub` (default: in process with the persisted topics' history); resolves with its socket URL. */
async function start(options: { pubsub?: PubSub; realtime?: Partial<RealtimeOptions> } = {}): Promise<string> {
  const endpoint = new Endpoint({ logger: silentLogger, pubsub: options.pubsub ?? new PubSub({ history: HISTORY }) });
  await endpoint.pubsub.start();
  const realtime = createRealtime(endpoint, { jwtSecret: SECRET, authorize: ({ claims }) => claims.role === 'authenticated', ...options.realtime });
  endpoint.socket('/realtime/v1', realtime.socket);
  const server = await endpoint.listen({ port: 0, fallback: (req, res) => void (realtime.handleRequest(req, res) || res.writeHead(404).end()) });
  services.push({ endpoint, server });
  const address = server.address();
  return `ws://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/realtime/v1`;
}

type Client = typeof RealtimeClient | typeof LatestRealtimeClient;

/** A signed-in realtime-js client of `version`. */
async function client(url: string, Client: Client = LatestRealtimeClient): Promise<RealtimeClient> {
  const realtime = new Client(url, { params: { apikey: await jwt({ role: 'anon' }) }, transport: WebSocket as never, heartbeatIntervalMs: 25_000 });
  clients.push(realtime);
  await realtime.setAuth(await jwt({ role: 'authenticated', sub: 'u' }));
  return realtime as RealtimeClient;
}

function subscribed(channel: RealtimeChannel, timeoutMs = 5000): Promise<{ status: string; error?: string }> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ status: 'no answer' }), timeoutMs);
    channel.subscribe((status, err) => {
      if (status === 'CLOSED') return;
      clearTimeout(timer);
      resolve(err === undefined ? { status } : { status, error: err.message });
    });
  });
}

type Heard = { event: string; payload: unknown; meta?: { replayed?: boolean; id: string } };

function heard(channel: RealtimeChannel): Heard[] {
  const seen: Heard[] = [];
  channel.on('broadcast', { event: '*' }, (message) => seen.push({ event: message.event, payload: message.payload, meta: message.meta }));
  return seen;
}

function journal(realtime: RealtimeClient, topic: string, config: Record<string, unknown> = {}): RealtimeChannel {
  return realtime.channel(topic, { config: { private: true, ...config } });
}

/** The first moment after now, so that later broadcasts are stored at or after it. */
async function nextMs(): Promise<number> {
  const since = Date.now() + 1;
  await eventually(() => expect(Date.now()).toBeGreaterThanOrEqual(since));
  return since;
}

for (const [version, Client] of [
  ['2.119.0', RealtimeClient],
  ['latest 2.119.x', LatestRealtimeClient],
] as const) {
  describe(`realtime-js ${version}: persist and replay in the history`, () => {
    it('stores send({persist}) and httpSend(…, {persist}), replays the newest `limit` since `since`, oldest first, before live traffic, and again after a reconnect', async () => {
      const url = await start();
      const writer = journal(await client(url, Client), 'journal', { broadcast: { ack: true } });
      expect(await subscribed(writer)).toEqual({ status: 'SUBSCRIBED' });
      expect(await writer.send({ type: 'broadcast', event: 'entry', payload: { n: 0 }, persist: true })).toBe('ok'); // before since
      const since = await nextMs();
      expect(await writer.send({ type: 'broadcast', event: 'entry', payload: { n: 1 }, persist: true })).toBe('ok');
      expect(await writer.send({ type: 'broadcast', event: 'entry', payload: { n: 2 } })).toBe('ok'); // not kept
      expect(await writer.httpSend('entry', { n: 3 }, { persist: true })).toEqual({ success: true });
      expect(await writer.send({ type: 'broadcast', event: 'note', payload: { n: 4 }, persist: true })).toBe('ok');

      const realtime = await client(url, Client);
      const reader = journal(realtime, 'journal', { broadcast: { replay: { since, limit: 2 } } });
      const seen = heard(reader);
      expect(await subscribed(reader)).toEqual({ status: 'SUBSCRIBED' });
      expect(await writer.send({ type: 'broadcast', event: 'entry', payload: { n: 5 } })).toBe('ok');
      await eventually(() => expect(seen).toHaveLength(3));
      expect(seen.map((message) => [message.event, message.payload])).toEqual([
        ['entry', { n: 3 }],
        ['note', { n: 4 }],
        ['entry', { n: 5 }],
      ]);
      expect(seen[0]!.meta).toEqual({ replayed: true, id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
      expect(seen[1]!.meta).toEqual({ replayed: true, id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
      expect(seen[0]!.meta!.id).not.toBe(seen[1]!.meta!.id);
      expect(seen[2]!.meta).toBeUndefined();

      // realtime-js joins again after a reconnect, with the same config: the same replay, then live.
      await realtime.disconnect();
      await eventually(() => expect(reader.state).not.toBe('joined'));
      realtime.connect();
      await eventually(() => expect(reader.state).toBe('joined'));
      expect(await writer.send({ type: 'broadcast', event: 'entry', payload: { n: 6 } })).toBe('ok');
      await eventually(() => expect(seen).toHaveLength(6));
      expect(seen.slice(3).map((message) => [message.payload, message.meta])).toEqual([
        [{ n: 3 }, seen[0]!.meta],
        [{ n: 4 }, seen[1]!.meta],
        [{ n: 6 }, undefined],
      ]);

      // Without limit: every one since (up to 25); with a since after them: none.
      const everything = journal(await client(url, Client), 'journal', { broadcast: { replay: { since } } });
      const all = heard(everything);
      const later = journal(await client(url, Client), 'journal', { broadcast: { replay: { since: await nextMs() } } });
      const none = heard(later);
      expect(await subscribed(everything)).toEqual({ status: 'SUBSCRIBED' });
      expect(await subscribed(later)).toEqual({ status: 'SUBSCRIBED' });
      await eventually(() => expect(all.map((message) => message.payload)).toEqual([{ n: 1 }, { n: 3 }, { n: 4 }]));
      // A replay comes before live traffic: once a live broadcast is heard, none came.
      expect(await writer.send({ type: 'broadcast', event: 'entry', payload: { n: 7 } })).toBe('ok');
      await eventually(() => expect(none).toHaveLength(1));
      expect(none.map((message) => [message.payload, message.meta])).toEqual([[{ n: 7 }, undefined]]);
    });
  });
}

describe('persist and replay in the history: bounds and refusals', () => {
  it('honours a persist ttl: a broadcast kept for 1 s is no longer replayed after it', async () => {
    const url = await start();
    const writer = journal(await client(url), 'short', { broadcast: { ack: true } });
    expect(await subscribed(writer)).toEqual({ status: 'SUBSCRIBED' });
    const since = Date.now() - 1;
    expect(await writer.send({ type: 'broadcast', event: 'e', payload: { brief: true }, persist: { ttl: 1 } })).toBe('ok');
    expect(await writer.httpSend('e', { kept: true }, { persist: true })).toEqual({ success: true });
    const replayOnce = async (): Promise<unknown[]> => {
      const realtime = await client(url);
      const channel = journal(realtime, 'short', { broadcast: { replay: { since } } });
      const seen = heard(channel);
      expect(await subscribed(channel)).toEqual({ status: 'SUBSCRIBED' });
      // The one kept for good is the last replayed: once it is here, the replay is complete.
      await eventually(() => expect(seen.map((message) => message.payload)).toContainEqual({ kept: true }));
      await realtime.disconnect();
      return seen.map((message) => message.payload);
    };
    expect(await replayOnce()).toEqual([{ brief: true }, { kept: true }]);
    await eventually(async () => expect(await replayOnce()).toEqual([{ kept: true }]), 4000, 250);
  });

  it('replays before live traffic even while broadcasts flow during the join', async () => {
    const url = await start({ realtime: { broadcastsPerSecond: Number.POSITIVE_INFINITY } });
    const writer = journal(await client(url), 'stream', { broadcast: { ack: true } });
    expect(await subscribed(writer)).toEqual({ status: 'SUBSCRIBED' });
    for (const n of [1, 2, 3]) expect(await writer.send({ type: 'broadcast', event: 'kept', payload: { n }, persist: true })).toBe('ok');
    const pump = setInterval(() => void writer.send({ type: 'broadcast', event: 'live', payload: {} }), 1);
    const token = await jwt({ role: 'authenticated', sub: 'reader' });
    try {
      const readers = await Promise.all(
        Array.from({ length: 10 }, async () => {
          const raw = await RawClient.connect(`${url}/websocket?apikey=${await jwt({ role: 'anon' })}&vsn=2.0.0`);
          raw.send(['1', '1', 'realtime:stream', 'phx_join', { config: { private: true, broadcast: { replay: { since: 0 } } }, access_token: token }]);
          const events: unknown[] = [];
          try {
            for (let i = 0; i < 5; i++) events.push(((await raw.nextJson((frame) => frame[3] === 'broadcast', 5000))[4] as { event: string }).event);
          } finally {
            raw.close();
          }
          return events;
        }),
      );
      for (const events of readers) expect(events).toEqual(['kept', 'kept', 'kept', 'live', 'live']);
    } finally {
      clearInterval(pump);
    }
  });

  it('refuses a replay larger than the history replays at once, saying to ask for fewer, and serves a smaller one', async () => {
    const url = await start({ pubsub: new PubSub({ history: { ...HISTORY, maxReplayBytes: 3500 } }) });
    const writer = journal(await client(url), 'heavy', { broadcast: { ack: true } });
    expect(await subscribed(writer)).toEqual({ status: 'SUBSCRIBED' });
    for (let n = 0; n < 3; n++) expect(await writer.send({ type: 'broadcast', event: 'e', payload: { n, text: 'x'.repeat(1200) }, persist: true })).toBe('ok');
    const refused = await subscribed(journal(await client(url), 'heavy', { broadcast: { replay: { since: 0, limit: 3 } } }));
    expect(refused).toEqual({ status: 'CHANNEL_ERROR', error: expect.stringMatching(/more than this server replays at once: ask for fewer/) });
    const fewer = journal(await client(url), 'heavy', { broadcast: { replay: { since: 0, limit: 2 } } });
    const seen = heard(fewer);
    expect(await subscribed(fewer)).toEqual({ status: 'SUBSCRIBED' });
    await eventually(() => expect(seen.map((message) => (message.payload as { n: number }).n)).toEqual([1, 2]));
  });

  it('keeps only the newest 25 of a channel (size), and replays what is left', async () => {
    const url = await start();
    const writer = journal(await client(url), 'busy', { broadcast: { ack: true } });
    expect(await subscribed(writer)).toEqual({ status: 'SUBSCRIBED' });
    for (let n = 0; n < 30; n++) expect(await writer.send({ type: 'broadcast', event: 'e', payload: { n }, persist: true })).toBe('ok');
    const reader = journal(await client(url), 'busy', { broadcast: { replay: { since: 0, limit: 25 } } });
    const seen = heard(reader);
    expect(await subscribed(reader)).toEqual({ status: 'SUBSCRIBED' });
    await eventually(() => expect(seen).toHaveLength(25));
    expect(seen.map((message) => (message.payload as { n: number }).n)).toEqual(Array.from({ length: 25 }, (_, i) => i + 5));
  });

  it('refuses both without history for realtime-persisted:*, and on public channels, saying why', async () => {
    const url = await start({ pubsub: new PubSub() });
    const replaying = journal(await client(url), 'nowhere', { broadcast: { replay: { since: 0 } } });
    expect(await subscribed(replaying)).toEqual({
      status: 'CHANNEL_ERROR',
      error: expect.stringMatching(/need a database \(DATABASE_URL\) or history for realtime-persisted/),
    });
    // realtime-js refuses this itself; a client that asks anyway is refused by the server.
    const raw = await RawClient.connect(`${await start()}/websocket?apikey=${await jwt({ role: 'anon' })}&vsn=2.0.0`);
    try {
      raw.send(['1', '1', 'realtime:open', 'phx_join', { config: { broadcast: { replay: { since: 0 } } } }]);
      expect((await raw.reply('1'))[4]).toEqual({ status: 'error', response: { reason: 'broadcast replay is only for private channels' } });
    } finally {
      raw.close();
    }
  });
});

describe('persist and replay in Redis, shared by two nodes', () => {
  it('a broadcast persisted through one node is replayed by the other, over a reconnect; with Redis gone, both are refused with a reason', async () => {
    const store = await startThrowawayRedis();
    redis = store;
    const pubsubs = [0, 1].map(
      () => new PubSub({ adapter: new RedisPubSubAdapter({ url: store.url, prefix: 'history-test', logger: silentLogger }), history: HISTORY }),
    );
    const [a, b] = [await start({ pubsub: pubsubs[0] }), await start({ pubsub: pubsubs[1] })];
    const writer = journal(await client(a), 'shared', { broadcast: { ack: true } });
    expect(await subscribed(writer)).toEqual({ status: 'SUBSCRIBED' });
    const since = Date.now() - 1;
    for (const n of [1, 2, 3]) expect(await writer.send({ type: 'broadcast', event: 'e', payload: { n }, persist: true })).toBe('ok');
    expect(await writer.httpSend('e', { n: 4 }, { persist: true })).toEqual({ success: true });

    const realtime = await client(b);
    const reader = journal(realtime, 'shared', { broadcast: { replay: { since, limit: 3 } } });
    const seen = heard(reader);
    expect(await subscribed(reader)).toEqual({ status: 'SUBSCRIBED' });
    await eventually(() => expect(seen).toHaveLength(3));
    expect(seen.map((message) => [message.payload, message.meta?.replayed])).toEqual([
      [{ n: 2 }, true],
      [{ n: 3 }, true],
      [{ n: 4 }, true],
    ]);
    await realtime.disconnect();
    await eventually(() => expect(reader.state).not.toBe('joined'));
    realtime.connect();
    await eventually(() => expect(reader.state).toBe('joined'));
    await eventually(() => expect(seen).toHaveLength(6));
    expect(seen.slice(3)).toEqual(seen.slice(0, 3));

    await store.stop();
    await eventually(() => expect(pubsubs.map((pubsub) => pubsub.connected)).toEqual([false, false]), 5000);
    expect(await writer.send({ type: 'broadcast', event: 'e', payload: { n: 5 }, persist: true })).toBe('the broadcast could not be stored');
    const refused = await subscribed(journal(await client(b), 'shared', { broadcast: { replay: { since } } }));
    expect(refused).toEqual({ status: 'CHANNEL_ERROR', error: 'Realtime was unable to replay messages' });
  });
});
