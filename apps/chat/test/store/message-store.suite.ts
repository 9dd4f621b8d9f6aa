/**
 * @module message-store.suite
 * The MessageStore slice of the ChatStore conformance suite (registered by `chat-store.suite.ts`):
 * appends, ordering, paging, exact text, concurrency and durability of each room's history, and
 * edits and deletes that only a message's author may make.
 */
import { describe, expect, it } from 'vitest';
import { HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT, StoreErrorCodes, type MessageStore, type StoredMessage } from '../../src/store/index.ts';
import { EXACT_TEXTS, expectRecentIsoUtc, expectStoreError, numbered, UNSTORABLE_TEXTS, type ChatStoreFactory } from './store-suite-support.ts';

/** Appends the bodies one after another, each once the previous one resolved. */
async function appendInOrder(messages: MessageStore, room: string, bodies: string[]): Promise<StoredMessage[]> {
  const stored: StoredMessage[] = [];
  for (const body of bodies) stored.push(await messages.append(room, 'alice', body));
  return stored;
}

const bodiesOf = (messages: StoredMessage[]): string[] => messages.map((m) => m.body);
const idsOf = (messages: StoredMessage[]): number[] => messages.map((m) => m.id);

function expectStrictlyIncreasing(ids: number[]): void {
  ids.slice(1).forEach((id, i) => expect(id).toBeGreaterThan(ids[i]!));
}

