/**
 * NATS for tests. {@link ensureNats} makes sure the machine's shared NATS with JetStream
 * (`TEST_NATS_URL`, default `nats://127.0.0.1:4222`) answers, starting it when it is down, and
 * otherwise fails with a message saying so — tests never skip. {@link startThrowawayNats} runs a
 * private `nats-server -js` as a child process on a free port with its own store directory, for
 * tests that kill and restart it (never do that to the shared one).
 *
 * @example
 * const nats = await startThrowawayNats();
 * await nats.stop();                   // SIGKILL: an outage
 * await nats.restart();                // same port, same store: JetStream keeps its streams
 * await nats.restart({ empty: true }); // same port, a new store: every stream is lost
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.ts';
import { sharedService, waitUntilAnswers } from './shared-service.ts';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

/** The shared NATS the tests use. */
export const TEST_NATS_URL = process.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

const NATS_SERVER = '/usr/sbin/nats-server';
const START_NATS =
  `mkdir -p /var/lib/nats-server && start-stop-daemon --start --oknodo --background --exec ${NATS_SERVER} -- ` +
  '-a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log';

/**
 * Connects and reads the server's greeting; resolves if it is a NATS `INFO` with JetStream on,
 * rejects otherwise (refused, silent for a second, or a server without JetStream).
 */
export function pingNats(url: string): Promise<void> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: hostname, port: Number(port || 4222) });
    let greeting = '';
    const done = (err?: Error): void => {
      socket.destroy();
      if (err === undefined) resolve();
      else reject(err);
    };
    socket.setTimeout(1000, () => done(new Error('no INFO within 1 s')));
    socket.once('error', done);
    socket.on('data', (chunk: Buffer) => {
      greeting += chunk.toString('utf8');
      const end = greeting.indexOf('\r\n');
      if (end < 0) return;
      const line = greeting.slice(0, end);
      if (!line.startsWith('INFO ')) done(new Error(`not a NATS server: ${line.slice(0, 80)}`));
      else if (!/"jetstream"\s*:\s*true/.test(line)) done(new Error('NATS answers but JetStream is off (start it with -js)'));
      else done();
    });
  });
}

/**
 * Resolves with {@link TEST_NATS_URL} once NATS with JetStream answers there, starting the local
 * server if it is down (only when `TEST_NATS_URL` is not set); throws if it can't.
 */
export function ensureNats(): Promise<string> {
  return sharedService({ name: 'NATS with JetStream', envVar: 'TEST_NATS_URL', url: TEST_NATS_URL, ping: pingNats, start: START_NATS });
}

/** A private nats-server child process with JetStream. */
export interface ThrowawayNats {
  /** `nats://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** Kills the server (SIGKILL, as a crash) and resolves once it has exited. Idempotent. */
  stop(): Promise<void>;
  /**
   * Starts the server again on the same port (stopping the running one first): on the same store
   * directory, so JetStream recovers its streams, or with `empty` on a new one, as a server that
   * lost its disk.
   */
  restart(options?: { empty?: boolean }): Promise<void>;
}

const children = new Set<ChildProcess>();
const stores = new Set<string>();
process.once('exit', () => {
  // A crashed test run must not leave servers or their stores behind.
  for (const child of children) child.kill('SIGKILL');
  for (const dir of stores) rmSync(dir, { recursive: true, force: true });
});

/** Spawns `nats-server -js` on a free port of 127.0.0.1 and resolves once it answers. */
export async function startThrowawayNats(): Promise<ThrowawayNats> {
  const port = await freePort();
  const url = `nats://127.0.0.1:${port}`;
  let child: ChildProcess | null = null;
  let store = '';
  const newStore = (): void => {
    if (store !== '') {
      rmSync(store, { recursive: true, force: true });
      stores.delete(store);
    }
    store = mkdtempSync(join(tmpdir(), 'starling-nats-'));
    stores.add(store);
  };

  const spawnServer = async (): Promise<void> => {
    const started = spawn(NATS_SERVER, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', store], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    started.stderr?.on('data', (chunk: Buffer) => (stderr = `${stderr}${chunk.toString()}`.slice(-4000)));
    const exited = new Promise<Error>((resolve) => {
      started.once('error', resolve);
      started.once('exit', (code, signal) => resolve(new Error(`nats-server exited (${code ?? signal}): ${stderr}`)));
    });
    children.add(started);
    started.once('exit', () => children.delete(started));
    child = started;
    const failure = await Promise.race([waitUntilAnswers(pingNats, url, 5000), exited]);
    if (failure !== null) {
      started.kill('SIGKILL');
      throw new Error(`could not start a throwaway nats-server on port ${port}: ${String(failure)}`);
    }
  };

  const stop = async (): Promise<void> => {
    const running = child;
    child = null;
    if (running === null || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill('SIGKILL');
    await exited;
  };

  newStore();
  await spawnServer();
  return {
    url,
    port,
    async stop() {
      await stop();
    },
    async restart(options = {}) {
      await stop();
      if (options.empty === true) newStore();
      await spawnServer();
    },
  };
}

/**
 * Deletes the JetStream streams a NatsPubSubAdapter made under `prefix` (`<prefix>-history`,
 * `<prefix>-topics`) on `url`, those that exist: tests on the shared NATS clean up after themselves.
 */
export async function deleteNatsStreams(url: string, prefix: string): Promise<void> {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    for (const name of [`${prefix}-history`, `${prefix}-topics`]) await jsm.streams.delete(name).catch(() => false);
  } finally {
    await nc.close();
  }
}
