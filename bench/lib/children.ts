/**
 * @module bench/children
 * Starts the benchmark's child processes (peer servers, load-generator workers) as plain
 * `node --import tsx file.ts` processes — no wrapper process, so the pid is the one whose
 * `/proc` entries we read — optionally pinned to one core with `taskset` (which `exec`s node,
 * keeping the pid). Talks to them over the IPC channel, and makes sure every child started here
 * is gone when the harness exits, by pid, one by one.
 *
 * @example
 * const server = startChild({ name: 'starling', file: 'bench/servers/starling.ts', core: 0, nodeArgs: ['--expose-gc'] });
 * const { port } = await server.next('ready', 20_000);
 * await server.stop({ type: 'stop' });
 */
import { spawn, type ChildProcess } from 'node:child_process';

const TSX_LOADER = import.meta.resolve('tsx');

const live = new Set<ChildProcess>();

/** SIGKILLs every child this process started and that is still running. */
export function killAllChildren(): void {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  live.clear();
}

let cleanupInstalled = false;

function installCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on('exit', killAllChildren);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAllChildren();
      process.exit(130);
    });
  }
}

/** How to start a child. */
export interface ChildSpec {
  readonly name: string;
  /** The TypeScript entry, relative to the working directory or absolute. */
  readonly file: string;
  /** Pin to this core with taskset; null to let the OS schedule it. */
  readonly core: number | null;
  /** Extra node flags, e.g. `--expose-gc`, `--cpu-prof`. */
  readonly nodeArgs?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
}

interface TypedMessage {
  readonly type: string;
}

type Waiter = { resolve: (message: TypedMessage) => void; reject: (err: Error) => void; timer: NodeJS.Timeout };

/** One running child with a typed IPC channel: `In` is what it accepts, `Out` what it sends. */
export class Child<In extends TypedMessage, Out extends TypedMessage> {
  readonly #process: ChildProcess;
  readonly #backlog: Out[] = [];
  readonly #waiters = new Map<string, Waiter[]>();
  readonly #handlers = new Map<string, (message: Out) => void>();
  readonly #exited: Promise<void>;
  #exitReason: string | null = null;

  readonly name: string;
  constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.#process = child;
    child.on('message', (message: Out) => this.#receive(message));
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        this.#exitReason = `${name} exited (code ${code}, signal ${signal})`;
        for (const waiters of this.#waiters.values()) {
          for (const waiter of waiters) {
            clearTimeout(waiter.timer);
            waiter.reject(new Error(this.#exitReason));
          }
        }
        this.#waiters.clear();
        resolve();
      });
    });
  }

  get pid(): number {
    const pid = this.#process.pid;
    if (pid === undefined) throw new Error(`${this.name} has no pid`);
    return pid;
  }

  send(message: In): void {
    if (this.#exitReason !== null || !this.#process.connected) return;
    this.#process.send(message);
  }

  /** Routes every message of `type` to `handler` (they are not queued for {@link next}). */
  on<T extends Out['type']>(type: T, handler: (message: Extract<Out, { type: T }>) => void): void {
    this.#handlers.set(type, handler as (message: Out) => void);
  }

  /** The next message of `type` (or one already received and not yet taken). */
  next<T extends Out['type']>(type: T, timeoutMs: number): Promise<Extract<Out, { type: T }>> {
    const index = this.#backlog.findIndex((m) => m.type === type);
    if (index >= 0) return Promise.resolve(this.#backlog.splice(index, 1)[0] as Extract<Out, { type: T }>);
    if (this.#exitReason !== null) return Promise.reject(new Error(this.#exitReason));
    return new Promise((resolve, reject) => {
      const waiters = this.#waiters.get(type) ?? [];
      this.#waiters.set(type, waiters);
      const waiter: Waiter = {
        resolve: resolve as (message: TypedMessage) => void,
        reject,
        timer: setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`${this.name}: no '${type}' within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      waiters.push(waiter);
    });
  }

  /** Asks the child to finish with `message`, waits up to `graceMs`, then SIGKILLs it. */
  async stop(message: In | null, graceMs = 3_000): Promise<void> {
    if (this.#exitReason !== null) return;
    if (message !== null) this.send(message);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), graceMs)));
    const outcome = await Promise.race([this.#exited, timeout]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.#process.kill('SIGKILL');
      await this.#exited;
    }
  }

  #receive(message: Out): void {
    if (message.type === 'error') {
      process.stderr.write(`[${this.name}] ${(message as unknown as { message?: string }).message ?? 'error'}\n`);
    }
    const handler = this.#handlers.get(message.type);
    if (handler !== undefined) return handler(message);
    const waiter = this.#waiters.get(message.type)?.shift();
    if (waiter !== undefined) {
      clearTimeout(waiter.timer);
      waiter.resolve(message);
      return;
    }
    this.#backlog.push(message);
  }
}

/** Starts `spec.file` under node + tsx with an IPC channel. */
export function startChild<In extends TypedMessage, Out extends TypedMessage>(spec: ChildSpec): Child<In, Out> {
  installCleanup();
  const nodeArgv = [...(spec.nodeArgs ?? []), '--import', TSX_LOADER, spec.file];
  const [command, args] = spec.core === null ? [process.execPath, nodeArgv] : ['taskset', ['-c', String(spec.core), process.execPath, ...nodeArgv]];
  const child = spawn(command, args, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...spec.env },
  });
  live.add(child);
  return new Child<In, Out>(spec.name, child);
}
