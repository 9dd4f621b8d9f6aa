/**
 * What the chat stands on, watched: the store (SQLite or PostgreSQL) and the PubSub's engine (Redis
 * or NATS, when several nodes share one). Every `intervalMs` each is checked; an outage is logged once at `warn`
 * when it starts and once at `info` when it ends, counted in
 * `chat_dependency_outages_total{dependency}`, and shown in `chat_dependency_up{dependency}`.
 * `GET /ready` answers from the last check: 200 while every dependency is up, 503 naming those
 * that are down. `GET /health` stays liveness (the process serves sockets).
 */
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';

/** One thing the chat needs, and how to tell whether it answers. */
export interface Dependency {
  /** As in logs, metrics and `/ready`: `postgresql`, `sqlite`, `redis`, `nats`. */
  readonly name: string;
  /** Resolves when it answers; rejects (or resolves false) when it does not. */
  check(): Promise<boolean | void>;
}

/** How long one check may take before the dependency counts as down. */
const CHECK_TIMEOUT_MS = 2000;

/** Watches the dependencies; {@link Readiness.down} is what `/ready` reports. */
export class Readiness {
  readonly #dependencies: readonly Dependency[];
  readonly #logger: Logger;
  readonly #down = new Set<string>();
  readonly #up: Gauge<'dependency'>;
  readonly #outages: Counter<'dependency'>;
  readonly #timer: NodeJS.Timeout;
  #checking: Promise<void> | null = null;

  constructor(dependencies: readonly Dependency[], options: { logger: Logger; registry: Registry; intervalMs?: number }) {
    this.#dependencies = dependencies;
    this.#logger = options.logger;
    this.#up = new Gauge({
      name: 'chat_dependency_up',
      help: '1 while a dependency answers, 0 during an outage.',
      labelNames: ['dependency'],
      registers: [options.registry],
    });
    this.#outages = new Counter({
      name: 'chat_dependency_outages_total',
      help: 'Outages of a dependency seen by this process.',
      labelNames: ['dependency'],
      registers: [options.registry],
    });
    for (const { name } of dependencies) {
      this.#up.set({ dependency: name }, 1);
      this.#outages.inc({ dependency: name }, 0);
    }
    this.#timer = setInterval(() => void this.check(), options.intervalMs ?? 2000);
    this.#timer.unref();
  }

  /** The dependencies down at the last check, by name. */
  get down(): readonly string[] {
    return [...this.#down];
  }

  /** Checks every dependency now (one check at a time; a call during one waits for it). */
  check(): Promise<void> {
    this.#checking ??= Promise.all(this.#dependencies.map((dependency) => this.#checkOne(dependency))).then(() => {
      this.#checking = null;
    });
    return this.#checking;
  }

  /** Stops watching. */
  close(): void {
    clearInterval(this.#timer);
  }

  async #checkOne(dependency: Dependency): Promise<void> {
    let reason: string | null = null;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), CHECK_TIMEOUT_MS)));
      const answered = await Promise.race([dependency.check(), timeout]);
      if (answered === false) reason = `no answer within ${CHECK_TIMEOUT_MS} ms`;
    } catch (err) {
      reason = err instanceof Error ? err.message : String(err);
    } finally {
      clearTimeout(timer);
    }
    const { name } = dependency;
    const wasDown = this.#down.has(name);
    if (reason !== null && !wasDown) {
      this.#down.add(name);
      this.#up.set({ dependency: name }, 0);
      this.#outages.inc({ dependency: name });
      this.#logger.warn({ dependency: name, reason }, `${name} unreachable: the chat is not ready`);
    } else if (reason === null && wasDown) {
      this.#down.delete(name);
      this.#up.set({ dependency: name }, 1);
      this.#logger.info({ dependency: name }, `${name} reachable again`);
    }
  }
}
