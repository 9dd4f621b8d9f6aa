/**
 * @module bench/session
 * One measured run of one peer: a fresh server process (pinned to the server core) and fresh
 * load-generator workers (pinned to the client core), torn down afterwards so that no run
 * inherits another's heap, JIT state or sockets.
 *
 * Cross-node: `openSession(peer, context, { nodes: 4, engine })` starts four servers of the peer
 * joined by the engine (bench/lib/engines.ts: `BENCH_PUBSUB` and its address), all pinned to the
 * server core, each session under its own key and subject prefix; `connect` takes the node to
 * connect to, and the server CPU counts every node.
 *
 * @example
 * const session = await openSession('starling', context);
 * await session.connect(1000);
 * // … drive the workers …
 * await session.close();
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startChild, type Child } from './children.ts';
import type { ChangesJoin, FromServer, FromWorker, ServerMemory, ToServer, ToWorker } from './messages.ts';
import { keepsHistory, type PeerName } from './options.ts';
import { cpuMicros, machineBusyMicros } from './proc.ts';
import { nowMicros } from './body.ts';
import type { Engine } from './engines.ts';

/** Where and how children run. */
export interface SessionContext {
  readonly pin: boolean;
  readonly workers: number;
  readonly concurrency: number;
  /** When set, the server's CPU profile of the measured phase is written here as `<name>.cpuprofile`. */
  readonly profile: { readonly dir: string; readonly name: string } | null;
}

export type ServerChild = Child<ToServer, FromServer>;
export type WorkerChild = Child<ToWorker, FromWorker>;

/** The core servers are pinned to (and what serves with them: the postgres-changes scenario's PostgreSQL). */
export const SERVER_CORE = 0;
const CLIENT_CORE = 1;
const HANDSHAKE_TIMEOUT_MS = 15_000;

/** The server file of `peer`: `starling-history` is the Starling server, told to keep history. */
export function serverFile(peer: PeerName): string {
  const file = keepsHistory(peer) ? 'starling' : peer;
  return fileURLToPath(new URL(`../servers/${file}.ts`, import.meta.url));
}

let sessions = 0;

const WORKER_FILE = fileURLToPath(new URL('../client/worker.ts', import.meta.url));

/** The outcome of opening and joining sockets. */
export interface Joined {
  readonly opened: number;
  readonly failed: number;
  /** The first failure's message, for the error a scenario throws. */
  readonly firstError: string | null;
}

/** Adds up several {@link Joined}. */
export function mergeJoined(...results: readonly Joined[]): Joined {
  return {
    opened: results.reduce((sum, r) => sum + r.opened, 0),
    failed: results.reduce((sum, r) => sum + r.failed, 0),
    firstError: results.find((r) => r.firstError !== null)?.firstError ?? null,
  };
}

/** CPU used during a measurement, µs, split by who used it, and its wall time. */
export interface CpuUsage {
  readonly server: number;
  readonly client: number;
  readonly other: number;
  readonly wall: number;
}

/** How many servers a session runs. */
export interface SessionShape {
  /** Servers of the peer; more than one form a cluster over {@link engine}. Default 1. */
  readonly nodes?: number;
  /** What joins the nodes of a cluster (required with more than one). */
  readonly engine?: Engine;
  /** History peers: publications each history topic keeps (`BENCH_HISTORY_SIZE`). Default 1000. */
  readonly historySize?: number;
  /** More environment for the servers (e.g. `BENCH_DATABASE_URL`). */
  readonly env?: NodeJS.ProcessEnv;
}

/** A running server (or cluster of servers) and its workers. */
export class Session {
  readonly peer: PeerName;
  readonly servers: readonly ServerChild[];
  readonly workers: readonly WorkerChild[];
  readonly urls: readonly string[];
  /** A cluster's key and subject prefix on its engine (its channels and streams), null for one node. */
  readonly clusterPrefix: string | null;
  readonly #engine: Engine | null;
  private readonly context: SessionContext;
  constructor(
    peer: PeerName,
    servers: readonly ServerChild[],
    workers: readonly WorkerChild[],
    urls: readonly string[],
    context: SessionContext,
    engine: Engine | null,
    clusterPrefix: string | null,
  ) {
    this.peer = peer;
    this.servers = servers;
    this.workers = workers;
    this.urls = urls;
    this.context = context;
    this.#engine = engine;
    this.clusterPrefix = clusterPrefix;
  }

  /** The first node: the one memory and profiles are taken from. */
  get server(): ServerChild {
    return this.servers[0]!;
  }

  /** The worker whose first socket publishes. */
  get publisher(): WorkerChild {
    return this.workers[0]!;
  }

  /**
   * Opens and joins `count` more sockets to node `node`, spread over the workers; resolves when
   * all settled. A worker appends them to its sockets, so the first ever opened stays its first.
   * With `changes` (supabase peer), they join with postgres_changes bindings instead.
   */
  async connect(count: number, node = 0, changes?: Omit<ChangesJoin, 'first'>): Promise<Joined> {
    const { workers } = this;
    const url = this.urls[node];
    if (url === undefined) throw new Error(`no node ${node} in a session of ${this.urls.length}`);
    const share = Math.floor(count / workers.length);
    let first = 0;
    const results = await Promise.all(
      workers.map((worker, i) => {
        const mine = share + (i < count % workers.length ? 1 : 0);
        if (mine === 0) return Promise.resolve({ opened: 0, failed: 0, firstError: null });
        const join = changes === undefined ? undefined : { ...changes, first };
        first += mine;
        worker.send({
          type: 'connect',
          peer: this.peer,
          url,
          count: mine,
          concurrency: this.context.concurrency,
          timeoutMs: HANDSHAKE_TIMEOUT_MS,
          changes: join,
        });
        // Every handshake settles within its timeout, so this bound is generous but finite.
        return worker.next('connected', HANDSHAKE_TIMEOUT_MS + (mine / this.context.concurrency) * HANDSHAKE_TIMEOUT_MS);
      }),
    );
    return mergeJoined(...results);
  }

