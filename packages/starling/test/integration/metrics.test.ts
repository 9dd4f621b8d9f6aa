/**
 * `createMetrics` against a live endpoint: traffic, limits and faults driven over raw WebSockets
 * show up in the scraped Prometheus text with the values the endpoint counted.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics, type Metrics } from '../../src/metrics/index.ts';
import { startFixture, type Fixture } from '../support/fixture.ts';
import { RawClient } from '@starling/test-support/raw-client';

/** The value of one sample in Prometheus text, or undefined when the series is absent. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const series = labels === '' ? name : `${name}{${labels}}`;
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const fixtures: Fixture[] = [];
const clients: RawClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(fixtures.splice(0).map((fixture) => fixture.close()));
});

async function connect(fixture: Fixture): Promise<RawClient> {
  const client = await RawClient.connect(`${fixture.wsUrl}?vsn=2.0.0`);
  clients.push(client);
  return client;
}

async function join(client: RawClient, topic: string): Promise<void> {
  client.send(['1', '1', topic, 'phx_join', {}]);
  expect((await client.reply('1'))[4]).toMatchObject({ status: 'ok' });
}

describe('createMetrics', () => {
  let fixture: Fixture;
  let metrics: Metrics;

  async function start(): Promise<void> {
    fixture = await startFixture({ socket: { maxConnectionsPerIp: 3, rateLimit: { messagesPerSecond: 1, burst: 10, closeAfterMs: 60_000 } } });
    fixtures.push(fixture);
    metrics = createMetrics(fixture.endpoint);
  }

  it('publishes sockets, joined channels, traffic and broadcasts as the endpoint counts them', async () => {
    await start();
    const before = await metrics.render();
    expect(sample(before, 'starling_sockets')).toBe(0);
    expect(sample(before, 'starling_messages_in_total')).toBe(0);

    const a = await connect(fixture);
    const b = await connect(fixture);
    await join(a, 'test:room');
    await join(b, 'test:room');
    await join(b, 'test:other');
    a.send(['1', '2', 'test:room', 'broadcast', { event: 'hello', payload: { n: 1 } }]);
    await a.reply('2');
    await b.nextJson((f) => f[3] === 'hello');

    const text = await metrics.render();
    expect(sample(text, 'starling_sockets')).toBe(2);
    expect(sample(text, 'starling_channels_joined')).toBe(3);
    // 3 joins + 1 broadcast request in; 3 join replies + 1 reply + 2 broadcast deliveries out.
    expect(sample(text, 'starling_messages_in_total')).toBe(4);
    expect(sample(text, 'starling_messages_out_total')).toBe(6);
    expect(sample(text, 'starling_messages_out_total')).toBe(fixture.endpoint.stats.messagesOut);
    expect(sample(text, 'starling_bytes_out_total')).toBeGreaterThan(6 * 20);
    expect(sample(text, 'starling_broadcasts_total')).toBe(fixture.endpoint.pubsub.stats.broadcasts);
    expect(sample(text, 'starling_broadcasts_total')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'starling_broadcast_encodes_total')).toBeGreaterThanOrEqual(1);
    expect(text).toContain('# TYPE starling_messages_in_total counter');
    expect(text).toContain('# TYPE starling_sockets gauge');

    b.close();
    await b.closed;
    await expect.poll(async () => sample(await metrics.render(), 'starling_channels_joined')).toBe(1);
    expect(sample(await metrics.render(), 'starling_sockets')).toBe(1);
  });

  it('counts malformed frames and crashes by code, and the protective limits', async () => {
    await start();
    const zero = await metrics.render();
    for (const code of ['ERR_MALFORMED_FRAME', 'ERR_CHANNEL_CRASH', 'ERR_JOIN_CRASH', 'ERR_CONNECT_CRASH', 'ERR_SOCKET_CRASH']) {
      expect(sample(zero, 'starling_errors_total', `code="${code}"`)).toBe(0);
    }
    expect(sample(zero, 'starling_slow_reader_closes_total')).toBe(0);
    expect(sample(zero, 'starling_rate_limit_closes_total')).toBe(0);
    for (const history of ['append_failures', 'gaps_filled', 'gaps_lost']) expect(sample(zero, `starling_pubsub_${history}_total`)).toBe(0);

    const malformed = await connect(fixture);
    malformed.sendRaw('not json');
    expect((await malformed.closed).code).toBe(1007);

    const crashing = await connect(fixture);
    await join(crashing, 'test:crash');
    crashing.send(['1', '2', 'test:crash', 'crash', {}]);
    await crashing.nextJson((f) => f[3] === 'phx_error');
    // Burst of 10 minus the 2 messages above: of 12 more, at least 4 are refused.
    for (let i = 0; i < 12; i++) crashing.send([null, String(10 + i), 'test:crash', 'noreply', {}]);
    await crashing.nextJson((f) => f[3] === 'phx_reply' && (f[4] as { response?: { reason?: string } }).response?.reason === 'rate limited');

    await connect(fixture);
    await connect(fixture);
    await expect(RawClient.connect(`${fixture.wsUrl}?vsn=2.0.0`)).rejects.toMatchObject({ failure: { status: 429 } });

    const text = await metrics.render();
    expect(sample(text, 'starling_errors_total', 'code="ERR_MALFORMED_FRAME"')).toBe(1);
    expect(sample(text, 'starling_errors_total', 'code="ERR_CHANNEL_CRASH"')).toBe(1);
    expect(sample(text, 'starling_rate_limited_total')).toBeGreaterThanOrEqual(4);
    expect(sample(text, 'starling_connections_per_ip_refused_total')).toBe(1);
    expect(sample(text, 'starling_slow_reader_closes_total')).toBe(0);
    expect(sample(text, 'starling_rate_limit_closes_total')).toBe(0);
  });

  it('takes a prefix and an existing registry', async () => {
    await start();
    const other = createMetrics(fixture.endpoint, { registry: metrics.registry, prefix: 'node2_' });
    expect(other.registry).toBe(metrics.registry);
    const text = await other.render();
    expect(sample(text, 'node2_sockets')).toBe(0);
    expect(sample(text, 'starling_sockets')).toBe(0);
    expect(other.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });
});
