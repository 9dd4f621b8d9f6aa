/**
 * @module redis/redis-cluster-pubsub-adapter
 * The Redis Cluster PubSub adapter: {@link RedisPubSubAdapter}'s scale-out on a Redis Cluster, so
 * that the broadcast traffic and the streams spread over several shards instead of one Redis
 * core. A topic lives in one hash slot: its stream keys and its **shard channel**
 * `<prefix>:t:{<slot tag>}:<topic>` (sharded pub/sub, `SSUBSCRIBE`/`SPUBLISH`, Redis 7), so one
 * topic's traffic stays on its shard and a node subscribes, per shard, only to the topics it
 * serves. The envelope is the standalone adapter's (see {@link module:redis/envelope}).
 *
 * @example
 * const adapter = new RedisClusterPubSubAdapter({ nodes: [{ host: 'redis-1', port: 6379 }], prefix: 'chat' });
 * const pubsub = new PubSub({ adapter, history: { topics: ['rooms:*'] } });
 * await pubsub.start(); // rejects with ERR_PUBSUB_ADAPTER if the cluster is unreachable for 5 s
 */
import { Cluster, type ClusterNode, type ClusterOptions } from 'ioredis';
import type { Clock } from '../clock.ts';
import { consoleLogger, withFields, type Logger } from '../logger.ts';
import { realClock, settleWithin } from '../runtime/clock.ts';
import { ErrorCodes, StarlingError } from '../errors.ts';
import type { BroadcastMessage, StreamPosition } from '../protocol.ts';
import type { PubSubNode } from '../pubsub/adapter.ts';
import type { HistoryAdapter } from '../pubsub/history-adapter.ts';
import type { StreamLimits, StreamRead } from '../pubsub/stream.ts';
import { slotTag, topicSlot } from './cluster-slots.ts';
import { envelopeHeader } from './envelope.ts';
import { decodeInbound, deliverInbound, encodeAppend, encodeBroadcast, type Relay } from './relay.ts';
import type { RedisPubSubStats } from './redis-pubsub-adapter.ts';
import { RedisClusterStreams } from './redis-cluster-streams.ts';

/** Options of {@link RedisClusterPubSubAdapter}. */
export interface RedisClusterPubSubAdapterOptions {
  /** Some masters of the cluster (`{host, port}` or `'host:port'`); the rest is discovered. */
  nodes: ReadonlyArray<{ host: string; port: number } | string>;
  /**
   * Prefix of every key and channel, so several apps share one cluster; default `'starling'`.
   * Nodes of one Starling cluster must use the same prefix. No `{` or `}` (hash tags are ours).
   */
  prefix?: string | undefined;
  /** Where connection trouble and malformed messages are logged. Default: `consoleLogger()`. */
  logger?: Logger | undefined;
  /**
   * Extra ioredis `Cluster` options (`redisOptions` for TLS, auth, …; `natMap`, …). The adapter
   * overrides `lazyConnect`, `enableOfflineQueue`, `retryDelayOnFailover`, `shardedSubscribers` and the nodes'
   * `maxRetriesPerRequest`: its guarantees depend on them.
   */
  clusterOptions?: ClusterOptions | undefined;
  /** How long `start` waits for the cluster; default 5000 ms. */
  connectTimeoutMs?: number | undefined;
  /** The time source of the adapter's own timeouts; default the real clock. */
  clock?: Clock | undefined;
  /** Publishes and appends sent but not yet acknowledged beyond which new ones are dropped; default 10 000. */
  maxPendingPublishes?: number | undefined;
}

type State = 'idle' | 'starting' | 'started' | 'closed';

/**
 * Carries broadcasts between nodes through a Redis Cluster's sharded pub/sub, and keeps the
 * streams of history topics on the topic's shard.
 *
 * Guarantees (the contract of {@link HistoryAdapter}, as {@link RedisPubSubAdapter} gives it, with
 * what differs on a cluster):
 * - **at-most-once, best effort; order per publisher and topic**: as standalone. Two topics may
 *   live on two shards, so the order of one publisher holds per topic, not across topics.
 * - **no echo**: a node's own envelopes are discarded on receipt, except history publications.
 * - **history** (docs/recovery.md): `append` is one Lua script on the topic's slot — next offset,
 *   store, trim by `size`, `ttlMs` and (for the topic alone) `maxBytes`, SPUBLISH — so offsets are
 *   +1 per publication and every node sees them in order. **Epochs are per slot**: a shard that
 *   restarts empty gives its topics new epochs (old positions: `recovered: false`, never a stale
 *   replay) while the other shards' topics keep theirs. `maxTopics` and `maxBytes` over all topics
 *   are kept by an index in a slot of its own, updated one round trip after each append: they may
 *   be exceeded briefly by the appends in flight, and a stream idle for a day (or `ttlMs`, if
 *   longer) expires by itself (see {@link module:redis/redis-cluster-streams}).
 * - **outage of one shard**: appends to its topics call `lost` and reads of them reject with
 *   `ERR_PUBSUB_ADAPTER`; the other shards' topics carry on. Needs the cluster to serve partial
 *   coverage (`cluster-require-full-coverage no`), or every shard stops with one.
 *   `isConnected()` stays true meanwhile (a readiness check must not take every node out for one
 *   shard), so PubSub's announcement of lost publications to the other nodes (docs/recovery.md
 *   §2.2.1) is dropped if the shard is still down when it is sent.
 * - **failover**: a replica promoted after its master died may lack the master's last writes
 *   (Redis replicates asynchronously): publications delivered just before may be absent from the
 *   stream, and their offsets given again. Use replicas for availability, knowing this.
 * - **interest**: `subscribe` resolves once the shard confirmed the SSUBSCRIBE (ioredis keeps one
 *   subscriber connection per master and re-subscribes after a topology change or a shard's
 *   reconnect; after the whole client reconnects, the adapter subscribes everything of interest).
 * - **start / close**: as standalone — `start` rejects with `ERR_PUBSUB_ADAPTER` after
 *   `connectTimeoutMs`; `close` quits and resolves when disconnected; nothing is delivered after.
 * - **flush**: waits for this node's writes to be answered; deliveries to itself are not awaited
 *   (they come from several shards: there is no one marker to send).
 */
