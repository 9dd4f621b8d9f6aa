/**
 * A machine-wide service the tests share (Redis, NATS…): {@link sharedService} answers with its
 * URL once it responds, starting it with the machine's own command when it is down (only when the
 * test run did not name another URL), and otherwise fails with a message saying what to do — tests
 * never skip. Each service is checked once per test process.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/** How to reach, check and start one shared service. */
export interface SharedService {
  /** For messages: "Redis", "NATS with JetStream". */
  readonly name: string;
  /** The environment variable that overrides {@link url}; when it is set, nothing is started. */
  readonly envVar: string;
  /** The URL the tests use. */
  readonly url: string;
  /** Resolves if the service answers at `url` as it should, rejects saying why otherwise. */
  ping(url: string): Promise<void>;
  /** The shell command that starts the machine's service. */
  readonly start: string;
}

const ensured = new Map<string, Promise<string>>();

/** Resolves with the service's URL once it answers (see the module doc); stays rejected if it can't. */
export function sharedService(service: SharedService): Promise<string> {
  let answer = ensured.get(service.name);
  if (answer === undefined) {
    answer = ensure(service);
    ensured.set(service.name, answer);
  }
  return answer;
}

async function ensure({ name, envVar, url, ping, start }: SharedService): Promise<string> {
  const named = process.env[envVar] !== undefined;
  try {
    await ping(url);
    return url;
  } catch {
    if (!named) await promisify(execFile)('sh', ['-c', start], { timeout: 10_000 }).catch(() => undefined);
  }
  const lastError = await waitUntilAnswers(ping, url, 5000);
  if (lastError === null) return url;
  throw new Error(
    `${name} is required by these tests but is not reachable at ${url}` +
      (named ? '' : `, even after running \`${start}\``) +
      `. Start it or point ${envVar} at one. Last error: ${String(lastError)}`,
  );
}

/** Pings `url` every 50 ms until it answers (null) or `timeoutMs` passed (the last error). */
export async function waitUntilAnswers(ping: (url: string) => Promise<void>, url: string, timeoutMs: number): Promise<unknown> {
  let lastError: unknown = new Error('timed out');
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline;) {
    try {
      await ping(url);
      return null;
    } catch (err) {
      lastError = err;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return lastError;
}
