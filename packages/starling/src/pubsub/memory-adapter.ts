/**
 * @module pubsub/memory-adapter
 * The in-process adapter: the default. Alone it is a single-node cluster (publishing goes
 * nowhere). Several {@link PubSub}s given the same {@link MemoryBus} behave as nodes of one
 * cluster inside one process — which is how the shared adapter conformance suite exercises it.
 *
 * @example
 * import { MemoryBus, MemoryPubSubAdapter, PubSub } from 'starling-channels';
 *
 * const bus = new MemoryBus();
 * const a = new PubSub({ adapter: new MemoryPubSubAdapter(bus) });
 * const b = new PubSub({ adapter: new MemoryPubSubAdapter(bus) });
 */
import type { Clock } from '../clock.ts';
import { consoleLogger, type Logger } from '../logger.ts';
import { realClock } from '../runtime/clock.ts';
import type { BroadcastMessage, StreamPosition } from '../protocol.ts';
import type { PubSubNode } from './adapter.ts';
import type { HistoryAdapter } from './history-adapter.ts';
import { MemoryStreams } from './memory-streams.ts';
import type { StreamLimits, StreamRead } from './stream.ts';

/** An in-process "network" joining several {@link MemoryPubSubAdapter}s, and their shared history. */
export class MemoryBus {
  /** The time source of the streams' `ttlMs`: one for the whole bus, as one store has one. */
  readonly clock: Clock;
  readonly adapters = new Set<MemoryPubSubAdapter>();
  /** The streams of history topics, shared by every node on the bus (lost with the process). */
  readonly streams = new MemoryStreams();
  /**
   * Publications of history topics waiting to be delivered, in offset order across the bus: one
   * queue, drained by whoever appends first, so every node — the appending one included —
   * receives them in append order even when a subscriber appends while being delivered one.
   */
  readonly appended: Array<() => void> = [];
  draining = false;

  /** @param clock default the real clock; a test passes a `ManualClock` to age publications without sleeping */
  constructor(clock: Clock = realClock) {
    this.clock = clock;
  }
}

/** Options of {@link MemoryPubSubAdapter}. */
export interface MemoryPubSubAdapterOptions {
  /** Where a subscriber that threw during a delivery is logged. Default: `consoleLogger()` (stderr). */
  logger?: Logger | undefined;
}

/** Delivers broadcasts to the other nodes on the same {@link MemoryBus}. */
export class MemoryPubSubAdapter implements HistoryAdapter {
  #node: PubSubNode | null = null;
  readonly #topics = new Set<string>();
  readonly #logger: Logger;

  /** @param bus the bus shared with the other nodes; a private one (single node) by default */
  private readonly bus: MemoryBus;
  constructor(bus: MemoryBus = new MemoryBus(), options: MemoryPubSubAdapterOptions = {}) {
    this.bus = bus;
    this.#logger = options.logger ?? consoleLogger();
  }

  async start(node: PubSubNode): Promise<void> {
    this.#node = node;
    this.bus.adapters.add(this);
  }

  async subscribe(topic: string): Promise<void> {
    this.#topics.add(topic);
  }

  async unsubscribe(topic: string): Promise<void> {
    this.#topics.delete(topic);
  }

  publish(message: BroadcastMessage): void {
    if (this.#node === null) return; // closed (or not started): cut off the bus
    this.#toPeers(message);
  }

  /**
   * Appends to the bus's stream and delivers the publication to every node of the bus that
   * subscribes to the topic (this one with `publishId`, the others a copy) before returning —
   * unless a delivery is under way, which then delivers it next, in order.
   */
  append(message: BroadcastMessage, publishId: number, limits: StreamLimits): void {
    if (this.#node === null) return; // closed: nothing is delivered, as a PubSub that is closed expects
    const { bus } = this;
    let positioned: BroadcastMessage;
    try {
      positioned = bus.streams.append(message, limits, bus.clock.now());
    } catch {
      this.#node.lost(publishId, message.topic); // not JSON: as the Redis adapter, delivered nowhere
      return;
    }
    for (const peer of bus.adapters) {
      if (peer === this) bus.appended.push(() => peer.#deliver(positioned, publishId));
      else if (peer.#topics.has(message.topic)) {
        const copy = structuredClone(positioned);
        bus.appended.push(() => peer.#deliver(copy));
      }
    }
    if (bus.draining) return;
    bus.draining = true;
    try {
      for (let next = bus.appended.shift(); next !== undefined; next = bus.appended.shift()) next();
    } finally {
      bus.draining = false;
    }
  }

  readStream(topic: string, since: StreamPosition | null, limits: StreamLimits): StreamRead {
    return this.bus.streams.read(topic, since, limits, this.bus.clock.now());
  }

  #toPeers(message: BroadcastMessage): void {
    for (const peer of this.bus.adapters) {
      if (peer === this || !peer.#topics.has(message.topic)) continue;
      // A copy per node, delivered on a later microtask, so that nodes share no objects and a
      // publisher never re-enters a remote dispatch synchronously — as over a real network.
      const copy = structuredClone(message);
      queueMicrotask(() => peer.#deliver(copy));
    }
  }

  /**
   * Hands `message` to this node, guarded as the contract asks (PubSubNode.deliver): a subscriber
   * that throws is logged, and neither escapes as an uncaught microtask nor stops the bus's queue —
   * the other nodes still get this publication and the ones after it.
   */
  #deliver(message: BroadcastMessage, publishId?: number): void {
    try {
      this.#node?.deliver(message, publishId);
    } catch (err) {
      this.#logger.error({ err, topic: message.topic, event: message.event }, 'delivering a broadcast threw');
    }
  }

  async close(): Promise<void> {
    this.bus.adapters.delete(this);
    this.#node = null;
    this.#topics.clear();
  }
}
