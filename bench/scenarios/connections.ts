/**
 * @module bench/scenarios/connections
 * Connections: C idle sockets, each opened and joined to `bench:fanout` (Socket.IO: Engine.IO
 * open + namespace connect + room join; bare ws: upgrade + `J`), `concurrency` handshakes in
 * flight per worker, opened in two halves.
 *
 * Numbers: connect+join rate = C ÷ the wall time of the two connect phases; memory is read from
 * `/proc/<pid>/status` (VmRSS) and V8 right after a forced full GC in the server, three times:
 * with a few warm-up sockets open (so code and pools the first connection allocates are not
 * charged to the rest), after C/2 more, and after all C.
 *
 * - **RSS per connection** = (VmRSS after C − VmRSS with the warm-up sockets) ÷ C: everything
 *   the C sockets cost, including what the connect burst grows once — V8's young generation goes
 *   to its cap (+16 MiB here, whatever the server) and the old generation grows in steps, and V8
 *   keeps those pages. Divided by C that one-time cost reads as kilobytes per connection at small
 *   C, so measure at C ≥ 10,000 (the default).
 * - **Marginal**: (VmRSS after C − VmRSS after C/2) ÷ (C/2), what one more socket costs once the
 *   heap has grown; still quantised by V8's growth steps, so it moves from run to run.
 * - Heap numbers are marginal deltas of V8's `heapUsed` and `heapTotal`.
 */
import { keepsHistory, type BenchOptions, type PeerName } from '../lib/options.ts';
import type { Metric, Sample } from '../lib/report.ts';
import { rssBytes } from '../lib/proc.ts';
import { openSession, sleep, type CpuUsage, type Joined, type SessionContext } from '../lib/session.ts';
import { LOAD_METRICS, type Scenario } from './scenario.ts';

const METRICS: readonly Metric[] = [
  { key: 'connectsPerSec', label: 'connect+join per s', digits: 0, better: 'higher' },
  { key: 'rssPerConnection', label: 'RSS per connection (KB)', scale: 1 / 1024, digits: 2, better: 'lower' },
  { key: 'rssPerConnectionMarginal', label: 'RSS per connection, marginal: 2nd half (KB)', scale: 1 / 1024, digits: 2, better: 'lower' },
  { key: 'heapPerConnection', label: 'JS heap used per connection (KB)', scale: 1 / 1024, digits: 2, better: 'lower' },
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
  // Idle sockets cost the same on a history topic; only its joins read the stream (see recovery).
  supports: (peer) => !keepsHistory(peer),
  params: (o) => ({ connections: o.connections, warmSockets: warmSockets(o.connections), concurrency: o.concurrency, workers: o.workers }),

  async run(peer: PeerName, o: BenchOptions, context: SessionContext): Promise<Sample> {
    const session = await openSession(peer, context);
    try {
      await session.connect(warmSockets(o.connections));
      await sleep(200);
      const measure = async (): Promise<{ rss: number; heapUsed: number; heapTotal: number; external: number }> => {
        // Let per-connection timers and lazily allocated buffers settle first (1 s by default;
        // shorter in quick mode, whose duration is short).
        await sleep(Math.min(1_000, o.duration * 250));
        const memory = await session.serverMemory();
        return { ...memory, rss: rssBytes(session.server.pid) };
      };
      const connectPhase = async (count: number): Promise<Joined & { cpu: CpuUsage }> => {
        const meter = await session.cpuWindow();
        const joined = await session.connect(count);
        return { ...joined, cpu: await meter.end() };
      };
      const base = await measure();
      const first = await connectPhase(Math.floor(o.connections / 2));
      const half = await measure();
      const second = await connectPhase(o.connections - Math.floor(o.connections / 2));
      const full = await measure();
      const opened = first.opened + second.opened;
      if (second.opened === 0) throw new Error(`${peer}: no socket joined (${second.firstError ?? first.firstError})`);
      const wall = first.cpu.wall + second.cpu.wall;
      const per = (key: 'rss' | 'heapUsed' | 'heapTotal' | 'external'): number => (full[key] - half[key]) / second.opened;
      return {
        connectsPerSec: (opened * 1e6) / wall,
        rssPerConnection: (full.rss - base.rss) / opened,
        rssPerConnectionMarginal: per('rss'),
        heapPerConnection: per('heapUsed'),
        heapTotalPerConnection: per('heapTotal'),
        externalPerConnection: per('external'),
        serverCpuPerConnect: (first.cpu.server + second.cpu.server) / opened,
        serverCores: (first.cpu.server + second.cpu.server) / wall,
        clientCores: (first.cpu.client + second.cpu.client) / wall,
        otherCores: (first.cpu.other + second.cpu.other) / wall,
        failed: first.failed + second.failed,
        opened,
        rssBase: base.rss,
        rssHalf: half.rss,
        rssFull: full.rss,
      };
    } finally {
      await session.close();
    }
  },
};
