/**
 * @module redis/connection
 * Lifecycle helpers for ioredis connections, shared by the Redis adapters: wait for `ready`
 * without mistaking a reconnect attempt's error for the end, shut down within a bound, keep
 * passwords out of logs. Internal to `redis`.
 */
import type { Redis } from 'ioredis';
import type { Clock } from '../clock.ts';
import { settleWithin } from '../runtime/clock.ts';

const QUIT_TIMEOUT_MS = 2000;

/** Resolves on `ready`; rejects if the connection ends for good first. */
export function whenReady(client: Redis): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onReady = (): void => {
      client.off('end', onEnd);
      resolve();
    };
    const onEnd = (): void => {
      client.off('ready', onReady);
      reject(new Error('connection ended'));
    };
    client.once('ready', onReady);
    client.once('end', onEnd);
  });
}

/** QUITs (or, when not connected, disconnects) and resolves once the connection has ended (or 2 s on `clock` passed). */
export async function shutdown(client: Redis, clock: Clock): Promise<void> {
  if (client.status === 'end') return;
  if (client.status === 'reconnecting' || client.status === 'close') {
    // No socket is open, and ioredis emits no `end` for a disconnect between two attempts.
    client.disconnect();
    return;
  }
  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
  if (client.status === 'ready') {
    client.quit().catch(() => client.disconnect());
  } else {
    client.disconnect();
  }
  await settleWithin(ended, QUIT_TIMEOUT_MS, clock);
  // Re-read: the status changed while we waited (TypeScript still holds the narrowed one).
  if ((client.status as string) !== 'end') client.disconnect();
}

/** The URL without its password, for logs and errors. */
export function redacted(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable Redis URL)';
  }
}
