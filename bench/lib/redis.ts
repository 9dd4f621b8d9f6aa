/**
 * @module bench/redis
 * The Redis a cross-node run goes through (`BENCH_REDIS_URL`, default `redis://127.0.0.1:6379`):
 * checked before the servers start, so a missing Redis is one clear error instead of servers that
 * never see each other, and its pid, so that its CPU time is reported beside the nodes'.
 */
import { Redis } from 'ioredis';

/** The Redis URL every cross-node server and this harness use. */
export function redisUrl(): string {
  return process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
}

/** Pings Redis and returns the pid of its server process (null when it is not on this machine). */
export async function redisServerPid(): Promise<number | null> {
  const url = redisUrl();
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2_000 });
  try {
    await client.connect();
    const info = await client.info('server');
    const pid = /process_id:(\d+)/.exec(info)?.[1];
    // A Redis on another host: its pid means nothing here.
    const local = /^redis:\/\/(127\.0\.0\.1|localhost|\[::1\])(:|\/|$)/.test(url);
    return pid !== undefined && local ? Number(pid) : null;
  } catch (err) {
    throw new Error(`cross-node scenario needs Redis at ${url} (BENCH_REDIS_URL): ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    client.disconnect();
  }
}
