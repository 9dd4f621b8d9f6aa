/**
 * @module bench/scenarios/recovery
 * Gap-free recovery (docs/recovery.md) on the history peer: how long a rejoin takes to replay N
 * missed publications. Three sockets on the history topic `bench:fanout`: a publisher, a
 * *stayer* and a subscriber, the last two on the same node (which therefore keeps the topic
 * subscribed, as a room with other members does). Each recovery:
 *
 * 1. the publisher publishes a marker; the subscriber notes its position P (the frame's `ref`);
 * 2. the subscriber leaves (`phx_leave`, waits for the reply);
 * 3. the publisher publishes N (= `--recover-messages`, 1000) and waits until they reached it
 *    and the stayer (all appended, nothing left in flight);
 * 4. **timed:** the subscriber sends `phx_join` with `{recover: P}` and waits for `phx_stream`;
 *    the N publications must arrive between the join reply and phx_stream, in order, with
 *    positions P+1 … P+N, and phx_stream must say `{position: P+N, recovered: true}`.
 *
 * `recovery` runs one node (in-process streams); `recovery-cluster` 2 or 4 nodes (`--nodes`) over
 * each engine (`--engines`: Redis, a Redis Cluster, NATS with the streams in JetStream), one
 * variant per engine and node count: the publisher on the last node and the stayer and subscriber
 * on node 0 (the one `--profile` records; the nodes between hold no socket), so the rejoin reads
 * the stream from the engine. One untimed recovery warms up; then `--recoveries` (K) are timed and a run reports
 * their median (rounds then take the median of those). Server CPU per recovery is the server's
 * own `process.cpuUsage()` (µs precision; /proc's 10 ms ticks are too coarse for one rejoin)
 * around step 4, every node summed, averaged over the K; the engine's CPU likewise (Redis's
 * `INFO cpu`, NATS's threads' scheduler time, both µs or finer).
 */
import type { RecoveryDone } from '../lib/messages.ts';
import { closeEngines, openEngine } from '../lib/engines.ts';
import { keepsHistory, type BenchOptions, type PeerName } from '../lib/options.ts';
import { median, type Metric, type Sample } from '../lib/report.ts';
import { mergeJoined, openSession, type Session, type SessionContext } from '../lib/session.ts';
import type { ClusterShape } from './fanout.ts';
import type { Scenario } from './scenario.ts';

/** Untimed recoveries before the K timed ones (JIT, socket buffers, the stream's first reads). */
const WARMUP_RECOVERIES = 1;
const STEP_TIMEOUT_MS = 30_000;

const METRICS: readonly Metric[] = [
  { key: 'recoveryMicros', label: 'join → phx_stream, median (ms)', scale: 1e-3, digits: 2, better: 'lower' },
  { key: 'recoveryMaxMicros', label: 'join → phx_stream, slowest of K (ms)', scale: 1e-3, digits: 2, better: 'lower' },
  { key: 'replyMicros', label: 'join → join reply, median (ms)', scale: 1e-3, digits: 2, better: 'lower' },
  { key: 'replayPerSec', label: 'publications replayed per s', digits: 0, better: 'higher' },
  { key: 'serverCpuPerRecovery', label: 'server CPU per recovery (ms)', scale: 1e-3, digits: 2, better: 'lower' },
  { key: 'engineCpuPerRecovery', label: 'engine CPU per recovery (ms)', scale: 1e-3, digits: 2, better: 'lower' },
  { key: 'replayed', label: 'publications replayed (median)', digits: 0, better: 'none' },
  { key: 'recoveryErrors', label: 'recoveries not exact (count, order, positions)', digits: 0, better: 'lower' },
];

/** Server CPU so far, every node, from inside (µs precision). */
async function serverCpu(session: Session): Promise<number> {
  const answers = await Promise.all(
    session.servers.map((server) => {
      server.send({ type: 'cpu' });
      return server.next('cpu', 10_000);
    }),
  );
  return answers.reduce((sum, a) => sum + a.micros, 0);
}

/** IPC carries NaN as null. */
function num(value: number | null): number {
  return value === null ? Number.NaN : value;
}

