/**
 * @module serializer/v2-json
 * Internal: the V2 serializer (`vsn=2.0.0`, phoenix.js's default). Text frames are JSON arrays
 * `[join_ref, ref, topic, event, payload]`; a `{binary: bytes}` payload travels instead in a binary
 * frame with a small length-prefixed header (docs/protocol.md §2.4).
 *
 * ```ts
 * v2JsonSerializer.decode(Buffer.from('["5","6","room:lobby","new_msg",{"body":"hi"}]'), false);
 * // { joinRef: "5", ref: "6", topic: "room:lobby", event: "new_msg", payload: { body: "hi" } }
 * v2JsonSerializer.encodeBroadcast({ topic: 'room:lobby', event: 'file', payload: { binary: bytes } });
 * // binary frame 02 0a 04 "room:lobby" "file" <bytes>
 * ```
 *
 * The frame type follows the payload, never the request: a binary push answered with an object
 * gets a text reply. Refs are echoed with the JSON type they came with in text frames; binary
 * headers can only hold strings, so numeric refs go out as their decimal text there.
 *
 * Input is untrusted: anything that is not a well-formed V2 frame is a {@link MalformedFrameError}.
 */
import { isUtf8 } from 'node:buffer';
import { ErrorCodes, MalformedFrameError, StarlingError } from '../errors.ts';
import { Frame } from './frame.ts';
import { Events, isBinaryPayload, type BroadcastMessage, type Message, type Ref, type ReplyMessage } from '../protocol.ts';
import type { Serializer } from './serializer.ts';
import { isRef, parseJsonText, positionRef } from './json-text.ts';

/** The first byte of a binary frame. Only `push` is valid from a client. */
const Kind = { push: 0, reply: 1, broadcast: 2 } as const;

/** Each header length is one unsigned byte. */
const MAX_FIELD_BYTES = 255;

/** Speaks `vsn` 2.0.0: JSON array text frames plus binary frames for `{binary}` payloads. */
export class V2JsonSerializer implements Serializer {
  readonly vsn = '2.0.0';

  /**
   * Decodes a text frame (a JSON array of at least five elements; extra elements are ignored, as
   * Phoenix ignores them) or a binary client push (kind 0). A binary push's payload is
   * `{binary}`, a view into `data` (no copy): the caller must not reuse `data`'s memory.
   * @throws MalformedFrameError for invalid UTF-8 or JSON, a wrong shape, an unknown binary kind,
   *   a truncated header or lengths that overrun the frame
   */
  decode(data: Buffer, binary: boolean): Message {
    return binary ? decodeBinaryPush(data) : decodeText(data);
  }

  /** Encodes a push; a `{binary}` payload becomes a kind 0 binary frame, which has no ref. */
  encodePush(message: Message): Frame {
    const { joinRef, ref, topic, event, payload } = message;
    if (isBinaryPayload(payload))
      return encodeBinary(
        Kind.push,
        [
          [refText(joinRef), 'join_ref'],
          [topic, 'topic'],
          [event, 'event'],
        ],
        payload.binary,
      );
    return Frame.text(JSON.stringify([joinRef, ref, topic, event, payload]));
  }

  /** Encodes a `phx_reply`; a `{binary}` response becomes a kind 1 binary frame. */
  encodeReply(reply: ReplyMessage): Frame {
    const { joinRef, ref, topic, status, response } = reply;
    if (isBinaryPayload(response)) {
      return encodeBinary(
        Kind.reply,
        [
          [refText(joinRef), 'join_ref'],
          [refText(ref), 'ref'],
          [topic, 'topic'],
          [status, 'status'],
        ],
        response.binary,
      );
    }
    // `?? null` keeps the `response` key when a caller passes undefined (JSON.stringify drops it).
    const payload = { status, response: response ?? null };
    return Frame.text(JSON.stringify([joinRef, ref, topic, Events.reply, payload]));
  }

  /**
   * Encodes a broadcast: `join_ref` null, `ref` its stream position on history topics (else null).
   * A `{binary}` payload becomes a kind 2 binary frame, which has no ref (history topics refuse them).
   */
  encodeBroadcast(broadcast: BroadcastMessage): Frame {
    const { topic, event, payload } = broadcast;
    if (isBinaryPayload(payload))
      return encodeBinary(
        Kind.broadcast,
        [
          [topic, 'topic'],
          [event, 'event'],
        ],
        payload.binary,
      );
    return Frame.text(JSON.stringify([null, positionRef(broadcast), topic, event, payload]));
  }
}

/**
 * Decodes a frame this serializer encoded, as a V2 client reads it (`starling-channels/testing`
 * does, so its client sees exactly the bytes a WebSocket client would): a text frame, or a server
 * binary frame — kind 0 push, 1 reply (event `phx_reply`, payload `{status, response: {binary}}`),
 * 2 broadcast. Null refs are read back from their empty header fields.
 * @throws MalformedFrameError for anything else
 */
