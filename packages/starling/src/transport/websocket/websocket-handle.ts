/**
 * @module transport/websocket/websocket-handle
 * Internal: one WebSocket connection as the runtime sees it — the frames it receives, the frames
 * it is sent (batched per turn, with the slow-reader bound) and its close. An idle server holds
 * thousands of these, so nothing here is allocated per socket beyond the handle itself: `ws`
 * emits events on a WebSocket subclass that carries its handle and hands them to it, with no
 * listener and no closure per socket. Its private methods are TypeScript `private`, not `#`: a
 * class with `#` methods gives each instance a hidden brand field (8 bytes per socket).
 */
import type { Socket as NetSocket } from 'node:net';
import { WebSocket } from 'ws';
import { CountedErrors, MalformedFrameError } from '../../errors.ts';
import { logs } from '../../logger.ts';
import { CloseCodes } from '../../protocol.ts';
import type { Connection } from '../../runtime/connection.ts';
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

/**
 * ws's WebSocket with a slot for its handle (the server is told to create these). It takes ws's
 * events itself, in `emit`, instead of through listeners: a socket with listeners keeps them in a
 * dictionary of its own (~160 bytes for three, ~260 for four), for its whole life.
 */
export class StarlingWebSocket extends WebSocket {
  handle: WebSocketHandle | null = null;

  override emit(event: string | symbol, ...args: unknown[]): boolean {
    const { handle } = this;
    if (handle === null) return super.emit(event, ...args);
    switch (event) {
      case 'message':
        handle.receive(args[0] as Buffer, args[1] as boolean);
        return true;
      case 'ping':
        handle.pong(args[0] as Buffer);
        return true;
      case 'close':
        handle.closed(args[0] as number);
        return true;
      case 'error':
        // ws reports protocol violations (oversized frame → 1009, invalid UTF-8 → 1007) here, then closes.
        handle.shared.mount.services.logger.debug({ err: (args[0] as Error).message }, 'websocket error');
        return true;
      default:
        return super.emit(event, ...args);
    }
  }
}

/**
 * Pongs a socket may owe at once, as ws's own `maxPendingAutoPongs` (60): a client that keeps
 * pinging without reading the pongs is terminated instead of growing the send queue.
 */
export const MAX_PENDING_PONGS = 60;

/** One WebSocket connection: the transport side of a {@link Connection}. */
export class WebSocketHandle implements TransportHandle, LiveConnection, IdleWatched {
  readonly ws: StarlingWebSocket;
  readonly shared: WebSocketShared;
  connection!: Connection;
  idleBytes = 0;
  idleSweep = -1;
  /** Pongs written but not yet handed to the kernel. */
  pendingPongs = 0;
  // Writing our pre-built frames to the TCP socket directly (in order with ws's own writes, which
  // are synchronous without compression) is what makes fan-out write the same bytes to every
  // subscriber. ws keeps the socket it writes to private (`_socket`) and offers no public getter;
  // but it is the very socket the upgrade request arrived on, which `WebSocketServer.handleUpgrade`
  // was given (ws's `setSocket` adopts it as it is), so the transport hands that one over instead.
  readonly #tcp: NetSocket;

  /** @param tcp the socket of the upgrade request, which ws writes to */
  constructor(ws: StarlingWebSocket, shared: WebSocketShared, tcp: NetSocket) {
    this.ws = ws;
    this.shared = shared;
    this.#tcp = tcp;
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
        logger.warn({ err: err.message, code: err.code, socketId: connection.socketId, peer: this.peer() }, 'malformed frame; closing socket');
        this.ws.close(CloseCodes.invalidPayload, 'malformed frame');
      } else {
        stats.errors[CountedErrors.socketCrash]++;
        logger.error({ err, code: CountedErrors.socketCrash, socketId: connection.socketId, peer: this.peer() }, 'socket crashed');
        this.ws.close(CloseCodes.internalError, 'internal error');
      }
    }
  }

  /**
   * Answers a WebSocket ping, as ws's `autoPong` would, with the same bound on pongs owed. The
   * transport turns ws's `autoPong` off because it keeps a closure per socket for the pong's
   * completion (~100 bytes per idle socket); here one is made per ping instead.
   */
  pong(data: Buffer): void {
    const { ws } = this;
    if (ws.readyState !== OPEN) return;
    if (this.pendingPongs >= MAX_PENDING_PONGS) return ws.terminate();
    this.pendingPongs++;
    ws.pong(data, false, () => this.pendingPongs--);
  }

  /** The socket closed (either side, any reason): end its channels and stop watching it. */
  closed(code: number): void {
    const { shared } = this;
    const { logger, live } = shared.mount.services;
    if (logs(logger, 'debug')) logger.debug({ code, socketId: this.connection.socketId, transport: this.name, peer: this.peer() }, 'socket closed');
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
      if (ws.bufferedAmount > shared.maxQueuedBytes) return this.closeSlowReader(ws.bufferedAmount);
      return ws.send(frame.data, { binary: frame.binary });
    }
    // This is the fan-out path, once per subscriber per broadcast: the backlog is only looked at
    // by the first write of a turn, which also corks the socket for the rest of the turn.
    const tcp = this.#tcp;
    if (tcp.writableCorked === 0) {
      const backlog = tcp.writableLength;
      if (backlog > shared.maxQueuedBytes) return this.closeSlowReader(backlog);
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
  private closeSlowReader(backlog: number): void {
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

  private peer(): string {
    return `${this.#tcp.remoteAddress ?? ''}:${this.#tcp.remotePort ?? 0}`;
  }
}
