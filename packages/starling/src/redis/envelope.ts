/**
 * @module redis/envelope
 * The wire format of one broadcast between Starling nodes over Redis: a small versioned binary
 * envelope, so rolling deploys can tell old messages from new and binary payloads travel
 * byte for byte (JSON could not carry them). Pure: values in, values out; no I/O.
 *
 * Format version 1, all integers big-endian, all strings UTF-8:
 *
 * | offset | size | field                                                        |
 * | ------ | ---- | ------------------------------------------------------------ |
 * | 0      | 1    | format version, `0x01`                                       |
 * | 1      | 2    | origin length `O` (u16)                                      |
 * | 3      | O    | origin node id                                               |
 * | 3+O    | 1    | payload kind: `0x00` JSON text, `0x01` raw bytes             |
 * | 4+O    | 4    | topic length `T` (u32)                                       |
 * | 8+O    | T    | topic                                                        |
 * | 8+O+T  | 4    | event length `E` (u32)                                       |
 * | 12+O+T | E    | event                                                        |
 * | …      | rest | payload: JSON text, or the bytes of a `{binary}` payload     |
 *
 * Format version 2 is a publication on a history topic (docs/recovery.md): the same, with two
 * fields between the origin and the payload kind:
 *
 * | offset | size | field                                                        |
 * | ------ | ---- | ------------------------------------------------------------ |
 * | 3+O    | 4    | publish id (u32): the origin's own id for this append        |
 * | 7+O    | 2    | position length `P` (u16)                                    |
 * | 9+O    | P    | position `"<epoch>:<offset>"`                                |
 * | 9+O+P  | …    | payload kind, topic, event, payload as in version 1          |
 *
 * The position is only known inside Redis, where the append script gives it: a version-2 envelope
 * is built as {@link historyEnvelope}'s `head`, the position (with its length) and `body`.
 *
 * The payload is not length-prefixed: a Redis message is already length-delimited. Version and
 * origin come first so a node recognises its own messages (no echo) by comparing a fixed prefix,
 * without decoding anything. The topic is carried although the Redis channel implies it, so the
 * envelope describes itself (it could ride a cluster-wide channel unchanged) and a receiver can
 * check that channel and content agree.
 *
 * Envelopes come from the network and are untrusted: {@link decodeEnvelope} checks every length
 * and throws a coded error rather than reading past the end.
 *
 * @example
 * const header = envelopeHeader('node-1');
 * const bytes = encodeEnvelope(header, { topic: 'rooms:lobby', event: 'new_msg', payload: { body: 'hi' } });
 * decodeEnvelope(bytes); // { origin: 'node-1', message: { topic: 'rooms:lobby', … } }
 */
import { ErrorCodes, MalformedFrameError, StarlingError } from '../errors.ts';
import { isBinaryPayload, parsePosition, type BroadcastMessage, type StreamPosition } from '../protocol.ts';
import { payloadJson } from '../serializer/json-text.ts';

/** The envelope format of broadcasts on topics without history. */
export const ENVELOPE_VERSION = 1;
/** The envelope format of publications on history topics (with publish id and position). */
export const HISTORY_ENVELOPE_VERSION = 2;

/** The payload kinds of a version-1 envelope. */
export const PayloadKinds = {
  /** The payload is JSON text. */
  json: 0,
  /** The payload is the raw bytes of a `{binary}` payload. */
  binary: 1,
} as const;

/** The longest origin node id a version-1 envelope can carry, in UTF-8 bytes. */
export const MAX_ORIGIN_BYTES = 0xffff;

/** A decoded envelope. */
export interface Envelope {
  /** Id of the node that published it. */
  readonly origin: string;
  /** The broadcast (with its `position` in version 2); a binary payload is a fresh `{binary: Uint8Array}` owning its bytes. */
  readonly message: BroadcastMessage;
  /** Version 2: the origin's publish id. */
  readonly publishId?: number;
}

// `fatal`: invalid UTF-8 is a malformed envelope, not text silently patched with U+FFFD.
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The first bytes of every envelope `origin` sends (version and origin). Computed once per node;
 * an incoming message starting with exactly these bytes is the node's own.
 * @throws StarlingError `ERR_PUBSUB_ADAPTER` if `origin` is longer than {@link MAX_ORIGIN_BYTES}
 */
export function envelopeHeader(origin: string): Buffer {
  const length = Buffer.byteLength(origin);
  if (length > MAX_ORIGIN_BYTES) {
    throw new StarlingError(ErrorCodes.adapter, `node id is ${length} bytes; at most ${MAX_ORIGIN_BYTES} fit an envelope`);
  }
  const header = Buffer.allocUnsafe(3 + length);
  header.writeUInt8(ENVELOPE_VERSION, 0);
  header.writeUInt16BE(length, 1);
  header.write(origin, 3, 'utf8');
  return header;
}

/**
 * Encodes `message` behind `header` (from {@link envelopeHeader}).
 * @throws StarlingError `ERR_INVALID_PAYLOAD` if the payload is neither `{binary}` nor
 *   JSON-serialisable (`undefined`, a function, a BigInt, a cycle)
 */
