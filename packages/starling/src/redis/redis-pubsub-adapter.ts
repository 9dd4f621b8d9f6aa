/**
 * @module redis/redis-pubsub-adapter
 * The Redis PubSub adapter: scale-out across several Starling nodes sharing one Redis. It is
 * interest-based — one Redis channel per topic, `<prefix>:t:<topic>`, which a node SUBSCRIBEs
 * only while it has a local subscriber of that topic — so a node receives only the topics it
 * serves. Each broadcast is one PUBLISH of a versioned binary envelope (see
 * {@link module:redis/envelope}), so binary payloads travel byte for byte.
 *
 * Two connections per node: a publisher (PUBLISH only) and a subscriber (Redis puts a
 * subscribing connection in a mode where it can do nothing else).
 *
 * @example
 * const pubsub = new PubSub({ adapter: new RedisPubSubAdapter({ url: process.env.REDIS_URL, prefix: 'chat' }) });
 * await pubsub.start(); // rejects with ERR_PUBSUB_ADAPTER if Redis is unreachable for 5 s
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { Clock } from '../clock.ts';
import { consoleLogger, withFields, type Logger } from '../logger.ts';
import { realClock, settleWithin } from '../runtime/clock.ts';
import { ErrorCodes, StarlingError } from '../errors.ts';
import type { BroadcastMessage, StreamPosition } from '../protocol.ts';
import type { PubSubNode } from '../pubsub/adapter.ts';
import type { HistoryAdapter } from '../pubsub/history-adapter.ts';
import { redacted, shutdown, whenReady } from './connection.ts';
import type { StreamLimits, StreamRead } from '../pubsub/stream.ts';
import { envelopeHeader } from './envelope.ts';
import { decodeInbound, deliverInbound, encodeAppend, encodeBroadcast, type Relay } from './relay.ts';
import { RedisStreams } from './redis-streams.ts';

/** Options of {@link RedisPubSubAdapter}. */
export interface RedisPubSubAdapterOptions {
  /** Redis to connect to; default `redis://127.0.0.1:6379`. */
  url?: string | undefined;
  /**
   * Prefix of every channel, so several apps share one Redis; default `'starling'`. Nodes of one
   * cluster must use the same prefix. Choose prefixes none of which starts with another plus `:t:`.
   */
  prefix?: string | undefined;
  /** Where connection trouble and malformed messages are logged (a pino logger fits). Default: `consoleLogger()` (warnings and errors on stderr). */
  logger?: Logger | undefined;
  /**
   * Extra ioredis options for both connections (TLS, auth, …). The adapter overrides
   * `lazyConnect`, `enableOfflineQueue`, `maxRetriesPerRequest`, `autoResubscribe` and
   * `autoResendUnfulfilledCommands`: its guarantees depend on them.
   */
  redisOptions?: RedisOptions | undefined;
  /** How long `start` waits for both connections; default 5000 ms. */
  connectTimeoutMs?: number | undefined;
  /**
   * The time source of the adapter's own timeouts (`connectTimeoutMs`, QUIT on close, `flush`);
   * default the real clock. ioredis's reconnect back-off keeps its own timers.
   */
  clock?: Clock | undefined;
  /** Cap of the back-off between reconnect attempts; default 1000 ms. */
  maxReconnectDelayMs?: number | undefined;
  /**
   * Publishes sent but not yet acknowledged beyond which new ones are dropped; default 10 000.
   * Bounds memory when the connection is up but Redis stops answering.
   */
  maxPendingPublishes?: number | undefined;
}

/** Counters of one {@link RedisPubSubAdapter}. */
export interface RedisPubSubStats {
  /** Broadcasts Redis acknowledged. */
  readonly published: number;
  /** Broadcasts not sent: Redis unreachable, connection lost before the reply, too many pending, not started or closed, payload not encodable. */
  readonly dropped: number;
  /** Broadcasts from other nodes handed to the local PubSub. */
  readonly received: number;
  /** Messages on our channels that could not be decoded (unknown envelope version, truncated, …) and were dropped. */
  readonly malformed: number;
}

