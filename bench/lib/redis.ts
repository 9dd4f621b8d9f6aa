/**
 * @module bench/redis
 * The Redis a cross-node run goes through (`BENCH_REDIS_URL`, default `redis://127.0.0.1:6379`):
 * checked before the servers start, so a missing Redis is one clear error instead of servers that
 * never see each other, and its CPU time (or a Redis Cluster's, master by master), reported beside
 * the nodes'; and the cleanup of a cluster run's keys.
 */
import { Redis } from 'ioredis';

/** The Redis URL every cross-node server and this harness use. */
export function redisUrl(): string {
  return process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
}

/** One Redis connection that fails fast instead of retrying. */
function fastClient(url: string): Redis {
  return new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2_000 });
}

/**
 * Redis's own CPU time, read with `INFO cpu` (getrusage, µs precision — finer than /proc's 10 ms
 * ticks, which a phase of a few ms of Redis work cannot resolve), summed over several servers (the
 * masters of a Redis Cluster). Opening it checks that every one is there, so a missing Redis is
 * one clear error before any server starts.
 */
export class RedisMeter {
  /** True when every Redis runs on this machine: their CPU then counts in /proc's machine-wide busy time. */
  readonly local: boolean;
  readonly #clients: readonly Redis[];
  private constructor(clients: readonly Redis[], local: boolean) {
    this.#clients = clients;
    this.local = local;
  }

  /** Connects to each of `urls` (default `BENCH_REDIS_URL`). @throws Error naming the URL when one is not reachable */
  static async open(urls: readonly string[] = [redisUrl()]): Promise<RedisMeter> {
    const clients: Redis[] = [];
    for (const url of urls) {
      const client = fastClient(url);
      clients.push(client);
      try {
        await client.connect();
        await client.ping();
      } catch (err) {
        for (const c of clients) c.disconnect();
        throw new Error(`cross-node scenario needs Redis at ${url}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return new RedisMeter(
      clients,
      urls.every((url) => /^redis:\/\/(127\.0\.0\.1|localhost|\[::1\])(:|\/|$)/.test(url)),
    );
  }

  /** User + system CPU time of the Redis servers so far, µs (their INFO replies included). */
  async micros(): Promise<number> {
    const infos = await Promise.all(this.#clients.map((client) => client.info('cpu')));
    const field = (info: string, name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
    return infos.reduce((sum, info) => sum + (field(info, 'used_cpu_user') + field(info, 'used_cpu_sys')) * 1e6, 0);
  }

  close(): void {
    for (const client of this.#clients) client.disconnect();
  }
}

/**
 * Deletes every key that starts with `prefix` (SCAN, bounded batches): a cluster run's streams.
 * Best effort: a Redis that went away leaves them to their TTL.
 */
export async function deleteKeys(prefix: string): Promise<number> {
  const client = fastClient(redisUrl());
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
