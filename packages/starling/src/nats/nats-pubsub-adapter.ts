/**
 * @module nats/nats-pubsub-adapter
 * The NATS PubSub adapter: scale-out across several Starling nodes sharing a NATS server (or a
 * NATS cluster), with history topics kept in JetStream. It is interest-based — one core NATS
 * subject per topic, `<prefix>.t.<topic as base64url>`, which a node subscribes to only while it
 * has a local subscriber of that topic — so a node receives only the topics it serves. Each
 * broadcast is one message holding the same versioned binary envelope as the Redis adapter's
 * (see {@link module:redis/envelope}), so binary payloads travel byte for byte. One connection per
 * node, with `noEcho`: NATS does not send a node its own publishes back.
 *
 * @example
 * import { PubSub } from 'starling-channels';
 * import { NatsPubSubAdapter } from 'starling-channels/nats';
 *
 * const adapter = new NatsPubSubAdapter({ servers: process.env.NATS_URL, prefix: 'chat' });
 * const pubsub = new PubSub({ adapter, history: { topics: ['rooms:*'] } });
 * await pubsub.start(); // rejects with ERR_PUBSUB_ADAPTER if NATS is unreachable for 5 s
 */
import { connect, type NatsConnection, type Msg, type Subscription } from '@nats-io/transport-node';
import type { Clock } from '../clock.ts';
import { ErrorCodes, StarlingError } from '../errors.ts';
import { consoleLogger, withFields, type Logger } from '../logger.ts';
import type { BroadcastMessage, StreamPosition } from '../protocol.ts';
import type { PubSubNode } from '../pubsub/adapter.ts';
import type { HistoryAdapter } from '../pubsub/history-adapter.ts';
import type { StreamLimits, StreamRead } from '../pubsub/stream.ts';
import { envelopeHeader } from '../redis/envelope.ts';
import { decodeInbound, deliverInbound, encodeAppend, encodeBroadcast, type Relay } from '../redis/relay.ts';
import { realClock, settleWithin } from '../runtime/clock.ts';
import { NatsStreams } from './nats-streams.ts';
import { Subjects } from './subjects.ts';

/**
 * The NATS client's connection options the adapter passes on (a subset of `@nats-io/transport-node`'s
 * `ConnectionOptions`, restated so that this package's types do not pull in the client's, which
 * do not compile under `exactOptionalPropertyTypes` without `skipLibCheck`).
 */
export interface NatsConnectionOptions {
  /** The connection's name, as the server's monitoring shows it; default the prefix. */
  readonly name?: string | undefined;
  /** User and password authentication. */
  readonly user?: string | undefined;
  readonly pass?: string | undefined;
  /** Token authentication. */
  readonly token?: string | undefined;
  /** TLS: file paths or PEM strings of the CA, certificate and key; `handshakeFirst` for TLS-first servers. */
  readonly tls?:
    | {
        readonly handshakeFirst?: boolean | undefined;
        readonly caFile?: string | undefined;
        readonly ca?: string | undefined;
        readonly certFile?: string | undefined;
        readonly cert?: string | undefined;
        readonly keyFile?: string | undefined;
        readonly key?: string | undefined;
      }
    | undefined;
  /** How often the client pings the server, in ms (a dead connection is noticed after `maxPingOut` unanswered). */
  readonly pingInterval?: number | undefined;
  readonly maxPingOut?: number | undefined;
}

/** Options of {@link NatsPubSubAdapter}. */
export interface NatsPubSubAdapterOptions {
  /** NATS server(s) to connect to, as `nats://host:port` (several: any of one cluster); default `nats://127.0.0.1:4222`. */
  servers?: string | readonly string[] | undefined;
  /**
   * Prefix of every subject and stream name, so several apps share one NATS; default
   * `'starling'`. 1–64 of `[A-Za-z0-9_-]`. Nodes of one cluster must use the same prefix.
   */
  prefix?: string | undefined;
  /** Where connection trouble and malformed messages are logged (a pino logger fits). Default: `consoleLogger()`. */
  logger?: Logger | undefined;
  /** Credentials, TLS and pings of the NATS connection. */
  connectionOptions?: NatsConnectionOptions | undefined;
  /** How long `start` keeps trying to connect; default 5000 ms. */
  connectTimeoutMs?: number | undefined;
  /** The time source of the adapter's own timeouts (`connectTimeoutMs`, `close`, `flush`); default the real clock. */
  clock?: Clock | undefined;
  /** The wait between reconnect attempts; default 1000 ms. */
  maxReconnectDelayMs?: number | undefined;
  /** Appends sent but not yet acknowledged beyond which new ones are lost; default 10 000. */
  maxPendingPublishes?: number | undefined;
  /** Where JetStream keeps history streams: `'file'` (default; they survive a server restart) or `'memory'`. */
  storage?: 'file' | 'memory' | undefined;
  /** Replicas of the history streams in a JetStream cluster; default 1. */
  replicas?: number | undefined;
  /** How long a JetStream request (an append, a read) may take; default 2000 ms. */
  requestTimeoutMs?: number | undefined;
}

