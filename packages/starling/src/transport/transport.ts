/**
 * @module transport/transport
 * Internal: the two faces of a transport. The endpoint routes HTTP requests and upgrades to a
 * {@link Transport} (one per mounted socket and transport kind); a connection writes frames and
 * closes through its {@link TransportHandle} (one per connected client: a WebSocket, or a
 * LongPoll session).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Connection } from '../runtime/connection.ts';
import type { Frame } from '../serializer/frame.ts';

/** A transport: handles the HTTP requests (and upgrades) of its URL under a mount. */
export interface Transport {
  /** The URL segment and the name channels see: `"websocket"` or `"longpoll"`. */
  readonly name: string;
  /** Handles a plain HTTP request to `<mount>/<name>`. */
  handleRequest(req: IncomingMessage, res: ServerResponse, url: URL): void;
  /** Handles an upgrade request to `<mount>/<name>` (WebSocket only). */
  handleUpgrade?(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): void;
  /** Starts what the transport needs from the running endpoint (LongPoll: forwarding between nodes). */
  start?(): Promise<void>;
  /** Closes whatever the transport holds (LongPoll sessions). */
  close?(): void;
}

/** What a connection needs from its transport. */
export interface TransportHandle {
  /** `"websocket"` or `"longpoll"`. */
  readonly name: string;
  /** Writes one frame. Must not throw. */
  send(frame: Frame): void;
  /** Closes the transport with a WebSocket close code (LongPoll ends its session). */
  close(code: number, reason: string): void;
  /**
   * Bytes of frames it can still take before its client counts as a slow reader (what is left of
   * `maxQueuedBytes`), 0 once closed. A recovery replay is sent only into half of it
   * (docs/recovery.md). Absent: no bound.
   */
  spareBytes?(): number;
}

/** A live connection and the transport that carries it, as the endpoint tracks them for draining. */
export interface LiveConnection {
  readonly connection: Connection;
  readonly transport: TransportHandle;
}
