/**
 * The unchanged `@supabase/realtime-js` client (2.119.0) against a Starling endpoint serving
 * `starling-channels/supabase`: subscribe, Broadcast with `self` and `ack`, Presence, private channels under
 * the app's policy, API keys and access tokens as JWTs (expired and tampered ones refused), the
 * REST broadcast API, `postgres_changes` refused, V1 and V2 framing, and a Phoenix-client socket
 * sharing a topic with realtime-js sockets.
 */
import type { Server } from 'node:http';
import { RealtimeClient, type RealtimeChannel } from '@supabase/realtime-js';
import { SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { eventually } from '@starling/test-support/eventually';
import { ClientPool, inboxOf, joinOutcome, phoenix18Client } from '@starling/test-support/official-client';
import { RawClient, tryUpgrade } from '@starling/test-support/raw-client';
import { Endpoint, silentLogger } from '../../../src/index.ts';
import { createRealtime, type RealtimeOptions } from '../../../src/supabase/index.ts';

const SECRET = 'a-test-jwt-secret-of-at-least-thirty-two-characters-long';
const OTHER_SECRET = 'another-secret-that-did-not-sign-the-keys-of-this-test!!';

/** A JWT signed with `SECRET` (or `secret`), expiring in an hour unless `expiresIn` says otherwise (null: no `exp`). */
async function jwt(claims: Record<string, unknown>, options: { secret?: string; expiresIn?: string | number | null } = {}): Promise<string> {
  let token = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (options.expiresIn !== null) token = token.setExpirationTime(options.expiresIn ?? '1h');
  return token.sign(new TextEncoder().encode(options.secret ?? SECRET));
}

interface Service {
  readonly endpoint: Endpoint;
  readonly url: string;
  readonly httpUrl: string;
}

const services: Array<{ endpoint: Endpoint; server: Server }> = [];
const clients: RealtimeClient[] = [];
const pools: ClientPool[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) await client.disconnect();
  for (const pool of pools.splice(0)) await pool.close();
  for (const { endpoint } of services.splice(0)) await endpoint.close({ intervalMs: 0 });
});

async function start(options: Partial<RealtimeOptions> = {}): Promise<Service> {
  const endpoint = new Endpoint({ logger: silentLogger });
  const realtime = createRealtime(endpoint, { jwtSecret: SECRET, authorize: ({ claims }) => claims.role === 'authenticated', ...options });
  endpoint.socket('/realtime/v1', realtime.socket).socket('/socket', realtime.phoenixSocket);
  const server = await endpoint.listen({ port: 0, fallback: (req, res) => void (realtime.handleRequest(req, res) || res.writeHead(404).end()) });
  services.push({ endpoint, server });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return { endpoint, url: `ws://127.0.0.1:${port}/realtime/v1`, httpUrl: `http://127.0.0.1:${port}/realtime/v1` };
}

function client(service: Service, apikey: string, vsn: '1.0.0' | '2.0.0' = '2.0.0'): RealtimeClient {
  const realtime = new RealtimeClient(service.url, { params: { apikey }, transport: WebSocket as never, vsn, heartbeatIntervalMs: 25_000 });
  clients.push(realtime);
  return realtime;
}

/** Subscribes and resolves with the status the client reports (SUBSCRIBED, CHANNEL_ERROR, …) and its error. */
function subscribed(channel: RealtimeChannel, timeoutMs = 3000): Promise<{ status: string; error?: string }> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ status: 'no answer' }), timeoutMs);
    channel.subscribe((status, err) => {
      clearTimeout(timer);
      resolve(err === undefined ? { status } : { status, error: err.message });
    });
  });
}

function broadcasts(channel: RealtimeChannel, event: string): unknown[] {
  const seen: unknown[] = [];
  channel.on('broadcast', { event }, (message) => seen.push(message.payload));
  return seen;
}

