/**
 * The chat's real server process (`node --import tsx apps/chat/src/server.ts`, what `npm start`
 * runs), configured through its environment like a deployment, for tests that must kill it the
 * way a crash or an OOM killer would (SIGKILL: no drain, no close).
 *
 * @example
 * const server = await ChatProcess.start({ PORT: String(await freePort()), DATA_DIR: dir });
 * await server.kill('SIGKILL');
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { eventually } from '@starling/test-support/eventually';

const SERVER = fileURLToPath(new URL('../../src/server.ts', import.meta.url));

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));

/** Every variable `server.ts` reads. */
const CHAT_SETTINGS = [
  'PORT',
  'HOST',
  'DATA_DIR',
  'DATABASE_URL',
  'REDIS_URL',
  'REDIS_CLUSTER_NODES',
  'NATS_URL',
  'WORKERS',
  'SECRET_KEY_BASE',
  'USER_TOKEN_MAX_AGE',
  'INVITE_MAX_AGE',
  'SESSION_MAX_AGE',
  'INVITE_MAX_USES',
  'PUBLIC_URL',
  'METRICS_TOKEN',
  'LOG_LEVEL',
  'MESSAGES_PER_USER',
  'MESSAGES_PER_IP',
  'ROOMS_PER_USER',
  'ROOMS_PER_IP',
  'INVITES_PER_USER',
  'INVITES_PER_IP',
  'IDENTITIES_PER_IP',
  'JOINS_PER_USER',
  'JOINS_PER_IP',
  'ANNOUNCEMENTS_PER_USER',
  'HISTORY_PER_USER',
  'HISTORY_PER_IP',
  'HISTORY_PER_GUEST_IP',
  'TRUSTED_PROXIES',
  'CONNECTIONS_PER_IP',
  'HISTORY_PAGE_BYTES',
  'REPLAY_BYTES',
  'REPLAY_MESSAGES',
  'REPLAY_SECONDS',
  'REPLAY_ROOMS',
  'SHUTDOWN_TIMEOUT',
];

function withoutChatSettings(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = { ...env };
  for (const name of CHAT_SETTINGS) delete copy[name];
  return copy;
}

/** A running `apps/chat/src/server.ts`. */
export class ChatProcess {
  #exited: Promise<NodeJS.Signals | number | null>;
  #stderr = '';
  #stdout = '';

  private readonly child: ChildProcess;
  /** `http://127.0.0.1:PORT` */
  readonly baseUrl: string;
  private constructor(child: ChildProcess, baseUrl: string) {
    this.child = child;
    this.baseUrl = baseUrl;
    child.stderr?.on('data', (chunk: Buffer) => (this.#stderr = `${this.#stderr}${chunk.toString()}`.slice(-4000)));
    child.stdout?.on('data', (chunk: Buffer) => (this.#stdout = `${this.#stdout}${chunk.toString()}`.slice(-20_000)));
    this.#exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  }

  /**
   * Spawns the server with `env` on top of this process's environment (with the chat's own
   * variables cleared, so the machine's settings cannot leak in) and resolves once `/health`
   * answers 200. `env.PORT` is required.
   */
  static async start(env: Record<string, string>, timeoutMs = 15_000): Promise<ChatProcess> {
    if (env.PORT === undefined) throw new Error('ChatProcess.start needs env.PORT');
    const child = spawn(process.execPath, ['--import', 'tsx', SERVER], {
      cwd: REPO,
      env: { ...withoutChatSettings(process.env), HOST: '127.0.0.1', LOG_LEVEL: 'silent', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const server = new ChatProcess(child, `http://127.0.0.1:${env.PORT}`);
    try {
      await server.#healthy(timeoutMs);
    } catch (err) {
      await server.kill('SIGKILL');
      throw err;
    }
    return server;
  }

  /** The last 20,000 characters the server wrote to stdout (its log lines, at the LOG_LEVEL given). */
  get stdout(): string {
    return this.#stdout;
  }

  /** Resolves with the exit code (or signal) once the process has exited. */
  get exited(): Promise<NodeJS.Signals | number | null> {
    return this.#exited;
  }

  /** The server's process id. */
  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** Signals the process and resolves once it has exited (at once if it already has). */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    await this.#exited;
  }

  async #healthy(timeoutMs: number): Promise<void> {
    let healthy = false;
    const exitedFirst = this.#exited.then((value) => {
      if (!healthy) throw new Error(`the chat server exited (${String(value)}) before it was healthy:\n${this.#stderr}${this.#stdout}`);
    });
    const answering = eventually(
      async () => {
        const response = await fetch(`${this.baseUrl}/health`, { signal: AbortSignal.timeout(1000) });
        if (response.status !== 200) throw new Error(`/health answered ${response.status}`);
      },
      timeoutMs,
      50,
    ).catch((err: unknown) => {
      throw new Error(`the chat server was not healthy within ${timeoutMs} ms (${String(err)}):\n${this.#stderr}`);
    });
    await Promise.race([answering, exitedFirst]);
    healthy = true;
  }
}
