/**
 * The realtime server (`src/server.ts`, what `npm run realtime` runs) as a real process for the
 * tests, and keys signed with its secret.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import { expect } from 'vitest';
import { eventually } from '@starling/test-support/eventually';
import { freePort } from '@starling/test-support/official-client';

export const SERVER = fileURLToPath(new URL('../../src/server.ts', import.meta.url));
export const SECRET = 'the-realtime-test-secret-which-is-long-enough-for-hs256';

/** A JWT signed with the server's secret, valid for an hour (the server refuses keys without `exp`). */
export function key(claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
}

/** Running servers; {@link stopServers} ends them. */
const children: ChildProcess[] = [];
/** Each running server's process and what it printed, by port. */
const byPort = new Map<number, { readonly child: ChildProcess; readonly output: () => string }>();

/** Starts the server with `env` and resolves with its port once `/health` answers 200. */
export async function startServer(env: Record<string, string> = {}): Promise<number> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', SERVER], {
    env: { ...process.env, REDIS_URL: '', REDIS_CLUSTER_NODES: '', NATS_URL: '', REALTIME_JWT_SECRET: SECRET, PORT: String(port), LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  byPort.set(port, { child, output: () => output });
  await eventually(async () => {
    if (child.exitCode !== null) throw new Error(`server exited ${child.exitCode}: ${output}`);
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
  }, 15_000);
  return port;
}

/** What the server on `port` has printed so far. */
export function serverOutput(port: number): string {
  return byPort.get(port)?.output() ?? '';
}

/** Kills the server on `port` with SIGKILL (a crash: nothing is cleaned up) and resolves once it is gone. */
export async function killServer(port: number): Promise<void> {
  const child = byPort.get(port)?.child;
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
}

/** Stops every server started by {@link startServer} (SIGTERM, then waits for the exit). */
export async function stopServers(): Promise<void> {
  await Promise.all(
    children.splice(0).map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    ),
  );
}
