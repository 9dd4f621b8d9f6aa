/**
 * @module transport/websocket/websocket-transport
 * The WebSocket transport at `<mount>/websocket`, on the `ws` package. It runs the connect
 * pipeline before upgrading (a refusal is an HTTP status, §1.3), always accepts the `phoenix`
 * subprotocol and reads the `base64url.bearer.phx.` auth token (§1.4), closes idle sockets with
 * 1002, undecodable frames with 1007, oversized ones with 1009 and slow readers (more than
 * `maxQueuedBytes` waiting to be sent) with 1008 — only that socket; every other socket carries on.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket as NetSocket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { logs } from '../../logger.ts';
import { CountedErrors } from '../../errors.ts';
import type { Mount } from '../../runtime/services.ts';
import { clientAddressOf, handshake, logRefusal, openConnection, peerOf, type AcceptedHandshake, type HandshakeResult } from '../handshake.ts';
import type { WebSocketOptions } from '../options.ts';
import type { Transport } from '../transport.ts';
import { IdleSweeper } from './idle-sweeper.ts';
import { StarlingWebSocket, WebSocketHandle, type WebSocketShared } from './websocket-handle.ts';

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
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

/**
 * The WebSocket transport of one mounted socket. It is also what every one of its sockets'
 * handles shares (mount, limits, idle sweep): one object, referenced by each handle.
 */
export class WebSocketTransport implements Transport, WebSocketShared {
  readonly name = 'websocket';
  readonly mount: Mount;
  readonly maxQueuedBytes: number;
  readonly compress: boolean;
  readonly idle: IdleSweeper<WebSocketHandle>;
  readonly #server: WebSocketServer;

  constructor(mount: Mount, options: WebSocketOptions = {}) {
    const compress = options.compress ?? false;
    this.mount = mount;
    this.maxQueuedBytes = options.maxQueuedBytes ?? 1024 * 1024;
    this.compress = compress;
    // It sweeps the endpoint's live connections: this transport's are the handles it made.
    const mine = (live: unknown): live is WebSocketHandle => live instanceof WebSocketHandle && live.shared === this;
    this.idle = new IdleSweeper(options.idleTimeoutMs ?? 60_000, () => mount.services.live, mine, mount.services.clock);
    this.#server = new WebSocketServer({
      noServer: true,
      WebSocket: StarlingWebSocket,
      maxPayload: options.maxFrameSize ?? 1024 * 1024,
      perMessageDeflate: compress,
      clientTracking: false,
      // Pings are answered by the handle (WebSocketHandle.pong), which keeps no closure per socket.
      autoPong: false,
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
    const { stats } = this.mount.services;
    if (this.mount.connectionsPerIp !== null) {
      const client = clientAddressOf(this.mount, req);
      const release = this.mount.connectionsPerIp.acquire(client);
      if (release === null) {
        stats.connectionsPerIpRefused++;
        logRefusal(this.mount, req, this.name, 429, 'per-ip', client);
        return rejectUpgrade(socket, 429);
      }
      // The TCP socket's end gives the slot back on every path: refused, failed upgrade or closed.
      socket.once('close', release);
    }
    const authToken = authTokenFromProtocols(req.headers['sec-websocket-protocol']);
    let result;
    try {
      result = handshake(this.mount, req, url, this.name, authToken);
    } catch (err) {
      return this.#crashed(req, socket, err);
    }
    // Without an async `connect` the handshake is decided at once: no promise, no closures.
    if (!(result instanceof Promise)) return this.#upgrade(req, socket, head, result);
    result.then(
      (decided) => this.#upgrade(req, socket, head, decided),
      (err: unknown) => this.#crashed(req, socket, err),
    );
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, result: HandshakeResult): void {
    if (!result.ok) {
      logRefusal(this.mount, req, this.name, result.status, result.reason);
      return rejectUpgrade(socket, result.status);
    }
    if (socket.destroyed) return;
    this.#server.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      // ws now destroys the socket on error itself: a second listener would turn the socket's
      // error listeners into an array, kept for its whole life (~64 bytes per idle socket).
      socket.removeListener('error', destroyOnError);
      // An HTTP server's upgrade socket is its net.Socket (a tls.TLSSocket under https), typed Duplex by node:http.
      this.#open(ws as StarlingWebSocket, socket as NetSocket, result, req);
    });
  }

  #crashed(req: IncomingMessage, socket: Duplex, err: unknown): void {
    const { stats, logger } = this.mount.services;
    stats.errors[CountedErrors.connectCrash]++;
    logger.error({ err, code: CountedErrors.connectCrash, peer: peerOf(req) }, 'connect crashed');
    rejectUpgrade(socket, 500);
  }

  #open(ws: StarlingWebSocket, tcp: NetSocket, accepted: AcceptedHandshake, req: IncomingMessage): void {
    const handle = new WebSocketHandle(ws, this, tcp);
    handle.open(openConnection(this.mount, accepted, handle));
    const { logger } = this.mount.services;
    // Only when logged: reading the peer makes the TCP socket keep its address for its whole life.
    if (logs(logger, 'debug')) logger.debug({ socketId: accepted.id, transport: this.name, peer: peerOf(req) }, 'socket connected');
  }
}
