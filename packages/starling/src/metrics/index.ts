/**
 * @module starling-channels/metrics
 * Prometheus metrics of an {@link Endpoint}, on `prom-client` (an optional peer dependency:
 * install it to use this subpath). Every value is read from the
 * endpoint's own counters (`endpoint.stats`, `endpoint.pubsub.stats`) and gauges when the registry
 * is scraped, so serving sockets costs nothing beyond the plain `++` those counters already pay.
 * Counts are this node's; sum them across nodes in Prometheus.
 *
 * @example
 * import { createMetrics } from 'starling-channels/metrics';
 * import { collectDefaultMetrics } from 'prom-client';
 * const metrics = createMetrics(endpoint);
 * collectDefaultMetrics({ register: metrics.registry }); // optional: process metrics too
 * // in the HTTP fallback:
 * if (path === '/metrics') res.writeHead(200, { 'content-type': metrics.contentType }).end(await metrics.render());
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { Endpoint } from '../endpoint.ts';
import type { CountedError } from '../errors.ts';

/** Options of {@link createMetrics}. */
export interface MetricsOptions {
  /** Where the metrics are registered; default a new registry (not prom-client's global one). */
  registry?: Registry | undefined;
  /** Prepended to every metric name. Default `"starling_"`. */
  prefix?: string | undefined;
  /** Postgres Changes to report on: a `createRealtime(…)` result served with `postgresChanges`. */
  changes?: ChangeMetricsSource | undefined;
}

/** What the Postgres Changes metrics read: `createRealtime`'s result fits. */
export interface ChangeMetricsSource {
  readonly changeStats: {
    /** Channels with bindings now; absent in older counters. */
    readonly channels?: number;
    readonly changes: number;
    readonly authorizationChecks: number;
    readonly delivered: number;
    readonly dropped: Readonly<Record<string, number>>;
    /** Pushes made with `errors`, by error; absent in older counters. */
    readonly errors?: Readonly<Record<string, number>>;
  } | null;
  readonly source: { readonly stats: { readonly changes: number }; lagBytes(): Promise<number | null> } | null;
}

/** An endpoint's metrics, ready to be served. */
export interface Metrics {
  readonly registry: Registry;
  /** The `content-type` of {@link render}'s text (Prometheus text exposition format). */
  readonly contentType: string;
  /** Every metric of {@link registry} in the Prometheus text format. */
  render(): Promise<string>;
}

/** The part of an endpoint the metrics read. */
type MetricsSource = Pick<Endpoint, 'connectionCount' | 'channelCount' | 'stats' | 'pubsub'>;

/**
 * Registers the endpoint's metrics on a registry (names are {@link MetricsOptions.prefix} + the
 * names below):
 * - gauges `sockets`, `channels_joined`
 * - counters `messages_in_total`, `messages_out_total`, `bytes_out_total`, `broadcasts_total`,
 *   `broadcast_encodes_total`, `slow_reader_closes_total`, `rate_limited_total`,
 *   `rate_limit_closes_total`, `connections_per_ip_refused_total`, `longpoll_sessions_refused_total`,
 *   `rest_broadcasts_refused_total{scope}`, `errors_total{code}`
 * - with `changes`: gauge `postgres_slot_lag_bytes` (WAL the slot keeps, unconfirmed; on the node
 *   that consumes it), counters `postgres_changes_read_total` (read from the slot by this node),
 *   `postgres_changes_received_total`, `postgres_authorization_checks_total`,
 *   `postgres_changes_delivered_total` (pushes to channels), `postgres_changes_dropped_total{reason}`
 *   (`unauthorized`, `check_failed`, `duplicate`), `postgres_changes_errors_total{error}` (pushes
 *   with `errors`: `unauthorized` for 401, `payload_too_large` for 413), and gauge
 *   `postgres_changes_channels` (channels with bindings on this node). Rates (`rate(…[1m])`) give
 *   changes/s and checks/s.
 */
