/**
 * @module sqlite-database
 * The one SQLite file behind a `SqliteChatStore`, shared by its parts: opening it (file modes, WAL,
 * the schema each part brings), running each call with the contract's error codes, and closing it.
 * Several processes may open the same file (SQLite's WAL allows one writer and many readers).
 *
 * better-sqlite3 is synchronous: each call runs to completion on the event loop. That is what
 * makes a commit cheap here (no round trip, no fsync — see {@link SqliteDatabase.open}), and
 * it also means a call waiting on another process's write lock blocks the loop for up to
 * `busy_timeout`.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { pendingMigrations, type Migration } from '../migrations.ts';
import { StoreError, StoreErrorCodes } from '../store-error.ts';

/** How long a call waits for another process's write lock before failing as unavailable. */
const BUSY_TIMEOUT_MS = 5000;

/** SQLite result codes that describe a passing condition (contention, a full or failing disk). */
const TRANSIENT = ['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_FULL', 'SQLITE_IOERR', 'SQLITE_CANTOPEN'];

function toStoreError(err: unknown, doing: string): StoreError {
  if (err instanceof StoreError) return err;
  if (err instanceof Database.SqliteError) {
    const code = err.code;
    // Every foreign key points at a room (members and invites).
    if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
      return new StoreError(StoreErrorCodes.unknownRoom, `${doing}: no such room`, { cause: err });
    }
    if (TRANSIENT.some((prefix) => code.startsWith(prefix))) {
      return new StoreError(StoreErrorCodes.unavailable, `${doing}: SQLite is unavailable (${code})`, { cause: err });
    }
  }
  const reason = err instanceof Error ? err.message : String(err);
  return new StoreError(StoreErrorCodes.failed, `${doing}: ${reason}`, { cause: err });
}

/** An open SQLite file: what the parts of a `SqliteChatStore` prepare their statements on. */
export class SqliteDatabase {
  /** The connection, for preparing statements and transactions once, at construction. */
  readonly db: Database.Database;
  #closed = false;

  private constructor(db: Database.Database) {
    this.db = db;
  }

  /**
   * Opens (creating when missing) the database at `file`, with its parent directory, applies the
   * pending `migrations` (`migrations.ts`) in one transaction, and
   * returns what `build` makes of it (the parts prepare their statements there). The
   * database and its -wal/-shm files are readable by their owner only (0600), a directory it
   * creates too (0700). Throws a {@link StoreError} if the file cannot be opened or `build` fails
   * (an unexpected schema), having closed the file.
   *
   * Durability: WAL journal with `synchronous = NORMAL`. A commit is appended to the WAL file with
   * write(2) before the call returns, so it sits in the operating system's page cache and survives
   * the process being killed at any moment — which is what the contract promises. What NORMAL gives
   * up is the fsync per commit: an OS crash or power cut may lose the last commits (never corrupt the
   * file). FULL would fsync the WAL on every `append`, blocking the event loop for a disk flush per
   * chat message; deployments that need power-loss durability should use PostgreSQL.
   */
  static open<T>(file: string, migrations: readonly Migration[], build: (database: SqliteDatabase) => T): T {
    let db: Database.Database | undefined;
    try {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      // Private before SQLite opens it: SQLite gives the -wal and -shm files the database's mode.
      closeSync(openSync(file, 'a', 0o600));
      chmodSync(file, 0o600);
      const opened = (db = new Database(file, { timeout: BUSY_TIMEOUT_MS }));
      opened.pragma('journal_mode = WAL');
      // Files made by an older version (umask modes) are made private too.
      for (const companion of [`${file}-wal`, `${file}-shm`]) if (existsSync(companion)) chmodSync(companion, 0o600);
      opened.pragma('synchronous = NORMAL');
      opened.pragma('foreign_keys = ON');
      // One write transaction, so that processes opening a new file at once apply each migration once.
      opened
        .transaction(() => {
          opened.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
          const applied = (opened.prepare('SELECT coalesce(max(version), 0) AS version FROM schema_migrations').get() as { version: number }).version;
          const record = opened.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
          for (const migration of pendingMigrations(migrations, applied)) {
            opened.exec(migration.sql(''));
            record.run(migration.version, migration.name, new Date().toISOString());
          }
        })
        .immediate();
      return build(new SqliteDatabase(opened));
    } catch (err) {
      db?.close();
      throw toStoreError(err, `opening ${file}`);
    }
  }

  /**
   * Runs `work` as the call named `doing`: rejects with `ERR_STORE_CLOSED` once closed, and maps
   * whatever it throws to a {@link StoreError}.
   */
  async call<T>(doing: string, work: () => T): Promise<T> {
    if (this.#closed) throw new StoreError(StoreErrorCodes.closed, `${doing}: the store is closed`);
    try {
      return work();
    } catch (err) {
      throw toStoreError(err, doing);
    }
  }

  /** Closes the file; idempotent. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      // Calls are synchronous, so none is in flight; closing also checkpoints the WAL.
      this.db.close();
    }
    return Promise.resolve();
  }
}
