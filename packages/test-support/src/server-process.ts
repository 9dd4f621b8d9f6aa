/**
 * A server a test spawned for itself (`redis-server`, `nats-server`…): {@link spawnServer} resolves
 * once it answers, and every server it started is SIGKILLed when the test process exits, so a
 * crashed run leaves none behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { waitUntilAnswers } from './shared-service.ts';

/** A running server of {@link spawnServer}. */
export interface ServerProcess {
  /** Kills the server (SIGKILL, as a crash) and resolves once it has exited. Idempotent. */
  kill(): Promise<void>;
}

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/**
 * Spawns `command args` and resolves once `ping(url)` answers (within 5 s); rejects with the
 * server's last stderr if it exits or does not answer in time (it is then killed).
 */
export async function spawnServer(command: string, args: readonly string[], ping: (url: string) => Promise<void>, url: string): Promise<ServerProcess> {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = `${stderr}${chunk.toString()}`.slice(-4000)));
  const exited = new Promise<Error>((resolve) => {
    child.once('error', resolve);
    child.once('exit', (code, signal) => resolve(new Error(`${command} exited (${code ?? signal}): ${stderr}`)));
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const kill = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await gone;
  };
  const failure = await Promise.race([waitUntilAnswers(ping, url, 5000), exited]);
  if (failure !== null) {
    await kill();
    throw new Error(`could not start ${command} for ${url}: ${String(failure)}`);
  }
  return { kill };
}