/** Registers the MessageStore cases; the caller's `afterEach` runs `factory.cleanup()`. */
export function messageStoreSuite(factory: ChatStoreFactory): void {
  /** The messages part of a freshly opened store. */
  const open = async (): Promise<MessageStore> => (await factory.open()).messages;

  describe('MessageStore', () => {
    describe('append', () => {
      it('resolves with the stored message: increasing ids and an ISO 8601 UTC insertion time', async () => {
        const messages = await open();
        const first = await messages.append('lobby', 'alice', 'hello');
        const second = await messages.append('lobby', 'bob', 'hi alice');
        expect(first).toMatchObject({ room: 'lobby', author: 'alice', body: 'hello' });
        expect(second).toMatchObject({ room: 'lobby', author: 'bob', body: 'hi alice' });
        expect(Number.isSafeInteger(first.id)).toBe(true);
        expect(second.id).toBeGreaterThan(first.id);
        expectRecentIsoUtc(first.insertedAt);
        expectRecentIsoUtc(second.insertedAt);
        expect(await messages.history('lobby')).toEqual([first, second]);
      });
    });

    describe('history', () => {
      it('is empty for a room without messages', async () => {
        const messages = await open();
        expect(await messages.history('nobody-here')).toEqual([]);
      });

      it(`returns the newest ${HISTORY_DEFAULT_LIMIT} messages by default, oldest first`, async () => {
        const messages = await open();
        await appendInOrder(messages, 'lobby', numbered(HISTORY_DEFAULT_LIMIT + 10));
        const page = await messages.history('lobby');
        expect(bodiesOf(page)).toEqual(numbered(HISTORY_DEFAULT_LIMIT + 10).slice(10));
        expectStrictlyIncreasing(idsOf(page));
      });

      it('pages backwards with `before` without overlap or gap', async () => {
        const messages = await open();
        const all = await appendInOrder(messages, 'lobby', numbered(25));
        const newest = await messages.history('lobby', { limit: 10 });
        const middle = await messages.history('lobby', { limit: 10, before: newest[0]!.id });
        const oldest = await messages.history('lobby', { limit: 10, before: middle[0]!.id });
        expect(bodiesOf(newest)).toEqual(numbered(25).slice(15));
        expect(bodiesOf(middle)).toEqual(numbered(25).slice(5, 15));
        expect(bodiesOf(oldest)).toEqual(numbered(25).slice(0, 5));
        expect([...oldest, ...middle, ...newest]).toEqual(all);
        expect(await messages.history('lobby', { limit: 10, before: oldest[0]!.id })).toEqual([]);
      });

      it('treats `before` as an exclusive id bound, whichever room the id came from', async () => {
        const messages = await open();
        const [a0, a1] = await appendInOrder(messages, 'a', ['a0', 'a1']);
        const b0 = await messages.append('b', 'bob', 'b0');
        const a2 = await messages.append('a', 'alice', 'a2');
        expect(await messages.history('a', { before: a1!.id })).toEqual([a0]);
        expect(await messages.history('a', { before: b0.id })).toEqual([a0, a1]);
        expect(await messages.history('a', { before: a2.id + 1_000_000 })).toEqual([a0, a1, a2]);
        expect(await messages.history('a', { before: a0!.id })).toEqual([]);
      });

      it(`honours \`limit\` and caps it at ${HISTORY_MAX_LIMIT}`, async () => {
        const messages = await open();
        const all = await appendInOrder(messages, 'lobby', numbered(HISTORY_MAX_LIMIT + 5));
        expect(await messages.history('lobby', { limit: 3 })).toEqual(all.slice(-3));
        expect(await messages.history('lobby', { limit: 10_000 })).toEqual(all.slice(-HISTORY_MAX_LIMIT));
      });

      it('counts a limit below 1 as 1 and rounds a fractional limit down', async () => {
        const messages = await open();
        const all = await appendInOrder(messages, 'lobby', numbered(5));
        expect(await messages.history('lobby', { limit: 0 })).toEqual(all.slice(-1));
        expect(await messages.history('lobby', { limit: -7 })).toEqual(all.slice(-1));
        expect(await messages.history('lobby', { limit: 2.9 })).toEqual(all.slice(-2));
      });

      it('keeps rooms apart', async () => {
        const messages = await open();
        for (let i = 0; i < 5; i++) {
          await messages.append('rooms:a', 'alice', `a${i}`);
          await messages.append('rooms:b', 'bob', `b${i}`);
        }
        expect(bodiesOf(await messages.history('rooms:a'))).toEqual(numbered(5, 'a'));
        expect(bodiesOf(await messages.history('rooms:b'))).toEqual(numbered(5, 'b'));
        expect(await messages.history('rooms:')).toEqual([]);
        expect(await messages.history('ROOMS:A')).toEqual([]);
      });
    });

    describe('text', () => {
      it.each(Object.entries(EXACT_TEXTS))('stores %s exactly, in body, author and room', async (_, text) => {
        const messages = await open();
        const stored = await messages.append(`room ${text}`, text, text);
        expect(stored).toMatchObject({ room: `room ${text}`, author: text, body: text });
        const [read] = await messages.history(`room ${text}`);
        expect(read).toEqual(stored);
        expect(Buffer.from(read!.body, 'utf8').equals(Buffer.from(text, 'utf8'))).toBe(true);
      });

      it.each(UNSTORABLE_TEXTS)('refuses text containing %s with ERR_STORE_INVALID_TEXT instead of altering it', async (_, text) => {
        const messages = await open();
        await expectStoreError(messages.append('lobby', 'alice', text), StoreErrorCodes.invalidText);
        await expectStoreError(messages.append('lobby', text, 'hi'), StoreErrorCodes.invalidText);
        await expectStoreError(messages.append(text, 'alice', 'hi'), StoreErrorCodes.invalidText);
        expect(await messages.history('lobby')).toEqual([]);
        expect(await messages.history(text)).toEqual([]);
      });

      it('finds nothing when looking up by text that could not have been stored', async () => {
        const messages = await open();
        await messages.append('\ufffd', 'alice', 'hi');
        expect(await messages.history('\ud800')).toEqual([]);
      });
    });

    describe('concurrency and durability', () => {
      it('stores 200 concurrent appends from two instances, each with a unique id, in id order', async () => {
        const [a, b] = [await open(), await open()];
        const bodies = numbered(200);
        const stored = await Promise.all(bodies.map((body, i) => (i % 2 === 0 ? a : b).append('lobby', 'alice', body)));
        expect(new Set(idsOf(stored)).size).toBe(200);
        const history = await a.history('lobby', { limit: 200 });
        expectStrictlyIncreasing(idsOf(history));
        expect(idsOf(history)).toEqual(idsOf(stored).sort((x, y) => x - y));
        expect(new Set(bodiesOf(history))).toEqual(new Set(bodies));
      });

      it('gives a later append a larger id, whichever instance made the earlier one', async () => {
        const [a, b] = [await open(), await open()];
        const ids: number[] = [];
        for (let i = 0; i < 6; i++) ids.push((await (i % 2 === 0 ? a : b).append('lobby', 'alice', `m${i}`)).id);
        expectStrictlyIncreasing(ids);
      });

      it('shows a resolved append to other instances at once', async () => {
        const [a, b] = [await open(), await open()];
        const stored = await a.append('lobby', 'alice', 'seen elsewhere');
        expect(await b.history('lobby')).toEqual([stored]);
      });

      it('keeps messages after the store is closed and a new one opened, and numbers on from them', async () => {
        const first = await factory.open();
        const messages = await appendInOrder(first.messages, 'lobby', ['one', 'two', 'three']);
        await first.close();
        const reopened = await open();
        expect(await reopened.history('lobby')).toEqual(messages);
        const next = await reopened.append('lobby', 'alice', 'four');
        expect(next.id).toBeGreaterThan(messages[2]!.id);
      });
    });
    describe('edit and remove', () => {
      it('keeps the author id and mentions given to append; a message without an author id is nobody’s', async () => {
        const messages = await open();
        const mine = await messages.append('lobby', 'Ada#abcdef', 'hi @Bob', { authorId: 'ada', mentions: ['bob'] });
        const anonymous = await messages.append('lobby', 'old', 'from before');

        expect(mine).toMatchObject({ authorId: 'ada', mentions: ['bob'], editedAt: null, deleted: false });
        expect(anonymous).toMatchObject({ authorId: null, mentions: [], editedAt: null, deleted: false });
        expect(await messages.history('lobby')).toEqual([mine, anonymous]);
        expect(await messages.edit('lobby', anonymous.id, '', 'taken over')).toBeNull();
      });

      it('lets only the author edit, in its own room: history and other instances show the new text, marked edited', async () => {
        const [one, two] = [await open(), await open()];
        const stored = await one.append('lobby', 'Ada#abcdef', 'helo', { authorId: 'ada' });

        expect(await one.edit('lobby', stored.id, 'bob', 'hijacked')).toBeNull();
        expect(await one.edit('elsewhere', stored.id, 'ada', 'wrong room')).toBeNull();
        const edited = await two.edit('lobby', stored.id, 'ada', 'hello', ['bob']);

        expect(edited).toMatchObject({ id: stored.id, author: 'Ada#abcdef', authorId: 'ada', body: 'hello', mentions: ['bob'], deleted: false });
        expectRecentIsoUtc(edited!.editedAt!);
        expect(edited!.insertedAt).toBe(stored.insertedAt);
        expect(await one.history('lobby')).toEqual([edited]);
      });

      it('lets only the author delete: a tombstone with its id, author and time, no text and no mentions; it cannot be edited back', async () => {
        const messages = await open();
        const stored = await messages.append('lobby', 'Ada#abcdef', 'oops @Bob', { authorId: 'ada', mentions: ['bob'] });
        const after = await messages.append('lobby', 'Ada#abcdef', 'next', { authorId: 'ada' });

        expect(await messages.remove('lobby', stored.id, 'bob')).toBeNull();
        const tombstone = await messages.remove('lobby', stored.id, 'ada');

        expect(tombstone).toEqual({ ...stored, body: '', mentions: [], deleted: true });
        expect(await messages.remove('lobby', stored.id, 'ada')).toEqual(tombstone);
        expect(await messages.edit('lobby', stored.id, 'ada', 'back again')).toBeNull();
        expect(await messages.history('lobby')).toEqual([tombstone, after]);
        expect(await messages.remove('lobby', 999_999_999, 'ada')).toBeNull();
      });

      it('keeps edits and deletes after the store is closed and a new one opened', async () => {
        const first = await factory.open();
        const a = await first.messages.append('lobby', 'Ada#abcdef', 'one', { authorId: 'ada' });
        const b = await first.messages.append('lobby', 'Ada#abcdef', 'two', { authorId: 'ada' });
        const edited = await first.messages.edit('lobby', a.id, 'ada', 'one, edited');
        const removed = await first.messages.remove('lobby', b.id, 'ada');
        await first.close();
        expect(await (await open()).history('lobby')).toEqual([edited, removed]);
      });

      it('refuses an edit it could not give back with ERR_STORE_INVALID_TEXT, and leaves the message as it was', async () => {
        const messages = await open();
        const stored = await messages.append('lobby', 'Ada#abcdef', 'fine', { authorId: 'ada' });
        await expectStoreError(messages.edit('lobby', stored.id, 'ada', 'bad\u0000'), StoreErrorCodes.invalidText);
        expect(await messages.history('lobby')).toEqual([stored]);
      });
    });
  });
}
