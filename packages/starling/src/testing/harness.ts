/**
 * @module testing/harness
 * Internal: what a test socket and a test channel need from the harness and from each other —
 * narrow views, so that `ChannelTest`, `TestSocket` and `TestChannel` live in files of their own
 * without importing one another in a circle.
 */
import type { Ref } from '../protocol.ts';
import type { PayloadMatch, WaitOptions } from './assertions.ts';
import type { Inbox } from './inbox.ts';
import type { ReceivedBroadcast, ReceivedFrame, ReceivedReply } from './received.ts';

/** The harness as its sockets and channels see it. */
export interface Harness {
  readonly assertTimeoutMs: number;
  readonly refuteTimeoutMs: number;
  /** Records the topic's broadcasts (a join subscribes, as Phoenix's `subscribe_and_join`). */
  subscribe(topic: string): void;
  assertBroadcast(topic: string, event: string, payload?: PayloadMatch, options?: WaitOptions): Promise<ReceivedBroadcast>;
  refuteBroadcast(topic: string, event: string, payload?: PayloadMatch, options?: WaitOptions): Promise<void>;
}

/** A message a test client sends. */
export interface ClientMessage {
  readonly joinRef: Ref;
  readonly ref: Ref;
  readonly topic: string;
  readonly event: string;
  readonly payload: unknown;
}

/** A test socket as its channels see it. */
export interface HarnessClient {
  /** Frames received and not yet consumed by an assertion. */
  readonly inbox: Inbox<ReceivedFrame>;
  nextRef(): string;
  send(message: ClientMessage): void;
  /** Waits for the reply to `ref` on `topic` (`what` names it in the failure message). */
  replyTo(ref: Ref, topic: string, what: string, timeoutMs: number): Promise<ReceivedReply>;
}
