/**
 * @module bench/scenarios/request-reply
 * Request/reply: P joined sockets, each with one `ping` in flight carrying a 64-byte body; the
 * server replies with the same payload (Starling: `phx_reply` ok; Socket.IO: ack; bare ws: the
 * JSON re-serialised) and the client sends the next ping on the reply.
 *
 * Numbers, over `duration` s after a warm-up: round trips/s; latency = reply arrival − send
 * time; server CPU per round trip = server utime+stime ÷ round trips.
 */
import { Histogram } from '../lib/histogram.ts';
import { keepsHistory, type BenchOptions, type PeerName } from '../lib/options.ts';
import type { Metric, Sample } from '../lib/report.ts';
import { openSession, sleep, type SessionContext } from '../lib/session.ts';
import { LATENCY_METRICS, LOAD_METRICS, type Scenario } from './scenario.ts';

const METRICS: readonly Metric[] = [
  { key: 'roundTripsPerSec', label: 'round trips/s', digits: 0, better: 'higher' },
  ...LATENCY_METRICS,
  { key: 'serverCpuPerRoundTrip', label: 'server CPU per round trip (µs)', digits: 2, better: 'lower' },
  ...LOAD_METRICS,
  { key: 'failed', label: 'failed joins', digits: 0, better: 'none' },
];

function warmupMs(o: BenchOptions): number {
  return Math.min(1_000, o.duration * 500);
}

export const requestReply: Scenario = {
  name: 'request-reply',
  metrics: METRICS,
  // A realtime channel answers no request with its body (only ack, without it); history does not
  // touch replies.
  supports: (peer) => peer !== 'supabase' && !keepsHistory(peer),
  params: (o) => ({ clients: o.clients, duration: o.duration, warmupMs: warmupMs(o), workers: o.workers }),

  async run(peer: PeerName, o: BenchOptions, context: SessionContext): Promise<Sample> {
    const session = await openSession(peer, context);
    try {
      const joined = await session.connect(o.clients);
      if (joined.opened === 0) throw new Error(`${peer}: no socket joined (${joined.firstError})`);
      for (const worker of session.workers) worker.send({ type: 'rr-start' });
      await sleep(warmupMs(o));
      const meter = await session.cpuWindow();
      for (const worker of session.workers) worker.send({ type: 'rr-measure' });
      await sleep(o.duration * 1000);
      const cpu = await meter.end();
      const stats = await Promise.all(
        session.workers.map((worker) => {
          worker.send({ type: 'rr-stop' });
          return worker.next('rr-stats', 10_000);
        }),
      );
      const latency = new Histogram();
      for (const s of stats) latency.merge(s.latency);
      const roundTrips = stats.reduce((sum, s) => sum + s.roundTrips, 0);
      return {
        roundTripsPerSec: (roundTrips * 1e6) / cpu.wall,
        p50: latency.percentile(50),
        p95: latency.percentile(95),
        p99: latency.percentile(99),
        max: latency.max,
        serverCpuPerRoundTrip: roundTrips > 0 ? cpu.server / roundTrips : Number.NaN,
        serverCores: cpu.server / cpu.wall,
        clientCores: cpu.client / cpu.wall,
        otherCores: cpu.other / cpu.wall,
        failed: joined.failed,
        closedByServer: stats.reduce((sum, s) => sum + s.closed, 0),
        roundTrips,
      };
    } finally {
      await session.close();
    }
  },
};
