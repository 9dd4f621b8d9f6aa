/**
 * @module testing/received
 * What a test client of `starling-channels/testing` receives, as its assertions return it: the
 * whole message — not only its payload — so a test can read a publication's position, a push's
 * join_ref or a reply's ref without digging in `received`.
 */
import type { Ref, StreamPosition } from '../protocol.ts';

/** One frame the server sent to a test client, decoded by the V2 serializer as a client reads it. */
export interface ReceivedFrame {
  /** The join_ref of the join it belongs to; null for broadcasts (fastlane frames) and socket-level replies. */
  readonly joinRef: Ref;
  /**
   * The ref: a reply's push ref; for a publication on a history topic its position,
   * `"<epoch>:<offset>"` (read it with `parsePosition`); otherwise null.
   */
  readonly ref: Ref;
  readonly topic: string;
  readonly event: string;
  readonly payload: unknown;
}

/** A broadcast on a topic, as the harness recorded it from the PubSub (payload copied as JSON). */
export interface ReceivedBroadcast {
  readonly topic: string;
  readonly event: string;
  readonly payload: unknown;
  /** Its position in the topic's stream, on history topics only. */
  readonly position?: StreamPosition | undefined;
}

/** A reply to a join, a leave, a heartbeat or a push: its status and response. */
export interface TestReply {
  readonly status: string;
  readonly response: unknown;
}

/** A reply as `assertReply` returns it: the whole message. */
export interface ReceivedReply extends TestReply {
  /** The ref of the push it answers. */
  readonly ref: Ref;
  /** The join_ref it carries: the join's for channel replies, null for socket-level refusals. */
  readonly joinRef: Ref;
  readonly topic: string;
}
