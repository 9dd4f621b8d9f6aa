/**
 * @module bench/scale/server-tree
 * A server of the 100k scenario as the harness sees it: one primary process and its node:cluster
 * workers. Starts it, waits for its one-line `… listening` JSON log with a `workers` field (the
 * chat's `chat listening`, the ceiling's `ceiling listening`), then finds the workers as the
 * primary's children in `/proc`. CPU and RSS are read from `/proc` for the whole tree, the
 * primary included. Stopping sends SIGTERM to the primary, then SIGKILLs every pid of the tree
 * still alive after a grace period — one by one, by pid — so no worker outlives a run.
 *
 * @example
 * const tree = await ServerTree.start({ name: 'chat', command: process.execPath, args: ['apps/chat/dist/server.js'], env, workers: 6 });
 * const rss = tree.rssBytes();
 * await tree.stop();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpuMicros, rssBytes } from '../lib/proc.ts';

/** How to start one server tree. */
export interface ServerSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  /** Workers the primary forks; the start waits for them all. */
  readonly workers: number;
  readonly startTimeoutMs?: number;
}

const alive = (pid: number): boolean => existsSync(`/proc/${pid}`);

/** The pids the kernel lists as `pid`'s children (its main thread's). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter((s) => s !== '')
      .map(Number);
  } catch {
    return [];
  }
}

/** A running primary and its workers. */
export class ServerTree {
  readonly name: string;
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  #pids: number[] = [];

  private constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  /** Starts the tree and resolves once every worker listens. */
  static async start(spec: ServerSpec): Promise<ServerTree> {
    const child = spawn(spec.command, spec.args, { env: { ...process.env, ...spec.env }, stdio: ['ignore', 'pipe', 'inherit'] });
    const tree = new ServerTree(spec.name, child);
    // Dies with the harness whatever happens.
    const killOnExit = (): void => tree.kill();
    process.once('exit', killOnExit);
    void tree.#exited.then(() => process.off('exit', killOnExit));
    const listening = new Promise<void>((resolve, reject) => {
      let buffered = '';
      const timer = setTimeout(
        () => reject(new Error(`${spec.name}: not listening within ${spec.startTimeoutMs ?? 60_000} ms`)),
        spec.startTimeoutMs ?? 60_000,
      );
      child.stdout?.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('utf8');
        let newline = buffered.indexOf('\n');
        // Bounded by the chunk: each pass consumes one line.
        while (newline >= 0) {
          const line = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          if (/listening/.test(line) && /"workers":\d+/.test(line)) {
            clearTimeout(timer);
            resolve();
          } else if (/"level":(50|60)/.test(line)) process.stderr.write(`[${spec.name}] ${line}\n`);
          newline = buffered.indexOf('\n');
        }
      });
      void tree.#exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`${spec.name} exited while starting (code ${child.exitCode})`));
      });
    });
    try {
      await listening;
    } catch (err) {
      tree.kill();
      throw err;
    }
    const primary = child.pid!;
    tree.#pids = [primary, ...childrenOf(primary)];
    if (tree.#pids.length !== spec.workers + 1) {
      tree.kill();
      throw new Error(`${spec.name}: expected ${spec.workers} workers, found ${tree.#pids.length - 1}`);
    }
    return tree;
  }

  /** The primary first, then the workers. */
  get pids(): readonly number[] {
    return this.#pids;
  }

  /** CPU time of every process of the tree, µs. */
  cpuMicros(): number {
    return this.#pids.reduce((sum, pid) => sum + (alive(pid) ? cpuMicros(pid) : 0), 0);
  }

  /** Resident memory of every process of the tree, bytes. */
  rssBytes(): number {
    return this.#pids.reduce((sum, pid) => sum + (alive(pid) ? rssBytes(pid) : 0), 0);
  }

  /** Resident memory per process (primary first), bytes. */
  rssEach(): number[] {
    return this.#pids.map((pid) => (alive(pid) ? rssBytes(pid) : 0));
  }

  /** SIGTERM to the primary; after `graceMs`, SIGKILL to every pid of the tree still alive. */
  async stop(graceMs = 15_000): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#exited, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    this.kill();
    // The workers' exits are not ours to await (they are the primary's children): poll, bounded.
    for (let i = 0; i < 50 && this.#pids.some(alive); i++) await new Promise((resolve) => setTimeout(resolve, 100));
  }

  /** SIGKILLs every pid of the tree still alive, one by one. */
  kill(): void {
    for (const pid of this.#pids.length > 0 ? this.#pids : [this.#child.pid ?? -1]) {
      if (pid > 0 && alive(pid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  }
}
