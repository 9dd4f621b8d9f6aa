/**
 * A private PostgreSQL with `wal_level=logical`, for tests of logical replication: Debian's
 * `initdb` and `pg_ctl` make a throwaway cluster in a temp dir, on a free port, with trust auth
 * on 127.0.0.1 only. The machine's shared cluster keeps `wal_level=replica`, and a test's slots
 * and publications must not outlive it, hence a cluster of its own. Start one per test file.
 * Fails with a message saying what is missing — tests never skip.
 *
 * @example
 * const pg = await startLogicalPostgres();
 * // pg.url → postgres://postgres@127.0.0.1:<port>/postgres
 * await pg.stop();
 */
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/** A private PostgreSQL cluster. */
export interface LogicalPostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` (superuser, trust auth). */
  readonly url: string;
  readonly port: number;
  /** Stops the cluster (fast shutdown) and removes its directory. Idempotent. */
  stop(): Promise<void>;
  /** Stops the server but keeps its data, as an outage would (immediate shutdown). */
  pause(): Promise<void>;
  /** Starts the paused server again on the same port, with its data. */
  resume(): Promise<void>;
}

function binDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const version of versions) {
    const dir = join(root, version, 'bin');
    if (existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'))) return dir;
  }
  throw new Error(`PostgreSQL's server binaries (initdb, pg_ctl) are required by these tests and were not found under ${root}: apt-get install postgresql`);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** PostgreSQL refuses to run as root: the cluster belongs to the `postgres` OS user then. */
async function asPostgresUser(command: string, args: string[]): Promise<void> {
  if (process.getuid?.() === 0) await run('runuser', ['-u', 'postgres', '--', command, ...args], { timeout: 60_000 });
  else await run(command, args, { timeout: 60_000 });
}

/**
 * Where the cluster's directory goes: the temp dir when the `postgres` user can reach it, else
 * /var/tmp (a machine may keep /tmp closed to other users).
 */
function baseDir(): string {
  for (const dir of [tmpdir(), '/var/tmp']) {
    if (existsSync(dir) && (statSync(dir).mode & 0o001) !== 0) return dir;
  }
  return tmpdir();
}

const running = new Set<() => void>();
process.once('exit', () => {
  // A crashed test run must not leave clusters behind.
  for (const stop of running) stop();
});

/** Creates and starts a throwaway cluster with `wal_level=logical`; resolves once it answers. */
export async function startLogicalPostgres(): Promise<LogicalPostgres> {
  const bin = binDir();
  const dir = mkdtempSync(join(baseDir(), 'starling-pg-'));
  const data = join(dir, 'data');
  if (process.getuid?.() === 0) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  chmodSync(dir, 0o700);
  const port = await freePort();
  const pgCtl = join(bin, 'pg_ctl');
  let startArgs: string[] = [];
  try {
    await asPostgresUser(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
    const options = [
      `-p ${port}`,
      "-c listen_addresses='127.0.0.1'",
      `-c unix_socket_directories='${dir}'`,
      '-c wal_level=logical',
      '-c max_replication_slots=10',
      '-c max_wal_senders=10',
      // No fsync (a throwaway), but commits still flush at once: the WAL sender ships only flushed
      // WAL, so asynchronous commit would delay every change by up to wal_writer_delay.
      '-c fsync=off',
      '-c full_page_writes=off',
      '-c shared_buffers=16MB',
    ].join(' ');
    await asPostgresUser(pgCtl, ['-D', data, '-l', join(dir, 'log'), '-o', options, '-w', '-t', '30', 'start']);
    startArgs = ['-D', data, '-l', join(dir, 'log'), '-o', options, '-w', '-t', '30', 'start'];
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`could not start a private PostgreSQL with wal_level=logical in ${dir}: ${String(err)}`);
  }
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.end();

  let stopped: Promise<void> | null = null;
  const kill = (): void => {
    // At exit only synchronous work runs: an immediate shutdown, then the directory goes.
    try {
      const args = ['-D', data, '-m', 'immediate', 'stop'];
      if (process.getuid?.() === 0) execFileSync('runuser', ['-u', 'postgres', '--', pgCtl, ...args], { stdio: 'ignore', timeout: 10_000 });
      else execFileSync(pgCtl, args, { stdio: 'ignore', timeout: 10_000 });
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // the process is exiting anyway
    }
  };
  running.add(kill);
  return {
    url,
    port,
    pause: () => asPostgresUser(pgCtl, ['-D', data, '-m', 'immediate', '-w', 'stop']),
    resume: () => asPostgresUser(pgCtl, startArgs),
    stop() {
      stopped ??= (async () => {
        running.delete(kill);
        await asPostgresUser(pgCtl, ['-D', data, '-m', 'fast', '-w', 'stop']).catch(() => undefined);
        rmSync(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
