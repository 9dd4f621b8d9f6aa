/**
 * The ceilings' pre-built frames: one unmasked WebSocket text frame, built once by `ws`'s own
 * framing function and written as the same bytes to every socket.
 */
import * as wsModule from 'ws';

interface FrameOptions {
  readonly fin: boolean;
  readonly opcode: number;
  readonly mask: boolean;
  readonly readOnly: boolean;
  readonly rsv1: boolean;
}

/** ws's framing function: `Sender.frame` is public API (ws.md) but missing from @types/ws. */
const { Sender } = wsModule as unknown as { Sender: { frame(data: Buffer, options: FrameOptions): Buffer[] } };
const TEXT: FrameOptions = { fin: true, opcode: 1, mask: false, readOnly: true, rsv1: false };

/** A server's whole text frame for `payload` (header and payload in one buffer). */
export function textFrame(payload: Buffer): Buffer {
  return Buffer.concat(Sender.frame(payload, TEXT));
}
