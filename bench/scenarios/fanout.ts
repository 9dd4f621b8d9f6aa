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
 * - **cluster** (cross-node): bursts as above, but 2 or 4 (`--nodes`) servers of the peer joined
 *   by an engine (`--engines`: Redis, a Redis Cluster, NATS; bench/lib/engines.ts), one variant
 *   (its own rounds, table and ratios) per engine and node count: the publisher's socket is on
 *   node A (node 0), the other C−1 subscribers spread evenly over the other nodes, so every
 *   delivery but the publisher's own crosses the engine. Server CPU counts every node; the
 *   engine's own CPU is reported beside it. Socket.IO has no NATS adapter: not measured there.
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
import { closeEngines, openEngine } from '../lib/engines.ts';
import { keepsHistory, type BenchOptions, type EngineName, type PeerName } from '../lib/options.ts';
import type { Metric, Sample } from '../lib/report.ts';
import { Progress, STALL_MS } from '../lib/progress.ts';
import { mergeJoined, openSession, type Joined, type Session, type SessionContext } from '../lib/session.ts';
import { LATENCY_METRICS, LOAD_METRICS, type Scenario } from './scenario.ts';

const METRICS: readonly Metric[] = [
  { key: 'deliveriesPerSec', label: 'deliveries/s', digits: 0, better: 'higher' },
  ...LATENCY_METRICS,
  { key: 'serverCpuPerDelivery', label: 'server CPU per delivery (µs)', digits: 3, better: 'lower' },
  ...LOAD_METRICS,
  { key: 'engineCores', label: 'engine CPU (cores busy)', digits: 2, better: 'none' },
  { key: 'engineCpuPerPublication', label: 'engine CPU per publication (µs)', digits: 1, better: 'lower' },
  { key: 'lost', label: 'lost deliveries', digits: 0, better: 'lower' },
  { key: 'outOfOrder', label: 'reordered deliveries', digits: 0, better: 'lower' },
  { key: 'positioned', label: 'deliveries carrying a position (%)', digits: 0, better: 'none' },
  { key: 'failed', label: 'failed joins', digits: 0, better: 'none' },
];

const CLUSTER_ONLY = new Set(['engineCores', 'engineCpuPerPublication']);

/** A cross-node variant: the engine between the nodes, and how many nodes. */
export interface ClusterShape {
  readonly engine: EngineName;
  readonly nodes: number;
}

/** Whether `peer` has a way across `engine` (Socket.IO: its Redis adapters only). */
export function crossesEngine(peer: PeerName, engine: EngineName): boolean {
  return peer !== 'socketio' || engine !== 'nats';
}

/**
 * The publisher alone on node 0, the other `subscribers − 1` spread evenly over nodes 1 … n−1
 * (the first nodes take one more when it does not divide).
 */
export async function connectAcrossNodes(session: Session, subscribers: number): Promise<Joined> {
  const others = session.urls.length - 1;
  if (others === 0) return session.connect(subscribers);
  const joined = [await session.connect(1, 0)];
  const rest = subscribers - 1;
  for (let node = 1; node <= others; node++) {
    const count = Math.floor(rest / others) + (node - 1 < rest % others ? 1 : 0);
    if (count > 0) joined.push(await session.connect(count, node));
  }
  return mergeJoined(...joined);
}

function createFanout(variant: 'burst' | 'rate' | 'cluster', shape: ClusterShape | null = null): Scenario {
  const mode = variant === 'rate' ? 'rate' : 'burst';
  const nodes = shape?.nodes ?? 1;
  const measuredMessages = (o: BenchOptions): number => (mode === 'burst' ? o.messages : Math.max(1, Math.round(o.rate * o.duration)));
  return {
    name: `fanout-${variant}`,
    ...(shape === null ? {} : { label: `fanout-${variant} ${shape.engine}×${shape.nodes}` }),
    metrics: nodes === 1 ? METRICS.filter((m) => !CLUSTER_ONLY.has(m.key)) : METRICS,
    // History is measured where the issue asks for it: throughput on one node and across nodes.
    supports: (peer) => (mode === 'burst' || !keepsHistory(peer)) && (shape === null || crossesEngine(peer, shape.engine)),
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
            ...(shape === null ? {} : { engine: shape.engine }),
          }
        : { subscribers: o.subscribers, rate: o.rate, duration: o.duration, messages: measuredMessages(o), warmup: o.warmup, workers: o.workers },

    async run(peer: PeerName, o: BenchOptions, context: SessionContext): Promise<Sample> {
      const engine = shape === null ? undefined : await openEngine(shape.engine);
      const meter = engine === undefined ? null : await engine.meter();
      const session = await openSession(peer, context, { nodes, engine, historySize: o.historySize }).catch((err: unknown) => {
        meter?.close();
        throw err;
      });
      try {
        const joined = await connectAcrossNodes(session, o.subscribers);
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
        const window = await session.cpuWindow();
        const engine0 = meter === null ? 0 : await meter.micros();
        const published = await publish(o.warmup, total, mode, capMs);
        await progress.until(published.to, mode === 'burst' ? capMs : STALL_MS + 1_000);
        const engineCpu = meter === null ? Number.NaN : (await meter.micros()) - engine0;
        const cpu = await window.end();

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
          otherCores: Math.max(0, cpu.other - (meter?.local === true && Number.isFinite(engineCpu) ? engineCpu : 0)) / cpu.wall,
          ...(meter === null ? {} : { engineCores: engineCpu / cpu.wall, engineCpuPerPublication: engineCpu / Math.max(1, published.to - published.from) }),
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
        meter?.close();
        await session.close();
      }
    },
  };
}

export const fanoutBurst: Scenario = createFanout('burst');
export const fanoutRate: Scenario = createFanout('rate');
/**
 * Fan-out across nodes: one variant per engine of `--engines` and node count of `--nodes` (run
 * alone, it is Redis × 2); stops the private Redis Cluster after the last.
 */
export const fanoutCluster: Scenario = {
  ...createFanout('cluster', { engine: 'redis', nodes: 2 }),
  variants: (o) => o.engines.flatMap((engine) => o.nodes.map((nodes) => createFanout('cluster', { engine, nodes }))),
  close: closeEngines,
};
