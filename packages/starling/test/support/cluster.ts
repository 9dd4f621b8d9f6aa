/**
 * Real Starling server processes sharing one Redis, for the cluster suite (`test/cluster/`). Each
 * node is `test/support/cluster-node.ts` in its own `node` process, configured through its
 * environment; {@link startClusterNode} resolves once its `/health` answers, {@link stopNode}
 * signals it and waits for the exit (SIGKILL after a bound), and {@link killAllNodes} — for
 * `afterEach`, so it runs when a test fails too — kills whatever is still running.
 *
 * Raw-client helpers round it off: {@link joinedClient} connects and joins, {@link presenceSeenBy}
 * folds the `presence_state` and `presence_diff` frames a client received into the list it
 * implies, {@link untilSubscribed} waits until every node has told Redis it wants a topic.
 *
 * @example
 * const env = clusterEnv(await ensureRedis());
 * const [a, b] = await startCluster(env, ['A', 'B']);
 * await b.broadcast('test:room', 'news', { n: 1 });
 * await stopNode(a, 'SIGKILL');
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Cluster, Redis } from 'ioredis';
import { expect } from 'vitest';
import type { PresenceList } from '../../src/index.ts';
import { slotTag, topicSlot } from '../../src/redis/cluster-slots.ts';
import { freePort } from '@starling/test-support/official-client';
import { RawClient } from '@starling/test-support/raw-client';
import { eventually } from '@starling/test-support/eventually';

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));

/** What `cluster-node.ts` reads from its environment. */
export interface ClusterNodeEnv {
  /** A standalone Redis; `''` when the nodes use {@link ClusterNodeEnv.REDIS_CLUSTER_NODES}. */
  readonly REDIS_URL: string;
  /** A Redis Cluster's masters, `host:port,…` (the nodes then use `RedisClusterPubSubAdapter`). */
  readonly REDIS_CLUSTER_NODES?: string;
  /** One cluster per prefix: nodes of another test on the same Redis (or NATS) stay apart. */
  readonly REDIS_PREFIX: string;
  /** NATS instead of Redis: the nodes use NatsPubSubAdapter, `REDIS_PREFIX` as its prefix, and ignore `REDIS_URL`. */
  readonly NATS_URL?: string;
  /** Shared by every node of the cluster (LongPoll session tokens). */
  readonly SECRET_KEY_BASE: string;
  /** Default: a free port. */
  readonly PORT?: string;
  readonly PRESENCE_HEARTBEAT_MS?: string;
  readonly PRESENCE_DOWN_AFTER_MS?: string;
  readonly LONGPOLL_WINDOW_MS?: string;
}

/** How a node's process ended. */
export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** The environment of a new cluster on `redisUrl`: a fresh prefix and a fresh shared secret. */
export function clusterEnv(redisUrl: string, extra: Omit<Partial<ClusterNodeEnv>, 'REDIS_URL'> = {}): ClusterNodeEnv {
  return {
    REDIS_URL: redisUrl,
    REDIS_PREFIX: `cluster-test-${randomBytes(6).toString('hex')}`,
    SECRET_KEY_BASE: randomBytes(48).toString('base64'),
    ...extra,
  };
}

/** The environment of a new cluster over NATS on `natsUrl` (no Redis): a fresh prefix and a fresh shared secret. */
export function natsClusterEnv(natsUrl: string, extra: Omit<Partial<ClusterNodeEnv>, 'REDIS_URL' | 'NATS_URL'> = {}): ClusterNodeEnv {
  return { ...clusterEnv('', extra), NATS_URL: natsUrl };
}

/** The environment of a new cluster on a Redis Cluster (`host:port,…`), as {@link clusterEnv}. */
export function redisClusterEnv(nodes: string, extra: Omit<Partial<ClusterNodeEnv>, 'REDIS_URL' | 'REDIS_CLUSTER_NODES'> = {}): ClusterNodeEnv {
  return { ...clusterEnv('', extra), REDIS_CLUSTER_NODES: nodes };
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  // A crashed test worker must not leave servers behind.
  for (const child of running) child.kill('SIGKILL');
});