for (const vsn of ['2.0.0', '1.0.0'] as const) {
  describe(`realtime-js over vsn ${vsn}`, () => {
    it('subscribes with an anon key and broadcasts to the others, the sender excluded unless self is set', async () => {
      const service = await start();
      const anon = await jwt({ role: 'anon' });
      const a = client(service, anon, vsn).channel('room1');
      const b = client(service, anon, vsn).channel('room1');
      const c = client(service, anon, vsn).channel('room1', { config: { broadcast: { self: true } } });
      const heardA = broadcasts(a, 'cursor');
      const heardB = broadcasts(b, 'cursor');
      const heardC = broadcasts(c, 'cursor');
      for (const channel of [a, b, c]) expect(await subscribed(channel)).toEqual({ status: 'SUBSCRIBED' });

      expect(await a.send({ type: 'broadcast', event: 'cursor', payload: { x: 1 } })).toBe('ok');
      expect(await c.send({ type: 'broadcast', event: 'cursor', payload: { x: 2 } })).toBe('ok');
      await eventually(() => expect(heardB).toEqual([{ x: 1 }, { x: 2 }]));
      await eventually(() => expect(heardC).toEqual([{ x: 1 }, { x: 2 }]));
      expect(heardA).toEqual([{ x: 2 }]);
    });

    it('acknowledges a broadcast when ack is set', async () => {
      const service = await start();
      const anon = await jwt({ role: 'anon' });
      const sender = client(service, anon, vsn).channel('acked', { config: { broadcast: { ack: true } } });
      expect(await subscribed(sender)).toEqual({ status: 'SUBSCRIBED' });
      expect(await sender.send({ type: 'broadcast', event: 'e', payload: { n: 1 } })).toBe('ok');
    });

    it('syncs presence: track, presenceState on the other client, join and leave events', async () => {
      const service = await start();
      const anon = await jwt({ role: 'anon' });
      const alice = client(service, anon, vsn).channel('lobby', { config: { presence: { key: 'alice' } } });
      const bob = client(service, anon, vsn).channel('lobby', { config: { presence: { key: 'bob' } } });
      const joins: string[] = [];
      const leaves: string[] = [];
      bob.on('presence', { event: 'join' }, ({ key }) => joins.push(key));
      bob.on('presence', { event: 'leave' }, ({ key }) => leaves.push(key));
      bob.on('presence', { event: 'sync' }, () => {});
      expect(await subscribed(alice)).toEqual({ status: 'SUBSCRIBED' });
      expect(await subscribed(bob)).toEqual({ status: 'SUBSCRIBED' });

      expect(await alice.track({ name: 'Alice' })).toBe('ok');
      await eventually(() => expect(bob.presenceState()).toMatchObject({ alice: [{ name: 'Alice' }] }));
      expect(joins).toContain('alice');
      expect(await alice.untrack()).toBe('ok');
      await eventually(() => expect(leaves).toContain('alice'));
      expect(bob.presenceState()).toEqual({});
    });
  });
}

