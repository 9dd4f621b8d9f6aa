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
 * `recovery` runs one node (in-process streams); `recovery-cluster` two nodes over Redis, the
 * publisher on one and the stayer and subscriber on the other (node 0, the one `--profile`
 * records), so the rejoin reads the stream from Redis. One untimed recovery warms up; then `--recoveries` (K) are timed and a run reports
 * their median (rounds then take the median of those). Server CPU per recovery is the server's
 * own `process.cpuUsage()` (µs precision; /proc's 10 ms ticks are too coarse for one rejoin)
 * around step 4, every node summed, averaged over the K.
 */
import type { RecoveryDone } from '../lib/messages.ts';
import { keepsHistory, type BenchOptions, type PeerName } from '../lib/options.ts';
import { RedisMeter } from '../lib/redis.ts';
import { median, type Metric, type Sample } from '../lib/report.ts';
import { mergeJoined, openSession, type Session, type SessionContext } from '../lib/session.ts';
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
  { key: 'redisCpuPerRecovery', label: 'Redis CPU per recovery (ms)', scale: 1e-3, digits: 2, better: 'lower' },
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

function createRecovery(variant: 'memory' | 'cluster'): Scenario {
  const nodes = variant === 'cluster' ? 2 : 1;
  return {
    name: variant === 'cluster' ? 'recovery-cluster' : 'recovery',
    metrics: nodes === 1 ? METRICS.filter((m) => m.key !== 'redisCpuPerRecovery') : METRICS,
    supports: keepsHistory,
    params: (o): Record<string, number | string> => ({ messages: o.recoverMessages, recoveries: o.recoveries, historySize: o.historySize, nodes }),

    async run(peer: PeerName, o: BenchOptions, context: SessionContext): Promise<Sample> {
      const redis = nodes > 1 ? await RedisMeter.open() : null;
      // Publisher, stayer and subscriber talk to each other: one worker holds all three.
      const session = await openSession(peer, { ...context, workers: 1 }, { nodes, historySize: o.historySize }).catch((err: unknown) => {
        redis?.close();
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
        let redisCpu = 0;
        const meter = await session.cpuWindow(); // the profile, when asked for, covers every step
        for (let k = 0; k < WARMUP_RECOVERIES + o.recoveries; k++) {
          worker.send({ type: 'recovery-prepare', messages: o.recoverMessages, timeoutMs: STEP_TIMEOUT_MS });
          const ready = await worker.next('recovery-ready', STEP_TIMEOUT_MS + 5_000);
          if (ready.error !== null) throw new Error(`${peer}: ${ready.error}`);
          const cpu0 = await serverCpu(session);
          const redis0 = redis === null ? 0 : await redis.micros();
          worker.send({ type: 'recovery-join', timeoutMs: STEP_TIMEOUT_MS });
          const done = await worker.next('recovery-done', STEP_TIMEOUT_MS + 5_000);
          const used = (await serverCpu(session)) - cpu0;
          const redisUsed = redis === null ? 0 : (await redis.micros()) - redis0;
          if (k < WARMUP_RECOVERIES) continue;
          cpu += used;
          redisCpu += redisUsed;
          results.push({ ...done, micros: num(done.micros), replyMicros: num(done.replyMicros) });
        }
        await meter.end();
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
          ...(nodes > 1 ? { redisCpuPerRecovery: redisCpu / results.length } : {}),
          replayed: median(results.map((r) => r.replayed)),
          recoveryErrors: errors.length,
          failed: joined.failed,
        };
      } finally {
        redis?.close();
        await session.close();
      }
    },
  };
}

/** Recovery with the in-process stream store (one node). */
export const recovery: Scenario = createRecovery('memory');
/** Recovery over Redis: the publisher on one node, the recovering subscriber on the other. */
export const recoveryCluster: Scenario = createRecovery('cluster');
