/**
 * @module sqlite-message-store
 * A {@link MessageStore} in one SQLite file, for a chat running as a single node. Opening creates
 * the file, its directory and the schema when missing; reopening an existing file keeps its data.
 * Several processes may open the same file (SQLite's WAL allows one writer and many readers).
 *
 * better-sqlite3 is synchronous: each call runs to completion on the event loop. That is what
 * makes a commit cheap here (no round trip, no fsync — see {@link SqliteMessageStore.open}), and
 * it also means a call waiting on another process's write lock blocks the loop for up to
 * `busy_timeout`.
 *
 * @example
 * const store = SqliteMessageStore.open('./data/chat.sqlite3');
 * await store.append('lobby', 'alice', 'hi');
 * await store.close();
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
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

// `seq` orders rooms by creation (ids are random); AUTOINCREMENT keeps both sequences from ever
// reusing a number. Members are keyed by user first: `roomsOf` and `isMember` both start there.
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    room TEXT NOT NULL,
    author TEXT NOT NULL,
    body TEXT NOT NULL,
    inserted_at TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS messages_room_id ON messages (room, id);
  CREATE TABLE IF NOT EXISTS rooms (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE TABLE IF NOT EXISTS room_members (
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL REFERENCES rooms (id),
    PRIMARY KEY (user_id, room_id)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS invites (
    id TEXT PRIMARY KEY,
    room_id TEXT NOT NULL REFERENCES rooms (id),
    created_by TEXT NOT NULL,
    max_uses INTEGER NOT NULL,
    uses INTEGER NOT NULL DEFAULT 0,
    expires_at TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS session_revocations (
    user_id TEXT PRIMARY KEY,
    before INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS profiles (
    user_id TEXT PRIMARY KEY,
    name TEXT NOT NULL
  ) WITHOUT ROWID;
`;

const MESSAGE_COLUMNS = 'id, room, author, body, inserted_at AS insertedAt';
const ROOM_COLUMNS = 'r.id, r.name, r.owner_id AS ownerId, r.created_at AS createdAt';

/** How long a call waits for another process's write lock before failing as unavailable. */
const BUSY_TIMEOUT_MS = 5000;

/** The prepared statements, compiled once per connection. */
function prepare(db: Database.Database) {
  return {
    insertMessage: db.prepare<[string, string, string, string]>('INSERT INTO messages (room, author, body, inserted_at) VALUES (?, ?, ?, ?)'),
    newest: db.prepare<[string, number], StoredMessage>(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE room = ? ORDER BY id DESC LIMIT ?`),
    newestBefore: db.prepare<[string, number, number], StoredMessage>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE room = ? AND id < ? ORDER BY id DESC LIMIT ?`,
    ),
    insertRoom: db.prepare<[string, string, string, string]>('INSERT INTO rooms (id, name, owner_id, created_at) VALUES (?, ?, ?, ?)'),
    getRoom: db.prepare<[string], Room>(`SELECT ${ROOM_COLUMNS} FROM rooms r WHERE r.id = ?`),
    // OR IGNORE covers the primary key only; a missing room still fails the foreign key.
    insertMember: db.prepare<[string, string]>('INSERT OR IGNORE INTO room_members (user_id, room_id) VALUES (?, ?)'),
    isMember: db.prepare<[string, string], 1>('SELECT 1 FROM room_members WHERE user_id = ? AND room_id = ?').pluck(),
    roomsOf: db.prepare<[string], Room>(`SELECT ${ROOM_COLUMNS} FROM room_members m JOIN rooms r ON r.id = m.room_id WHERE m.user_id = ? ORDER BY r.seq`),
    membersOf: db.prepare<[string], Member>(
      'SELECT m.user_id AS userId, p.name AS name FROM room_members m LEFT JOIN profiles p ON p.user_id = m.user_id WHERE m.room_id = ? ORDER BY m.user_id',
    ),
    removeMember: db.prepare<[string, string, string]>(
      'DELETE FROM room_members WHERE user_id = ? AND room_id = ? AND user_id <> (SELECT owner_id FROM rooms WHERE id = ?)',
    ),
    insertInvite: db.prepare<[string, string, string, number, string]>(
      'INSERT INTO invites (id, room_id, created_by, max_uses, expires_at) VALUES (?, ?, ?, ?, ?)',
    ),
    // ISO 8601 UTC strings of one format compare in time order.
    useInvite: db
      .prepare<[string, string], string>(
        'UPDATE invites SET uses = uses + 1 WHERE id = ? AND revoked = 0 AND uses < max_uses AND expires_at > ? RETURNING room_id',
      )
      .pluck(),
    inviteRoom: db.prepare<[string, string], string>('SELECT room_id FROM invites WHERE id = ? AND revoked = 0 AND expires_at > ?').pluck(),
    revokeInvite: db.prepare<[string, string]>('UPDATE invites SET revoked = 1 WHERE id = ? AND created_by = ?'),
    revokeSessions: db.prepare<[string, number]>(
      'INSERT INTO session_revocations (user_id, before) VALUES (?, ?) ON CONFLICT (user_id) DO UPDATE SET before = max(before, excluded.before)',
    ),
    revokedBefore: db.prepare<[string], number>('SELECT before FROM session_revocations WHERE user_id = ?').pluck(),
    setProfileName: db.prepare<[string, string]>('INSERT INTO profiles (user_id, name) VALUES (?, ?) ON CONFLICT (user_id) DO UPDATE SET name = excluded.name'),
    profileName: db.prepare<[string], string>('SELECT name FROM profiles WHERE user_id = ?').pluck(),
  };
}

