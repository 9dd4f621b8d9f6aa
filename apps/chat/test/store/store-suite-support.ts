/**
 * @module store-suite-support
 * What the slices of the ChatStore conformance suite share: the factory every implementation
 * passes in, and the assertions and texts more than one slice uses.
 */
import { expect } from 'vitest';
import { StoreError, type ChatStore, type StoreErrorCode } from '../../src/store/index.ts';

/** Opens store instances on a throwaway database. */
export interface ChatStoreFactory {
  /**
   * Opens a store on the current test's database. The first call of a test finds an empty
   * database; later calls open further instances on that same database, as another process or
   * node would.
   */
  open(): Promise<ChatStore>;
  /** After each test: closes every store it opened (closing twice is fine) and discards the data. */
  cleanup(): Promise<void>;
}

/** `n` distinct bodies: `m0`, `m1`, … */
export const numbered = (n: number, prefix = 'm'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

/** Asserts that `promise` rejects with a StoreError carrying `code`. */
export async function expectStoreError(promise: Promise<unknown>, code: StoreErrorCode): Promise<void> {
  const error: unknown = await promise.then(
    () => new Error(`expected a rejection with ${code}, but it resolved`),
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(StoreError);
  expect((error as StoreError).code).toBe(code);
}

/** An ISO 8601 UTC timestamp close to now (generous, in case the database runs elsewhere). */
export function expectRecentIsoUtc(timestamp: string): void {
  expect(new Date(timestamp).toISOString()).toBe(timestamp);
  expect(Math.abs(Date.parse(timestamp) - Date.now())).toBeLessThan(60_000);
}

/** Text that must come back exactly, byte for byte. */
export const EXACT_TEXTS: Record<string, string> = {
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

/** Text no backend could give back unchanged (`ERR_STORE_INVALID_TEXT`), by what makes it so. */
export const UNSTORABLE_TEXTS: Array<[string, string]> = [
  ['U+0000', 'before\u0000after'],
  ['a lone high surrogate', 'broken \ud83d emoji'],
  ['a lone low surrogate', '\ude00'],
];
