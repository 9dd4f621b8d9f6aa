/**
 * @module transport/websocket/websocket-handle
 * Internal: one WebSocket connection as the runtime sees it — the frames it receives, the frames
 * it is sent (batched per turn, with the slow-reader bound) and its close. An idle server holds
 * thousands of these, so nothing here is allocated per socket beyond the handle itself: `ws`
 * emits events on a WebSocket subclass that carries its handle, and module-level listeners
 * forward them (a closure per event per socket would keep a scope alive for the socket's life).
 */
import type { Socket as NetSocket } from 'node:net';
import { WebSocket } from 'ws';
import { MalformedFrameError } from '../../errors.ts';
import { logs } from '../../logger.ts';
import { CloseCodes } from '../../protocol.ts';
import type { Connection } from '../../runtime/connection.ts';
import { CountedErrors } from '../../runtime/endpoint-stats.ts';
import type { Mount } from '../../runtime/services.ts';
import type { Frame } from '../../serializer/frame.ts';
import type { LiveConnection, TransportHandle } from '../transport.ts';
import type { IdleSweeper, IdleWatched } from './idle-sweeper.ts';
import { corkForTurn } from './write-batch.ts';

const OPEN = WebSocket.OPEN;

/** What every handle of one transport shares (the transport itself), so that each handle stays small. */
export interface WebSocketShared {
  readonly mount: Mount;
  /** Bytes a socket may leave unsent from one turn to the next before it is a slow reader. */
  readonly maxQueuedBytes: number;
  /** Frames go through ws (and its deflater) instead of straight to the TCP socket. */
  readonly compress: boolean;
  readonly idle: IdleSweeper<WebSocketHandle>;
}

/** ws's WebSocket with a slot for its handle (the server is told to create these). */
export class StarlingWebSocket extends WebSocket {
  handle: WebSocketHandle | null = null;
}

// ws calls listeners with `this` set to the socket: one function serves every socket.
const handleOf = (ws: WebSocket): WebSocketHandle | null => (ws as StarlingWebSocket).handle;

function onMessage(this: WebSocket, data: Buffer, binary: boolean): void {
  handleOf(this)?.receive(data, binary);
}

// ws reports protocol violations (oversized frame → 1009, invalid UTF-8 → 1007) here, then closes.
function onError(this: WebSocket, err: Error): void {
  handleOf(this)?.shared.mount.services.logger.debug({ err: err.message }, 'websocket error');
}

function onClose(this: WebSocket, code: number): void {
  handleOf(this)?.closed(code);
}

/** One WebSocket connection: the transport side of a {@link Connection}. */
export class WebSocketHandle implements TransportHandle, LiveConnection, IdleWatched {
  readonly ws: StarlingWebSocket;
  readonly shared: WebSocketShared;
  connection!: Connection;
  idleBytes = 0;
  idleSweep = 0;
  // ws keeps the TCP socket private; writing our pre-built frames to it directly (in order with
  // ws's own writes, which are synchronous without compression) is what makes fan-out write the
  // same bytes to every subscriber.
  readonly #tcp: NetSocket;

  constructor(ws: StarlingWebSocket, shared: WebSocketShared) {
    this.ws = ws;
    this.shared = shared;
    this.#tcp = (ws as unknown as { _socket: NetSocket })._socket;
  }

  get name(): string {
    return 'websocket';
  }

  get transport(): TransportHandle {
    return this;
  }

  /** Starts receiving: events, the idle sweep and the endpoint's drain list. */
  open(connection: Connection): void {
    this.connection = connection;
    this.ws.handle = this;
    this.ws.on('message', onMessage);
    this.ws.on('error', onError);
    this.ws.on('close', onClose);
    this.shared.mount.services.live.add(this);
    this.shared.idle.add(this);
  }

  bytesRead(): number {
    return this.#tcp.bytesRead;
  }

  /** Hands one inbound frame to the connection; an undecodable one closes the socket with 1007. */
  receive(data: Buffer, binary: boolean): void {
    const { connection } = this;
    try {
      void connection.handleFrame(data, binary);
    } catch (err) {
      const { stats, logger } = this.shared.mount.services;
      connection.close({ shutdown: 'closed' });
      if (err instanceof MalformedFrameError) {
        stats.errors[CountedErrors.malformedFrame]++;
        logger.warn({ err: err.message, code: err.code, socketId: connection.socketId, peer: this.#peer() }, 'malformed frame; closing socket');
        this.ws.close(CloseCodes.invalidPayload, 'malformed frame');
      } else {
        stats.errors[CountedErrors.socketCrash]++;
        logger.error({ err, code: CountedErrors.socketCrash, socketId: connection.socketId, peer: this.#peer() }, 'socket crashed');
        this.ws.close(CloseCodes.internalError, 'internal error');
      }
    }
  }

  /** The socket closed (either side, any reason): end its channels and stop watching it. */
  closed(code: number): void {
    const { shared } = this;
    const { logger, live } = shared.mount.services;
    if (logs(logger, 'debug')) logger.debug({ code, socketId: this.connection.socketId, transport: this.name, peer: this.#peer() }, 'socket closed');
    shared.idle.delete(this);
    live.delete(this);
    this.connection.close({ shutdown: 'closed' });
  }

  /**
   * Writes `frame`, unless the socket is a slow reader: more than `maxQueuedBytes` left unsent by
   * earlier event-loop turns. Only the backlog counts, not this turn's batch: every socket, fast
   * or slow, holds the current turn's frames (corked, or as one large frame) until the kernel takes
   * them, so a socket's queue stays within `maxQueuedBytes` plus one turn's frames for it.
   */
  send(frame: Frame): void {
    const { ws, shared } = this;
    if (ws.readyState !== OPEN) return;
    if (shared.compress) {
      if (ws.bufferedAmount > shared.maxQueuedBytes) return this.#closeSlowReader(ws.bufferedAmount);
      return ws.send(frame.data, { binary: frame.binary });
    }
    // This is the fan-out path, once per subscriber per broadcast: the backlog is only looked at
    // by the first write of a turn, which also corks the socket for the rest of the turn.
    const tcp = this.#tcp;
    if (tcp.writableCorked === 0) {
      const backlog = tcp.writableLength;
      if (backlog > shared.maxQueuedBytes) return this.#closeSlowReader(backlog);
      corkForTurn(tcp);
    }
    tcp.write(frame.websocketBytes);
  }

  /**
   * Closes with 1008 and destroys the TCP connection at once: waiting for the close handshake
   * would keep the queue (and keep it growing) for a client that does not read. The close frame
   * sits behind the unread bytes and is discarded with them, so the client usually sees 1006.
   * Further frames are dropped: the socket is no longer OPEN.
   */
  #closeSlowReader(backlog: number): void {
    const { stats, logger } = this.shared.mount.services;
    stats.slowReaderCloses++;
    logger.warn({ code: CloseCodes.slowReader, backlog, socketId: this.connection.socketId }, 'slow reader; closing socket');
    this.ws.close(CloseCodes.slowReader, 'slow reader');
    this.ws.terminate();
  }

  close(code: number, reason: string): void {
    this.ws.close(code, reason);
  }

  /** What is left of `maxQueuedBytes` after everything still unsent, this turn's frames included. */
  spareBytes(): number {
    const { ws, shared } = this;
    if (ws.readyState !== OPEN) return 0;
    const queued = shared.compress ? ws.bufferedAmount : this.#tcp.writableLength;
    return Math.max(0, shared.maxQueuedBytes - queued);
  }

  #peer(): string {
    return `${this.#tcp.remoteAddress ?? ''}:${this.#tcp.remotePort ?? 0}`;
  }
}
