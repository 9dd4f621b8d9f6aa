/**
 * The limits that protect an endpoint with no configuration at all: a per-IP connection cap for
 * both transports (one address cannot hold every slot; another address is unaffected), a cap on
 * open LongPoll sessions (every GET without a token opens one), a LongPoll body limit equal to the
 * WebSocket frame limit, and a refused short `secretKeyBase`.
 */
import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { Endpoint } from '../../src/endpoint.ts';
import { DEFAULT_MAX_CONNECTIONS_PER_IP, MIN_SECRET_KEY_BASE_LENGTH } from '../../src/endpoint.ts';
import { longPollRequest, rawLongPollRequest } from '@starling/test-support/long-poll-client';
import { useFixtures } from '../support/wire-client.ts';

const { start } = useFixtures();

/** A LongPoll GET without a session token from `localAddress` (another loopback address is another client IP). */
function openSessionFrom(longPollUrl: string, localAddress: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${longPollUrl}?vsn=2.0.0`, { localAddress }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve((JSON.parse(text) as { status: number }).status));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('an endpoint with default options', () => {
  it(`bounds one IP address to ${DEFAULT_MAX_CONNECTIONS_PER_IP} LongPoll sessions while another address still opens one`, async () => {
    const fixture = await start();
    const statuses: number[] = [];
    for (let i = 0; i < DEFAULT_MAX_CONNECTIONS_PER_IP + 20; i++) statuses.push(await openSessionFrom(fixture.longPollUrl, '127.0.0.1'));

    expect(statuses.filter((status) => status === 410)).toHaveLength(DEFAULT_MAX_CONNECTIONS_PER_IP);
    expect(statuses.filter((status) => status === 403)).toHaveLength(20);
    expect(fixture.endpoint.connectionCount).toBe(DEFAULT_MAX_CONNECTIONS_PER_IP);
    expect(await openSessionFrom(fixture.longPollUrl, '127.0.0.2')).toBe(410);
    expect(fixture.endpoint.connectionCount).toBe(DEFAULT_MAX_CONNECTIONS_PER_IP + 1);
  });

  it('bounds the LongPoll sessions of a mount, all addresses together (longpoll.maxSessions), counting each refusal', async () => {
    const fixture = await start({ socket: { longpoll: { maxSessions: 3 } } });
    for (let i = 0; i < 3; i++) expect((await longPollRequest(fixture.longPollUrl, { query: { vsn: '2.0.0' } })).body.status).toBe(410);

    expect((await longPollRequest(fixture.longPollUrl, { query: { vsn: '2.0.0' } })).body.status).toBe(403);
    expect(await openSessionFrom(fixture.longPollUrl, '127.0.0.2')).toBe(403);
    expect(fixture.endpoint.connectionCount).toBe(3);
    expect(fixture.endpoint.stats.longpollSessionsRefused).toBe(2);
  });

  it('refuses a LongPoll POST body over 1 MiB (the WebSocket frame limit) with HTTP 413', async () => {
    const fixture = await start();
    const opened = await longPollRequest(fixture.longPollUrl, { query: { vsn: '2.0.0' } });
    const token = String(opened.body.token);

    const answer = await rawLongPollRequest(fixture.longPollUrl, {
      method: 'POST',
      query: { vsn: '2.0.0', token },
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([null, '1', 'phoenix', 'heartbeat', { pad: 'x'.repeat(1024 * 1024) }]),
    });

    expect(answer.httpStatus).toBe(413);
  });

  it(`refuses a secretKeyBase shorter than ${MIN_SECRET_KEY_BASE_LENGTH} characters`, () => {
    expect(() => new Endpoint({ secretKeyBase: 's'.repeat(MIN_SECRET_KEY_BASE_LENGTH - 1) })).toThrow(/secretKeyBase must be at least 64 characters/);
    expect(() => new Endpoint({ secretKeyBase: '' })).toThrow(/at least 64/);
    expect(new Endpoint({ secretKeyBase: 's'.repeat(MIN_SECRET_KEY_BASE_LENGTH) }).tokens.sign('salt', 'data')).toMatch(/^SFMyNTY\./);
  });

  it('refuses a url that is not an http(s) URL', () => {
    expect(() => new Endpoint({ url: 'chat.example.com' })).toThrow(/url must be an absolute URL/);
    expect(() => new Endpoint({ url: 'ftp://chat.example.com' })).toThrow(/http/);
  });
});
