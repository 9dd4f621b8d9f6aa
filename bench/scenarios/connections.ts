/**
 * @module bench/scenarios/connections
 * Connections: C idle sockets, each opened and joined to `bench:fanout` (Socket.IO: Engine.IO
 * open + namespace connect + room join; bare ws: upgrade + `J`), `concurrency` handshakes in
 * flight per worker.
 *
 * Numbers: connect+join rate = C ÷ wall time from the first handshake to the last join reply;
 * RSS per connection = (VmRSS after − VmRSS before) ÷ C, both read from `/proc/<pid>/status`
 * right after a forced full GC in the server, with a few warm-up sockets already open before
 * "before" (so code and pools the first connection allocates are not charged to the rest);
 * heap per connection is the same delta of V8's `heapUsed`.
 */
import type { BenchOptions, PeerName } from '../lib/options.ts';
import type { Metric, Sample } from '../lib/report.ts';
import { rssBytes } from '../lib/proc.ts';
import { openSession, sleep, type SessionContext } from '../lib/session.ts';
import { LOAD_METRICS, type Scenario } from './scenario.ts';

const METRICS: readonly Metric[] = [
  { key: 'connectsPerSec', label: 'connect+join per s', digits: 0, better: 'higher' },
  { key: 'rssPerConnection', label: 'RSS per connection (KB)', scale: 1 / 1024, digits: 2, better: 'lower' },
  { key: 'heapPerConnection', label: 'JS heap per connection (KB)', scale: 1 / 1024, digits: 2, better: 'lower' },
  { key: 'heapTotalPerConnection', label: 'V8 heap reserved per connection (KB)', scale: 1 / 1024, digits: 2, better: 'lower' },
  { key: 'externalPerConnection', label: 'external (Buffers) per connection (KB)', scale: 1 / 1024, digits: 2, better: 'lower' },
  { key: 'serverCpuPerConnect', label: 'server CPU per connect+join (µs)', digits: 1, better: 'lower' },
  ...LOAD_METRICS,
  { key: 'failed', label: 'failed joins', digits: 0, better: 'none' },
];

/** Sockets opened before the baseline is taken. */
function warmSockets(connections: number): number {
  return Math.min(100, Math.max(10, Math.round(connections / 20)));
}

export const connections: Scenario = {
  name: 'connections',
  metrics: METRICS,
  params: (o) => ({ connections: o.connections, warmSockets: warmSockets(o.connections), concurrency: o.concurrency, workers: o.workers }),

  async run(peer: PeerName, o: BenchOptions, context: SessionContext): Promise<Sample> {
    const session = await openSession(peer, context);
    try {
      await session.connect(warmSockets(o.connections));
      await sleep(200);
      const before = await session.serverMemory();
      const rss0 = rssBytes(session.server.pid);
      const meter = await session.cpuWindow();
      const joined = await session.connect(o.connections);
      const cpu = await meter.end();
      if (joined.opened === 0) throw new Error(`${peer}: no socket joined (${joined.firstError})`);
      // Let per-connection timers and lazily allocated buffers settle before measuring (1 s by
      // default; shorter in quick mode, whose duration is short).
      await sleep(Math.min(1_000, o.duration * 250));
      const after = await session.serverMemory();
      const rss1 = rssBytes(session.server.pid);
      return {
        connectsPerSec: (joined.opened * 1e6) / cpu.wall,
        rssPerConnection: (rss1 - rss0) / joined.opened,
        heapPerConnection: (after.heapUsed - before.heapUsed) / joined.opened,
        heapTotalPerConnection: (after.heapTotal - before.heapTotal) / joined.opened,
        externalPerConnection: (after.external - before.external) / joined.opened,
        serverCpuPerConnect: cpu.server / joined.opened,
        serverCores: cpu.server / cpu.wall,
        clientCores: cpu.client / cpu.wall,
        otherCores: cpu.other / cpu.wall,
        failed: joined.failed,
        opened: joined.opened,
        rssBefore: rss0,
        rssAfter: rss1,
      };
    } finally {
      await session.close();
    }
  },
};
