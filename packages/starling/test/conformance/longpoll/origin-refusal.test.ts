/**
 * A refused origin, as an operator and a browser meet it: the log line names the origin that came
 * and the one expected (WebSocket and LongPoll), and a LongPoll client whose publishes are refused
 * for their origin — the same-origin page behind a proxy whose `url` was not set, whose GETs carry
 * no `Origin` — is told to back off instead of opening a new session at every retry.
 */
import { describe, expect, it } from 'vitest';
import { Endpoint, Socket, ok, type LogFields, type Logger } from '../../../src/index.ts';
import { envelopeOf, rawLongPollRequest } from '@starling/test-support/long-poll-client';
import { tryUpgrade } from '@starling/test-support/raw-client';

/** A logger that keeps what it was told. */
function recordingLogger(): Logger & { lines: Array<{ level: string; fields: LogFields; message: string }> } {
  const lines: Array<{ level: string; fields: LogFields; message: string }> = [];
  const at = (level: string) => (fields: LogFields, message: string) => void lines.push({ level, fields, message });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

async function start(): Promise<{ endpoint: Endpoint; base: string; logger: ReturnType<typeof recordingLogger> }> {
  const logger = recordingLogger();
  const endpoint = new Endpoint({ logger, url: 'https://chat.example.com' });
  endpoint.socket('/socket', new Socket().channel('rooms:*', { join: () => ok() }));
  const server = await endpoint.listen({ port: 0, host: '127.0.0.1' });
  const { port } = server.address() as { port: number };
  return { endpoint, base: `127.0.0.1:${port}/socket`, logger };
}

describe('a refused origin', () => {
  it('is logged at warn with the origin seen and the origin expected, over WebSocket and LongPoll', async () => {
    const { endpoint, base, logger } = await start();
    try {
      const refused = await tryUpgrade(`ws://${base}/websocket?vsn=2.0.0`, { headers: { origin: 'http://127.0.0.1:4000' } });
      expect(refused.status).toBe(403);
      const poll = envelopeOf(await rawLongPollRequest(`http://${base}/longpoll`, { query: { vsn: '2.0.0' }, headers: { origin: 'http://127.0.0.1:4000' } }));
      expect(poll.body.status).toBe(403);
      const origin = logger.lines.filter((line) => line.fields.reason === 'origin');
      expect(origin.map((line) => [line.level, line.fields.transport, line.fields.origin, line.fields.expected])).toEqual([
        ['warn', 'websocket', 'http://127.0.0.1:4000', 'https://chat.example.com'],
        ['warn', 'longpoll', 'http://127.0.0.1:4000', 'https://chat.example.com'],
      ]);
    } finally {
      await endpoint.close({ intervalMs: 0 });
    }
  });

  it('makes a LongPoll browser back off: after a refused publish, a session is not opened for its next Origin-less poll', async () => {
    const { endpoint, base } = await start();
    const url = `http://${base}/longpoll`;
    try {
      // A same-origin GET has no Origin: the session opens.
      const opened = envelopeOf(await rawLongPollRequest(url, { query: { vsn: '2.0.0' } }));
      expect(opened.body.status).toBe(410);
      const token = (opened.body as { token: string }).token;
      // Its publish carries the page's Origin, which the endpoint does not expect.
      const publish = await rawLongPollRequest(url, {
        method: 'POST',
        query: { vsn: '2.0.0', token },
        headers: { origin: 'http://127.0.0.1:4000', 'content-type': 'application/x-ndjson' },
        body: JSON.stringify(['1', '1', 'rooms:lobby', 'phx_join', {}]),
      });
      expect(envelopeOf(publish).body.status).toBe(403);
      const cookie = publish.headers.get('set-cookie') ?? '';
      expect(cookie).toMatch(/^starling_origin_refused=1; Path=\/socket\/longpoll; Max-Age=30; HttpOnly; SameSite=Strict$/);

      // The browser's next poll sends the cookie back, without Origin: refused, so phoenix.js backs off.
      const again = envelopeOf(await rawLongPollRequest(url, { query: { vsn: '2.0.0' }, headers: { cookie: cookie.split(';')[0]! } }));
      expect(again.body.status).toBe(403);
      // Another browser, without the cookie, is not affected.
      expect(envelopeOf(await rawLongPollRequest(url, { query: { vsn: '2.0.0' } })).body.status).toBe(410);
    } finally {
      await endpoint.close({ intervalMs: 0 });
    }
  });
});