export function decodeServerFrame(data: Buffer, binary: boolean): Message {
  if (!binary) return decodeText(data);
  const kind = data[0];
  const fields = kind === Kind.push ? 3 : kind === Kind.reply ? 4 : kind === Kind.broadcast ? 2 : 0;
  if (fields === 0 || data.length < 1 + fields) throw new MalformedFrameError('V2 server binary frame: unknown kind or truncated header');
  let offset = 1 + fields;
  const values: string[] = [];
  for (let i = 1; i <= fields; i++) {
    const end = offset + data.readUInt8(i);
    if (end > data.length) throw new MalformedFrameError('V2 server binary frame: field lengths overrun the frame');
    values.push(readField(data, offset, end));
    offset = end;
  }
  const payload = { binary: new Uint8Array(data.subarray(offset)) };
  const [a = '', b = '', c = '', d = ''] = values;
  if (kind === Kind.push) return { joinRef: a || null, ref: null, topic: b, event: c, payload };
  if (kind === Kind.reply) return { joinRef: a || null, ref: b || null, topic: c, event: Events.reply, payload: { status: d, response: payload } };
  return { joinRef: null, ref: null, topic: a, event: b, payload };
}

function decodeText(data: Buffer): Message {
  const value = parseJsonText(data);
  if (!Array.isArray(value) || value.length < 5) {
    throw new MalformedFrameError('V2 frame: expected a JSON array of 5 elements');
  }
  const [joinRef, ref, topic, event, payload] = value as unknown[];
  if (!isRef(joinRef)) {
    throw new MalformedFrameError('V2 frame: join_ref must be a string, number or null');
  }
  if (!isRef(ref)) throw new MalformedFrameError('V2 frame: ref must be a string, number or null');
  if (typeof topic !== 'string') throw new MalformedFrameError('V2 frame: topic must be a string');
  if (typeof event !== 'string') throw new MalformedFrameError('V2 frame: event must be a string');
  return { joinRef, ref, topic, event, payload };
}

/** Client push, kind 0: kind, 4 length bytes, join_ref, ref, topic, event, payload. */
function decodeBinaryPush(data: Buffer): Message {
  if (data.length === 0) throw new MalformedFrameError('V2 binary frame: empty');
  const kind = data.readUInt8(0);
  if (kind !== Kind.push) {
    throw new MalformedFrameError(`V2 binary frame: unknown kind ${kind} (a client may only push, kind 0)`);
  }
  const headerLength = 5;
  if (data.length < headerLength) throw new MalformedFrameError('V2 binary frame: truncated header');
  const joinRefEnd = headerLength + data.readUInt8(1);
  const refEnd = joinRefEnd + data.readUInt8(2);
  const topicEnd = refEnd + data.readUInt8(3);
  const eventEnd = topicEnd + data.readUInt8(4);
  if (eventEnd > data.length) {
    throw new MalformedFrameError('V2 binary frame: field lengths overrun the frame');
  }
  return {
    // Length 0 is how a null ref is written (§2.4), so it reads back as null.
    joinRef: readField(data, headerLength, joinRefEnd) || null,
    ref: readField(data, joinRefEnd, refEnd) || null,
    topic: readField(data, refEnd, topicEnd),
    event: readField(data, topicEnd, eventEnd),
    payload: { binary: data.subarray(eventEnd) },
  };
}

function readField(data: Buffer, start: number, end: number): string {
  // Strict, like text frames: a bad sequence also betrays phoenix.js < 1.8.7's UTF-16 lengths (§2.4).
  if (!isUtf8(data.subarray(start, end))) {
    throw new MalformedFrameError('V2 binary frame: header field is not valid UTF-8');
  }
  return data.toString('utf8', start, end);
}

/**
 * A server binary frame: the kind byte, one length byte per header field, the fields, the payload.
 * Kind 0 (push): `00 jl tl el join_ref topic event payload` — no ref, unlike the client's push.
 * Kind 1 (reply): `01 jl rl tl sl join_ref ref topic status payload`.
 * Kind 2 (broadcast): `02 tl el topic event payload`.
 */
function encodeBinary(kind: number, fields: ReadonlyArray<readonly [value: string, name: string]>, payload: Uint8Array): Frame {
  const lengths = fields.map(([value, name]) => fieldLength(value, name));
  const headerLength = 1 + fields.length;
  let size = headerLength + payload.byteLength;
  for (const length of lengths) size += length;
  const frame = Buffer.allocUnsafe(size);
  frame[0] = kind;
  lengths.forEach((length, i) => (frame[1 + i] = length));
  let offset = headerLength;
  for (const [value] of fields) offset += frame.write(value, offset, 'utf8');
  frame.set(payload, offset);
  return new Frame(frame, true);
}

/** Binary headers hold only strings: null is the empty string, a number its decimal text. */
function refText(ref: Ref): string {
  return ref === null ? '' : typeof ref === 'string' ? ref : String(ref);
}

/**
 * @throws StarlingError (`ERR_INVALID_PAYLOAD`) when the field does not fit its one-byte length;
 *   Phoenix raises there too, and truncating would corrupt the frame.
 */
function fieldLength(value: string, name: string): number {
  const length = Buffer.byteLength(value, 'utf8');
  if (length > MAX_FIELD_BYTES) {
    throw new StarlingError(ErrorCodes.invalidPayload, `cannot encode a V2 binary frame: ${name} is ${length} UTF-8 bytes, at most ${MAX_FIELD_BYTES} fit`);
  }
  return length;
}
