/**
 * A graceful shutdown loses nothing: the chat's production server (`node apps/chat/dist/server.js`,
 * one process on built JavaScript, as a service manager runs it; SQLite in a temp DATA_DIR) gets
 * SIGTERM while clients are talking. It must exit with code 0 within SHUTDOWN_TIMEOUT, its
 * clients must see close code 1012 ("service restart": reconnect elsewhere), and after it starts
 * again on the same DATA_DIR every message any client heard broadcast — including one pushed right
 * before the signal — must be in the history the join reply carries.
 *
 * The server is spawned here rather than through `ChatProcess`, whose `kill` does not tell the
 * exit code; the restart, where only the history matters, uses `ChatProcess`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { Channel } from 'phoenix';
import { ChatApi, sendAll, type HistoryPage, type WireMessage } from '../support/chat.ts';
import { ChatProcess } from '../support/chat-process.ts';
import { ClientPool, Inbox, freePort, joined, phoenix18Client } from '@starling/test-support/official-client';
import { eventually } from '@starling/test-support/eventually';

const PRODUCTION_SERVER = fileURLToPath(new URL('../../dist/server.js', import.meta.url));

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
/** SHUTDOWN_TIMEOUT given to the server, and the bound its exit is held to. */
const SHUTDOWN_TIMEOUT_S = 4;
const EXIT_BOUND_MS = SHUTDOWN_TIMEOUT_S * 1000;

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The production server, with its exit code, the time it took to exit and its log. */
async function spawnChat(
  env: Record<string, string>,
): Promise<{ pid: number; log(): string; terminate(): Promise<{ code: number | null; signal: string | null; ms: number }> }> {
  if (!existsSync(PRODUCTION_SERVER)) throw new Error(`${PRODUCTION_SERVER} is missing: run \`npm run build\` (npm install and npm test do)`);
  const child = spawn(process.execPath, [PRODUCTION_SERVER], {
    cwd: REPO,
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      DATABASE_URL: '',
      REDIS_URL: '',
      WORKERS: '',
      SHUTDOWN_TIMEOUT: String(SHUTDOWN_TIMEOUT_S),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr = `${stderr}${chunk.toString()}`.slice(-4000)));
  child.stdout.on('data', (chunk: Buffer) => (stdout = `${stdout}${chunk.toString()}`.slice(-20_000)));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    return exited.then(() => undefined);
  });
  await eventually(
    async () => {
      if (child.exitCode !== null) throw new Error(`the chat server exited (${child.exitCode}):\n${stderr}`);
      const response = await fetch(`http://127.0.0.1:${env.PORT}/health`, { signal: AbortSignal.timeout(1000) });
      expect(response.status).toBe(200);
    },
    15_000,
    50,
  );
  return {
    pid: child.pid ?? 0,
    log: () => stdout,
    async terminate() {
      const sent = performance.now();
      child.kill('SIGTERM');
      const timeout = new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`no exit within ${EXIT_BOUND_MS} ms of SIGTERM:\n${stderr}`)), EXIT_BOUND_MS).unref(),
      );
      const exit = await Promise.race([exited, timeout]);
      return { ...exit, ms: performance.now() - sent };
    },
  };
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'starling-graceful-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('the production chat server stopped with SIGTERM', () => {
  it('exits 0 within SHUTDOWN_TIMEOUT, logs draining then drained, closes its clients with 1012, and keeps every message that was broadcast', async () => {
    const env = { PORT: String(await freePort()), DATA_DIR: tempDir() };
    const server = await spawnChat(env);
    const pool = new ClientPool(phoenix18Client);
    cleanups.push(() => pool.close());
    const socketUrl = `ws://127.0.0.1:${env.PORT}/socket`;

    const names = ['ann', 'ben', 'cy'];
    const firstCloseCodes: number[] = [];
    const heard = new Inbox<WireMessage>();
    const api = new ChatApi(`http://127.0.0.1:${env.PORT}`);
    const users = await Promise.all(names.map(() => api.newUser()));
    const lobbies: Channel[] = names.map((name, i) => {
      const socket = pool.socket(socketUrl, { params: { token: users[i]!.token } });
      let first = true;
      socket.onClose((event) => {
        if (first) firstCloseCodes.push(event.code);
        first = false;
      });
      const lobby = socket.channel('rooms:lobby', { user: name });
      // One listener records what everyone heard (client 0 hears every broadcast, its own too).
      if (i === 0) lobby.on('new_msg', heard.add);
      return lobby;
    });
    await Promise.all(lobbies.map((lobby) => joined(lobby)));

    // sendAll waits for each broadcast: all of these are acknowledged.
    await Promise.all(
      lobbies.map((lobby, i) =>
        sendAll(
          lobby,
          Array.from({ length: 10 }, (_, n) => `${names[i]} ${n + 1}`),
        ),
      ),
    );
    const acknowledgedLast = await sendAll(lobbies[1]!, ['acknowledged, then SIGTERM']);
    // Pushed in the same tick as the signal: it may or may not make it, but if anyone heard it
    // broadcast, it must have been stored.
    lobbies[2]!.push('new_msg', { body: 'pushed with the SIGTERM' });
    // One process, no npm or tsx in the chain: SIGTERM reaches the server itself.
    expect(spawnSync('pgrep', ['-P', String(server.pid)], { encoding: 'utf8' }).stdout.trim()).toBe('');
    const exit = await server.terminate();

    expect(exit).toMatchObject({ code: 0, signal: null });
    const said = server
      .log()
      .split('\n')
      .filter(Boolean)
      .map((line) => (JSON.parse(line) as { msg: string }).msg);
    expect(said).toContain('draining');
    expect(said).toContain('drained');
    await eventually(() => expect(firstCloseCodes).toEqual([1012, 1012, 1012]), 2000);

    const restarted = await ChatProcess.start(env);
    cleanups.push(() => restarted.kill('SIGKILL'));
    const reader = new ClientPool(phoenix18Client);
    cleanups.push(() => reader.close());
    const history = ((await joined(reader.socket(socketUrl).channel('rooms:lobby'))) as HistoryPage).messages.map((message) => message.body);

    const heardBodies = heard.items.map((message) => message.body);
    expect(heardBodies).toContain(acknowledgedLast[0]!.body);
    expect(heardBodies.length).toBeGreaterThanOrEqual(31);
    // Everything heard is stored, in the order it was broadcast.
    expect(history.filter((body) => heardBodies.includes(body))).toEqual(heardBodies);
    // Nothing stored that nobody heard, except possibly the message racing the signal.
    expect(history.filter((body) => !heardBodies.includes(body)).every((body) => body === 'pushed with the SIGTERM')).toBe(true);
    console.log(
      `graceful shutdown: exit ${exit.code} after ${exit.ms.toFixed(0)} ms; ${heardBodies.length} messages heard, ${history.length} in history; ` +
        `racing message ${heardBodies.includes('pushed with the SIGTERM') ? 'heard and' : 'not heard,'} ${history.includes('pushed with the SIGTERM') ? 'stored' : 'not stored'}`,
    );
  });
});
