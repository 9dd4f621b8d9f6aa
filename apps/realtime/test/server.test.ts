/**
 * The runnable Supabase-Realtime-compatible server (`npm run realtime`, i.e. `src/server.ts`) as a
 * real process: it refuses to start without its JWT secret, answers `/health`, serves the
 * unchanged realtime-js client with its example policy, and — two processes sharing a real
 * Redis — carries broadcasts and presence between nodes.
 */
import { spawnSync } from 'node:child_process';
import { RealtimeClient, type RealtimeChannel } from '@supabase/realtime-js';
import { createClient } from '@supabase/supabase-js';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { eventually } from '@starling/test-support/eventually';
import { ensureRedis } from '@starling/test-support/redis';
import { SERVER, key, startServer, stopServers } from './support/realtime-process.ts';

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

  it('carries broadcasts and presence between two nodes sharing a Redis', async () => {
    const redisUrl = await ensureRedis();
    const env = { REDIS_URL: redisUrl };
    const [portA, portB] = [await startServer(env), await startServer(env)];
    const anon = await key({ role: 'anon' });
    const onA = channel(portA, anon, 'cluster-room', { presence: { key: 'alice' } });
    const onB = channel(portB, anon, 'cluster-room', { presence: { key: 'bob' } });
    const heard: unknown[] = [];
    onB.on('broadcast', { event: 'msg' }, ({ payload }) => heard.push(payload));
    onB.on('presence', { event: 'sync' }, () => {});
    expect(await subscribed(onA)).toBe('SUBSCRIBED');
    expect(await subscribed(onB)).toBe('SUBSCRIBED');

    await eventually(async () => {
      await onA.send({ type: 'broadcast', event: 'msg', payload: { n: 1 } });
      expect(heard.length).toBeGreaterThan(0);
    });
    expect(heard[0]).toEqual({ n: 1 });
    expect(await onA.track({ name: 'Alice' })).toBe('ok');
    await eventually(() => expect(onB.presenceState()).toMatchObject({ alice: [{ name: 'Alice' }] }), 5000);
  });
});
