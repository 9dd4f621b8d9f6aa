/**
 * `maxConnectionsPerIp`: open connections of one mount per client IP, WebSocket and LongPoll
 * together. One more is refused before `connect` runs — WebSocket with HTTP 429, LongPoll with
 * `{"status":403}` (phoenix.js's LongPoll knows no 429) — and a slot is given back when a
 * connection ends or its handshake fails.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_CONNECTIONS_PER_IP } from '../../src/endpoint.ts';
import { eventually } from '@starling/test-support/eventually';
import { LongPollClient, longPollRequest } from '@starling/test-support/long-poll-client';
import { socketUrl, useFixtures, V2 } from '../support/wire-client.ts';
import { tryUpgrade } from '@starling/test-support/raw-client';

const { start, connect } = useFixtures();

describe('maxConnectionsPerIp', () => {
  it('accepts exactly the limit; one more WebSocket gets HTTP 429 without running connect', async () => {
    const fixture = await start({ socket: { maxConnectionsPerIp: 2 } });
    await connect(fixture);
    await connect(fixture);

    const refused = await tryUpgrade(socketUrl(fixture.wsUrl, '2.0.0'));

    expect(refused.status).toBe(429);
    expect(fixture.connects).toHaveLength(2);
    expect(fixture.endpoint.stats.connectionsPerIpRefused).toBe(1);
  });

  it('gives the slot back when a socket closes', async () => {
    const fixture = await start({ socket: { maxConnectionsPerIp: 1 } });
    const first = await connect(fixture);
    expect((await tryUpgrade(socketUrl(fixture.wsUrl, '2.0.0'))).status).toBe(429);

    first.close();

    await eventually(async () => expect((await tryUpgrade(socketUrl(fixture.wsUrl, '2.0.0'))).status).toBe(101));
  });

  it('gives the slot back when connect refuses the handshake', async () => {
    const fixture = await start({ socket: { maxConnectionsPerIp: 1 } });
    for (let i = 0; i < 3; i++) {
      expect((await tryUpgrade(socketUrl(fixture.wsUrl, '2.0.0', { refuse: '1' }))).status).toBe(403);
    }

    await eventually(async () => expect((await tryUpgrade(socketUrl(fixture.wsUrl, '2.0.0'))).status).toBe(101));
  });

  it('counts LongPoll sessions with WebSockets; a refused LongPoll session gets {"status":403}', async () => {
    const fixture = await start({ socket: { maxConnectionsPerIp: 1, longpoll: { windowMs: 200 } } });
    const ws = await connect(fixture, V2);

    expect((await longPollRequest(fixture.longPollUrl, { query: { vsn: '2.0.0' } })).body).toEqual({ status: 403 });

    ws.close();
    await eventually(() => expect(fixture.endpoint.connectionCount).toBe(0));
    const session = await LongPollClient.open(fixture.longPollUrl);
    expect(session.token).toEqual(expect.any(String));
    expect((await tryUpgrade(socketUrl(fixture.wsUrl, '2.0.0'))).status).toBe(429);
    expect(fixture.endpoint.stats.connectionsPerIpRefused).toBe(2);
  });

  it('gives a LongPoll slot back when its session ends', async () => {
    const fixture = await start({ socket: { maxConnectionsPerIp: 1, longpoll: { windowMs: 100 } } });
    await LongPollClient.open(fixture.longPollUrl);
    expect((await tryUpgrade(socketUrl(fixture.wsUrl, '2.0.0'))).status).toBe(429);

    // Not polled for 1.5 × windowMs, the session ends.
    await eventually(async () => expect((await tryUpgrade(socketUrl(fixture.wsUrl, '2.0.0'))).status).toBe(101), 2_000, 50);
  });

  it(`is ${DEFAULT_MAX_CONNECTIONS_PER_IP} by default: the next connection from the same address is refused with 429`, async () => {
    const fixture = await start();
    for (let i = 0; i < DEFAULT_MAX_CONNECTIONS_PER_IP; i++) await connect(fixture);

    expect((await tryUpgrade(socketUrl(fixture.wsUrl, '2.0.0'))).status).toBe(429);
    expect(fixture.endpoint.connectionCount).toBe(DEFAULT_MAX_CONNECTIONS_PER_IP);
    expect(fixture.endpoint.stats.connectionsPerIpRefused).toBe(1);
  });

  it('is off with Infinity', async () => {
    const fixture = await start({ socket: { maxConnectionsPerIp: Infinity } });
    for (let i = 0; i < DEFAULT_MAX_CONNECTIONS_PER_IP + 5; i++) await connect(fixture);

    expect(fixture.endpoint.connectionCount).toBe(DEFAULT_MAX_CONNECTIONS_PER_IP + 5);
    expect(fixture.endpoint.stats.connectionsPerIpRefused).toBe(0);
  });
});

describe('maxConnectionsPerIp behind a reverse proxy (trustedProxies)', () => {
  const opened = async (url: string, client: string): Promise<boolean> => {
    const { body } = await longPollRequest(url, { query: { vsn: '2.0.0' }, headers: { 'x-forwarded-for': client } });
    return body.status === 410 && typeof body.token === 'string';
  };

  it('counts each forwarded client on its own when the peer is a trusted proxy, and tells connect its address', async () => {
    const fixture = await start({ endpoint: { trustedProxies: ['127.0.0.1'] }, socket: { maxConnectionsPerIp: 1, longpoll: { windowMs: 5_000 } } });

    expect(await opened(fixture.longPollUrl, '203.0.113.1')).toBe(true);
    expect(await opened(fixture.longPollUrl, '203.0.113.1')).toBe(false);
    expect(await opened(fixture.longPollUrl, '203.0.113.2')).toBe(true);
    expect((await tryUpgrade(socketUrl(fixture.wsUrl, '2.0.0'), { headers: { 'x-forwarded-for': '203.0.113.3' } })).status).toBe(101);

    expect(fixture.connects.map(({ info }) => [info.peer.address, info.clientAddress])).toEqual([
      ['127.0.0.1', '203.0.113.1'],
      ['127.0.0.1', '203.0.113.2'],
      ['127.0.0.1', '203.0.113.3'],
    ]);
    expect(fixture.endpoint.stats.connectionsPerIpRefused).toBe(1);
  });

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy: every client there shares its address', async () => {
    const fixture = await start({ endpoint: { trustedProxies: ['10.0.0.0/8'] }, socket: { maxConnectionsPerIp: 1, longpoll: { windowMs: 5_000 } } });

    expect(await opened(fixture.longPollUrl, '203.0.113.1')).toBe(true);
    expect(await opened(fixture.longPollUrl, '203.0.113.2')).toBe(false);
    expect(fixture.connects.map(({ info }) => info.clientAddress)).toEqual(['127.0.0.1']);
  });

  it('throws on a malformed entry', async () => {
    await expect(start({ endpoint: { trustedProxies: '127.0.0.1,10.0.0.0/40' } })).rejects.toThrow(/"10.0.0.0\/40" is neither an IP address nor a CIDR range/);
  });
});
