/**
 * @module pubsub/memory-streams
 * Internal: the in-process stream store behind {@link MemoryPubSubAdapter}'s history: one bounded
 * ring of publications per topic, for every node on one {@link MemoryBus}. Its past lives and dies
 * with the process, so a restart starts new epochs.
 *
 * Epochs: every topic's epoch is `<store epoch>.<generation>`, where the store epoch is random per
 * store and the generation counts the streams evicted so far (by `maxTopics`). A topic that never
 * published is read as offset 0 of the current generation *without* creating anything, so reads
 * cost no memory; when it is later created in the same generation, a client holding that position
 * recovers from 0. A stream created again after an eviction gets a higher generation than any
 * position handed out for the evicted one, so no stale position can match it.
 */
import { randomBytes } from 'node:crypto';
import type { BroadcastMessage } from '../protocol.ts';
import type { StreamLimits, StreamPosition, StreamRead } from './stream.ts';

interface Entry {
  readonly message: BroadcastMessage;
  readonly at: number;
}

/** One topic's ring: the last `count` publications, ending at `offset`. */
class TopicStream {
  readonly epoch: string;
  offset = 0;
  #ring: Entry[] = [];
  #count = 0;
  constructor(epoch: string) {
    this.epoch = epoch;
  }

  append(message: BroadcastMessage, size: number, at: number): void {
    this.offset++;
    const entry = { message, at };
    const slot = (this.offset - 1) % size;
    if (this.#ring.length < size && slot === this.#ring.length) this.#ring.push(entry);
    else this.#ring[slot] = entry;
    this.#count = Math.min(this.#count + 1, size);
  }

  /** Forgets publications older than `oldest` (they are contiguous at the front). */
  expire(oldest: number, size: number): void {
    while (this.#count > 0 && this.#entry(this.offset - this.#count + 1, size).at < oldest) this.#count--;
  }

  /** The offset of the oldest publication kept, or offset + 1 when none is. */
  get first(): number {
    return this.offset - this.#count + 1;
  }

  /** The publications after `after` (which must be ≥ first - 1). */
  since(after: number, size: number): BroadcastMessage[] {
    const out: BroadcastMessage[] = [];
    for (let offset = after + 1; offset <= this.offset; offset++) out.push(this.#entry(offset, size).message);
    return out;
  }

  #entry(offset: number, size: number): Entry {
    return this.#ring[(offset - 1) % size] as Entry;
  }
}

/** In-process streams for every node of one bus. */
export class MemoryStreams {
  readonly #epoch = randomBytes(6).toString('base64url');
  #generation = 0;
  /** In order of last append: the first entry is the least recently published topic. */
  readonly #streams = new Map<string, TopicStream>();

  /** Appends `message` to its topic's stream; returns it with its position (a new object). */
  append(message: BroadcastMessage, limits: StreamLimits, now: number): BroadcastMessage {
    let stream = this.#streams.get(message.topic);
    if (stream === undefined) {
      // The epoch of this generation, then the eviction moves the generation on: the evicted
      // topic, when created again, gets a later one than any position handed out for it.
      stream = new TopicStream(this.#currentEpoch());
      if (this.#streams.size >= limits.maxTopics) this.#evictOldest();
    } else {
      this.#streams.delete(message.topic); // re-inserted below: most recently published
    }
    this.#streams.set(message.topic, stream);
    const positioned = { topic: message.topic, event: message.event, payload: message.payload, position: { epoch: stream.epoch, offset: stream.offset + 1 } };
    stream.append(positioned, limits.size, now);
    stream.expire(now - limits.ttlMs, limits.size);
    return positioned;
  }

  /** The publications of `topic` after `since`; see {@link StreamRead}. */
  read(topic: string, since: StreamPosition | null, limits: StreamLimits, now: number): StreamRead {
    const stream = this.#streams.get(topic);
    if (stream === undefined) {
      const position = { epoch: this.#currentEpoch(), offset: 0 };
      const recovered = since !== null && since.epoch === position.epoch && since.offset === 0;
      return { position, recovered, publications: [] };
    }
    stream.expire(now - limits.ttlMs, limits.size);
    const position = { epoch: stream.epoch, offset: stream.offset };
    if (since === null || since.epoch !== stream.epoch || since.offset > stream.offset || since.offset < stream.first - 1) {
      return { position, recovered: false, publications: [] };
    }
    return { position, recovered: true, publications: stream.since(since.offset, limits.size) };
  }

  #currentEpoch(): string {
    return `${this.#epoch}.${this.#generation}`;
  }

  #evictOldest(): void {
    const oldest = this.#streams.keys().next();
    if (oldest.done === true) return;
    this.#streams.delete(oldest.value);
    this.#generation++;
  }
}
