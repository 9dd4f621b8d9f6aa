/**
 * Several `npm run realtime` processes sharing an engine — a standalone Redis (`REDIS_URL`), a
 * Redis Cluster (`REDIS_CLUSTER_NODES`) or NATS with JetStream (`NATS_URL`), one private engine
 * of each kind for the file — carry broadcasts (from clients and from the REST API) and presence
 * between nodes, for the unchanged realtime-js, and keep persisted broadcasts for replay on any
 * node (the PubSub's history, in the engine). Setting two engines at once, or a malformed
 * `NATS_URL`, stops the server at start with one line saying so.
 */
import { spawnSync } from 'node:child_process';
import { RealtimeClient, type RealtimeChannel } from '@supabase/realtime-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ENGINES, startThrowawayEngine, type ThrowawayEngine } from '@starling/test-support/engines';
import { eventually } from '@starling/test-support/eventually';
import { SECRET, SERVER, key, startServer, stopServers } from './support/realtime-process.ts';

const clients: RealtimeClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) await client.disconnect();
  await stopServers();
});

function channel(port: number, apikey: string, name: string, config: Record<string, unknown> = {}): RealtimeChannel {
  const client = new RealtimeClient(`ws://127.0.0.1:${port}/realtime/v1`, { params: { apikey }, transport: WebSocket as never });
  clients.push(client);
  return client.channel(name, { config });
}

function subscribed(ch: RealtimeChannel): Promise<string> {
  return new Promise((resolve) => ch.subscribe((status, err) => resolve(err === undefined ? status : `${status}: ${err.message}`)));
}

describe('npm run realtime picks one engine', () => {
  /** Starts the server with `env` and the machine's engine settings cleared; returns how it ended. */
  const start = (env: Record<string, string>) =>
    spawnSync(process.execPath, ['--import', 'tsx', SERVER], {
      env: { ...process.env, REDIS_URL: '', REDIS_CLUSTER_NODES: '', NATS_URL: '', REALTIME_JWT_SECRET: SECRET, PORT: '0', ...env },
      encoding: 'utf8',
      timeout: 20_000,
    });

  it('refuses two engines at once, naming them', () => {
    for (const [env, names] of [
      [{ REDIS_URL: 'redis://127.0.0.1:6379', NATS_URL: 'nats://127.0.0.1:4222' }, 'REDIS_URL and NATS_URL'],
      [{ REDIS_CLUSTER_NODES: '127.0.0.1:7000', NATS_URL: 'nats://127.0.0.1:4222' }, 'REDIS_CLUSTER_NODES and NATS_URL'],
      [{ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_CLUSTER_NODES: '127.0.0.1:7000' }, 'REDIS_URL and REDIS_CLUSTER_NODES'],
    ] as const) {
      const result = start(env);
      expect(result.status, names).toBe(1);
      expect(result.stderr, names).toMatch(new RegExp(`^${names} are exclusive: set one of REDIS_URL \\(a standalone Redis\\), REDIS_CLUSTER_NODES`));
    }
  });

  it('refuses a NATS_URL that is not nats://host:port, saying what it takes', () => {
    const result = start({ NATS_URL: 'redis://127.0.0.1:6379' });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^NATS_URL must be nats:\/\/host:port/);
  });
});

describe.each(ENGINES.map(({ kind, label }) => [label, kind] as const))('two npm run realtime nodes on %s', (_label, kind) => {
  let engine: ThrowawayEngine;
  beforeAll(async () => {
    engine = await startThrowawayEngine(kind);
  }, 60_000);
  afterAll(async () => {
    await engine?.stop();
  });

  it('carry broadcasts from clients and from the REST API, and presence, between nodes', async () => {
    const [portA, portB] = [await startServer(engine.env), await startServer(engine.env)];
    const anon = await key({ role: 'anon' });
    const onA = channel(portA, anon, 'cluster-room', { presence: { key: 'alice' } });
    const onB = channel(portB, anon, 'cluster-room', { presence: { key: 'bob' } });
    const heardOnA: unknown[] = [];
    const heardOnB: unknown[] = [];
    onA.on('broadcast', { event: 'msg' }, ({ payload }) => heardOnA.push(payload));
    onB.on('broadcast', { event: 'msg' }, ({ payload }) => heardOnB.push(payload));
    onB.on('presence', { event: 'sync' }, () => {});
    expect(await subscribed(onA)).toBe('SUBSCRIBED');
    expect(await subscribed(onB)).toBe('SUBSCRIBED');

    // The join is answered before the node's subscription in the engine is confirmed, and a
    // broadcast nobody subscribed to yet is gone: send until one crosses.
    await eventually(async () => {
      await onA.send({ type: 'broadcast', event: 'msg', payload: { n: 1 } });
      expect(heardOnB.length).toBeGreaterThan(0);
    });
    expect(heardOnB[0]).toEqual({ n: 1 });

    // A REST broadcast to node B reaches node A's subscriber.
    const response = await fetch(`http://127.0.0.1:${portB}/realtime/v1/api/broadcast`, {
      method: 'POST',
      headers: { apikey: anon, 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ topic: 'cluster-room', event: 'msg', payload: { via: 'rest' } }] }),
    });
    expect(response.status).toBe(202);
    await eventually(() => expect(heardOnA).toContainEqual({ via: 'rest' }), 5000);

    expect(await onA.track({ name: 'Alice' })).toBe('ok');
    await eventually(() => expect(onB.presenceState()).toMatchObject({ alice: [{ name: 'Alice' }] }), 5000);
  });

  it('keep persisted broadcasts in the engine: one stored through a node is replayed by the other, with since and limit, again after a reconnect', async () => {
    const [portA, portB] = [await startServer(engine.env), await startServer(engine.env)];
    const signedIn = async (port: number, name: string, config: Record<string, unknown>): Promise<{ client: RealtimeClient; channel: RealtimeChannel }> => {
      const client = new RealtimeClient(`ws://127.0.0.1:${port}/realtime/v1`, {
        params: { apikey: await key({ role: 'anon' }) },
        transport: WebSocket as never,
      });
      clients.push(client);
      await client.setAuth(await key({ role: 'authenticated', sub: name }));
      return { client, channel: client.channel('kept-room', { config: { private: true, ...config } }) };
    };
    const { channel: writer } = await signedIn(portA, 'ada', { broadcast: { ack: true } });
    expect(await subscribed(writer)).toBe('SUBSCRIBED');
    const since = Date.now() - 1;
    for (const n of [1, 2, 3]) expect(await writer.send({ type: 'broadcast', event: 'entry', payload: { n }, persist: true })).toBe('ok');

    const { client, channel: reader } = await signedIn(portB, 'bob', { broadcast: { replay: { since, limit: 2 } } });
    const seen: Array<{ payload: unknown; replayed: unknown }> = [];
    reader.on('broadcast', { event: 'entry' }, (message) => seen.push({ payload: message.payload, replayed: message.meta?.replayed }));
    expect(await subscribed(reader)).toBe('SUBSCRIBED');
    await eventually(() => expect(seen).toHaveLength(2), 5000);
    expect(seen).toEqual([
      { payload: { n: 2 }, replayed: true },
      { payload: { n: 3 }, replayed: true },
    ]);
    await client.disconnect();
    await eventually(() => expect(reader.state).not.toBe('joined'));
    client.connect();
    await eventually(() => expect(seen).toHaveLength(4), 5000);
    expect(seen.slice(2)).toEqual(seen.slice(0, 2));
  });
});