function createRecovery(shape: ClusterShape | null): Scenario {
  const nodes = shape?.nodes ?? 1;
  return {
    name: shape === null ? 'recovery' : 'recovery-cluster',
    ...(shape === null ? {} : { label: `recovery-cluster ${shape.engine}×${shape.nodes}` }),
    metrics: nodes === 1 ? METRICS.filter((m) => m.key !== 'engineCpuPerRecovery') : METRICS,
    supports: keepsHistory,
    params: (o): Record<string, number | string> => ({
      messages: o.recoverMessages,
      recoveries: o.recoveries,
      historySize: o.historySize,
      nodes,
      ...(shape === null ? {} : { engine: shape.engine }),
    }),

    async run(peer: PeerName, o: BenchOptions, context: SessionContext): Promise<Sample> {
      const engine = shape === null ? undefined : await openEngine(shape.engine);
      const meter = engine === undefined ? null : await engine.meter();
      // Publisher, stayer and subscriber talk to each other: one worker holds all three.
      const session = await openSession(peer, { ...context, workers: 1 }, { nodes, engine, historySize: o.historySize }).catch((err: unknown) => {
        meter?.close();
        throw err;
      });
      try {
        // The publisher first (the worker's first socket), on the last node; the stayer and the
        // subscriber on node 0, the one a --profile records.
        const joined = mergeJoined(await session.connect(1, nodes - 1), await session.connect(2, 0));
        if (joined.opened < 3) throw new Error(`${peer}: only ${joined.opened} of 3 sockets joined (${joined.firstError})`);
        const worker = session.publisher;
        const results: RecoveryDone[] = [];
        let cpu = 0;
        let engineCpu = 0;
        const window = await session.cpuWindow(); // the profile, when asked for, covers every step
        for (let k = 0; k < WARMUP_RECOVERIES + o.recoveries; k++) {
          worker.send({ type: 'recovery-prepare', messages: o.recoverMessages, timeoutMs: STEP_TIMEOUT_MS });
          const ready = await worker.next('recovery-ready', STEP_TIMEOUT_MS + 5_000);
          if (ready.error !== null) throw new Error(`${peer}: ${ready.error}`);
          const cpu0 = await serverCpu(session);
          const engine0 = meter === null ? 0 : await meter.micros();
          worker.send({ type: 'recovery-join', timeoutMs: STEP_TIMEOUT_MS });
          const done = await worker.next('recovery-done', STEP_TIMEOUT_MS + 5_000);
          const used = (await serverCpu(session)) - cpu0;
          const engineUsed = meter === null ? 0 : (await meter.micros()) - engine0;
          if (k < WARMUP_RECOVERIES) continue;
          cpu += used;
          engineCpu += engineUsed;
          results.push({ ...done, micros: num(done.micros), replyMicros: num(done.replyMicros) });
        }
        await window.end();
        const errors = results.filter((r) => r.error !== null);
        if (errors.length > 0) process.stderr.write(`[${peer}] ${errors.length} recoveries not exact; first: ${errors[0]!.error}\n`);
        const times = results.map((r) => r.micros);
        const medianMicros = median(times);
        return {
          recoveryMicros: medianMicros,
          recoveryMaxMicros: Math.max(...times.filter((t) => Number.isFinite(t))),
          replyMicros: median(results.map((r) => r.replyMicros)),
          replayPerSec: (o.recoverMessages * 1e6) / medianMicros,
          serverCpuPerRecovery: cpu / results.length,
          ...(meter === null ? {} : { engineCpuPerRecovery: engineCpu / results.length }),
          replayed: median(results.map((r) => r.replayed)),
          recoveryErrors: errors.length,
          failed: joined.failed,
        };
      } finally {
        meter?.close();
        await session.close();
      }
    },
  };
}

/** Recovery with the in-process stream store (one node). */
export const recovery: Scenario = createRecovery(null);
/**
 * Recovery across nodes, the publisher on one node, the recovering subscriber on another: one
 * variant per engine of `--engines` and node count of `--nodes` (run alone, it is Redis × 2);
 * stops the private Redis Cluster after the last.
 */
export const recoveryCluster: Scenario = {
  ...createRecovery({ engine: 'redis', nodes: 2 }),
  variants: (o) => o.engines.flatMap((engine) => o.nodes.map((nodes) => createRecovery({ engine, nodes }))),
  close: closeEngines,
};
