/**
 * CORS on the LongPoll transport (§6.7): pre-flights are answered, every answer allows any origin
 * (the origin itself is still checked, §7.1). Checklist §11 item 48.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startFixture, type Fixture } from '../../support/fixture.ts';
import { rawLongPollRequest } from '@starling/test-support/long-poll-client';

let fixture: Fixture;

afterEach(async () => {
  await fixture?.close();
});

describe('OPTIONS pre-flight (item 48)', () => {
  it('answers 200, echoing the requested headers, with methods get, post, options and max-age 3600', async () => {
    fixture = await startFixture();

    const answer = await rawLongPollRequest(fixture.longPollUrl, {
      method: 'OPTIONS',
      query: { vsn: '2.0.0' },
      headers: {
        origin: 'http://127.0.0.1',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,x-phoenix-authtoken',
      },
    });

    expect(answer.httpStatus).toBe(200);
    expect(answer.headers.get('access-control-allow-headers')).toBe('content-type,x-phoenix-authtoken');
    expect(answer.headers.get('access-control-allow-methods')).toBe('get, post, options');
    expect(answer.headers.get('access-control-max-age')).toBe('3600');
    expect(answer.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('echoes whatever headers are requested', async () => {
    fixture = await startFixture();

    const answer = await rawLongPollRequest(fixture.longPollUrl, {
      method: 'OPTIONS',
      headers: { 'access-control-request-headers': 'x-phoenix-longpoll-token' },
    });

    expect(answer.httpStatus).toBe(200);
    expect(answer.headers.get('access-control-allow-headers')).toBe('x-phoenix-longpoll-token');
  });

  it('opens no session', async () => {
    fixture = await startFixture();

    await rawLongPollRequest(fixture.longPollUrl, { method: 'OPTIONS', query: { vsn: '2.0.0' } });

    expect(fixture.connects).toEqual([]);
    expect(fixture.endpoint.connectionCount).toBe(0);
  });
});