describe('keys, tokens and private channels', () => {
  it('refuses a connection whose API key is expired, tampered or missing (HTTP 403)', async () => {
    const service = await start();
    const expired = await jwt({ role: 'anon' }, { expiresIn: Math.floor(Date.now() / 1000) - 10 });
    const forged = await jwt({ role: 'anon' }, { secret: OTHER_SECRET });
    const good = await jwt({ role: 'anon' });
    for (const apikey of [expired, forged, `${good.slice(0, -2)}xx`, '']) {
      expect((await tryUpgrade(`${service.url}/websocket?apikey=${encodeURIComponent(apikey)}&vsn=2.0.0`)).status).toBe(403);
    }
    expect((await tryUpgrade(`${service.url}/websocket?apikey=${good}&vsn=2.0.0`)).status).toBe(101);
  });

  it('refuses a private channel to an anon key and lets an authenticated token in (the app policy)', async () => {
    const service = await start();
    const anon = client(service, await jwt({ role: 'anon' })).channel('secret', { config: { private: true } });
    const refused = await subscribed(anon);
    expect(refused.status).toBe('CHANNEL_ERROR');
    expect(refused.error).toMatch(/Unauthorized/);

    const user = client(service, await jwt({ role: 'anon' }));
    await user.setAuth(await jwt({ role: 'authenticated', sub: 'u1' }));
    expect(await subscribed(user.channel('secret', { config: { private: true } }))).toEqual({ status: 'SUBSCRIBED' });
  });

  it('keeps a channel going through a valid token refresh', async () => {
    const service = await start();
    const realtime = client(service, await jwt({ role: 'anon' }));
    const channel = realtime.channel('refreshed');
    const system: unknown[] = [];
    channel.on('system', {}, (payload) => system.push(payload));
    const heard = broadcasts(channel, 'after');
    expect(await subscribed(channel)).toEqual({ status: 'SUBSCRIBED' });
    await realtime.setAuth(await jwt({ role: 'authenticated', sub: 'u2' }, { expiresIn: '1h' }));
    const sender = client(service, await jwt({ role: 'anon' })).channel('refreshed');
    expect(await subscribed(sender)).toEqual({ status: 'SUBSCRIBED' });
    await sender.send({ type: 'broadcast', event: 'after', payload: { n: 1 } });
    await eventually(() => expect(heard).toEqual([{ n: 1 }]));
    expect(system).toEqual([]);
  });

  it('ends a channel whose refreshed access token is invalid, with a system error', async () => {
    const service = await start();
    const realtime = client(service, await jwt({ role: 'anon' }));
    const channel = realtime.channel('refresh');
    const system: unknown[] = [];
    channel.on('system', {}, (payload) => system.push(payload));
    expect(await subscribed(channel)).toEqual({ status: 'SUBSCRIBED' });
    await realtime.setAuth(await jwt({ role: 'authenticated' }, { secret: OTHER_SECRET }));
    await eventually(() => expect(system).toEqual([expect.objectContaining({ status: 'error', extension: 'system' })]));
  });

  it('ends a channel when its access token expires without a refresh', async () => {
    const service = await start();
    const realtime = client(service, await jwt({ role: 'anon' }));
    await realtime.setAuth(await jwt({ role: 'authenticated' }, { expiresIn: Math.floor(Date.now() / 1000) + 2 }));
    const channel = realtime.channel('short-lived');
    const system: unknown[] = [];
    channel.on('system', {}, (payload) => system.push(payload));
    expect(await subscribed(channel)).toEqual({ status: 'SUBSCRIBED' });
    await eventually(() => expect(system).toEqual([expect.objectContaining({ status: 'error', message: 'Token has expired' })]), 4000);
  });

  it('bounds presence announcements per connection, as Supabase does (5 per 30 s by default): every channel of it spends the same budget', async () => {
    const service = await start();
    const apikey = await jwt({ role: 'anon' });
    const raw = await RawClient.connect(`${service.url}/websocket?apikey=${apikey}&vsn=2.0.0`);
    const other = await RawClient.connect(`${service.url}/websocket?apikey=${apikey}&vsn=2.0.0`);
    try {
      for (const [joinRef, topic] of [
        ['1', 'realtime:busy'],
        ['2', 'realtime:busier'],
      ] as const) {
        raw.send([joinRef, joinRef, topic, 'phx_join', { config: { presence: { key: 'k', enabled: true } } }]);
        expect((await raw.reply(joinRef))[4]).toMatchObject({ status: 'ok' });
      }
      const responses: unknown[] = [];
      for (let i = 0; i < 7; i++) {
        const [joinRef, topic] = i % 2 === 0 ? ['1', 'realtime:busy'] : ['2', 'realtime:busier'];
        raw.send([joinRef, `t${i}`, topic, 'presence', { type: 'presence', event: 'track', payload: { i } }]);
        responses.push(((await raw.reply(`t${i}`))[4] as { response: unknown }).response);
      }
      expect(responses).toEqual([{}, {}, {}, {}, {}, { reason: 'presence rate limited' }, { reason: 'presence rate limited' }]);
      // Another connection has a budget of its own.
      other.send(['1', '1', 'realtime:busy', 'phx_join', { config: { presence: { key: 'o', enabled: true } } }]);
      expect((await other.reply('1'))[4]).toMatchObject({ status: 'ok' });
      other.send(['1', 'o1', 'realtime:busy', 'presence', { type: 'presence', event: 'track', payload: {} }]);
      expect((await other.reply('o1'))[4]).toMatchObject({ status: 'ok', response: {} });
    } finally {
      raw.close();
      other.close();
    }
  });

  it('takes the presence limit from presenceLimit, and refuses a malformed one', async () => {
    const service = await start({ presenceLimit: { calls: 2, windowMs: 60_000 } });
    const raw = await RawClient.connect(`${service.url}/websocket?apikey=${await jwt({ role: 'anon' })}&vsn=2.0.0`);
    try {
      raw.send(['1', '1', 'realtime:few', 'phx_join', { config: { presence: { key: 'k', enabled: true } } }]);
      expect((await raw.reply('1'))[4]).toMatchObject({ status: 'ok' });
      const responses: unknown[] = [];
      for (let i = 0; i < 3; i++) {
        raw.send(['1', `t${i}`, 'realtime:few', 'presence', { type: 'presence', event: 'track', payload: { i } }]);
        responses.push(((await raw.reply(`t${i}`))[4] as { response: unknown }).response);
      }
      expect(responses).toEqual([{}, {}, { reason: 'presence rate limited' }]);
    } finally {
      raw.close();
    }
    await expect(start({ presenceLimit: { calls: 0, windowMs: 1000 } })).rejects.toThrow(RangeError);
  });

  it('refuses broadcast replay and persist without a database, saying why, instead of ignoring them', async () => {
    const service = await start();
    const realtime = client(service, await jwt({ role: 'anon' }));
    await realtime.setAuth(await jwt({ role: 'authenticated', sub: 'u' }));
    const replaying = realtime.channel('diary', { config: { private: true, broadcast: { replay: { since: 0, limit: 5 } } } });
    expect(await subscribed(replaying)).toEqual({ status: 'CHANNEL_ERROR', error: expect.stringMatching(/persist and replay need a database/) });
    const writer = realtime.channel('diary2', { config: { private: true, broadcast: { ack: true } } });
    expect(await subscribed(writer)).toEqual({ status: 'SUBSCRIBED' });
    expect(await writer.send({ type: 'broadcast', event: 'e', payload: {}, persist: true })).toMatch(/persist and replay need a database/);
    await expect(writer.httpSend('e', {}, { persist: true })).rejects.toThrow(/persist and replay need a database/);
  });

  it('refuses postgres_changes, which this server does not serve, saying why', async () => {
    const service = await start();
    const channel = client(service, await jwt({ role: 'anon' }))
      .channel('db')
      .on('postgres_changes', { event: '*', schema: 'public', table: 'messages' }, () => {});
    const outcome = await subscribed(channel);
    expect(outcome.status).toBe('CHANNEL_ERROR');
    expect(outcome.error).toMatch(/postgres_changes is not available/);
  });
});