/** One running `cluster-node.ts` process. */
export class ClusterNode {
  /** Resolves when the process has exited, however it ended. */
  readonly exited: Promise<ExitStatus>;
  #stderr = '';

  /** A label for messages ("A", "B", …). */
  readonly name: string;
  readonly port: number;
  private readonly child: ChildProcess;
  constructor(name: string, port: number, child: ChildProcess) {
    this.name = name;
    this.port = port;
    this.child = child;
    child.stderr?.on('data', (chunk: Buffer) => (this.#stderr = `${this.#stderr}${chunk.toString()}`.slice(-4000)));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** True until the process has exited. */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** `http://127.0.0.1:PORT` */
  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The socket's mount, as the official client takes it: `ws://127.0.0.1:PORT/socket`. */
  get socketUrl(): string {
    return `ws://127.0.0.1:${this.port}/socket`;
  }

  /** `ws://127.0.0.1:PORT/socket/websocket` */
  get wsUrl(): string {
    return `${this.socketUrl}/websocket`;
  }

  /** `http://127.0.0.1:PORT/socket/longpoll` */
  get longPollUrl(): string {
    return `${this.baseUrl}/socket/longpoll`;
  }

  /** The last few KB the process wrote to stderr, for failure messages. */
  get stderr(): string {
    return this.#stderr;
  }

  /** The HTTP status of `GET /health` (throws if the node does not answer within a second). */
  async health(): Promise<number> {
    const response = await fetch(`${this.baseUrl}/health`, { signal: AbortSignal.timeout(1000) });
    await response.arrayBuffer();
    return response.status;
  }

  /** `endpoint.broadcast(topic, event, payload)` on this node. */
  async broadcast(topic: string, event: string, payload: Record<string, unknown> = {}): Promise<void> {
    const url = `${this.baseUrl}/broadcast?${new URLSearchParams({ topic, event })}`;
    const response = await fetch(url, { method: 'POST', body: JSON.stringify(payload), signal: AbortSignal.timeout(2000) });
    if (response.status !== 204) throw new Error(`node ${this.name}: POST /broadcast answered ${response.status}: ${await response.text()}`);
  }

  /** `endpoint.presence.list(topic)` on this node. */
  async presence(topic: string): Promise<PresenceList> {
    const response = await fetch(`${this.baseUrl}/presence?${new URLSearchParams({ topic })}`, { signal: AbortSignal.timeout(2000) });
    if (response.status !== 200) throw new Error(`node ${this.name}: GET /presence answered ${response.status}`);
    return (await response.json()) as PresenceList;
  }

  /** Sends `signal` (if the process still runs); does not wait. */
  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }
}

/**
 * Spawns a node with `env` (its port a free one unless `env.PORT` is set) and resolves once
 * `/health` answers 200; kills it and throws, with its stderr, if it exits or is not healthy
 * within `timeoutMs`.
 */
export async function startClusterNode(env: ClusterNodeEnv, name = 'node', timeoutMs = 15_000): Promise<ClusterNode> {
  const port = env.PORT ?? String(await freePort());
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./cluster-node.ts', import.meta.url))], {
    cwd: REPO,
    env: { ...process.env, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent', ...env, PORT: port },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  const node = new ClusterNode(name, Number(port), child);
  let healthy = false;
  const exitedFirst = node.exited.then((exit) => {
    if (!healthy) throw new Error(`node ${name} exited (${exit.code ?? exit.signal}) before it was healthy:\n${node.stderr}`);
  });
  const answering = eventually(async () => expect(await node.health()).toBe(200), timeoutMs, 50);
  try {
    await Promise.race([answering, exitedFirst]);
    healthy = true;
    return node;
  } catch (err) {
    if (node.running) {
      await stopNode(node, 'SIGKILL');
      throw new Error(`node ${name} was not healthy within ${timeoutMs} ms:\n${node.stderr}`);
    }
    throw err;
  }
}

/** Starts one node per name, all at once, with the same `env` (each on its own free port). */
export function startCluster(env: ClusterNodeEnv, names: readonly string[] = ['A', 'B', 'C']): Promise<ClusterNode[]> {
  return Promise.all(names.map((name) => startClusterNode(env, name)));
}

/**
 * Sends `signal` to the node and resolves with its exit status once it has exited; a node still
 * running after `timeoutMs` is SIGKILLed (and the status says so).
 */
export async function stopNode(node: ClusterNode, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 5000): Promise<ExitStatus> {
  node.signal(signal);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), timeoutMs)));
  const status = await Promise.race([node.exited, late]);
  clearTimeout(timer);
  if (status !== 'late') return status;
  node.signal('SIGKILL');
  return node.exited;
}

