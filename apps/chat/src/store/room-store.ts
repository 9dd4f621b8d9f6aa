/**
 * @module room-store
 * Rooms and who may enter them: a {@link RoomStore} creates rooms (their owner is a member from the
 * start), keeps their members, and issues invites that make whoever redeems them a member, a
 * limited number of times until they expire. The lobby is no room here: anyone may read it.
 *
 * @example
 * const room = await store.rooms.createRoom('alice', 'Book club');
 * const invite = await store.rooms.createInvite(room.id, 'alice', { maxUses: 5, expiresAt: inAWeek });
 * await store.rooms.redeemInvite(invite.id, 'bob'); // the room: bob is a member now
 * await store.rooms.isMember(room.id, 'bob'); // true
 */
import { randomBytes } from 'node:crypto';

/** A room created by a user. */
export interface Room {
  /** Random and unguessable: 16 URL-safe characters (96 random bits, base64url). */
  id: string;
  name: string;
  ownerId: string;
  /** ISO 8601 in UTC. */
  createdAt: string;
}

/** A link that makes whoever redeems it a member of a room, a limited number of times until it expires. */
export interface Invite {
  /** Random and unguessable, like a room id. */
  id: string;
  roomId: string;
  /** The user who created it: the only one who may revoke it. */
  createdBy: string;
  /** How many users may redeem it. */
  maxUses: number;
  /** How many have. */
  uses: number;
  /** ISO 8601 in UTC; redeeming fails from then on. */
  expiresAt: string;
  revoked: boolean;
}

/** A member of a room, with their profile's display name. */
export interface Member {
  userId: string;
  /** The name set with `UserStore.setProfileName` on the same store, or null if they never set one. */
  name: string | null;
}

/** Options of {@link RoomStore.createInvite}. */
export interface InviteOptions {
  /** At least 1 (a fraction is rounded down). */
  maxUses: number;
  expiresAt: Date;
}

/**
 * Where the chat keeps rooms, memberships and invites. The guarantees of `ChatStore` (`chat-store.ts`) hold for
 * every method; what each adds is written on it. Membership is what a private room's door checks,
 * so every answer reflects every write that resolved before the call, on any instance.
 */
export interface RoomStore {
  /** Creates a room with a fresh random id; the owner is a member from the start (one atomic write). */
  createRoom(ownerId: string, name: string): Promise<Room>;

  /** The room with this id, or `null` if there is none. */
  getRoom(id: string): Promise<Room | null>;

  /**
   * Makes `userId` a member of the room. Idempotent: adding a member again changes nothing.
   * Rejects with `ERR_STORE_UNKNOWN_ROOM` if the room does not exist.
   */
  addMember(roomId: string, userId: string): Promise<void>;

  /** Whether `userId` is a member of the room; `false` for an unknown room. */
  isMember(roomId: string, userId: string): Promise<boolean>;

  /** The rooms `userId` is a member of, oldest first (in the order they were created). */
  roomsOf(userId: string): Promise<Room[]>;

  /** The members of a room (the owner included), ordered by user id (code point order); empty for an unknown room. */
  membersOf(roomId: string): Promise<Member[]>;

  /** Ends `userId`'s membership; resolves with whether they were a member. The owner cannot be removed (false). */
  removeMember(roomId: string, userId: string): Promise<boolean>;

  /** Creates an invite to the room. Rejects with `ERR_STORE_UNKNOWN_ROOM` if the room does not exist. */
  createInvite(roomId: string, createdBy: string, options: InviteOptions): Promise<Invite>;

  /**
   * Makes `userId` a member through the invite and resolves with the room, or with null when the
   * invite is unknown, revoked, expired (at `now`) or used up. A member redeeming it again gets the
   * room without spending a use. Uses are counted atomically: concurrent redeemers, on any number
   * of instances, never exceed `maxUses`, and a use is spent only together with the membership.
   */
  redeemInvite(inviteId: string, userId: string, now?: Date): Promise<Room | null>;

  /** Revokes an invite on behalf of `userId`; resolves with false unless they created it. */
  revokeInvite(inviteId: string, userId: string): Promise<boolean>;
}

/** A fresh {@link Room.id} or {@link Invite.id}: 12 random bytes as 16 base64url characters. */
export function newRoomId(): string {
  return randomBytes(12).toString('base64url');
}
