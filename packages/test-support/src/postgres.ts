/**
 * The machine's real PostgreSQL for tests that need one (`TEST_DATABASE_URL`, default
 * `postgres://postgres@127.0.0.1:5432/test`). {@link ensurePostgres} starts the local cluster when
 * it is down and otherwise fails with a message saying so — tests never skip. {@link createTempDatabase}
 * makes a uniquely named database for one test, for code (like the chat's `DATABASE_URL`) that
 * takes a whole database rather than a schema.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import pg from 'pg';

/** The administrative connection string the tests use. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const START_CLUSTER = 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start';

/** The URL without its password, for messages. */
function shown(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await use(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Resolves once PostgreSQL answers, starting the local cluster if needed; throws if it can't. */
export async function ensurePostgres(): Promise<void> {
  const ping = () => withClient(TEST_DATABASE_URL, async (client) => void (await client.query('SELECT 1')));
  try {
    return await ping();
  } catch {
    await promisify(execFile)('sh', ['-c', START_CLUSTER], { timeout: 15_000 }).catch(() => undefined);
  }
  let lastError: unknown;
  for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
    try {
      return await ping();
    } catch (err) {
      lastError = err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  throw new Error(
    `PostgreSQL is required by these tests but is not reachable at ${shown(TEST_DATABASE_URL)}, even after ` +
      `running \`${START_CLUSTER}\`. Start it or point TEST_DATABASE_URL at one. Last error: ${String(lastError)}`,
  );
}

/** A database made for one test. */
export interface TempDatabase {
  readonly name: string;
  /** Its connection string (same server and credentials as {@link TEST_DATABASE_URL}). */
  readonly url: string;
  /** Ends every connection to it (a killed process may leave some behind) and drops it. */
  drop(): Promise<void>;
}

/** Creates an empty, uniquely named database `starling_test_<random>`. */
export async function createTempDatabase(): Promise<TempDatabase> {
  await ensurePostgres();
  const name = `starling_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await withClient(TEST_DATABASE_URL, (client) => client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`));
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: () =>
      withClient(TEST_DATABASE_URL, async (client) => {
        await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
        await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)}`);
      }),
  };
}