  /** Server CPU time so far, every node, µs. */
  serverCpu(): number {
    return this.servers.reduce((sum, server) => sum + cpuMicros(server.pid), 0);
  }

  /** CPU time of every worker so far, µs. */
  clientCpu(): number {
    return this.workers.reduce((sum, worker) => sum + cpuMicros(worker.pid), 0);
  }

  /**
   * Starts a CPU measurement of server, clients and everything else on the machine, and the
   * server's CPU profile when profiling.
   */
  async cpuWindow(): Promise<CpuWindow> {
    if (this.context.profile !== null) this.server.send({ type: 'profile-start' });
    return new CpuWindow(this, this.context.profile);
  }

  /** The first node's own counters (`stats`). */
  async serverStats(): Promise<Readonly<Record<string, number>>> {
    this.server.send({ type: 'stats' });
    return (await this.server.next('stats', 10_000)).values;
  }

  /** Forces a full GC in the server and returns its memory. */
  async serverMemory(): Promise<ServerMemory> {
    this.server.send({ type: 'gc' });
    return this.server.next('mem', 10_000);
  }

  /** Stops workers first (they close their sockets), then the servers; drops a cluster's streams on its engine. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.stop({ type: 'close' })));
    await Promise.all(this.servers.map((server) => server.stop({ type: 'stop' }, 5_000)));
    if (this.#engine !== null && this.clusterPrefix !== null) await this.#engine.cleanup(this.clusterPrefix);
  }
}

/** CPU used between its creation and {@link CpuWindow.end}, split by who used it. */
export class CpuWindow {
  readonly #server0: number;
  readonly #client0: number;
  readonly #machine0: number;
  readonly #wall0: number;

  private readonly session: Session;
  private readonly profile: SessionContext['profile'];
  constructor(session: Session, profile: SessionContext['profile']) {
    this.session = session;
    this.profile = profile;
    this.#server0 = session.serverCpu();
    this.#client0 = session.clientCpu();
    this.#machine0 = machineBusyMicros();
    this.#wall0 = nowMicros();
  }

  /**
   * µs of CPU used by the server, the clients and anything else, and the wall time, so far; when
   * profiling, then writes the server's profile (after reading the counters, so writing it is
   * not measured).
   */
  async end(): Promise<CpuUsage> {
    const server = this.session.serverCpu() - this.#server0;
    const client = this.session.clientCpu() - this.#client0;
    const machine = machineBusyMicros() - this.#machine0;
    const wall = nowMicros() - this.#wall0;
    if (this.profile !== null) {
      this.session.server.send({ type: 'profile-stop', file: join(this.profile.dir, `${this.profile.name}.cpuprofile`) });
      await this.session.server.next('profiled', 30_000);
    }
    return { server, client, other: Math.max(0, machine - server - client), wall };
  }
}

/** Starts the server(s) of `peer` and the workers, and waits until every server listens. */
export async function openSession(peer: PeerName, context: SessionContext, shape: SessionShape = {}): Promise<Session> {
  if (context.profile !== null) mkdirSync(context.profile.dir, { recursive: true });
  const nodes = shape.nodes ?? 1;
  const env: NodeJS.ProcessEnv = { ...shape.env };
  const engine = nodes > 1 ? shape.engine : undefined;
  if (nodes > 1) {
    if (engine === undefined) throw new Error(`a session of ${nodes} nodes needs an engine`);
    Object.assign(env, engine.env);
    // Each cluster its own channels and streams: no run sees another's (or anyone else's) past.
    env.BENCH_PUBSUB_PREFIX = `bench-${process.pid}-${++sessions}`;
  }
  if (keepsHistory(peer)) env.BENCH_HISTORY_SIZE = String(shape.historySize ?? 1000);
  const servers: ServerChild[] = [];
  for (let i = 0; i < nodes; i++) {
    servers.push(
      startChild({
        name: nodes === 1 ? `server:${peer}` : `server:${peer}#${i}`,
        file: serverFile(peer),
        core: context.pin ? SERVER_CORE : null,
        nodeArgs: ['--expose-gc'],
        env,
      }),
    );
  }
  const workers: WorkerChild[] = [];
  for (let i = 0; i < context.workers; i++) {
    workers.push(startChild({ name: `worker${i}`, file: WORKER_FILE, core: context.pin ? CLIENT_CORE : null }));
  }
  try {
    const [ready] = await Promise.all([Promise.all(servers.map((s) => s.next('ready', 30_000))), ...workers.map((w) => w.next('ready', 30_000))]);
    const urls = ready.map(({ port }) => `ws://127.0.0.1:${port}`);
    return new Session(peer, servers, workers, urls, context, engine ?? null, env.BENCH_PUBSUB_PREFIX ?? null);
  } catch (err) {
    await Promise.all([...workers.map((w) => w.stop(null, 0)), ...servers.map((s) => s.stop(null, 0))]);
    throw err;
  }
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
