/**
 * @module bench/scenarios/fanout
 * Fan-out: C sockets joined to `bench:fanout`, one of them also publishing; each message is
 * broadcast to all C (the publisher included). Two modes:
 *
 * - **burst** (throughput): the publisher sends bursts of `burst` messages in one TCP write and
 *   keeps at most `window` bursts *in flight* — published but not yet received by every
 *   subscriber. The window closes the loop end to end, so the server always has
 *   `window × burst × C` deliveries queued (delivery is the bottleneck, not publishing) while
 *   nothing queues without bound. Latency here is latency under saturation.
 * - **rate** (latency): `rate` messages/s, evenly spaced, for `duration` s, whatever the
 *   deliveries; shows latency at a load every peer sustains.
 * - **cluster** (cross-node): bursts as above, but two servers of the peer joined by Redis
 *   (`BENCH_REDIS_URL`): the publisher's socket is on node A, the other C−1 subscribers on node B,
 *   so every delivery but the publisher's own crosses Redis. Server CPU counts both nodes; Redis's
 *   own CPU is reported beside it.
 *
 * History (the `starling-history` peer, burst and cluster only): the same topic keeping history,
 * so every publication is appended to its stream first and its frames carry the position as
 * `ref`; compared with `starling` in the same run (paired ratio).
 *
 * Numbers: deliveries/s = measured bodies received ÷ (last measured arrival − first measured
 * publish); latency = arrival − body `t`; server CPU per delivery = server utime+stime over the
 * measured phase ÷ deliveries; lost = Σ over sockets of published seqs never received; reordered
 * = bodies whose seq was not above the last one on that socket.
 */
import { Histogram } from '../lib/histogram.ts';
import type { Published } from '../lib/messages.ts';
import { keepsHistory, type BenchOptions, type PeerName } from '../lib/options.ts';
import type { Metric, Sample } from '../lib/report.ts';
import { RedisMeter } from '../lib/redis.ts';
import { Progress, STALL_MS } from '../lib/progress.ts';
import { mergeJoined, openSession, type SessionContext } from '../lib/session.ts';
import { LATENCY_METRICS, LOAD_METRICS, type Scenario } from './scenario.ts';

const METRICS: readonly Metric[] = [
  { key: 'deliveriesPerSec', label: 'deliveries/s', digits: 0, better: 'higher' },
  ...LATENCY_METRICS,
  { key: 'serverCpuPerDelivery', label: 'server CPU per delivery (µs)', digits: 3, better: 'lower' },
  ...LOAD_METRICS,
  { key: 'redisCores', label: 'Redis CPU (cores busy)', digits: 2, better: 'none' },
  { key: 'redisCpuPerPublication', label: 'Redis CPU per publication (µs)', digits: 1, better: 'lower' },
  { key: 'lost', label: 'lost deliveries', digits: 0, better: 'lower' },
  { key: 'outOfOrder', label: 'reordered deliveries', digits: 0, better: 'lower' },
  { key: 'positioned', label: 'deliveries carrying a position (%)', digits: 0, better: 'none' },
  { key: 'failed', label: 'failed joins', digits: 0, better: 'none' },
];

const CLUSTER_ONLY = new Set(['redisCores', 'redisCpuPerPublication']);

