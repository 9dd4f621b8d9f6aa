/**
 * @module bench/scale/raw-client
 * The cheapest WebSocket client that still speaks the protocol (RFC 6455), for load processes
 * that hold 17,000 sockets each on a 2-core box shared with the server: a plain TCP socket, the
 * upgrade request written as one string, client frames built once and shared by every socket
 * (masked, with an all-zero key — valid, and the payload bytes stay as they are), and server
 * frames never parsed: the caller searches the received bytes for what it waits for. With `ws`
 * (an `http.request` per handshake, a frame parser and an event per message) the load processes
 * took as much CPU as the server they measured.
 *
 * A search for a byte string across TCP chunks keeps the end of the previous chunk
 * ({@link includesAcross}), so a match split between two chunks is still found.
 *
 * @example
 * const join = clientFrame('["1","1","rooms:lobby","phx_join",{}]');
 * const socket = openRaw({ port, path: '/socket/websocket?vsn=2.0.0', localAddress }, { open: (s) => s.write(join), data, end });
 */
import { connect, type Socket } from 'node:net';

/** A masked text frame (mask key 0000) carrying `text`, to be written as is by any client. */
export function clientFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const length = payload.length;
  const header = length < 126 ? Buffer.from([0x81, 0x80 | length]) : Buffer.from([0x81, 0x80 | 126, length >> 8, length & 0xff]);
  if (length > 0xffff) throw new Error('clientFrame: payload over 64 KiB');
  return Buffer.concat([header, Buffer.alloc(4), payload]);
}

/**
 * True when `needle` is in `chunk`, or starts in `tail` (the end of the previous chunk of the same
 * socket, see {@link tailOf}) and ends in `chunk`.
 */
export function includesAcross(tail: Buffer | undefined, chunk: Buffer, needle: Buffer): boolean {
  if (chunk.indexOf(needle) !== -1) return true;
  return tail !== undefined && Buffer.concat([tail, chunk.subarray(0, needle.length - 1)]).indexOf(needle) !== -1;
}

/** The end of `chunk` to keep for {@link includesAcross}: a copy, so the chunk itself can go. */
export function tailOf(chunk: Buffer, needle: Buffer): Buffer {
  return Buffer.from(chunk.subarray(Math.max(0, chunk.length - needle.length + 1)));
}

/** Where to connect. */
export interface RawTarget {
  readonly port: number;
  readonly path: string;
  readonly localAddress: string;
}

/** What a raw socket reports. */
export interface RawEvents {
  /** The server answered 101; `rest` is what followed the headers in the same chunk. */
  open(socket: Socket, rest: Buffer): void;
  /** Bytes of server frames, unparsed. */
  data(chunk: Buffer): void;
  /** The upgrade was refused, the connection failed or closed. */
  end(reason: string): void;
}

const HEADERS_END = Buffer.from('\r\n\r\n');

/** Opens a WebSocket to 127.0.0.1:`port``path` from `localAddress`. */
export function openRaw(target: RawTarget, events: RawEvents): Socket {
  const socket = connect({ host: '127.0.0.1', port: target.port, localAddress: target.localAddress });
  socket.setNoDelay(true);
  let handshake: Buffer | null = Buffer.alloc(0);
  let ended = false;
  const end = (reason: string): void => {
    if (ended) return;
    ended = true;
    events.end(reason);
  };
  socket.once('connect', () => {
    socket.write(
      `GET ${target.path} HTTP/1.1\r\nHost: 127.0.0.1:${target.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
  });
  socket.on('data', (chunk: Buffer) => {
    if (handshake === null) return events.data(chunk);
    handshake = Buffer.concat([handshake, chunk]);
    const at = handshake.indexOf(HEADERS_END);
    if (at === -1) return;
    const head = handshake.toString('latin1', 0, at);
    const rest = handshake.subarray(at + HEADERS_END.length);
    handshake = null;
    if (!head.startsWith('HTTP/1.1 101')) {
      socket.destroy();
      return end(`upgrade refused: ${head.split('\r\n', 1)[0]}`);
    }
    events.open(socket, rest);
  });
  socket.on('error', (err) => end(err.message));
  socket.on('close', () => end('closed'));
  return socket;
}
