/**
 * @module message-store.suite
 * The shared conformance suite of the MessageStore contract: every implementation (SQLite,
 * PostgreSQL) runs it through a factory, so the guarantees written on the contract — ordering,
 * paging, exact text, durability, memberships, coded faults — hold for all of them alike.
 * Backend test files add only what is specific to their backend.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  HISTORY_DEFAULT_LIMIT,
  HISTORY_MAX_LIMIT,
  StoreError,
  StoreErrorCodes,
  type MessageStore,
  type StoreErrorCode,
  type StoredMessage,
} from '../../src/store/message-store.ts';

/** Opens store instances on a throwaway database. */
export interface MessageStoreFactory {
  /**
   * Opens a store on the current test's database. The first call of a test finds an empty
   * database; later calls open further instances on that same database, as another process or
   * node would.
   */
  open(): Promise<MessageStore>;
  /** After each test: closes every store it opened (closing twice is fine) and discards the data. */
  cleanup(): Promise<void>;
}

/** Appends the bodies one after another, each once the previous one resolved. */
async function appendInOrder(store: MessageStore, room: string, bodies: string[]): Promise<StoredMessage[]> {
  const stored: StoredMessage[] = [];
  for (const body of bodies) stored.push(await store.append(room, 'alice', body));
  return stored;
}

