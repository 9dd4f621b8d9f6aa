/**
 * @module serializer/frame
 * Internal: an encoded outgoing frame: the bytes one serializer produced for one message. A broadcast is
 * encoded once per serializer into a `Frame` and the same `Frame` (the same bytes) is handed to
 * every subscriber's transport.
 */

/** Bytes ready for a transport, plus whether they travel as a binary or a text frame. */
export class Frame {
  #text: string | undefined;
  #websocket: Buffer | undefined;

  /**
   * @param data the encoded bytes (UTF-8 for text frames)
   * @param binary true for a WebSocket binary frame, false for a text frame
   */
  readonly data: Buffer;
  readonly binary: boolean;
  constructor(data: Buffer, binary: boolean) {
    this.data = data;
    this.binary = binary;
  }

  /** Builds a text frame from a string. */
  static text(text: string): Frame {
    const frame = new Frame(Buffer.from(text, 'utf8'), false);
    frame.#text = text;
    return frame;
  }

  /**
   * The complete, unmasked WebSocket frame (RFC 6455 header + payload), built on first use and
   * then shared: fan-out writes these same bytes to every subscriber's TCP socket.
   */
  get websocketBytes(): Buffer {
    if (this.#websocket !== undefined) return this.#websocket;
    const length = this.data.length;
    const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
    const bytes = Buffer.allocUnsafe(headerLength + length);
    bytes[0] = 0x80 | (this.binary ? 0x2 : 0x1); // FIN + opcode
    if (headerLength === 2) {
      bytes[1] = length;
    } else if (headerLength === 4) {
      bytes[1] = 126;
      bytes.writeUInt16BE(length, 2);
    } else {
      bytes[1] = 127;
      bytes.writeBigUInt64BE(BigInt(length), 2);
    }
    this.data.copy(bytes, headerLength);
    this.#websocket = bytes;
    return bytes;
  }

  /** The frame as a string (text frames only; LongPoll carries frames as JSON strings). */
  get text(): string {
    if (this.binary) throw new TypeError('a binary frame has no text form');
    this.#text ??= this.data.toString('utf8');
    return this.#text;
  }
}
