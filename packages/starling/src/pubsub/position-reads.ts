/**
 * @module pubsub/position-reads
 * Internal: shares the position-only reads of a history topic (`readStream(topic, null)`: what a
 * join without `recover` asks, to announce its `phx_stream` position) that PubSub cannot answer
 * from the node's own view of the stream (`StreamOrder.position`): those made before the node has
 * one — a crowd joining a room the node has just subscribed to. On a store across the network
 * (Redis) every such read is a round trip; the crowd would make one each. Here the reads of one
 * topic share a round trip, keeping the guarantee each caller
 * relies on: **the read a caller gets was issued after the caller asked** (so after its
 * subscription was in place, and no publication falls between the read and the live traffic).
 *
 * So at most two reads per topic exist: the one in flight, and the next one, which every caller
 * arriving while the first is in flight shares and which is issued when the first settles. A
 * store that answers synchronously (the in-process one) is read directly, never shared.
 */
import type { StreamRead } from './stream.ts';

interface TopicReads {
  current: Promise<StreamRead> | null;
  next: Promise<StreamRead> | null;
}

const ignore = (): void => undefined;

/** The position-only reads of every history topic, shared per topic as described above. */
export class PositionReads {
  readonly #read: (topic: string) => StreamRead | Promise<StreamRead>;
  readonly #topics = new Map<string, TopicReads>();

  /** @param read reads `topic`'s position from the store (a `since` of null) */
  constructor(read: (topic: string) => StreamRead | Promise<StreamRead>) {
    this.#read = read;
  }

  /** `topic`'s latest position, read after this call. Rejects as the store's read does. */
  read(topic: string): StreamRead | Promise<StreamRead> {
    const reads = this.#topics.get(topic);
    if (reads === undefined) return this.#issue(topic, null);
    // Issued before this call: not ours. The next one is, once the one in flight settled.
    const current = reads.current!;
    return (reads.next ??= current.then(ignore, ignore).then(() => this.#issue(topic, reads)));
  }

  #issue(topic: string, shared: TopicReads | null): StreamRead | Promise<StreamRead> {
    const read = this.#read(topic);
    if (!(read instanceof Promise)) {
      if (shared !== null) {
        shared.next = null;
        this.#settle(topic, shared);
      }
      return read;
    }
    const reads = shared ?? { current: null, next: null };
    reads.current = read;
    reads.next = null;
    this.#topics.set(topic, reads);
    void read.then(ignore, ignore).then(() => {
      if (reads.current === read) this.#settle(topic, reads);
    });
    return read;
  }

  /** Nothing in flight any more: forget the topic unless a next read is already waiting. */
  #settle(topic: string, reads: TopicReads): void {
    reads.current = null;
    if (reads.next === null) this.#topics.delete(topic);
  }
}
