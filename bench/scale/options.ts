/**
 * @module bench/scale/options
 * The knobs of `npm run bench:100k` (`chat-100k.ts`), parsed like the bench's own
 * (`bench/lib/options.ts`): a CLI flag (`--sockets 30000`, `--sockets=30000`) or an environment
 * variable (`BENCH_SOCKETS=30000`), the flag winning. `--workers` and `--concurrency` mean what
 * they mean there (load-generator processes, handshakes in flight per process).
 *
 * @example
 * npm run bench:100k -- --sockets 30000 --rounds 1
 */
import { parseArgv, truthy } from '../lib/options.ts';

/** The servers measured in one round, in order. */
export const SCALE_PEERS = ['bare-ws', 'chat'] as const;
export type ScalePeer = (typeof SCALE_PEERS)[number];

/** Everything a 100k run is configured by. */
export interface ScaleOptions {
  /** Joined sockets, over all load processes. */
  readonly sockets: number;
  /** node:cluster workers of each server (`WORKERS`). */
  readonly workersServer: number;
  /** Load-generator processes, each from its own source address (fewer than 20,000 sockets each). */
  readonly workers: number;
  /** Handshakes + joins in flight per load process. */
  readonly concurrency: number;
  /** Rounds of bare-ws then chat; medians over rounds. */
  readonly rounds: number;
  /** Broadcasts measured per run, 1 s apart; a run's number is their median. */
  readonly broadcasts: number;
  readonly peers: readonly ScalePeer[];
  /** The Redis both servers relay broadcasts over. */
  readonly redisUrl: string;
  /** Run the chat's processes with `--cpu-prof` and print each one's hottest functions. */
  readonly profile: boolean;
  /** Also append each JSON line to this file. */
  readonly out: string | null;
  /** The chat's built server (another build, e.g. a copy of the one before a change, for before/after). */
  readonly chatServer: string;
}

const NUMBERS = {
  sockets: { fallback: 100_000, min: 1, max: 200_000 },
  workersServer: { fallback: 6, min: 1, max: 32 },
  workers: { fallback: 6, min: 1, max: 32 },
  concurrency: { fallback: 100, min: 1, max: 2_000 },
  rounds: { fallback: 2, min: 1, max: 10 },
  broadcasts: { fallback: 3, min: 1, max: 20 },
} as const;

/** Sockets one load process may hold under a 20,000 open-file limit, with room to spare. */
export const MAX_SOCKETS_PER_LOAD = 19_000;

const kebab = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** Reads the options from `argv` (without node and script) and `env`. */
export function parseScaleOptions(argv: readonly string[], env: NodeJS.ProcessEnv): ScaleOptions {
  const flags = parseArgv(argv);
  const known = new Set(['peers', 'profile', 'out', 'help', 'redis-url', 'chat-server', ...Object.keys(NUMBERS).map(kebab)]);
  for (const flag of flags.keys()) if (!known.has(flag)) throw new Error(`unknown option --${flag} (see bench/README.md, "100,000 sockets")`);
  const raw = (name: string): string | undefined => flags.get(kebab(name)) ?? env[`BENCH_${kebab(name).replace(/-/g, '_').toUpperCase()}`];
  const numbers = {} as Record<keyof typeof NUMBERS, number>;
  for (const [key, { fallback, min, max }] of Object.entries(NUMBERS) as Array<[keyof typeof NUMBERS, (typeof NUMBERS)[keyof typeof NUMBERS]]>) {
    const text = raw(key);
    const value = text === undefined ? fallback : Number(text);
    if (!Number.isInteger(value) || value < min || value > max) throw new Error(`--${kebab(key)} must be an integer in [${min}, ${max}], got ${text}`);
    numbers[key] = value;
  }
  if (numbers.sockets > numbers.workers * MAX_SOCKETS_PER_LOAD) {
    throw new Error(
      `--sockets ${numbers.sockets} needs --workers ≥ ${Math.ceil(numbers.sockets / MAX_SOCKETS_PER_LOAD)} (≤ ${MAX_SOCKETS_PER_LOAD} sockets per load process)`,
    );
  }
  const peers = (raw('peers') ?? SCALE_PEERS.join(','))
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '')
    .map((name) => {
      const peer = name === 'ws' || name === 'bare' || name === 'ceiling' ? 'bare-ws' : name;
      if (!SCALE_PEERS.includes(peer as ScalePeer)) throw new Error(`unknown peer ${name}; one of ${SCALE_PEERS.join(', ')}`);
      return peer as ScalePeer;
    });
  return {
    ...numbers,
    peers: SCALE_PEERS.filter((peer) => peers.includes(peer)),
    redisUrl: raw('redisUrl') ?? env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
    profile: truthy(raw('profile')) ?? false,
    out: raw('out') ?? null,
    chatServer: raw('chatServer') ?? 'apps/chat/dist/server.js',
  };
}

/** The usage text of `--help`. */
export const SCALE_USAGE = `npm run bench:100k -- [options]   (every option also as BENCH_<NAME> in the environment)
  --sockets C          joined sockets over all load processes (default ${NUMBERS.sockets.fallback})
  --workers-server N   node:cluster workers of each server, WORKERS (default ${NUMBERS.workersServer.fallback})
  --workers K          load processes, each from its own 127.0.x.y source address, ≤ ${MAX_SOCKETS_PER_LOAD} sockets each (default ${NUMBERS.workers.fallback})
  --concurrency N      handshakes + joins in flight per load process (default ${NUMBERS.concurrency.fallback})
  --rounds R           rounds of bare-ws then chat; medians over rounds (default ${NUMBERS.rounds.fallback})
  --broadcasts B       broadcasts measured per run, 1 s apart (default ${NUMBERS.broadcasts.fallback})
  --peers LIST         bare-ws,chat
  --redis-url URL      the Redis both servers relay over (default BENCH_REDIS_URL or redis://127.0.0.1:6379)
  --profile            run the chat with --cpu-prof, print each process's hottest functions
  --out FILE           also append the JSON lines to FILE
  --chat-server FILE   the chat's built server (default apps/chat/dist/server.js; e.g. a saved copy of an earlier build)
The chat runs on its built JavaScript (npm run build first).`;
