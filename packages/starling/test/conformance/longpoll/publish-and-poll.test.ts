/**
 * Publishing (POST) and polling (GET) on a LongPoll session (§6.4, §6.5). Checklist §11 items 41,
 * 42, 45 and 46, plus the LongPoll half of item 34 (no binary frames in a LongPoll buffer).
 *
 * Frames use join_ref ≠ ref on purpose, so that a server echoing the wrong field is caught.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RawClient } from '@starling/test-support/raw-client';
import { startFixture, type Fixture } from '../../support/fixture.ts';
import { LongPollClient, longPollRequest } from '@starling/test-support/long-poll-client';

const WINDOW_MS = 300;
let fixture: Fixture;
const rawClients: RawClient[] = [];

async function start(windowMs = WINDOW_MS): Promise<Fixture> {
  fixture = await startFixture({ socket: { longpoll: { windowMs } } });
  return fixture;
}

afterEach(async () => {
  for (const client of rawClients.splice(0)) client.close();
  await fixture?.close();
});

const okReply = (joinRef: string | null, ref: string, topic: string, response: unknown = {}): unknown[] => [
  joinRef,
  ref,
  topic,
  'phx_reply',
  { status: 'ok', response },
];

describe('POST then GET (item 41)', () => {
  it('accepts two ndjson joins with {"status":200}; the next GET delivers both replies, as JSON strings, in order', async () => {
    const { longPollUrl } = await start();
    const client = await LongPollClient.open(longPollUrl);

    const published = await client.post([
      ['j1', 'r1', 'test:one', 'phx_join', {}],
      ['j2', 'r2', 'test:two', 'phx_join', { reply: { x: 1 } }],
    ]);
    const polled = await client.poll();

    expect(published.body).toEqual({ status: 200 });
    expect(polled.body).toEqual({
      status: 200,
      token: client.token,
      messages: [JSON.stringify(okReply('j1', 'r1', 'test:one')), JSON.stringify(okReply('j2', 'r2', 'test:two', { x: 1 }))],
    });
  });

  it('answers {"status":200} even when the frame itself is refused; the refusal arrives as a reply frame', async () => {
    const { longPollUrl } = await start();
    const client = await LongPollClient.open(longPollUrl);

    const refusedJoin = await client.post([['j1', 'r1', 'test:no', 'phx_join', { refuse: true }]]);
    const refusedReply = await client.reply('r1');
    const unmatched = await client.post([[null, 'r2', 'nowhere:at-all', 'phx_join', {}]]);
    const unmatchedReply = await client.reply('r2');

    expect(refusedJoin.body).toEqual({ status: 200 });
    expect(refusedReply).toEqual(['j1', 'r1', 'test:no', 'phx_reply', { status: 'error', response: { reason: 'unauthorized' } }]);
    expect(unmatched.body).toEqual({ status: 200 });
    expect(unmatchedReply).toEqual([null, 'r2', 'nowhere:at-all', 'phx_reply', { status: 'error', response: { reason: 'unmatched topic' } }]);
  });

  it('handles events posted with a join in the same request after that join', async () => {
    const { longPollUrl } = await start();
    const client = await LongPollClient.open(longPollUrl);

    await client.post([
      ['j1', 'r1', 'test:seq', 'phx_join', {}],
      ['j1', 'r2', 'test:seq', 'echo', { n: 1 }],
      [null, 'r3', 'phoenix', 'heartbeat', {}],
    ]);

    expect(await client.reply('r1')).toEqual(okReply('j1', 'r1', 'test:seq'));
    expect(await client.reply('r2')).toEqual(okReply('j1', 'r2', 'test:seq', { n: 1 }));
    expect(await client.reply('r3')).toEqual(okReply(null, 'r3', 'phoenix'));
  });

  it('delivers channel pushes and replies as the same V2 frames a WebSocket gets', async () => {
    const { longPollUrl } = await start();
    const client = await LongPollClient.open(longPollUrl);
    await client.post([['j1', 'r1', 'test:push', 'phx_join', {}]]);
    await client.reply('r1');

    await client.post([['j1', 'r2', 'test:push', 'push', { event: 'hello', payload: { a: 1 } }]]);

    expect(await client.next((f) => f[3] === 'hello')).toEqual(['j1', null, 'test:push', 'hello', { a: 1 }]);
  });

  it('speaks V1 objects to a session opened without vsn (missing vsn means 1.0.0)', async () => {
    const { longPollUrl } = await start();
    const client = await LongPollClient.open(longPollUrl, {});

    // V1 frames are objects, so they travel one per POST as application/json: an ndjson line
    // that does not start with "[" is base64 of a binary frame (§6.5).
    await client.postBody(JSON.stringify({ topic: 'test:v1', event: 'phx_join', payload: {}, ref: '1', join_ref: '1' }), 'application/json');
    const polled = await client.poll();

    expect(polled.body.messages?.map((m) => JSON.parse(m))).toEqual([
      { topic: 'test:v1', event: 'phx_reply', payload: { status: 'ok', response: {} }, ref: '1' },
    ]);
  });
});

describe('the held poll (item 42)', () => {
  it('holds a GET with nothing buffered for window_ms, then answers {"status":204,"token":…,"messages":[]}', async () => {
    const { longPollUrl } = await start();
    const client = await LongPollClient.open(longPollUrl);

    const started = Date.now();
    const polled = await client.poll();
    const elapsed = Date.now() - started;

    expect(polled.body).toEqual({ status: 204, token: client.token, messages: [] });
    expect(elapsed).toBeGreaterThanOrEqual(WINDOW_MS - 20);
    expect(elapsed).toBeLessThan(WINDOW_MS + 1000);
  });

  it('answers a held GET at once with status 200 when a broadcast arrives during the wait', async () => {
    const { longPollUrl, endpoint, handled } = await start(5000);
    const client = await LongPollClient.open(longPollUrl);
    await client.post([['j1', 'r1', 'test:wait', 'phx_join', {}]]);
    await client.poll();

    const started = Date.now();
    const getHeld = handled('GET');
    const held = client.poll();
    await getHeld;
    endpoint.broadcast('test:wait', 'news', { n: 1 });
    const polled = await held;

    expect(Date.now() - started).toBeLessThan(2000);
    expect(polled.body).toEqual({
      status: 200,
      token: client.token,
      messages: [JSON.stringify([null, null, 'test:wait', 'news', { n: 1 }])],
    });
  });

  it('hands frames to the newest poll when a second poll arrives; the older one ends with 204', async () => {
    const { longPollUrl, endpoint, handled } = await start(5000);
    const client = await LongPollClient.open(longPollUrl);
    await client.post([['j1', 'r1', 'test:twice', 'phx_join', {}]]);
    await client.poll();

    const olderHeld = handled('GET');
    const older = client.poll();
    await olderHeld; // the older poll is held before the newer one arrives
    const newer = client.poll();
    const olderAnswer = await older;
    endpoint.broadcast('test:twice', 'news', { n: 2 });
    const newerAnswer = await newer;

    expect(olderAnswer.body).toEqual({ status: 204, token: client.token, messages: [] });
    expect(newerAnswer.body).toEqual({ status: 200, token: client.token, messages: [JSON.stringify([null, null, 'test:twice', 'news', { n: 2 }])] });
  });

  it('answers at once when frames are already buffered', async () => {
    const { longPollUrl, endpoint } = await start(5000);
    const client = await LongPollClient.open(longPollUrl);
    await client.post([['j1', 'r1', 'test:buffered', 'phx_join', {}]]);
    await client.poll();
    endpoint.broadcast('test:buffered', 'one', {});
    endpoint.broadcast('test:buffered', 'two', {});

    const started = Date.now();
    const polled = await client.poll();

    expect(Date.now() - started).toBeLessThan(1000);
    expect(polled.body.messages?.map((m) => (JSON.parse(m) as unknown[])[3])).toEqual(['one', 'two']);
  });
});

describe('what one POST may carry (item 45)', () => {
  it('processes exactly the first 100 lines of a 101-line ndjson POST', async () => {
    const { longPollUrl, calls } = await start();
    const client = await LongPollClient.open(longPollUrl);
    await client.post([['j1', 'r0', 'test:many', 'phx_join', {}]]);
    await client.reply('r0');
    const frames = Array.from({ length: 101 }, (_, i) => ['j1', `r${i + 1}`, 'test:many', 'echo', { i: i + 1 }]);

    const published = await client.post(frames);
    await client.reply('r100');
    // A later POST's heartbeat answered: the session has handled whatever it had before it.
    await client.post([[null, 'h1', 'phoenix', 'heartbeat', {}]]);
    await client.reply('h1');
    await client.poll();

    expect(published.body).toEqual({ status: 200 });
    const handled = calls.filter((c) => c.callback === 'handleIn').map((c) => (c.payload as { i: number }).i);
    expect(handled).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(client.frames.some((f) => (f as unknown[])[1] === 'r101')).toBe(false);
  });

  it('decodes a line that does not start with "[" as base64 of a V2 binary frame', async () => {
    const { longPollUrl, calls } = await start();
    const client = await LongPollClient.open(longPollUrl);
    await client.post([['12', '12', 'test:bin', 'phx_join', {}]]);
    await client.reply('12');
    // kind 0 (push) | join_ref len 2 | ref len 2 | topic len 8 | event len 7 | "12" "13" "test:bin" "noreply" | payload 09 08 07
    const push = Buffer.concat([Buffer.from([0x00, 2, 2, 8, 7]), Buffer.from('1213test:binnoreply', 'utf8'), Buffer.from([9, 8, 7])]);

    const published = await client.postBody(push.toString('base64'), 'application/x-ndjson');

    expect(published.body).toEqual({ status: 200 });
    const call = calls.find((c) => c.callback === 'handleIn');
    expect(call?.event).toBe('noreply');
    expect(Buffer.from((call?.payload as { binary: Uint8Array }).binary)).toEqual(Buffer.from([9, 8, 7]));
  });

  it('ignores empty lines and accepts \\r\\n line ends', async () => {
    const { longPollUrl } = await start();
    const client = await LongPollClient.open(longPollUrl);
    const body = `${JSON.stringify(['j1', 'r1', 'test:crlf', 'phx_join', {}])}\r\n\r\n${JSON.stringify(['j1', 'r2', 'test:crlf', 'echo', { ok: 1 }])}\r\n`;

    const published = await client.postBody(body, 'application/x-ndjson');

    expect(published.body).toEqual({ status: 200 });
    expect(await client.reply('r2')).toEqual(okReply('j1', 'r2', 'test:crlf', { ok: 1 }));
  });

  it('takes a body of any other content type as one frame, even when it spans several lines', async () => {
    const { longPollUrl } = await start();
    const client = await LongPollClient.open(longPollUrl);
    const body = '["j1", "r1",\n "test:json", "phx_join",\n {}]';

    const published = await client.postBody(body, 'application/json');

    expect(published.body).toEqual({ status: 200 });
    expect(await client.reply('r1')).toEqual(okReply('j1', 'r1', 'test:json'));
  });

  it('takes a V1 object posted as application/json as one frame (phoenix.js 1.6 style)', async () => {
    const { longPollUrl } = await start();
    const client = await LongPollClient.open(longPollUrl, { vsn: '1.0.0' });

    const published = await client.postBody(JSON.stringify({ topic: 'test:v1', event: 'phx_join', payload: {}, ref: '7' }), 'application/json');
    const polled = await client.poll();

    expect(published.body).toEqual({ status: 200 });
    expect(polled.body.messages?.map((m) => JSON.parse(m))).toEqual([
      { topic: 'test:v1', event: 'phx_reply', payload: { status: 'ok', response: {} }, ref: '7' },
    ]);
  });
});

describe('a POST that cannot be processed in time (item 46)', () => {
  it('answers {"status":408} when a frame waits behind a join for longer than window_ms', async () => {
    const { longPollUrl } = await start();
    const client = await LongPollClient.open(longPollUrl);
    await client.post([['j1', 'r1', 'test:slow', 'phx_join', { delayMs: WINDOW_MS * 3 }]]);
    // A held poll keeps the session from expiring (1.5 × window_ms without a poll) meanwhile.
    const keepAlive = client.poll();

    const started = Date.now();
    const published = await client.post([['j1', 'r2', 'test:slow', 'echo', {}]]);
    await keepAlive;

    expect(published.body).toEqual({ status: 408 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(WINDOW_MS - 20);
  });

  it('answers {"status":200} when the join it waits for is decided within window_ms', async () => {
    const { longPollUrl } = await start();
    const client = await LongPollClient.open(longPollUrl);
    await client.post([['j1', 'r1', 'test:quick', 'phx_join', { delayMs: WINDOW_MS / 3 }]]);

    const published = await client.post([['j1', 'r2', 'test:quick', 'echo', { after: 'join' }]]);

    expect(published.body).toEqual({ status: 200 });
    expect(await client.reply('r1')).toEqual(okReply('j1', 'r1', 'test:quick'));
    expect(await client.reply('r2')).toEqual(okReply('j1', 'r2', 'test:quick', { after: 'join' }));
  });
});

describe('binary broadcasts (item 34, LongPoll half)', () => {
  it('are not put in a LongPoll buffer, while text broadcasts after them still arrive', async () => {
    const { longPollUrl, wsUrl } = await start();
    const client = await LongPollClient.open(longPollUrl);
    await client.post([['j1', 'r1', 'test:mixed', 'phx_join', {}]]);
    await client.reply('r1');
    const ws = await RawClient.connect(`${wsUrl}?vsn=2.0.0`);
    rawClients.push(ws);
    ws.send(['w1', 'w1', 'test:mixed', 'phx_join', {}]);
    await ws.reply('w1');

    ws.send(['w1', 'w2', 'test:mixed', 'binary_broadcast', {}]);
    await ws.next((f) => f.binary);
    ws.send(['w1', 'w3', 'test:mixed', 'broadcast', { event: 'text', payload: { after: 'binary' } }]);

    expect(await client.next((f) => f[3] === 'text')).toEqual([null, null, 'test:mixed', 'text', { after: 'binary' }]);
    expect(client.frames.filter((f) => (f as unknown[])[3] === 'bin')).toEqual([]);
    expect((await ws.reply('w3'))[4]).toEqual({ status: 'ok', response: {} });
  });
});

describe('a POST to an ended session', () => {
  it('answers {"status":410} once the fixture ended every session', async () => {
    const { longPollUrl } = await start();
    const client = await LongPollClient.open(longPollUrl);
    const url = new URL(longPollUrl);

    await fixture.close();
    fixture = await startFixture({ port: Number(url.port), socket: { longpoll: { windowMs: WINDOW_MS } } });
    const answer = await longPollRequest(longPollUrl, {
      method: 'POST',
      query: { vsn: '2.0.0', token: client.token },
      headers: { 'content-type': 'application/x-ndjson' },
      body: JSON.stringify(['1', '1', 'test:gone', 'phx_join', {}]),
    });

    expect(answer.body).toEqual({ status: 410 });
  });
});
