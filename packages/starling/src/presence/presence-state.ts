/**
 * @module presence/presence-state
 * Pure presence values: the list and diff payloads of `presence_state` and `presence_diff`, and
 * the grouping of tracked entries by key. No I/O, no clocks except {@link newPhxRef}.
 *
 * @example
 * import { groupByKey } from 'starling-channels';
 *
 * groupByKey([{ key: 'alice', meta: { phx_ref: 'r1' } }]);
 * // { alice: { metas: [{ phx_ref: 'r1' }] } }
 */
import { randomBytes } from 'node:crypto';

/** App-defined fields of one presence, e.g. `{online_at: "…"}`. */
export type PresenceMeta = Readonly<Record<string, unknown>>;

/** A tracked meta as it travels: the app's fields plus a unique `phx_ref` (and `phx_ref_prev` on update). */
export type TrackedMeta = PresenceMeta & { readonly phx_ref: string; readonly phx_ref_prev?: string };

/** One tracked presence: a key (usually a user id) and one meta (one tab or device). */
export interface PresenceEntry {
  readonly key: string;
  readonly meta: TrackedMeta;
}

/** The `presence_state` payload: key → `{metas}`. */
export type PresenceList = Record<string, { metas: TrackedMeta[] }>;

/** The `presence_diff` payload; both fields are always present. */
export interface PresenceDiff {
  joins: PresenceList;
  leaves: PresenceList;
}

/** Groups entries by key, keeping their order. The result has no prototype (keys are client data). */
export function groupByKey(entries: Iterable<PresenceEntry>): PresenceList {
  const list = Object.create(null) as PresenceList;
  for (const { key, meta } of entries) {
    const presence = list[key];
    if (presence === undefined) list[key] = { metas: [meta] };
    else presence.metas.push(meta);
  }
  return list;
}

/** Builds a `presence_diff` payload. */
export function presenceDiff(joins: Iterable<PresenceEntry>, leaves: Iterable<PresenceEntry>): PresenceDiff {
  return { joins: groupByKey(joins), leaves: groupByKey(leaves) };
}

/** A new globally unique `phx_ref`: 96 random bits, URL-safe base64 (16 characters, like Phoenix's). */
export function newPhxRef(): string {
  return randomBytes(12).toString('base64url');
}

// phoenix.js < 1.8.9 stores keys on plain objects and breaks on these (§7.4).
const UNSAFE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** True when `key` can be used as a presence key by every phoenix.js version. */
export function isSafePresenceKey(key: string): boolean {
  return key.length > 0 && !UNSAFE_KEYS.has(key);
}
