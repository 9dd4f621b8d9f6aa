/**
 * @module testing/channel-test
 * The in-process channel harness of `starling-channels/testing` (Phoenix.ChannelTest): a client that
 * connects to a mounted socket definition and talks to its channels through the real runtime (the
 * same `Connection` and `ChannelServer` as a WebSocket client gets), over an in-memory transport
 * and the real V2 serializer. Time is a {@link ManualClock}.
 */
import { AssertionError } from 'node:assert';
import { inspect, isDeepStrictEqual } from 'node:util';
import { Endpoint, mountOf, type SocketMountOptions } from '../endpoint.ts';
import { silentLogger } from '../logger.ts';
import type { BinaryPayload, BroadcastMessage, Ref } from '../protocol.ts';
import type { Subscriber } from '../pubsub/pubsub.ts';
import type { Connection } from '../runtime/connection.ts';
import type { Mount } from '../runtime/services.ts';
import type { Frame } from '../serializer/frame.ts';
import { v2JsonSerializer } from '../serializer/index.ts';
import type { ConnectInfo, Params, Socket } from '../socket.ts';
import { connectSocket, openConnection } from '../transport/handshake.ts';
import type { LiveConnection, TransportHandle } from '../transport/transport.ts';
import { IdleSweeper, type IdleWatched } from '../transport/websocket/idle-sweeper.ts';
import { ManualClock, settle } from './manual-clock.ts';

/** Expected payload of an assertion: deep-equal to this value, or accepted by this predicate. */
export type PayloadMatch = ((payload: unknown) => boolean) | Readonly<Record<string, unknown>> | BinaryPayload;

/** How long an assertion waits, in real milliseconds. */
export interface WaitOptions {
  /** Default: the harness's `assertTimeoutMs` (assertions) or `refuteTimeoutMs` (refutations). */
  timeoutMs?: number | undefined;
}

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
   * timeout", by the WebSocket transport's own idle sweeper; {@link TestSocket.heartbeat} (or any
   * frame) counts as activity. Default: no idle timeout (a test client sends no heartbeats of its own).
   */
  idleTimeoutMs?: number | undefined;
}

/** Connect info a test may set; the rest is filled in as for a local WebSocket client. */
export type TestConnectInfo = Partial<Omit<ConnectInfo, 'uri'>> & { readonly uri?: URL | undefined };

/** A reply to a join, a leave or a push, as the client receives it. */
export interface TestReply {
  readonly status: string;
  readonly response: unknown;
}

/** One frame the server sent to a test client, decoded. */
export interface ReceivedFrame {
  readonly joinRef: Ref;
  readonly ref: Ref;
  readonly topic: string;
  readonly event: string;
  readonly payload: unknown;
}

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

const realSetTimeout = setTimeout;
const realClearTimeout = clearTimeout;

function describe(value: unknown): string {
  return inspect(value, { depth: 6, breakLength: Infinity });
}

function matches(payload: unknown, expected: PayloadMatch | undefined): boolean {
  if (expected === undefined) return true;
  if (typeof expected === 'function') return expected(payload);
  return isDeepStrictEqual(payload, expected);
}

function expectation(event: string, expected: PayloadMatch | undefined): string {
  if (expected === undefined) return `"${event}"`;
  return `"${event}" with ${typeof expected === 'function' ? 'a payload accepted by the predicate' : describe(expected)}`;
}

/** Waits (in real time) until `find` returns something, re-checking whenever `inbox` changes. */
class Inbox<T> {
  readonly items: T[] = [];
  readonly #waiters = new Set<() => void>();

