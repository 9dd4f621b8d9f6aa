/**
 * @module serializer/json-text
 * Internal: what the JSON serializers share: decoding a text frame's bytes, recognising a ref, the
 * ref of a broadcast, and a payload's JSON text (also what the Redis envelope and the in-process
 * stream store measure).
 */
import { isUtf8 } from 'node:buffer';
import { ErrorCodes, MalformedFrameError, StarlingError } from '../errors.ts';
import { formatPosition, type BroadcastMessage, type Ref } from '../protocol.ts';

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

/**
 * A broadcast's payload as JSON text.
 * @throws StarlingError `ERR_INVALID_PAYLOAD` when it is not JSON-serialisable (`undefined`, a
 *   function, a BigInt, a cycle)
 */
export function payloadJson(broadcast: BroadcastMessage): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(broadcast.payload) as string | undefined;
  } catch (cause) {
    throw new StarlingError(ErrorCodes.invalidPayload, `broadcast payload of ${broadcast.topic} ${broadcast.event} is not JSON`, { cause });
  }
  if (json === undefined) throw new StarlingError(ErrorCodes.invalidPayload, `broadcast payload of ${broadcast.topic} ${broadcast.event} is not JSON`);
  return json;
}
