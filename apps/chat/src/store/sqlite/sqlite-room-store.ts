/**
 * @module sqlite-room-store
 * The {@link RoomStore} of a `SqliteChatStore`: the `rooms`, `room_members` and `invites` tables.
 * Creating a room with its owner, and redeeming an invite, are each one transaction.
 */
import type Database from 'better-sqlite3';
import { newRoomId, type Invite, type InviteOptions, type Member, type Room, type RoomStore } from '../room-store.ts';
import { assertStorableText, isStorableText, StoreError, StoreErrorCodes } from '../store-error.ts';
import type { SqliteDatabase } from './sqlite-database.ts';

const ROOM_COLUMNS = 'r.id, r.name, r.owner_id AS ownerId, r.created_at AS createdAt';

function prepare(db: Database.Database) {
  return {
    insertRoom: db.prepare<[string, string, string, string]>('INSERT INTO rooms (id, name, owner_id, created_at) VALUES (?, ?, ?, ?)'),
    getRoom: db.prepare<[string], Room>(`SELECT ${ROOM_COLUMNS} FROM rooms r WHERE r.id = ?`),
    // OR IGNORE covers the primary key only; a missing room still fails the foreign key.
    insertMember: db.prepare<[string, string]>('INSERT OR IGNORE INTO room_members (user_id, room_id) VALUES (?, ?)'),
    isMember: db.prepare<[string, string], 1>('SELECT 1 FROM room_members WHERE user_id = ? AND room_id = ?').pluck(),
    roomsOf: db.prepare<[string], Room>(`SELECT ${ROOM_COLUMNS} FROM room_members m JOIN rooms r ON r.id = m.room_id WHERE m.user_id = ? ORDER BY r.seq`),
    // Names come from the users part's `profiles` table, in the same file.
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
  };
}

/** A {@link RoomStore} on a {@link SqliteDatabase}. */
export class SqliteRoomStore implements RoomStore {
  /**
   * The tables this part needs, created when missing. `seq` orders rooms by creation (ids are
   * random); AUTOINCREMENT never reuses a number. Members are keyed by user first: `roomsOf` and
   * `isMember` both start there.
   */
  static readonly schema = `
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
  `;

  readonly #database: SqliteDatabase;
  readonly #statements: ReturnType<typeof prepare>;
  readonly #createRoom: (room: Room) => void;
  readonly #redeem: (inviteId: string, userId: string, now: string) => Room | null;

  /**
   * Prepares its statements on `database`, whose schema must include {@link SqliteRoomStore.schema}
   * and the users part's `profiles` table (member names).
   */
  constructor(database: SqliteDatabase) {
    this.#database = database;
    const statements = (this.#statements = prepare(database.db));
    const { insertRoom, insertMember, inviteRoom, useInvite, isMember, getRoom } = statements;
    this.#createRoom = database.db.transaction((room: Room) => {
      insertRoom.run(room.id, room.name, room.ownerId, room.createdAt);
      insertMember.run(room.ownerId, room.id);
    });
    // One transaction: a member redeeming again spends no use; a use is spent only with the membership.
    this.#redeem = database.db.transaction((inviteId: string, userId: string, now: string): Room | null => {
      const roomId = inviteRoom.get(inviteId, now);
      if (roomId === undefined) return null;
      if (isMember.get(userId, roomId) === undefined) {
        if (useInvite.get(inviteId, now) === undefined) return null;
        insertMember.run(userId, roomId);
      }
      return getRoom.get(roomId) ?? null;
    });
  }

  createRoom(ownerId: string, name: string): Promise<Room> {
    return this.#database.call('createRoom', () => {
      assertStorableText({ ownerId, name });
      const room: Room = { id: newRoomId(), name, ownerId, createdAt: new Date().toISOString() };
      this.#createRoom(room);
      return room;
    });
  }

  getRoom(id: string): Promise<Room | null> {
    return this.#database.call('getRoom', () => (isStorableText(id) ? (this.#statements.getRoom.get(id) ?? null) : null));
  }

  addMember(roomId: string, userId: string): Promise<void> {
    return this.#database.call('addMember', () => {
      assertStorableText({ userId });
      if (!isStorableText(roomId)) throw new StoreError(StoreErrorCodes.unknownRoom, 'addMember: no such room');
      this.#statements.insertMember.run(userId, roomId);
    });
  }

  isMember(roomId: string, userId: string): Promise<boolean> {
    return this.#database.call(
      'isMember',
      () => isStorableText(roomId) && isStorableText(userId) && this.#statements.isMember.get(userId, roomId) !== undefined,
    );
  }

  roomsOf(userId: string): Promise<Room[]> {
    return this.#database.call('roomsOf', () => (isStorableText(userId) ? this.#statements.roomsOf.all(userId) : []));
  }

  membersOf(roomId: string): Promise<Member[]> {
    return this.#database.call('membersOf', () => (isStorableText(roomId) ? this.#statements.membersOf.all(roomId) : []));
  }

  removeMember(roomId: string, userId: string): Promise<boolean> {
    return this.#database.call(
      'removeMember',
      () => isStorableText(roomId) && isStorableText(userId) && this.#statements.removeMember.run(userId, roomId, roomId).changes > 0,
    );
  }

  createInvite(roomId: string, createdBy: string, options: InviteOptions): Promise<Invite> {
    return this.#database.call('createInvite', () => {
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
    return this.#database.call('redeemInvite', () => {
      assertStorableText({ userId });
      if (!isStorableText(inviteId)) return null;
      return this.#redeem(inviteId, userId, now.toISOString());
    });
  }

  revokeInvite(inviteId: string, userId: string): Promise<boolean> {
    return this.#database.call(
      'revokeInvite',
      () => isStorableText(inviteId) && isStorableText(userId) && this.#statements.revokeInvite.run(inviteId, userId).changes > 0,
    );
  }
}
