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
 * The order of a topic starts with the first publication seen after the node subscribed to it —
 * or, when reads of the topic's stream were answered before that publication (see
 * {@link StreamOrder.observe}), at the earliest position they answered, so that what falls between
 * that position and the first publication is read back like any gap — and is forgotten, with
 * those reads, when the node's last subscriber leaves.
 *
 * The order is also **the node's view** of each stream ({@link StreamOrder.position}): the position
 * after which every publication is still to be dispatched here. A subscriber added now receives
 * every publication after it, so it answers a join's position-only read without a round trip.
 */
import type { BroadcastMessage, StreamPosition } from '../protocol.ts';
import type { StreamRead } from './stream.ts';

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

/** Positions a topic's stream was read at since the node subscribed, before any publication was dispatched. */
interface Baseline {
  readonly epoch: string;
  /** The earliest: the order starts there once publications arrive. */
  floor: number;
  /** The latest: the node's view until then. */
  latest: number;
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
  readonly #baselines = new Map<string, Baseline>();
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
    this.#baselines.delete(topic);
  }

  /**
   * A read of `topic`'s stream answered `position`; it was issued while this node subscribed to
   * the topic (its subscription in place), so every publication after `position` reaches this node.
   * Before the first publication is dispatched such reads are the node's view of the stream, and
   * the earliest of them is where the order starts; afterwards the order knows better.
   */
  observe(topic: string, position: StreamPosition): void {
    if (this.#topics.has(topic)) return;
    const baseline = this.#baselines.get(topic);
    if (baseline === undefined || baseline.epoch !== position.epoch) {
      this.#baselines.set(topic, { epoch: position.epoch, floor: position.offset, latest: position.offset });
      return;
    }
    baseline.floor = Math.min(baseline.floor, position.offset);
    baseline.latest = Math.max(baseline.latest, position.offset);
  }

  /**
   * The node's view of `topic`'s stream: a position after which every publication is yet to be
   * dispatched to the topic's local subscribers, in order and without gap — the last one
   * dispatched, or before any, the latest read {@link observe}d. Null when there is neither.
   *
   * It may be behind the stream (publications in flight to this node, or missed while the
   * adapter's backend was unreachable: those are read back as a gap when the next publication
   * reveals it), never ahead of it.
   */
  position(topic: string): StreamPosition | null {
    const order = this.#topics.get(topic);
    if (order !== undefined) return { epoch: order.epoch, offset: order.offset };
    const baseline = this.#baselines.get(topic);
    return baseline === undefined ? null : { epoch: baseline.epoch, offset: baseline.latest };
  }

  #accept(message: BroadcastMessage, from: S | null): void {
    const position = message.position as StreamPosition;
    let order = this.#topics.get(message.topic);
    if (order === undefined) order = this.#start(message.topic, position);
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

  /**
   * The order of `topic` at its first publication (at `position`): from the earliest read
   * observed in the same epoch (just before the publication at the latest), or none.
   */
  #start(topic: string, position: StreamPosition): TopicOrder<S> | undefined {
    const baseline = this.#baselines.get(topic);
    this.#baselines.delete(topic);
    if (baseline === undefined || baseline.epoch !== position.epoch) return undefined;
    const order: TopicOrder<S> = { epoch: baseline.epoch, offset: Math.min(baseline.floor, position.offset - 1), held: null };
    this.#topics.set(topic, order);
    return order;
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
