/**
 * @module presence
 * Who is on a topic. A channel tracks itself under a key (`track`), the tracker broadcasts a
 * `presence_diff` to the topic, and `list` gives the current `presence_state` payload. Entries
 * belong to an owner (one joined channel); when the owner ends, `untrackAll` removes them and the
 * leaves are broadcast.
 *
 * Each node owns the entries of its own channels; {@link PresenceCluster} replicates them to
 * the other nodes over the PubSub, so `list` is cluster-wide and every node dispatches each diff
 * to its local subscribers exactly once.
 *
 * @example
 * // in a channel, after the join:
 * socket.track(userId, { online_at: Date.now() });
 * socket.push('presence_state', presence.list(socket.topic));
 */
import { ErrorCodes, StarlingError } from '../errors.ts';
import { Events } from '../protocol.ts';
import type { PubSub } from '../pubsub/pubsub.ts';
import { PresenceCluster, type PresenceClusterOptions } from './presence-cluster.ts';
import {
  groupByKey,
  isSafePresenceKey,
  newPhxRef,
  presenceDiff,
  type PresenceEntry,
  type PresenceList,
  type PresenceMeta,
  type TrackedMeta,
} from './presence-state.ts';

/** Whoever owns tracked entries (a joined channel); compared by identity. */
export type PresenceOwner = object;

/**
 * Tracks presences per topic and broadcasts their diffs.
 *
 * Guarantees (pinned by `test/unit/presence/` and the presence conformance tests):
 * - **ownership**: an entry belongs to the owner (a joined channel) that tracked it, on the node
 *   that tracked it; only that owner changes it, and when the channel ends — leave, crash, stop,
 *   socket closed — `untrackAll` removes its entries, one `presence_diff` of leaves per topic;
 * - **one diff per change, once per subscriber**: every `track`, `update` and `untrack` is one
 *   `presence_diff` on the topic (`update`: the new meta in joins, the old in leaves, linked by
 *   `phx_ref_prev`); each node delivers it to its **local** subscribers only
 *   (`PubSub.localBroadcast`), so no subscriber gets one twice and none is appended to a stream;
 * - **order per owner**: one owner's diffs reach every subscriber in the order they were made;
 *   a channel's client gets `presence_state` before the diff of its own first `track`;
 * - **cluster-wide, eventually consistent**: `list` is this node's entries plus its replica of
 *   every other node's; replicas converge to the union of all live nodes' entries (see
 *   {@link PresenceCluster}); a PubSub outage delays convergence, it loses nothing that is still
 *   tracked once replication resumes (a node that sees a gap asks for a full state);
 * - **failure**: a node that shuts down (`stop`) is dropped by the others at once; one that dies
 *   is dropped after `downAfterMs` (+ one heartbeat), its entries reported as leaves;
 * - **untrusted keys**: a key that is not a safe string is refused with `ERR_PRESENCE` (so is
 *   tracking the same key twice for one owner and topic), never stored.
 */
export class Presence {
  /** topic → owner → key → meta */
  readonly #topics = new Map<string, Map<PresenceOwner, Map<string, TrackedMeta>>>();
  /** owner → topics it tracks in, for `untrackAll`. */
  readonly #owners = new Map<PresenceOwner, Set<string>>();

  readonly #cluster: PresenceCluster;

  private readonly pubsub: PubSub;
  constructor(pubsub: PubSub, options: PresenceClusterOptions = {}) {
    this.pubsub = pubsub;
    this.#cluster = new PresenceCluster(
      pubsub,
      () => [...this.#localEntries()],
      (topic, joins, leaves) => this.#dispatch(topic, joins, leaves),
      options,
    );
  }

  /** Joins the cluster: announces this node and starts heartbeats. Call after the PubSub started. */
  start(): Promise<void> {
    return this.#cluster.start();
  }

  /** Leaves the cluster: the other nodes drop this node's entries at once. */
  stop(): void {
    this.#cluster.stop();
  }

  /** Ids of the other nodes whose presences this node currently sees. */
  get peers(): string[] {
    return this.#cluster.nodes;
  }

  /**
   * Tracks `owner` under `key` on `topic` and broadcasts the join.
   * @returns the tracked meta (with its `phx_ref`)
   * @throws StarlingError `ERR_PRESENCE` if (owner, topic, key) is already tracked or the key is unsafe
   */
  track(owner: PresenceOwner, topic: string, key: string, meta: PresenceMeta = {}): TrackedMeta {
    if (!isSafePresenceKey(key)) {
      throw new StarlingError(ErrorCodes.presence, `presence key ${JSON.stringify(key)} is not allowed`);
    }
    const keys = this.#keysOf(owner, topic, true);
    if (keys.has(key)) {
      throw new StarlingError(ErrorCodes.presence, `${JSON.stringify(key)} is already tracked on ${topic}`);
    }
    const tracked: TrackedMeta = { ...meta, phx_ref: newPhxRef() };
    keys.set(key, tracked);
    this.#broadcastDiff(topic, [{ key, meta: tracked }], []);
    return tracked;
  }

