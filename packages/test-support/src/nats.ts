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
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.ts';
import { spawnServer, type ServerProcess } from './server-process.ts';
import { sharedService } from './shared-service.ts';
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

const stores = new Set<string>();
process.once('exit', () => {
  // A crashed test run must not leave stores behind (server-process.ts kills the servers).
  for (const dir of stores) rmSync(dir, { recursive: true, force: true });
});

/** Spawns `nats-server -js` on a free port of 127.0.0.1 and resolves once it answers. */
export async function startThrowawayNats(): Promise<ThrowawayNats> {
  const port = await freePort();
  const url = `nats://127.0.0.1:${port}`;
  let server: ServerProcess | null = null;
  let store = '';
  const newStore = (): void => {
    if (store !== '') {
      rmSync(store, { recursive: true, force: true });
      stores.delete(store);
    }
    store = mkdtempSync(join(tmpdir(), 'starling-nats-'));
    stores.add(store);
  };
  const start = async (): Promise<void> => {
    server = await spawnServer(NATS_SERVER, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', store], pingNats, url);
  };
  const stop = async (): Promise<void> => {
    const running = server;
    server = null;
    await running?.kill();
  };

  newStore();
  await start();
  return {
    url,
    port,
    async stop() {
      await stop();
    },
    async restart(options = {}) {
      await stop();
      if (options.empty === true) newStore();
      await start();
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
