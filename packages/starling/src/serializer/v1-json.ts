/**
 * @module serializer/v1-json
 * Internal: the V1 JSON serializer (`vsn=1.0.0`, and what a client without `vsn` gets): every frame is a
 * JSON object. Old native clients speak it; phoenix.js only with a custom encode/decode.
 *
 * ```ts
 * const message = v1JsonSerializer.decode(
 *   Buffer.from('{"topic":"rooms:lobby","event":"phx_join","payload":{},"ref":"1"}'),
 *   false,
 * ); // { joinRef: null, ref: "1", topic: "rooms:lobby", event: "phx_join", payload: {} }
 * v1JsonSerializer.encodeReply({ ...message, status: 'ok', response: {} })?.text;
 * // {"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"1","topic":"rooms:lobby"}
 * ```
 *
 * The server writes exactly four keys and never `join_ref`, as Phoenix does, so a V1 client cannot
 * drop stale frames by join. V1 has no binary frames: a `{binary}` payload cannot be delivered
 * and the encoders answer null, leaving the caller to skip (and count) that subscriber.
 *
 * Input is untrusted: anything but a well-formed object is a {@link MalformedFrameError}.
 */
import { MalformedFrameError } from '../errors.ts';
import { Frame } from './frame.ts';
import { Events, isBinaryPayload, type BroadcastMessage, type Message, type Ref, type ReplyMessage } from '../protocol.ts';
import { isRef, parseJsonText, positionRef } from './json-text.ts';
import type { Serializer } from './serializer.ts';

/** Speaks `vsn` 1.0.0: JSON objects `{topic, event, payload, ref, join_ref?}`. */
export class V1JsonSerializer implements Serializer {
  readonly vsn = '1.0.0';

  /**
   * Decodes a text frame holding a JSON object. `topic` and `event` must be strings, `payload` and
   * `ref` must be present (any JSON payload; `ref` a string, number or null); `join_ref` may be
   * left out (null).
   * @throws MalformedFrameError for binary frames, invalid UTF-8 or JSON, or a wrong shape
   */
  decode(data: Buffer, binary: boolean): Message {
    if (binary) throw new MalformedFrameError('V1 serializer: binary frames are not supported');
    const value = parseJsonText(data);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new MalformedFrameError('V1 frame: expected a JSON object');
    }
    const fields = value as Record<string, unknown>;
    const { topic, event, payload, ref } = fields;
    if (typeof topic !== 'string') throw new MalformedFrameError('V1 frame: topic must be a string');
    if (typeof event !== 'string') throw new MalformedFrameError('V1 frame: event must be a string');
    // `payload` and `ref` may be null but must be there: Phoenix fetches them with Map.fetch!.
    if (!Object.hasOwn(fields, 'payload')) throw new MalformedFrameError('V1 frame: payload is missing');
    if (!Object.hasOwn(fields, 'ref')) throw new MalformedFrameError('V1 frame: ref is missing');
    if (!isRef(ref)) throw new MalformedFrameError('V1 frame: ref must be a string, number or null');
    const joinRef = fields['join_ref'] ?? null;
    if (!isRef(joinRef)) {
      throw new MalformedFrameError('V1 frame: join_ref must be a string, number or null');
    }
    return { joinRef, ref, topic, event, payload };
  }

  /** Encodes `{event, payload, ref, topic}` (no `join_ref`); null for a binary payload. */
  encodePush(message: Message): Frame | null {
    if (isBinaryPayload(message.payload)) return null;
    return encodeObject(message.topic, message.event, message.payload, message.ref);
  }

  /** Encodes a `phx_reply` with payload `{response, status}`; null for a binary response. */
  encodeReply(reply: ReplyMessage): Frame | null {
    if (isBinaryPayload(reply.response)) return null;
    const payload = { response: reply.response ?? null, status: reply.status };
    return encodeObject(reply.topic, Events.reply, payload, reply.ref);
  }

  /** Encodes a broadcast; its `ref` is its stream position on history topics, else null. Null for a binary payload. */
  encodeBroadcast(broadcast: BroadcastMessage): Frame | null {
    if (isBinaryPayload(broadcast.payload)) return null;
    return encodeObject(broadcast.topic, broadcast.event, broadcast.payload, positionRef(broadcast));
  }
}

/**
 * The key order is Phoenix's (alphabetical, from its map encoding). `payload ?? null` keeps the key
 * when a caller passes undefined, which JSON.stringify would otherwise drop, leaving three keys.
 */
function encodeObject(topic: string, event: string, payload: unknown, ref: Ref): Frame {
  return Frame.text(JSON.stringify({ event, payload: payload ?? null, ref, topic }));
}
