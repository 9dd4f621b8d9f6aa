/**
 * @module pubsub/stream
 * History for chosen topics (docs/recovery.md): every publication on a *history topic* is
 * appended to the topic's bounded stream and gets a {@link StreamPosition} — an `offset` that
 * grows by exactly 1 per publication within an `epoch` that changes whenever the stream's past is
 * lost. A client that rejoins with the last position it saw gets exactly what it missed.
 *
 * This module holds the vocabulary shared by PubSub, the stores (the adapters' `append` and
 * `readStream`) and the channel runtime. Pure: no I/O.
 *
 * @example
 * import { Endpoint } from 'starling-channels';
 *
 * // Rooms keep their last 500 publications for 10 minutes.
 * const endpoint = new Endpoint({ history: { topics: ['rooms:*'], size: 500, ttlMs: 600_000 } });
 */
import type { BroadcastMessage } from '../protocol.ts';
import { TopicPattern } from '../topic.ts';

/** Where a publication sits in its topic's stream. */
export interface StreamPosition {
  /** Names one unbroken past of the stream; a new epoch means everything before it is gone. Never contains `:`. */
  readonly epoch: string;
  /** 1 for the first publication of an epoch, +1 for each next one; 0 before the first. */
  readonly offset: number;
}

/** Which topics keep history, and how much (docs/recovery.md, "Server"). */
export interface HistoryOptions {
  /** Topic patterns (`"rooms:*"`, `"system"`) whose publications are kept, or a predicate. */
  topics: readonly string[] | ((topic: string) => boolean);
  /** Publications kept per topic (the oldest are dropped first); default 100. */
  size?: number | undefined;
  /** How long a publication is kept, in ms; default 300 000 (5 minutes). */
  ttlMs?: number | undefined;
  /**
   * How many topics keep a stream at once; default 1000. Beyond it the least recently published
   * topic loses its stream (and, when it comes back, gets a new epoch): a client joining a
   * million topics cannot exhaust memory.
   */
  maxTopics?: number | undefined;
  /**
   * The size of every stream together, in bytes (a payload's JSON text; Redis: the stored
   * envelope); default 67 108 864 (64 MiB). Beyond it the least recently published topics lose
   * their streams first; a topic alone over it keeps only its newest publications.
   */
  maxBytes?: number | undefined;
  /**
   * The most one recovery may replay, in bytes (each publication counted by its
   * {@link StreamRead.bytes replay size}, about the frame it becomes); default 262 144 (256 KiB).
   * A client that missed more gets no replay but `recovered: false`, and reloads its state as it
   * does past the stream's length: a small join can never make the server send megabytes. Keep it
   * well under the transports' `maxQueuedBytes` (1 MiB by default): a replay must also fit in half
   * the room its client's transport has left, or it is refused the same way (docs/recovery.md).
   */
  maxReplayBytes?: number | undefined;
}

/** The resolved bounds of every stream (what a store enforces). */
export interface StreamLimits {
  readonly size: number;
  readonly ttlMs: number;
  readonly maxTopics: number;
  readonly maxBytes: number;
  readonly maxReplayBytes: number;
}

/** What a store answers to a read: the publications after a position, or why it cannot give them. */
export interface StreamRead {
  /** The stream's latest position (offset 0 when nothing was published in this epoch). */
  readonly position: StreamPosition;
  /**
   * True when every publication after the requested position is in `publications`. False when
   * the position is from another epoch or older than what the stream keeps (then `publications`
   * is empty); also false for a read without a position.
   */
  readonly recovered: boolean;
  /** The publications after the requested position, in offset order, each with its `position`. */
  readonly publications: readonly BroadcastMessage[];
  /**
   * The replay size of the publications after the requested position, when the position could be
   * honoured: in process, per publication, its payload's JSON in UTF-8 bytes plus its topic, its
   * event and {@link REPLAY_FRAME_OVERHEAD}; in Redis, its stored entry (which holds the same, a
   * little more). Above `limits.maxReplayBytes` the store replays nothing: `recovered` is false,
   * `publications` empty, and `bytes` is over `maxReplayBytes` (a store may stop counting there).
   * 0 when nothing was missed or the position cannot be honoured for another reason.
   */
  readonly bytes: number;
}

/**
 * What a publication's frame holds besides its payload, topic and event, as the in-process store
 * counts it for a replay: the position as `ref` and the frame's punctuation (a V1 frame's keys).
 */
export const REPLAY_FRAME_OVERHEAD = 64;

/** Defaults of {@link HistoryOptions}. */
export const DEFAULT_HISTORY_LIMITS: StreamLimits = {
  size: 100,
  ttlMs: 300_000,
  maxTopics: 1000,
  maxBytes: 64 * 1024 * 1024,
  maxReplayBytes: 256 * 1024,
};

/** The wire form of a position: `"<epoch>:<offset>"`, offset in decimal. */
export function formatPosition(position: StreamPosition): string {
  return `${position.epoch}:${position.offset}`;
}

const POSITION = /^([^:]{1,64}):(0|[1-9]\d{0,15})$/;

/** Reads a wire position (`"<epoch>:<offset>"`); null for anything else (untrusted input). */
export function parsePosition(value: unknown): StreamPosition | null {
  if (typeof value !== 'string') return null;
  const match = POSITION.exec(value);
  if (match === null) return null;
  const offset = Number(match[2]);
  return Number.isSafeInteger(offset) ? { epoch: match[1] as string, offset } : null;
}

/** Resolved history settings: which topics, which bounds. */
export class History {
  readonly limits: StreamLimits;
  readonly #covers: (topic: string) => boolean;

  /** @throws RangeError for a bound that is not a positive integer */
  constructor(options: HistoryOptions) {
    const { topics } = options;
    if (typeof topics === 'function') {
      this.#covers = topics;
    } else {
      const patterns = topics.map((pattern) => TopicPattern.parse(pattern));
      this.#covers = (topic) => patterns.some((pattern) => pattern.matches(topic));
    }
    this.limits = {
      size: bound(options.size, DEFAULT_HISTORY_LIMITS.size, 'size'),
      ttlMs: bound(options.ttlMs, DEFAULT_HISTORY_LIMITS.ttlMs, 'ttlMs'),
      maxTopics: bound(options.maxTopics, DEFAULT_HISTORY_LIMITS.maxTopics, 'maxTopics'),
      maxBytes: bound(options.maxBytes, DEFAULT_HISTORY_LIMITS.maxBytes, 'maxBytes'),
      maxReplayBytes: bound(options.maxReplayBytes, DEFAULT_HISTORY_LIMITS.maxReplayBytes, 'maxReplayBytes'),
    };
  }

  /** True when `topic` keeps history. */
  covers(topic: string): boolean {
    return this.#covers(topic);
  }
}

function bound(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`history.${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}
