/**
 * @module supabase/history-broadcast-store
 * Internal: persisted broadcasts without a database, kept in the PubSub's history (the contract
 * is supabase/broadcast-store). Channel `room1`'s are appended to the history topic
 * `realtime-persisted:room1` ({@link persistedTopicOf}), which no client can join; the PubSub must
 * keep history for {@link PERSISTED_TOPICS}. The history's bounds are the store's retention: the
 * newest `size` per topic for `ttlMs`, `maxTopics` topics and `maxBytes` in all (in process, or in
 * Redis where every node reads the same streams).
 *
 * A stored entry is `{id, event, payload, at, expiresAt}`; a replay reads the stream's newest
 * `limit` entries and keeps those stored at or after `since` and not past their own `ttl`. When
 * the oldest of them were dropped meanwhile (the history's `ttlMs`), it reads fewer. When they
 * weigh more than the history's `maxReplayBytes`, the join is refused rather than sent megabytes.
 */
import { randomUUID } from 'node:crypto';
import type { PubSub } from '../pubsub/pubsub.ts';
import type { StreamPosition, StreamRead } from '../pubsub/stream.ts';
import { replayLimit, type BroadcastStore, type ReplayOutcome, type StoredBroadcast } from './broadcast-store.ts';

/** The history topics of persisted broadcasts: give them history (`new PubSub({history: {topics: [PERSISTED_TOPICS]}})`). */
export const PERSISTED_TOPICS = 'realtime-persisted:*';

/** The history topic of private channel `name`'s persisted broadcasts. */
export function persistedTopicOf(name: string): string {
  return `realtime-persisted:${name}`;
}

/** The stored form of a broadcast. */
interface Entry {
  readonly id: string;
  readonly event: string;
  readonly payload: unknown;
  /** When it was stored, ms since the epoch (the replay's `since` compares with it). */
  readonly at: number;
  /** When its own `ttl` ends (null: with the history's). */
  readonly expiresAt: number | null;
}

const STORED = 'persisted';

function isEntry(value: unknown): value is Entry {
  const entry = value as Partial<Entry> | null;
  return typeof entry === 'object' && entry !== null && typeof entry.id === 'string' && typeof entry.event === 'string' && typeof entry.at === 'number';
}

/** The PubSub's history as the store of persisted broadcasts. */
export class HistoryBroadcastStore implements BroadcastStore {
  readonly #pubsub: PubSub;
  readonly #now: () => number;

  /** @throws TypeError when `pubsub` keeps no history for {@link PERSISTED_TOPICS} */
  constructor(pubsub: PubSub, now: () => number = Date.now) {
    if (!pubsub.hasHistory(persistedTopicOf('x'))) throw new TypeError(`the PubSub keeps no history for ${PERSISTED_TOPICS}`);
    this.#pubsub = pubsub;
    this.#now = now;
  }

  /**
   * Appends the broadcast to its topic's stream and resolves once the PubSub's adapter has taken
   * it (a round trip to Redis; at once in process), so that a replay anywhere after sees it.
   * @throws Error (rejects) when the adapter is unreachable, or lost an append meanwhile
   */
  async persist(topic: string, event: string, payload: unknown, ttlMs: number | null): Promise<void> {
    const pubsub = this.#pubsub;
    if (!pubsub.connected) throw new Error('the PubSub is not connected');
    const failures = pubsub.stats.appendFailures;
    const at = this.#now();
    const entry: Entry = { id: randomUUID(), event, payload: payload ?? {}, at, expiresAt: ttlMs === null ? null : at + ttlMs };
    pubsub.broadcast(persistedTopicOf(topic), STORED, entry);
    // Not the broadcast path's habit: a persist is acknowledged as stored, so it waits for the
    // append's round trip (flush resolves at once in process, where the append was synchronous).
    await pubsub.flush();
    // An append lost meanwhile may be another's (the store was unreachable for both): say so anyway.
    if (pubsub.stats.appendFailures !== failures) throw new Error('an append to the history failed');
  }

  /**
   * The newest `limit` broadcasts stored since `sinceMs`, oldest first.
   * @throws StarlingError `ERR_PUBSUB_ADAPTER` (rejects) when the history cannot be read
   */
  async replay(topic: string, sinceMs: number, limit: number): Promise<ReplayOutcome> {
    const stream = persistedTopicOf(topic);
    const { position } = await this.#pubsub.readStream(stream, null);
    const wanted = Math.min(replayLimit(limit), position.offset);
    let read = await this.#read(stream, position, wanted);
    if (read !== null && !read.recovered) {
      if (read.bytes > 0) return tooLarge(wanted);
      // The oldest of them are gone (the history's ttlMs, or maxBytes): the most still kept is
      // found by halving, since a read that can be honoured stays so when it asks for fewer.
      read = null;
      let kept = 0;
      let gone = wanted;
      while (gone - kept > 1) {
        const middle = Math.floor((kept + gone) / 2);
        const attempt = (await this.#read(stream, position, middle))!;
        if (attempt.recovered) [kept, read] = [middle, attempt];
        else if (attempt.bytes > 0) return tooLarge(middle);
        else gone = middle;
      }
    }
    const now = this.#now();
    const messages: StoredBroadcast[] = [];
    for (const publication of read?.publications ?? []) {
      const entry = publication.payload;
      if (!isEntry(entry) || entry.at < sinceMs || (entry.expiresAt !== null && entry.expiresAt <= now)) continue;
      messages.push({ id: entry.id, event: entry.event, payload: entry.payload });
    }
    // Appends after the first read come too: the newest `limit` of everything read.
    return { messages: messages.slice(-replayLimit(limit)) };
  }

  /** The publications after the newest `count` of `position`'s epoch; null when `count` is 0. */
  async #read(stream: string, position: StreamPosition, count: number): Promise<StreamRead | null> {
    if (count <= 0) return null;
    return this.#pubsub.readStream(stream, { epoch: position.epoch, offset: position.offset - count });
  }
}

function tooLarge(count: number): ReplayOutcome {
  return { refused: `the newest ${count} stored broadcasts are more than this server replays at once: ask for fewer (broadcast.replay.limit)` };
}
