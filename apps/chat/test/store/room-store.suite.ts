/**
 * @module room-store.suite
 * The RoomStore slice of the ChatStore conformance suite (registered by `chat-store.suite.ts`):
 * rooms, memberships and their removal, invites and their use limits, exact text and durability.
 */
import { describe, expect, it } from 'vitest';
import { StoreErrorCodes, type RoomStore } from '../../src/store/index.ts';
import { EXACT_TEXTS, expectRecentIsoUtc, expectStoreError, UNSTORABLE_TEXTS, type ChatStoreFactory } from './store-suite-support.ts';

/** Registers the RoomStore cases; the caller's `afterEach` runs `factory.cleanup()`. */
export function roomStoreSuite(factory: ChatStoreFactory): void {
  /** The rooms part of a freshly opened store. */
  const open = async (): Promise<RoomStore> => (await factory.open()).rooms;

  describe('RoomStore', () => {
    describe('text', () => {
      it('stores room names and user ids exactly', async () => {
        const rooms = await open();
        const text = Object.values(EXACT_TEXTS).join('|');
        const room = await rooms.createRoom(text, text);
        expect(await rooms.getRoom(room.id)).toEqual({ ...room, name: text, ownerId: text });
        expect(await rooms.isMember(room.id, text)).toBe(true);
        expect(await rooms.roomsOf(text)).toEqual([room]);
      });

      it.each(UNSTORABLE_TEXTS)('refuses a room name containing %s with ERR_STORE_INVALID_TEXT instead of altering it', async (_, text) => {
        const rooms = await open();
        await expectStoreError(rooms.createRoom('alice', text), StoreErrorCodes.invalidText);
        expect(await rooms.roomsOf('alice')).toEqual([]);
      });

      it('finds nothing when looking up by text that could not have been stored', async () => {
        const rooms = await open();
        const room = await rooms.createRoom('\ufffd', 'replacement character');
        expect(await rooms.getRoom('\u0000')).toBeNull();
        expect(await rooms.isMember(room.id, '\udfff')).toBe(false);
        expect(await rooms.roomsOf('\ud800')).toEqual([]);
      });
    });

    describe('rooms and members', () => {
      it('creates a room with a random URL-safe id, and the owner is a member', async () => {
        const rooms = await open();
        const room = await rooms.createRoom('alice', 'Book club');
        expect(room).toMatchObject({ name: 'Book club', ownerId: 'alice' });
        expect(room.id).toMatch(/^[A-Za-z0-9_-]{16}$/);
        expectRecentIsoUtc(room.createdAt);
        expect(await rooms.getRoom(room.id)).toEqual(room);
        expect(await rooms.isMember(room.id, 'alice')).toBe(true);
      });

      it('gives every room its own id, even with the same owner and name', async () => {
        const rooms = await open();
        const created = await Promise.all(Array.from({ length: 20 }, () => rooms.createRoom('alice', 'same')));
        expect(new Set(created.map((r) => r.id)).size).toBe(20);
      });

      it('returns null for an unknown room id', async () => {
        const rooms = await open();
        await rooms.createRoom('alice', 'exists');
        expect(await rooms.getRoom('AAAAAAAAAAAAAAAA')).toBeNull();
        expect(await rooms.getRoom('')).toBeNull();
      });

      it('adds a member idempotently', async () => {
        const rooms = await open();
        const room = await rooms.createRoom('alice', 'Book club');
        await rooms.addMember(room.id, 'bob');
        await rooms.addMember(room.id, 'bob');
        await rooms.addMember(room.id, 'alice');
        expect(await rooms.isMember(room.id, 'bob')).toBe(true);
        expect(await rooms.roomsOf('bob')).toEqual([room]);
        expect(await rooms.roomsOf('alice')).toEqual([room]);
      });

      it('refuses to add a member to an unknown room with ERR_STORE_UNKNOWN_ROOM', async () => {
        const rooms = await open();
        await expectStoreError(rooms.addMember('AAAAAAAAAAAAAAAA', 'bob'), StoreErrorCodes.unknownRoom);
        expect(await rooms.roomsOf('bob')).toEqual([]);
      });

      it('says strangers and unknown rooms are not members', async () => {
        const rooms = await open();
        const room = await rooms.createRoom('alice', 'Book club');
        expect(await rooms.isMember(room.id, 'mallory')).toBe(false);
        expect(await rooms.isMember(room.id, 'ALICE')).toBe(false);
        expect(await rooms.isMember('AAAAAAAAAAAAAAAA', 'alice')).toBe(false);
      });

      it("lists a user's rooms oldest first, whatever order they joined in", async () => {
        const rooms = await open();
        const first = await rooms.createRoom('alice', 'first');
        const second = await rooms.createRoom('bob', 'second');
        const third = await rooms.createRoom('carol', 'third');
        await rooms.createRoom('carol', 'not for alice');
        await rooms.addMember(third.id, 'alice');
        await rooms.addMember(second.id, 'alice');
        expect(await rooms.roomsOf('alice')).toEqual([first, second, third]);
        expect(await rooms.roomsOf('bob')).toEqual([second]);
        expect(await rooms.roomsOf('mallory')).toEqual([]);
      });

      it('keeps rooms and memberships after the store is closed and a new one opened', async () => {
        const first = await factory.open();
        const room = await first.rooms.createRoom('alice', 'kept');
        await first.rooms.addMember(room.id, 'bob');
        await first.close();
        const reopened = await open();
        expect(await reopened.getRoom(room.id)).toEqual(room);
        expect(await reopened.isMember(room.id, 'bob')).toBe(true);
      });
    });

    describe('member removal', () => {
      it('removes a member, who is then neither a member nor lists the room; removing again is false', async () => {
        const rooms = await open();
        const room = await rooms.createRoom('alice', 'club');
        await rooms.addMember(room.id, 'bob');

        expect(await rooms.removeMember(room.id, 'bob')).toBe(true);
        expect(await rooms.isMember(room.id, 'bob')).toBe(false);
        expect(await rooms.roomsOf('bob')).toEqual([]);
        expect(await rooms.removeMember(room.id, 'bob')).toBe(false);
      });

      it('lists the members with their profile names, ordered by user id; none for an unknown room', async () => {
        const store = await factory.open();
        const room = await store.rooms.createRoom('carol', 'club');
        await store.rooms.addMember(room.id, 'bob');
        await store.rooms.addMember(room.id, 'alice');
        await store.users.setProfileName('alice', 'Alice');

        expect(await store.rooms.membersOf(room.id)).toEqual([
          { userId: 'alice', name: 'Alice' },
          { userId: 'bob', name: null },
          { userId: 'carol', name: null },
        ]);
        expect(await store.rooms.membersOf('no-such-room')).toEqual([]);
      });

      it('never removes the owner', async () => {
        const rooms = await open();
        const room = await rooms.createRoom('alice', 'club');

        expect(await rooms.removeMember(room.id, 'alice')).toBe(false);
        expect(await rooms.isMember(room.id, 'alice')).toBe(true);
      });
    });

    describe('invites', () => {
      const inAnHour = (): Date => new Date(Date.now() + 3_600_000);

      it('makes whoever redeems it a member, up to maxUses; a member redeeming again spends nothing', async () => {
        const rooms = await open();
        const room = await rooms.createRoom('alice', 'club');
        const invite = await rooms.createInvite(room.id, 'alice', { maxUses: 2, expiresAt: inAnHour() });
        expect(invite).toMatchObject({ roomId: room.id, createdBy: 'alice', maxUses: 2, uses: 0, revoked: false });
        expect(invite.id).toMatch(/^[A-Za-z0-9_-]{16}$/);

        expect(await rooms.redeemInvite(invite.id, 'bob')).toEqual(room);
        expect(await rooms.redeemInvite(invite.id, 'bob')).toEqual(room);
        expect(await rooms.redeemInvite(invite.id, 'carol')).toEqual(room);
        expect(await rooms.redeemInvite(invite.id, 'dave')).toBeNull();
        expect(await rooms.isMember(room.id, 'dave')).toBe(false);
        expect(await rooms.isMember(room.id, 'carol')).toBe(true);
      });

      it('never exceeds maxUses under concurrent redeemers on two instances', async () => {
        const [one, two] = [await open(), await open()];
        const room = await one.createRoom('alice', 'club');
        const invite = await one.createInvite(room.id, 'alice', { maxUses: 3, expiresAt: inAnHour() });

        const results = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? one : two).redeemInvite(invite.id, `user${i}`)));

        expect(results.filter((result) => result !== null)).toHaveLength(3);
      });

      it('refuses a revoked invite, and only its creator may revoke it', async () => {
        const rooms = await open();
        const room = await rooms.createRoom('alice', 'club');
        const invite = await rooms.createInvite(room.id, 'alice', { maxUses: 5, expiresAt: inAnHour() });

        expect(await rooms.revokeInvite(invite.id, 'mallory')).toBe(false);
        expect(await rooms.redeemInvite(invite.id, 'bob')).toEqual(room);
        expect(await rooms.revokeInvite(invite.id, 'alice')).toBe(true);
        expect(await rooms.redeemInvite(invite.id, 'carol')).toBeNull();
        expect(await rooms.isMember(room.id, 'carol')).toBe(false);
      });

      it('refuses an expired or unknown invite', async () => {
        const rooms = await open();
        const room = await rooms.createRoom('alice', 'club');
        const expiresAt = inAnHour();
        const invite = await rooms.createInvite(room.id, 'alice', { maxUses: 5, expiresAt });

        expect(await rooms.redeemInvite(invite.id, 'bob', new Date(expiresAt.getTime() + 1))).toBeNull();
        expect(await rooms.redeemInvite('no-such-invite', 'bob')).toBeNull();
        expect(await rooms.redeemInvite('\ud800', 'bob')).toBeNull();
        expect(await rooms.isMember(room.id, 'bob')).toBe(false);
      });

      it('refuses to create an invite to an unknown room with ERR_STORE_UNKNOWN_ROOM', async () => {
        const rooms = await open();
        await expectStoreError(rooms.createInvite('no-such-room', 'alice', { maxUses: 1, expiresAt: inAnHour() }), StoreErrorCodes.unknownRoom);
      });
    });
  });
}
