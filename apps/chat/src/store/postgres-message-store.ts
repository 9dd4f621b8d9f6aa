/**
 * @module postgres-message-store
 * A {@link MessageStore} in PostgreSQL, for a chat running on several nodes that share one
 * database. `connect` creates the schema and tables when missing; any number of nodes may start at
 * once. Table names are qualified with the (quoted) schema, so the store never depends on a
 * connection's `search_path`.
 *
 * Outages: the pool reconnects by itself. While PostgreSQL is unreachable calls reject with
 * `ERR_STORE_UNAVAILABLE`; once it is back, calls on the same instance succeed again. A pooled
 * connection dropped while idle (server restart, `pg_terminate_backend`, a proxy timeout) is
 * discarded and reported to `onError` — it never becomes an uncaught `'error'` event.
 *
 * Durability rests on the server's `synchronous_commit` (default `on`): a statement's commit is
 * flushed to the server's WAL before the call resolves.
 *
 * @example
 * const store = await PostgresMessageStore.connect({ connectionString: process.env.DATABASE_URL!, schema: 'chat' });
 * await store.append('lobby', 'alice', 'hi');
 * await store.close();
 */
import { DatabaseError, escapeIdentifier, Pool, type PoolClient } from 'pg';
import {
  assertStorableText,
  historyQuery,
  isStorableText,
  newRoomId,
  StoreError,
  StoreErrorCodes,
  type HistoryOptions,
  type Invite,
  type InviteOptions,
  type Member,
  type MessageStore,
  type Room,
  type StoredMessage,
} from './message-store.ts';

/** Options of {@link PostgresMessageStore.connect}. */
export interface PostgresMessageStoreOptions {
  /** e.g. `postgres://user:password@host:5432/database`. */
  connectionString: string;
  /** Schema holding the tables, created when missing. Default `public`. */
  schema?: string;
  /** Most connections the pool opens. Default 10. */
  poolSize?: number;
  /** Shown in `pg_stat_activity.application_name`. Default `starling-chat`. */
  applicationName?: string;
  /** How long a call waits for a new connection before failing as unavailable. Default 5000 ms. */
  connectionTimeoutMillis?: number;
  /**
   * Told about faults that belong to no call — a pooled idle connection that dropped. The pool has
   * already discarded it; the next call opens a fresh one. Default: ignored.
   */
  onError?: (error: StoreError) => void;
}

const TABLES = ['messages', 'rooms', 'room_members', 'invites', 'session_revocations', 'profiles'];

