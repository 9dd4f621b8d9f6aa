/**
 * @module chat-store.suite
 * The shared conformance suite of the chat's store: every implementation (SQLite, PostgreSQL)
 * runs it through a factory, so the guarantees written on the contracts hold for all of them
 * alike. It registers one slice per part — `message-store.suite.ts`, `room-store.suite.ts`,
 * `user-store.suite.ts`, `read-store.suite.ts` — and the cases of the `ChatStore` as a whole (closing). Backend
 * test files add only what is specific to their backend.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { StoreErrorCodes } from '../../src/store/index.ts';
import { messageStoreSuite } from './message-store.suite.ts';
import { readStoreSuite } from './read-store.suite.ts';
import { roomStoreSuite } from './room-store.suite.ts';
import { expectStoreError, numbered, type ChatStoreFactory } from './store-suite-support.ts';
import { userStoreSuite } from './user-store.suite.ts';

export type { ChatStoreFactory } from './store-suite-support.ts';

/** Registers the suite for one implementation. */
export function chatStoreSuite(name: string, factory: ChatStoreFactory): void {
  describe(`ChatStore conformance: ${name}`, () => {
    afterEach(() => factory.cleanup());

    messageStoreSuite(factory);
    roomStoreSuite(factory);
    userStoreSuite(factory);
    readStoreSuite(factory);

    describe('ping', () => {
      it('resolves while the backend answers, and rejects with ERR_STORE_CLOSED after close', async () => {
        const store = await factory.open();
        await expect(store.ping()).resolves.toBeUndefined();
        await store.close();
        await expectStoreError(store.ping(), StoreErrorCodes.closed);
      });
    });

    describe('close', () => {
      it('is idempotent, and later calls on every part reject with ERR_STORE_CLOSED', async () => {
        const store = await factory.open();
        const room = await store.rooms.createRoom('alice', 'Book club');
        await store.close();
        await store.close();
        await expectStoreError(store.messages.append('lobby', 'alice', 'too late'), StoreErrorCodes.closed);
        await expectStoreError(store.messages.history('lobby'), StoreErrorCodes.closed);
        await expectStoreError(store.rooms.getRoom(room.id), StoreErrorCodes.closed);
        await expectStoreError(store.rooms.isMember(room.id, 'alice'), StoreErrorCodes.closed);
        await expectStoreError(store.users.profileName('alice'), StoreErrorCodes.closed);
        await expectStoreError(store.users.revokeSessions('alice', 1), StoreErrorCodes.closed);
        await expectStoreError(store.reads.markRead('alice', 'lobby', 1), StoreErrorCodes.closed);
        await expectStoreError(store.reads.unread('alice', ['lobby']), StoreErrorCodes.closed);
      });

      it('waits for calls already in flight', async () => {
        const store = await factory.open();
        const pending = Promise.all(numbered(20).map((body) => store.messages.append('lobby', 'alice', body)));
        await store.close();
        expect(await pending).toHaveLength(20);
        const reopened = await factory.open();
        expect(await reopened.messages.history('lobby')).toHaveLength(20);
      });
    });
  });
}
