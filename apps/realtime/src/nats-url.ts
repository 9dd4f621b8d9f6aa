/**
 * `NATS_URL` as the NATS adapter takes it. The NATS client ignores credentials written in a URL,
 * so `nats://user:pass@host:port` becomes user and password and `nats://token@host:port` a token,
 * as the `nats` command line reads them; several servers of one cluster are separated by commas.
 * The servers keep no credentials, so nothing secret reaches a log line. (The chat reads its
 * `NATS_URL` the same way, in `apps/chat/src/engine.ts`.)
 *
 * @example
 * parseNatsUrl('nats://app:secret@10.0.0.1:4222');
 * // { servers: ['nats://10.0.0.1:4222'], connectionOptions: { user: 'app', pass: 'secret' } }
 */
import type { NatsConnectionOptions } from 'starling-channels/nats';

/**
 * The servers and credentials `value` names.
 * @throws Error saying what is accepted
 */
export function parseNatsUrl(value: string): { servers: string[]; connectionOptions: NatsConnectionOptions } {
  const accepts = 'nats://host:port (with user:password@ or token@ when the server wants them; several of one cluster separated by commas)';
  const servers: string[] = [];
  let credentials: NatsConnectionOptions | undefined;
  for (const item of value.split(',').map((part) => part.trim())) {
    let url: URL;
    try {
      url = new URL(item);
    } catch {
      throw new Error(`NATS_URL must be ${accepts} (got ${JSON.stringify(item)})`);
    }
    if (url.protocol !== 'nats:' || url.hostname === '' || (url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.hash !== '') {
      throw new Error(`NATS_URL must be ${accepts}`);
    }
    const user = decodeURIComponent(url.username);
    const pass = decodeURIComponent(url.password);
    const these = user === '' ? undefined : pass === '' ? { token: user } : { user, pass };
    if (these !== undefined) {
      if (credentials !== undefined && JSON.stringify(credentials) !== JSON.stringify(these)) {
        throw new Error('NATS_URL gives different credentials to its servers: give the same to every one');
      }
      credentials = these;
    }
    servers.push(`nats://${url.host}`);
  }
  return { servers, connectionOptions: credentials ?? {} };
}