/** Counters of one {@link NatsPubSubAdapter}. */
export interface NatsPubSubStats {
  /** Broadcasts handed to the connection, and appends JetStream stored. */
  readonly published: number;
  /** Broadcasts and appends not sent or not stored: NATS unreachable, too many pending, not started or closed, payload not encodable. */
  readonly dropped: number;
  /** Broadcasts from other nodes (and history publications of every node) handed to the local PubSub. */
  readonly received: number;
  /** Messages on our subjects that could not be decoded and were dropped. */
  readonly malformed: number;
}

type State = 'idle' | 'starting' | 'started' | 'closed';

const DEFAULT_SERVERS = 'nats://127.0.0.1:4222';
const CLOSE_TIMEOUT_MS = 2000;
const FLUSH_TIMEOUT_MS = 2000;

/**
 * Carries broadcasts between nodes through NATS, and keeps the streams of history topics in
 * JetStream.
 *
 * Guarantees (those of {@link HistoryAdapter} and its `PubSubAdapter`, made concrete):
 * - **at-most-once, best effort** for plain topics: core NATS stores nothing; a node not
 *   subscribed at the moment of a publish never sees it; nothing is retried.
 * - **one step, one order** for history topics: `append` stores the publication in the
 *   JetStream stream `<prefix>-history` with the topic's next offset, guarded by
 *   `Nats-Expected-Last-Subject-Sequence` so that no two nodes take the same offset, and
 *   JetStream itself republishes what it stored on the topic's subject, in stream order — so every
 *   node, this one included (with its `publishId`), receives the topic's publications in offset
 *   order from one source, and nothing the stream refused. See {@link module:nats/nats-streams}
 *   for offsets, epochs (a stream lost and created again starts new epochs) and bounds.
 * - **order per publisher**: one connection per node, and NATS keeps one connection's messages
 *   in order; a node's appends to one topic are sent one after another (one in flight per topic),
 *   so they take offsets in the order they were made. That caps one node's appends to one topic
 *   at one per JetStream round trip.
 * - **holes**: a node that missed republished messages (a reconnect, a slow consumer) sees the
 *   gap in the offsets of the next one, and PubSub reads the missing ones from the stream.
 * - **outages**: while NATS is unreachable `publish` drops and counts (`stats.dropped`) instead of
 *   letting the client buffer them for later, `append` calls `lost(publishId, topic)`, and `readStream` rejects with
 *   `ERR_PUBSUB_ADAPTER`. Local subscribers of plain topics are unaffected. The connection
 *   reconnects by itself every `maxReconnectDelayMs` and restores every subscription of interest.
 *   An append whose acknowledgement is lost (timeout) is counted lost and never retried, so never
 *   duplicated — it may still have been stored, and then it is delivered.
 * - **no echo**: the connection is `noEcho`, and a node also discards envelopes of its own origin
 *   — except history publications, which come back from JetStream, not from the node.
 * - **interest**: `subscribe` resolves once the server has the subscription (a flush round trip);
 *   while NATS is unreachable it resolves at once and the subscription is made on reconnect.
 * - **untrusted input**: anything on our subjects that does not decode, or whose topic does not
 *   match its subject, is dropped, counted in `stats.malformed` and logged with back-off.
 * - **start**: resolves once connected; if NATS is not reachable within `connectTimeoutMs` it
 *   rejects with `ERR_PUBSUB_ADAPTER` (the adapter is then unusable; make a new one to retry).
 * - **close**: drains nothing, closes the connection and resolves when it is closed (2 s at
 *   most); nothing is delivered after it was called.
 */
export class NatsPubSubAdapter implements HistoryAdapter {
  readonly #servers: string[];
  readonly #subjects: Subjects;
  readonly #logger: Logger;
  readonly #options: NatsPubSubAdapterOptions;
  readonly #connectTimeoutMs: number;
  readonly #clock: Clock;
  readonly #maxPending: number;
  /** Topics with a local subscriber, and their subscription. */
  readonly #interest = new Map<string, Subscription | null>();
  readonly #stats = { published: 0, dropped: 0, received: 0, malformed: 0 };
  /** This node's appends in flight, chained per topic (one at a time per topic). */
  readonly #queues = new Map<string, Promise<void>>();
  #state: State = 'idle';
  #starting: Promise<void> | null = null;
  #node: PubSubNode | null = null;
  #header: Buffer | null = null;
  #relay: Relay | null = null;
  #nc: NatsConnection | null = null;
  #streams: NatsStreams | null = null;
  #up = false;
  #pending = 0;

