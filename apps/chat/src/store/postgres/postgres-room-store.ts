/**
 * @module postgres-room-store
 * The {@link RoomStore} of a `PostgresChatStore`: the `rooms`, `room_members` and `invites`
 * tables. Creating a room with its owner, and redeeming an invite, are each one statement, so
 * neither needs an explicit transaction.
 */
import { newRoomId, type Invite, type InviteOptions, type Member, type Room, type RoomStore } from '../room-store.ts';
import { assertStorableText, isStorableText, StoreError, StoreErrorCodes } from '../store-error.ts';
import type { PostgresDatabase, PostgresTables } from './postgres-database.ts';

/** The statements, with every name qualified by the quoted schema `s`. */
function sql(s: string) {
  const roomColumns = 'r.id, r.name, r.owner_id AS "ownerId", r.created_at AS "createdAt"';
  return {
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
    // Names come from the users part's `profiles` table, in the same schema. COLLATE "C": ordered
    // by code point, as SQLite orders them.
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
  };
}

interface RoomRow {
  id: string;
  name: string;
  ownerId: string;
  createdAt: Date;
}

const toRoom = (row: RoomRow): Room => ({
  id: row.id,
  name: row.name,
  ownerId: row.ownerId,
  createdAt: row.createdAt.toISOString(),
});

/** A {@link RoomStore} on a {@link PostgresDatabase}. */
export class PostgresRoomStore implements RoomStore {
  /**
   * The tables this part needs, created when missing. `seq` orders rooms by creation (ids are
   * random). Members are keyed by user first: `roomsOf` and `isMember` both start there.
   */
  static readonly schema: PostgresTables = {
    createTables: (s) => `
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
      )`,
  };

  readonly #database: PostgresDatabase;
  readonly #sql: ReturnType<typeof sql>;

  /**
   * Queries through `database`, whose schema must hold {@link PostgresRoomStore.schema} and the
   * users part's `profiles` table (member names).
   */
  constructor(database: PostgresDatabase) {
    this.#database = database;
    this.#sql = sql(database.quotedSchema);
  }

  createRoom(ownerId: string, name: string): Promise<Room> {
    return this.#database.call('createRoom', async () => {
      assertStorableText({ ownerId, name });
      const { rows } = await this.#database.query<RoomRow>(this.#sql.createRoom, [newRoomId(), name, ownerId]);
      return toRoom(rows[0]!);
    });
  }

  getRoom(id: string): Promise<Room | null> {
    return this.#database.call('getRoom', async () => {
      if (!isStorableText(id)) return null;
      const { rows } = await this.#database.query<RoomRow>(this.#sql.getRoom, [id]);
      return rows[0] === undefined ? null : toRoom(rows[0]);
    });
  }

  addMember(roomId: string, userId: string): Promise<void> {
    return this.#database.call('addMember', async () => {
      assertStorableText({ userId });
      if (!isStorableText(roomId)) throw new StoreError(StoreErrorCodes.unknownRoom, 'addMember: no such room');
      await this.#database.query(this.#sql.addMember, [userId, roomId]);
    });
  }

  isMember(roomId: string, userId: string): Promise<boolean> {
    return this.#database.call('isMember', async () => {
      if (!isStorableText(roomId) || !isStorableText(userId)) return false;
      const { rows } = await this.#database.query<{ member: boolean }>(this.#sql.isMember, [userId, roomId]);
      return rows[0]?.member === true;
    });
  }

  roomsOf(userId: string): Promise<Room[]> {
    return this.#database.call('roomsOf', async () => {
      if (!isStorableText(userId)) return [];
      const { rows } = await this.#database.query<RoomRow>(this.#sql.roomsOf, [userId]);
      return rows.map(toRoom);
    });
  }

  membersOf(roomId: string): Promise<Member[]> {
    return this.#database.call('membersOf', async () => {
      if (!isStorableText(roomId)) return [];
      const { rows } = await this.#database.query<Member>(this.#sql.membersOf, [roomId]);
      return rows;
    });
  }

  removeMember(roomId: string, userId: string): Promise<boolean> {
    return this.#database.call('removeMember', async () => {
      if (!isStorableText(roomId) || !isStorableText(userId)) return false;
      const { rowCount } = await this.#database.query(this.#sql.removeMember, [userId, roomId]);
      return (rowCount ?? 0) > 0;
    });
  }

  createInvite(roomId: string, createdBy: string, options: InviteOptions): Promise<Invite> {
    return this.#database.call('createInvite', async () => {
      assertStorableText({ createdBy });
      if (!isStorableText(roomId)) throw new StoreError(StoreErrorCodes.unknownRoom, 'createInvite: no such room');
      const maxUses = Math.max(1, Math.floor(options.maxUses));
      const { rows } = await this.#database.query<Omit<Invite, 'expiresAt'> & { expiresAt: Date }>(this.#sql.createInvite, [
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
    return this.#database.call('redeemInvite', async () => {
      assertStorableText({ userId });
      if (!isStorableText(inviteId)) return null;
      const { rows } = await this.#database.query<RoomRow>(this.#sql.redeemInvite, [inviteId, userId, now]);
      return rows[0] === undefined ? null : toRoom(rows[0]);
    });
  }

  revokeInvite(inviteId: string, userId: string): Promise<boolean> {
    return this.#database.call('revokeInvite', async () => {
      if (!isStorableText(inviteId) || !isStorableText(userId)) return false;
      const { rowCount } = await this.#database.query(this.#sql.revokeInvite, [inviteId, userId]);
      return (rowCount ?? 0) > 0;
    });
  }
}