type State = 'idle' | 'starting' | 'started' | 'closed';

const DEFAULT_URL = 'redis://127.0.0.1:6379';
// Redis accepts many channels per SUBSCRIBE; chunks keep one command (and its reply) moderate.
const RESUBSCRIBE_CHUNK = 1000;
// How long `flush` waits for its marker: past it the marker was lost with a connection.
const FLUSH_TIMEOUT_MS = 2000;

/**
 * Carries broadcasts between nodes through Redis pub/sub.
 *
 * Guarantees (those of {@link HistoryAdapter} and its `PubSubAdapter`, made concrete):
 * - **at-most-once, best effort**: Redis pub/sub stores nothing; a node not subscribed at the
 *   moment of a PUBLISH never sees it, and nothing is retried (a PUBLISH whose connection drops
 *   before the reply is counted as dropped, never re-sent, so never duplicated).
 * - **outages**: while Redis is unreachable `publish` drops and counts (`stats.dropped`) instead of
 *   queueing — memory stays bounded and stale broadcasts are not replayed later. Local subscribers
 *   are unaffected: {@link PubSub} dispatches locally itself, so an outage degrades the cluster to
 *   independent single nodes. Both connections reconnect by themselves (back-off capped by
 *   `maxReconnectDelayMs`); once the subscriber is back every topic of current interest is
 *   SUBSCRIBEd again, so broadcasts resume within about a second of Redis returning. Connection
 *   errors are logged, never thrown.
 * - **order per publisher**: one publisher connection per node, and Redis delivers the messages
 *   of one connection in order; an outage removes messages from the sequence, never reorders it.
 * - **no echo**: a node's own envelopes (same origin = this node's id) are discarded on receipt —
 *   except publications on history topics, which every node, the publishing one included, delivers
 *   from the subscription, so that all of them see the stream's order.
 * - **history** (docs/recovery.md): `append` runs one Lua script that gives the publication the
 *   topic's next offset, stores it (trimmed by size and age, at most `maxTopics` topics) and
 *   PUBLISHes it; `readStream` reads a topic's stream. See {@link module:redis/redis-streams}.
 * - **interest**: `subscribe` resolves once Redis confirmed the SUBSCRIBE; while Redis is
 *   unreachable it resolves at once and the subscription is made on reconnect. Messages for a
 *   topic no longer of interest (in flight during an UNSUBSCRIBE) are discarded.
 * - **encode once**: the publishing node encodes one envelope per broadcast, whatever the number of
 *   receiving nodes; each receiving node decodes it once and hands it once to its PubSub, which
 *   encodes it once per serializer for all its local subscribers.
 * - **untrusted input**: anything on our channels that does not decode (another envelope version,
 *   truncated, foreign) is dropped, counted in `stats.malformed` and logged with back-off.
 * - **start**: resolves once both connections are ready; if Redis is not reachable within
 *   `connectTimeoutMs` it rejects with `ERR_PUBSUB_ADAPTER` and closes both connections (the
 *   adapter is then unusable; make a new one to retry).
 * - **close**: QUITs both connections and resolves when they are closed; nothing is delivered
 *   after it was called.
 */
export class RedisPubSubAdapter implements HistoryAdapter {
  readonly #channelPrefix: string;
  readonly #url: string;
  readonly #logger: Logger;
  readonly #connectTimeoutMs: number;
  readonly #clock: Clock;
  readonly #maxPending: number;
  readonly #publisher: Redis;
  readonly #subscriber: Redis;
  readonly #streams: RedisStreams;
  /** Topics with a local subscriber: what the subscriber connection should be subscribed to. */
  readonly #interest = new Set<string>();
  readonly #stats = { published: 0, dropped: 0, received: 0, malformed: 0 };
  #state: State = 'idle';
  #starting: Promise<void> | null = null;
  #node: PubSubNode | null = null;
  #header: Buffer | null = null;
  #relay: Relay | null = null;
  #pending = 0;
  /** The last publish or append sent (it never rejects): what `flush` waits for first. */
  #lastWrite: Promise<void> = Promise.resolve();
  /** This node's own channel for `flush` markers, outside the topics' namespace. */
  #flushChannel: Buffer | null = null;
  /** `flush` markers on their way back, by their text. */
  readonly #markers = new Map<string, () => void>();
  #markerSeq = 0;

