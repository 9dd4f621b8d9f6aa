/**
 * The chat's configuration, read from the environment once at start and checked as a whole: a
 * malformed value is a {@link ConfigError} whose message names the variable and what it accepts,
 * which `server.ts` prints as one line (no stack) before exiting 1 — in the primary, before any
 * worker starts, so that a typo never becomes a respawn loop.
 */
import { availableParallelism } from 'node:os';
import { TrustedProxies } from 'starling-channels';
import { parseRate, type Rate } from './budget.ts';
import type { ChatOptions } from './app.ts';
import { parsePublicUrl } from './app.ts';
import { natsOptionsFromUrl } from 'starling-channels/nats';
import type { ChatLimits } from './limits.ts';
import { MIN_SECRET_LENGTH } from './secret.ts';

/** A setting that cannot be used: its message names the variable and what it accepts. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** pino's levels, and `silent`. */
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** Everything `server.ts` needs, checked. */
export interface ChatConfig {
  /** Processes sharing the port (`WORKERS`). */
  readonly workers: number;
  readonly logLevel: (typeof LOG_LEVELS)[number];
  /** How long a drain may take before the process exits anyway (`SHUTDOWN_TIMEOUT`, seconds). */
  readonly shutdownTimeoutMs: number;
  /** The options of `startChat`, without the logger. */
  readonly chat: Omit<ChatOptions, 'logger'> & { readonly port: number; readonly host: string };
}

type Env = Readonly<Record<string, string | undefined>>;

/** The value of `name`, or undefined when unset or empty. */
function valueOf(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

function integer(env: Env, name: string, min: number, max: number, accepts: string): number | undefined {
  const value = valueOf(env, name);
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min || parsed > max) throw new ConfigError(`${name} must be ${accepts} (got ${JSON.stringify(value)})`);
  return parsed;
}

function seconds(env: Env, name: string): number | undefined {
  return integer(env, name, 1, Number.MAX_SAFE_INTEGER, 'a positive whole number of seconds');
}

function url(env: Env, name: string, protocols: readonly string[], example: string): string | undefined {
  const value = valueOf(env, name);
  if (value === undefined) return undefined;
  let parsed: URL | undefined;
  try {
    parsed = new URL(value);
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || !protocols.includes(parsed.protocol)) throw new ConfigError(`${name} must be a URL such as ${example}`);
  return value;
}

/** `host:port,host:port,…`: some masters of a Redis Cluster (the rest is discovered). */
function clusterNodes(env: Env, name: string): string[] | undefined {
  const value = valueOf(env, name);
  if (value === undefined) return undefined;
  const nodes = value.split(',').map((node) => node.trim());
  for (const node of nodes) {
    const match = /^([A-Za-z0-9.-]+):(\d{1,5})$/.exec(node);
    if (match === null || Number(match[2]) < 1 || Number(match[2]) > 65_535) {
      throw new ConfigError(`${name} must be host:port pairs separated by commas, such as 10.0.0.1:6379,10.0.0.2:6379 (got ${JSON.stringify(node)})`);
    }
  }
  return nodes;
}

