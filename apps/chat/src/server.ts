/**
 * `npm start`: runs the chat on http://127.0.0.1:4000. Every setting comes from the environment
 * and is checked at once (`config.ts`, README's configuration table); a malformed one stops the
 * start with one line naming the variable. SIGTERM and SIGINT drain sockets with close code 1012
 * within `SHUTDOWN_TIMEOUT` and exit 0.
 *
 * `WORKERS=N` (or `auto`: one per core) runs N processes sharing the port (node:cluster), watched
 * by the primary (`workers.ts`): a worker that cannot start stops the whole server with its
 * reason, later deaths are restarted with backoff, and a crash loop stops the server. Workers
 * need a PubSub that crosses processes, so WORKERS > 1 requires REDIS_URL, REDIS_CLUSTER_NODES or
 * NATS_URL.
 */
import cluster from 'node:cluster';
import { pino, type Logger } from 'pino';
import { startChat } from './app.ts';
import { ConfigError, readConfig, type ChatConfig } from './config.ts';
import { engineName } from './engine.ts';
import { loadSecretKeyBase } from './secret.ts';
import { superviseWorkers, tellPrimary } from './workers.ts';

let config: ChatConfig;
try {
  config = readConfig(process.env);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  // One line, no stack: LOG_LEVEL itself may be the mistake, so this logger ignores it.
  pino().fatal({ code: 'config' }, `chat not started: ${err.message}`);
  process.exit(1);
}

const logger = pino({ level: config.logLevel });
const { chat: options } = config;

/** Runs `stop` on SIGTERM/SIGINT, bounded by SHUTDOWN_TIMEOUT, and exits. */
function onSignals(log: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      const startedAt = Date.now();
      log.info({ signal, timeoutMs: config.shutdownTimeoutMs }, 'draining');
      const timer = setTimeout(() => {
        log.error({ timeoutMs: config.shutdownTimeoutMs }, 'drain timed out; exiting');
        process.exit(1);
      }, config.shutdownTimeoutMs);
      stop().then(
        () => {
          clearTimeout(timer);
          log.info({ ms: Date.now() - startedAt }, 'drained');
          process.exit(0);
        },
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    });
  }
}

/** The startup line: where the chat is, and what it stands on. */
function describeStart(port: number): Record<string, unknown> {
  return {
    url: `http://${options.host}:${port}`,
    publicUrl: options.publicUrl ?? `http://${options.host}:${port}`,
    storage: options.databaseUrl ? 'postgresql' : 'sqlite',
    pubsub: engineName(options) ?? 'in-process',
  };
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);
if (cluster.isPrimary && !LOOPBACK.has(options.host) && options.publicUrl === undefined) {
  logger.warn(
    { host: options.host },
    'HOST is not loopback and PUBLIC_URL is unset: pages are expected at http://HOST:PORT; behind a proxy or TLS set PUBLIC_URL, or sockets from the real origin are refused',
  );
}

if (config.workers > 1 && cluster.isPrimary) {
  // One secret for every worker, decided before they start (generating it in each would race).
  const secret = loadSecretKeyBase(options.secretKeyBase, options.dataDir ?? './data', logger);
  const supervision = superviseWorkers({
    workers: config.workers,
    env: { SECRET_KEY_BASE: secret },
    logger,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    onReady: () => logger.info({ ...describeStart(options.port), workers: config.workers }, 'chat listening'),
  });
  onSignals(logger, () => supervision.stop());
  const code = await supervision.exited;
  if (code !== 0) process.exit(code);
} else {
  const chat = await startChat({ ...options, logger, clusterMetrics: cluster.isWorker }).catch((err: unknown) => {
    // The reason, once, as one line: the primary repeats it and exits instead of respawning.
    const message = err instanceof Error ? err.message : String(err);
    logger.fatal({ err: { type: err instanceof Error ? err.name : typeof err, message } }, `chat not started: ${message}`);
    tellPrimary({ chat: 'failed', message }, () => process.exit(1));
    return null;
  });
  if (chat !== null) {
    logger.info({ ...describeStart(chat.port), worker: cluster.isWorker ? cluster.worker?.id : undefined }, 'chat listening');
    tellPrimary({ chat: 'ready' });
    onSignals(logger, () => chat.close());
  }
}
