/**
 * The chat's `GET /metrics`: the endpoint's metrics in the Prometheus text format, with Node's
 * process metrics.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RawClient } from '@starling/test-support/raw-client';
import { useChats } from '../support/chat.ts';

/** The value of one sample in Prometheus text, or undefined when the series is absent. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const series = labels === '' ? name : `${name}{${labels}}`;
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const clients: RawClient[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});

describe('the chat', () => {
  const chats = useChats();

  it('serves GET /metrics in the Prometheus text format with process metrics', async () => {
    const chat = await chats.start();
    const client = await RawClient.connect(`${chat.socketUrl}/websocket?vsn=2.0.0`);
    clients.push(client);

    const response = await fetch(`${chat.baseUrl}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    expect(sample(text, 'starling_sockets')).toBe(1);
    expect(text).toContain('# TYPE starling_errors_total counter');
    expect(sample(text, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(text).toContain('nodejs_eventloop_lag_seconds');
  });
});
