/**
 * @module presence/presence-cluster
 * Replicates presence between nodes over the PubSub, after Phoenix.Tracker's idea (§9.4): every
 * node owns its own entries and is the only one to change them; it publishes each change as a
 * numbered delta and, when idle, a heartbeat. Every node keeps a replica of every other node's
 * entries, turns remote changes into `presence_diff`s for its **local** subscribers only (so no
 * diff is delivered twice), asks for a full state when it sees a gap in a node's numbering, and
 * drops a node that stays silent for `downAfterMs` (reporting its entries as leaves). A node that
 * shuts down says goodbye and is dropped at once. A restarted node has a new id: a new replica.
 *
 * Guarantees: eventually consistent — every node converges to the union of all live nodes'
 * entries; a dead node's entries leave within `downAfterMs + heartbeatMs`.
 */
import type { Clock, ClockTimer } from '../clock.ts';
import type { BroadcastMessage } from '../protocol.ts';
import { realClock } from '../runtime/clock.ts';
import type { PubSub, Subscriber } from '../pubsub/pubsub.ts';
import type { PresenceEntry, TrackedMeta } from './presence-state.ts';

/** The internal topic every node's presence replica subscribes to. */
export const PRESENCE_CLUSTER_TOPIC = 'starling:presence';
/** Version of the replication messages; a node ignores messages of another version. */
const FORMAT = 1;

/** Timing of replication. */
export interface PresenceClusterOptions {
  /** A heartbeat is published this often. Default 1,500 ms (Phoenix's broadcast period). */
  heartbeatMs?: number | undefined;
  /** A node silent this long is down: its entries leave. Default 10,000 ms. */
  downAfterMs?: number | undefined;
  /** The time source of heartbeats and of `downAfterMs`; default the real clock (a test passes a `ManualClock`). */
  clock?: Clock | undefined;
}

/** One entry on the wire: topic, key, meta (whose `phx_ref` identifies it). */
interface WireEntry {
  readonly topic: string;
  readonly key: string;
  readonly meta: TrackedMeta;
}

type ClusterMessage =
  | { readonly v: number; readonly kind: 'delta'; readonly node: string; readonly seq: number; readonly joins: WireEntry[]; readonly leaves: WireEntry[] }
  | { readonly v: number; readonly kind: 'heartbeat'; readonly node: string; readonly seq: number }
  | { readonly v: number; readonly kind: 'hello'; readonly node: string }
  | { readonly v: number; readonly kind: 'sync'; readonly node: string; readonly target: string }
  | { readonly v: number; readonly kind: 'state'; readonly node: string; readonly seq: number; readonly entries: WireEntry[] }
  | { readonly v: number; readonly kind: 'goodbye'; readonly node: string };

interface RemoteNode {
  seq: number;
  lastSeen: number;
  /** Whether a full state has been received (deltas before it cannot be trusted). */
  synced: boolean;
  /** topic → phx_ref → entry */
  readonly topics: Map<string, Map<string, PresenceEntry>>;
}

/** Where remote changes go: per-topic joins and leaves to dispatch locally. */
export type RemoteDiffSink = (topic: string, joins: PresenceEntry[], leaves: PresenceEntry[]) => void;

/** The replica of every other node's presence entries, kept current over the PubSub. */
export class PresenceCluster implements Subscriber {
  readonly #nodes = new Map<string, RemoteNode>();
  readonly #heartbeatMs: number;
  readonly #downAfterMs: number;
  #seq = 0;
  readonly #clock: Clock;
  #timer: ClockTimer | null = null;
  #lastPublished = 0;

  private readonly pubsub: PubSub;
  private readonly localEntries: () => WireEntry[];
  private readonly sink: RemoteDiffSink;
  constructor(pubsub: PubSub, localEntries: () => WireEntry[], sink: RemoteDiffSink, options: PresenceClusterOptions = {}) {
    this.pubsub = pubsub;
    this.localEntries = localEntries;
    this.sink = sink;
    this.#heartbeatMs = options.heartbeatMs ?? 1_500;
    this.#downAfterMs = options.downAfterMs ?? 10_000;
    this.#clock = options.clock ?? realClock;
  }

  /** Subscribes, announces this node and starts heartbeats. */
  async start(): Promise<void> {
    await this.pubsub.subscribe(PRESENCE_CLUSTER_TOPIC, this);
    this.#publish({ v: FORMAT, kind: 'hello', node: this.pubsub.nodeId });
    this.#schedule();
  }

