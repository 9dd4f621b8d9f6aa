/**
 * `npm start`: runs the chat on http://127.0.0.1:4000. Configuration comes from the environment
 * (see README): PORT, HOST, DATA_DIR, DATABASE_URL, REDIS_URL, WORKERS, SECRET_KEY_BASE,
 * USER_TOKEN_MAX_AGE, INVITE_MAX_AGE, INVITE_MAX_USES, SESSION_MAX_AGE, PUBLIC_URL, METRICS_TOKEN, LOG_LEVEL,
 * TRUSTED_PROXIES, CONNECTIONS_PER_IP and the
 * budgets and caps (MESSAGES_PER_USER … HISTORY_PER_GUEST_IP, HISTORY_PAGE_BYTES, REPLAY_BYTES, REPLAY_MESSAGES,
 * REPLAY_SECONDS, REPLAY_ROOMS, see `limits.ts`). A malformed value stops the
 * start with a message naming the variable. SIGTERM and SIGINT drain sockets with close code 1012
 * and exit 0.
 *
 * `WORKERS=N` (or `auto`: one per core) runs N processes sharing the port (node:cluster). They
 * need a PubSub that crosses processes, so WORKERS > 1 requires REDIS_URL: without it the server
 * refuses to start rather than run workers that cannot see each other's messages.
 */
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { pino } from 'pino';
import { TrustedProxies } from 'starling-channels';
import { parseRate, type Rate } from './budget.ts';
import { startChat } from './app.ts';
import type { ChatLimits } from './limits.ts';
import { loadSecretKeyBase } from './secret.ts';

function seconds(name: string): number | undefined {
  const value = process.env[name];
  if (value === undefined || value === '') return undefined;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0) throw new Error(`${name} must be a positive number of seconds`);
  return parsed;
}

/** The budgets set in the environment; unset ones keep their defaults. */
function limitsFromEnv(): Partial<ChatLimits> {
  const rates: Record<string, Exclude<keyof ChatLimits, 'historyPageBytes' | 'replayBytes' | 'replayMessages' | 'replaySeconds' | 'replayRooms'>> = {
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
  };
  const limits: Record<string, Rate | number> = {};
  for (const [variable, key] of Object.entries(rates)) {
    const value = process.env[variable];
    if (value !== undefined && value !== '') limits[key] = parseRate(value, variable);
  }
  const byteCaps = { HISTORY_PAGE_BYTES: 'historyPageBytes', REPLAY_BYTES: 'replayBytes' } as const;
  for (const [variable, key] of Object.entries(byteCaps)) {
    const value = process.env[variable];
    if (value === undefined || value === '') continue;
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < 1024) throw new Error(`${variable} must be an integer of at least 1024`);
    limits[key] = parsed;
  }
  const counts = { REPLAY_MESSAGES: 'replayMessages', REPLAY_SECONDS: 'replaySeconds', REPLAY_ROOMS: 'replayRooms' } as const;
  for (const [variable, key] of Object.entries(counts)) {
    const value = process.env[variable];
    if (value === undefined || value === '') continue;
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`${variable} must be a positive integer`);
    limits[key] = parsed;
  }
  return limits as Partial<ChatLimits>;
}

function inviteMaxUses(): number | undefined {
  const value = process.env.INVITE_MAX_USES;
  if (value === undefined || value === '') return undefined;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > 1000) throw new Error('INVITE_MAX_USES must be an integer from 1 to 1000');
  return parsed;
}

/** `TRUSTED_PROXIES`, checked here so that a malformed entry names the variable. */
function trustedProxies(): string | undefined {
  const value = process.env.TRUSTED_PROXIES;
  if (value === undefined || value.trim() === '') return undefined;
  try {
    new TrustedProxies(value);
  } catch (err) {
    throw new Error(`TRUSTED_PROXIES must be a comma-separated list of IP addresses and CIDR ranges (${err instanceof Error ? err.message : String(err)})`);
  }
  return value;
}

function connectionsPerIp(): number | undefined {
  const value = process.env.CONNECTIONS_PER_IP;
  if (value === undefined || value === '') return undefined;
  if (value === 'off') return Number.POSITIVE_INFINITY;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new Error('CONNECTIONS_PER_IP must be a positive integer or "off"');
  return parsed;
}

function workerCount(): number {
  const value = process.env.WORKERS;
  if (value === undefined || value === '') return 1;
  if (value === 'auto') return availableParallelism();
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new Error('WORKERS must be a positive integer or "auto"');
  return parsed;
}

const logger = pino({ level: process.env.LOG_LEVEL ?? 'info' });

const host = process.env.HOST ?? '127.0.0.1';
const dataDir = process.env.DATA_DIR || undefined;
const workers = workerCount();

function onSignals(stop: () => Promise<void>): void {
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'draining');
      stop().then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    });
  }
}

if (workers > 1 && cluster.isPrimary) {
  if (!process.env.REDIS_URL) {
    logger.fatal('WORKERS > 1 needs REDIS_URL: worker processes share broadcasts, presence and LongPoll sessions through Redis');
    process.exit(1);
  }
  // One secret for every worker, decided before they start (generating it in each would race).
  const secret = loadSecretKeyBase(process.env.SECRET_KEY_BASE, dataDir ?? './data', logger);
  let stopping = false;
  const fork = (): void => void cluster.fork({ SECRET_KEY_BASE: secret });
  for (let i = 0; i < workers; i++) fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    logger.error({ pid: worker.process.pid, code, signal }, 'worker died; starting another');
    fork();
  });
  logger.info({ workers, url: `http://${host}:${process.env.PORT ?? 4000}` }, 'chat primary started');
  onSignals(async () => {
    stopping = true;
    const alive = Object.values(cluster.workers ?? {}).filter((worker) => worker !== undefined);
    await Promise.all(
      alive.map(
        (worker) =>
          new Promise<void>((resolve) => {
            worker.once('exit', () => resolve());
            worker.process.kill('SIGTERM');
          }),
      ),
    );
  });
} else {
  const chat = await Promise.resolve()
    .then(() =>
      startChat({
        port: Number(process.env.PORT ?? 4000),
        host,
        dataDir,
        databaseUrl: process.env.DATABASE_URL || undefined,
        redisUrl: process.env.REDIS_URL || undefined,
        secretKeyBase: process.env.SECRET_KEY_BASE,
        userTokenMaxAge: seconds('USER_TOKEN_MAX_AGE'),
        inviteMaxAge: seconds('INVITE_MAX_AGE'),
        sessionMaxAge: seconds('SESSION_MAX_AGE'),
        inviteMaxUses: inviteMaxUses(),
        publicUrl: process.env.PUBLIC_URL || undefined,
        metricsToken: process.env.METRICS_TOKEN || undefined,
        trustedProxies: trustedProxies(),
        connectionsPerIp: connectionsPerIp(),
        limits: limitsFromEnv(),
        logger,
      }),
    )
    .catch((err: unknown) => {
      // A configuration mistake (short SECRET_KEY_BASE, malformed PUBLIC_URL or budget) is one clear line, not a crash.
      logger.fatal({ err }, `chat not started: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    });
  logger.info(
    {
      url: `http://${host}:${chat.port}`,
      storage: process.env.DATABASE_URL ? 'postgresql' : 'sqlite',
      pubsub: process.env.REDIS_URL ? 'redis' : 'in-process',
      worker: cluster.isWorker ? cluster.worker?.id : undefined,
    },
    'chat listening',
  );
  onSignals(() => chat.close());
}
