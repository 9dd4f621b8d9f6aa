/**
 * One process per core (`WORKERS`): the chat's primary forks N workers on one port; they share
 * broadcasts, presence, the rooms' replay streams and LongPoll sessions through an engine — a
 * standalone Redis, a Redis Cluster or NATS, one private engine per kind for the whole file.
 * Without one the server refuses to start rather than run workers that cannot see each other, and
 * two at once are refused too. The primary fails fast: a worker that cannot start stops it once
 * with that worker's reason, and a crash loop stops it too.
 */
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ChatProcess } from '../support/chat-process.ts';
import { eventually } from '@starling/test-support/eventually';
import { ClientPool, inboxOf, joined, phoenix18Client, freePort } from '@starling/test-support/official-client';
import { ENGINES, startThrowawayEngine, type ThrowawayEngine } from '@starling/test-support/engines';
import { startThrowawayRedis, type ThrowawayRedis } from '@starling/test-support/redis';
import { ChatApi } from '../support/chat.ts';

const SERVER = fileURLToPath(new URL('../../src/server.ts', import.meta.url));

let chat: ChatProcess | undefined;
let redis: ThrowawayRedis | undefined;
let pool: ClientPool | undefined;
let dataDir: string | undefined;

afterEach(async () => {
  for (const dir of scratch.splice(0)) rmSync(dir, { recursive: true, force: true });
  await pool?.close();
  await chat?.kill('SIGTERM');
  await redis?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  chat = redis = pool = dataDir = undefined;
});

/**
 * A fresh data directory for a server that may get as far as starting: the chat makes its
 * DATA_DIR private (0700), which must never happen to the machine's temp dir itself.
 */
function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'starling-workers-'));
  scratch.push(dir);
  return dir;
}
const scratch: string[] = [];

/** Pids of the worker processes of a cluster primary: its children running the server (tsx may add an esbuild child). */
function childrenOf(pid: number): number[] {
  return directChildrenOf(pid).filter((child) => {
    try {
      return readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('server.ts');
    } catch {
      return false; // already gone
    }
  });
}

/** Pids of the direct children of `pid`. */
function directChildrenOf(pid: number): number[] {
  const out = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).stdout;
  return out.split('\n').filter(Boolean).map(Number);
}

describe('WORKERS', () => {
  it('refuses WORKERS > 1 without an engine, and two engines at once, saying why', () => {
    const start = (env: Record<string, string>) =>
      spawnSync(process.execPath, ['--import', 'tsx', SERVER], {
        env: { ...process.env, REDIS_URL: '', REDIS_CLUSTER_NODES: '', NATS_URL: '', PORT: '0', LOG_LEVEL: 'fatal', DATA_DIR: scratchDir(), ...env },
        encoding: 'utf8',
        timeout: 20_000,
      });
    const alone = start({ WORKERS: '2' });
    expect(alone.status).toBe(1);
    expect(alone.stdout).toMatch(/WORKERS > 1 needs REDIS_URL, REDIS_CLUSTER_NODES or NATS_URL/);
    const both = start({ REDIS_URL: 'redis://127.0.0.1:6379', NATS_URL: 'nats://127.0.0.1:4222' });
    expect(both.status).toBe(1);
    expect(both.stdout).toMatch(/chat not started: REDIS_URL and NATS_URL are exclusive/);
  });

  it('exits 1 once, with the worker’s reason, when a worker cannot start (PostgreSQL down): no respawn loop', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', SERVER], {
      env: {
        ...process.env,
        WORKERS: '2',
        REDIS_URL: 'redis://127.0.0.1:6379',
        DATABASE_URL: 'postgres://postgres@127.0.0.1:1/nothing',
        PORT: '0',
        LOG_LEVEL: 'info',
        DATA_DIR: scratchDir(),
      },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.status).toBe(1);
    const lines = result.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { msg: string; level: number });
    const primary = lines.filter((line) => line.msg.startsWith('chat not started: a worker failed while starting'));
    expect(primary).toHaveLength(1);
    expect(primary[0]!.msg).toMatch(/ECONNREFUSED|connect/);
    expect(lines.filter((line) => line.msg.includes('starting another'))).toEqual([]);
  });

  it('prints one line, no stack, for a malformed setting: WORKERS=two, LOG_LEVEL=verbose, SHUTDOWN_TIMEOUT=soon', () => {
    for (const [name, value] of [
      ['WORKERS', 'two'],
      ['LOG_LEVEL', 'verbose'],
      ['SHUTDOWN_TIMEOUT', 'soon'],
      ['REDIS_URL', 'nope:1'],
      ['REDIS_CLUSTER_NODES', 'redis://127.0.0.1:7000'],
      ['NATS_URL', 'redis://127.0.0.1:6379'],
    ] as const) {
      const result = spawnSync(process.execPath, ['--import', 'tsx', SERVER], {
        env: { ...process.env, WORKERS: '', REDIS_URL: '', REDIS_CLUSTER_NODES: '', NATS_URL: '', PORT: '0', DATA_DIR: scratchDir(), [name]: value },
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(result.status, name).toBe(1);
      const lines = result.stdout.split('\n').filter(Boolean);
      expect(lines, name).toHaveLength(1);
      expect(JSON.parse(lines[0]!)).toMatchObject({ msg: expect.stringContaining(`chat not started: ${name} must be`) });
      expect(result.stderr, name).not.toMatch(/\n\s+at /);
    }
  });

  it('restarts a worker that dies, and stops with a clear message after a crash loop', async () => {
    redis = await startThrowawayRedis();
    dataDir = mkdtempSync(join(tmpdir(), 'starling-workers-'));
    const port = await freePort();
    chat = await ChatProcess.start({ PORT: String(port), WORKERS: '2', REDIS_URL: redis.url, DATA_DIR: dataDir, LOG_LEVEL: 'info' }, 30_000);
    // /health may answer from the first worker while the second still starts: wait for the primary's word that both are up.
    await eventually(() => expect(chat!.stdout).toMatch(/"workers":2,[^\n]*"msg":"chat listening"/), 10_000);
    const killed = new Set<number>();
    const exit = chat.exited;
    let code: unknown;
    void exit.then((value) => (code = value));
    // Kill every worker as soon as it appears: the 5th death within 30 s is a crash loop.
    await eventually(
      () => {
        for (const pid of childrenOf(chat!.pid)) {
          if (killed.has(pid)) continue;
          killed.add(pid);
          process.kill(pid, 'SIGKILL');
        }
        expect(code).toBe(1);
      },
      25_000,
      50,
    );
    expect(killed.size).toBe(5);
  });
});