/** The tables, indexes and statements of one schema, with every name qualified. */
function sql(schema: string) {
  const s = escapeIdentifier(schema);
  const messageColumns = 'id, room, author, body, inserted_at AS "insertedAt"';
  const roomColumns = 'r.id, r.name, r.owner_id AS "ownerId", r.created_at AS "createdAt"';
  return {
    createSchema: `CREATE SCHEMA IF NOT EXISTS ${s}`,
    // `seq` orders rooms by creation (ids are random). Members are keyed by user first: `roomsOf`
    // and `isMember` both start there.
    createTables: `
      CREATE TABLE IF NOT EXISTS ${s}.messages (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        room TEXT NOT NULL,
        author TEXT NOT NULL,
        body TEXT NOT NULL,
        inserted_at TIMESTAMPTZ NOT NULL DEFAULT now()
      );
      CREATE INDEX IF NOT EXISTS messages_room_id ON ${s}.messages (room, id);
      CREATE TABLE IF NOT EXISTS ${s}.rooms (
        seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        owner_id TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now()
      );
      CREATE TABLE IF NOT EXISTS ${s}.room_members (
        user_id TEXT NOT NULL,
        room_id TEXT NOT NULL REFERENCES ${s}.rooms (id),
        PRIMARY KEY (user_id, room_id)
      );
      CREATE TABLE IF NOT EXISTS ${s}.invites (
        id TEXT PRIMARY KEY,
        room_id TEXT NOT NULL REFERENCES ${s}.rooms (id),
        created_by TEXT NOT NULL,
        max_uses INTEGER NOT NULL,
        uses INTEGER NOT NULL DEFAULT 0,
        expires_at TIMESTAMPTZ NOT NULL,
        revoked BOOLEAN NOT NULL DEFAULT false
      );
      CREATE TABLE IF NOT EXISTS ${s}.session_revocations (
        user_id TEXT PRIMARY KEY,
        before BIGINT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS ${s}.profiles (
        user_id TEXT PRIMARY KEY,
        name TEXT NOT NULL
      )`,
    // Concurrent inserts draw identity values in one order and may commit in another, so a reader
    // could see id 11 before id 10 and page past 10 for good. Holding a per-room lock from before
    // the id is drawn until the commit makes ids become visible in order. The lock lives in the
    // MATERIALIZED CTE so that it is taken before the outer row (and its id) exists; it is released
    // by the statement's own commit. One round trip, no explicit transaction. The price: appends to
    // one room commit one at a time (a WAL flush each, hundreds per second) — far above chat rates;
    // other rooms are not held up.
    append: `
      WITH serialize_room AS MATERIALIZED (SELECT pg_advisory_xact_lock(hashtext($4::text), hashtext($1::text)))
      INSERT INTO ${s}.messages (room, author, body)
      SELECT $1::text, $2::text, $3::text FROM serialize_room
      RETURNING ${messageColumns}`,
    newest: `SELECT ${messageColumns} FROM ${s}.messages WHERE room = $1 ORDER BY id DESC LIMIT $2`,
    newestBefore: `SELECT ${messageColumns} FROM ${s}.messages WHERE room = $1 AND id < $2 ORDER BY id DESC LIMIT $3`,
    // Foreign keys are checked at the end of the statement, after both CTEs have inserted.
    createRoom: `
      WITH r AS (INSERT INTO ${s}.rooms (id, name, owner_id) VALUES ($1, $2, $3) RETURNING *),
           owner AS (INSERT INTO ${s}.room_members (user_id, room_id) SELECT owner_id, id FROM r)
      SELECT ${roomColumns} FROM r`,
    getRoom: `SELECT ${roomColumns} FROM ${s}.rooms r WHERE r.id = $1`,
    // ON CONFLICT covers the primary key only; a missing room still fails the foreign key.
    addMember: `INSERT INTO ${s}.room_members (user_id, room_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
    isMember: `SELECT EXISTS (SELECT 1 FROM ${s}.room_members WHERE user_id = $1 AND room_id = $2) AS "member"`,
    roomsOf: `
      SELECT ${roomColumns} FROM ${s}.room_members m JOIN ${s}.rooms r ON r.id = m.room_id
      WHERE m.user_id = $1 ORDER BY r.seq`,
    // COLLATE "C": ordered by code point, as SQLite orders them.
    membersOf: `
      SELECT m.user_id AS "userId", p.name FROM ${s}.room_members m LEFT JOIN ${s}.profiles p ON p.user_id = m.user_id
      WHERE m.room_id = $1 ORDER BY m.user_id COLLATE "C"`,
    removeMember: `
      DELETE FROM ${s}.room_members m USING ${s}.rooms r
      WHERE m.user_id = $1 AND m.room_id = $2 AND r.id = m.room_id AND r.owner_id <> $1`,
    createInvite: `
      INSERT INTO ${s}.invites (id, room_id, created_by, max_uses, expires_at) VALUES ($1, $2, $3, $4, $5)
      RETURNING id, room_id AS "roomId", created_by AS "createdBy", max_uses AS "maxUses", uses, expires_at AS "expiresAt", revoked`,
    // One statement: a member redeeming again spends no use; concurrent redeemers are serialized on
    // the invite's row, whose \`uses < max_uses\` is re-checked after each one (never more than max).
    redeemInvite: `
      WITH inv AS (SELECT room_id FROM ${s}.invites WHERE id = $1 AND NOT revoked AND expires_at > $3),
           already AS (SELECT m.room_id FROM ${s}.room_members m JOIN inv ON m.room_id = inv.room_id WHERE m.user_id = $2),
           used AS (
             UPDATE ${s}.invites SET uses = uses + 1
             WHERE id = $1 AND NOT revoked AND uses < max_uses AND expires_at > $3 AND NOT EXISTS (SELECT 1 FROM already)
             RETURNING room_id),
           added AS (INSERT INTO ${s}.room_members (user_id, room_id) SELECT $2, room_id FROM used ON CONFLICT DO NOTHING)
      SELECT ${roomColumns} FROM ${s}.rooms r WHERE r.id IN (SELECT room_id FROM used UNION SELECT room_id FROM already)`,
    revokeInvite: `UPDATE ${s}.invites SET revoked = true WHERE id = $1 AND created_by = $2`,
    revokeSessions: `
      INSERT INTO ${s}.session_revocations (user_id, before) VALUES ($1, $2)
      ON CONFLICT (user_id) DO UPDATE SET before = GREATEST(${s}.session_revocations.before, EXCLUDED.before)`,
    revokedBefore: `SELECT before FROM ${s}.session_revocations WHERE user_id = $1`,
    setProfileName: `INSERT INTO ${s}.profiles (user_id, name) VALUES ($1, $2) ON CONFLICT (user_id) DO UPDATE SET name = EXCLUDED.name`,
    profileName: `SELECT name FROM ${s}.profiles WHERE user_id = $1`,
  };
}

interface MessageRow {
  id: string; // BIGINT arrives as a string; ids stay far below 2^53.
  room: string;
  author: string;
  body: string;
  insertedAt: Date;
}

interface RoomRow {
  id: string;
  name: string;
  ownerId: string;
  createdAt: Date;
}

const toMessage = (row: MessageRow): StoredMessage => ({
  id: Number(row.id),
  room: row.room,
  author: row.author,
  body: row.body,
  insertedAt: row.insertedAt.toISOString(),
});

const toRoom = (row: RoomRow): Room => ({
  id: row.id,
  name: row.name,
  ownerId: row.ownerId,
  createdAt: row.createdAt.toISOString(),
});

/**
 * SQLSTATE classes meaning "try again later": 08 connection exception, 53 insufficient resources
 * (too many connections), 57P01–57P03 shutdown or startup in progress, 40 serialization failure.
 */
function isTransientSqlState(code: string): boolean {
  return ['08', '53', '40'].includes(code.slice(0, 2)) || ['57P01', '57P02', '57P03'].includes(code);
}

/** Maps whatever `pg` rejected with to the contract's codes. */
function toStoreError(err: unknown, doing: string): StoreError {
  if (err instanceof StoreError) return err;
  const reason = err instanceof Error ? err.message : String(err);
  if (err instanceof DatabaseError && err.code !== undefined) {
    if (err.code === '23503') return new StoreError(StoreErrorCodes.unknownRoom, `${doing}: no such room`, { cause: err });
    if (isTransientSqlState(err.code)) {
      return new StoreError(StoreErrorCodes.unavailable, `${doing}: PostgreSQL is unavailable: ${reason}`, { cause: err });
    }
    return new StoreError(StoreErrorCodes.failed, `${doing}: ${reason}`, { cause: err });
  }
  // Below SQL: socket errors (ECONNREFUSED, ECONNRESET, ETIMEDOUT…) and pg's own connection
  // errors, which carry no code ("Connection terminated unexpectedly", "timeout exceeded when
  // trying to connect", "Client has encountered a connection error and is not queryable").
  const code = err instanceof Error && 'code' in err ? err.code : undefined;
  if ((typeof code === 'string' && code.startsWith('E')) || /connect|terminat|timeout|queryable/i.test(reason)) {
    return new StoreError(StoreErrorCodes.unavailable, `${doing}: PostgreSQL is unavailable: ${reason}`, { cause: err });
  }
  return new StoreError(StoreErrorCodes.failed, `${doing}: ${reason}`, { cause: err });
}

/** A {@link MessageStore} on PostgreSQL through a `pg` connection pool. */
export class PostgresMessageStore implements MessageStore {
  readonly #pool: Pool;
  readonly #schema: string;
  readonly #sql: ReturnType<typeof sql>;
  readonly #inFlight = new Set<Promise<unknown>>();
  #closing: Promise<void> | undefined;

  private constructor(pool: Pool, schema: string, onError: ((error: StoreError) => void) | undefined) {
    this.#pool = pool;
    this.#schema = schema;
    this.#sql = sql(schema);
    // An idle client that loses its connection emits 'error' through the pool, which has already
    // removed it; without a listener Node would throw it and bring the process down.
    pool.on('error', (err) => onError?.(toStoreError(err, 'idle connection')));
  }

  /**
   * Connects and creates the schema and tables when missing. Rejects with `ERR_STORE_UNAVAILABLE`
   * if PostgreSQL cannot be reached (it does not wait for it to come up).
   */
  static async connect(options: PostgresMessageStoreOptions): Promise<PostgresMessageStore> {
    const pool = new Pool({
      connectionString: options.connectionString,
      max: options.poolSize ?? 10,
      application_name: options.applicationName ?? 'starling-chat',
      connectionTimeoutMillis: options.connectionTimeoutMillis ?? 5000,
      // Notices a silently vanished peer (a dropped NAT entry) on idle connections.
      keepAlive: true,
    });
    const store = new PostgresMessageStore(pool, options.schema ?? 'public', options.onError);
    try {
      await store.#migrate();
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw toStoreError(err, 'connect');
    }
    return store;
  }

  /**
   * Creates what is missing. The fast path only reads the catalog, so restarts need no DDL
   * privileges and take no lock. Otherwise nodes starting together queue on a transaction-scoped
   * advisory lock, because `IF NOT EXISTS` alone still races: two concurrent `CREATE SCHEMA IF NOT
   * EXISTS` can both pass the check and one fails on the catalog's unique index.
   */
  async #migrate(): Promise<void> {
    const present = await this.#pool.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_catalog.pg_tables WHERE schemaname = $1 AND tablename = ANY($2)', [
      this.#schema,
      TABLES,
    ]);
    if (present.rows[0]?.n === TABLES.length) return;
    const client: PoolClient = await this.#pool.connect();
    // The pool listens for errors only on idle clients; a checked-out one that loses its connection
    // would otherwise emit an unhandled 'error'. The failure reaches us through the next query.
    const ignore = (): void => undefined;
    client.on('error', ignore);
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`starling-chat schema ${this.#schema}`]);
      // CREATE SCHEMA checks the database-level privilege even when the schema exists.
      const schema = await client.query('SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1', [this.#schema]);
      if (schema.rowCount === 0) await client.query(this.#sql.createSchema);
      await client.query(this.#sql.createTables);
      await client.query('COMMIT');
      client.removeListener('error', ignore);
      client.release();
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      client.removeListener('error', ignore);
      client.release(true); // its state is unknown: discard rather than return it to the pool
      throw err;
    }
  }

  append(room: string, author: string, body: string): Promise<StoredMessage> {
    return this.#call('append', async () => {
      assertStorableText({ room, author, body });
      const { rows } = await this.#pool.query<MessageRow>(this.#sql.append, [room, author, body, this.#schema]);
      return toMessage(rows[0]!);
    });
  }

  history(room: string, options?: HistoryOptions): Promise<StoredMessage[]> {
    return this.#call('history', async () => {
      const { before, limit } = historyQuery(options);
      if (!isStorableText(room)) return [];
      const { rows } =
        before === null
          ? await this.#pool.query<MessageRow>(this.#sql.newest, [room, limit])
          : await this.#pool.query<MessageRow>(this.#sql.newestBefore, [room, before, limit]);
      return rows.reverse().map(toMessage);
    });
  }

  createRoom(ownerId: string, name: string): Promise<Room> {
    return this.#call('createRoom', async () => {
      assertStorableText({ ownerId, name });
      const { rows } = await this.#pool.query<RoomRow>(this.#sql.createRoom, [newRoomId(), name, ownerId]);
      return toRoom(rows[0]!);
    });
  }

  getRoom(id: string): Promise<Room | null> {
    return this.#call('getRoom', async () => {
      if (!isStorableText(id)) return null;
      const { rows } = await this.#pool.query<RoomRow>(this.#sql.getRoom, [id]);
      return rows[0] === undefined ? null : toRoom(rows[0]);
    });
  }

  addMember(roomId: string, userId: string): Promise<void> {
    return this.#call('addMember', async () => {
      assertStorableText({ userId });
      if (!isStorableText(roomId)) throw new StoreError(StoreErrorCodes.unknownRoom, 'addMember: no such room');
      await this.#pool.query(this.#sql.addMember, [userId, roomId]);
    });
  }

  isMember(roomId: string, userId: string): Promise<boolean> {
    return this.#call('isMember', async () => {
      if (!isStorableText(roomId) || !isStorableText(userId)) return false;
      const { rows } = await this.#pool.query<{ member: boolean }>(this.#sql.isMember, [userId, roomId]);
      return rows[0]?.member === true;
    });
  }

  roomsOf(userId: string): Promise<Room[]> {
    return this.#call('roomsOf', async () => {
      if (!isStorableText(userId)) return [];
      const { rows } = await this.#pool.query<RoomRow>(this.#sql.roomsOf, [userId]);
      return rows.map(toRoom);
    });
  }

  membersOf(roomId: string): Promise<Member[]> {
    return this.#call('membersOf', async () => {
      if (!isStorableText(roomId)) return [];
      const { rows } = await this.#pool.query<Member>(this.#sql.membersOf, [roomId]);
      return rows;
    });
  }

  removeMember(roomId: string, userId: string): Promise<boolean> {
    return this.#call('removeMember', async () => {
      if (!isStorableText(roomId) || !isStorableText(userId)) return false;
      const { rowCount } = await this.#pool.query(this.#sql.removeMember, [userId, roomId]);
      return (rowCount ?? 0) > 0;
    });
  }

  createInvite(roomId: string, createdBy: string, options: InviteOptions): Promise<Invite> {
    return this.#call('createInvite', async () => {
      assertStorableText({ createdBy });
      if (!isStorableText(roomId)) throw new StoreError(StoreErrorCodes.unknownRoom, 'createInvite: no such room');
      const maxUses = Math.max(1, Math.floor(options.maxUses));
      const { rows } = await this.#pool.query<Omit<Invite, 'expiresAt'> & { expiresAt: Date }>(this.#sql.createInvite, [
        newRoomId(),
        roomId,
        createdBy,
        maxUses,
        options.expiresAt,
      ]);
      const row = rows[0]!;
      return { ...row, expiresAt: row.expiresAt.toISOString() };
    });
  }

  redeemInvite(inviteId: string, userId: string, now: Date = new Date()): Promise<Room | null> {
    return this.#call('redeemInvite', async () => {
      assertStorableText({ userId });
      if (!isStorableText(inviteId)) return null;
      const { rows } = await this.#pool.query<RoomRow>(this.#sql.redeemInvite, [inviteId, userId, now]);
      return rows[0] === undefined ? null : toRoom(rows[0]);
    });
  }

  revokeInvite(inviteId: string, userId: string): Promise<boolean> {
    return this.#call('revokeInvite', async () => {
      if (!isStorableText(inviteId) || !isStorableText(userId)) return false;
      const { rowCount } = await this.#pool.query(this.#sql.revokeInvite, [inviteId, userId]);
      return (rowCount ?? 0) > 0;
    });
  }

  revokeSessions(userId: string, before: number): Promise<void> {
    return this.#call('revokeSessions', async () => {
      assertStorableText({ userId });
      await this.#pool.query(this.#sql.revokeSessions, [userId, Math.floor(before)]);
    });
  }

  sessionsRevokedBefore(userId: string): Promise<number> {
    return this.#call('sessionsRevokedBefore', async () => {
      if (!isStorableText(userId)) return 0;
      const { rows } = await this.#pool.query<{ before: string }>(this.#sql.revokedBefore, [userId]);
      return rows[0] === undefined ? 0 : Number(rows[0].before);
    });
  }

  setProfileName(userId: string, name: string): Promise<void> {
    return this.#call('setProfileName', async () => {
      assertStorableText({ userId, name });
      await this.#pool.query(this.#sql.setProfileName, [userId, name]);
    });
  }

  profileName(userId: string): Promise<string | null> {
    return this.#call('profileName', async () => {
      if (!isStorableText(userId)) return null;
      const { rows } = await this.#pool.query<{ name: string }>(this.#sql.profileName, [userId]);
      return rows[0]?.name ?? null;
    });
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.allSettled([...this.#inFlight]);
      await this.#pool.end();
    })();
    return this.#closing;
  }

  async #call<T>(doing: string, work: () => Promise<T>): Promise<T> {
    if (this.#closing !== undefined) throw new StoreError(StoreErrorCodes.closed, `${doing}: the store is closed`);
    const running = work();
    this.#inFlight.add(running);
    try {
      return await running;
    } catch (err) {
      throw toStoreError(err, doing);
    } finally {
      this.#inFlight.delete(running);
    }
  }
}
