/**
 * @module nats/nats-url
 * A NATS URL as {@link NatsPubSubAdapter} takes it. The NATS client ignores credentials written in
 * a URL, so `nats://user:pass@host:port` becomes a user and password and `nats://token@host:port`
 * a token, as the `nats` command line reads them; several servers of one cluster are separated by
 * commas. The servers keep no credentials, so nothing secret reaches a log line.
 */
import type { NatsConnectionOptions } from './nats-pubsub-adapter.ts';

/** The servers and credentials of a NATS URL (see {@link natsOptionsFromUrl}). */
export interface NatsUrlOptions {
  /** `nats://host:port` of each server, without credentials. */
  readonly servers: string[];
  /** `{user, pass}`, `{token}`, or nothing. */
  readonly connectionOptions: NatsConnectionOptions;
}

/**
 * Reads `value` — `nats://host:port`, with `user:password@` or `token@` when the server wants
 * them, several of one cluster separated by commas — into the adapter's `servers` and
 * `connectionOptions`.
 *
 * @param name what `value` is called in error messages, such as an environment variable's name
 * @throws Error saying what is accepted, when `value` is not such a URL or gives its servers different credentials
 *
 * @example
 * const { servers, connectionOptions } = natsOptionsFromUrl(process.env.NATS_URL ?? '', 'NATS_URL');
 * new NatsPubSubAdapter({ servers, connectionOptions });
 * natsOptionsFromUrl('nats://app:secret@10.0.0.1:4222');
 * // { servers: ['nats://10.0.0.1:4222'], connectionOptions: { user: 'app', pass: 'secret' } }
 */
export function natsOptionsFromUrl(value: string, name = 'a NATS URL'): NatsUrlOptions {
  const accepts = 'nats://host:port (with user:password@ or token@ when the server wants them; several of one cluster separated by commas)';
  const servers: string[] = [];
  let credentials: NatsConnectionOptions | undefined;
  for (const item of value.split(',').map((part) => part.trim())) {
    let url: URL;
    try {
      url = new URL(item);
    } catch {
      throw new Error(`${name} must be ${accepts} (got ${JSON.stringify(item)})`);
    }
    if (url.protocol !== 'nats:' || url.hostname === '' || (url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.hash !== '') {
      throw new Error(`${name} must be ${accepts}`);
    }
    const user = decodeURIComponent(url.username);
    const pass = decodeURIComponent(url.password);
    const these = user === '' ? undefined : pass === '' ? { token: user } : { user, pass };
    if (these !== undefined) {
      if (credentials !== undefined && JSON.stringify(credentials) !== JSON.stringify(these)) {
        throw new Error(`${name} gives different credentials to its servers: give the same to every one`);
      }
      credentials = these;
    }
    servers.push(`nats://${url.host}`);
  }
  return { servers, connectionOptions: credentials ?? {} };
}
