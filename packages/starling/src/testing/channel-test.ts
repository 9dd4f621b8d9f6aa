/**
 * @module testing/channel-test
 * The in-process channel harness of `starling-channels/testing` (Phoenix.ChannelTest): connects test
 * clients to a mounted socket definition and records the broadcasts of the topics they join. The
 * clients talk to their channels through the real runtime (the same `Connection` and
 * `ChannelServer` as a WebSocket client gets), over an in-memory transport and the real V2
 * serializer. Time is a {@link ManualClock}.
 */
import { AssertionError } from 'node:assert';
import { Endpoint, type SocketMountOptions } from '../endpoint.ts';
import { silentLogger } from '../logger.ts';
import type { BroadcastMessage } from '../protocol.ts';
import type { Subscriber } from '../pubsub/pubsub.ts';
import { mountOf } from '../runtime/mounts.ts';
import type { Mount } from '../runtime/services.ts';
import { v2JsonSerializer } from '../serializer/index.ts';
import type { ConnectInfo, Params, Socket } from '../socket.ts';
import { connectSocket, openConnection } from '../transport/handshake.ts';
import { IdleSweeper, type IdleWatched } from '../transport/websocket/idle-sweeper.ts';
import { describe, expectation, listOf, matches, type PayloadMatch, type WaitOptions } from './assertions.ts';
import type { Harness } from './harness.ts';
import { Inbox } from './inbox.ts';
import { ManualClock, settle } from './manual-clock.ts';
import type { Clock } from '../clock.ts';
import type { ReceivedBroadcast } from './received.ts';
import { TestSocket, type IdleWatch } from './test-socket.ts';

/** Options of a {@link ChannelTest}. */
export interface ChannelTestOptions {
  /** Where the socket definition is mounted on the endpoint. Default `/socket`. */
  path?: string | undefined;
  /**
   * Mount options when the harness mounts a socket definition itself (rate limit, join timeout,
   * input limits, …). Ignored for an endpoint: its mount's options apply.
   */
  mount?: SocketMountOptions | undefined;
  /** How long `assert*` wait for a frame before failing, in real milliseconds. Default 1,000. */
  assertTimeoutMs?: number | undefined;
  /** How long `refute*` watch for a frame before passing, in real milliseconds. Default 100. */
  refuteTimeoutMs?: number | undefined;
  /**
   * Closes a client that sent nothing for this long (on the harness clock) with 1002 "idle
   * timeout", by the WebSocket transport's own idle sweeper; `TestSocket.heartbeat` (or any
   * frame) counts as activity. Default: no idle timeout (a test client sends no heartbeats of its own).
   */
  idleTimeoutMs?: number | undefined;
}

/** Connect info a test may set; the rest is filled in as for a local WebSocket client. */
export type TestConnectInfo = Partial<Omit<ConnectInfo, 'uri'>> & { readonly uri?: URL | undefined };

/** A socket definition's `connect` refused the test client. */
export class ConnectRefusedError extends Error {
  /** The status `connect` (or `id`) refused with, e.g. 403. */
  readonly status: number;
  constructor(status: number) {
    super(`connect refused with status ${status}`);
    this.name = 'ConnectRefusedError';
    this.status = status;
  }
}

/**
 * An in-process test client for the channels of one mounted socket definition, modelled on
 * Phoenix.ChannelTest. See the module documentation of `starling-channels/testing` for an example.
 *
 * Guarantees: frames go through the production runtime — the connect pipeline's `connect` and
 * `id`, the rate limit and input limits, join_ref rules, frames held behind a pending join, each
 * channel's mailbox — over an in-memory transport and the V2 JSON serializer. No port is opened.
 * Every timer of the runtime (rate limit, join timeout, delayed `sendInfo`, the idle timeout) runs on
 * {@link ChannelTest.clock}, which moves only with {@link ChannelTest.advance}. Assertions wait in
 * real time (for async callbacks such as database calls) and fail with an `AssertionError` that
 * lists what was received instead; they return the whole message they consumed.
 */
export class ChannelTest {
  /** The endpoint whose PubSub, Presence and tokens the channels use. */
  readonly endpoint: Endpoint;
  /** The clock of the runtime under test: advance it with {@link advance}. */
  readonly clock: ManualClock = new ManualClock();
  readonly #mount: Mount;
  readonly #ownsEndpoint: boolean;
  readonly #broadcasts = new Map<string, { inbox: Inbox<ReceivedBroadcast>; subscriber: Subscriber }>();
  readonly #sockets = new Set<TestSocket>();
  /** The WebSocket transport's idle sweeper, on this harness's clock, when `idleTimeoutMs` is set. */
  readonly #idle: IdleWatch | null;
  /** This harness as its sockets and channels see it. */
  readonly #harness: Harness;

