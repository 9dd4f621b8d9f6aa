/**
 * @module transport/websocket
 * The WebSocket transport at `<mount>/websocket`, on the `ws` package. It runs the connect
 * pipeline before upgrading (a refusal is an HTTP status, §1.3), always accepts the `phoenix`
 * subprotocol and reads the `base64url.bearer.phx.` auth token (§1.4), closes idle sockets with
 * 1002, undecodable frames with 1007, oversized ones with 1009 and slow readers (more than
 * `maxQueuedBytes` waiting to be sent) with 1008 — only that socket; every other socket carries on.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket as NetSocket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Connection, TransportHandle } from '../connection.ts';
import { CountedErrors, type EndpointStats } from '../endpoint-stats.ts';
import { MalformedFrameError } from '../errors.ts';
import type { Frame } from '../frame.ts';
import { CloseCodes } from '../protocol.ts';
import { batchedWrite } from './write-batch.ts';
import {
  handshake,
  logRefusal,
  openConnection,
  peerOf,
  type EndpointServices,
  type HandshakeResult,
  type LiveConnection,
  type MountedSocket,
  type Transport,
} from './transport.ts';

type AcceptedHandshake = Extract<HandshakeResult, { ok: true }>;

/** Options of the WebSocket transport. */
export interface WebSocketOptions {
  /** Largest accepted inbound frame in bytes; larger closes with 1009. Default 1 MiB. */
  maxFrameSize?: number;
  /** Close with 1002 after this long without an inbound frame. Default 60 s. */
  idleTimeoutMs?: number;
  /** Negotiate permessage-deflate. Off by default: it compresses per socket and undoes encode-once fan-out. */
  compress?: boolean;
  /**
   * Bytes a socket may leave waiting to be sent from one event-loop turn to the next (written but
   * not yet taken by the kernel) before it is a slow reader: closed with 1008 and its TCP
   * connection destroyed at once. Keep it above the largest frame a healthy client receives.
   * Default 1 MiB.
   */
  maxQueuedBytes?: number;
}

const AUTH_TOKEN_PREFIX = 'base64url.bearer.phx.';
const PHOENIX_SUBPROTOCOL = 'phoenix';

/** Reads the auth token offered as a subprotocol; standard or URL-safe base64, padding optional. */
export function authTokenFromProtocols(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  for (const entry of header.split(',')) {
    const value = entry.trim();
    if (!value.startsWith(AUTH_TOKEN_PREFIX)) continue;
    const encoded = value.slice(AUTH_TOKEN_PREFIX.length);
    // Despite the prefix, phoenix.js uses btoa (standard alphabet); Buffer accepts both alphabets.
    if (!/^[A-Za-z0-9+/_-]*=*$/.test(encoded)) return undefined;
    return Buffer.from(encoded, 'base64').toString('utf8');
  }
  return undefined;
}

function destroyOnError(this: Duplex): void {
  this.destroy();
}

const STATUS_TEXT: Readonly<Record<number, string>> = { 400: 'Bad Request', 403: 'Forbidden', 429: 'Too Many Requests' };

