/**
 * A connection's limits, as Supabase Realtime bounds a client and as the unchanged realtime-js
 * (the latest 2.119.x) sees them: channels per connection (a join refused
 * `ChannelRateLimitReached`), broadcasts a second (the channel closed with a `system` error
 * `Too many messages per second`), payload size (an error reply; REST 413), all channels of a
 * connection spending one budget, another connection untouched. Defaults are Supabase's.
 */
import type { Server } from 'node:http';
import { RealtimeClient, type RealtimeChannel } from 'realtime-js-latest';
import { SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { eventually } from '@starling/test-support/eventually';
import { RawClient } from '@starling/test-support/raw-client';
import { Endpoint, silentLogger } from '../../../src/index.ts';
import { DEFAULT_CONNECTION_LIMITS, createRealtime, type RealtimeOptions } from '../../../src/supabase/index.ts';

const SECRET = 'a-test-jwt-secret-of-at-least-thirty-two-characters-long';

async function jwt(claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
}

const services: Array<{ endpoint: Endpoint; server: Server }> = [];
const clients: RealtimeClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) await client.disconnect();
  for (const { endpoint } of services.splice(0)) await endpoint.close({ intervalMs: 0 });
});

/** A node with `options`, its socket mounted with a channel bound above the realtime one; resolves with its socket URL. */
async function start(options: Partial<RealtimeOptions> = {}): Promise<string> {
  const endpoint = new Endpoint({ logger: silentLogger });
  const realtime = createRealtime(endpoint, { jwtSecret: SECRET, ...options });
  endpoint.socket('/realtime/v1', realtime.socket, { maxChannels: 1000 });
  const server = await endpoint.listen({ port: 0, fallback: (req, res) => void (realtime.handleRequest(req, res) || res.writeHead(404).end()) });
  services.push({ endpoint, server });
  const address = server.address();
  return `ws://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/realtime/v1`;
}

