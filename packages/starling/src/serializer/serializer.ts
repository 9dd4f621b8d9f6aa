/**
 * @module serializer
 * Internal: the Serializer contract: turns raw frames into {@link Message}s and messages into {@link Frame}s.
 * One implementation per protocol version (`vsn`): V1 JSON objects, V2 JSON arrays plus V2
 * binary frames. Pure: no I/O, no state.
 */
import type { Frame } from './frame.ts';
import type { BroadcastMessage, Message, ReplyMessage } from '../protocol.ts';

/** Encodes and decodes frames for one protocol version. */
export interface Serializer {
  /** The protocol version it speaks, e.g. `"2.0.0"`. */
  readonly vsn: string;
  /**
   * True when binary frames may carry JSON (realtime-js's kind 3): the connection then bounds
   * their nesting before decoding, as it does for text frames.
   */
  readonly jsonInBinary?: boolean;
  /**
   * Decodes one inbound frame.
   * @param data the frame's bytes (text frames are UTF-8)
   * @param binary true for a WebSocket binary frame
   * @throws MalformedFrameError when the frame is not a valid message of this version
   */
  decode(data: Buffer, binary: boolean): Message;
  /**
   * Encodes a push or control frame (`ref` is null for pushes, `join_ref` for phx_close/phx_error).
   * Returns null when this version cannot carry the payload (binary on V1).
   */
  encodePush(message: Message): Frame | null;
  /** Encodes a `phx_reply`. Returns null when this version cannot carry the response (binary on V1). */
  encodeReply(reply: ReplyMessage): Frame | null;
  /** Encodes a broadcast (no refs). Returns null when this version cannot carry the payload. */
  encodeBroadcast(broadcast: BroadcastMessage): Frame | null;
}