export function encodeEnvelope(header: Uint8Array, message: BroadcastMessage): Buffer {
  const body = encodeBody(message);
  const out = Buffer.allocUnsafe(header.byteLength + body.byteLength);
  out.set(header);
  out.set(body, header.byteLength);
  return out;
}

/**
 * The two parts of a version-2 envelope around the position the append script inserts:
 * `head` = version 2, origin and publish id; `body` = payload kind, topic, event, payload.
 * @param header this node's {@link envelopeHeader} (version 1; its origin part is reused)
 * @throws StarlingError `ERR_INVALID_PAYLOAD` as {@link encodeEnvelope}
 */
export function historyEnvelope(header: Uint8Array, publishId: number, message: BroadcastMessage): { head: Buffer; body: Buffer } {
  const head = Buffer.allocUnsafe(header.byteLength + 4);
  head.set(header);
  head.writeUInt8(HISTORY_ENVELOPE_VERSION, 0);
  head.writeUInt32BE(publishId >>> 0, header.byteLength);
  return { head, body: encodeBody(message) };
}

function encodeBody(message: BroadcastMessage): Buffer {
  const { topic, event, payload } = message;
  let kind: number;
  let json: string | undefined;
  let bytes: Uint8Array | undefined;
  if (isBinaryPayload(payload)) {
    kind = PayloadKinds.binary;
    bytes = payload.binary;
  } else {
    kind = PayloadKinds.json;
    json = payloadJson(message);
  }
  const topicLength = Buffer.byteLength(topic);
  const eventLength = Buffer.byteLength(event);
  const payloadLength = bytes !== undefined ? bytes.byteLength : Buffer.byteLength(json ?? '');
  const out = Buffer.allocUnsafe(9 + topicLength + eventLength + payloadLength);
  let at = out.writeUInt8(kind, 0);
  at = out.writeUInt32BE(topicLength, at);
  at += out.write(topic, at, 'utf8');
  at = out.writeUInt32BE(eventLength, at);
  at += out.write(event, at, 'utf8');
  if (bytes !== undefined) out.set(bytes, at);
  else out.write(json ?? '', at, 'utf8');
  return out;
}

/**
 * Decodes an envelope received from Redis.
 * @throws StarlingError `ERR_UNSUPPORTED_VSN` for a format version other than 1 and 2 (a newer
 *   or older node); `ERR_MALFORMED_FRAME` for anything
 *   truncated, lying about a length, of an unknown payload kind, not UTF-8 or not JSON
 */
export function decodeEnvelope(bytes: Uint8Array): Envelope {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const need = (n: number, what: string): void => {
    if (at + n > bytes.byteLength) throw new MalformedFrameError(`envelope truncated in ${what}`);
  };
  const text = (n: number, what: string): string => {
    need(n, what);
    try {
      return utf8.decode(bytes.subarray(at, (at += n)));
    } catch (cause) {
      throw new MalformedFrameError(`envelope ${what} is not UTF-8`, { cause });
    }
  };

  need(1, 'version');
  const version = view.getUint8(at++);
  if (version !== ENVELOPE_VERSION && version !== HISTORY_ENVELOPE_VERSION) {
    throw new StarlingError(
      ErrorCodes.unsupportedVsn,
      `envelope format ${version} is not supported (expected ${ENVELOPE_VERSION} or ${HISTORY_ENVELOPE_VERSION})`,
    );
  }
  need(2, 'origin length');
  const originLength = view.getUint16(at);
  at += 2;
  const origin = text(originLength, 'origin');
  let publishId: number | undefined;
  let position: StreamPosition | undefined;
  if (version === HISTORY_ENVELOPE_VERSION) {
    need(6, 'publish id');
    publishId = view.getUint32(at);
    at += 4;
    const positionLength = view.getUint16(at);
    at += 2;
    const parsed = parsePosition(text(positionLength, 'position'));
    if (parsed === null) throw new MalformedFrameError('envelope position is not "<epoch>:<offset>"');
    position = parsed;
  }
  need(1, 'payload kind');
  const kind = view.getUint8(at++);
  need(4, 'topic length');
  const topicLength = view.getUint32(at);
  at += 4;
  const topic = text(topicLength, 'topic');
  need(4, 'event length');
  const eventLength = view.getUint32(at);
  at += 4;
  const event = text(eventLength, 'event');

  let payload: unknown;
  switch (kind) {
    case PayloadKinds.binary:
      // A copy: the receive buffer may be a view into a buffer the Redis parser reuses.
      payload = { binary: new Uint8Array(bytes.subarray(at)) };
      break;
    case PayloadKinds.json: {
      const json = text(bytes.byteLength - at, 'payload');
      try {
        payload = JSON.parse(json) as unknown;
      } catch (cause) {
        throw new MalformedFrameError('envelope payload is not JSON', { cause });
      }
      break;
    }
    default:
      throw new MalformedFrameError(`envelope payload kind ${kind} is unknown`);
  }
  if (position === undefined) return { origin, message: { topic, event, payload } };
  return { origin, publishId, message: { topic, event, payload, position } };
}
