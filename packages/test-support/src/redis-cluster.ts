/**
 * A private Redis Cluster for tests: three `redis-server` child processes in cluster mode on free
 * ports of 127.0.0.1, no replicas, joined by `redis-cli --cluster create`. A test file starts one
 * in `beforeAll` and stops it in `afterAll`; {@link ThrowawayRedisCluster.killMaster} and
 * {@link ThrowawayRedisCluster.restartMaster} make one shard's outage (the restarted master
 * keeps its slots — its `nodes-<port>.conf` survives — but comes back empty).
 *
 * The nodes run with `cluster-require-full-coverage no`, so that while one master is down the
 * others keep serving their slots: the outage of one shard, not of the cluster.
 *
 * @example
 * const cluster = await startThrowawayRedisCluster();
 * new RedisClusterPubSubAdapter({ nodes: cluster.nodes });
 * await cluster.killMaster(0);
 * await cluster.restartMaster(0);
 * await cluster.stop();
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free-port.ts';
import { pingRedis } from './redis.ts';
import { spawnServer, type ServerProcess } from './server-process.ts';

/** A private Redis Cluster of three masters. */
export interface ThrowawayRedisCluster {
  /** The masters, in start order: any of them is enough for a client to discover the rest. */
  readonly nodes: ReadonlyArray<{ readonly host: string; readonly port: number }>;
  /** `host:port,host:port,…`, as `REDIS_CLUSTER_NODES` takes it. */
  readonly nodesEnv: string;
  /** SIGKILLs master `index` (a crash) and resolves once it has exited. */
  killMaster(index: number): Promise<void>;
  /** Starts master `index` again, empty but with its slots, and resolves once the cluster reports ok. */
  restartMaster(index: number): Promise<void>;
  /** SIGKILLs every master: the whole cluster's outage. */
  killAll(): Promise<void>;
  /** Starts every master again (empty, with their slots) and resolves once the cluster reports ok. */
  restartAll(): Promise<void>;
  /** Kills every node and removes their directory. */
  stop(): Promise<void>;
}

const run = promisify(execFile);
async function until(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  let last: unknown = null;
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline;) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`Redis Cluster: ${what} not within ${timeoutMs} ms${last === null ? '' : ` (last error: ${String(last)})`}`);
}

async function clusterInfo(port: number): Promise<string> {
  const { stdout } = await run('redis-cli', ['-p', String(port), 'cluster', 'info'], { timeout: 2000 });
  return stdout;
}

/** Starts three cluster-mode `redis-server`s, creates the cluster and resolves once every node reports `cluster_state:ok`. */
export async function startThrowawayRedisCluster(): Promise<ThrowawayRedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'starling-redis-cluster-'));
  const ports = [await freePort(), await freePort(), await freePort()];
  // The bus port is a free port of its own, not Redis's default (the port + 10,000).
  const busPorts = new Map<number, number>();
  for (const port of ports) busPorts.set(port, await freePort());
  const running = new Map<number, ServerProcess>();

  const spawnNode = async (port: number): Promise<void> => {
    const args = ['--port', String(port), '--cluster-port', String(busPorts.get(port)), '--bind', '127.0.0.1', '--cluster-enabled', 'yes'];
    args.push('--cluster-config-file', `nodes-${port}.conf`);
    args.push('--cluster-node-timeout', '2000', '--cluster-require-full-coverage', 'no', '--save', '', '--appendonly', 'no', '--dir', dir);
    running.set(port, await spawnServer('redis-server', args, pingRedis, `redis://127.0.0.1:${port}`));
  };

  const kill = async (port: number): Promise<void> => {
    const server = running.get(port);
    running.delete(port);
    await server?.kill();
  };

  const allOk = (): Promise<void> =>
    until(async () => (await Promise.all(ports.map(clusterInfo))).every((info) => info.includes('cluster_state:ok')), 'cluster_state:ok on every node');

  try {
    await Promise.all(ports.map(spawnNode));
    const addresses = ports.map((port) => `127.0.0.1:${port}`);
    await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], { timeout: 20_000 });
    await allOk();
  } catch (err) {
    await Promise.all(ports.map(kill));
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`could not start a throwaway Redis Cluster: ${String(err)}`);
  }

  const portOf = (index: number): number => {
    const port = ports[index];
    if (port === undefined) throw new Error(`no master ${index}`);
    return port;
  };
  return {
    nodes: ports.map((port) => ({ host: '127.0.0.1', port })),
    nodesEnv: ports.map((port) => `127.0.0.1:${port}`).join(','),
    killMaster: (index) => kill(portOf(index)),
    async restartMaster(index) {
      const port = portOf(index);
      await kill(port);
      await spawnNode(port);
      await allOk();
    },
    async killAll() {
      await Promise.all(ports.map(kill));
    },
    async restartAll() {
      await Promise.all(ports.map(kill));
      await Promise.all(ports.map(spawnNode));
      await allOk();
    },
    async stop() {
      await Promise.all(ports.map(kill));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
