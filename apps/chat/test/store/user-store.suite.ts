/**
 * @module user-store.suite
 * The UserStore slice of the ChatStore conformance suite (registered by `chat-store.suite.ts`):
 * session revocations that only move forward, profile names, exact text and durability.
 */
import { describe, expect, it } from 'vitest';
import { StoreErrorCodes, type UserStore } from '../../src/store/index.ts';
import { expectStoreError, type ChatStoreFactory } from './store-suite-support.ts';

/** Registers the UserStore cases; the caller's `afterEach` runs `factory.cleanup()`. */
export function userStoreSuite(factory: ChatStoreFactory): void {
  /** The users part of a freshly opened store. */
  const open = async (): Promise<UserStore> => (await factory.open()).users;

  describe('UserStore', () => {
    describe('session revocation', () => {
      it('keeps the latest revocation time per user, 0 for a user never revoked', async () => {
        const [one, two] = [await open(), await open()];
        expect(await one.sessionsRevokedBefore('alice')).toBe(0);

        await one.revokeSessions('alice', 2_000_000_000);
        await two.revokeSessions('alice', 1_000_000_000);

        expect(await two.sessionsRevokedBefore('alice')).toBe(2_000_000_000);
        expect(await one.sessionsRevokedBefore('bob')).toBe(0);
      });
    });

    describe('profiles', () => {
      it('keeps one display name per user, the latest set, visible to other instances; null when never set', async () => {
        const [one, two] = [await open(), await open()];
        expect(await one.profileName('alice')).toBeNull();

        await one.setProfileName('alice', 'Alice 🐦');
        await two.setProfileName('alice', 'Alice B.');
        await one.setProfileName('bob', 'bob');

        expect(await one.profileName('alice')).toBe('Alice B.');
        expect(await two.profileName('bob')).toBe('bob');
      });

      it('refuses a name it could not give back with ERR_STORE_INVALID_TEXT', async () => {
        const users = await open();
        await expectStoreError(users.setProfileName('alice', 'a\u0000'), StoreErrorCodes.invalidText);
      });
    });

    it('keeps revocations and profiles after the store is closed and a new one opened', async () => {
      const first = await factory.open();
      await first.users.revokeSessions('alice', 1_700_000_000_000);
      await first.users.setProfileName('alice', 'Alice');
      await first.close();
      const reopened = await open();
      expect(await reopened.sessionsRevokedBefore('alice')).toBe(1_700_000_000_000);
      expect(await reopened.profileName('alice')).toBe('Alice');
    });
  });
}