describe.each(ENGINES.map(({ kind, label }) => [label, kind] as const))('WORKERS on %s', (_label, kind) => {
  let engine: ThrowawayEngine;
  beforeAll(async () => {
    engine = await startThrowawayEngine(kind);
  }, 60_000);
  afterAll(async () => {
    await engine?.stop();
  });

  it('runs N workers on one port whose clients, on WebSocket and LongPoll, see each other through the engine', async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'starling-workers-'));
    const port = await freePort();
    chat = await ChatProcess.start({ PORT: String(port), WORKERS: '2', ...engine.env, DATA_DIR: dataDir, LOG_LEVEL: 'info' }, 30_000);
    await eventually(() => expect(childrenOf(chat!.pid)).toHaveLength(2), 10_000);
    // /health may answer from the first worker while the second still starts: wait for the primary's word that both are up.
    await eventually(() => expect(chat!.stdout).toMatch(/"workers":2,[^\n]*"msg":"chat listening"/), 20_000);

    pool = new ClientPool(phoenix18Client);
    const endpoint = `ws://127.0.0.1:${port}/socket`;
    // Connections are spread over the workers round-robin: with 4 clients both workers serve some.
    // The third is on LongPoll: its polls and posts reach either worker, and the one that does not
    // hold its session forwards them to the one that does, through the engine.
    const api = new ChatApi(`http://127.0.0.1:${port}`);
    const users = await Promise.all([0, 1, 2, 3].map(() => api.newUser()));
    const channels = users.map((user, i) =>
      pool!.socket(endpoint, { params: { token: user.token }, longPoll: i === 2 }).channel('rooms:lobby', { name: `user${i}` }),
    );
    const inboxes = channels.map((channel) => inboxOf(channel, 'new_msg'));
    // A room is a history topic: its `phx_stream` push comes once the worker's subscription in the
    // engine is confirmed and the stream read (a join is answered before).
    const streams = channels.map((channel) => inboxOf(channel, 'phx_stream'));
    await Promise.all(channels.map((channel) => joined(channel)));
    for (const stream of streams) await eventually(() => expect(stream.items).toHaveLength(1), 5000);
    channels[0]!.push('new_msg', { body: 'from 0' });
    channels[2]!.push('new_msg', { body: 'from 2' });
    channels[3]!.push('new_msg', { body: 'from 3' });
    for (const inbox of inboxes) {
      await eventually(() => expect(inbox.items.map((m) => (m as { body: string }).body).sort()).toEqual(['from 0', 'from 2', 'from 3']), 5000);
    }

    // /metrics reaches one worker at random, but shows the whole cluster: the same sums every time.
    // A new connection each time (fetch would reuse one, always reaching the same worker).
    const scrape = (): Promise<number> =>
      new Promise((resolve, reject) => {
        httpGet({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => resolve(Number(/^starling_channels_joined (\d+)$/m.exec(text)?.[1])));
        }).on('error', reject);
      });
    const scrapes = [await scrape(), await scrape(), await scrape(), await scrape()];
    expect(scrapes).toEqual([4, 4, 4, 4]);
  });
});
