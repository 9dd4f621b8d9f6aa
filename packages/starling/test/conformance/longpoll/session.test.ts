/**
 * LongPoll sessions over plain HTTP (§6.2, §6.3, §6.6, §1.1): opening a session, refusals, and
 * where the session token may travel. Checklist §11 items 39, 40, 43 and 44.
 *
 * Every envelope answer goes through `longPollRequest`, which fails the test unless the answer is
 * HTTP 200 with `cache-control: no-store`, `access-control-allow-origin: *` and a JSON body.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startFixture, type Fixture } from '../../support/fixture.ts';
import { LongPollClient, longPollRequest, ndjson, rawLongPollRequest } from '@starling/test-support/long-poll-client';

let fixture: Fixture;

async function start(): Promise<Fixture> {
  fixture = await startFixture({ socket: { longpoll: { windowMs: 300 } } });
  return fixture;
}

afterEach(async () => {
  await fixture?.close();
});

describe('opening a LongPoll session', () => {
  it('answers a GET without token with status 410, a new token and no messages (item 39)', async () => {
    const { longPollUrl } = await start();

    const answer = await longPollRequest(longPollUrl, { query: { vsn: '2.0.0' } });

    expect(answer.body).toEqual({ status: 410, token: expect.any(String), messages: [] });
    expect(answer.body.token).not.toBe('');
  });

  it('gives each new session its own token', async () => {
    const { longPollUrl } = await start();

    const first = await LongPollClient.open(longPollUrl);
    const second = await LongPollClient.open(longPollUrl);

    expect(first.token).not.toBe(second.token);
  });

  it('runs the app connect with the query params, like phoenix.js sends them (trailing & included)', async () => {
    const { longPollUrl, connects } = await start();

    const answer = await longPollRequest(`${longPollUrl}?user%5Bid%5D=1&user_id=9&vsn=2.0.0&`);

    expect(answer.body.status).toBe(410);
    expect(connects).toHaveLength(1);
    expect(connects[0]!.params).toEqual({ user: { id: '1' }, user_id: '9' });
    expect(connects[0]!.info.transport).toBe('longpoll');
  });

  it('hands the X-Phoenix-AuthToken header to connect as the auth token', async () => {
    const { longPollUrl, connects } = await start();

    await longPollRequest(longPollUrl, { query: { vsn: '2.0.0' }, headers: { 'x-phoenix-authtoken': 'secret-123' } });

    expect(connects[0]!.info.authToken).toBe('secret-123');
  });
});

describe('refusing a LongPoll session (item 40)', () => {
  it('answers {"status":403} when connect refuses', async () => {
    const { longPollUrl, connects } = await start();

    const answer = await longPollRequest(longPollUrl, { query: { refuse: '1', vsn: '2.0.0' } });

    expect(answer.body).toEqual({ status: 403 });
    expect(connects).toHaveLength(0);
  });

  it('answers {"status":403} when connect refuses with another status (phoenix.js knows no other poll status)', async () => {
    const { longPollUrl } = await start();

    const answer = await longPollRequest(longPollUrl, { query: { refuse: '1', status: '429', vsn: '2.0.0' } });

    expect(answer.body).toEqual({ status: 403 });
  });

  it('answers {"status":403} to a browser origin the configuration does not allow', async () => {
    const { longPollUrl, connects } = await start();

    const answer = await longPollRequest(longPollUrl, { query: { vsn: '2.0.0' }, headers: { origin: 'http://evil.example' } });

    expect(answer.body).toEqual({ status: 403 });
    expect(connects).toHaveLength(0);
  });

  it('opens a session for an allowed origin (same scheme, host and port)', async () => {
    const { longPollUrl } = await start();

    const answer = await longPollRequest(longPollUrl, { query: { vsn: '2.0.0' }, headers: { origin: new URL(longPollUrl).origin } });

    expect(answer.body.status).toBe(410);
  });

  it('answers {"status":403} to a POST from a refused origin, even with a valid token', async () => {
    const { longPollUrl } = await start();
    const client = await LongPollClient.open(longPollUrl);

    const answer = await longPollRequest(longPollUrl, {
      method: 'POST',
      query: { vsn: '2.0.0', token: client.token },
      headers: { origin: 'http://evil.example', 'content-type': 'application/x-ndjson' },
      body: ndjson([['1', '1', 'test:origin', 'phx_join', {}]]),
    });

    expect(answer.body).toEqual({ status: 403 });
  });

  it.each(['9.9.9', '3.0.0', '2.1.0', 'abc'])('answers {"status":403} to vsn=%s', async (vsn) => {
    const { longPollUrl, connects } = await start();

    const answer = await longPollRequest(longPollUrl, { query: { vsn } });

    expect(answer.body).toEqual({ status: 403 });
    expect(connects).toHaveLength(0);
  });

  it('opens a session for vsn 2.0.7 (semver ~> 2.0.0)', async () => {
    const { longPollUrl } = await start();

    const answer = await longPollRequest(longPollUrl, { query: { vsn: '2.0.7' } });

    expect(answer.body.status).toBe(410);
  });
});

describe('unknown or forged tokens (item 43)', () => {
  it('answers a POST with a forged token {"status":410} and handles none of its frames', async () => {
    const { longPollUrl, calls } = await start();

    const answer = await longPollRequest(longPollUrl, {
      method: 'POST',
      query: { vsn: '2.0.0', token: 'SFMyNTY.forged.token' },
      headers: { 'content-type': 'application/x-ndjson' },
      body: ndjson([['1', '1', 'test:forged', 'phx_join', {}]]),
    });

    expect(answer.body).toEqual({ status: 410 });
    expect(calls).toEqual([]);
  });

  it('answers a GET with a forged token by creating a new session: {"status":410} with a new token', async () => {
    const { longPollUrl, connects } = await start();

    const answer = await longPollRequest(longPollUrl, { query: { vsn: '2.0.0', token: 'SFMyNTY.forged.token' } });

    expect(answer.body).toEqual({ status: 410, token: expect.any(String), messages: [] });
    expect(answer.body.token).not.toBe('SFMyNTY.forged.token');
    expect(connects).toHaveLength(1);
  });

  it('serves the session of the new token returned for a forged one', async () => {
    const { longPollUrl } = await start();
    const created = await longPollRequest(longPollUrl, { query: { vsn: '2.0.0', token: 'forged' } });
    const token = created.body.token!;

    const published = await longPollRequest(longPollUrl, {
      method: 'POST',
      query: { vsn: '2.0.0', token },
      headers: { 'content-type': 'application/x-ndjson' },
      body: ndjson([['1', '2', 'test:new', 'phx_join', {}]]),
    });
    const polled = await longPollRequest(longPollUrl, { query: { vsn: '2.0.0', token } });

    expect(published.body).toEqual({ status: 200 });
    expect(polled.body).toEqual({
      status: 200,
      token,
      messages: [JSON.stringify(['1', '2', 'test:new', 'phx_reply', { status: 'ok', response: {} }])],
    });
  });

  it('rejects a token signed for another session store (a token from another server)', async () => {
    const { longPollUrl: otherUrl } = await start();
    const foreign = await LongPollClient.open(otherUrl);
    await fixture.close();
    const { longPollUrl } = await start();

    const answer = await longPollRequest(longPollUrl, {
      method: 'POST',
      query: { vsn: '2.0.0', token: foreign.token },
      headers: { 'content-type': 'application/x-ndjson' },
      body: ndjson([['1', '1', 'test:x', 'phx_join', {}]]),
    });

    expect(answer.body).toEqual({ status: 410 });
  });
});

describe('where the session token travels (item 44)', () => {
  it('accepts the token in the X-Phoenix-Longpoll-Token header alone, for POST and GET', async () => {
    const { longPollUrl } = await start();
    const { token } = await LongPollClient.open(longPollUrl);
    const headers = { 'x-phoenix-longpoll-token': token };

    const published = await longPollRequest(longPollUrl, {
      method: 'POST',
      query: { vsn: '2.0.0' },
      headers: { ...headers, 'content-type': 'application/x-ndjson' },
      body: ndjson([['3', '4', 'test:header', 'phx_join', {}]]),
    });
    const polled = await longPollRequest(longPollUrl, { query: { vsn: '2.0.0' }, headers });

    expect(published.body).toEqual({ status: 200 });
    expect(polled.body).toEqual({
      status: 200,
      token,
      messages: [JSON.stringify(['3', '4', 'test:header', 'phx_reply', { status: 'ok', response: {} }])],
    });
  });

  it('prefers the header over a stale token query param', async () => {
    const { longPollUrl } = await start();
    const stale = await LongPollClient.open(longPollUrl);
    const current = await LongPollClient.open(longPollUrl);
    const query = { vsn: '2.0.0', token: stale.token };
    const headers = { 'x-phoenix-longpoll-token': current.token };

    await longPollRequest(longPollUrl, {
      method: 'POST',
      query,
      headers: { ...headers, 'content-type': 'application/x-ndjson' },
      body: ndjson([['5', '5', 'test:which', 'phx_join', {}]]),
    });
    const polled = await longPollRequest(longPollUrl, { query, headers });
    const staleSession = await stale.poll();

    expect(polled.body.token).toBe(current.token);
    expect(polled.body.messages).toEqual([JSON.stringify(['5', '5', 'test:which', 'phx_reply', { status: 'ok', response: {} }])]);
    expect(staleSession.body).toEqual({ status: 204, token: stale.token, messages: [] });
  });

  it('prefers the header over a forged token query param', async () => {
    const { longPollUrl, connects } = await start();
    const { token } = await LongPollClient.open(longPollUrl);

    const polled = await longPollRequest(longPollUrl, {
      query: { vsn: '2.0.0', token: 'forged' },
      headers: { 'x-phoenix-longpoll-token': token },
    });

    expect(polled.body).toEqual({ status: 204, token, messages: [] });
    expect(connects).toHaveLength(1);
  });
});

describe('methods (§1.1)', () => {
  it.each(['PUT', 'DELETE', 'PATCH'])('answers %s with HTTP 400 and an empty body', async (method) => {
    const { longPollUrl } = await start();

    const answer = await rawLongPollRequest(longPollUrl, { method, query: { vsn: '2.0.0' } });

    expect(answer.httpStatus).toBe(400);
    expect(answer.text).toBe('');
  });
});