export function createMetrics(endpoint: MetricsSource, options: MetricsOptions = {}): Metrics {
  const registry = options.registry ?? new Registry();
  const prefix = options.prefix ?? 'starling_';
  const registers = [registry];

  const gauge = (name: string, help: string, read: () => number): void => {
    new Gauge({
      name: prefix + name,
      help,
      registers,
      collect() {
        this.set(read());
      },
    });
  };
  // The endpoint's counters only grow; a prom-client Counter has no `set`, so each scrape
  // restarts it at the current value.
  const counter = (name: string, help: string, read: () => number): void => {
    new Counter({
      name: prefix + name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  };

  const { stats } = endpoint;
  const pubsub = endpoint.pubsub.stats;
  gauge('sockets', 'Open socket connections (WebSocket and LongPoll).', () => endpoint.connectionCount);
  gauge('channels_joined', 'Channels joined on open sockets.', () => endpoint.channelCount);
  counter('messages_in_total', 'Inbound messages decoded on open sockets.', () => stats.messagesIn);
  counter('messages_out_total', 'Frames written to sockets.', () => stats.messagesOut);
  counter('bytes_out_total', 'Encoded bytes of the frames written to sockets.', () => stats.bytesOut);
  counter('broadcasts_total', 'Broadcasts delivered by this node (local and from other nodes).', () => pubsub.broadcasts);
  counter('broadcast_encodes_total', 'Broadcast encodings (once per serializer per broadcast).', () => stats.broadcastEncodes);
  counter(
    'pubsub_subscribe_failures_total',
    'Adapter subscribes that failed (remote delivery waits for the adapter to recover).',
    () => pubsub.subscribeFailures,
  );
  counter('pubsub_append_failures_total', 'Publications on history topics whose append failed (delivered nowhere).', () => pubsub.appendFailures);
  counter('pubsub_gaps_filled_total', 'Holes in a history topic on this node filled by reading its stream.', () => pubsub.gapsFilled);
  counter('pubsub_gaps_lost_total', 'Holes in a history topic the stream no longer covered (publications missed on this node).', () => pubsub.gapsLost);
  counter('slow_reader_closes_total', 'Sockets closed or sessions ended as slow readers.', () => stats.slowReaderCloses);
  counter('rate_limited_total', 'Inbound messages refused by the rate limit.', () => stats.rateLimited);
  counter('rate_limit_closes_total', 'Sockets closed for staying over the rate limit.', () => stats.rateLimitCloses);
  counter('connections_per_ip_refused_total', 'Connections refused by maxConnectionsPerIp.', () => stats.connectionsPerIpRefused);
  counter('longpoll_sessions_refused_total', 'LongPoll sessions refused by longpoll.maxSessions.', () => stats.longpollSessionsRefused);
  counter('replays_refused_total', 'Recover joins answered recovered: false because what was missed was over the replay budget.', () => stats.replaysRefused);
  new Counter({
    name: `${prefix}rest_broadcasts_refused_total`,
    help: "Supabase REST broadcasts refused with 429 by their client address's or their key's budget.",
    labelNames: ['scope'],
    registers,
    collect() {
      this.reset();
      for (const [scope, count] of Object.entries(stats.restBroadcastsRefused)) this.inc({ scope }, count);
    },
  });
  new Counter({
    name: `${prefix}errors_total`,
    help: 'Faults by code (see docs/errors.md).',
    labelNames: ['code'],
    registers,
    collect() {
      this.reset();
      for (const [code, count] of Object.entries(stats.errors) as Array<[CountedError, number]>) this.inc({ code }, count);
    },
  });

  const changes = options.changes;
  if (changes !== undefined) {
    new Gauge({
      name: `${prefix}postgres_slot_lag_bytes`,
      help: 'Bytes of WAL the replication slot keeps that are not yet confirmed (reported by the node that consumes it).',
      registers,
      async collect() {
        const lag = await changes.source?.lagBytes();
        if (typeof lag === 'number') this.set(lag);
      },
    });
    counter(
      'postgres_changes_read_total',
      'Row changes this node read from the replication slot and handed to the PubSub.',
      () => changes.source?.stats.changes ?? 0,
    );
    counter('postgres_changes_received_total', 'Row changes this node received for its channels.', () => changes.changeStats?.changes ?? 0);
    counter(
      'postgres_authorization_checks_total',
      'Row-level-security queries (one per batch per distinct claims and table).',
      () => changes.changeStats?.authorizationChecks ?? 0,
    );
    counter('postgres_changes_delivered_total', 'postgres_changes pushes to channels.', () => changes.changeStats?.delivered ?? 0);
    new Gauge({
      name: `${prefix}postgres_changes_channels`,
      help: 'Channels with postgres_changes bindings on this node.',
      registers,
      collect() {
        this.set(changes.changeStats?.channels ?? 0);
      },
    });
    new Counter({
      name: `${prefix}postgres_changes_errors_total`,
      help: 'postgres_changes pushes made with errors, by error (unauthorized: 401, payload_too_large: 413).',
      labelNames: ['error'],
      registers,
      collect() {
        this.reset();
        for (const [error, count] of Object.entries(changes.changeStats?.errors ?? {})) this.inc({ error }, count);
      },
    });
    new Counter({
      name: `${prefix}postgres_changes_dropped_total`,
      help: 'postgres_changes pushes not made, by reason (unauthorized, check_failed, duplicate).',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const [reason, count] of Object.entries(changes.changeStats?.dropped ?? {})) this.inc({ reason }, count);
      },
    });
  }

  return { registry, contentType: registry.contentType, render: () => registry.metrics() };
}