function rejectUpgrade(socket: Duplex, status: number, body = ''): void {
  const reason = STATUS_TEXT[status] ?? 'Error';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** The WebSocket transport of one mounted socket. */
export class WebSocketTransport implements Transport {
  readonly name = 'websocket';
  readonly #server: WebSocketServer;
  readonly #idle: IdleSweeper;
  readonly #compress: boolean;
  readonly #bound: SendBound;

  constructor(
    private readonly mount: MountedSocket,
    private readonly services: EndpointServices,
    options: WebSocketOptions = {},
  ) {
    this.#idle = new IdleSweeper(options.idleTimeoutMs ?? 60_000);
    this.#compress = options.compress ?? false;
    this.#bound = { maxQueuedBytes: options.maxQueuedBytes ?? 1024 * 1024, stats: services.stats, logger: services.logger };
    this.#server = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxFrameSize ?? 1024 * 1024,
      perMessageDeflate: this.#compress,
      clientTracking: false,
      handleProtocols: (offered) => (offered.has(PHOENIX_SUBPROTOCOL) ? PHOENIX_SUBPROTOCOL : false),
    });
  }

  handleRequest(req: IncomingMessage, res: ServerResponse): void {
    // Any other method: 400 with an empty body (§1.3 step 1); GET without upgrade headers: step 8.
    if (req.method !== 'GET') return void res.writeHead(400).end();
    res.writeHead(400, { 'content-type': 'text/plain' }).end("'connection' header must contain 'upgrade'");
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): void {
    // A module-level listener: a closure here would keep this scope — the request and its
    // headers — alive for the socket's whole life (~1 KB per connection).
    socket.on('error', destroyOnError);
    // Method first, before origin and connect (§1.3 step 1); ws itself would answer 405 only after connect ran.
    if (req.method !== 'GET') return rejectUpgrade(socket, 400);
    if (this.mount.connectionsPerIp !== null) {
      const release = this.mount.connectionsPerIp.acquire(req.socket.remoteAddress ?? '');
      if (release === null) {
        this.services.stats.connectionsPerIpRefused++;
        logRefusal(this.services.logger, req, this.name, 429, 'per-ip');
        return rejectUpgrade(socket, 429);
      }
      // The TCP socket's end gives the slot back on every path: refused, failed upgrade or closed.
      socket.once('close', release);
    }
    const authToken = authTokenFromProtocols(req.headers['sec-websocket-protocol']);
    handshake(this.mount, req, url, this.name, authToken).then(
      (result) => {
        if (!result.ok) {
          logRefusal(this.services.logger, req, this.name, result.status, result.reason);
          return rejectUpgrade(socket, result.status);
        }
        if (socket.destroyed) return;
        const peer = peerOf(req);
        this.#server.handleUpgrade(req, socket, head, (ws) => this.#open(ws, result, peer));
      },
      (err: unknown) => {
        this.services.stats.errors[CountedErrors.connectCrash]++;
        this.services.logger.error({ err, code: CountedErrors.connectCrash, peer: peerOf(req) }, 'connect crashed');
        rejectUpgrade(socket, 500);
      },
    );
  }

  #open(ws: WebSocket, accepted: AcceptedHandshake, peer: string): void {
    const { services } = this;
    // ws keeps the TCP socket private; writing our pre-built frames to it directly (in order with
    // ws's own writes, which are synchronous without compression) is what makes fan-out write the
    // same bytes to every subscriber. With compression, frames must go through ws's deflater.
    const raw = this.#compress ? null : (ws as unknown as { _socket: NetSocket })._socket;
    const handle = new WebSocketHandle(ws, raw, this.#bound);
    const connection = openConnection(this.mount, services, accepted, handle);
    handle.connection = connection;
    services.live.add(handle);
    this.#idle.add(handle);
    services.logger.debug({ socketId: accepted.id, transport: this.name, peer }, 'socket connected');

    ws.on('message', (data: Buffer, binary: boolean) => {
      handle.lastSeen = Date.now();
      try {
        void connection.handleFrame(data, binary);
      } catch (err) {
        connection.close({ shutdown: 'closed' });
        if (err instanceof MalformedFrameError) {
          services.stats.errors[CountedErrors.malformedFrame]++;
          services.logger.warn({ err: err.message, code: err.code, socketId: accepted.id, peer }, 'malformed frame; closing socket');
          ws.close(CloseCodes.invalidPayload, 'malformed frame');
        } else {
          services.stats.errors[CountedErrors.socketCrash]++;
          services.logger.error({ err, code: CountedErrors.socketCrash, socketId: accepted.id, peer }, 'socket crashed');
          ws.close(CloseCodes.internalError, 'internal error');
        }
      }
    });
    ws.on('ping', handle.seen);
    ws.on('pong', handle.seen);
    // ws reports protocol violations (oversized frame → 1009, invalid UTF-8 → 1007) here and closes.
    ws.on('error', (err) => services.logger.debug({ err: err.message }, 'websocket error'));
    ws.on('close', (code: number) => {
      services.logger.debug({ code, socketId: accepted.id, transport: this.name, peer }, 'socket closed');
      this.#idle.delete(handle);
      services.live.delete(handle);
      connection.close({ shutdown: 'closed' });
    });
  }
}

