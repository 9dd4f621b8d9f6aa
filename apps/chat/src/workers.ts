/**
 * `WORKERS > 1`: the primary process forks the workers that serve the port (node:cluster) and
 * watches them, as an operator would want:
 *
 * - **Fail fast.** A worker that fails while the chat is starting (PostgreSQL, Redis or NATS down, a bad
 *   `PUBLIC_URL`) tells the primary why; the primary logs that reason once, stops the other
 *   workers and exits 1 — no respawn loop, the port never half-open.
 * - **Respawn with backoff.** A worker that dies later is replaced after 1 s, doubling up to 30 s
 *   while deaths keep coming (back to 1 s after a minute without one).
 * - **Crash loop.** {@link CRASH_LOOP} deaths within its window stop the primary with exit 1 and a
 *   message saying so: something is wrong that restarting will not fix.
 *
 * Workers speak to the primary with {@link WorkerMessage}s over the cluster's IPC channel.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { answerMetricsRequest } from './cluster-metrics.ts';

/** What workers and the primary tell each other. */
export type WorkerMessage =
  | { readonly chat: 'ready' }
  | { readonly chat: 'failed'; readonly message: string }
  /** A worker asks for the whole cluster's metrics (`cluster-metrics.ts`)… */
  | { readonly chat: 'metrics?'; readonly id: number }
  /** …and the primary answers with them, or why not. */
  | { readonly chat: 'metrics'; readonly id: number; readonly text?: string; readonly error?: string };

/** More deaths than `deaths` within `windowMs` after the start is a crash loop. */
export const CRASH_LOOP = { deaths: 5, windowMs: 30_000 } as const;

const BACKOFF = { firstMs: 1000, maxMs: 30_000, calmAfterMs: 60_000 } as const;

/** Options of {@link superviseWorkers}. */
export interface SupervisorOptions {
  readonly workers: number;
  /** Environment added to every worker's (the shared secret). */
  readonly env: Readonly<Record<string, string>>;
  readonly logger: Logger;
  /** How long workers may take to drain on SIGTERM before they are killed. */
  readonly shutdownTimeoutMs: number;
  /** Called once every worker of the first generation is listening. */
  readonly onReady: () => void;
}

function isWorkerMessage(message: unknown): message is WorkerMessage {
  const chat = (message as { chat?: unknown } | null)?.chat;
  return chat === 'ready' || chat === 'failed' || chat === 'metrics?';
}

/** The running workers, as the primary sees them. */
export interface Supervision {
  /** Resolves with the primary's exit code once every worker exited (a stop, a failed start, a crash loop). */
  readonly exited: Promise<number>;
  /** Stops the workers (SIGTERM, then SIGKILL past the drain bound); `exited` then resolves 0. */
  stop(): Promise<void>;
}

/** Forks and watches the workers. */
export function superviseWorkers(options: SupervisorOptions): Supervision {
  const { logger } = options;
  const ready = new WeakSet<Worker>();
  const reasons = new WeakMap<Worker, string>();
  let starting = true;
  let stopping = false;
  let deaths: number[] = [];
  let backoffMs: number = BACKOFF.firstMs;
  let lastDeath = 0;
  let finish: (code: number) => void = () => undefined;
  const exited = new Promise<number>((resolve) => (finish = resolve));

  const alive = (): Worker[] => Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined);

  const fork = (): void => {
    const worker = cluster.fork(options.env);
    worker.on('message', (message: unknown) => {
      if (!isWorkerMessage(message)) return;
      if (message.chat === 'failed') {
        reasons.set(worker, message.message);
        return;
      }
      if (message.chat === 'metrics?') {
        answerMetricsRequest((answer) => worker.isConnected() && worker.send(answer), message.id);
        return;
      }
      if (message.chat !== 'ready') return;
      ready.add(worker);
      if (starting && alive().every((each) => ready.has(each)) && alive().length === options.workers) {
        starting = false;
        options.onReady();
      }
    });
  };

  const stopAll = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    const workers = alive();
    const exited = Promise.all(workers.map((worker) => new Promise<void>((resolve) => (worker.isDead() ? resolve() : worker.once('exit', () => resolve())))));
    for (const worker of workers) worker.process.kill('SIGTERM');
    // A worker stuck past its own drain bound is killed: the primary must exit.
    const timer = setTimeout(() => {
      for (const worker of alive()) worker.process.kill('SIGKILL');
    }, options.shutdownTimeoutMs + 5000);
    await exited;
    clearTimeout(timer);
    finish(code);
  };

  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    const reason = reasons.get(worker) ?? (signal === null ? `exit code ${String(code)}` : `signal ${signal}`);
    if (!ready.has(worker) && starting) {
      logger.fatal({ workerPid: worker.process.pid }, `chat not started: a worker failed while starting: ${reason}`);
      void stopAll(1);
      return;
    }
    const now = Date.now();
    if (now - lastDeath > BACKOFF.calmAfterMs) backoffMs = BACKOFF.firstMs;
    lastDeath = now;
    deaths = [...deaths.filter((at) => now - at < CRASH_LOOP.windowMs), now];
    if (deaths.length >= CRASH_LOOP.deaths) {
      logger.fatal(
        { workerPid: worker.process.pid, deaths: deaths.length, windowMs: CRASH_LOOP.windowMs },
        `chat stopped: ${deaths.length} worker deaths within ${CRASH_LOOP.windowMs / 1000} s (last: ${reason}); fix the cause and start again`,
      );
      void stopAll(1);
      return;
    }
    logger.error({ workerPid: worker.process.pid, code, signal, restartInMs: backoffMs }, `worker died (${reason}); starting another`);
    setTimeout(() => {
      if (!stopping) fork();
    }, backoffMs);
    backoffMs = Math.min(backoffMs * 2, BACKOFF.maxMs);
  });

  for (let i = 0; i < options.workers; i++) fork();
  return { exited, stop: () => stopAll(0) };
}

/** In a worker: reports `message` to the primary, then runs `then` once it was sent. */
export function tellPrimary(message: WorkerMessage, then: () => void = () => undefined): void {
  if (process.send === undefined) return then();
  process.send(message, undefined, undefined, () => then());
}
