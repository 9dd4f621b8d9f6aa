/**
 * Redis for tests. {@link ensureRedis} makes sure the machine's shared Redis (`TEST_REDIS_URL`,
 * default `redis://127.0.0.1:6379`) answers, starting it when it is down, and otherwise fails with
 * a message saying so — tests never skip. {@link startThrowawayRedis} runs a private
 * `redis-server` as a child process on a free port, for tests that kill and restart it (never do
 * that to the shared one).
 *
 * @example
 * const redis = await startThrowawayRedis();
 * await redis.stop();    // SIGKILL: an outage
 * await redis.restart(); // same port, empty
 */
import { tmpdir } from 'node:os';
import { freePort } from './free-port.ts';
import { spawnServer, type ServerProcess } from './server-process.ts';
import { sharedService } from './shared-service.ts';
import { Redis } from 'ioredis';

/** The shared Redis the tests use. */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const START_REDIS =
  'mkdir -p /var/lib/redis /var/log/redis && redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 ' +
  '--save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log';

/** One PING with a short timeout and no reconnecting; rejects if Redis does not answer PONG. */
export async function pingRedis(url: string): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, retryStrategy: () => null, connectTimeout: 1000, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  // connect() rejects with a bare "Connection is closed"; the cause (ECONNREFUSED…) comes as an event.
  let cause: unknown;
  client.on('error', (err: unknown) => (cause ??= err));
  try {
    await client.connect();
    const reply = await client.ping();
    if (reply !== 'PONG') throw new Error(`PING answered ${reply}`);
  } catch (err) {
    throw cause ?? err;
  } finally {
    client.disconnect();
  }
}

/**
 * Resolves with {@link TEST_REDIS_URL} once Redis answers there, starting the local server if it
 * is down (only when `TEST_REDIS_URL` is not set); throws if it can't.
 */
export function ensureRedis(): Promise<string> {
  return sharedService({ name: 'Redis', envVar: 'TEST_REDIS_URL', url: TEST_REDIS_URL, ping: pingRedis, start: START_REDIS });
}

/** A private redis-server child process. */
export interface ThrowawayRedis {
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** Kills the server (SIGKILL, as a crash) and resolves once it has exited. Idempotent. */
  stop(): Promise<void>;
  /** Starts a fresh, empty server on the same port (stopping the running one first). */
  restart(): Promise<void>;
}

/** Spawns `redis-server` on a free port of 127.0.0.1 and resolves once it answers. */
export async function startThrowawayRedis(): Promise<ThrowawayRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmpdir()];
  let server: ServerProcess | null = null;
  const start = async (): Promise<void> => {
    server = await spawnServer('redis-server', args, pingRedis, url);
  };
  const stop = async (): Promise<void> => {
    const running = server;
    server = null;
    await running?.kill();
  };

  await start();
  return {
    url,
    port,
    stop,
    async restart() {
      await stop();
      await start();
    },
  };
}
