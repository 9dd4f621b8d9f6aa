/**
 * The runnable Supabase-Realtime-compatible server (`npm run realtime`, i.e. `src/server.ts`) as a
 * real process: it refuses to start without its JWT secret, answers `/health`, serves the
 * unchanged realtime-js client with its example policy (several nodes: `cluster.test.ts`).
 */
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { RealtimeClient, type RealtimeChannel } from '@supabase/realtime-js';
import { createClient } from '@supabase/supabase-js';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { eventually } from '@starling/test-support/eventually';
import { SECRET, SERVER, key, serverOutput, startServer, stopServers } from './support/realtime-process.ts';

/** Anything with realtime-js's `disconnect` (supabase-js bundles its own realtime-js). */
const clients: Array<Pick<RealtimeClient, 'disconnect'>> = [];

afterEach(async () => {
  for (const client of clients.splice(0)) await client.disconnect();
  await stopServers();
});

function channel(port: number, apikey: string, name: string, config: Record<string, unknown> = {}): RealtimeChannel {
  const client = new RealtimeClient(`ws://127.0.0.1:${port}/realtime/v1`, { params: { apikey }, transport: WebSocket as never });
  clients.push(client);
  return client.channel(name, { config });
}

/** Something that subscribes as realtime-js's channels do (supabase-js bundles its own realtime-js). */
interface Subscribable {
  subscribe(callback: (status: string, err?: Error) => void): unknown;
}

function subscribed(ch: Subscribable): Promise<string> {
  return new Promise((resolve) => ch.subscribe((status, err) => resolve(err === undefined ? status : `${status}: ${err.message}`)));
}

/** A REST broadcast to `port` as `client`, forwarded (or forged) in `X-Forwarded-For`; resolves with the status. */
async function restFrom(port: number, apikey: string, client: string): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/realtime/v1/api/broadcast`, {
    method: 'POST',
    headers: { apikey, 'content-type': 'application/json', 'x-forwarded-for': client },
    body: JSON.stringify({ messages: [{ topic: 'room', event: 'msg', payload: {} }] }),
  });
  return response.status;
}

describe('npm run realtime behind a reverse proxy', () => {
  const anon = () => key({ role: 'anon', exp: Math.floor(Date.now() / 1000) + 3600 });

  it('budgets REST broadcasts per forwarded client with TRUSTED_PROXIES, and per peer without it', async () => {
    const apikey = await anon();
    const behind = await startServer({ TRUSTED_PROXIES: '127.0.0.1,10.0.0.0/8' });
    const first = await Promise.all(Array.from({ length: 40 }, () => restFrom(behind, apikey, '203.0.113.1')));
    expect(first.filter((status) => status === 429).length).toBeGreaterThan(0);
    expect(await restFrom(behind, apikey, '203.0.113.2')).toBe(202);

    const direct = await startServer();
    const forged = await Promise.all(Array.from({ length: 40 }, (_, i) => restFrom(direct, apikey, `203.0.113.${i}`)));
    expect(forged.filter((status) => status === 429).length).toBeGreaterThan(0);
  });

  it('refuses to start with a malformed TRUSTED_PROXIES, saying so', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', SERVER], {
      env: { ...process.env, REALTIME_JWT_SECRET: SECRET, TRUSTED_PROXIES: '10.0.0.0/99', PORT: '0' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/TRUSTED_PROXIES must be a comma-separated list of IP addresses and CIDR ranges .*10\.0\.0\.0\/99/);
  });
});

describe('npm run realtime', () => {
  it('refuses to start without REALTIME_JWT_SECRET, saying why', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', SERVER], {
      env: { ...process.env, REALTIME_JWT_SECRET: '', PORT: '0' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/REALTIME_JWT_SECRET is required/);
  });

  it('refuses to start with a JWT secret shorter than 32 bytes, which the public anon key would let anyone guess', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', SERVER], {
      env: { ...process.env, REALTIME_JWT_SECRET: 'x'.repeat(31), PORT: '0' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/REALTIME_JWT_SECRET refused: the JWT secret must be at least 32 bytes/);
  });

  it('serves realtime-js with its policy: public channels for anon keys, private ones for authenticated tokens', async () => {
    const port = await startServer();
    const anon = await key({ role: 'anon' });
    const a = channel(port, anon, 'room');
    const b = channel(port, anon, 'room');
    const heard: unknown[] = [];
    b.on('broadcast', { event: 'msg' }, ({ payload }) => heard.push(payload));
    expect(await subscribed(a)).toBe('SUBSCRIBED');
    expect(await subscribed(b)).toBe('SUBSCRIBED');
    await a.send({ type: 'broadcast', event: 'msg', payload: { text: 'hi' } });
    await eventually(() => expect(heard).toEqual([{ text: 'hi' }]));

    expect(await subscribed(channel(port, anon, 'private-room', { private: true }))).toMatch(/^CHANNEL_ERROR: Unauthorized/);
    expect(await subscribed(channel(port, await key({ role: 'authenticated', sub: 'u1' }), 'private-room', { private: true }))).toBe('SUBSCRIBED');
  });

  it("serves supabase-js's realtime in Node, unchanged: createClient(url, anonKey).channel(…)", async () => {
    const port = await startServer();
    const anon = await key({ role: 'anon' });
    const supabase = (name: string) => {
      const client = createClient(`http://127.0.0.1:${port}`, anon, { realtime: { transport: WebSocket as never } });
      clients.push(client.realtime);
      return client.channel('js-room', { config: { broadcast: { self: true }, presence: { key: name } } });
    };
    const ada = supabase('ada');
    const bob = supabase('bob');
    const heard: unknown[] = [];
    bob.on('broadcast', { event: 'msg' }, ({ payload }) => heard.push(payload));
    bob.on('presence', { event: 'sync' }, () => {});
    expect(await subscribed(ada)).toBe('SUBSCRIBED');
    expect(await subscribed(bob)).toBe('SUBSCRIBED');
    expect(await ada.track({ at: 1 })).toBe('ok');
    await ada.send({ type: 'broadcast', event: 'msg', payload: { from: 'ada' } });
    await eventually(() => expect(heard).toEqual([{ from: 'ada' }]));
    await eventually(() => expect(Object.keys(bob.presenceState())).toEqual(['ada']));
  });
});

