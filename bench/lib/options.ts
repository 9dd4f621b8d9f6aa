/**
 * @module bench/options
 * The benchmark's knobs: every option can be given as a CLI flag (`--subscribers 500` or
 * `--subscribers=500`) or as an environment variable (`BENCH_SUBSCRIBERS=500`); the flag wins.
 * `BENCH_QUICK=1` (or `--quick`) swaps in small defaults for a smoke run under 30 s.
 *
 * @example
 * npm run bench -- --scenario fanout-burst --peers starling,bare-ws --rounds 5
 * BENCH_QUICK=1 npm run bench
 */

/** The scenarios, in the order they run. */
export const SCENARIOS = [
  'fanout-burst',
  'fanout-rate',
  'fanout-cluster',
  'connections',
  'request-reply',
  'recovery',
  'recovery-cluster',
  'postgres-changes',
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/**
 * Those `all` (the default) runs. postgres-changes is asked for by name: it measures a database
 * feature on the supabase peer alone, needs PostgreSQL's server binaries, and adds minutes.
 */
export const DEFAULT_SCENARIOS: readonly ScenarioName[] = SCENARIOS.filter((s) => s !== 'postgres-changes');

/**
 * The peers, in the order they run inside a round (A B C A B C …). `starling-history` is the
 * Starling server with history on the benchmark topic (its own scenarios only: fan-out burst and
 * cluster, recovery), so that the cost of history is measured against `starling` in the same run.
 */
export const PEERS = ['starling', 'starling-history', 'supabase', 'socketio', 'bare-ws'] as const;
export type PeerName = (typeof PEERS)[number];

/**
 * The engines a cross-node scenario joins its nodes through (bench/lib/engines.ts): the machine's
 * standalone Redis, a private 3-master Redis Cluster the bench starts, the machine's NATS.
 */
export const ENGINES = ['redis', 'redis-cluster', 'nats'] as const;
export type EngineName = (typeof ENGINES)[number];

/** Node counts a cross-node scenario may run (the publisher on node A, subscribers on the others). */
export const NODE_COUNTS = [2, 3, 4, 5, 6, 7, 8] as const;

/** True for the peers that keep history on the benchmark topic. */
export function keepsHistory(peer: PeerName): boolean {
  return peer === 'starling-history';
}

/** Shorthands accepted by `--scenario`. */
const SCENARIO_ALIASES: Readonly<Record<string, readonly ScenarioName[]>> = {
  all: DEFAULT_SCENARIOS,
  pg: ['postgres-changes'],
  postgres: ['postgres-changes'],
  fanout: ['fanout-burst', 'fanout-rate'],
  burst: ['fanout-burst'],
  rate: ['fanout-rate'],
  cluster: ['fanout-cluster'],
  'cross-node': ['fanout-cluster'],
  conn: ['connections'],
  rr: ['request-reply'],
  ping: ['request-reply'],
  history: ['fanout-burst', 'fanout-cluster', 'recovery', 'recovery-cluster'],
  recover: ['recovery', 'recovery-cluster'],
};

/** Everything a run is configured by. */
export interface BenchOptions {
  readonly scenarios: readonly ScenarioName[];
  readonly peers: readonly PeerName[];
  /** Before each run, wait up to this many seconds for the box to be quiet (others' work below 0.25 core). */
  readonly quietWait: number;
  /** Rounds of A B C; medians are taken over them. */
  readonly rounds: number;
  /** Fan-out: subscribed sockets (C), the publisher included. */
  readonly subscribers: number;
  /** Fan-out burst: measured messages (M). */
  readonly messages: number;
  /** Fan-out: messages published before measuring (JIT warm-up; also checked for loss/order). */
  readonly warmup: number;
  /** Fan-out burst: messages per burst (written in one TCP write by the publisher). */
  readonly burst: number;
  /** Fan-out burst: bursts allowed in flight (published but not yet delivered to every subscriber). */
  readonly window: number;
  /** Fan-out burst: minimum gap between two bursts in ms (0: as soon as the window allows). */
  readonly burstIntervalMs: number;
  /** Fan-out rate: messages per second. */
  readonly rate: number;
  /** Seconds measured by fan-out rate and request/reply; also scales the burst time cap. */
  readonly duration: number;
  /** Connections: idle joined sockets (C). */
  readonly connections: number;
  /** Request/reply: clients (P), each with one ping in flight. */
  readonly clients: number;
  /** Load-generator processes (all pinned to the client core). */
  readonly workers: number;
  /** Handshakes in flight per worker while connecting. */
  readonly concurrency: number;
  /** History peer: publications each history topic keeps (the stream's `size`); ≥ `recoverMessages`. */
  readonly historySize: number;
  /** Recovery: publications made while the subscriber is away, all replayed on its rejoin (N). */
  readonly recoverMessages: number;
  /** Recovery: rejoins measured per run (K); a run's number is the median over them. */
  readonly recoveries: number;
  /** postgres-changes: rows inserted as fast as delivery allows, for changes/s (M). */
  readonly changes: number;
  /** postgres-changes: rows per second of the fixed-rate phase (latency, authorization queries per change). */
  readonly changeRate: number;
  /** fanout-cluster, recovery-cluster: the engines measured, each in turn (`--engines`). */
  readonly engines: readonly EngineName[];
  /** fanout-cluster, recovery-cluster: the node counts measured on each engine (`--nodes`). */
  readonly nodes: readonly number[];
  /** Pin the server to core 0 and the clients to core 1 with `taskset`, when available. */
  readonly pin: boolean;
  /** CPU-profile every server's measured phase (V8 profiler) and summarise the hottest functions. */
  readonly profile: boolean;
  /** Also append each JSON line to this file. */
  readonly out: string | null;
  readonly quick: boolean;
}

interface Bound {
  readonly min: number;
  readonly max: number;
}

type Sizes = Readonly<
  Record<
    | 'quietWait'
    | 'rounds'
    | 'subscribers'
    | 'messages'
    | 'warmup'
    | 'burst'
    | 'window'
    | 'burstIntervalMs'
    | 'rate'
    | 'duration'
    | 'connections'
    | 'clients'
    | 'workers'
    | 'concurrency'
    | 'historySize'
    | 'recoverMessages'
    | 'recoveries'
    | 'changes'
    | 'changeRate',
    number
  >
>;

const FULL: Sizes = {
  quietWait: 10,
  rounds: 3,
  subscribers: 1000,
  messages: 1000,
  warmup: 200,
  burst: 10,
  window: 8,
  burstIntervalMs: 0,
  rate: 50,
  duration: 4,
  connections: 10_000,
  clients: 50,
  workers: 1,
  concurrency: 100,
  historySize: 1000,
  recoverMessages: 1000,
  recoveries: 20,
  changes: 200,
  changeRate: 10,
};

const QUICK: Sizes = {
  quietWait: 0,
  rounds: 1,
  subscribers: 200,
  messages: 150,
  warmup: 30,
  burst: 10,
  window: 8,
  burstIntervalMs: 0,
  rate: 50,
  duration: 0.6,
  connections: 300,
  clients: 20,
  workers: 1,
  concurrency: 100,
  historySize: 1000,
  recoverMessages: 1000,
  recoveries: 3,
  changes: 30,
  changeRate: 10,
};

// Upper bounds keep every loop of the harness bounded whatever is passed in; 15,000 sockets stay
// under a 20,000 open-file limit with room for the server's own descriptors.
const BOUNDS: Readonly<Record<keyof Sizes, Bound>> = {
  quietWait: { min: 0, max: 600 },
  rounds: { min: 1, max: 20 },
  subscribers: { min: 2, max: 15_000 },
  messages: { min: 1, max: 1_000_000 },
  warmup: { min: 0, max: 100_000 },
  burst: { min: 1, max: 1_000 },
  window: { min: 1, max: 1_000 },
  burstIntervalMs: { min: 0, max: 1_000 },
  rate: { min: 1, max: 100_000 },
  duration: { min: 0.2, max: 120 },
  connections: { min: 1, max: 15_000 },
  clients: { min: 1, max: 5_000 },
  workers: { min: 1, max: 8 },
  concurrency: { min: 1, max: 1_000 },
  historySize: { min: 1, max: 100_000 },
  recoverMessages: { min: 1, max: 100_000 },
  recoveries: { min: 1, max: 1_000 },
  changes: { min: 1, max: 100_000 },
  changeRate: { min: 1, max: 10_000 },
};

/** `burstIntervalMs` ↔ `--burst-interval-ms` ↔ `BENCH_BURST_INTERVAL_MS`. */
function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function envName(name: string): string {
  return `BENCH_${kebab(name).replace(/-/g, '_').toUpperCase()}`;
}

/** Parses `--name value`, `--name=value` and bare `--flag` into a map (last one wins). */
export function parseArgv(argv: readonly string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg} (options are --name value)`);
    const eq = arg.indexOf('=');
    if (eq > 0) {
      flags.set(arg.slice(2, eq), arg.slice(eq + 1));
      continue;
    }
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      flags.set(arg.slice(2), next);
      i++;
    } else {
      flags.set(arg.slice(2), 'true');
    }
  }
  return flags;
}

/** A flag's value as a boolean: `0`, `false`, `no`, `off` and empty are false; unset is undefined. */
export function truthy(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  return !['0', 'false', 'no', 'off', ''].includes(value.toLowerCase());
}

/** Reads the options from `argv` (without node and script) and `env`. */
export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): BenchOptions {
  const flags = parseArgv(argv);
  const known = new Set(['scenario', 'peers', 'engines', 'nodes', 'quick', 'pin', 'no-pin', 'profile', 'out', 'help', ...Object.keys(FULL).map(kebab)]);
  for (const flag of flags.keys()) if (!known.has(flag)) throw new Error(`unknown option --${flag} (see bench/README.md)`);
  const raw = (name: string): string | undefined => flags.get(kebab(name)) ?? env[envName(name)];

  const quick = truthy(raw('quick')) ?? false;
  const base = quick ? QUICK : FULL;
  const numbers = {} as Record<keyof Sizes, number>;
  for (const key of Object.keys(FULL) as Array<keyof Sizes>) {
    const text = raw(key);
    const value = text === undefined ? base[key] : Number(text);
    const { min, max } = BOUNDS[key];
    if (!Number.isFinite(value) || value < min || value > max) {
      throw new Error(`--${kebab(key)} must be a number in [${min}, ${max}], got ${text}`);
    }
    numbers[key] = key === 'duration' ? value : Math.floor(value);
  }

  const scenarios = listOption(raw('scenario') ?? 'all', (name) => {
    const expanded = SCENARIO_ALIASES[name] ?? (SCENARIOS.includes(name as ScenarioName) ? [name as ScenarioName] : null);
    if (expanded === null) throw new Error(`unknown scenario ${name}; one of ${[...SCENARIOS, ...Object.keys(SCENARIO_ALIASES)].join(', ')}`);
    return expanded;
  });
  const peers = listOption(raw('peers') ?? PEERS.join(','), (name) => {
    const alias = name === 'socket.io' ? 'socketio' : name === 'ws' || name === 'bare' ? 'bare-ws' : name === 'history' ? 'starling-history' : name;
    if (!PEERS.includes(alias as PeerName)) throw new Error(`unknown peer ${name}; one of ${PEERS.join(', ')}`);
    return [alias as PeerName];
  });
  const engines = listOption(raw('engines') ?? ENGINES.join(','), (name) => {
    if (!ENGINES.includes(name as EngineName)) throw new Error(`unknown engine ${name}; one of ${ENGINES.join(', ')}`);
    return [name as EngineName];
  });
  // A smoke run keeps to 2 nodes (every engine still), so that it stays short.
  const nodes = listOption(raw('nodes') ?? (quick ? '2' : '2,4'), (text) => {
    const count = Number(text);
    if (!NODE_COUNTS.includes(count as (typeof NODE_COUNTS)[number])) throw new Error(`--nodes takes counts in [2, 8], got ${text}`);
    return [count];
  });
  const recovering = scenarios.some((s) => s === 'recovery' || s === 'recovery-cluster');
  if (recovering && numbers.recoverMessages > numbers.historySize) {
    throw new Error(
      `--recover-messages (${numbers.recoverMessages}) must not exceed --history-size (${numbers.historySize}): the stream would not keep them all`,
    );
  }

  return {
    ...numbers,
    scenarios: SCENARIOS.filter((s) => scenarios.includes(s)),
    peers: PEERS.filter((p) => peers.includes(p)),
    engines: ENGINES.filter((e) => engines.includes(e)),
    nodes: [...new Set(nodes)].sort((a, b) => a - b),
    pin: !(truthy(flags.get('no-pin')) ?? false) && (truthy(raw('pin')) ?? true),
    profile: truthy(raw('profile')) ?? false,
    out: raw('out') ?? null,
    quick,
  };
}

function listOption<T>(text: string, expand: (name: string) => readonly T[]): T[] {
  const out: T[] = [];
  for (const part of text.split(',')) {
    const name = part.trim().toLowerCase();
    if (name !== '') out.push(...expand(name));
  }
  return out;
}

/** The usage text of `--help`. */
export const USAGE = `npm run bench -- [options]   (every option also as BENCH_<NAME> in the environment)
  --scenario LIST      all | fanout | fanout-burst | fanout-rate | fanout-cluster | connections | request-reply
                       | recovery | recovery-cluster | history (= fanout-burst,fanout-cluster,recovery,recovery-cluster)
                       | postgres-changes (pg; not in all: the supabase peer on a private PostgreSQL, 1–1.5 min a round) (comma list)
  --peers LIST         starling,starling-history,supabase,socketio,bare-ws
  --engines LIST       fanout-cluster, recovery-cluster: redis,redis-cluster,nats (default all three)
  --nodes LIST         fanout-cluster, recovery-cluster: node counts, 2–8 (default 2,4; quick: 2)
  --rounds N           rounds of A B C (default ${FULL.rounds})
  --quiet-wait S       before each run, wait up to S s for other load < 0.25 core (default ${FULL.quietWait})
  --subscribers C      fan-out sockets, publisher included (default ${FULL.subscribers})
  --messages M         fan-out burst: measured messages (default ${FULL.messages})
  --warmup N           fan-out: messages before measuring (default ${FULL.warmup})
  --burst N            fan-out burst: messages per burst (default ${FULL.burst})
  --window N           fan-out burst: bursts in flight (default ${FULL.window})
  --burst-interval-ms  fan-out burst: minimum gap between bursts (default ${FULL.burstIntervalMs})
  --rate R             fan-out rate: messages/s (default ${FULL.rate})
  --duration S         seconds measured by fan-out rate and request/reply (default ${FULL.duration})
  --connections C      idle joined sockets (default ${FULL.connections})
  --clients P          request/reply clients (default ${FULL.clients})
  --workers K          load-generator processes (default ${FULL.workers})
  --concurrency N      handshakes in flight per worker (default ${FULL.concurrency})
  --history-size N     starling-history: publications kept per history topic (default ${FULL.historySize})
  --recover-messages N recovery: publications missed and replayed per rejoin (default ${FULL.recoverMessages})
  --recoveries K       recovery: rejoins measured per run (default ${FULL.recoveries})
  --changes M          postgres-changes: rows inserted for changes/s, as fast as delivery allows (default ${FULL.changes})
  --change-rate R      postgres-changes: rows/s of the fixed-rate phase, for latency and queries per change (default ${FULL.changeRate})
  --no-pin             do not pin with taskset
  --profile            CPU-profile each server's measured phase, print the hottest functions
  --out FILE           also append the JSON lines to FILE
  --quick              small sizes, one round (BENCH_QUICK=1)
fanout-cluster and recovery-cluster run 2 or 4 (--nodes) servers per peer over each engine (--engines): the Redis at
BENCH_REDIS_URL (default redis://127.0.0.1:6379), a private 3-master Redis Cluster started from redis-server, and the NATS
with JetStream at BENCH_NATS_URL (default nats://127.0.0.1:4222).
postgres-changes starts its own PostgreSQL with wal_level=logical (Debian's initdb and pg_ctl: apt-get install postgresql).`;
