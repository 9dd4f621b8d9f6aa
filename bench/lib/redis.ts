/**
 * @module bench/redis
 * The Redis a cross-node run goes through (`BENCH_REDIS_URL`, default `redis://127.0.0.1:6379`):
 * checked before the servers start, so a missing Redis is one clear error instead of servers that
 * never see each other, and its CPU time, reported beside the nodes'; and the cleanup of a
 * cluster run's keys.
 */
import { Redis } from 'ioredis';

/** The Redis URL every cross-node server and this harness use. */
export function redisUrl(): string {
  return process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
}

/**
 * Redis's own CPU time, read with `INFO cpu` (getrusage, µs precision — finer than /proc's 10 ms
 * ticks, which a phase of a few ms of Redis work cannot resolve). Opening it checks that Redis is
 * there, so a missing Redis is one clear error before any server starts.
 */
export class RedisMeter {
  /** True when Redis runs on this machine: its CPU then counts in /proc's machine-wide busy time. */
  readonly local: boolean;
  readonly #client: Redis;
  private constructor(client: Redis, local: boolean) {
    this.#client = client;
    this.local = local;
  }

  /** Connects to `BENCH_REDIS_URL`. @throws Error naming the URL when Redis is not reachable */
  static async open(): Promise<RedisMeter> {
    const url = redisUrl();
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2_000 });
    try {
      await client.connect();
      await client.ping();
    } catch (err) {
      client.disconnect();
      throw new Error(`cross-node scenario needs Redis at ${url} (BENCH_REDIS_URL): ${err instanceof Error ? err.message : String(err)}`);
    }
    return new RedisMeter(client, /^redis:\/\/(127\.0\.0\.1|localhost|\[::1\])(:|\/|$)/.test(url));
  }

  /** User + system CPU time of the Redis server so far, µs (its INFO reply included). */
  async micros(): Promise<number> {
    const info = await this.#client.info('cpu');
    const field = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
    return (field('used_cpu_user') + field('used_cpu_sys')) * 1e6;
  }

  close(): void {
    this.#client.disconnect();
  }
}

/**
 * Deletes every key that starts with `prefix` (SCAN, bounded batches): a cluster run's streams.
 * Best effort: a Redis that went away leaves them to their TTL.
 */
export async function deleteKeys(prefix: string): Promise<number> {
  const client = new Redis(redisUrl(), { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2_000 });
  let deleted = 0;
  try {
    await client.connect();
    let cursor = '0';
    // Bounded: SCAN visits each key at most a few times and ends at cursor 0; the cap is a backstop.
    for (let pass = 0; pass < 10_000; pass++) {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`, 'COUNT', 1000);
      if (keys.length > 0) deleted += await client.del(...keys);
      cursor = next;
      if (cursor === '0') break;
    }
  } catch {
    // Best effort.
  } finally {
    client.disconnect();
  }
  return deleted;
}