/** `n` distinct bodies: `m0`, `m1`, … */
const numbered = (n: number, prefix = 'm'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

const bodiesOf = (messages: StoredMessage[]): string[] => messages.map((m) => m.body);
const idsOf = (messages: StoredMessage[]): number[] => messages.map((m) => m.id);

function expectStrictlyIncreasing(ids: number[]): void {
  ids.slice(1).forEach((id, i) => expect(id).toBeGreaterThan(ids[i]!));
}

/** Asserts that `promise` rejects with a StoreError carrying `code`. */
async function expectStoreError(promise: Promise<unknown>, code: StoreErrorCode): Promise<void> {
  const error: unknown = await promise.then(
    () => new Error(`expected a rejection with ${code}, but it resolved`),
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(StoreError);
  expect((error as StoreError).code).toBe(code);
}

/** An ISO 8601 UTC timestamp close to now (generous, in case the database runs elsewhere). */
function expectRecentIsoUtc(timestamp: string): void {
  expect(new Date(timestamp).toISOString()).toBe(timestamp);
  expect(Math.abs(Date.parse(timestamp) - Date.now())).toBeLessThan(60_000);
}

/** Text that must come back exactly, byte for byte. */
const EXACT_TEXTS: Record<string, string> = {
  'emoji with skin tone, ZWJ sequence and flag': '👩🏽‍💻 👨‍👩‍👧‍👦 🇫🇷',
  'astral-plane letters': '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𐍈',
  'decomposed and precomposed accents, not normalised': 'e\u0301 \u00e9',
  'right-to-left and CJK scripts': 'مرحبا שלום 你好 こんにちは',
  'HTML that must not be escaped by the store': '<img src=x onerror=alert(1)>',
  'SQL that must not be interpreted': "'); DROP TABLE messages; --",
  'whitespace, zero-width and control characters': ' \t\r\n\u200b\u2028\u0007 ',
  'byte-order mark and replacement character': '\ufeff\ufffd',
  'the empty string': '',
  'a long body (length is the channel’s business)': '長'.repeat(50_000),
};

/** Registers the suite for one implementation. */
export function messageStoreSuite(name: string, factory: MessageStoreFactory): void {
  describe(`MessageStore conformance: ${name}`, () => {
    afterEach(() => factory.cleanup());

    describe('append', () => {
      it('resolves with the stored message: increasing ids and an ISO 8601 UTC insertion time', async () => {
        const store = await factory.open();
        const first = await store.append('lobby', 'alice', 'hello');
        const second = await store.append('lobby', 'bob', 'hi alice');
        expect(first).toMatchObject({ room: 'lobby', author: 'alice', body: 'hello' });
        expect(second).toMatchObject({ room: 'lobby', author: 'bob', body: 'hi alice' });
        expect(Number.isSafeInteger(first.id)).toBe(true);
        expect(second.id).toBeGreaterThan(first.id);
        expectRecentIsoUtc(first.insertedAt);
        expectRecentIsoUtc(second.insertedAt);
        expect(await store.history('lobby')).toEqual([first, second]);
      });
    });

    describe('history', () => {
      it('is empty for a room without messages', async () => {
        const store = await factory.open();
        expect(await store.history('nobody-here')).toEqual([]);
      });

      it(`returns the newest ${HISTORY_DEFAULT_LIMIT} messages by default, oldest first`, async () => {
        const store = await factory.open();
        await appendInOrder(store, 'lobby', numbered(HISTORY_DEFAULT_LIMIT + 10));
        const page = await store.history('lobby');
        expect(bodiesOf(page)).toEqual(numbered(HISTORY_DEFAULT_LIMIT + 10).slice(10));
        expectStrictlyIncreasing(idsOf(page));
      });

      it('pages backwards with `before` without overlap or gap', async () => {
        const store = await factory.open();
        const all = await appendInOrder(store, 'lobby', numbered(25));
        const newest = await store.history('lobby', { limit: 10 });
        const middle = await store.history('lobby', { limit: 10, before: newest[0]!.id });
        const oldest = await store.history('lobby', { limit: 10, before: middle[0]!.id });
        expect(bodiesOf(newest)).toEqual(numbered(25).slice(15));
        expect(bodiesOf(middle)).toEqual(numbered(25).slice(5, 15));
        expect(bodiesOf(oldest)).toEqual(numbered(25).slice(0, 5));
        expect([...oldest, ...middle, ...newest]).toEqual(all);
        expect(await store.history('lobby', { limit: 10, before: oldest[0]!.id })).toEqual([]);
      });

      it('treats `before` as an exclusive id bound, whichever room the id came from', async () => {
        const store = await factory.open();
        const [a0, a1] = await appendInOrder(store, 'a', ['a0', 'a1']);
        const b0 = await store.append('b', 'bob', 'b0');
        const a2 = await store.append('a', 'alice', 'a2');
        expect(await store.history('a', { before: a1!.id })).toEqual([a0]);
        expect(await store.history('a', { before: b0.id })).toEqual([a0, a1]);
        expect(await store.history('a', { before: a2.id + 1_000_000 })).toEqual([a0, a1, a2]);
        expect(await store.history('a', { before: a0!.id })).toEqual([]);
      });

      it(`honours \`limit\` and caps it at ${HISTORY_MAX_LIMIT}`, async () => {
        const store = await factory.open();
        const all = await appendInOrder(store, 'lobby', numbered(HISTORY_MAX_LIMIT + 5));
        expect(await store.history('lobby', { limit: 3 })).toEqual(all.slice(-3));
        expect(await store.history('lobby', { limit: 10_000 })).toEqual(all.slice(-HISTORY_MAX_LIMIT));
      });

      it('counts a limit below 1 as 1 and rounds a fractional limit down', async () => {
        const store = await factory.open();
        const all = await appendInOrder(store, 'lobby', numbered(5));
        expect(await store.history('lobby', { limit: 0 })).toEqual(all.slice(-1));
        expect(await store.history('lobby', { limit: -7 })).toEqual(all.slice(-1));
        expect(await store.history('lobby', { limit: 2.9 })).toEqual(all.slice(-2));
      });

      it('keeps rooms apart', async () => {
        const store = await factory.open();
        for (let i = 0; i < 5; i++) {
          await store.append('rooms:a', 'alice', `a${i}`);
          await store.append('rooms:b', 'bob', `b${i}`);
        }
        expect(bodiesOf(await store.history('rooms:a'))).toEqual(numbered(5, 'a'));
        expect(bodiesOf(await store.history('rooms:b'))).toEqual(numbered(5, 'b'));
        expect(await store.history('rooms:')).toEqual([]);
        expect(await store.history('ROOMS:A')).toEqual([]);
      });
    });

    describe('text', () => {
      it.each(Object.entries(EXACT_TEXTS))('stores %s exactly, in body, author and room', async (_, text) => {
        const store = await factory.open();
        const stored = await store.append(`room ${text}`, text, text);
        expect(stored).toMatchObject({ room: `room ${text}`, author: text, body: text });
        const [read] = await store.history(`room ${text}`);
        expect(read).toEqual(stored);
        expect(Buffer.from(read!.body, 'utf8').equals(Buffer.from(text, 'utf8'))).toBe(true);
      });

      it('stores room names and user ids exactly', async () => {
        const store = await factory.open();
        const text = Object.values(EXACT_TEXTS).join('|');
        const room = await store.createRoom(text, text);
        expect(await store.getRoom(room.id)).toEqual({ ...room, name: text, ownerId: text });
        expect(await store.isMember(room.id, text)).toBe(true);
        expect(await store.roomsOf(text)).toEqual([room]);
      });

      it.each([
        ['U+0000', 'before\u0000after'],
        ['a lone high surrogate', 'broken \ud83d emoji'],
        ['a lone low surrogate', '\ude00'],
      ])('refuses text containing %s with ERR_STORE_INVALID_TEXT instead of altering it', async (_, text) => {
        const store = await factory.open();
        await expectStoreError(store.append('lobby', 'alice', text), StoreErrorCodes.invalidText);
        await expectStoreError(store.append('lobby', text, 'hi'), StoreErrorCodes.invalidText);
        await expectStoreError(store.append(text, 'alice', 'hi'), StoreErrorCodes.invalidText);
        await expectStoreError(store.createRoom('alice', text), StoreErrorCodes.invalidText);
        expect(await store.history('lobby')).toEqual([]);
        expect(await store.history(text)).toEqual([]);
        expect(await store.roomsOf('alice')).toEqual([]);
      });

      it('finds nothing when looking up by text that could not have been stored', async () => {
        const store = await factory.open();
        const room = await store.createRoom('\ufffd', 'replacement character');
        await store.append('\ufffd', 'alice', 'hi');
        expect(await store.history('\ud800')).toEqual([]);
        expect(await store.getRoom('\u0000')).toBeNull();
        expect(await store.isMember(room.id, '\udfff')).toBe(false);
        expect(await store.roomsOf('\ud800')).toEqual([]);
      });
    });

    describe('concurrency and durability', () => {
      it('stores 200 concurrent appends from two instances, each with a unique id, in id order', async () => {
        const [a, b] = [await factory.open(), await factory.open()];
        const bodies = numbered(200);
        const stored = await Promise.all(bodies.map((body, i) => (i % 2 === 0 ? a : b).append('lobby', 'alice', body)));
        expect(new Set(idsOf(stored)).size).toBe(200);
        const history = await a.history('lobby', { limit: 200 });
        expectStrictlyIncreasing(idsOf(history));
        expect(idsOf(history)).toEqual(idsOf(stored).sort((x, y) => x - y));
        expect(new Set(bodiesOf(history))).toEqual(new Set(bodies));
      });

      it('gives a later append a larger id, whichever instance made the earlier one', async () => {
        const [a, b] = [await factory.open(), await factory.open()];
        const ids: number[] = [];
        for (let i = 0; i < 6; i++) ids.push((await (i % 2 === 0 ? a : b).append('lobby', 'alice', `m${i}`)).id);
        expectStrictlyIncreasing(ids);
      });

      it('shows a resolved append to other instances at once', async () => {
        const [a, b] = [await factory.open(), await factory.open()];
        const stored = await a.append('lobby', 'alice', 'seen elsewhere');
        expect(await b.history('lobby')).toEqual([stored]);
      });

      it('keeps messages, rooms and memberships after the store is closed and a new one opened', async () => {
        const first = await factory.open();
        const messages = await appendInOrder(first, 'lobby', ['one', 'two', 'three']);
        const room = await first.createRoom('alice', 'kept');
        await first.addMember(room.id, 'bob');
        await first.close();
        const reopened = await factory.open();
        expect(await reopened.history('lobby')).toEqual(messages);
        expect(await reopened.getRoom(room.id)).toEqual(room);
        expect(await reopened.isMember(room.id, 'bob')).toBe(true);
        const next = await reopened.append('lobby', 'alice', 'four');
        expect(next.id).toBeGreaterThan(messages[2]!.id);
      });
    });

    describe('rooms and members', () => {
      it('creates a room with a random URL-safe id, and the owner is a member', async () => {
        const store = await factory.open();
        const room = await store.createRoom('alice', 'Book club');
        expect(room).toMatchObject({ name: 'Book club', ownerId: 'alice' });
        expect(room.id).toMatch(/^[A-Za-z0-9_-]{16}$/);
        expectRecentIsoUtc(room.createdAt);
        expect(await store.getRoom(room.id)).toEqual(room);
        expect(await store.isMember(room.id, 'alice')).toBe(true);
      });

      it('gives every room its own id, even with the same owner and name', async () => {
        const store = await factory.open();
        const rooms = await Promise.all(Array.from({ length: 20 }, () => store.createRoom('alice', 'same')));
        expect(new Set(rooms.map((r) => r.id)).size).toBe(20);
      });

      it('returns null for an unknown room id', async () => {
        const store = await factory.open();
        await store.createRoom('alice', 'exists');
        expect(await store.getRoom('AAAAAAAAAAAAAAAA')).toBeNull();
        expect(await store.getRoom('')).toBeNull();
      });

      it('adds a member idempotently', async () => {
        const store = await factory.open();
        const room = await store.createRoom('alice', 'Book club');
        await store.addMember(room.id, 'bob');
        await store.addMember(room.id, 'bob');
        await store.addMember(room.id, 'alice');
        expect(await store.isMember(room.id, 'bob')).toBe(true);
        expect(await store.roomsOf('bob')).toEqual([room]);
        expect(await store.roomsOf('alice')).toEqual([room]);
      });

      it('refuses to add a member to an unknown room with ERR_STORE_UNKNOWN_ROOM', async () => {
        const store = await factory.open();
        await expectStoreError(store.addMember('AAAAAAAAAAAAAAAA', 'bob'), StoreErrorCodes.unknownRoom);
        expect(await store.roomsOf('bob')).toEqual([]);
      });

      it('says strangers and unknown rooms are not members', async () => {
        const store = await factory.open();
        const room = await store.createRoom('alice', 'Book club');
        expect(await store.isMember(room.id, 'mallory')).toBe(false);
        expect(await store.isMember(room.id, 'ALICE')).toBe(false);
        expect(await store.isMember('AAAAAAAAAAAAAAAA', 'alice')).toBe(false);
      });

      it("lists a user's rooms oldest first, whatever order they joined in", async () => {
        const store = await factory.open();
        const first = await store.createRoom('alice', 'first');
        const second = await store.createRoom('bob', 'second');
        const third = await store.createRoom('carol', 'third');
        await store.createRoom('carol', 'not for alice');
        await store.addMember(third.id, 'alice');
        await store.addMember(second.id, 'alice');
        expect(await store.roomsOf('alice')).toEqual([first, second, third]);
        expect(await store.roomsOf('bob')).toEqual([second]);
        expect(await store.roomsOf('mallory')).toEqual([]);
      });
    });

    describe('member removal', () => {
      it('removes a member, who is then neither a member nor lists the room; removing again is false', async () => {
        const store = await factory.open();
        const room = await store.createRoom('alice', 'club');
        await store.addMember(room.id, 'bob');

        expect(await store.removeMember(room.id, 'bob')).toBe(true);
        expect(await store.isMember(room.id, 'bob')).toBe(false);
        expect(await store.roomsOf('bob')).toEqual([]);
        expect(await store.removeMember(room.id, 'bob')).toBe(false);
      });

      it('lists the members with their profile names, ordered by user id; none for an unknown room', async () => {
        const store = await factory.open();
        const room = await store.createRoom('carol', 'club');
        await store.addMember(room.id, 'bob');
        await store.addMember(room.id, 'alice');
        await store.setProfileName('alice', 'Alice');

        expect(await store.membersOf(room.id)).toEqual([
          { userId: 'alice', name: 'Alice' },
          { userId: 'bob', name: null },
          { userId: 'carol', name: null },
        ]);
        expect(await store.membersOf('no-such-room')).toEqual([]);
      });

      it('never removes the owner', async () => {
        const store = await factory.open();
        const room = await store.createRoom('alice', 'club');

        expect(await store.removeMember(room.id, 'alice')).toBe(false);
        expect(await store.isMember(room.id, 'alice')).toBe(true);
      });
    });

    describe('invites', () => {
      const inAnHour = (): Date => new Date(Date.now() + 3_600_000);

      it('makes whoever redeems it a member, up to maxUses; a member redeeming again spends nothing', async () => {
        const store = await factory.open();
        const room = await store.createRoom('alice', 'club');
        const invite = await store.createInvite(room.id, 'alice', { maxUses: 2, expiresAt: inAnHour() });
        expect(invite).toMatchObject({ roomId: room.id, createdBy: 'alice', maxUses: 2, uses: 0, revoked: false });
        expect(invite.id).toMatch(/^[A-Za-z0-9_-]{16}$/);

        expect(await store.redeemInvite(invite.id, 'bob')).toEqual(room);
        expect(await store.redeemInvite(invite.id, 'bob')).toEqual(room);
        expect(await store.redeemInvite(invite.id, 'carol')).toEqual(room);
        expect(await store.redeemInvite(invite.id, 'dave')).toBeNull();
        expect(await store.isMember(room.id, 'dave')).toBe(false);
        expect(await store.isMember(room.id, 'carol')).toBe(true);
      });

      it('never exceeds maxUses under concurrent redeemers on two instances', async () => {
        const [one, two] = [await factory.open(), await factory.open()];
        const room = await one.createRoom('alice', 'club');
        const invite = await one.createInvite(room.id, 'alice', { maxUses: 3, expiresAt: inAnHour() });

        const results = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? one : two).redeemInvite(invite.id, `user${i}`)));

        expect(results.filter((result) => result !== null)).toHaveLength(3);
      });

      it('refuses a revoked invite, and only its creator may revoke it', async () => {
        const store = await factory.open();
        const room = await store.createRoom('alice', 'club');
        const invite = await store.createInvite(room.id, 'alice', { maxUses: 5, expiresAt: inAnHour() });

        expect(await store.revokeInvite(invite.id, 'mallory')).toBe(false);
        expect(await store.redeemInvite(invite.id, 'bob')).toEqual(room);
        expect(await store.revokeInvite(invite.id, 'alice')).toBe(true);
        expect(await store.redeemInvite(invite.id, 'carol')).toBeNull();
        expect(await store.isMember(room.id, 'carol')).toBe(false);
      });

      it('refuses an expired or unknown invite', async () => {
        const store = await factory.open();
        const room = await store.createRoom('alice', 'club');
        const expiresAt = inAnHour();
        const invite = await store.createInvite(room.id, 'alice', { maxUses: 5, expiresAt });

        expect(await store.redeemInvite(invite.id, 'bob', new Date(expiresAt.getTime() + 1))).toBeNull();
        expect(await store.redeemInvite('no-such-invite', 'bob')).toBeNull();
        expect(await store.redeemInvite('\ud800', 'bob')).toBeNull();
        expect(await store.isMember(room.id, 'bob')).toBe(false);
      });

      it('refuses to create an invite to an unknown room with ERR_STORE_UNKNOWN_ROOM', async () => {
        const store = await factory.open();
        await expectStoreError(store.createInvite('no-such-room', 'alice', { maxUses: 1, expiresAt: inAnHour() }), StoreErrorCodes.unknownRoom);
      });
    });

    describe('session revocation', () => {
      it('keeps the latest revocation time per user, 0 for a user never revoked', async () => {
        const [one, two] = [await factory.open(), await factory.open()];
        expect(await one.sessionsRevokedBefore('alice')).toBe(0);

        await one.revokeSessions('alice', 2_000_000_000);
        await two.revokeSessions('alice', 1_000_000_000);

        expect(await two.sessionsRevokedBefore('alice')).toBe(2_000_000_000);
        expect(await one.sessionsRevokedBefore('bob')).toBe(0);
      });
    });

    describe('profiles', () => {
      it('keeps one display name per user, the latest set, visible to other instances; null when never set', async () => {
        const [one, two] = [await factory.open(), await factory.open()];
        expect(await one.profileName('alice')).toBeNull();

        await one.setProfileName('alice', 'Alice 🐦');
        await two.setProfileName('alice', 'Alice B.');
        await one.setProfileName('bob', 'bob');

        expect(await one.profileName('alice')).toBe('Alice B.');
        expect(await two.profileName('bob')).toBe('bob');
      });

      it('refuses a name it could not give back with ERR_STORE_INVALID_TEXT', async () => {
        const store = await factory.open();
        await expectStoreError(store.setProfileName('alice', 'a\u0000'), StoreErrorCodes.invalidText);
      });
    });

    describe('close', () => {
      it('is idempotent, and later calls reject with ERR_STORE_CLOSED', async () => {
        const store = await factory.open();
        const room = await store.createRoom('alice', 'Book club');
        await store.close();
        await store.close();
        await expectStoreError(store.append('lobby', 'alice', 'too late'), StoreErrorCodes.closed);
        await expectStoreError(store.history('lobby'), StoreErrorCodes.closed);
        await expectStoreError(store.getRoom(room.id), StoreErrorCodes.closed);
        await expectStoreError(store.isMember(room.id, 'alice'), StoreErrorCodes.closed);
      });

      it('waits for calls already in flight', async () => {
        const store = await factory.open();
        const pending = Promise.all(numbered(20).map((body) => store.append('lobby', 'alice', body)));
        await store.close();
        expect(await pending).toHaveLength(20);
        const reopened = await factory.open();
        expect(await reopened.history('lobby')).toHaveLength(20);
      });
    });
  });
}
