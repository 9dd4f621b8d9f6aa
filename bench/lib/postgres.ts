/**
 * @module bench/postgres
 * The postgres-changes scenario's database: a private PostgreSQL with `wal_level=logical`
 * (`startLogicalPostgres` of the test support: Debian's `initdb`/`pg_ctl`, a throwaway cluster on
 * a free port), started once per bench run and stopped at its end. When the harness pins, every
 * PostgreSQL process goes on the server core with the server: the database is part of what
 * serves postgres_changes. Its CPU time is read from `/proc` like the server's: the postmaster,
 * its live children, and the children it has reaped (cutime + cstime).
 *
 * Two tables in the publication `supabase_realtime`, the same columns — `id` (the key), `owner`,
 * and `b` (`json`: the 64-byte-style body `{"s":SEQ,"t":MICROS}`, which reaches the client as
 * JSON inside the record, where the load generator reads it as it reads every peer's body):
 * `open_rows` without row-level security (grants only), `rls_rows` with a policy PostgreSQL
 * must evaluate for every row and subscriber, true for all (so every subscriber gets every row:
 * the cost of the check itself).
 *
 * @example
 * const db = await BenchDatabase.start(0);
 * const writer = await db.writer('rls_rows');
 * await writer.insert(1, 0); // id 1, seq 0
 * await db.reset();          // between runs: no slot, empty tables
 * await db.stop();
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { startLogicalPostgres, type LogicalPostgres } from '../../packages/test-support/src/logical-postgres.ts';
import { nowMicros } from './body.ts';
import { ticksToMicros } from './proc.ts';

/** The tables the scenario writes to. */
export const TABLES = { open: 'open_rows', rls: 'rls_rows' } as const;
export type BenchTable = (typeof TABLES)[keyof typeof TABLES];

/** The slot the supabase peer consumes (`createRealtime`'s default). */
const SLOT = 'starling_realtime';

const SCHEMA = `
  CREATE ROLE authenticated NOLOGIN;
  GRANT USAGE ON SCHEMA public TO authenticated;
  CREATE TABLE open_rows (id int PRIMARY KEY, owner text, b json);
  GRANT SELECT ON open_rows TO authenticated;
  CREATE TABLE rls_rows (id int PRIMARY KEY, owner text, b json);
  ALTER TABLE rls_rows ENABLE ROW LEVEL SECURITY;
  -- True for every row and every subscriber, but PostgreSQL evaluates it: the cost of the check.
  CREATE POLICY readable ON rls_rows FOR SELECT TO authenticated
    USING (owner IS NOT NULL OR current_setting('request.jwt.claims', true) IS NOT NULL);
  GRANT SELECT ON rls_rows TO authenticated;
  CREATE PUBLICATION supabase_realtime FOR TABLE open_rows, rls_rows;
`;

/** Field 4 (ppid), 14-17 (utime, stime, cutime, cstime) of `/proc/<pid>/stat`, in clock ticks. */
function statFields(pid: number): { ppid: number; own: number; reaped: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(fields[1]), own: Number(fields[11]) + Number(fields[12]), reaped: Number(fields[13]) + Number(fields[14]) };
  } catch {
    return null; // gone meanwhile
  }
}

/** The pids whose parent is `parent`. */
function childrenOf(parent: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    if (statFields(Number(entry))?.ppid === parent) out.push(Number(entry));
  }
  return out;
}

/** A private PostgreSQL for the postgres-changes scenario. */
export class BenchDatabase {
  readonly url: string;
  readonly #cluster: LogicalPostgres;
  readonly #admin: pg.Client;
  readonly #postmaster: number;

  private constructor(cluster: LogicalPostgres, admin: pg.Client, postmaster: number) {
    this.#cluster = cluster;
    this.url = cluster.url;
    this.#admin = admin;
    this.#postmaster = postmaster;
  }

  /**
   * Starts the cluster with the scenario's schema; pins it to `core` (null: not pinned).
   * @throws Error saying what is missing (PostgreSQL's server binaries) or what failed
   */
  static async start(core: number | null): Promise<BenchDatabase> {
    const cluster = await startLogicalPostgres();
    const admin = new pg.Client(cluster.url);
    try {
      await admin.connect();
      await admin.query(SCHEMA);
      const { rows } = await admin.query<{ dir: string }>("SELECT setting AS dir FROM pg_settings WHERE name = 'data_directory'");
      const postmaster = Number(readFileSync(join(rows[0]!.dir, 'postmaster.pid'), 'utf8').split('\n', 1)[0]);
      const database = new BenchDatabase(cluster, admin, postmaster);
      if (core !== null) database.#pin(core);
      return database;
    } catch (err) {
      await admin.end().catch(() => undefined);
      await cluster.stop();
      throw err;
    }
  }

  /** Pins the postmaster (new backends inherit it) and every process it has started so far. */
  #pin(core: number): void {
    for (const pid of [this.#postmaster, ...childrenOf(this.#postmaster)]) {
      execFileSync('taskset', ['-a', '-p', '-c', String(core), String(pid)], { stdio: 'ignore' });
    }
  }

  /** CPU time (user + system) of every PostgreSQL process so far, exited backends included, µs. */
  cpuMicros(): number {
    const postmaster = statFields(this.#postmaster);
    if (postmaster === null) return Number.NaN;
    const live = childrenOf(this.#postmaster).reduce((sum, pid) => sum + (statFields(pid)?.own ?? 0), 0);
    return ticksToMicros(postmaster.own + postmaster.reaped + live);
  }

  /** A session that inserts rows into `table`, one per transaction. */
  async writer(table: BenchTable): Promise<ChangeWriter> {
    const client = new pg.Client(this.url);
    await client.connect();
    return new ChangeWriter(client, table);
  }

  /**
   * Between runs: drops the slot of the server that ran (ending its WAL sender if it lingers), so
   * the next server starts a fresh one, and empties the tables.
   */
  async reset(): Promise<void> {
    // Bounded: 50 attempts, 100 ms apart.
    for (let attempt = 0; attempt < 50; attempt++) {
      const { rows } = await this.#admin.query<{ active: boolean }>('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [SLOT]);
      if (rows.length === 0) break;
      if (rows[0]!.active) {
        await this.#admin.query('SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL', [SLOT]);
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      await this.#admin.query('SELECT pg_drop_replication_slot($1)', [SLOT]).catch(() => undefined);
    }
    await this.#admin.query(`TRUNCATE ${TABLES.open}, ${TABLES.rls}`);
  }

  /** Stops the cluster and removes it. */
  async stop(): Promise<void> {
    await this.#admin.end().catch(() => undefined);
    await this.#cluster.stop();
  }
}

/** One session inserting bodies as rows, each in its own transaction (autocommit). */
export class ChangeWriter {
  readonly #client: pg.Client;
  readonly #text: string;
  readonly #name: string;

  constructor(client: pg.Client, table: BenchTable) {
    this.#client = client;
    this.#text = `INSERT INTO ${table} (id, owner, b) VALUES ($1, 'someone', $2)`;
    this.#name = `bench-insert-${table}`;
  }

  /**
   * Inserts row `id` carrying body `{"s":seq,"t":now}`, stamped right before it is sent: the
   * latency a subscriber measures runs from here, through the commit, to its receipt.
   * @returns the stamp (µs, `nowMicros`)
   */
  async insert(id: number, seq: number): Promise<number> {
    const sentAt = Math.round(nowMicros());
    await this.#client.query({ name: this.#name, text: this.#text, values: [id, `{"s":${seq},"t":${sentAt}}`] });
    return sentAt;
  }

  async close(): Promise<void> {
    await this.#client.end();
  }
}
