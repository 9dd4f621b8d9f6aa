/**
 * @module pubsub/stream-order
 * Internal: puts the publications of history topics in order on one node. An adapter may hand
 * them over out of order or with holes — Redis delivers a node's own appends and other nodes'
 * on different connections, a dropped subscriber connection loses what was published meanwhile,
 * memory-bus peers receive on a later microtask. This node's local subscribers must nevertheless
 * see each topic's stream in offset order, without gap or duplicate: a duplicate is dropped, and
 * a gap is filled by reading the missing publications from the stream before going on (what
 * arrives during that read waits behind it).
 *
 * The order of a topic starts with the first publication seen after the node subscribed to it,
 * and is forgotten when the node's last subscriber leaves.
 */
import type { BroadcastMessage } from '../protocol.ts';
import type { StreamPosition, StreamRead } from './stream.ts';

/** A publication waiting for its turn, with the subscriber it must skip (broadcastFrom). */
interface Held<S> {
  readonly message: BroadcastMessage;
  readonly from: S | null;
}

interface TopicOrder<S> {
  epoch: string;
  /** The offset last dispatched. */
  offset: number;
  /** Non-null while a gap is being read: what arrived since, in arrival order. */
  held: Array<Held<S>> | null;
}

/** What the order needs of PubSub. */
export interface StreamOrderHost<S> {
  /** Dispatches a publication to the topic's local subscribers. */
  dispatch(message: BroadcastMessage, from: S | null): void;
  /** Reads the stream after `since`. */
  read(topic: string, since: StreamPosition): StreamRead | Promise<StreamRead>;
  /** A gap was seen (`filled`: all of it was read back; otherwise the stream no longer had it). */
  gap(topic: string, filled: boolean): void;
}

/** Per-topic ordering of positioned publications. */
export class StreamOrder<S> {
  readonly #topics = new Map<string, TopicOrder<S>>();
  readonly #host: StreamOrderHost<S>;
  constructor(host: StreamOrderHost<S>) {
    this.#host = host;
  }

  /** Hands over a positioned publication of a topic this node subscribes to. */
  receive(message: BroadcastMessage, from: S | null): void {
    const order = this.#topics.get(message.topic);
    if (order?.held != null) order.held.push({ message, from });
    else this.#accept(message, from);
  }

  /** The node's last local subscriber of `topic` left. */
  forget(topic: string): void {
    this.#topics.delete(topic);
  }

  #accept(message: BroadcastMessage, from: S | null): void {
    const position = message.position as StreamPosition;
    const order = this.#topics.get(message.topic);
    if (order === undefined || order.epoch !== position.epoch) {
      this.#topics.set(message.topic, { epoch: position.epoch, offset: position.offset, held: null });
      this.#host.dispatch(message, from);
      return;
    }
    if (position.offset <= order.offset) return; // seen already
    if (position.offset === order.offset + 1) {
      order.offset = position.offset;
      this.#host.dispatch(message, from);
      return;
    }
    order.held = [{ message, from }];
    let read: StreamRead | Promise<StreamRead>;
    try {
      read = this.#host.read(message.topic, { epoch: order.epoch, offset: order.offset });
    } catch {
      read = { position, recovered: false, publications: [], bytes: 0 };
    }
    if (read instanceof Promise) {
      read.then(
        (settled) => this.#fill(order, message.topic, settled),
        () => this.#fill(order, message.topic, { position, recovered: false, publications: [], bytes: 0 }),
      );
    } else {
      this.#fill(order, message.topic, read);
    }
  }

  #fill(order: TopicOrder<S>, topic: string, read: StreamRead): void {
    if (this.#topics.get(topic) !== order) return; // forgotten meanwhile
    const held = order.held ?? [];
    order.held = null;
    this.#host.gap(topic, read.recovered);
    if (read.recovered) {
      for (const publication of read.publications) {
        const offset = (publication.position as StreamPosition).offset;
        if (offset <= order.offset) continue;
        order.offset = offset;
        this.#host.dispatch(publication, null);
      }
    } else {
      // The stream no longer has the gap: go on from the first publication held.
      const first = held[0]?.message.position;
      if (first !== undefined) order.offset = first.offset - 1;
    }
    for (let i = 0; i < held.length; i++) {
      // #accept may open another gap (TypeScript keeps the narrowing to null across the call).
      const again = order.held as Array<Held<S>> | null;
      if (again !== null) {
        again.push(...held.slice(i)); // the rest waits behind the new gap
        return;
      }
      const item = held[i] as Held<S>;
      this.#accept(item.message, item.from);
    }
  }
}