describe('a private channel and the public channel of the same name share nothing', () => {
  /** An authenticated member of private `board-42` and an anon client on public `board-42`, both with ack and presence. */
  async function boards(service: Service) {
    const config = { broadcast: { ack: true }, presence: { enabled: true } };
    const member = client(service, await jwt({ role: 'anon' }));
    await member.setAuth(await jwt({ role: 'authenticated', sub: 'member' }));
    const privateBoard = member.channel('board-42', { config: { ...config, private: true, presence: { key: 'member', enabled: true } } });
    const outsider = client(service, await jwt({ role: 'anon' })).channel('board-42', { config: { ...config, presence: { key: 'outsider', enabled: true } } });
    const heard = { member: broadcasts(privateBoard, 'note'), outsider: broadcasts(outsider, 'note') };
    for (const channel of [privateBoard, outsider]) channel.on('presence', { event: 'sync' }, () => {});
    expect(await subscribed(privateBoard)).toEqual({ status: 'SUBSCRIBED' });
    expect(await subscribed(outsider)).toEqual({ status: 'SUBSCRIBED' });
    return { privateBoard, outsider, heard };
  }

  it('no broadcast or presence crosses between them, in either direction', async () => {
    const service = await start();
    const { privateBoard, outsider, heard } = await boards(service);
    // A second public client: what it sends and tracks is what the outsider may see.
    const publicPeer = client(service, await jwt({ role: 'anon' })).channel('board-42', { config: { broadcast: { ack: true } } });
    expect(await subscribed(publicPeer)).toEqual({ status: 'SUBSCRIBED' });

    expect(await privateBoard.track({ email: 'member@example.com' })).toBe('ok');
    expect(await privateBoard.send({ type: 'broadcast', event: 'note', payload: { secret: 1 } })).toBe('ok');
    expect(await outsider.send({ type: 'broadcast', event: 'note', payload: { intrusion: 1 } })).toBe('ok');
    expect(await publicPeer.track({ marker: true })).toBe('ok');
    // Acknowledged sends were broadcast before their reply; the marker follows them on the same socket.
    expect(await publicPeer.send({ type: 'broadcast', event: 'note', payload: { marker: 1 } })).toBe('ok');
    await eventually(() => expect(heard.outsider).toEqual([{ marker: 1 }]));
    await eventually(() => expect(Object.keys(outsider.presenceState()).length).toBeGreaterThan(0));
    expect(JSON.stringify(outsider.presenceState())).not.toContain('member@example.com');
    expect(Object.keys(privateBoard.presenceState())).toEqual(['member']);
    expect(heard.member).toEqual([]);
  });

  it('REST reaches the private channel only when private is asked and write is authorized', async () => {
    const service = await start();
    const { heard } = await boards(service);
    const post = async (path: string, body: unknown, apikey: string) =>
      (
        await fetch(`${service.httpUrl}/api/broadcast${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', apikey },
          body: JSON.stringify(body),
        })
      ).status;
    const anon = await jwt({ role: 'anon' });
    expect(await post('', { messages: [{ topic: 'board-42', event: 'note', payload: { omitted: 1 } }] }, anon)).toBe(202);
    expect(await post('/board-42/events/note?private=false', { explicit: 1 }, anon)).toBe(202);
    expect(await post('', { messages: [{ topic: 'board-42', event: 'note', payload: { forged: 1 }, private: true }] }, anon)).toBe(403);
    expect(
      await post('', { messages: [{ topic: 'board-42', event: 'note', payload: { allowed: 1 }, private: true }] }, await jwt({ role: 'authenticated' })),
    ).toBe(202);
    await eventually(() => expect(heard.member).toEqual([{ allowed: 1 }]));
    expect(heard.outsider).toEqual([{ omitted: 1 }, { explicit: 1 }]);
  });
});

describe('presence keys tracked by several channels', () => {
  it('keeps one meta per channel under a shared key: nobody crashes, each leave removes only its own', async () => {
    const service = await start();
    const anon = await jwt({ role: 'anon' });
    const config = { presence: { key: 'ada', enabled: true } };
    const [tab1, tab2, squatter] = [0, 1, 2].map(() => client(service, anon).channel('shared-key', { config }));
    const watcher = client(service, anon).channel('shared-key', { config: { presence: { key: 'watcher', enabled: true } } });
    const errors: unknown[] = [];
    for (const channel of [tab1!, tab2!, squatter!, watcher]) {
      channel.on('presence', { event: 'sync' }, () => {});
      channel.on('system', {}, (payload) => errors.push(payload));
      expect(await subscribed(channel)).toEqual({ status: 'SUBSCRIBED' });
    }
    expect(await tab1!.track({ tab: 1 })).toBe('ok');
    expect(await tab2!.track({ tab: 2 })).toBe('ok');
    expect(await squatter!.track({ tab: 'squat' })).toBe('ok');
    expect(await tab2!.track({ tab: 2, again: true })).toBe('ok');
    const metas = () => (watcher.presenceState().ada ?? []).map((meta) => (meta as { tab?: unknown }).tab).sort();
    await eventually(() => expect(metas()).toEqual([1, 2, 'squat']));
    await squatter!.unsubscribe();
    await eventually(() => expect(metas()).toEqual([1, 2]));
    expect(await tab1!.untrack()).toBe('ok');
    await eventually(() => expect(metas()).toEqual([2]));
    for (const channel of [tab1!, tab2!]) expect(channel.state).toBe('joined');
    expect(errors).toEqual([]);
  });
});

describe('token rules', () => {
  it('ends a private channel whose refreshed token no longer grants read (the anon key), and it hears nothing more', async () => {
    const service = await start();
    const anonKey = await jwt({ role: 'anon' });
    const member = client(service, anonKey);
    await member.setAuth(await jwt({ role: 'authenticated', sub: 'm' }));
    const channel = member.channel('vault', { config: { private: true } });
    const system: unknown[] = [];
    channel.on('system', {}, (payload) => system.push(payload));
    const heard = broadcasts(channel, 'note');
    expect(await subscribed(channel)).toEqual({ status: 'SUBSCRIBED' });

    await member.setAuth(anonKey);
    await eventually(() =>
      expect(system).toEqual([expect.objectContaining({ status: 'error', extension: 'system', message: expect.stringMatching(/Unauthorized/) })]),
    );
    await eventually(() => expect(channel.state).toBe('closed'));
    const writer = client(service, anonKey);
    await writer.setAuth(await jwt({ role: 'authenticated', sub: 'w' }));
    const other = writer.channel('vault', { config: { private: true, broadcast: { ack: true } } });
    expect(await subscribed(other)).toEqual({ status: 'SUBSCRIBED' });
    expect(await other.send({ type: 'broadcast', event: 'note', payload: { after: 1 } })).toBe('ok');
    expect(heard).toEqual([]);
  });

  it('refuses a key or an access token without exp or without role, and one with no claims at all', async () => {
    const service = await start();
    const upgrade = async (apikey: string) => (await tryUpgrade(`${service.url}/websocket?apikey=${apikey}&vsn=2.0.0`)).status;
    expect(await upgrade(await jwt({ role: 'anon' }, { expiresIn: null }))).toBe(403);
    expect(await upgrade(await jwt({}))).toBe(403);
    expect(await upgrade(await jwt({}, { expiresIn: null }))).toBe(403);
    expect(await upgrade(await jwt({ role: 'anon' }))).toBe(101);

    const realtime = client(service, await jwt({ role: 'anon' }));
    await realtime.setAuth(await jwt({ role: 'authenticated' }, { expiresIn: null }));
    const outcome = await subscribed(realtime.channel('forever'));
    expect(outcome.status).toBe('CHANNEL_ERROR');
    expect(outcome.error).toMatch(/Fields `role` and `exp` are required in JWT/);
  });

  it('checks issuer and audience when configured', async () => {
    const service = await start({ issuer: 'https://auth.example.com', audience: 'authenticated' });
    const upgrade = async (apikey: string) => (await tryUpgrade(`${service.url}/websocket?apikey=${apikey}&vsn=2.0.0`)).status;
    expect(await upgrade(await jwt({ role: 'anon', iss: 'https://auth.example.com', aud: 'authenticated' }))).toBe(101);
    expect(await upgrade(await jwt({ role: 'anon', iss: 'https://evil.example.com', aud: 'authenticated' }))).toBe(403);
    expect(await upgrade(await jwt({ role: 'anon', iss: 'https://auth.example.com' }))).toBe(403);
  });

  it('refuses an HS256 secret shorter than 32 bytes', () => {
    expect(() => createRealtime(new Endpoint({ logger: silentLogger }), { jwtSecret: 'x' })).toThrow(/at least 32 bytes/);
    expect(() => createRealtime(new Endpoint({ logger: silentLogger }), { jwtSecret: 'a'.repeat(31) })).toThrow(/at least 32 bytes/);
  });
});

describe('hostile realtime frames', () => {
  /** A kind 3 user broadcast push with `payload` as its JSON body (lengths per docs/supabase.md). */
  function kind3(topic: string, payload: string): Buffer {
    const fields = ['1', '2', topic, 'e', ''].map((field) => Buffer.from(field));
    return Buffer.concat([Buffer.from([3, ...fields.map((field) => field.length), 1]), ...fields, Buffer.from(payload)]);
  }

  it('closes with 1007 a kind 3 frame whose JSON nests deeper than maxPayloadDepth, and keeps serving others', async () => {
    const service = await start();
    const url = `${service.url}/websocket?apikey=${await jwt({ role: 'anon' })}&vsn=2.0.0`;
    const [hostile, honest] = [await RawClient.connect(url), await RawClient.connect(url)];
    try {
      for (const raw of [hostile, honest]) {
        raw.send(['1', '1', 'realtime:deep', 'phx_join', { config: {} }]);
        expect((await raw.reply('1'))[4]).toMatchObject({ status: 'ok' });
      }
      hostile.sendRaw(kind3('realtime:deep', `${'['.repeat(40)}${']'.repeat(40)}`));
      expect((await hostile.closed).code).toBe(1007);

      honest.sendRaw(kind3('realtime:deep', '{"fine":true}'));
      honest.send(['1', '3', 'phoenix', 'heartbeat', {}]);
      expect((await honest.reply('3'))[4]).toMatchObject({ status: 'ok' });
    } finally {
      hostile.close();
      honest.close();
    }
  });
});

describe('the REST broadcast API', () => {
  it('delivers channel.send before subscribing (the REST fallback) and httpSend (202)', async () => {
    const service = await start();
    const anon = await jwt({ role: 'anon' });
    const listener = client(service, anon).channel('news');
    const heard = broadcasts(listener, 'headline');
    expect(await subscribed(listener)).toEqual({ status: 'SUBSCRIBED' });

    const sender = client(service, anon).channel('news');
    expect(await sender.send({ type: 'broadcast', event: 'headline', payload: { n: 1 } })).toBe('ok');
    expect(await sender.httpSend('headline', { n: 2 })).toEqual({ success: true });
    await eventually(() => expect(heard).toEqual([{ n: 1 }, { n: 2 }]));
  });

  it('answers a request without a valid apikey 401, a private broadcast of an anon key 403, and a body over 1 MiB 413', async () => {
    const service = await start();
    const post = (headers: Record<string, string>, path = '') =>
      fetch(`${service.httpUrl}/api/broadcast${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ messages: [{ topic: 'x', event: 'e', payload: {}, private: true }] }),
      }).then((response) => response.status);
    expect(await post({})).toBe(401);
    expect(await post({ apikey: await jwt({ role: 'anon' }, { secret: OTHER_SECRET }) })).toBe(401);
    expect(await post({ apikey: await jwt({ role: 'anon' }) })).toBe(403);
    expect(await post({ apikey: await jwt({ role: 'authenticated' }) })).toBe(202);
    const tooLarge = await fetch(`${service.httpUrl}/api/broadcast/x/events/e`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', apikey: await jwt({ role: 'anon' }) },
      body: Buffer.alloc(1024 * 1024 + 1),
    });
    expect(tooLarge.status).toBe(413);
  });
});