/** What every handle of a transport shares, in one object so that each handle stays small. */
interface SendBound {
  readonly maxQueuedBytes: number;
  readonly stats: EndpointStats;
  readonly logger: Logger;
}

/**
 * One WebSocket connection: its transport handle (no closures, so that thousands of idle
 * sockets stay small) and the time of its last inbound frame for the idle sweep.
 */
class WebSocketHandle implements TransportHandle, LiveConnection {
  readonly name = 'websocket';
  connection!: Connection;
  lastSeen = Date.now();
  /** Marks inbound traffic (ping and pong frames count too). */
  readonly seen = (): void => {
    this.lastSeen = Date.now();
  };

  constructor(
    readonly ws: WebSocket,
    private readonly raw: NetSocket | null,
    private readonly bound: SendBound,
  ) {}

  get transport(): TransportHandle {
    return this;
  }

  /**
   * Writes `frame`, unless the socket is a slow reader: more than `maxQueuedBytes` left unsent by
   * earlier event-loop turns. Only the backlog counts, not this turn's batch: every socket, fast
   * or slow, holds the current turn's frames (corked, or as one large frame) until the kernel takes
   * them, so a socket's queue stays within `maxQueuedBytes` plus one turn's frames for it.
   */
  send(frame: Frame): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    const backlog = this.raw === null ? this.ws.bufferedAmount : this.raw.writableCorked === 0 ? this.raw.writableLength : 0;
    if (backlog > this.bound.maxQueuedBytes) return this.#closeSlowReader(backlog);
    if (this.raw === null) this.ws.send(frame.data, { binary: frame.binary });
    else batchedWrite(this.raw, frame.websocketBytes);
  }

  /**
   * Closes with 1008 and destroys the TCP connection at once: waiting for the close handshake
   * would keep the queue (and keep it growing) for a client that does not read. The close frame
   * sits behind the unread bytes and is discarded with them, so the client usually sees 1006.
   * Further frames are dropped: the socket is no longer OPEN.
   */
  #closeSlowReader(backlog: number): void {
    const { stats, logger } = this.bound;
    stats.slowReaderCloses++;
    logger.warn({ code: CloseCodes.slowReader, backlog, socketId: this.connection.socketId }, 'slow reader; closing socket');
    this.ws.close(CloseCodes.slowReader, 'slow reader');
    this.ws.terminate();
  }

  close(code: number, reason: string): void {
    this.ws.close(code, reason);
  }
}

/**
 * Closes sockets that sent nothing for `timeoutMs` (code 1002). One timer sweeps every socket of
 * a transport, instead of one timer per socket refreshed on every frame; a socket is closed
 * between `timeoutMs` and 1.25 × `timeoutMs` after its last frame.
 */
class IdleSweeper {
  readonly #handles = new Set<WebSocketHandle>();
  #timer: NodeJS.Timeout | null = null;

  constructor(private readonly timeoutMs: number) {}

  add(handle: WebSocketHandle): void {
    this.#handles.add(handle);
    if (this.#timer === null) {
      this.#timer = setInterval(() => this.#sweep(), Math.max(10, Math.floor(this.timeoutMs / 4)));
      this.#timer.unref();
    }
  }

  delete(handle: WebSocketHandle): void {
    this.#handles.delete(handle);
    if (this.#handles.size === 0 && this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }

  #sweep(): void {
    const deadline = Date.now() - this.timeoutMs;
    for (const handle of this.#handles) {
      if (handle.lastSeen <= deadline) {
        this.#handles.delete(handle);
        handle.close(CloseCodes.idleTimeout, 'idle timeout');
      }
    }
  }
}