  /** Replaces the meta of a tracked key: one diff with the new meta in joins and the old in leaves. */
  update(owner: PresenceOwner, topic: string, key: string, meta: PresenceMeta): TrackedMeta {
    const keys = this.#keysOf(owner, topic, false);
    const old = keys?.get(key);
    if (keys === undefined || old === undefined) {
      throw new StarlingError(ErrorCodes.presence, `${JSON.stringify(key)} is not tracked on ${topic}`);
    }
    const tracked: TrackedMeta = { ...meta, phx_ref: newPhxRef(), phx_ref_prev: old.phx_ref };
    keys.set(key, tracked);
    this.#broadcastDiff(topic, [{ key, meta: tracked }], [{ key, meta: old }]);
    return tracked;
  }

  /** Stops tracking `key` for `owner` on `topic`; broadcasts the leave. Unknown keys are ignored. */
  untrack(owner: PresenceOwner, topic: string, key: string): void {
    const keys = this.#keysOf(owner, topic, false);
    const old = keys?.get(key);
    if (keys === undefined || old === undefined) return;
    keys.delete(key);
    if (keys.size === 0) this.#forget(owner, topic);
    this.#broadcastDiff(topic, [], [{ key, meta: old }]);
  }

  /** Removes every entry of `owner` (its channel ended), one diff per topic. */
  untrackAll(owner: PresenceOwner): void {
    const topics = this.#owners.get(owner);
    if (topics === undefined) return;
    for (const topic of [...topics]) {
      const keys = this.#keysOf(owner, topic, false);
      this.#forget(owner, topic);
      if (keys === undefined || keys.size === 0) continue;
      const leaves = [...keys].map(([key, meta]) => ({ key, meta }));
      this.#broadcastDiff(topic, [], leaves);
    }
  }

  /** The `presence_state` payload of `topic`: this node's entries and every other node's. */
  list(topic: string): PresenceList {
    return groupByKey(this.#entries(topic));
  }

  *#entries(topic: string): Iterable<PresenceEntry> {
    const owners = this.#topics.get(topic);
    if (owners !== undefined) {
      for (const keys of owners.values()) {
        for (const [key, meta] of keys) yield { key, meta };
      }
    }
    yield* this.#cluster.entries(topic);
  }

  *#localEntries(): Iterable<{ topic: string; key: string; meta: TrackedMeta }> {
    for (const [topic, owners] of this.#topics) {
      for (const keys of owners.values()) {
        for (const [key, meta] of keys) yield { topic, key, meta };
      }
    }
  }

  #keysOf(owner: PresenceOwner, topic: string, create: true): Map<string, TrackedMeta>;
  #keysOf(owner: PresenceOwner, topic: string, create: false): Map<string, TrackedMeta> | undefined;
  #keysOf(owner: PresenceOwner, topic: string, create: boolean): Map<string, TrackedMeta> | undefined {
    let owners = this.#topics.get(topic);
    if (owners === undefined) {
      if (!create) return undefined;
      owners = new Map();
      this.#topics.set(topic, owners);
    }
    let keys = owners.get(owner);
    if (keys === undefined && create) {
      keys = new Map();
      owners.set(owner, keys);
      let topics = this.#owners.get(owner);
      if (topics === undefined) this.#owners.set(owner, (topics = new Set()));
      topics.add(topic);
    }
    return keys;
  }

  #forget(owner: PresenceOwner, topic: string): void {
    const owners = this.#topics.get(topic);
    owners?.delete(owner);
    if (owners?.size === 0) this.#topics.delete(topic);
    const topics = this.#owners.get(owner);
    topics?.delete(topic);
    if (topics?.size === 0) this.#owners.delete(owner);
  }

  /** A change of this node's own entries: diff to local subscribers, delta to the other nodes. */
  #broadcastDiff(topic: string, joins: PresenceEntry[], leaves: PresenceEntry[]): void {
    this.#dispatch(topic, joins, leaves);
    this.#cluster.publishDelta(
      joins.map((entry) => ({ topic, ...entry })),
      leaves.map((entry) => ({ topic, ...entry })),
    );
  }

  /** Every node delivers each diff to its own subscribers only, so nobody gets one twice. */
  #dispatch(topic: string, joins: PresenceEntry[], leaves: PresenceEntry[]): void {
    this.pubsub.localBroadcast(topic, Events.presenceDiff, presenceDiff(joins, leaves));
  }
}
