/**
 * `npm run realtime` without a database, as a real process, for the unchanged supabase-js (the
 * latest 2.119.x) in Node: persisted broadcasts of private channels are kept in its PubSub's
 * history (in process here; across nodes in each engine: cluster.test.ts) and replayed to joins
 * that ask, with `since` and `limit`, over a reconnect; and a connection's limits come from the
 * environment, with Supabase's defaults and Supabase's refusals.
 */
import { spawnSync } from 'node:child_process';
import { createClient, type RealtimeChannel } from 'supabase-js-latest';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { eventually } from '@starling/test-support/eventually';
import { RawClient } from '@starling/test-support/raw-client';
import { SECRET, SERVER, key, startServer, stopServers } from './support/realtime-process.ts';

const clients: Array<{ disconnect(): Promise<unknown> }> = [];

afterEach(async () => {
  for (const client of clients.splice(0)) await client.disconnect();
  await stopServers();
});

/**
 * supabase-js on `port` with the anon key, signed in as `sub` the way an app with its own auth
 * does it: the `accessToken` option, which supabase-js hands to realtime-js (`setAuth`) at once
 * and again at every connect.
 */
async function supabase(port: number, sub: string) {
  const token = await key({ role: 'authenticated', sub });
  const client = createClient(`http://127.0.0.1:${port}`, await key({ role: 'anon' }), {
    accessToken: () => Promise.resolve(token),
    realtime: { transport: WebSocket as never },
  });
  clients.push(client.realtime);
  await client.realtime.setAuth();
  return client;
}

function subscribed(channel: RealtimeChannel): Promise<string> {
  return new Promise((resolve) =>
    channel.subscribe((status, err) => {
      if (status !== 'CLOSED') resolve(err === undefined ? status : `${status}: ${err.message}`);
    }),
  );
}

type Heard = { payload: unknown; meta?: { replayed?: boolean; id: string } };

function heard(channel: RealtimeChannel): Heard[] {
  const seen: Heard[] = [];
  channel.on('broadcast', { event: 'entry' }, (message) => seen.push({ payload: message.payload, meta: message.meta }));
  return seen;
}

describe('npm run realtime without a database: persist and replay in the history', () => {
  it('replays the newest `limit` since `since` to a private channel, before live traffic, again after a reconnect', async () => {
    const port = await startServer();
    const writer = (await supabase(port, 'ada')).channel('diary', { config: { private: true, broadcast: { ack: true } } });
    expect(await subscribed(writer)).toBe('SUBSCRIBED');
    const since = Date.now() - 1;
    for (const n of [1, 2, 3]) expect(await writer.send({ type: 'broadcast', event: 'entry', payload: { n }, persist: true })).toBe('ok');
    expect(await writer.httpSend('entry', { n: 4 }, { persist: true })).toEqual({ success: true });

    const reading = await supabase(port, 'bob');
    const reader = reading.channel('diary', { config: { private: true, broadcast: { replay: { since, limit: 3 } } } });
    const seen = heard(reader);
    expect(await subscribed(reader)).toBe('SUBSCRIBED');
    expect(await writer.send({ type: 'broadcast', event: 'entry', payload: { n: 5 } })).toBe('ok');
    await eventually(() => expect(seen).toHaveLength(4));
    expect(seen.map((message) => [message.payload, message.meta?.replayed])).toEqual([
      [{ n: 2 }, true],
      [{ n: 3 }, true],
      [{ n: 4 }, true],
      [{ n: 5 }, undefined],
    ]);

    await reading.realtime.disconnect();
    await eventually(() => expect(reader.state).not.toBe('joined'));
    reading.realtime.connect();
    await eventually(() => expect(reader.state).toBe('joined'));
    await eventually(() => expect(seen).toHaveLength(7));
    expect(seen.slice(4)).toEqual(seen.slice(0, 3));
  });
});

describe('npm run realtime: connection limits', () => {
  it("defaults to Supabase's 100 channels per connection, refusing the 101st with ChannelRateLimitReached", async () => {
    const port = await startServer();
    const raw = await RawClient.connect(`ws://127.0.0.1:${port}/realtime/v1/websocket?apikey=${await key({ role: 'anon' })}&vsn=2.0.0`);
    try {
      for (let i = 0; i < 101; i++) raw.send([`${i}`, `${i}`, `realtime:c${i}`, 'phx_join', { config: {} }]);
      for (let i = 0; i < 100; i++) expect(((await raw.reply(`${i}`))[4] as { status: string }).status).toBe('ok');
      expect((await raw.reply('100'))[4]).toEqual({
        status: 'error',
        response: { reason: 'ChannelRateLimitReached: Too many channels (at most 100 on a connection)' },
      });
    } finally {
      raw.close();
    }
  });

  it('takes REALTIME_CHANNELS_PER_CONNECTION, REALTIME_BROADCASTS_PER_SECOND and REALTIME_MAX_PAYLOAD_BYTES', async () => {
    const port = await startServer({ REALTIME_CHANNELS_PER_CONNECTION: '2', REALTIME_BROADCASTS_PER_SECOND: '3', REALTIME_MAX_PAYLOAD_BYTES: '100' });
    const client = await supabase(port, 'ada');
    const room = client.channel('room', { config: { broadcast: { ack: true } } });
    const system: unknown[] = [];
    room.on('system', {}, (payload) => system.push(payload));
    expect(await subscribed(room)).toBe('SUBSCRIBED');
    expect(await subscribed(client.channel('second'))).toBe('SUBSCRIBED');
    expect(await subscribed(client.channel('third'))).toMatch(/^CHANNEL_ERROR: ChannelRateLimitReached/);

    expect(await room.send({ type: 'broadcast', event: 'e', payload: { text: 'x'.repeat(100) } })).toBe('error'); // 1: too large
    expect(await room.send({ type: 'broadcast', event: 'e', payload: { n: 2 } })).toBe('ok');
    expect(await room.send({ type: 'broadcast', event: 'e', payload: { n: 3 } })).toBe('ok');
    void room.send({ type: 'broadcast', event: 'e', payload: { n: 4 } }); // the fourth in a second: no reply, the channel ends
    await eventually(() => expect(system).toEqual([expect.objectContaining({ status: 'error', message: 'Too many messages per second' })]));
    await eventually(() => expect(room.state).toBe('closed'));
  });

  it('refuses to start with a limit that is not a positive integer, saying which', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', SERVER], {
      env: { ...process.env, REALTIME_JWT_SECRET: SECRET, REALTIME_BROADCASTS_PER_SECOND: '0', PORT: '0' },
      encoding: 'utf8',
      timeout: 15_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/REALTIME_BROADCASTS_PER_SECOND must be a positive integer, got "0"/);
  });
});
