/**
 * @module runtime/limits
 * Internal: the bounds a connection puts on untrusted input before it reaches a channel. Two kinds:
 *
 * - a frame nested deeper than `maxPayloadDepth` is malformed ({@link checkNesting} throws, the
 *   transport closes with 1007). The depth is found by scanning the frame's bytes *before*
 *   `JSON.parse`, so no parser, serializer or application code ever recurses into it;
 * - a well-formed message with a too-long topic or event, or a join with too-large params, is
 *   refused with an error reply ({@link checkMessage} names the reason) and the socket lives on.
 *
 * @example
 * checkNesting(Buffer.from('[null,"1","t","e",[[[]]]]'), 2); // throws MalformedFrameError
 * checkMessage({ joinRef: null, ref: '1', topic: 'x'.repeat(300), event: 'e', payload: {} }, DEFAULT_INPUT_LIMITS);
 * // 'topic too long'
 */
import { MalformedFrameError } from '../errors.ts';
import { Events, Reasons, isBinaryPayload, type Message } from '../protocol.ts';

/** Bounds on one inbound message (socket mount options of the same names). */
export interface InputLimits {
  /**
   * Longest topic in UTF-8 bytes. Default 255 — what a V2 binary frame header can carry, so any
   * accepted topic can also be pushed in binary.
   */
  readonly maxTopicLength: number;
  /** Longest event name in UTF-8 bytes. Default 255 (same reason). */
  readonly maxEventLength: number;
  /** Largest `phx_join` payload, measured as its JSON in UTF-8 bytes (binary: its bytes). Default 64 KiB. */
  readonly maxJoinParamsBytes: number;
  /** Deepest nesting of arrays and objects in a payload (`{}` is 1). Default 32. */
  readonly maxPayloadDepth: number;
}

/** The defaults of {@link InputLimits}. */
export const DEFAULT_INPUT_LIMITS: InputLimits = {
  maxTopicLength: 255,
  maxEventLength: 255,
  maxJoinParamsBytes: 64 * 1024,
  maxPayloadDepth: 32,
};

/** The reasons {@link checkMessage} refuses a message with. */
export type InputRefusal = typeof Reasons.topicTooLong | typeof Reasons.eventTooLong | typeof Reasons.joinParamsTooLarge;

/**
 * The smallest values that still let a client speak the protocol: `phx_leave` must fit the event
 * limit, and a join's `{}` both the params and the depth limits.
 */
const FLOORS: InputLimits = {
  maxTopicLength: 1,
  maxEventLength: Math.max(Events.join.length, Events.leave.length),
  maxJoinParamsBytes: 2,
  maxPayloadDepth: 1,
};

/**
 * {@link DEFAULT_INPUT_LIMITS} overridden by the options given.
 * @throws RangeError for a limit below what the protocol itself needs (e.g. `maxEventLength` < 9)
 */
export function resolveInputLimits(options: Partial<InputLimits>): InputLimits {
  const limits: InputLimits = { ...DEFAULT_INPUT_LIMITS };
  for (const name of Object.keys(DEFAULT_INPUT_LIMITS) as Array<keyof InputLimits>) {
    const value = options[name] ?? DEFAULT_INPUT_LIMITS[name];
    if (!(value >= FLOORS[name])) throw new RangeError(`${name} must be at least ${FLOORS[name]}`);
    (limits as Record<keyof InputLimits, number>)[name] = value;
  }
  return limits;
}

/**
 * Refuses a text frame whose payload nests deeper than `maxPayloadDepth`. The frame's own
 * envelope (the V2 array, the V1 object) is one level more, so the frame may nest one deeper.
 * Counts `[` and `{` outside JSON strings in one pass over the bytes; never parses.
 * @throws MalformedFrameError when the frame nests too deeply
 */
export function checkNesting(data: Buffer, maxPayloadDepth: number): void {
  const maxDepth = maxPayloadDepth + 1;
  // Exceeding the bound takes more than maxDepth opening brackets: short frames cannot.
  if (data.length <= maxDepth) return;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < data.length; i++) {
    const byte = data[i]!;
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) {
      inString = true;
    } else if (byte === OPEN_ARRAY || byte === OPEN_OBJECT) {
      if (++depth > maxDepth) throw new MalformedFrameError(`payload nested deeper than ${maxPayloadDepth} levels`);
    } else if (byte === CLOSE_ARRAY || byte === CLOSE_OBJECT) {
      depth--;
    }
  }
}

// UTF-8 continuation bytes are >= 0x80, so these ASCII bytes never occur inside a multi-byte character.
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

/** The reason `message` is refused by `limits`, or null when it is within them. */
export function checkMessage(message: Message, limits: InputLimits): InputRefusal | null {
  if (!fits(message.topic, limits.maxTopicLength)) return Reasons.topicTooLong;
  if (!fits(message.event, limits.maxEventLength)) return Reasons.eventTooLong;
  if (message.event === Events.join && joinParamsBytes(message.payload) > limits.maxJoinParamsBytes) {
    return Reasons.joinParamsTooLarge;
  }
  return null;
}

function fits(text: string, maxBytes: number): boolean {
  // A UTF-16 code unit is at most 3 UTF-8 bytes: most strings are decided without measuring.
  return text.length * 3 <= maxBytes || Buffer.byteLength(text, 'utf8') <= maxBytes;
}

function joinParamsBytes(payload: unknown): number {
  if (isBinaryPayload(payload)) return payload.binary.byteLength;
  // Joins are rare (and rate limited); the frame bound (maxFrameSize) caps this stringify's cost.
  const json = JSON.stringify(payload) as string | undefined;
  return json === undefined ? 0 : Buffer.byteLength(json, 'utf8');
}
