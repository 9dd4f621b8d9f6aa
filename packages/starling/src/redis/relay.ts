/**
 * @module redis/relay
 * Internal: the adapter's side of the envelope format ({@link module:redis/envelope}), shared by the
 * Redis, Redis Cluster and NATS adapters. Going out, a message that cannot be encoded is dropped,
 * counted and logged (and a history publication reported `lost`), never thrown at the publisher.
 * Coming in, a message from the broker is untrusted: our own echo is dropped by its header without
 * decoding, anything that does not decode or does not belong to the channel it came on is counted
 * and logged with back-off, and delivering it never throws into the broker client's parser.
 */
import type { Logger } from '../logger.ts';
import { MalformedFrameError } from '../errors.ts';
import type { BroadcastMessage } from '../protocol.ts';
import type { PubSubNode } from '../pubsub/adapter.ts';
import { decodeEnvelope, encodeEnvelope, historyEnvelope } from './envelope.ts';

/** What one started adapter relays with. */
export interface Relay {
  /** The local PubSub. */
  readonly node: PubSubNode;
  /** This node's envelope header (version + origin): a message starting with it is our own echo. */
  readonly header: Buffer;
  /** The topics this node still wants (a message in flight while we unsubscribed is not). */
  readonly interest: { has(topic: string): boolean };
  /** The adapter's counters. */
  readonly stats: { dropped: number; malformed: number; received: number };
  readonly logger: Logger;
  /** The broker's name, for the log. */
  readonly broker: 'Redis' | 'NATS';
}

/** A broadcast's envelope for other nodes, or null when it cannot be encoded (counted in `stats.dropped`, logged). */
export function encodeBroadcast(relay: Relay, message: BroadcastMessage): Buffer | null {
  try {
    return encodeEnvelope(relay.header, message);
  } catch (err) {
    relay.stats.dropped++;
    relay.logger.error({ err, topic: message.topic, event: message.event }, 'broadcast not sent to other nodes');
    return null;
  }
}

/**
 * A history publication's envelope parts (the position goes between them), or null when it cannot
 * be encoded: counted in `stats.dropped`, logged, and reported `lost` to the node.
 */
export function encodeAppend(relay: Relay, message: BroadcastMessage, publishId: number): { head: Buffer; body: Buffer } | null {
  try {
    return historyEnvelope(relay.header, publishId, message);
  } catch (err) {
    relay.stats.dropped++;
    relay.logger.error({ err, topic: message.topic, event: message.event }, 'publication not appended');
    relay.node.lost(publishId, message.topic);
    return null;
  }
}

/** A decoded message from another node, or a history publication of any node. */
export interface Received {
  readonly message: BroadcastMessage;
  /** The publish id, when the publication is this node's own (a history publication coming back). */
  readonly publishId: number | undefined;
}

/**
 * Decodes `bytes`, received on `source` (a channel or subject name, read only for the log). Returns null for
 * our own echo and for a malformed message (counted in `stats.malformed`; logged the 1st, 2nd,
 * 4th, 8th… time, so that a mixed-version cluster does not flood the log at message rate).
 * `belongs(topic)` says whether the envelope's topic is the one its channel stands for.
 */
export function decodeInbound(relay: Relay, bytes: Uint8Array, source: Buffer | string, belongs: (topic: string) => boolean): Received | null {
  const { header } = relay;
  if (bytes.byteLength >= header.byteLength && header.compare(bytes, 0, header.byteLength) === 0) return null;
  try {
    const envelope = decodeEnvelope(bytes);
    const { message } = envelope;
    if (!belongs(message.topic))
      throw new MalformedFrameError(`envelope topic ${JSON.stringify(message.topic)} does not match its ${relay.broker === 'NATS' ? 'subject' : 'channel'}`);
    // A history publication comes back to its own node too: that is how it is delivered there, in order.
    return { message, publishId: envelope.origin === relay.node.id ? envelope.publishId : undefined };
  } catch (err) {
    const malformed = ++relay.stats.malformed;
    if ((malformed & (malformed - 1)) === 0)
      relay.logger.warn({ err, source: source.toString(), malformed }, `dropped an undecodable message from ${relay.broker}`);
    return null;
  }
}

/** Hands `received` to the local PubSub if its topic is still wanted; a subscriber that throws is logged, never rethrown. */
export function deliverInbound(relay: Relay, { message, publishId }: Received): void {
  if (!relay.interest.has(message.topic)) return;
  relay.stats.received++;
  try {
    relay.node.deliver(message, publishId);
  } catch (err) {
    relay.logger.error({ err, topic: message.topic, event: message.event }, 'delivering a remote broadcast threw');
  }
}
