/**
 * @module testing/test-channel
 * One joined topic of a test client, and the pushes it makes: push events, and assert the replies,
 * pushes and broadcasts that follow (Phoenix.ChannelTest's `push`, `assert_reply`, `assert_push`,
 * `assert_broadcast`). Each assertion returns the whole message it consumed.
 */
import { AssertionError } from 'node:assert';
import { describe, expectation, listOf, matches, type PayloadMatch, type WaitOptions } from './assertions.ts';
import type { Harness, HarnessClient } from './harness.ts';
import type { ReceivedBroadcast, ReceivedFrame, ReceivedReply, TestReply } from './received.ts';

/** The outcome of `TestSocket.join`: the join reply and the channel to push to. */
export interface TestJoin extends TestReply {
  /** The joined channel (useless when `status` is `"error"`: no channel remains). */
  readonly channel: TestChannel;
}

/** A client push in flight; {@link TestPush.reply} awaits its `phx_reply`. */
export class TestPush {
  readonly ref: string;
  readonly event: string;
  readonly #reply: (options: WaitOptions) => Promise<TestReply>;

  /** @internal */
  constructor(ref: string, event: string, reply: (options: WaitOptions) => Promise<TestReply>) {
    this.ref = ref;
    this.event = event;
    this.#reply = reply;
  }

  /** Resolves with the reply to this push; rejects when none arrives within the harness's assert timeout. */
  reply(options: WaitOptions = {}): Promise<TestReply> {
    return this.#reply(options);
  }
}

/** One joined topic of a test client. */
export class TestChannel {
  readonly topic: string;
  /** The join_ref of this join (the ref of its `phx_join`). */
  readonly joinRef: string;
  readonly #client: HarnessClient;
  readonly #harness: Harness;

  /** @internal */
  constructor(client: HarnessClient, harness: Harness, topic: string, joinRef: string) {
    this.#client = client;
    this.#harness = harness;
    this.topic = topic;
    this.joinRef = joinRef;
  }

  /** Pushes `event` to the channel (its `handleIn` runs); await `.reply()` or use {@link assertReply}. */
  push(event: string, payload: Readonly<Record<string, unknown>> = {}): TestPush {
    const ref = this.#client.nextRef();
    this.#client.send({ joinRef: this.joinRef, ref, topic: this.topic, event, payload });
    const what = `push "${event}"`;
    return new TestPush(ref, event, async (options) => {
      const { status, response } = await this.#replyTo(ref, what, options);
      return { status, response };
    });
  }

  /**
   * Waits for the reply to `push` and checks its status (and response, when given), as Phoenix's
   * `assert_reply`.
   * @returns the reply: status, response, ref, join_ref and topic
   */
  async assertReply(push: TestPush, status: string, response?: PayloadMatch, options: WaitOptions = {}): Promise<ReceivedReply> {
    const reply = await this.#replyTo(push.ref, `push "${push.event}"`, options);
    if (reply.status !== status || !matches(reply.response, response)) {
      throw new AssertionError({
        message: `assertReply: push "${push.event}" was answered ${reply.status} ${describe(reply.response)}, expected ${status}${response === undefined ? '' : ` ${typeof response === 'function' ? '(predicate)' : describe(response)}`}`,
        actual: { status: reply.status, response: reply.response },
        expected: { status, response },
        operator: 'assertReply',
      });
    }
    return reply;
  }

  /**
   * Waits for a push of `event` (matching `payload`) from this channel to this client and consumes
   * it, as Phoenix's `assert_push`. Control events count too: `phx_error` after a crash,
   * `phx_close` after a stop, `presence_state`, …
   * @returns the frame: event, payload, ref (a publication's position on a history topic), join_ref and topic
   */
  async assertPush(event: string, payload?: PayloadMatch, options: WaitOptions = {}): Promise<ReceivedFrame> {
    const timeoutMs = options.timeoutMs ?? this.#harness.assertTimeoutMs;
    const { inbox } = this.#client;
    return inbox.next(
      (f) => this.#isPush(f) && f.event === event && matches(f.payload, payload),
      timeoutMs,
      () => {
        const received = inbox.items.filter((f) => this.#isPush(f));
        return new AssertionError({
          message: `assertPush: no push ${expectation(event, payload)} on ${this.topic} within ${timeoutMs} ms; unconsumed pushes: ${listOf(received)}`,
          actual: received.map(({ event: e, payload: p }) => ({ event: e, payload: p })),
          expected: { event, payload },
          operator: 'assertPush',
        });
      },
    );
  }

  /** Passes when no push of `event` (matching `payload`) reaches this client within the timeout. */
  async refutePush(event: string, payload?: PayloadMatch, options: WaitOptions = {}): Promise<void> {
    await this.#client.inbox.refute(
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

  /** `ChannelTest.assertBroadcast` on this channel's topic. */
  assertBroadcast(event: string, payload?: PayloadMatch, options?: WaitOptions): Promise<ReceivedBroadcast> {
    return this.#harness.assertBroadcast(this.topic, event, payload, options);
  }

  /** `ChannelTest.refuteBroadcast` on this channel's topic. */
  refuteBroadcast(event: string, payload?: PayloadMatch, options?: WaitOptions): Promise<void> {
    return this.#harness.refuteBroadcast(this.topic, event, payload, options);
  }

  /** Leaves the topic (`phx_leave`): resolves with the leave's reply; `terminate` runs with `{shutdown: "left"}`. */
  leave(): Promise<TestReply> {
    const ref = this.#client.nextRef();
    this.#client.send({ joinRef: this.joinRef, ref, topic: this.topic, event: 'phx_leave', payload: {} });
    return this.#client.replyTo(ref, this.topic, 'leave', this.#harness.assertTimeoutMs).then(({ status, response }) => ({ status, response }));
  }

  #replyTo(ref: string, what: string, options: WaitOptions): Promise<ReceivedReply> {
    return this.#client.replyTo(ref, this.topic, what, options.timeoutMs ?? this.#harness.assertTimeoutMs);
  }

  #isPush(frame: ReceivedFrame): boolean {
    return frame.topic === this.topic && frame.event !== 'phx_reply' && (frame.joinRef === this.joinRef || frame.joinRef === null);
  }
}