/** SQLite result codes that describe a passing condition (contention, a full or failing disk). */
const TRANSIENT = ['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_FULL', 'SQLITE_IOERR', 'SQLITE_CANTOPEN'];

function toStoreError(err: unknown, doing: string): StoreError {
  if (err instanceof StoreError) return err;
  if (err instanceof Database.SqliteError) {
    const code = err.code;
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

/** A {@link MessageStore} on a local SQLite file through better-sqlite3. */
export class SqliteMessageStore implements MessageStore {
  readonly #db: Database.Database;
  readonly #statements: ReturnType<typeof prepare>;
  readonly #createRoom: (room: Room) => void;
  readonly #redeem: (inviteId: string, userId: string, now: string) => Room | null;
  #closed = false;

  private constructor(db: Database.Database) {
    this.#db = db;
    this.#statements = prepare(db);
    const { insertRoom, insertMember } = this.#statements;
    this.#createRoom = db.transaction((room: Room) => {
      insertRoom.run(room.id, room.name, room.ownerId, room.createdAt);
      insertMember.run(room.ownerId, room.id);
    });
    const { inviteRoom, useInvite, isMember, getRoom } = this.#statements;
    // One transaction: a member redeeming again spends no use; a use is spent only with the membership.
    this.#redeem = db.transaction((inviteId: string, userId: string, now: string): Room | null => {
      const roomId = inviteRoom.get(inviteId, now);
      if (roomId === undefined) return null;
      if (isMember.get(userId, roomId) === undefined) {
        if (useInvite.get(inviteId, now) === undefined) return null;
        insertMember.run(userId, roomId);
      }
      return getRoom.get(roomId) ?? null;
    });
  }

  /**
   * Opens (creating when missing) the database at `file`, with its parent directory and schema.
   * The database and its -wal/-shm files are readable by their owner only (0600), a directory it
   * creates too (0700).
   * Throws a {@link StoreError} if the file cannot be opened.
   *
   * Durability: WAL journal with `synchronous = NORMAL`. A commit is appended to the WAL file with
   * write(2) before the call returns, so it sits in the operating system's page cache and survives
   * the process being killed at any moment — which is what the contract promises. What NORMAL gives
   * up is the fsync per commit: an OS crash or power cut may lose the last commits (never corrupt the
   * file). FULL would fsync the WAL on every `append`, blocking the event loop for a disk flush per
   * chat message; deployments that need power-loss durability should use PostgreSQL.
   */
  static open(file: string): SqliteMessageStore {
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
      // One write transaction, so that processes opening a new file at once don't interleave.
      opened.transaction(() => opened.exec(SCHEMA)).immediate();
      return new SqliteMessageStore(opened);
    } catch (err) {
      db?.close();
      throw toStoreError(err, `opening ${file}`);
    }
  }

  append(room: string, author: string, body: string): Promise<StoredMessage> {
    return this.#call('append', () => {
      assertStorableText({ room, author, body });
      const insertedAt = new Date().toISOString();
      const { lastInsertRowid } = this.#statements.insertMessage.run(room, author, body, insertedAt);
      return { id: Number(lastInsertRowid), room, author, body, insertedAt };
    });
  }

  history(room: string, options?: HistoryOptions): Promise<StoredMessage[]> {
    return this.#call('history', () => {
      const { before, limit } = historyQuery(options);
      if (!isStorableText(room)) return [];
      const newestFirst = before === null ? this.#statements.newest.all(room, limit) : this.#statements.newestBefore.all(room, before, limit);
      return newestFirst.reverse();
    });
  }

  createRoom(ownerId: string, name: string): Promise<Room> {
    return this.#call('createRoom', () => {
      assertStorableText({ ownerId, name });
      const room: Room = { id: newRoomId(), name, ownerId, createdAt: new Date().toISOString() };
      this.#createRoom(room);
      return room;
    });
  }

  getRoom(id: string): Promise<Room | null> {
    return this.#call('getRoom', () => (isStorableText(id) ? (this.#statements.getRoom.get(id) ?? null) : null));
  }

  addMember(roomId: string, userId: string): Promise<void> {
    return this.#call('addMember', () => {
      assertStorableText({ userId });
      if (!isStorableText(roomId)) throw new StoreError(StoreErrorCodes.unknownRoom, 'addMember: no such room');
      this.#statements.insertMember.run(userId, roomId);
    });
  }

  isMember(roomId: string, userId: string): Promise<boolean> {
    return this.#call('isMember', () => isStorableText(roomId) && isStorableText(userId) && this.#statements.isMember.get(userId, roomId) !== undefined);
  }

  roomsOf(userId: string): Promise<Room[]> {
    return this.#call('roomsOf', () => (isStorableText(userId) ? this.#statements.roomsOf.all(userId) : []));
  }

  membersOf(roomId: string): Promise<Member[]> {
    return this.#call('membersOf', () => (isStorableText(roomId) ? this.#statements.membersOf.all(roomId) : []));
  }

  removeMember(roomId: string, userId: string): Promise<boolean> {
    return this.#call(
      'removeMember',
      () => isStorableText(roomId) && isStorableText(userId) && this.#statements.removeMember.run(userId, roomId, roomId).changes > 0,
    );
  }

  createInvite(roomId: string, createdBy: string, options: InviteOptions): Promise<Invite> {
    return this.#call('createInvite', () => {
      assertStorableText({ createdBy });
      if (!isStorableText(roomId)) throw new StoreError(StoreErrorCodes.unknownRoom, 'createInvite: no such room');
      const invite: Invite = {
        id: newRoomId(),
        roomId,
        createdBy,
        maxUses: Math.max(1, Math.floor(options.maxUses)),
        uses: 0,
        expiresAt: options.expiresAt.toISOString(),
        revoked: false,
      };
      this.#statements.insertInvite.run(invite.id, roomId, createdBy, invite.maxUses, invite.expiresAt);
      return invite;
    });
  }

  redeemInvite(inviteId: string, userId: string, now: Date = new Date()): Promise<Room | null> {
    return this.#call('redeemInvite', () => {
      assertStorableText({ userId });
      if (!isStorableText(inviteId)) return null;
      return this.#redeem(inviteId, userId, now.toISOString());
    });
  }

  revokeInvite(inviteId: string, userId: string): Promise<boolean> {
    return this.#call(
      'revokeInvite',
      () => isStorableText(inviteId) && isStorableText(userId) && this.#statements.revokeInvite.run(inviteId, userId).changes > 0,
    );
  }

  revokeSessions(userId: string, before: number): Promise<void> {
    return this.#call('revokeSessions', () => {
      assertStorableText({ userId });
      this.#statements.revokeSessions.run(userId, Math.floor(before));
    });
  }

  sessionsRevokedBefore(userId: string): Promise<number> {
    return this.#call('sessionsRevokedBefore', () => (isStorableText(userId) ? (this.#statements.revokedBefore.get(userId) ?? 0) : 0));
  }

  setProfileName(userId: string, name: string): Promise<void> {
    return this.#call('setProfileName', () => {
      assertStorableText({ userId, name });
      this.#statements.setProfileName.run(userId, name);
    });
  }

  profileName(userId: string): Promise<string | null> {
    return this.#call('profileName', () => (isStorableText(userId) ? (this.#statements.profileName.get(userId) ?? null) : null));
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      // Calls are synchronous, so none is in flight; closing also checkpoints the WAL.
      this.#db.close();
    }
    return Promise.resolve();
  }

  async #call<T>(doing: string, work: () => T): Promise<T> {
    if (this.#closed) throw new StoreError(StoreErrorCodes.closed, `${doing}: the store is closed`);
    try {
      return work();
    } catch (err) {
      throw toStoreError(err, doing);
    }
  }
}
