/**
 * @module bench/engines
 * The engines a cross-node scenario joins its nodes through, each with what the harness needs of
 * it: the servers' environment (`BENCH_PUBSUB` and where the engine is), a meter of the engine's
 * own CPU time, and the cleanup of what a session left there.
 *
 * | engine | where | engine CPU |
 * | --- | --- | --- |
 * | `redis` | the machine's Redis, `BENCH_REDIS_URL` (default `redis://127.0.0.1:6379`) | `INFO cpu` |
 * | `redis-cluster` | a private 3-master Redis Cluster started from `redis-server` on free ports (the tests' helper), stopped by {@link closeEngines} | `INFO cpu` of every master, summed |
 * | `nats` | the machine's NATS with JetStream, `BENCH_NATS_URL` (default `nats://127.0.0.1:4222`) | `/proc/<pid>/task/<tid>/schedstat` of the `nats-server` listening on that port (ns) |
 *
 * @example
 * const engine = await openEngine('redis-cluster');
 * const meter = await engine.meter();
 * const before = await meter.micros();
 * // … load …
 * const used = (await meter.micros()) - before;
 * meter.close();
 * await closeEngines();
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { deleteNatsStreams, pingNats } from '../../packages/test-support/src/nats.ts';
import { startThrowawayRedisCluster, type ThrowawayRedisCluster } from '../../packages/test-support/src/redis-cluster.ts';
import type { EngineName } from './options.ts';
import { runMicros } from './proc.ts';
import { RedisMeter, deleteKeys, redisUrl } from './redis.ts';

/** A running engine's own CPU time. */
export interface EngineMeter {
  /** True when the engine runs on this machine: its CPU then counts in /proc's machine-wide busy time. */
  readonly local: boolean;
  /** User + system CPU time the engine has used so far, µs (NaN when it cannot be read). */
  micros(): Promise<number>;
  close(): void;
}

/** An engine ready for cross-node sessions. */
export interface Engine {
  readonly name: EngineName;
  /** The servers' environment: `BENCH_PUBSUB` and the engine's address. */
  readonly env: NodeJS.ProcessEnv;
  /** Opens a meter of the engine's CPU. */
  meter(): Promise<EngineMeter>;
  /** Deletes what the session with key and subject prefix `prefix` left behind (its streams). */
  cleanup(prefix: string): Promise<void>;
}

/** The NATS every NATS run uses. */
export function natsUrl(): string {
  return process.env.BENCH_NATS_URL ?? 'nats://127.0.0.1:4222';
}

let redisCluster: Promise<ThrowawayRedisCluster> | null = null;

/** The private Redis Cluster, started on first use. */
function privateRedisCluster(): Promise<ThrowawayRedisCluster> {
  redisCluster ??= startThrowawayRedisCluster().catch((err: unknown) => {
    redisCluster = null;
    throw err;
  });
  return redisCluster;
}

/**
 * The pid of the `nats-server` serving `port` on this machine, from its command line (`-p`,
 * `--port`, or the default 4222); null when there is none (a remote NATS).
 */
function natsServerPid(port: number): number | null {
  let pids: number[];
  try {
    pids = execFileSync('pgrep', ['-f', 'nats-server'], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return null;
  }
  for (const pid of pids) {
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (!argv[0]?.endsWith('nats-server')) continue;
    const flag = argv.findIndex((arg) => arg === '-p' || arg === '--port');
    if ((flag < 0 ? 4222 : Number(argv[flag + 1])) === port) return pid;
  }
  return null;
}

/** NATS's CPU from /proc: the scheduler's run time of its threads (ns; /proc/<pid>/stat's 10 ms ticks read 0 over a short phase). */
function natsMeter(url: string): EngineMeter {
  const { hostname, port } = new URL(url);
  const local = ['127.0.0.1', 'localhost', '[::1]'].includes(hostname);
  const pid = local ? natsServerPid(Number(port || 4222)) : null;
  if (pid === null) process.stderr.write(`# no local nats-server process for ${url}: NATS CPU not measured\n`);
  return {
    local: pid !== null,
    micros: () => Promise.resolve(pid === null ? Number.NaN : runMicros(pid)),
    close: () => undefined,
  };
}

/** Checks that `name` is reachable (starting the private Redis Cluster if needed) and describes it. */
export async function openEngine(name: EngineName): Promise<Engine> {
  switch (name) {
    case 'redis': {
      // Opening a meter is the reachability check.
      (await RedisMeter.open()).close();
      return {
        name,
        env: { BENCH_PUBSUB: 'redis', BENCH_REDIS_URL: redisUrl() },
        meter: () => RedisMeter.open(),
        cleanup: async (prefix) => void (await deleteKeys(`${prefix}:`)),
      };
    }
    case 'redis-cluster': {
      const cluster = await privateRedisCluster();
      const urls = cluster.nodes.map((node) => `redis://${node.host}:${node.port}`);
      return {
        name,
        env: { BENCH_PUBSUB: 'redis-cluster', BENCH_REDIS_CLUSTER_NODES: cluster.nodesEnv },
        meter: () => RedisMeter.open(urls),
        // The cluster is private to this run and thrown away by closeEngines.
        cleanup: () => Promise.resolve(),
      };
    }
    case 'nats': {
      const url = natsUrl();
      await pingNats(url).catch((err: unknown) => {
        throw new Error(`cross-node scenario needs NATS with JetStream at ${url} (BENCH_NATS_URL): ${err instanceof Error ? err.message : String(err)}`);
      });
      return {
        name,
        env: { BENCH_PUBSUB: 'nats', BENCH_NATS_URL: url },
        meter: () => Promise.resolve(natsMeter(url)),
        cleanup: (prefix) => deleteNatsStreams(url, prefix).catch(() => undefined),
      };
    }
  }
}

/** Stops the private Redis Cluster, if one was started. */
export async function closeEngines(): Promise<void> {
  const cluster = redisCluster;
  redisCluster = null;
  if (cluster !== null) await (await cluster).stop();
}