describe('npm run realtime for self-hosters', () => {
  const anon = () => key({ role: 'anon' });

  it('serves /metrics to loopback clients only, or to the bearer of METRICS_TOKEN', async () => {
    const open = await startServer();
    const local = await fetch(`http://127.0.0.1:${open}/metrics`);
    expect(local.status).toBe(200);
    expect(await local.text()).toMatch(/^starling_sockets /m);
    // A proxy on this machine that is not trusted would make everyone look local.
    expect((await fetch(`http://127.0.0.1:${open}/metrics`, { headers: { 'x-forwarded-for': '203.0.113.9' } })).status).toBe(403);

    const guarded = await startServer({ METRICS_TOKEN: 'a-metrics-token' });
    expect((await fetch(`http://127.0.0.1:${guarded}/metrics`)).status).toBe(403);
    expect((await fetch(`http://127.0.0.1:${guarded}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(403);
    expect((await fetch(`http://127.0.0.1:${guarded}/metrics`, { headers: { authorization: 'Bearer a-metrics-token' } })).status).toBe(200);
  }, 30_000);

  it('refuses public channels with REALTIME_PRIVATE_ONLY, and logs refused joins with their reason and client, never the token', async () => {
    const port = await startServer({ REALTIME_PRIVATE_ONLY: 'true', LOG_LEVEL: 'info' });
    const token = await key({ role: 'authenticated', sub: 'u1' });
    expect(await subscribed(channel(port, await anon(), 'public-room'))).toBe('CHANNEL_ERROR: PrivateOnly: This project only allows private channels');
    const client = new RealtimeClient(`ws://127.0.0.1:${port}/realtime/v1`, { params: { apikey: await anon() }, transport: WebSocket as never });
    clients.push(client);
    await client.setAuth(token);
    expect(await subscribed(client.channel('private-room', { config: { private: true } }))).toBe('SUBSCRIBED');
    await eventually(() => expect(serverOutput(port)).toMatch(/join refused/));
    const line = serverOutput(port)
      .split('\n')
      .find((entry) => entry.includes('join refused'))!;
    expect(line).toMatch(/realtime:public-room/);
    expect(line).toMatch(/PrivateOnly/);
    expect(line).toMatch(/127\.0\.0\.1/);
    expect(line).not.toContain(token);
  }, 30_000);

  it('verifies keys against REALTIME_JWKS_URL, with no HS256 secret at all', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
    const jwks: Server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    try {
      const address = jwks.address();
      const jwksPort = typeof address === 'object' && address !== null ? address.port : 0;
      const port = await startServer({ REALTIME_JWT_SECRET: '', REALTIME_JWKS_URL: `http://127.0.0.1:${jwksPort}/jwks.json` });
      const signed = await new SignJWT({ role: 'anon' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuedAt().setExpirationTime('1h').sign(privateKey);
      expect(await subscribed(channel(port, signed, 'room'))).toBe('SUBSCRIBED');
      // A key signed with the secret the server no longer knows is refused at the connection.
      const refused = await fetch(`http://127.0.0.1:${port}/realtime/v1/api/broadcast`, {
        method: 'POST',
        headers: { apikey: await anon(), 'content-type': 'application/json' },
        body: JSON.stringify({ messages: [] }),
      });
      expect(refused.status).toBe(401);
    } finally {
      jwks.close();
    }
  }, 30_000);
});