export class RedisClusterPubSubAdapter implements HistoryAdapter {
  readonly #prefix: string;
  readonly #logger: Logger;
  readonly #connectTimeoutMs: number;
  readonly #clock: Clock;
  readonly #maxPending: number;
  readonly #redis: Cluster;
  readonly #streams: RedisClusterStreams;
  readonly #interest = new Set<string>();
  readonly #stats = { published: 0, dropped: 0, received: 0, malformed: 0 };
  #state: State = 'idle';
  #node: PubSubNode | null = null;
  #header: Buffer | null = null;
  #relay: Relay | null = null;
  #pending = 0;
  #lastWrite: Promise<void> = Promise.resolve();
  #down = false;

  constructor(options: RedisClusterPubSubAdapterOptions) {
    const prefix = options.prefix ?? 'starling';
    if (/[{}]/.test(prefix)) throw new StarlingError(ErrorCodes.adapter, `RedisClusterPubSubAdapter prefix ${JSON.stringify(prefix)} must not contain { or }`);
    if (options.nodes.length === 0) throw new StarlingError(ErrorCodes.adapter, 'RedisClusterPubSubAdapter needs at least one node');
    this.#prefix = prefix;
    this.#logger = withFields(options.logger ?? consoleLogger(), { component: 'redis-cluster-pubsub' });
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    this.#clock = options.clock ?? realClock;
    this.#maxPending = options.maxPendingPublishes ?? 10_000;
    const nodes: ClusterNode[] = options.nodes.map((node) => (typeof node === 'string' ? node : { host: node.host, port: node.port }));
    this.#redis = new Cluster(nodes, {
      clusterRetryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 10), 1000),
      ...options.clusterOptions,
      redisOptions: { connectionName: prefix, ...options.clusterOptions?.redisOptions, maxRetriesPerRequest: 0 },
      lazyConnect: true,
      shardedSubscribers: true,
      // Offline commands are rejected, not queued: an outage drops (bounded memory, no stale replay).
      enableOfflineQueue: false,
      // 0: a command sent while its shard's connection is (re)connecting is rejected, i.e. dropped
      // and counted, not retried later behind the commands sent after it (that would reorder).
      retryDelayOnFailover: 0,
    });
    this.#streams = new RedisClusterStreams(this.#redis, prefix, (topic) => this.#channel(topic));
    this.#redis.on('smessageBuffer', (channel: Buffer, message: Buffer) => this.#receive(channel, message));
    this.#redis.on('error', (err: unknown) => this.#trouble(err));
    this.#redis.on('node error', (err: unknown, key: string) => this.#trouble(err, key));
    this.#redis.on('ready', () => {
      // A later `ready` is a reconnect of the whole cluster client: SSUBSCRIBEs refused while it
      // was down are not known to ioredis, so everything of interest is subscribed again.
      if (this.#state === 'started') for (const topic of this.#interest) void this.subscribe(topic);
      if (!this.#down) return;
      this.#down = false;
      this.#logger.info({}, 'Redis Cluster connection restored');
    });
  }

  /** The cluster is reachable and this adapter is started (one shard may still be down). */
  isConnected(): boolean {
    return this.#state === 'started' && this.#redis.status === 'ready';
  }

  /** Counters since construction (a snapshot). */
  get stats(): RedisPubSubStats {
    return { ...this.#stats };
  }

  async start(node: PubSubNode): Promise<void> {
    if (this.#state !== 'idle') throw new StarlingError(ErrorCodes.adapter, `RedisClusterPubSubAdapter cannot start: it is ${this.#state}`);
    this.#header = envelopeHeader(node.id);
    this.#node = node;
    this.#relay = { node, header: this.#header, interest: this.#interest, stats: this.#stats, logger: this.#logger, broker: 'Redis' };
    this.#state = 'starting';
    const connected = this.#redis.connect();
    const outcome = await settleWithin(connected, this.#connectTimeoutMs, this.#clock);
    if (outcome.kind !== 'resolved' || this.#state !== 'starting') {
      if (this.#state === 'starting') await this.close();
      throw new StarlingError(ErrorCodes.adapter, `Redis Cluster not reachable within ${this.#connectTimeoutMs} ms`, {
        cause: outcome.kind === 'rejected' ? outcome.error : undefined,
      });
    }
    // Connect to every master now: a node's connection is made at its first command, and commands
    // sent while it connects are dropped (see retryDelayOnFailover).
    await Promise.all(this.#redis.nodes('master').map((master) => master.ping().catch(() => undefined)));
    this.#state = 'started';
    await Promise.all([...this.#interest].map((topic) => this.subscribe(topic)));
  }

  async subscribe(topic: string): Promise<void> {
    if (this.#state === 'closed') return;
    this.#interest.add(topic);
    if (this.#state !== 'started') return;
    try {
      await this.#redis.ssubscribe(this.#channel(topic));
    } catch (err) {
      this.#logger.debug({ err, topic }, 'SSUBSCRIBE failed');
    }
  }

  async unsubscribe(topic: string): Promise<void> {
    if (!this.#interest.delete(topic) || this.#state !== 'started') return;
    try {
      await this.#redis.sunsubscribe(this.#channel(topic));
    } catch (err) {
      this.#logger.debug({ err, topic }, 'SUNSUBSCRIBE failed');
    }
  }

  publish(message: BroadcastMessage): void {
    const relay = this.#relay;
    if (!this.#writable() || relay === null) {
      this.#stats.dropped++;
      return;
    }
    const envelope = encodeBroadcast(relay, message);
    if (envelope === null) return;
    this.#track(this.#redis.spublish(this.#channel(message.topic), envelope));
  }

  /** Appends to the topic's stream and SPUBLISHes, in one script on the topic's slot; drops (and calls `lost`) like a publish. */
  append(message: BroadcastMessage, publishId: number, limits: StreamLimits): void {
    const relay = this.#relay;
    if (!this.#writable() || relay === null) {
      this.#stats.dropped++;
      this.#node?.lost(publishId, message.topic);
      return;
    }
    const parts = encodeAppend(relay, message, publishId);
    if (parts === null) return;
    this.#track(this.#streams.append(message.topic, parts.head, parts.body, limits), () => this.#node?.lost(publishId, message.topic));
  }

  /** Reads the topic's stream on its shard; rejects with `ERR_PUBSUB_ADAPTER` while that shard is unreachable. */
  async readStream(topic: string, since: StreamPosition | null, limits: StreamLimits): Promise<StreamRead> {
    if (this.#state !== 'started' || this.#redis.status !== 'ready') {
      throw new StarlingError(ErrorCodes.adapter, `cannot read the stream of ${topic}: the Redis Cluster is not reachable`);
    }
    try {
      return await this.#streams.read(topic, since, limits);
    } catch (err) {
      throw err instanceof StarlingError ? err : new StarlingError(ErrorCodes.adapter, `reading the stream of ${topic} failed`, { cause: err });
    }
  }

  /** Resolves once this node's writes sent so far are answered (or failed). */
  async flush(): Promise<void> {
    await this.#lastWrite;
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#node = null;
    this.#relay = null;
    this.#interest.clear();
    const ended = new Promise<void>((resolve) => this.#redis.once('end', () => resolve()));
    if (this.#redis.status === 'ready') this.#redis.quit().catch(() => this.#redis.disconnect());
    else this.#redis.disconnect();
    await settleWithin(ended, 2000, this.#clock);
    if (this.#redis.status !== 'end') this.#redis.disconnect();
  }

  /** The topic's shard channel: in the slot of its stream keys. */
  #channel(topic: string): string {
    return `${this.#prefix}:t:{${slotTag(topicSlot(topic))}}:${topic}`;
  }

  #writable(): boolean {
    return this.#state === 'started' && this.#redis.status === 'ready' && this.#pending < this.#maxPending;
  }

  #track(write: Promise<unknown>, onFailure?: () => void): void {
    this.#pending++;
    this.#lastWrite = write.then(
      () => {
        this.#pending--;
        this.#stats.published++;
      },
      (err: unknown) => {
        this.#pending--;
        this.#stats.dropped++;
        this.#logger.debug({ err }, 'write to the Redis Cluster failed');
        onFailure?.();
      },
    );
  }

  #receive(channel: Buffer, bytes: Buffer): void {
    const relay = this.#relay;
    if (relay === null) return;
    const received = decodeInbound(relay, bytes, channel, (topic) => channel.toString('utf8') === this.#channel(topic));
    if (received !== null) deliverInbound(relay, received);
  }

  /** Logs trouble once per outage (ioredis reports every attempt). */
  #trouble(err: unknown, node?: string): void {
    if (this.#state === 'closed' || this.#state === 'idle') return;
    if (this.#down) {
      this.#logger.debug({ err, node }, 'Redis Cluster still in trouble');
      return;
    }
    this.#down = true;
    this.#logger.warn({ err, node }, 'Redis Cluster connection trouble; broadcasts and appends on the shards concerned are dropped until it is back');
  }
}