  /**
   * @param target an endpoint with the socket definition mounted at `options.path` (its mount
   *   options apply), or a socket definition, which the harness mounts on an endpoint of its own
   *   (silent logger, in-process PubSub) with `options.mount`
   * @throws Error when no socket is mounted at `options.path` of the endpoint
   */
  constructor(target: Endpoint | Socket, options: ChannelTestOptions = {}) {
    const path = options.path ?? '/socket';
    if (target instanceof Endpoint) {
      this.endpoint = target;
      this.#ownsEndpoint = false;
    } else {
      this.endpoint = new Endpoint({ logger: silentLogger }).socket(path, target, { ...options.mount, websocket: false, longpoll: false });
      this.#ownsEndpoint = true;
    }
    const mount = mountOf(this.endpoint, path);
    if (mount === undefined) throw new Error(`no socket is mounted at ${path}`);
    // The endpoint's services (PubSub, Presence, tokens, stats), with this harness's clock.
    this.#mount = { ...mount, services: { ...mount.services, clock: this.clock } };
    this.#idle = options.idleTimeoutMs === undefined ? null : sweeperOfOwn(options.idleTimeoutMs, this.clock);
    this.#harness = {
      assertTimeoutMs: options.assertTimeoutMs ?? 1_000,
      refuteTimeoutMs: options.refuteTimeoutMs ?? 100,
      subscribe: (topic) => this.subscribe(topic),
      assertBroadcast: (topic, event, payload, waitOptions) => this.assertBroadcast(topic, event, payload, waitOptions),
      refuteBroadcast: (topic, event, payload, waitOptions) => this.refuteBroadcast(topic, event, payload, waitOptions),
    };
  }

  /**
   * Connects a client: runs the socket definition's `connect` with `params` and `info`, then its
   * `id` (Phoenix's `connect/3`). Starts the endpoint's PubSub and Presence first, as `listen`
   * does (idempotent; no HTTP server is created).
   * @throws ConnectRefusedError when `connect` refuses (or `id` returns a non-string)
   */
  async connect(params: Params = {}, info: TestConnectInfo = {}): Promise<TestSocket> {
    await this.endpoint.start();
    const connectInfo: ConnectInfo = {
      transport: info.transport ?? 'websocket',
      peer: info.peer ?? { address: '127.0.0.1', port: 0 },
      // As without trusted proxies: the client is the peer unless the test says otherwise.
      clientAddress: info.clientAddress ?? info.peer?.address ?? '127.0.0.1',
      uri: info.uri ?? new URL(`http://localhost${this.#mount.path}/websocket?vsn=2.0.0`),
      origin: info.origin,
      userAgent: info.userAgent,
      xHeaders: info.xHeaders ?? {},
      authToken: info.authToken,
    };
    const accepted = await connectSocket(this.#mount, v2JsonSerializer, params, connectInfo);
    if (!accepted.ok) throw new ConnectRefusedError(accepted.status);
    const socket: TestSocket = new TestSocket(this.#harness, {
      open: (transport) => openConnection(this.#mount, accepted, transport),
      transportName: connectInfo.transport,
      live: this.#mount.services.live,
      idle: this.#idle,
      ended: () => this.#sockets.delete(socket),
    });
    this.#sockets.add(socket);
    return socket;
  }

  /**
   * Records every broadcast on `topic` from now on, for {@link assertBroadcast}. Joining a topic
   * subscribes to it too (Phoenix's `subscribe_and_join`).
   */
  subscribe(topic: string): void {
    if (this.#broadcasts.has(topic)) return;
    const inbox = new Inbox<ReceivedBroadcast>();
    // Payloads are copied as a client would see them (JSON), so that later mutation does not leak in.
    const subscriber: Subscriber = { deliver: (message: BroadcastMessage) => inbox.add({ ...message, payload: jsonCopy(message.payload) }) };
    this.#broadcasts.set(topic, { inbox, subscriber });
    void this.endpoint.pubsub.subscribe(topic, subscriber);
  }

  /** Broadcasts from outside any channel, as `endpoint.broadcast` does. */
  broadcast(topic: string, event: string, payload: Readonly<Record<string, unknown>>): void {
    this.endpoint.broadcast(topic, event, payload);
  }

  /**
   * Waits for a broadcast of `event` on `topic` (subscribed with {@link subscribe} or a join)
   * and consumes it (Phoenix's `assert_broadcast`).
   * @returns the broadcast: topic, event, payload and, on a history topic, its position
   */
  async assertBroadcast(topic: string, event: string, payload?: PayloadMatch, options: WaitOptions = {}): Promise<ReceivedBroadcast> {
    const inbox = this.#broadcastInbox(topic, 'assertBroadcast');
    const timeoutMs = options.timeoutMs ?? this.#harness.assertTimeoutMs;
    return inbox.next(
      (message) => message.event === event && matches(message.payload, payload),
      timeoutMs,
      () =>
        new AssertionError({
          message: `assertBroadcast: no broadcast ${expectation(event, payload)} on ${topic} within ${timeoutMs} ms; unconsumed broadcasts: ${listOf(inbox.items)}`,
          actual: inbox.items.map(({ event: e, payload: p }) => ({ event: e, payload: p })),
          expected: { event, payload },
          operator: 'assertBroadcast',
        }),
    );
  }

  /** Passes when no broadcast of `event` on `topic` (matching `payload`) arrives within the timeout. */
  async refuteBroadcast(topic: string, event: string, payload?: PayloadMatch, options: WaitOptions = {}): Promise<void> {
    const inbox = this.#broadcastInbox(topic, 'refuteBroadcast');
    await inbox.refute(
      (message) => message.event === event && matches(message.payload, payload),
      options.timeoutMs ?? this.#harness.refuteTimeoutMs,
      (message) =>
        new AssertionError({
          message: `refuteBroadcast: unexpected broadcast "${event}" on ${topic}: ${describe(message.payload)}`,
          actual: message.payload,
          expected: payload,
          operator: 'refuteBroadcast',
        }),
    );
  }

  /**
   * Moves the runtime's time forward by `ms` without sleeping: due rate-limit refills, join
   * timeouts and delayed `sendInfo` messages happen, in order, and their effects settle.
   */
  advance(ms: number): Promise<void> {
    return this.clock.advance(ms);
  }

  /**
   * Lets pending async work (callbacks awaiting promises) run to completion where it can, and
   * waits for the PubSub adapter's round trip (`PubSub.flush`): with the Redis adapter, what was
   * broadcast on a history topic before the call has come back from Redis and reached the clients.
   * So a test reads the same on the in-process PubSub and on Redis.
   */
  async settle(): Promise<void> {
    await settle();
    await this.endpoint.pubsub.flush();
    await settle();
  }

  /** Closes every client of this harness, stops recording broadcasts and, if the harness created the endpoint, closes it. */
  async close(): Promise<void> {
    for (const socket of [...this.#sockets]) socket.close();
    this.#sockets.clear();
    for (const [topic, { subscriber }] of this.#broadcasts) this.endpoint.pubsub.unsubscribe(topic, subscriber);
    this.#broadcasts.clear();
    if (this.#ownsEndpoint) await this.endpoint.close();
  }

  #broadcastInbox(topic: string, operator: string): Inbox<ReceivedBroadcast> {
    const entry = this.#broadcasts.get(topic);
    if (entry === undefined) throw new Error(`${operator}: not subscribed to ${topic}; call subscribe(topic) or join it first`);
    return entry.inbox;
  }
}

/** The WebSocket transport's idle sweeper over the harness's own test sockets (they are not WebSocket handles). */
function sweeperOfOwn(timeoutMs: number, clock: Clock): IdleWatch {
  const watched = new Set<IdleWatched>();
  const sweeper = new IdleSweeper(
    timeoutMs,
    () => watched,
    (c): c is IdleWatched => watched.has(c as IdleWatched),
    clock,
  );
  return {
    add(connection) {
      watched.add(connection);
      sweeper.add(connection);
    },
    delete(connection) {
      sweeper.delete(connection);
      watched.delete(connection);
    },
  };
}

function jsonCopy(payload: unknown): unknown {
  if (typeof payload !== 'object' || payload === null || payload instanceof Uint8Array || 'binary' in payload) return payload;
  return JSON.parse(JSON.stringify(payload)) as unknown;
}
