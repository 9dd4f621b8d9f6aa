/**
 * @module read-store.suite
 * The ReadStore slice of the ChatStore conformance suite (registered by `chat-store.suite.ts`):
 * last-read positions that only move forward, shared by every instance (another device), and the
 * unread counts after them.
 */
import { describe, expect, it } from 'vitest';
import { StoreErrorCodes, UNREAD_COUNT_CAP, type ChatStore } from '../../src/store/index.ts';
import { expectStoreError, numbered, type ChatStoreFactory } from './store-suite-support.ts';

/** Registers the ReadStore cases; the caller's `afterEach` runs `factory.cleanup()`. */
export function readStoreSuite(factory: ChatStoreFactory): void {
  /** Appends `bodies` to `room` as `authorId`, in order; resolves with their ids. */
  async function post(store: ChatStore, room: string, authorId: string, bodies: string[]): Promise<number[]> {
    const ids: number[] = [];
    for (const body of bodies) ids.push((await store.messages.append(room, `${authorId}#abcdef`, body, { authorId })).id);
    return ids;
  }

  describe('ReadStore', () => {
    it('counts every message of others in a room never read, in the order the rooms were asked', async () => {
      const store = await factory.open();
      await post(store, 'lobby', 'ada', numbered(3));
      await post(store, 'room-b', 'ada', numbered(2));

      expect(await store.reads.unread('bob', ['room-b', 'lobby', 'empty'])).toEqual([
        { room: 'room-b', lastRead: 0, count: 2, mentions: 0 },
        { room: 'lobby', lastRead: 0, count: 3, mentions: 0 },
        { room: 'empty', lastRead: 0, count: 0, mentions: 0 },
      ]);
    });

    it('counts what came after the last-read position, which another instance (device) sees at once', async () => {
      const [phone, laptop] = [await factory.open(), await factory.open()];
      const ids = await post(phone, 'lobby', 'ada', numbered(5));

      await phone.reads.markRead('bob', 'lobby', ids[1]!);

      expect(await laptop.reads.unread('bob', ['lobby'])).toEqual([{ room: 'lobby', lastRead: ids[1], count: 3, mentions: 0 }]);
      expect(await laptop.reads.unread('carol', ['lobby'])).toEqual([{ room: 'lobby', lastRead: 0, count: 5, mentions: 0 }]);
    });

    it('only moves forward: an earlier position reported later (another device) changes nothing', async () => {
      const [one, two] = [await factory.open(), await factory.open()];
      const ids = await post(one, 'lobby', 'ada', numbered(4));

      await one.reads.markRead('bob', 'lobby', ids[2]!);
      await two.reads.markRead('bob', 'lobby', ids[0]!);

      expect(await one.reads.unread('bob', ['lobby'])).toEqual([{ room: 'lobby', lastRead: ids[2], count: 1, mentions: 0 }]);
    });

    it('never counts the user’s own messages or deleted ones', async () => {
      const store = await factory.open();
      await post(store, 'lobby', 'bob', ['mine']);
      const [gone] = await post(store, 'lobby', 'ada', ['oops', 'kept']);
      await store.messages.remove('lobby', gone!, 'ada');

      expect(await store.reads.unread('bob', ['lobby'])).toEqual([{ room: 'lobby', lastRead: 0, count: 1, mentions: 0 }]);
    });

    it('counts how many of the unread messages mention the user', async () => {
      const store = await factory.open();
      const [read] = await post(store, 'lobby', 'ada', ['seen']);
      await store.messages.append('lobby', 'ada#abcdef', 'old news @bob', { authorId: 'ada', mentions: ['bob'] });
      await store.reads.markRead('bob', 'lobby', read!);
      await store.messages.append('lobby', 'ada#abcdef', '@bob and @carol', { authorId: 'ada', mentions: ['carol', 'bob'] });
      await store.messages.append('lobby', 'ada#abcdef', '@bobby', { authorId: 'ada', mentions: ['bobby'] });
      await post(store, 'lobby', 'ada', ['plain']);

      expect(await store.reads.unread('bob', ['lobby'])).toEqual([{ room: 'lobby', lastRead: read, count: 4, mentions: 2 }]);
    });

    it(`stops counting at ${UNREAD_COUNT_CAP}`, async () => {
      const store = await factory.open();
      await Promise.all(numbered(UNREAD_COUNT_CAP + 5).map((body) => store.messages.append('lobby', 'ada#abcdef', body, { authorId: 'ada' })));
      expect(await store.reads.unread('bob', ['lobby'])).toEqual([{ room: 'lobby', lastRead: 0, count: UNREAD_COUNT_CAP, mentions: 0 }]);
    });

    it('keeps positions after the store is closed and a new one opened', async () => {
      const first = await factory.open();
      const ids = await post(first, 'lobby', 'ada', numbered(3));
      await first.reads.markRead('bob', 'lobby', ids[0]!);
      await first.close();
      expect(await (await factory.open()).reads.unread('bob', ['lobby'])).toEqual([{ room: 'lobby', lastRead: ids[0], count: 2, mentions: 0 }]);
    });

    it('refuses a key it could not give back with ERR_STORE_INVALID_TEXT; asking by one finds nothing', async () => {
      const store = await factory.open();
      await expectStoreError(store.reads.markRead('bob', 'lobby\u0000', 1), StoreErrorCodes.invalidText);
      expect(await store.reads.unread('bob', ['\ud800', 'lobby'])).toEqual([
        { room: '\ud800', lastRead: 0, count: 0, mentions: 0 },
        { room: 'lobby', lastRead: 0, count: 0, mentions: 0 },
      ]);
    });
  });
}
