/**
 * @module serializer/json-text
 * Internal: what the JSON serializers share: decoding a text frame's bytes, recognising a ref, and
 * the ref of a broadcast.
 */
import { isUtf8 } from 'node:buffer';
import { MalformedFrameError } from '../errors.ts';
import type { BroadcastMessage, Ref } from '../protocol.ts';
import { formatPosition } from '../pubsub/stream.ts';

/**
 * Decodes a text frame's bytes as UTF-8 JSON.
 * @throws MalformedFrameError when the bytes are not valid UTF-8 or not JSON
 */
export function parseJsonText(data: Buffer): unknown {
  // Buffer#toString would silently replace bad sequences with U+FFFD; RFC 6455 says a text frame
  // that is not UTF-8 must fail the connection, and the transport may hand us unchecked bytes.
  if (!isUtf8(data)) throw new MalformedFrameError('text frame is not valid UTF-8');
  try {
    return JSON.parse(data.toString('utf8')) as unknown;
  } catch (cause) {
    throw new MalformedFrameError('text frame is not valid JSON', { cause });
  }
}

/**
 * True for a value that may stand in a `ref`/`join_ref` field.
 */
export function isRef(value: unknown): value is Ref {
  return value === null || typeof value === 'string' || typeof value === 'number';
}

/** A broadcast's `ref`: its stream position `"<epoch>:<offset>"` on a history topic, else null. */
export function positionRef(broadcast: BroadcastMessage): string | null {
  return broadcast.position === undefined ? null : formatPosition(broadcast.position);
}
