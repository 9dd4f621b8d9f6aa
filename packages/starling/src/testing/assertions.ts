/**
 * @module testing/assertions
 * How the harness's assertions match what a client received and say what they found instead:
 * a payload matches by deep equality or a predicate; a failure is a `node:assert`
 * `AssertionError` (any test runner shows it) that lists what was received.
 */
import { inspect, isDeepStrictEqual } from 'node:util';
import type { BinaryPayload } from '../protocol.ts';

/** Expected payload of an assertion: deep-equal to this value, or accepted by this predicate. */
export type PayloadMatch = ((payload: unknown) => boolean) | Readonly<Record<string, unknown>> | BinaryPayload;

/** How long an assertion waits, in real milliseconds. */
export interface WaitOptions {
  /** Default: the harness's `assertTimeoutMs` (assertions) or `refuteTimeoutMs` (refutations). */
  timeoutMs?: number | undefined;
}

/** A value as a failure message shows it. */
export function describe(value: unknown): string {
  return inspect(value, { depth: 6, breakLength: Infinity });
}

/** True when `payload` satisfies `expected` (anything does when it is undefined). */
export function matches(payload: unknown, expected: PayloadMatch | undefined): boolean {
  if (expected === undefined) return true;
  if (typeof expected === 'function') return expected(payload);
  return isDeepStrictEqual(payload, expected);
}

/** What an assertion looked for, for its failure message. */
export function expectation(event: string, expected: PayloadMatch | undefined): string {
  if (expected === undefined) return `"${event}"`;
  return `"${event}" with ${typeof expected === 'function' ? 'a payload accepted by the predicate' : describe(expected)}`;
}

/** What was received instead, for a failure message. */
export function listOf(items: ReadonlyArray<{ readonly event: string; readonly payload: unknown }>): string {
  return items.length === 0 ? 'none' : items.map((item) => `"${item.event}" ${describe(item.payload)}`).join(', ');
}