describe('a Phoenix-client socket and realtime-js sockets on one topic', () => {
  it('each get broadcasts in their own framing, whichever side sends, JSON or binary', async () => {
    const service = await start();
    const anon = await jwt({ role: 'anon' });
    const supa = client(service, anon).channel('shared');
    const fromPhoenix = broadcasts(supa, 'hello');
    const bytes = broadcasts(supa, 'bytes');
    expect(await subscribed(supa)).toEqual({ status: 'SUBSCRIBED' });

    const pool = new ClientPool(phoenix18Client);
    pools.push(pool);
    const phoenix = pool.socket(service.url.replace('/realtime/v1', '/socket'), { params: { apikey: anon } }).channel('realtime:shared', {});
    const toPhoenix = inboxOf(phoenix, 'broadcast');
    expect((await joinOutcome(phoenix)).status).toBe('ok');

    phoenix.push('broadcast', { type: 'broadcast', event: 'hello', payload: { from: 'phoenix' } });
    await eventually(() => expect(fromPhoenix).toEqual([{ from: 'phoenix' }]));

    const other = client(service, anon).channel('shared');
    expect(await subscribed(other)).toEqual({ status: 'SUBSCRIBED' });
    expect(await other.send({ type: 'broadcast', event: 'hello', payload: { from: 'supabase' } })).toBe('ok');
    expect(await toPhoenix.next()).toEqual({ type: 'broadcast', event: 'hello', payload: { from: 'supabase' } });

    // realtime-js sends an ArrayBuffer payload as a binary kind 3 frame; its peers get kind 4.
    expect(await other.send({ type: 'broadcast', event: 'bytes', payload: new Uint8Array([1, 2, 3]).buffer })).toBe('ok');
    await eventually(() => expect(bytes).toHaveLength(1));
    expect([...new Uint8Array(bytes[0] as ArrayBuffer)]).toEqual([1, 2, 3]);
  });
});