  /** The next tick, one heartbeat from now; unref'd, so that a node alone never keeps the process up. */
  #schedule(): void {
    this.#timer = this.#clock.setTimeout(() => {
      this.#tick();
      if (this.#timer !== null) this.#schedule();
    }, this.#heartbeatMs);
    this.#timer.unref?.();
  }

  /** Says goodbye (others drop this node's entries at once) and stops. */
  stop(): void {
    if (this.#timer === null) return;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
    this.#publish({ v: FORMAT, kind: 'goodbye', node: this.pubsub.nodeId });
    this.pubsub.unsubscribe(PRESENCE_CLUSTER_TOPIC, this);
  }

  /** Publishes a change of this node's own entries. */
  publishDelta(joins: WireEntry[], leaves: WireEntry[]): void {
    if (this.#timer === null) return;
    this.#publish({ v: FORMAT, kind: 'delta', node: this.pubsub.nodeId, seq: ++this.#seq, joins, leaves });
  }

  /** Every remote entry of `topic`. */
  *entries(topic: string): Iterable<PresenceEntry> {
    for (const node of this.#nodes.values()) {
      const entries = node.topics.get(topic);
      if (entries !== undefined) yield* entries.values();
    }
  }

  /** Ids of the remote nodes currently known to be up. */
  get nodes(): string[] {
    return [...this.#nodes.keys()];
  }

  deliver(message: BroadcastMessage): void {
    const payload = message.payload as ClusterMessage;
    if (payload?.v !== FORMAT || payload.node === this.pubsub.nodeId) return;
    switch (payload.kind) {
      case 'hello':
        this.#touch(payload.node);
        this.#sendState();
        return;
      case 'sync':
        if (payload.target === this.pubsub.nodeId) this.#sendState();
        return;
      case 'state':
        this.#replaceState(payload.node, payload.seq, payload.entries);
        return;
      case 'delta': {
        const node = this.#touch(payload.node);
        if (!node.synced || payload.seq !== node.seq + 1) {
          // A gap (or no state yet): what we hold for this node cannot be trusted; ask for all of it.
          this.#requestSync(payload.node);
          return;
        }
        node.seq = payload.seq;
        this.#apply(node, payload.joins, payload.leaves);
        return;
      }
      case 'heartbeat': {
        const node = this.#touch(payload.node);
        if (!node.synced || payload.seq !== node.seq) this.#requestSync(payload.node);
        return;
      }
      case 'goodbye':
        this.#drop(payload.node);
        return;
    }
  }

  #publish(message: ClusterMessage): void {
    this.#lastPublished = this.#clock.now();
    // Sent "from" this subscriber: it never hears its own messages.
    this.pubsub.broadcast(PRESENCE_CLUSTER_TOPIC, message.kind, message, this);
  }

  #tick(): void {
    const now = this.#clock.now();
    for (const [id, node] of this.#nodes) {
      if (now - node.lastSeen > this.#downAfterMs) this.#drop(id);
    }
    if (now - this.#lastPublished >= this.#heartbeatMs - 50) {
      this.#publish({ v: FORMAT, kind: 'heartbeat', node: this.pubsub.nodeId, seq: this.#seq });
    }
  }

  #sendState(): void {
    this.#publish({ v: FORMAT, kind: 'state', node: this.pubsub.nodeId, seq: this.#seq, entries: this.localEntries() });
  }

  #requestSync(target: string): void {
    this.#publish({ v: FORMAT, kind: 'sync', node: this.pubsub.nodeId, target });
  }

  #touch(id: string): RemoteNode {
    let node = this.#nodes.get(id);
    if (node === undefined) {
      node = { seq: 0, lastSeen: this.#clock.now(), synced: false, topics: new Map() };
      this.#nodes.set(id, node);
    }
    node.lastSeen = this.#clock.now();
    return node;
  }

  /** Replaces a node's entries with a full state, dispatching the difference. */
  #replaceState(id: string, seq: number, entries: WireEntry[]): void {
    const node = this.#touch(id);
    const incoming = new Set(entries.map((entry) => entry.meta.phx_ref));
    const leaves: WireEntry[] = [];
    for (const [topic, byRef] of node.topics) {
      for (const [ref, entry] of byRef) if (!incoming.has(ref)) leaves.push({ topic, ...entry });
    }
    const joins = entries.filter((entry) => !node.topics.get(entry.topic)?.has(entry.meta.phx_ref));
    node.seq = seq;
    node.synced = true;
    this.#apply(node, joins, leaves);
  }

  #drop(id: string): void {
    const node = this.#nodes.get(id);
    if (node === undefined) return;
    this.#nodes.delete(id);
    for (const [topic, byRef] of node.topics) this.sink(topic, [], [...byRef.values()]);
  }

  #apply(node: RemoteNode, joins: WireEntry[], leaves: WireEntry[]): void {
    const changed = new Map<string, { joins: PresenceEntry[]; leaves: PresenceEntry[] }>();
    const changesOf = (topic: string) => {
      let change = changed.get(topic);
      if (change === undefined) changed.set(topic, (change = { joins: [], leaves: [] }));
      return change;
    };
    for (const { topic, key, meta } of leaves) {
      const byRef = node.topics.get(topic);
      if (byRef === undefined || !byRef.delete(meta.phx_ref)) continue;
      if (byRef.size === 0) node.topics.delete(topic);
      changesOf(topic).leaves.push({ key, meta });
    }
    for (const { topic, key, meta } of joins) {
      let byRef = node.topics.get(topic);
      if (byRef === undefined) node.topics.set(topic, (byRef = new Map()));
      byRef.set(meta.phx_ref, { key, meta });
      changesOf(topic).joins.push({ key, meta });
    }
    for (const [topic, change] of changed) this.sink(topic, change.joins, change.leaves);
  }
}