async function client(url: string): Promise<RealtimeClient> {
  const realtime = new RealtimeClient(url, { params: { apikey: await jwt({ role: 'anon' }) }, transport: WebSocket as never, heartbeatIntervalMs: 25_000 });
  clients.push(realtime);
  return realtime;
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

describe('connection limits', () => {
  it("defaults to Supabase's documented limits", () => {
    expect(DEFAULT_CONNECTION_LIMITS).toEqual({ maxChannelsPerConnection: 100, broadcastsPerSecond: 100, maxPayloadBytes: 256_000 });
  });

  it('refuses a join past maxChannelsPerConnection with ChannelRateLimitReached, and gives the place back when a channel leaves', async () => {
    const url = await start({ maxChannelsPerConnection: 3 });
    const realtime = await client(url);
    const channels = ['a', 'b', 'c'].map((name) => realtime.channel(name));
    for (const channel of channels) expect(await subscribed(channel)).toEqual({ status: 'SUBSCRIBED' });
    const refused = await subscribed(realtime.channel('d'));
    expect(refused.status).toBe('CHANNEL_ERROR');
    expect(refused.error).toMatch(/^ChannelRateLimitReached: Too many channels \(at most 3 on a connection\)/);
    // Another connection has places of its own.
    expect(await subscribed((await client(url)).channel('d'))).toEqual({ status: 'SUBSCRIBED' });
    await realtime.removeChannel(channels[0]!);
    expect(await subscribed(realtime.channel('e'))).toEqual({ status: 'SUBSCRIBED' });
  });

  it('refuses a join whose presence key JavaScript clients cannot keep, saying why, instead of crashing at its track', async () => {
    const url = await start();
    const raw = await RawClient.connect(`${url}/websocket?apikey=${await jwt({ role: 'anon' })}&vsn=2.0.0`);
    try {
      for (const [ref, key] of [
        ['1', '__proto__'],
        ['2', 'constructor'],
      ] as const) {
        raw.send([ref, ref, 'realtime:keys', 'phx_join', { config: { presence: { key, enabled: true } } }]);
        expect((await raw.reply(ref))[4]).toEqual({ status: 'error', response: { reason: `presence key "${key}" is not allowed` } });
      }
      raw.send(['3', '3', 'realtime:keys', 'phx_join', { config: { presence: { key: 'ada', enabled: true } } }]);
      expect((await raw.reply('3'))[4]).toMatchObject({ status: 'ok' });
    } finally {
      raw.close();
    }
  });

  it('gives the place of a channel that crashes back, so the connection can join another topic', async () => {
    const url = await start({ maxChannelsPerConnection: 1 });
    const raw = await RawClient.connect(`${url}/websocket?apikey=${await jwt({ role: 'anon' })}&vsn=2.0.0`);
    try {
      // A server-side fault: the presence store throws on this key's track, and the channel crashes.
      failTracks(services.at(-1)!.endpoint, 'crash-me');
      raw.send(['1', '1', 'realtime:crashy', 'phx_join', { config: { presence: { key: 'crash-me', enabled: true } } }]);
      expect((await raw.reply('1'))[4]).toMatchObject({ status: 'ok' });
      raw.send(['1', '2', 'realtime:crashy', 'presence', { type: 'presence', event: 'track', payload: {} }]);
      expect((await raw.nextJson((frame) => frame[3] === 'phx_error'))[4]).toEqual({ reason: 'channel_crash' });
      raw.send(['3', '3', 'realtime:other', 'phx_join', { config: {} }]);
      expect((await raw.reply('3'))[4]).toMatchObject({ status: 'ok' });
    } finally {
      raw.close();
    }
  });

  it('counts joins sent at once: of ten joins on a connection allowed three, three are admitted', async () => {
    const url = await start({ maxChannelsPerConnection: 3 });
    const raw = await RawClient.connect(`${url}/websocket?apikey=${await jwt({ role: 'anon' })}&vsn=2.0.0`);
    try {
      for (let i = 0; i < 10; i++) raw.send([`${i}`, `${i}`, `realtime:t${i}`, 'phx_join', { config: {} }]);
      const statuses: unknown[] = [];
      for (let i = 0; i < 10; i++) statuses.push(((await raw.reply(`${i}`))[4] as { status: string }).status);
      expect(statuses.filter((status) => status === 'ok')).toHaveLength(3);
    } finally {
      raw.close();
    }
  });

  it('closes a channel that broadcasts faster than broadcastsPerSecond with a system error, as Supabase does; the other connections carry on', async () => {
    const url = await start({ broadcastsPerSecond: 5 });
    const listener = (await client(url)).channel('room');
    const heard: unknown[] = [];
    listener.on('broadcast', { event: 'e' }, ({ payload }) => heard.push(payload));
    expect(await subscribed(listener)).toEqual({ status: 'SUBSCRIBED' });
    const talker = (await client(url)).channel('room');
    const system: unknown[] = [];
    talker.on('system', {}, (payload) => system.push(payload));
    expect(await subscribed(talker)).toEqual({ status: 'SUBSCRIBED' });
    for (let n = 0; n < 8; n++) await talker.send({ type: 'broadcast', event: 'e', payload: { n } });
    await eventually(() => expect(talker.state).toBe('closed'));
    expect(system).toEqual([{ extension: 'system', status: 'error', message: 'Too many messages per second', channel: 'room' }]);
    // The listener's connection has a budget of its own, and the room goes on.
    const other = (await client(url)).channel('room', { config: { broadcast: { ack: true } } });
    expect(await subscribed(other)).toEqual({ status: 'SUBSCRIBED' });
    expect(await other.send({ type: 'broadcast', event: 'e', payload: { n: 'after' } })).toBe('ok');
    // Sent after the talker was closed: once it is heard, a sixth broadcast would have been heard before it.
    await eventually(() => expect(heard).toContainEqual({ n: 'after' }));
    expect(heard).toEqual([...[0, 1, 2, 3, 4].map((n) => ({ n })), { n: 'after' }]);
  });

  it('on the wire: the broadcast over the rate gets a system error push and phx_close, and is not sent', async () => {
    const url = await start({ broadcastsPerSecond: 2 });
    const raw = await RawClient.connect(`${url}/websocket?apikey=${await jwt({ role: 'anon' })}&vsn=2.0.0`);
    try {
      raw.send(['1', '1', 'realtime:wire', 'phx_join', { config: { broadcast: { self: true } } }]);
      expect((await raw.reply('1'))[4]).toEqual({ status: 'ok', response: {} });
      for (const n of [1, 2, 3]) raw.send(['1', `b${n}`, 'realtime:wire', 'broadcast', { type: 'broadcast', event: 'e', payload: { n } }]);
      const frames: unknown[][] = [];
      for (let i = 0; i < 4; i++) frames.push(await raw.nextJson());
      expect(frames).toEqual([
        [null, null, 'realtime:wire', 'broadcast', { type: 'broadcast', event: 'e', payload: { n: 1 } }],
        [null, null, 'realtime:wire', 'broadcast', { type: 'broadcast', event: 'e', payload: { n: 2 } }],
        ['1', null, 'realtime:wire', 'system', { extension: 'system', status: 'error', message: 'Too many messages per second', channel: 'wire' }],
        ['1', '1', 'realtime:wire', 'phx_close', {}],
      ]);
    } finally {
      raw.close();
    }
  });

  it('refuses a payload over maxPayloadBytes — a broadcast, JSON or binary, a track, and a REST one (413) — and takes one at the bound', async () => {
    const url = await start({ maxPayloadBytes: 1000 });
    const realtime = await client(url);
    const channel = realtime.channel('big', { config: { broadcast: { ack: true } } });
    expect(await subscribed(channel)).toEqual({ status: 'SUBSCRIBED' });
    const fits = { text: 'x'.repeat(1000 - '{"text":""}'.length) };
    expect(await channel.send({ type: 'broadcast', event: 'e', payload: fits })).toBe('ok');
    expect(await channel.send({ type: 'broadcast', event: 'e', payload: { text: 'x'.repeat(1000) } })).toBe('error');
    expect(await channel.send({ type: 'broadcast', event: 'e', payload: new Uint8Array(1000).buffer })).toBe('ok');
    expect(await channel.send({ type: 'broadcast', event: 'e', payload: new Uint8Array(1001).buffer })).toBe('error');
    // Multi-byte text counts in UTF-8 bytes: 500 × 'é' is 500 characters but 1000 bytes.
    expect(await channel.send({ type: 'broadcast', event: 'e', payload: { t: 'é'.repeat(500) } })).toBe('error');
    expect(await channel.track({ note: 'x'.repeat(2000) })).toBe('error');
    expect(await channel.track({ note: 'short' })).toBe('ok');
    await expect(channel.httpSend('e', { text: 'x'.repeat(1000) })).rejects.toThrow(/Payload size exceeded: at most 1000 bytes/);
    expect(await channel.httpSend('e', fits)).toEqual({ success: true });
  });

  it('throws on a malformed limit', () => {
    const endpoint = new Endpoint({ logger: silentLogger });
    expect(() => createRealtime(endpoint, { jwtSecret: SECRET, maxChannelsPerConnection: 0 })).toThrow(RangeError);
    expect(() => createRealtime(endpoint, { jwtSecret: SECRET, broadcastsPerSecond: 1.5 })).toThrow(RangeError);
    expect(() => createRealtime(endpoint, { jwtSecret: SECRET, maxPayloadBytes: -1 })).toThrow(RangeError);
    expect(() => createRealtime(endpoint, { jwtSecret: SECRET, broadcastsPerSecond: Number.POSITIVE_INFINITY })).not.toThrow();
  });
});

/** Makes `endpoint`'s presence throw on every track of `key`: a server-side fault that crashes the tracking channel. */
function failTracks(endpoint: Endpoint, key: string): void {
  const { presence } = endpoint;
  const track = presence.track.bind(presence);
  presence.track = (owner, topic, tracked, meta) => {
    if (tracked === key) throw new Error('injected fault');
    return track(owner, topic, tracked, meta);
  };
}