  /** @throws RangeError for a prefix that is not 1–64 of `[A-Za-z0-9_-]` */
  constructor(options: NatsPubSubAdapterOptions = {}) {
    const servers = options.servers ?? DEFAULT_SERVERS;
    this.#servers = typeof servers === 'string' ? servers.split(',').map((s) => s.trim()) : [...servers];
    this.#subjects = new Subjects(options.prefix ?? 'starling');
    this.#logger = withFields(options.logger ?? consoleLogger(), { component: 'nats-pubsub' });
    this.#options = options;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    this.#clock = options.clock ?? realClock;
    this.#maxPending = options.maxPendingPublishes ?? 10_000;
  }

  /** Counters since construction (a snapshot). */
  get stats(): NatsPubSubStats {
    return { ...this.#stats };
  }

  /** The connection to NATS is up and this adapter is started. */
  isConnected(): boolean {
    return this.#state === 'started' && this.#up;
  }

  async start(node: PubSubNode): Promise<void> {
    if (this.#state !== 'idle') throw new StarlingError(ErrorCodes.adapter, `NatsPubSubAdapter cannot start: it is ${this.#state}`);
    this.#header = envelopeHeader(node.id);
    this.#node = node;
    this.#relay = { node, header: this.#header, interest: this.#interest, stats: this.#stats, logger: this.#logger, broker: 'NATS' };
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
    if (!this.#interest.has(topic)) this.#interest.set(topic, null);
    // Before start, the start itself subscribes everything of interest.
    if (this.#starting !== null) await this.#starting.catch(() => undefined);
    if (this.#state !== 'started' || !this.#interest.has(topic)) return;
    this.#subscribeNow(topic);
    await this.#roundTrip();
  }

  async unsubscribe(topic: string): Promise<void> {
    const subscription = this.#interest.get(topic);
    if (!this.#interest.delete(topic)) return;
    try {
      subscription?.unsubscribe();
    } catch (err) {
      this.#logger.debug({ err, topic }, 'unsubscribe failed');
    }
  }

  publish(message: BroadcastMessage): void {
    const relay = this.#relay;
    const nc = this.#nc;
    if (this.#state !== 'started' || relay === null || nc === null || !this.#up) {
      this.#stats.dropped++;
      return;
    }
    const envelope = encodeBroadcast(relay, message);
    if (envelope === null) return;
    try {
      nc.publish(this.#subjects.topic(message.topic), envelope);
      this.#stats.published++;
    } catch (err) {
      this.#stats.dropped++;
      this.#logger.error({ err, topic: message.topic, event: message.event }, 'broadcast not sent to other nodes');
    }
  }

  /**
   * Appends to the topic's JetStream stream (see {@link module:nats/nats-streams}); JetStream
   * republishes it to every node subscribed to the topic, this one included. When NATS is
   * unreachable (or too many are pending) it is dropped, counted and `lost` is called.
   */
  append(message: BroadcastMessage, publishId: number, limits: StreamLimits): void {
    const relay = this.#relay;
    const streams = this.#streams;
    if (this.#state !== 'started' || relay === null || streams === null || !this.#up || this.#pending >= this.#maxPending) {
      this.#stats.dropped++;
      this.#node?.lost(publishId, message.topic);
      return;
    }
    const parts = encodeAppend(relay, message, publishId);
    if (parts === null) return;
    this.#pending++;
    const topic = message.topic;
    const previous = this.#queues.get(topic) ?? Promise.resolve();
    const appended = previous
      .then(() => streams.append(topic, parts.head, parts.body, limits))
      .then(
        () => {
          this.#pending--;
          this.#stats.published++;
        },
        (err: unknown) => {
          this.#pending--;
          this.#stats.dropped++;
          this.#logger.debug({ err, topic }, 'append failed');
          this.#node?.lost(publishId, message.topic);
        },
      );
    this.#queues.set(topic, appended);
    void appended.then(() => {
      if (this.#queues.get(topic) === appended) this.#queues.delete(topic);
    });
  }

  /** Reads the topic's stream in JetStream; rejects with `ERR_PUBSUB_ADAPTER` while NATS is unreachable. */
  async readStream(topic: string, since: StreamPosition | null, limits: StreamLimits): Promise<StreamRead> {
    const streams = this.#streams;
    if (this.#state !== 'started' || streams === null || !this.#up) {
      throw new StarlingError(ErrorCodes.adapter, `cannot read the stream of ${topic}: NATS at ${this.#servers.join(',')} is not reachable`);
    }
    try {
      return await streams.read(topic, since, limits);
    } catch (err) {
      throw err instanceof StarlingError ? err : new StarlingError(ErrorCodes.adapter, `reading the stream of ${topic} failed`, { cause: err });
    }
  }

  /**
   * Waits for this node's appends in flight to be acknowledged — JetStream republishes a message
   * before it acknowledges it, on the same ordered path, so this node has then received its own —
   * then for a PING round trip, so the server has every publish sent before. Resolves at once while
   * NATS is unreachable, and within 2 s in any case.
   */
  async flush(): Promise<void> {
    await Promise.all([...this.#queues.values()]);
    await this.#roundTrip();
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#node = null;
    this.#relay = null;
    this.#interest.clear();
    const nc = this.#nc;
    this.#nc = null;
    this.#up = false;
    if (nc !== null) await settleWithin(nc.close(), CLOSE_TIMEOUT_MS, this.#clock);
  }

  async #connect(): Promise<void> {
    const deadline = this.#clock.now() + this.#connectTimeoutMs;
    let lastError: unknown;
    let nc: NatsConnection | null = null;
    const unreachable = (): StarlingError =>
      new StarlingError(ErrorCodes.adapter, `NATS at ${this.#servers.join(',')} not reachable within ${this.#connectTimeoutMs} ms`, { cause: lastError });
    while (nc === null) {
      if (this.#state !== 'starting') throw new StarlingError(ErrorCodes.adapter, 'NatsPubSubAdapter closed while starting');
      const left = deadline - this.#clock.now();
      if (left <= 0) {
        this.#logger.warn({ err: lastError, servers: this.#servers }, 'NATS unreachable: never connected');
        this.#state = 'closed';
        throw unreachable();
      }
      const attempt = await settleWithin(
        connect({
          name: this.#subjects.prefix,
          reconnectTimeWait: this.#options.maxReconnectDelayMs ?? 1000,
          ...withoutUndefined(this.#options.connectionOptions ?? {}),
          servers: this.#servers,
          timeout: Math.max(1, Math.min(left, 2000)),
          noEcho: true,
          reconnect: true,
          maxReconnectAttempts: -1,
        }),
        left,
        this.#clock,
      );
      if (attempt.kind === 'resolved') nc = attempt.value;
      else {
        if (attempt.kind === 'rejected') lastError = attempt.error;
        await new Promise<void>((resolve) => this.#clock.setTimeout(resolve, 100));
      }
    }
    if (this.#state !== 'starting') {
      await nc.close();
      throw new StarlingError(ErrorCodes.adapter, 'NatsPubSubAdapter closed while starting');
    }
    this.#nc = nc;
    this.#up = true;
    this.#streams = new NatsStreams(nc, this.#subjects, {
      storage: this.#options.storage ?? 'file',
      replicas: this.#options.replicas ?? 1,
      requestTimeoutMs: this.#options.requestTimeoutMs ?? 2000,
      clock: this.#clock,
    });
    this.#state = 'started';
    void this.#watch(nc);
    for (const topic of this.#interest.keys()) this.#subscribeNow(topic);
    await this.#roundTrip();
    this.#logger.debug({ servers: this.#servers }, 'connected');
  }

  /** Subscribes the topic's subject unless it is already; the client restores it after reconnects. */
  #subscribeNow(topic: string): void {
    const nc = this.#nc;
    if (nc === null || this.#interest.get(topic) != null) return;
    this.#interest.set(
      topic,
      nc.subscribe(this.#subjects.topic(topic), {
        callback: (err, msg) => {
          if (err === null) this.#receive(topic, msg);
          else this.#logger.warn({ err, topic }, 'NATS subscription failed');
        },
      }),
    );
  }

  /** A PING/PONG with the server, bounded; skipped while the connection is down. */
  async #roundTrip(): Promise<void> {
    const nc = this.#nc;
    if (nc === null || !this.#up) return;
    await settleWithin(nc.flush(), FLUSH_TIMEOUT_MS, this.#clock);
  }

  #receive(topic: string, msg: Msg): void {
    const relay = this.#relay;
    if (relay === null) return;
    const received = decodeInbound(relay, msg.data, msg.subject, (decoded) => decoded === topic);
    if (received === null) return;
    if (received.message.position !== undefined) {
      const seq = Number(msg.headers?.get('Nats-Sequence'));
      if (Number.isSafeInteger(seq) && seq > 0) this.#streams?.learn(topic, seq, received.message.position);
    }
    deliverInbound(relay, received);
  }

  /** Follows the connection's status: up or down, logged once per outage. */
  async #watch(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (this.#nc !== nc) return;
      if (status.type === 'disconnect' && this.#up) {
        this.#up = false;
        this.#logger.warn({ servers: this.#servers }, 'NATS connection lost; broadcasts to other nodes are dropped until it is back');
      } else if (status.type === 'reconnect' && !this.#up) {
        this.#up = true;
        this.#logger.info({ servers: this.#servers }, 'NATS connection restored');
      }
    }
  }
}

/** The options that are set (the client reads a present `undefined` as a value). */
function withoutUndefined(options: NatsConnectionOptions): Record<string, unknown> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
}