  constructor(options: RedisPubSubAdapterOptions = {}) {
    const prefix = options.prefix ?? 'starling';
    this.#url = options.url ?? DEFAULT_URL;
    this.#channelPrefix = `${prefix}:t:`;
    this.#logger = withFields(options.logger ?? consoleLogger(), { component: 'redis-pubsub' });
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    this.#clock = options.clock ?? realClock;
    this.#maxPending = options.maxPendingPublishes ?? 10_000;
    const maxDelay = options.maxReconnectDelayMs ?? 1000;
    const redisOptions: RedisOptions = {
      retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 10), maxDelay),
      ...options.redisOptions,
      lazyConnect: true,
      // Offline commands are rejected, not queued: an outage drops publishes (bounded memory, no
      // stale replay) and subscriptions are restored by #resubscribe, not by a queue.
      enableOfflineQueue: false,
      // 0: commands in flight when the connection drops are rejected at once (ioredis would
      // otherwise hold them, unsettled, until reconnect).
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      // We re-subscribe ourselves from #interest, the source of truth, after every reconnect.
      autoResubscribe: false,
    };
    // Named for CLIENT LIST: which app, which role.
    const name = options.redisOptions?.connectionName ?? prefix;
    this.#publisher = new Redis(this.#url, { ...redisOptions, connectionName: `${name}:pub` });
    this.#subscriber = new Redis(this.#url, { ...redisOptions, connectionName: `${name}:sub` });
    this.#streams = new RedisStreams(this.#publisher, prefix, this.#channelPrefix);
    this.#watch(this.#publisher, 'publisher');
    this.#watch(this.#subscriber, 'subscriber');
    this.#subscriber.on('messageBuffer', (channel, message) => this.#receive(channel, message));
    this.#subscriber.on('ready', () => {
      // The first `ready` is handled by start(); later ones are reconnects.
      if (this.#state === 'started') void this.#resubscribe();
    });
  }

  /** Counters since construction (a snapshot). */
  /** Both connections to Redis (publishing and subscribing) are up and this adapter is started. */
  isConnected(): boolean {
    return this.#state === 'started' && this.#publisher.status === 'ready' && this.#subscriber.status === 'ready';
  }

  get stats(): RedisPubSubStats {
    return { ...this.#stats };
  }

  async start(node: PubSubNode): Promise<void> {
    if (this.#state !== 'idle') throw new StarlingError(ErrorCodes.adapter, `RedisPubSubAdapter cannot start: it is ${this.#state}`);
    this.#header = envelopeHeader(node.id);
    this.#flushChannel = Buffer.from(`${this.#channelPrefix.slice(0, -'t:'.length)}flush:${node.id}`, 'utf8');
    this.#node = node;
    this.#relay = { node, header: this.#header, interest: this.#interest, stats: this.#stats, logger: this.#logger, broker: 'Redis' };
    this.#state = 'starting';
    this.#starting = this.#connect();
    try {
      await this.#starting;
    } finally {
      this.#starting = null;
    }
  }

  async subscribe(topic: string): Promise<void> {
    if (this.#state === 'closed') return;
    this.#interest.add(topic);
    // Before start, the start itself subscribes everything of interest.
    if (this.#starting !== null) await this.#starting.catch(() => undefined);
    if (this.#state !== 'started' || !this.#interest.has(topic)) return;
    // Only when ready: a SUBSCRIBE slipped in during the connection handshake would turn the
    // connection into subscriber mode before ioredis's ready check, which then fails.
    if (this.#subscriber.status !== 'ready') return;
    try {
      await this.#subscriber.subscribe(this.#channel(topic));
    } catch (err) {
      this.#logger.debug({ err, topic }, 'SUBSCRIBE failed; retried on reconnect');
    }
  }

  async unsubscribe(topic: string): Promise<void> {
    if (!this.#interest.delete(topic)) return;
    // When not ready there is nothing to undo: a new connection starts with no subscriptions.
    if (this.#state !== 'started' || this.#subscriber.status !== 'ready') return;
    try {
      await this.#subscriber.unsubscribe(this.#channel(topic));
    } catch (err) {
      this.#logger.debug({ err, topic }, 'UNSUBSCRIBE failed');
    }
  }

  publish(message: BroadcastMessage): void {
    const relay = this.#relay;
    if (this.#state !== 'started' || relay === null || this.#publisher.status !== 'ready' || this.#pending >= this.#maxPending) {
      this.#stats.dropped++;
      return;
    }
    const envelope = encodeBroadcast(relay, message);
    if (envelope === null) return;
    this.#pending++;
    this.#lastWrite = this.#publisher.publish(this.#channel(message.topic), envelope).then(
      () => {
        this.#pending--;
        this.#stats.published++;
      },
      () => {
        this.#pending--;
        this.#stats.dropped++;
      },
    );
  }

  /**
   * Appends to the topic's stream in Redis and publishes, in one Lua script (see
   * {@link module:redis/redis-streams}); every node subscribed to the topic, this one included,
   * receives it in offset order. When Redis is unreachable (or too many are pending) it is dropped
   * and counted, like a publish, and `lost` is called.
   */
  append(message: BroadcastMessage, publishId: number, limits: StreamLimits): void {
    const relay = this.#relay;
    if (this.#state !== 'started' || relay === null || this.#publisher.status !== 'ready' || this.#pending >= this.#maxPending) {
      this.#stats.dropped++;
      this.#node?.lost(publishId, message.topic);
      return;
    }
    const parts = encodeAppend(relay, message, publishId);
    if (parts === null) return;
    this.#pending++;
    this.#lastWrite = this.#streams.append(message.topic, parts.head, parts.body, limits).then(
      () => {
        this.#pending--;
        this.#stats.published++;
      },
      (err: unknown) => {
        this.#pending--;
        this.#stats.dropped++;
        this.#logger.debug({ err, topic: message.topic }, 'append failed');
        this.#node?.lost(publishId, message.topic);
      },
    );
  }

  /** Reads the topic's stream in Redis; rejects with `ERR_PUBSUB_ADAPTER` while Redis is unreachable. */
  async readStream(topic: string, since: StreamPosition | null, limits: StreamLimits): Promise<StreamRead> {
    if (this.#state !== 'started' || this.#publisher.status !== 'ready') {
      throw new StarlingError(ErrorCodes.adapter, `cannot read the stream of ${topic}: Redis at ${redacted(this.#url)} is not reachable`);
    }
    try {
      return await this.#streams.read(topic, since, limits);
    } catch (err) {
      throw err instanceof StarlingError ? err : new StarlingError(ErrorCodes.adapter, `reading the stream of ${topic} failed`, { cause: err });
    }
  }

  /**
   * Waits for this node's writes sent so far to be answered, then PUBLISHes a marker on this node's
   * own flush channel and waits until the subscriber connection receives it: Redis keeps one
   * connection's commands in order and delivers to a subscriber in order, so every publication this
   * node appended before has then been delivered here. Resolves at once while Redis is unreachable,
   * and after 2 s if the marker was lost with a connection.
   */
  async flush(): Promise<void> {
    const channel = this.#flushChannel;
    const ready = (): boolean => this.#state === 'started' && this.#publisher.status === 'ready' && this.#subscriber.status === 'ready';
    if (channel === null || !ready()) return;
    await this.#lastWrite;
    try {
      await this.#subscriber.subscribe(channel);
    } catch {
      return;
    }
    const marker = String(++this.#markerSeq);
    const back = new Promise<void>((resolve) => {
      const done = (): void => {
        this.#clock.clearTimeout(timer);
        this.#markers.delete(marker);
        resolve();
      };
      const timer = this.#clock.setTimeout(done, FLUSH_TIMEOUT_MS);
      timer.unref?.();
      this.#markers.set(marker, done);
    });
    this.#publisher.publish(channel, marker).catch(() => this.#markers.get(marker)?.());
    await back;
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    for (const done of [...this.#markers.values()]) done();
    this.#state = 'closed';
    this.#node = null;
    this.#relay = null;
    this.#interest.clear();
    await Promise.all([shutdown(this.#publisher, this.#clock), shutdown(this.#subscriber, this.#clock)]);
  }

  #channel(topic: string): string {
    return this.#channelPrefix + topic;
  }

  async #connect(): Promise<void> {
    const ready = Promise.all([whenReady(this.#publisher), whenReady(this.#subscriber)]);
    this.#publisher.connect().catch(() => undefined);
    this.#subscriber.connect().catch(() => undefined);
    const outcome = await settleWithin(ready, this.#connectTimeoutMs, this.#clock);
    if (outcome.kind !== 'resolved') {
      if (this.#state === 'starting') await this.close();
      if (outcome.kind === 'timeout')
        throw new StarlingError(ErrorCodes.adapter, `Redis at ${redacted(this.#url)} not reachable within ${this.#connectTimeoutMs} ms`);
      const err = outcome.error;
      throw err instanceof StarlingError ? err : new StarlingError(ErrorCodes.adapter, 'RedisPubSubAdapter closed while starting', { cause: err });
    }
    if (this.#state !== 'starting') throw new StarlingError(ErrorCodes.adapter, 'RedisPubSubAdapter closed while starting');
    this.#state = 'started';
    await this.#resubscribe();
    this.#logger.debug({ url: redacted(this.#url) }, 'connected');
  }

  /** Subscribes everything of interest (after connecting and after every reconnect). */
  async #resubscribe(): Promise<void> {
    const channels = [...this.#interest].map((topic) => this.#channel(topic));
    for (let i = 0; i < channels.length; i += RESUBSCRIBE_CHUNK) {
      try {
        await this.#subscriber.subscribe(...channels.slice(i, i + RESUBSCRIBE_CHUNK));
      } catch (err) {
        // The connection dropped again; the next `ready` starts over.
        this.#logger.debug({ err }, 'resubscribe interrupted');
        return;
      }
    }
    if (channels.length > 0) this.#logger.debug({ topics: channels.length }, 'resubscribed');
  }

  #receive(channel: Buffer, bytes: Buffer): void {
    const relay = this.#relay;
    if (relay === null) return;
    const received = decodeInbound(relay, bytes, channel, (topic) => channel.toString('utf8') === this.#channel(topic));
    if (received !== null) deliverInbound(relay, received);
  }

  /**
   * Logs connection trouble once per outage (ioredis emits an error per reconnect attempt), and
   * says which: a connection that was never made is "unreachable", one that was is "lost".
   */
  #watch(client: Redis, role: 'publisher' | 'subscriber'): void {
    let down = false;
    let everReady = false;
    client.on('error', (err: unknown) => {
      if (this.#state === 'closed' || this.#state === 'idle') return;
      if (down) {
        this.#logger.debug({ err, role }, 'Redis still unreachable');
        return;
      }
      down = true;
      const url = redacted(this.#url);
      if (everReady) this.#logger.warn({ err, role, url }, 'Redis connection lost; broadcasts to other nodes are dropped until it is back');
      else this.#logger.warn({ err, role, url }, 'Redis unreachable: never connected; broadcasts to other nodes are dropped until it answers');
    });
    client.on('ready', () => {
      everReady = true;
      if (!down) return;
      down = false;
      this.#logger.info({ role, url: redacted(this.#url) }, 'Redis connection restored');
    });
  }
}
