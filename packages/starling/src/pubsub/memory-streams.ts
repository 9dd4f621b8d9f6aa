/**
 * @module pubsub/memory-streams
 * Internal: the in-process stream store behind {@link MemoryPubSubAdapter}'s history: one bounded
 * ring of publications per topic, for every node on one {@link MemoryBus}. Its past lives and dies
 * with the process, so a restart starts new epochs. A publication's size, for `maxBytes`, is the
 * UTF-8 length of its payload as JSON (one `JSON.stringify` per publication, not per subscriber);
 * its replay size, for `maxReplayBytes`, adds its topic, its event and the rest of a frame
 * ({@link REPLAY_FRAME_OVERHEAD}), so that a read is measured without encoding anything again.
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
import { payloadJson } from '../serializer/json-text.ts';
import { REPLAY_FRAME_OVERHEAD, type StreamLimits, type StreamPosition, type StreamRead } from './stream.ts';

interface Entry {
  readonly message: BroadcastMessage;
  readonly at: number;
  /** The payload's size as JSON, for `maxBytes`. */
  readonly bytes: number;
}

/** One topic's ring: the last `count` publications, ending at `offset`, `bytes` in all. */
class TopicStream {
  readonly epoch: string;
  offset = 0;
  bytes = 0;
  #ring: Entry[] = [];
  #count = 0;
  constructor(epoch: string) {
    this.epoch = epoch;
  }

  /** Appends; returns the bytes of the publication it pushed out (0 when there was room). */
  append(entry: Entry, size: number): number {
    this.offset++;
    const slot = (this.offset - 1) % size;
    const freed = this.#count === size ? this.#entry(this.offset - size, size).bytes : 0;
    if (this.#ring.length < size && slot === this.#ring.length) this.#ring.push(entry);
    else this.#ring[slot] = entry;
    this.#count = Math.min(this.#count + 1, size);
    this.bytes += entry.bytes - freed;
    return freed;
  }

  /** Forgets publications older than `oldest` (they are contiguous at the front); returns the bytes freed. */
  expire(oldest: number, size: number): number {
    let freed = 0;
    while (this.#count > 0 && this.#entry(this.first, size).at < oldest) freed += this.dropOldest(size);
    return freed;
  }

  /** Forgets the oldest publication kept; returns its bytes. */
  dropOldest(size: number): number {
    const { bytes } = this.#entry(this.first, size);
    this.#count--;
    this.bytes -= bytes;
    return bytes;
  }

  /** How many publications are kept. */
  get count(): number {
    return this.#count;
  }

  /** The offset of the oldest publication kept, or offset + 1 when none is. */
  get first(): number {
    return this.offset - this.#count + 1;
  }

  /**
   * The publications after `after` (which must be ≥ first - 1) and their replay size; none when
   * that size is over `maxReplayBytes` (the size is then counted no further than past it).
   */
  since(after: number, size: number, maxReplayBytes: number): { publications: BroadcastMessage[]; bytes: number } {
    let bytes = 0;
    for (let offset = after + 1; offset <= this.offset && bytes <= maxReplayBytes; offset++) {
      const { message, bytes: payload } = this.#entry(offset, size);
      bytes += payload + message.topic.length + message.event.length + REPLAY_FRAME_OVERHEAD;
    }
    if (bytes > maxReplayBytes) return { publications: [], bytes };
    const publications: BroadcastMessage[] = [];
    for (let offset = after + 1; offset <= this.offset; offset++) publications.push(this.#entry(offset, size).message);
    return { publications, bytes };
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
  /** The payload bytes of every publication kept, all topics together. */
  #bytes = 0;

  /**
   * Appends `message` to its topic's stream; returns it with its position (a new object). Then
   * enforces `maxBytes`: the least recently published topics lose their streams, and if this
   * topic alone is over, its oldest publications go (its newest one always stays).
   * @throws StarlingError `ERR_INVALID_PAYLOAD` (appending nothing) for a payload that is not JSON
   */
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
    const bytes = Buffer.byteLength(payloadJson(message));
    this.#bytes += bytes - stream.append({ message: positioned, at: now, bytes }, limits.size);
    this.#bytes -= stream.expire(now - limits.ttlMs, limits.size);
    while (this.#bytes > limits.maxBytes && this.#streams.size > 1) this.#evictOldest();
    while (this.#bytes > limits.maxBytes && stream.count > 1) this.#bytes -= stream.dropOldest(limits.size);
    return positioned;
  }

  /** The publications of `topic` after `since`; see {@link StreamRead}. */
  read(topic: string, since: StreamPosition | null, limits: StreamLimits, now: number): StreamRead {
    const stream = this.#streams.get(topic);
    if (stream === undefined) {
      const position = { epoch: this.#currentEpoch(), offset: 0 };
      const recovered = since !== null && since.epoch === position.epoch && since.offset === 0;
      return { position, recovered, publications: [], bytes: 0 };
    }
    this.#bytes -= stream.expire(now - limits.ttlMs, limits.size);
    const position = { epoch: stream.epoch, offset: stream.offset };
    if (since === null || since.epoch !== stream.epoch || since.offset > stream.offset || since.offset < stream.first - 1) {
      return { position, recovered: false, publications: [], bytes: 0 };
    }
    const { publications, bytes } = stream.since(since.offset, limits.size, limits.maxReplayBytes);
    return { position, recovered: bytes <= limits.maxReplayBytes, publications, bytes };
  }

  #currentEpoch(): string {
    return `${this.#epoch}.${this.#generation}`;
  }

  #evictOldest(): void {
    const oldest = this.#streams.entries().next();
    if (oldest.done === true) return;
    const [topic, stream] = oldest.value;
    this.#streams.delete(topic);
    this.#bytes -= stream.bytes;
    this.#generation++;
  }
}