/** `nats://host:port`, checked as the chat will read it (`engine.ts`). */
function nats(env: Env): string | undefined {
  const value = valueOf(env, 'NATS_URL');
  if (value === undefined) return undefined;
  try {
    natsOptionsFromUrl(value, 'NATS_URL');
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  return value;
}

const RATES = {
  MESSAGES_PER_USER: 'messagesPerUser',
  MESSAGES_PER_IP: 'messagesPerIp',
  ROOMS_PER_USER: 'roomsPerUser',
  ROOMS_PER_IP: 'roomsPerIp',
  INVITES_PER_USER: 'invitesPerUser',
  INVITES_PER_IP: 'invitesPerIp',
  IDENTITIES_PER_IP: 'identitiesPerIp',
  JOINS_PER_USER: 'joinsPerUser',
  JOINS_PER_IP: 'joinsPerIp',
  ANNOUNCEMENTS_PER_USER: 'announcementsPerUser',
  HISTORY_PER_USER: 'historyPerUser',
  HISTORY_PER_IP: 'historyPerIp',
  HISTORY_PER_GUEST_IP: 'historyPerGuestIp',
  EDITS_PER_USER: 'editsPerUser',
  EDITS_PER_IP: 'editsPerIp',
  TYPING_PER_USER: 'typingPerUser',
  TYPING_PER_IP: 'typingPerIp',
  READS_PER_USER: 'readsPerUser',
  READS_PER_IP: 'readsPerIp',
} as const satisfies Record<string, keyof ChatLimits>;

const BYTE_CAPS = { HISTORY_PAGE_BYTES: 'historyPageBytes', REPLAY_BYTES: 'replayBytes' } as const satisfies Record<string, keyof ChatLimits>;

const COUNTS = { REPLAY_MESSAGES: 'replayMessages', REPLAY_SECONDS: 'replaySeconds', REPLAY_ROOMS: 'replayRooms' } as const satisfies Record<
  string,
  keyof ChatLimits
>;

/** The budgets set in the environment; unset ones keep their defaults. */
function limits(env: Env): Partial<ChatLimits> {
  const set: Record<string, Rate | number> = {};
  for (const [variable, key] of Object.entries(RATES)) {
    const value = valueOf(env, variable);
    if (value === undefined) continue;
    try {
      set[key] = parseRate(value, variable);
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
  }
  for (const [variable, key] of Object.entries(BYTE_CAPS)) {
    const value = integer(env, variable, 1024, Number.MAX_SAFE_INTEGER, 'an integer of at least 1024');
    if (value !== undefined) set[key] = value;
  }
  for (const [variable, key] of Object.entries(COUNTS)) {
    const value = integer(env, variable, 1, Number.MAX_SAFE_INTEGER, 'a positive integer');
    if (value !== undefined) set[key] = value;
  }
  return set as Partial<ChatLimits>;
}

function workers(env: Env): number {
  if (valueOf(env, 'WORKERS') === 'auto') return availableParallelism();
  return integer(env, 'WORKERS', 1, 1024, 'a positive integer or "auto"') ?? 1;
}

function trustedProxies(env: Env): string | undefined {
  const value = valueOf(env, 'TRUSTED_PROXIES');
  if (value === undefined || value.trim() === '') return undefined;
  try {
    new TrustedProxies(value);
  } catch (err) {
    throw new ConfigError(
      `TRUSTED_PROXIES must be a comma-separated list of IP addresses and CIDR ranges (${err instanceof Error ? err.message : String(err)})`,
    );
  }
  return value;
}

function connectionsPerIp(env: Env): number | undefined {
  if (valueOf(env, 'CONNECTIONS_PER_IP') === 'off') return Number.POSITIVE_INFINITY;
  return integer(env, 'CONNECTIONS_PER_IP', 1, Number.MAX_SAFE_INTEGER, 'a positive integer or "off"');
}

function publicUrl(env: Env): string | undefined {
  const value = valueOf(env, 'PUBLIC_URL');
  if (value === undefined) return undefined;
  try {
    return parsePublicUrl(value);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

function logLevel(env: Env): ChatConfig['logLevel'] {
  const value = valueOf(env, 'LOG_LEVEL') ?? 'info';
  const level = LOG_LEVELS.find((known) => known === value);
  if (level === undefined) throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(value)})`);
  return level;
}

function secretKeyBase(env: Env): string | undefined {
  const value = valueOf(env, 'SECRET_KEY_BASE');
  if (value !== undefined && value.length < MIN_SECRET_LENGTH) {
    throw new ConfigError(
      `SECRET_KEY_BASE must be at least ${MIN_SECRET_LENGTH} characters (it is ${value.length}); generate one with: openssl rand -base64 48`,
    );
  }
  return value;
}

/**
 * Reads and checks every setting of the chat.
 * @throws ConfigError naming the first variable that cannot be used
 */
export function readConfig(env: Env): ChatConfig {
  const count = workers(env);
  const redisUrl = url(env, 'REDIS_URL', ['redis:', 'rediss:'], 'redis://127.0.0.1:6379');
  const redisClusterNodes = clusterNodes(env, 'REDIS_CLUSTER_NODES');
  const natsUrl = nats(env);
  // The engine several processes share: at most one.
  const engines = (
    [
      ['REDIS_URL', redisUrl],
      ['REDIS_CLUSTER_NODES', redisClusterNodes],
      ['NATS_URL', natsUrl],
    ] as const
  ).flatMap(([name, value]) => (value === undefined ? [] : [name]));
  if (engines.length > 1) {
    throw new ConfigError(
      `${engines.join(' and ')} are exclusive: set one of REDIS_URL (a standalone Redis), REDIS_CLUSTER_NODES (a Redis Cluster) or NATS_URL (NATS with JetStream)`,
    );
  }
  if (count > 1 && engines.length === 0) {
    throw new ConfigError(
      'WORKERS > 1 needs REDIS_URL, REDIS_CLUSTER_NODES or NATS_URL: worker processes share broadcasts, presence, replay streams and LongPoll sessions through it',
    );
  }
  const inviteMaxUses = integer(env, 'INVITE_MAX_USES', 1, 1000, 'an integer from 1 to 1000');
  return {
    workers: count,
    logLevel: logLevel(env),
    shutdownTimeoutMs: (seconds(env, 'SHUTDOWN_TIMEOUT') ?? 30) * 1000,
    chat: {
      port: integer(env, 'PORT', 0, 65_535, 'a port number from 0 to 65535') ?? 4000,
      host: valueOf(env, 'HOST') ?? '127.0.0.1',
      dataDir: valueOf(env, 'DATA_DIR'),
      databaseUrl: url(env, 'DATABASE_URL', ['postgres:', 'postgresql:'], 'postgres://user@127.0.0.1:5432/chat'),
      redisUrl,
      ...(redisClusterNodes === undefined ? {} : { redisClusterNodes }),
      ...(natsUrl === undefined ? {} : { natsUrl }),
      secretKeyBase: secretKeyBase(env),
      userTokenMaxAge: seconds(env, 'USER_TOKEN_MAX_AGE'),
      inviteMaxAge: seconds(env, 'INVITE_MAX_AGE'),
      sessionMaxAge: seconds(env, 'SESSION_MAX_AGE'),
      ...(inviteMaxUses === undefined ? {} : { inviteMaxUses }),
      publicUrl: publicUrl(env),
      metricsToken: valueOf(env, 'METRICS_TOKEN'),
      trustedProxies: trustedProxies(env),
      connectionsPerIp: connectionsPerIp(env),
      limits: limits(env),
    },
  };
}
