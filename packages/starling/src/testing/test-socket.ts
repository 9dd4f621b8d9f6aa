/**
 * @module testing/test-socket
 * A connected test client (Phoenix's `socket` in a ChannelTest) and its in-memory transport: the
 * production `Connection` writes frames to it as to a WebSocket, and the V2 serializer decodes them
 * as a client would. Frames the client sends go through the same `Connection.handleFrame` a
 * WebSocket's do — limits, join_ref rules, held frames behind a pending join.
 */
import { AssertionError } from 'node:assert';
import type { Ref } from '../protocol.ts';
import type { Connection } from '../runtime/connection.ts';
import { decodeServerFrame } from '../serializer/v2-json.ts';
import type { LiveConnection, TransportHandle } from '../transport/transport.ts';
import type { IdleSweeper, IdleWatched } from '../transport/websocket/idle-sweeper.ts';

/** @internal What a test socket does with the harness's idle sweeper. */
export type IdleWatch = Pick<IdleSweeper<IdleWatched>, 'add' | 'delete'>;
import { listOf } from './assertions.ts';
import type { ClientMessage, Harness, HarnessClient } from './harness.ts';
import { Inbox } from './inbox.ts';
import type { ReceivedFrame, ReceivedReply, TestReply } from './received.ts';
import { TestChannel, type TestJoin } from './test-channel.ts';

/** @internal How the harness plugs a test socket into the runtime. */
export interface TestSocketSetup {
  /** Opens the production connection over the given transport. */
  readonly open: (transport: TransportHandle) => Connection;
  /** `"websocket"` or `"longpoll"`, as channels see it. */
  readonly transportName: string;
  /** The endpoint's drain list. */
  readonly live: Set<LiveConnection>;
  /** The idle sweeper on the harness clock, when the harness has an idle timeout. */
  readonly idle: IdleWatch | null;
  /** Called once the socket ended. */
  readonly ended: () => void;
}

/** A connected test client (Phoenix's `socket` in a ChannelTest). */
export class TestSocket {
  /** The connection's id from the socket definition's `id`, or null. */
  readonly id: string | null;
  readonly #inbox = new Inbox<ReceivedFrame>();
  readonly #harness: Harness;
  readonly #setup: TestSocketSetup;
  readonly #connection: Connection;
  readonly #live: LiveConnection;
  readonly #idle: IdleWatched | null;
  /** This socket as its channels see it. */
  readonly #client: HarnessClient;
  #bytesSent = 0;
  #ref = 0;
  #closed: { readonly code: number; readonly reason: string } | null = null;

  /** @internal */
  constructor(harness: Harness, setup: TestSocketSetup) {
    this.#harness = harness;
    this.#setup = setup;
    const transport: TransportHandle = {
      name: setup.transportName,
      send: (frame) => this.#inbox.add(decodeServerFrame(frame.data, frame.binary)),
      close: (code, reason) => {
        if (this.#closed === null) this.#closed = { code, reason };
        this.#end();
      },
    };
    this.#connection = setup.open(transport);
    this.id = this.#connection.socketId;
    this.#live = { connection: this.#connection, transport };
    setup.live.add(this.#live);
    this.#idle = null;
    if (setup.idle !== null) {
      this.#idle = { idleBytes: 0, idleSweep: -1, bytesRead: () => this.#bytesSent, close: (code, reason) => transport.close(code, reason) };
      setup.idle.add(this.#idle);
    }
    this.#client = {
      inbox: this.#inbox,
      nextRef: () => this.nextRef(),
      send: (message) => this.send(message),
      replyTo: (ref, topic, what, timeoutMs) => this.#replyTo(ref, topic, what, timeoutMs),
    };
  }

  /** Every frame the server sent that no `assertPush` has consumed yet, in order. */
  get received(): readonly ReceivedFrame[] {
    return this.#inbox.items;
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
   * running when the join timeout falls due is answered after `ChannelTest.advance`.
   */
  async join(topic: string, params: Readonly<Record<string, unknown>> = {}): Promise<TestJoin> {
    this.#harness.subscribe(topic);
    const ref = this.nextRef();
    this.send({ joinRef: ref, ref, topic, event: 'phx_join', payload: params });
    const { status, response } = await this.#replyTo(ref, topic, 'join', this.#harness.assertTimeoutMs);
    return { status, response, channel: new TestChannel(this.#client, this.#harness, topic, ref) };
  }

  /** Disconnects, as a client closing its WebSocket: every channel terminates with `{shutdown: "closed"}`. */
  close(): void {
    this.#end();
  }

  /**
   * Sends one frame as the client would, through the runtime (for frames the other methods do not
   * produce: stale join refs, oversized topics, heartbeats). A V2 text frame, as phoenix.js writes it.
   */
  send(message: ClientMessage): void {
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
   * Waits for the reply to `ref` (a `phx_reply` on `topic`); the reply stays in {@link received}.
   * @param what names the awaited reply in the failure message
   */
  async awaitReply(ref: Ref, topic: string, what: string, timeoutMs: number): Promise<TestReply> {
    const { status, response } = await this.#replyTo(ref, topic, what, timeoutMs);
    return { status, response };
  }

  async #replyTo(ref: Ref, topic: string, what: string, timeoutMs: number): Promise<ReceivedReply> {
    const frame = await this.#inbox.peek(
      (f) => f.event === 'phx_reply' && f.ref === ref && f.topic === topic,
      timeoutMs,
      () =>
        new AssertionError({
          message: `no reply to ${what} (ref ${String(ref)}) on ${topic} within ${timeoutMs} ms; received: ${listOf(this.#inbox.items.filter((f) => f.topic === topic))}`,
          operator: 'assertReply',
        }),
    );
    const { status, response } = frame.payload as { status: string; response: unknown };
    return { status, response, ref: frame.ref, joinRef: frame.joinRef, topic: frame.topic };
  }

  #end(): void {
    if (this.#idle !== null) this.#setup.idle?.delete(this.#idle);
    if (!this.#connection.closed) this.#connection.close({ shutdown: 'closed' });
    this.#setup.live.delete(this.#live);
    this.#setup.ended();
  }
}