describe('keys from a JWKS', () => {
  it('verifies asymmetric keys published at jwksUrl, and refuses keys it does not publish', async () => {
    const { generateKeyPair, exportJWK } = await import('jose');
    const published = await generateKeyPair('ES256');
    const unpublished = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(published.publicKey)), kid: 'k1', alg: 'ES256' };
    const jwks = (await import('node:http')).createServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })),
    );
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    try {
      const address = jwks.address();
      const jwksUrl = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/jwks.json`;
      const endpoint = new Endpoint({ logger: silentLogger });
      const realtime = createRealtime(endpoint, { jwksUrl });
      endpoint.socket('/realtime/v1', realtime.socket);
      const server = await endpoint.listen({ port: 0 });
      services.push({ endpoint, server });
      const port = (server.address() as { port: number }).port;
      const sign = (key: Parameters<SignJWT['sign']>[0]) =>
        new SignJWT({ role: 'anon' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuedAt().setExpirationTime('1h').sign(key);
      const url = (apikey: string) => `ws://127.0.0.1:${port}/realtime/v1/websocket?apikey=${apikey}&vsn=2.0.0`;
      expect((await tryUpgrade(url(await sign(published.privateKey)))).status).toBe(101);
      expect((await tryUpgrade(url(await sign(unpublished.privateKey)))).status).toBe(403);
    } finally {
      await new Promise((resolve) => jwks.close(resolve));
    }
  });
});