  add(item: T): void {
    this.items.push(item);
    for (const waiter of [...this.#waiters]) waiter();
  }

  /** Resolves with the first item `find` accepts (removing it when `consume`), or rejects after `timeoutMs`. */
  wait(accept: (item: T) => boolean, timeoutMs: number, consume: boolean, failure: () => Error): Promise<T> {
    const take = (): T | undefined => {
      const index = this.items.findIndex(accept);
      if (index < 0) return undefined;
      const item = this.items[index]!;
      if (consume) this.items.splice(index, 1);
      return item;
    };
    const now = take();
    if (now !== undefined) return Promise.resolve(now);
    return new Promise<T>((resolve, reject) => {
      const check = (): void => {
        const found = take();
        if (found === undefined) return;
        this.#waiters.delete(check);
        realClearTimeout(timer);
        resolve(found);
      };
      const timer = realSetTimeout(() => {
        this.#waiters.delete(check);
        reject(failure());
      }, timeoutMs);
      this.#waiters.add(check);
    });
  }

  /** Resolves after `timeoutMs` when no item `accept`s, rejects as soon as one does. */
  async refute(accept: (item: T) => boolean, timeoutMs: number, failure: (item: T) => Error): Promise<void> {
    const found = await this.wait(accept, timeoutMs, false, () => new Error('none')).then(
      (item) => ({ item }),
      () => null,
    );
    if (found !== null) throw failure(found.item);
  }
}

/**
 * Decodes a frame the server wrote, as a V2 client would: a JSON array text frame, or a binary
 * frame (kind 0 push, 1 reply, 2 broadcast; §2.4).
 */
function decodeServerFrame(frame: Frame): ReceivedFrame {
  if (!frame.binary) {
    const [joinRef, ref, topic, event, payload] = JSON.parse(frame.text) as [Ref, Ref, string, string, unknown];
    return { joinRef, ref, topic, event, payload };
  }
  const data = frame.data;
  const kind = data[0];
  const sizes = kind === 2 ? [data[1]!, data[2]!] : kind === 0 ? [data[1]!, data[2]!, data[3]!] : [data[1]!, data[2]!, data[3]!, data[4]!];
  let offset = 1 + sizes.length;
  const fields = sizes.map((size) => {
    const text = data.toString('utf8', offset, offset + size);
    offset += size;
    return text;
  });
  const binary: BinaryPayload = { binary: new Uint8Array(data.subarray(offset)) };
  if (kind === 0) return { joinRef: fields[0]!, ref: null, topic: fields[1]!, event: fields[2]!, payload: binary };
  if (kind === 1) return { joinRef: fields[0]!, ref: fields[1]!, topic: fields[2]!, event: 'phx_reply', payload: { status: fields[3]!, response: binary } };
  return { joinRef: null, ref: null, topic: fields[0]!, event: fields[1]!, payload: binary };
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
 * lists what was received instead.
 */
export class ChannelTest {
  /** The endpoint whose PubSub, Presence and tokens the channels use. */
  readonly endpoint: Endpoint;
  /** The clock of the runtime under test: advance it with {@link advance}. */
  readonly clock: ManualClock = new ManualClock();
  readonly #mount: Mount;
  readonly #ownsEndpoint: boolean;
  readonly #assertTimeoutMs: number;
  readonly #refuteTimeoutMs: number;
  readonly #broadcasts = new Map<string, { inbox: Inbox<BroadcastMessage>; subscriber: Subscriber }>();
  readonly #sockets = new Set<TestSocket>();
  /** @internal The WebSocket transport's idle sweeper, on this harness's clock, when `idleTimeoutMs` is set. */
  readonly idle: IdleSweeper<IdleWatched> | null;

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
    this.#assertTimeoutMs = options.assertTimeoutMs ?? 1_000;
    this.#refuteTimeoutMs = options.refuteTimeoutMs ?? 100;
    this.idle = options.idleTimeoutMs === undefined ? null : new IdleSweeper(options.idleTimeoutMs, this.clock);
  }

  /** @internal */
  get assertTimeoutMs(): number {
    return this.#assertTimeoutMs;
  }
  /** @internal */
  get refuteTimeoutMs(): number {
    return this.#refuteTimeoutMs;
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
    const socket = new TestSocket(this, (transport) => openConnection(this.#mount, accepted, transport), connectInfo.transport);
    this.#sockets.add(socket);
    return socket;
  }

  /**
   * Records every broadcast on `topic` from now on, for {@link assertBroadcast}. Joining a topic
   * subscribes to it too (Phoenix's `subscribe_and_join`).
   */
  subscribe(topic: string): void {
    if (this.#broadcasts.has(topic)) return;
    const inbox = new Inbox<BroadcastMessage>();
    // Payloads are copied as a client would see them (JSON), so that later mutation does not leak in.
    const subscriber: Subscriber = { deliver: (message) => inbox.add({ ...message, payload: jsonCopy(message.payload) }) };
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
   * @returns its payload
   */
  async assertBroadcast(topic: string, event: string, payload?: PayloadMatch, options: WaitOptions = {}): Promise<unknown> {
    const inbox = this.#broadcastInbox(topic, 'assertBroadcast');
    const timeoutMs = options.timeoutMs ?? this.#assertTimeoutMs;
    const found = await inbox.wait(
      (message) => message.event === event && matches(message.payload, payload),
      timeoutMs,
      true,
      () =>
        new AssertionError({
          message: `assertBroadcast: no broadcast ${expectation(event, payload)} on ${topic} within ${timeoutMs} ms; unconsumed broadcasts: ${listOf(inbox.items)}`,
          actual: inbox.items.map(({ event: e, payload: p }) => ({ event: e, payload: p })),
          expected: { event, payload },
          operator: 'assertBroadcast',
        }),
    );
    return found.payload;
  }

  /** Passes when no broadcast of `event` on `topic` (matching `payload`) arrives within the timeout. */
  async refuteBroadcast(topic: string, event: string, payload?: PayloadMatch, options: WaitOptions = {}): Promise<void> {
    const inbox = this.#broadcastInbox(topic, 'refuteBroadcast');
    await inbox.refute(
      (message) => message.event === event && matches(message.payload, payload),
      options.timeoutMs ?? this.#refuteTimeoutMs,
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

  /** Lets pending async work (callbacks awaiting promises) run to completion where it can. */
  settle(): Promise<void> {
    return settle();
  }

  /** Closes every client of this harness, stops recording broadcasts and, if the harness created the endpoint, closes it. */
  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.close();
    this.#sockets.clear();
    for (const [topic, { subscriber }] of this.#broadcasts) this.endpoint.pubsub.unsubscribe(topic, subscriber);
    this.#broadcasts.clear();
    if (this.#ownsEndpoint) await this.endpoint.close();
  }

  /** @internal */
  forget(socket: TestSocket): void {
    this.#sockets.delete(socket);
  }

  /** @internal */
  get mount(): Mount {
    return this.#mount;
  }

  #broadcastInbox(topic: string, operator: string): Inbox<BroadcastMessage> {
    const entry = this.#broadcasts.get(topic);
    if (entry === undefined) throw new Error(`${operator}: not subscribed to ${topic}; call subscribe(topic) or join it first`);
    return entry.inbox;
  }
}

function jsonCopy(payload: unknown): unknown {
  if (typeof payload !== 'object' || payload === null || payload instanceof Uint8Array || 'binary' in payload) return payload;
  return JSON.parse(JSON.stringify(payload)) as unknown;
}

function listOf(items: ReadonlyArray<{ readonly event: string; readonly payload: unknown }>): string {
  return items.length === 0 ? 'none' : items.map((item) => `"${item.event}" ${describe(item.payload)}`).join(', ');
}

/** A connected test client (Phoenix's `socket` in a ChannelTest). */
export class TestSocket {
  /** The connection's id from the socket definition's `id`, or null. */
  readonly id: string | null;
  /** @internal Frames received and not yet consumed by an assertion. */
  readonly inbox = new Inbox<ReceivedFrame>();
  readonly #harness: ChannelTest;
  readonly #connection: Connection;
  readonly #live: LiveConnection;
  readonly #idle: IdleWatched | null;
  #bytesSent = 0;
  #ref = 0;
  #closed: { readonly code: number; readonly reason: string } | null = null;

  /** @internal */
  constructor(harness: ChannelTest, open: (transport: TransportHandle) => Connection, transportName: string) {
    this.#harness = harness;
    const transport: TransportHandle = {
      name: transportName,
      send: (frame) => this.inbox.add(decodeServerFrame(frame)),
      close: (code, reason) => {
        if (this.#closed === null) this.#closed = { code, reason };
        this.#end();
      },
    };
    this.#connection = open(transport);
    this.id = this.#connection.socketId;
    this.#live = { connection: this.#connection, transport };
    harness.mount.services.live.add(this.#live);
    this.#idle = null;
    if (harness.idle !== null) {
      this.#idle = { idleBytes: 0, idleSweep: 0, bytesRead: () => this.#bytesSent, close: (code, reason) => transport.close(code, reason) };
      harness.idle.add(this.#idle);
    }
  }

  /** Every frame the server sent that no `assertPush` has consumed yet, in order. */
  get received(): readonly ReceivedFrame[] {
    return this.inbox.items;
  }

  /** How the server closed this client (close code and reason), or null while open or after {@link close}. */
  get closedBy(): { readonly code: number; readonly reason: string } | null {
    return this.#closed;
  }

  /** True once the connection ended (closed by the server or by {@link close}). */
  get closed(): boolean {
    return this.#connection.closed;
  }

  /**
   * Joins `topic` with `params` (runs the channel's `join`) and subscribes the harness to the
   * topic's broadcasts. Resolves with the join reply once it arrives — an async join still
   * running when the join timeout falls due is answered after {@link ChannelTest.advance}.
   */
  async join(topic: string, params: Readonly<Record<string, unknown>> = {}): Promise<TestJoin> {
    this.#harness.subscribe(topic);
    const ref = this.nextRef();
    this.send({ joinRef: ref, ref, topic, event: 'phx_join', payload: params });
    const reply = await this.awaitReply(ref, topic, 'join', this.#harness.assertTimeoutMs);
    return { ...reply, channel: new TestChannel(this, this.#harness, topic, ref) };
  }

  /** Disconnects, as a client closing its WebSocket: every channel terminates with `{shutdown: "closed"}`. */
  close(): void {
    this.#end();
  }

  /**
   * Sends one frame as the client would, through the serializer and the runtime (for frames the
   * other methods do not produce: stale join refs, oversized topics, heartbeats).
   */
  send(message: { readonly joinRef: Ref; readonly ref: Ref; readonly topic: string; readonly event: string; readonly payload: unknown }): void {
    const data = Buffer.from(JSON.stringify([message.joinRef, message.ref, message.topic, message.event, message.payload]), 'utf8');
    this.#bytesSent += data.length;
    void this.#connection.handleFrame(data, false);
  }

  /** Sends a heartbeat (phoenix.js sends one every 30 s) and resolves with its reply. */
  heartbeat(): Promise<TestReply> {
    const ref = this.nextRef();
    this.send({ joinRef: null, ref, topic: 'phoenix', event: 'heartbeat', payload: {} });
    return this.awaitReply(ref, 'phoenix', 'heartbeat', this.#harness.assertTimeoutMs);
  }

  /** A fresh ref, as phoenix.js numbers them. */
  nextRef(): string {
    return String(++this.#ref);
  }

  /**
   * Waits for the reply to `ref` (a `phx_reply` on `topic`).
   * @param what names the awaited reply in the failure message
   */
  async awaitReply(ref: Ref, topic: string, what: string, timeoutMs: number): Promise<TestReply> {
    const frame = await this.inbox.wait(
      (f) => f.event === 'phx_reply' && f.ref === ref && f.topic === topic,
      timeoutMs,
      false,
      () =>
        new AssertionError({
          message: `no reply to ${what} (ref ${String(ref)}) on ${topic} within ${timeoutMs} ms; received: ${listOf(this.inbox.items.filter((f) => f.topic === topic))}`,
          operator: 'assertReply',
        }),
    );
    const { status, response } = frame.payload as TestReply;
    return { status, response };
  }

  #end(): void {
    if (this.#idle !== null) this.#harness.idle?.delete(this.#idle);
    if (!this.#connection.closed) this.#connection.close({ shutdown: 'closed' });
    this.#harness.mount.services.live.delete(this.#live);
    this.#harness.forget(this);
  }
}

/** The outcome of {@link TestSocket.join}: the join reply and the channel to push to. */
export interface TestJoin extends TestReply {
  /** The joined channel (useless when `status` is `"error"`: no channel remains). */
  readonly channel: TestChannel;
}

/** A client push in flight; {@link TestPush.reply} awaits its `phx_reply`. */
export class TestPush {
  readonly ref: string;
  readonly event: string;
  readonly #channel: TestChannel;

  /** @internal */
  constructor(channel: TestChannel, ref: string, event: string) {
    this.#channel = channel;
    this.ref = ref;
    this.event = event;
  }

  /** Resolves with the reply to this push; rejects when none arrives within the harness's assert timeout. */
  reply(options: WaitOptions = {}): Promise<TestReply> {
    return this.#channel.replyTo(this, options);
  }
}

/** One joined topic of a test client. */
export class TestChannel {
  readonly topic: string;
  /** The join_ref of this join (the ref of its `phx_join`). */
  readonly joinRef: string;
  readonly #socket: TestSocket;
  readonly #harness: ChannelTest;

  /** @internal */
  constructor(socket: TestSocket, harness: ChannelTest, topic: string, joinRef: string) {
    this.#socket = socket;
    this.#harness = harness;
    this.topic = topic;
    this.joinRef = joinRef;
  }

  /** Pushes `event` to the channel (its `handleIn` runs); await `.reply()` or use {@link assertReply}. */
  push(event: string, payload: Readonly<Record<string, unknown>> = {}): TestPush {
    const ref = this.#socket.nextRef();
    this.#socket.send({ joinRef: this.joinRef, ref, topic: this.topic, event, payload });
    return new TestPush(this, ref, event);
  }

  /** @internal */
  replyTo(push: TestPush, options: WaitOptions): Promise<TestReply> {
    return this.#socket.awaitReply(push.ref, this.topic, `push "${push.event}"`, options.timeoutMs ?? this.#harness.assertTimeoutMs);
  }

  /**
   * Waits for the reply to `push` and checks its status (and response, when given), as Phoenix's
   * `assert_reply`.
   * @returns the reply's response
   */
  async assertReply(push: TestPush, status: string, response?: PayloadMatch, options: WaitOptions = {}): Promise<unknown> {
    const reply = await this.replyTo(push, options);
    if (reply.status !== status || !matches(reply.response, response)) {
      throw new AssertionError({
        message: `assertReply: push "${push.event}" was answered ${reply.status} ${describe(reply.response)}, expected ${status}${response === undefined ? '' : ` ${typeof response === 'function' ? '(predicate)' : describe(response)}`}`,
        actual: reply,
        expected: { status, response },
        operator: 'assertReply',
      });
    }
    return reply.response;
  }

  /**
   * Waits for a push of `event` (matching `payload`) from this channel to this client and consumes
   * it, as Phoenix's `assert_push`. Control events count too: `phx_error` after a crash,
   * `phx_close` after a stop, `presence_state`, …
   * @returns its payload
   */
  async assertPush(event: string, payload?: PayloadMatch, options: WaitOptions = {}): Promise<unknown> {
    const timeoutMs = options.timeoutMs ?? this.#harness.assertTimeoutMs;
    const frame = await this.#socket.inbox.wait(
      (f) => this.#isPush(f) && f.event === event && matches(f.payload, payload),
      timeoutMs,
      true,
      () => {
        const received = this.#socket.inbox.items.filter((f) => this.#isPush(f));
        return new AssertionError({
          message: `assertPush: no push ${expectation(event, payload)} on ${this.topic} within ${timeoutMs} ms; unconsumed pushes: ${listOf(received)}`,
          actual: received.map(({ event: e, payload: p }) => ({ event: e, payload: p })),
          expected: { event, payload },
          operator: 'assertPush',
        });
      },
    );
    return frame.payload;
  }

  /** Passes when no push of `event` (matching `payload`) reaches this client within the timeout. */
  async refutePush(event: string, payload?: PayloadMatch, options: WaitOptions = {}): Promise<void> {
    await this.#socket.inbox.refute(
      (f) => this.#isPush(f) && f.event === event && matches(f.payload, payload),
      options.timeoutMs ?? this.#harness.refuteTimeoutMs,
      (f) =>
        new AssertionError({
          message: `refutePush: unexpected push "${event}" on ${this.topic}: ${describe(f.payload)}`,
          actual: f.payload,
          expected: payload,
          operator: 'refutePush',
        }),
    );
  }

  /** {@link ChannelTest.assertBroadcast} on this channel's topic. */
  assertBroadcast(event: string, payload?: PayloadMatch, options?: WaitOptions): Promise<unknown> {
    return this.#harness.assertBroadcast(this.topic, event, payload, options);
  }

  /** {@link ChannelTest.refuteBroadcast} on this channel's topic. */
  refuteBroadcast(event: string, payload?: PayloadMatch, options?: WaitOptions): Promise<void> {
    return this.#harness.refuteBroadcast(this.topic, event, payload, options);
  }

  /** Leaves the topic (`phx_leave`): resolves with the leave's reply; `terminate` runs with `{shutdown: "left"}`. */
  leave(): Promise<TestReply> {
    const ref = this.#socket.nextRef();
    this.#socket.send({ joinRef: this.joinRef, ref, topic: this.topic, event: 'phx_leave', payload: {} });
    return this.#socket.awaitReply(ref, this.topic, 'leave', this.#harness.assertTimeoutMs);
  }

  #isPush(frame: ReceivedFrame): boolean {
    return frame.topic === this.topic && frame.event !== 'phx_reply' && (frame.joinRef === this.joinRef || frame.joinRef === null);
  }
}