function createFanout(variant: 'burst' | 'rate' | 'cluster'): Scenario {
  const mode = variant === 'rate' ? 'rate' : 'burst';
  const nodes = variant === 'cluster' ? 2 : 1;
  const measuredMessages = (o: BenchOptions): number => (mode === 'burst' ? o.messages : Math.max(1, Math.round(o.rate * o.duration)));
  return {
    name: `fanout-${variant}`,
    metrics: nodes === 1 ? METRICS.filter((m) => !CLUSTER_ONLY.has(m.key)) : METRICS,
    // History is measured where the issue asks for it: throughput on one node and across Redis.
    supports: (peer) => mode === 'burst' || !keepsHistory(peer),
    params: (o): Record<string, number | string> =>
      mode === 'burst'
        ? {
            subscribers: o.subscribers,
            messages: o.messages,
            warmup: o.warmup,
            burst: o.burst,
            window: o.window,
            burstIntervalMs: o.burstIntervalMs,
            workers: o.workers,
            nodes,
          }
        : { subscribers: o.subscribers, rate: o.rate, duration: o.duration, messages: measuredMessages(o), warmup: o.warmup, workers: o.workers },

    async run(peer: PeerName, o: BenchOptions, context: SessionContext): Promise<Sample> {
      const redis = nodes > 1 ? await RedisMeter.open() : null;
      const session = await openSession(peer, context, { nodes, historySize: o.historySize }).catch((err: unknown) => {
        redis?.close();
        throw err;
      });
      try {
        // On a cluster the first socket (the publisher) goes to node A, every other one to node B.
        const joined =
          nodes === 1 ? await session.connect(o.subscribers) : mergeJoined(await session.connect(1, 0), await session.connect(o.subscribers - 1, 1));
        if (joined.opened < 2) throw new Error(`${peer}: only ${joined.opened} sockets joined (${joined.firstError})`);
        const measured = measuredMessages(o);
        const total = o.warmup + measured;
        for (const worker of session.workers) {
          worker.send({ type: 'fanout-init', total, measureFrom: o.warmup, solo: session.workers.length === 1 });
        }
        const progress = new Progress(session);
        const publish = (from: number, to: number, phaseMode: 'burst' | 'rate', deadlineMs: number): Promise<Published> => {
          session.publisher.send({
            type: 'publish',
            mode: phaseMode,
            from,
            to,
            burst: o.burst,
            windowMessages: o.window * o.burst,
            burstIntervalMs: o.burstIntervalMs,
            rate: o.rate,
            deadlineMs,
          });
          return session.publisher.next('published', deadlineMs + 5_000);
        };

        // Warm-up (always in bursts): JIT, socket buffers; checked for loss and order like the rest.
        if (o.warmup > 0) {
          await publish(0, o.warmup, 'burst', 30_000);
          await progress.until(o.warmup, 30_000);
        }

        // Burst: a slow peer publishes for at most 2.5 × duration (10 s by default) and is measured on
        // what it delivered by then; the rest of M is simply not published (not counted as lost).
        const capMs = mode === 'burst' ? Math.max(5_000, o.duration * 2_500) : o.duration * 1000 + 2_000;
        const meter = await session.cpuWindow();
        const redis0 = redis === null ? 0 : await redis.micros();
        const published = await publish(o.warmup, total, mode, capMs);
        await progress.until(published.to, mode === 'burst' ? capMs : STALL_MS + 1_000);
        const redisCpu = redis === null ? Number.NaN : (await redis.micros()) - redis0;
        const cpu = await meter.end();

        const stats = await Promise.all(
          session.workers.map((worker) => {
            worker.send({ type: 'fanout-report', published: published.to });
            return worker.next('fanout-stats', 10_000);
          }),
        );
        const latency = new Histogram();
        for (const s of stats) latency.merge(s.latency);
        const deliveries = stats.reduce((sum, s) => sum + s.measuredReceived, 0);
        const lastArrival = Math.max(...stats.map((s) => s.lastDeliveryMicros));
        const elapsed = Math.max(1, lastArrival - published.startMicros);
        return {
          deliveriesPerSec: (deliveries * 1e6) / elapsed,
          p50: latency.percentile(50),
          p95: latency.percentile(95),
          p99: latency.percentile(99),
          max: latency.max,
          serverCpuPerDelivery: deliveries > 0 ? cpu.server / deliveries : Number.NaN,
          serverCores: cpu.server / cpu.wall,
          clientCores: cpu.client / cpu.wall,
          otherCores: Math.max(0, cpu.other - (redis?.local === true ? redisCpu : 0)) / cpu.wall,
          ...(nodes > 1 ? { redisCores: redisCpu / cpu.wall, redisCpuPerPublication: redisCpu / Math.max(1, published.to - published.from) } : {}),
          lost: stats.reduce((sum, s) => sum + s.lost, 0),
          outOfOrder: stats.reduce((sum, s) => sum + s.outOfOrder, 0),
          positioned:
            (100 * stats.reduce((sum, s) => sum + s.positioned, 0)) /
            Math.max(
              1,
              stats.reduce((sum, s) => sum + s.received, 0),
            ),
          failed: joined.failed,
          closedByServer: stats.reduce((sum, s) => sum + s.closed, 0),
          published: published.to - published.from,
          deliveries,
          sockets: joined.opened,
        };
      } finally {
        redis?.close();
        await session.close();
      }
    },
  };
}

export const fanoutBurst: Scenario = createFanout('burst');
export const fanoutRate: Scenario = createFanout('rate');
/** Fan-out across two nodes joined by Redis. */
export const fanoutCluster: Scenario = createFanout('cluster');