/** SIGKILLs every node process still running and waits for them to exit. For `afterEach`. */
export async function killAllNodes(): Promise<void> {
  // `running` holds exactly the children that have not emitted `exit` yet.
  await Promise.all(
    [...running].map((child) => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      return exited;
    }),
  );
}

/**
 * Pids of this process's live child processes — node processes, throwaway redis-servers,
 * anything — read from `/proc` (Linux); elsewhere, the node processes this module knows of.
 */
export function liveChildProcesses(): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  } catch {
    return [...running].map((child) => child.pid ?? -1);
  }
  const children: number[] = [];
  for (const entry of entries) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ")".
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(ppid) === process.pid && state !== 'Z') children.push(Number(entry));
  }
  return children;
}

/**
 * Waits until `count` subscriptions to `topic` are registered in Redis — one per node that has
 * a local subscriber — so that a broadcast published now reaches all of them. Subscribing is
 * asynchronous (a join is answered before Redis confirms its SUBSCRIBE), and Redis pub/sub drops
 * what nobody subscribes to yet. Knows the adapter's channel name: `<prefix>:t:<topic>`.
 */
export async function untilSubscribed(env: ClusterNodeEnv, topic: string, count: number, timeoutMs = 3000): Promise<void> {
  if (env.REDIS_CLUSTER_NODES !== undefined) return untilShardSubscribed(env.REDIS_CLUSTER_NODES, env.REDIS_PREFIX, topic, count, timeoutMs);
  const redis = new Redis(env.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0 });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    const channel = `${env.REDIS_PREFIX}:t:${topic}`;
    await eventually(
      async () => {
        const [, subscribers] = (await redis.call('PUBSUB', 'NUMSUB', channel)) as [string, number];
        expect(subscribers, `${channel}'s subscribers`).toBeGreaterThanOrEqual(count);
      },
      timeoutMs,
      20,
    );
  } finally {
    redis.disconnect();
  }
}

/**
 * {@link untilSubscribed} on a Redis Cluster: counts the SSUBSCRIBEs of the topic's shard channel
 * (`<prefix>:t:{<slot tag>}:<topic>`) on the master that owns its slot.
 */
async function untilShardSubscribed(nodes: string, prefix: string, topic: string, count: number, timeoutMs: number): Promise<void> {
  const redis = new Cluster(nodes.split(','), { lazyConnect: true });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    const channel = `${prefix}:t:{${slotTag(topicSlot(topic))}}:${topic}`;
    await eventually(
      async () => {
        const replies = await Promise.all(redis.nodes('master').map((node) => node.call('PUBSUB', 'SHARDNUMSUB', channel) as Promise<[string, number]>));
        expect(Math.max(...replies.map(([, n]) => n)), `${channel}'s shard subscribers`).toBeGreaterThanOrEqual(count);
      },
      timeoutMs,
      20,
    );
  } finally {
    redis.disconnect();
  }
}

