/**
 * @module serializer/realtime-v2
 * Internal: V2 as `@supabase/realtime-js` speaks it (docs/supabase.md). Text frames are the same
 * JSON arrays as V2; the binary frames differ:
 *
 * - the client sends a broadcast as **kind 3** (user broadcast push):
 *   `03 jl rl tl el ml enc join_ref ref topic user_event metadata payload`, where `enc` is 1 for a
 *   JSON payload and 0 for raw bytes. It decodes to the message the client's JSON form would be:
 *   event `broadcast`, payload `{type: "broadcast", event: user_event, payload, meta?}`;
 * - a broadcast whose user payload is bytes reaches the client as **kind 4** (user broadcast):
 *   `04 tl el ml enc topic user_event metadata payload`;
 * - the client's decoder throws on Phoenix's kinds 0–2, so nothing else is ever sent in binary:
 *   a push, reply or broadcast this framing cannot carry is skipped (null), as binary is on V1.
 *
 * A JSON user broadcast travels as the V2 text frame `[null, null, topic, "broadcast", {...}]`,
 * which both this client and the official `phoenix` client read: sockets of either kind share topics.
 */
import { isUtf8 } from 'node:buffer';
import { MalformedFrameError } from '../errors.ts';
import { isBinaryPayload, type BroadcastMessage, type Message, type ReplyMessage } from '../protocol.ts';
import { Frame } from './frame.ts';
import type { Serializer } from './serializer.ts';
import { V2JsonSerializer } from './v2-json.ts';

// Its own instance: the text frames are V2's, but encode-once caches frames per serializer instance.
const v2JsonSerializer = new V2JsonSerializer();

/** The binary kinds realtime-js adds to Phoenix's 0–2. */
const Kind = { userBroadcastPush: 3, userBroadcast: 4 } as const;
/** How a user payload is encoded in a kind 3 or 4 frame. */
const Encoding = { binary: 0, json: 1 } as const;
/** The event name realtime-js uses for broadcasts, in both directions. */
export const BROADCAST_EVENT = 'broadcast';
const MAX_FIELD_BYTES = 255;

/** A user broadcast as it travels inside PubSub and text frames: `{type, event, payload, meta?}`. */
export interface UserBroadcast {
  readonly type: 'broadcast';
  readonly event: string;
  readonly payload: unknown;
  readonly meta?: unknown;
}

/** True when `payload` is a user broadcast whose own payload is bytes (`{binary}`). */
function binaryUserBroadcast(event: string, payload: unknown): payload is UserBroadcast & { payload: { binary: Uint8Array } } {
  if (event !== BROADCAST_EVENT || typeof payload !== 'object' || payload === null) return false;
  const inner = payload as Partial<UserBroadcast>;
  return inner.type === BROADCAST_EVENT && typeof inner.event === 'string' && isBinaryPayload(inner.payload);
}

/** Speaks `vsn` 2.0.0 with realtime-js's binary kinds. */
export class RealtimeV2Serializer implements Serializer {
  readonly vsn = '2.0.0';
  readonly jsonInBinary = true;

  /**
   * Decodes a text frame as V2, or a kind 3 binary frame into a `broadcast` message.
   * @throws MalformedFrameError for anything else, or a kind 3 frame whose lengths or JSON are wrong
   */
  decode(data: Buffer, binary: boolean): Message {
    return binary ? decodeUserBroadcastPush(data) : v2JsonSerializer.decode(data, false);
  }

  /**
   * A text push; a user broadcast of bytes as kind 4 (a channel that filters broadcasts pushes
   * them one by one); other `{binary}` payloads cannot travel (null).
   */
  encodePush(message: Message): Frame | null {
    if (binaryUserBroadcast(message.event, message.payload))
      return this.encodeBroadcast({ topic: message.topic, event: message.event, payload: message.payload });
    return isBinaryPayload(message.payload) ? null : v2JsonSerializer.encodePush(message);
  }

  /** A text reply; a `{binary}` response cannot travel (null). */
  encodeReply(reply: ReplyMessage): Frame | null {
    return isBinaryPayload(reply.response) ? null : v2JsonSerializer.encodeReply(reply);
  }

  /** A user broadcast of bytes as kind 4; anything else as V2 text; other bytes cannot travel (null). */
  encodeBroadcast(broadcast: BroadcastMessage): Frame | null {
    const { topic, event, payload } = broadcast;
    if (binaryUserBroadcast(event, payload)) {
      const metadata = payload.meta === undefined ? '' : JSON.stringify(payload.meta);
      const fields = [topic, payload.event, metadata].map((value) => Buffer.from(value, 'utf8'));
      if (fields.some((field) => field.length > MAX_FIELD_BYTES)) return null;
      const [topicBytes, eventBytes, metaBytes] = fields as [Buffer, Buffer, Buffer];
      const header = Buffer.from([Kind.userBroadcast, topicBytes.length, eventBytes.length, metaBytes.length, Encoding.binary]);
      return new Frame(Buffer.concat([header, topicBytes, eventBytes, metaBytes, payload.payload.binary]), true);
    }
    return isBinaryPayload(payload) ? null : v2JsonSerializer.encodeBroadcast(broadcast);
  }
}

/** Kind 3: kind, 6 header bytes (join_ref, ref, topic, user event, metadata lengths; encoding), fields, payload. */
function decodeUserBroadcastPush(data: Buffer): Message {
  if (data.length === 0) throw new MalformedFrameError('realtime binary frame: empty');
  const kind = data.readUInt8(0);
  if (kind !== Kind.userBroadcastPush) {
    throw new MalformedFrameError(`realtime binary frame: unknown kind ${kind} (a client may only send a user broadcast, kind 3)`);
  }
  const headerLength = 7;
  if (data.length < headerLength) throw new MalformedFrameError('realtime binary frame: truncated header');
  let offset = headerLength;
  const field = (length: number): string => {
    const end = offset + length;
    if (end > data.length) throw new MalformedFrameError('realtime binary frame: field lengths overrun the frame');
    const bytes = data.subarray(offset, end);
    if (!isUtf8(bytes)) throw new MalformedFrameError('realtime binary frame: header field is not valid UTF-8');
    offset = end;
    return bytes.toString('utf8');
  };
  const joinRef = field(data.readUInt8(1)) || null;
  const ref = field(data.readUInt8(2)) || null;
  const topic = field(data.readUInt8(3));
  const userEvent = field(data.readUInt8(4));
  const metadata = field(data.readUInt8(5));
  const encoding = data.readUInt8(6);
  const body = data.subarray(offset);
  let payload: unknown;
  if (encoding === Encoding.json) payload = parseJson(body, 'payload');
  else if (encoding === Encoding.binary) payload = { binary: body };
  else throw new MalformedFrameError(`realtime binary frame: unknown payload encoding ${encoding}`);
  const broadcast: UserBroadcast =
    metadata === ''
      ? { type: BROADCAST_EVENT, event: userEvent, payload }
      : { type: BROADCAST_EVENT, event: userEvent, payload, meta: parseJson(Buffer.from(metadata), 'metadata') };
  return { joinRef, ref, topic, event: BROADCAST_EVENT, payload: broadcast };
}

function parseJson(bytes: Buffer, what: string): unknown {
  if (!isUtf8(bytes)) throw new MalformedFrameError(`realtime binary frame: ${what} is not valid UTF-8`);
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch {
    throw new MalformedFrameError(`realtime binary frame: ${what} is not valid JSON`);
  }
}
