/**
 * @module postgres/change-source
 * The row changes of a PostgreSQL publication, read from a persistent logical replication slot
 * (pgoutput) through `pg-logical-replication`, and handed to the app one committed transaction at
 * a time, in commit order. See the `starling/postgres` module doc.
 */
import pg from 'pg';
import { LogicalReplicationService, PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import { ErrorCodes, StarlingError } from '../errors.ts';
import { silentLogger, type Logger } from '../logger.ts';
import { realClock, type Clock, type ClockTimer } from '../runtime/clock.ts';
import { lsnToBigInt } from './lsn.ts';
import { columnValue, type JsonValue } from './values.ts';

/** What happened to a row. */
export type ChangeType = 'INSERT' | 'UPDATE' | 'DELETE';

/** A column of a changed table: its name and PostgreSQL type name (`int4`, `text`, `_int4` for `int4[]`…). */
export interface ChangeColumn {
  readonly name: string;
  readonly type: string;
}

/**
 * One committed row change. `(commitLsn, seq)` orders every change of the database: a consumer
 * that remembers the last pair it handled can drop what a restarted source sends again (see
 * {@link ChangeCursor}).
 */
export interface RowChange {
  readonly schema: string;
  readonly table: string;
  readonly type: ChangeType;
  /** The LSN of its transaction's commit record (`"X/Y"`). */
  readonly commitLsn: string;
  /** Its place in the transaction, from 0. */
  readonly seq: number;
  /** When its transaction committed (ISO 8601, millisecond precision). */
  readonly commitTimestamp: string;
  /**
   * Its transaction's id (32 bits, as pgoutput sends it). PostgreSQL writes a commit to the WAL —
   * and may stream it — a moment before other sessions' snapshots see it: a consumer that reads
   * the row back can tell whether its snapshot sees the transaction yet.
   */
  readonly xid: number;
  /** Every column of the table, in table order. */
  readonly columns: readonly ChangeColumn[];
  /** The new row (INSERT, UPDATE); null on DELETE. A TOASTed value that did not change is absent unless the old row has it. */
  readonly record: Readonly<Record<string, JsonValue>> | null;
  /** The old row's replica-identity columns (every column with `REPLICA IDENTITY FULL`) on UPDATE and DELETE; null on INSERT, and on an UPDATE that kept the key with the default identity. */
  readonly oldRecord: Readonly<Record<string, JsonValue>> | null;
}

/** Options of {@link PostgresChangeSource}. */
export interface PostgresChangeSourceOptions {
  /** A role that may replicate (`REPLICATION` or superuser) and create publications and slots. */
  readonly connectionString: string;
  /** The publication whose tables are streamed; created empty when missing. */
  readonly publication: string;
  /** The persistent logical replication slot (pgoutput); created when missing. Letters, digits and `_` only. */
  readonly slot: string;
  /**
   * Receives each committed transaction's changes, in commit order, one transaction at a time.
   * The slot's position is confirmed only after the returned promise resolves: if it throws, or
   * the process dies first, the transaction is read again (possibly by another node).
   */
  readonly handle: (changes: readonly RowChange[]) => void | Promise<void>;
  /** How often a node that does not hold the slot tries to take it over, and the delay before reconnecting after an error. Default 1000 ms. */
  readonly retryMs?: number | undefined;
  readonly logger?: Logger | undefined;
  /** Time source of the retry timers (default the real clock). */
  readonly clock?: Clock | undefined;
}

/** Counters of a change source. */
export interface ChangeSourceStats {
  /** Row changes handed to `handle`. */
  changes: number;
  /** Transactions handed to `handle` and confirmed. */
  transactions: number;
  /** Transactions read again after a restart and skipped (already handed by this process). */
  duplicatesSkipped: number;
  /** Times this node took the slot over. */
  takeovers: number;
}

interface OpenTransaction {
  readonly commitTime: bigint;
  readonly xid: number;
  readonly changes: Omit<RowChange, 'commitLsn' | 'seq' | 'commitTimestamp' | 'xid'>[];
}

const SLOT_NAME = /^[a-z0-9_]{1,63}$/;

function fail(message: string, cause?: unknown): StarlingError {
  return new StarlingError(ErrorCodes.changeSource, message, cause === undefined ? undefined : { cause });
}

/**
 * Streams a publication's row changes from a persistent replication slot. With several nodes,
 * each runs one: a PostgreSQL advisory lock (per slot) lets exactly one of them consume, and
 * another takes over when that node's session ends (a crash closes it).
 */
export class PostgresChangeSource {
  /** Counters, for metrics. */
  readonly stats: ChangeSourceStats = { changes: 0, transactions: 0, duplicatesSkipped: 0, takeovers: 0 };
  readonly #options: PostgresChangeSourceOptions;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #retryMs: number;
  /** The session that holds the advisory lock and answers catalog questions. */
  #admin: pg.Client | null = null;
  #service: LogicalReplicationService | null = null;
  #timer: ClockTimer | null = null;
  #closed = false;
  #consuming = false;
  /** Commit LSN of the last transaction handed on (and confirmed) by this process. */
  #handled = -1n;
  #open: OpenTransaction | null = null;
  /** The last position confirmed to the server. */
  #confirmed = '0/0';
  /** Messages received and not yet processed: they run one at a time, in order. */
  #queue: Promise<void> = Promise.resolve();
  #pending = 0;
  readonly #typeNames = new Map<number, string>();

  constructor(options: PostgresChangeSourceOptions) {
    if (!SLOT_NAME.test(options.slot)) throw new TypeError(`slot name ${JSON.stringify(options.slot)}: use 1-63 lower-case letters, digits and _`);
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
    this.#clock = options.clock ?? realClock;
    this.#retryMs = options.retryMs ?? 1000;
  }

  /** True while this node holds the slot and streams it. */
  get consuming(): boolean {
    return this.#consuming;
  }

  /**
   * Checks `wal_level`, makes sure the publication and the slot exist, then resolves: from now on
   * every committed change of the publication's tables is kept by the slot until it is handed
   * on. Consuming starts (or waits for the node that holds the slot) in the background.
   * @throws StarlingError `ERR_CHANGE_SOURCE` (rejects) when `wal_level` is not `logical`, or the publication or slot cannot be created
   */
  async start(): Promise<void> {
    const admin = await this.#connectAdmin();
    const { rows: levels } = await admin.query<{ wal_level: string }>('SHOW wal_level');
    const level = levels[0]?.wal_level;
    if (level !== 'logical') {
      await this.close();
      throw fail(`wal_level is ${String(level)}, logical replication needs wal_level=logical: run ALTER SYSTEM SET wal_level = logical and restart PostgreSQL`);
    }
    try {
      const publication = pg.escapeIdentifier(this.#options.publication);
      const { rowCount } = await admin.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [this.#options.publication]);
      if (rowCount === 0) await admin.query(`CREATE PUBLICATION ${publication}`).catch(ignoreDuplicate);
    } catch (err) {
      await this.close();
      throw fail(`publication ${this.#options.publication} is missing and cannot be created: ${(err as Error).message}`, err);
    }
    try {
      const { rows } = await admin.query<{ plugin: string; database: string }>('SELECT plugin, database FROM pg_replication_slots WHERE slot_name = $1', [
        this.#options.slot,
      ]);
      const slot = rows[0];
      if (slot === undefined) await admin.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [this.#options.slot]).catch(ignoreDuplicate);
      else if (slot.plugin !== 'pgoutput') throw new Error(`it exists with plugin ${slot.plugin}, not pgoutput`);
      else if (slot.database !== admin.database) throw new Error(`it exists in database ${slot.database}`);
    } catch (err) {
      await this.close();
      throw fail(`replication slot ${this.#options.slot} cannot be used: ${(err as Error).message}`, err);
    }
    void this.#takeOver();
  }

  /** Bytes of WAL the slot keeps that are not yet confirmed (the consumer's lag), or null when unknown. */
  async lagBytes(): Promise<number | null> {
    const admin = this.#admin;
    if (admin === null) return null;
    try {
      const { rows } = await admin.query<{ lag: string | null }>(
        // The confirmation names the byte after what was handled: a caught-up slot is 1 byte "ahead".
        'SELECT greatest(0, pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn))::text AS lag FROM pg_replication_slots WHERE slot_name = $1',
        [this.#options.slot],
      );
      const lag = rows[0]?.lag;
      return lag === null || lag === undefined ? null : Number(lag);
    } catch {
      return null;
    }
  }

  /** Stops consuming and releases the slot (and its lock) for another node. The slot itself stays: drop it with `pg_drop_replication_slot` when retiring the feature. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
    await this.#stopStream();
    const admin = this.#admin;
    this.#admin = null;
    await admin?.end().catch(() => undefined);
  }

  async #connectAdmin(): Promise<pg.Client> {
    const admin = new pg.Client({ connectionString: this.#options.connectionString, application_name: 'starling change source' });
    const lost = (err: unknown): void => {
      // The session (and with it the advisory lock) is gone: stop streaming, try again.
      if (this.#admin !== admin || this.#closed) return;
      this.#logger.warn({ err }, 'change source: database session lost');
      this.#admin = null;
      void this.#stopStream().then(() => this.#retry());
    };
    admin.on('error', lost);
    admin.on('end', () => lost(new Error('the session ended')));
    try {
      await admin.connect();
    } catch (err) {
      throw fail(`cannot connect to the database: ${(err as Error).message}`, err);
    }
    this.#admin = admin;
    return admin;
  }

  #retry(): void {
    if (this.#closed || this.#timer !== null) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = null;
      void this.#takeOver();
    }, this.#retryMs);
    this.#timer.unref?.();
  }

  /** Takes the slot's lock when free and streams; otherwise tries again later. */
  async #takeOver(): Promise<void> {
    if (this.#closed || this.#consuming) return;
    try {
      const admin = this.#admin ?? (await this.#connectAdmin());
      const { rows } = await admin.query<{ locked: boolean }>("SELECT pg_try_advisory_lock(hashtext('starling change source'), hashtext($1)) AS locked", [
        this.#options.slot,
      ]);
      if (rows[0]?.locked !== true) return this.#retry();
      this.#consuming = true;
      this.stats.takeovers++;
      this.#logger.info({ slot: this.#options.slot }, 'change source: consuming the replication slot');
      this.#stream();
    } catch (err) {
      this.#logger.warn({ err }, 'change source: cannot take the slot');
      this.#retry();
    }
  }

  #stream(): void {
    // Acknowledgements are ours alone: the library's own would confirm what was received rather
    // than what was handed on.
    const service = new LogicalReplicationService(
      { connectionString: this.#options.connectionString, application_name: 'starling change source' },
      { acknowledge: { auto: false, timeoutSeconds: 0 } },
    );
    this.#service = service;
    const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: [this.#options.publication] });
    const parse = plugin.parse.bind(plugin);
    plugin.parse = (buffer) => {
      const message = parse(buffer);
      // Values arrive as PostgreSQL text; keep it (the library would parse timestamps into Dates,
      // losing microseconds, and arrays into JS arrays) and convert by type in #add. Tuples are
      // parsed on receipt with the relation's column parsers, hence the swap here.
      if (message.tag === 'relation') for (const column of message.columns) column.parser = (raw: unknown) => raw;
      return message;
    };
    service.on('data', (_lsn: string, message: Pgoutput.Message) => {
      this.#pending++;
      this.#queue = this.#queue
        .then(() => (this.#service === service ? this.#process(service, message) : undefined))
        .catch((err: unknown) => this.#restart(service, err))
        .finally(() => this.#pending--);
    });
    service.on('heartbeat', (lsn: string, _time: number, shouldRespond: boolean) => {
      // A keepalive carries what the server has sent. With nothing open or queued here, all of it
      // is handled (or belonged to no published table), so confirming it lets the server recycle
      // WAL while the published tables are quiet.
      if (this.#pending === 0 && this.#open === null && lsnToBigInt(lsn) > lsnToBigInt(this.#confirmed)) {
        this.#confirmed = lsn;
        void service.acknowledge(lsn);
      } else if (shouldRespond) void service.acknowledge(this.#confirmed);
    });
    service.on('error', (err: Error) => this.#restart(service, err));
    // Starting at 0/0 means "where the slot's confirmed position is".
    service.subscribe(plugin, this.#options.slot, '0/0').catch((err: unknown) => this.#restart(service, err));
  }

  #restart(service: LogicalReplicationService, err: unknown): void {
    if (this.#service !== service || this.#closed) return;
    this.#logger.warn({ err }, 'change source: replication stream ended; reconnecting');
    // Advisory locks are re-entrant per session: the next attempt gets the lock again while this
    // node's session lives, or competes for it when the session is gone.
    void this.#stopStream().then(() => this.#retry());
  }

  async #stopStream(): Promise<void> {
    const service = this.#service;
    this.#service = null;
    this.#consuming = false;
    this.#open = null;
    await service?.destroy().catch(() => undefined);
  }

  async #process(service: LogicalReplicationService, message: Pgoutput.Message): Promise<void> {
    switch (message.tag) {
      case 'relation':
        await this.#resolveTypes(message.columns.map((column) => column.typeOid));
        return;
      case 'begin':
        this.#open = { commitTime: BigInt(message.commitTime as bigint), xid: message.xid, changes: [] };
        return;
      case 'insert':
        return this.#add(message.relation, 'INSERT', message.new, null);
      case 'update':
        return this.#add(message.relation, 'UPDATE', message.new, message.old ?? message.key);
      case 'delete':
        return this.#add(message.relation, 'DELETE', null, message.old ?? message.key);
      case 'commit':
        return this.#commit(service, message);
      default:
        return; // truncate, origin, type, message: not row changes
    }
  }

  #add(relation: Pgoutput.MessageRelation, type: ChangeType, row: Record<string, unknown> | null, old: Record<string, unknown> | null): void {
    const columns = relation.columns.map((column) => ({ name: column.name, type: this.#typeNames.get(column.typeOid) ?? column.typeName ?? 'unknown' }));
    const convert = (tuple: Record<string, unknown> | null): Record<string, JsonValue> | null => {
      if (tuple === null) return null;
      const out: Record<string, JsonValue> = {};
      for (const column of columns) {
        if (!Object.hasOwn(tuple, column.name)) continue;
        const value = tuple[column.name];
        // A key-only old tuple has nulls for the columns outside the key: leave those out.
        if (value === undefined) continue;
        out[column.name] = columnValue(column.type, value as string | null);
      }
      return out;
    };
    const oldRecord = convert(old);
    if (old !== null && oldRecord !== null && relation.replicaIdentity !== 'full') {
      for (const column of relation.columns) if (!relation.keyColumns.includes(column.name)) delete oldRecord[column.name];
    }
    this.#open?.changes.push({ schema: relation.schema, table: relation.name, type, columns, record: convert(row), oldRecord });
  }

  async #commit(service: LogicalReplicationService, message: Pgoutput.MessageCommit): Promise<void> {
    const open = this.#open;
    this.#open = null;
    const commitLsn = message.commitLsn ?? '0/0';
    const position = lsnToBigInt(commitLsn);
    if (position <= this.#handled) {
      // Sent again after a reconnect: already handed on by this process.
      this.stats.duplicatesSkipped++;
      return;
    }
    if (open !== null && open.changes.length > 0) {
      const commitTimestamp = new Date(Number(open.commitTime / 1000n)).toISOString();
      const { xid } = open;
      const changes = open.changes.map((change, seq): RowChange => ({ ...change, commitLsn, seq, commitTimestamp, xid }));
      await this.#options.handle(changes);
      this.stats.changes += changes.length;
      this.stats.transactions++;
    }
    this.#handled = position;
    this.#confirmed = message.commitEndLsn ?? commitLsn;
    if (this.#service === service) await service.acknowledge(this.#confirmed);
  }

  async #resolveTypes(oids: readonly number[]): Promise<void> {
    const missing = oids.filter((oid) => !this.#typeNames.has(oid));
    if (missing.length === 0) return;
    const admin = this.#admin;
    if (admin === null) throw fail('the catalog session is gone');
    const { rows } = await admin.query<{ oid: number; typname: string }>('SELECT oid::int AS oid, typname FROM pg_type WHERE oid = ANY($1::oid[])', [missing]);
    for (const row of rows) this.#typeNames.set(row.oid, row.typname);
  }
}

/** Two nodes starting at once may both find the publication or slot missing: the loser's "already exists" is fine. */
function ignoreDuplicate(err: unknown): void {
  if ((err as { code?: unknown }).code === '42710') return;
  throw err;
}