/** A raw client joined to one topic: pushes carry the join's `join_ref`. */
export class ChannelClient {
  #ref = 0;

  readonly raw: RawClient;
  readonly topic: string;
  readonly joinRef: string;
  constructor(raw: RawClient, topic: string, joinRef: string) {
    this.raw = raw;
    this.topic = topic;
    this.joinRef = joinRef;
  }

  /** Pushes `event` on the topic; returns the push's ref (for {@link RawClient.reply}). */
  push(event: string, payload: Record<string, unknown> = {}): string {
    const ref = `${this.joinRef}.${++this.#ref}`;
    this.raw.send([this.joinRef, ref, this.topic, event, payload]);
    return ref;
  }

  /** Payloads of the `event` messages received on the topic so far, in arrival order. */
  received(event: string): unknown[] {
    return this.raw.frames.flatMap((frame) =>
      !frame.binary && Array.isArray(frame.json) && frame.json[2] === this.topic && frame.json[3] === event ? [frame.json[4]] : [],
    );
  }
}

let joins = 0;

/**
 * A raw WebSocket client (V2 frames) connected to `node` with `params`, joined to `topic` with
 * `payload`; the join's reply is checked to be ok.
 */
export async function joinedClient(
  node: ClusterNode,
  topic: string,
  payload: Record<string, unknown> = {},
  params: Record<string, string> = {},
): Promise<ChannelClient> {
  const raw = await RawClient.connect(`${node.wsUrl}?${new URLSearchParams({ vsn: '2.0.0', ...params })}`);
  const joinRef = `j${++joins}`;
  raw.send([joinRef, joinRef, topic, 'phx_join', payload]);
  const reply = await raw.reply(joinRef, 3000);
  expect(reply[4], `join of ${topic} on node ${node.name}`).toMatchObject({ status: 'ok' });
  return new ChannelClient(raw, topic, joinRef);
}

/** Resolves as `promise` does, or rejects after `ms` saying that `what` did not happen. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The presence list `client` was told about on `topic`: its `presence_state` and `presence_diff`
 * frames folded in arrival order (as phoenix.js's Presence does), as key → sorted `phx_ref`s.
 */
export function presenceSeenBy(client: RawClient, topic: string): Record<string, string[]> {
  const seen = new Map<string, Set<string>>();
  const refsOf = (list: unknown): Array<[string, string[]]> =>
    Object.entries((list ?? {}) as PresenceList).map(([key, { metas }]) => [key, metas.map((meta) => meta.phx_ref)]);
  for (const frame of client.frames) {
    if (frame.binary || !Array.isArray(frame.json) || frame.json[2] !== topic) continue;
    const [, , , event, payload] = frame.json as [unknown, unknown, string, string, Record<string, unknown>];
    if (event === 'presence_state') {
      seen.clear();
      for (const [key, phxRefs] of refsOf(payload)) seen.set(key, new Set(phxRefs));
    } else if (event === 'presence_diff') {
      for (const [key, phxRefs] of refsOf(payload.joins)) {
        const set = seen.get(key) ?? new Set();
        for (const ref of phxRefs) set.add(ref);
        seen.set(key, set);
      }
      for (const [key, phxRefs] of refsOf(payload.leaves)) {
        const set = seen.get(key);
        for (const ref of phxRefs) set?.delete(ref);
        if (set?.size === 0) seen.delete(key);
      }
    }
  }
  return Object.fromEntries([...seen].sort(([a], [b]) => a.localeCompare(b)).map(([key, set]) => [key, [...set].sort()]));
}

/** The same view of a node's `GET /presence` answer: key → sorted `phx_ref`s. */
export function presenceRefs(list: PresenceList): Record<string, string[]> {
  return Object.fromEntries(
    Object.entries(list)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, { metas }]) => [key, metas.map((meta) => meta.phx_ref).sort()]),
  );
}
