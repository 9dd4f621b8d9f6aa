/**
 * @module transport/transport
 * The Transport contract and what transports share: the mounted socket they serve, the endpoint's
 * services, and the connect pipeline (origin → serializer from `vsn` → `connect` → `id`) that both
 * WebSocket and LongPoll run in Phoenix's order, so a refused client sees the same status on each.
 */
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { Assigns } from '../channel.ts';
import { Connection, type ConnectionLimits, type ConnectionShared, type TransportHandle } from '../connection.ts';
import type { EndpointStats } from '../endpoint-stats.ts';
import type { Presence } from '../presence/presence.ts';
import type { PubSub } from '../pubsub/pubsub.ts';
import type { Serializer } from '../serializer/serializer.ts';
import { serializerForVsn } from '../serializer/index.ts';
import type { ConnectInfo, Params, Socket } from '../socket.ts';
import type { TokenSigner } from '../token/token.ts';
import type { ConnectionsPerIp } from './connections-per-ip.ts';
import { parseParams } from './params.ts';
import type { OriginContext } from './origin.ts';

/** A live connection and the transport that carries it, as the endpoint tracks them for draining. */
export interface LiveConnection {
  readonly connection: Connection;
  readonly transport: TransportHandle;
}

/** The endpoint's services every transport uses. */
export interface EndpointServices {
  readonly pubsub: PubSub;
  readonly presence: Presence;
  readonly logger: Logger;
  readonly tokens: TokenSigner;
  /** Every open connection, for draining on shutdown. */
  readonly live: Set<LiveConnection>;
  /** Counters of the protective limits (`endpoint.stats`). */
  readonly stats: EndpointStats;
}

/** A socket definition mounted at a path, with its resolved options. */
export interface MountedSocket {
  /** The path prefix, e.g. `/socket`. */
  readonly path: string;
  readonly socket: Socket;
  readonly limits: ConnectionLimits;
  /** Open connections per IP address, or null when `maxConnectionsPerIp` is unlimited. */
  readonly connectionsPerIp: ConnectionsPerIp | null;
  /** The compiled origin check. */
  readonly originAllowed: (origin: string | undefined, context: OriginContext) => boolean;
  /** The endpoint's public host for `checkOrigin: true`, if configured. */
  readonly configuredHost: string | undefined;
}

/** A transport: handles the HTTP requests (and upgrades) of its URL under a mount. */
export interface Transport {
  /** The URL segment and the name channels see: `"websocket"` or `"longpoll"`. */
  readonly name: string;
  /** Handles a plain HTTP request to `<mount>/<name>`. */
  handleRequest(req: IncomingMessage, res: import('node:http').ServerResponse, url: URL): void;
  /** Handles an upgrade request to `<mount>/<name>` (WebSocket only). */
  handleUpgrade?(req: IncomingMessage, socket: import('node:stream').Duplex, head: Buffer, url: URL): void;
  /** Starts what the transport needs from the running endpoint (LongPoll: forwarding between nodes). */
  start?(): Promise<void>;
  /** Closes whatever the transport holds (LongPoll sessions). */
  close?(): void;
}

/** The outcome of the connect pipeline. */
export type HandshakeResult =
  | { readonly ok: true; readonly serializer: Serializer; readonly assigns: Assigns; readonly id: string | null }
  | { readonly ok: false; readonly status: number; readonly reason: RefusalReason };

/** Which step of the connect pipeline refused a client: origin check, `vsn`, `connect`, or `id`. */
export type RefusalReason = 'origin' | 'vsn' | 'connect' | 'id';

/** The TCP peer of a request, as logged. */
export function peerOf(req: IncomingMessage): string {
  return `${req.socket.remoteAddress ?? ''}:${req.socket.remotePort ?? 0}`;
}

/** Logs a refused connect at info (an expected outcome, but one an operator wants to see). */
export function logRefusal(logger: Logger, req: IncomingMessage, transport: string, code: number, reason: RefusalReason | 'per-ip'): void {
  logger.info({ code, reason, transport, peer: peerOf(req) }, 'connect refused');
}

// Without a `connect`, every socket shares one empty assigns object; channels copy before writing.
const ACCEPT_WITHOUT_ASSIGNS = Object.freeze({ ok: true as const, assigns: Object.freeze({}) });

// Params the transports consume themselves; the app's connect never sees them.
const TRANSPORT_PARAMS = new Set(['vsn', '_csrf_token']);

/** What every connection of `mount` shares; a transport builds it once. */
export function connectionShared(mount: MountedSocket, services: EndpointServices): ConnectionShared {
  return {
    socket: mount.socket,
    pubsub: services.pubsub,
    presence: services.presence,
    logger: services.logger,
    limits: mount.limits,
    stats: services.stats,
  };
}

/** Creates the connection of an accepted handshake over `transport`. */
export function openConnection(shared: ConnectionShared, accepted: Extract<HandshakeResult, { ok: true }>, transport: TransportHandle): Connection {
  return new Connection(shared, accepted.serializer, transport, accepted.assigns, accepted.id);
}

/** Runs origin check, serializer negotiation, `connect` and `id`, in Phoenix's order (§1.3). */
export async function handshake(
  mount: MountedSocket,
  req: IncomingMessage,
  url: URL,
  transport: string,
  authToken: string | undefined,
): Promise<HandshakeResult> {
  const origin = req.headers.origin;
  if (!originAllowed(mount, req)) return { ok: false, status: 403, reason: 'origin' };
  const serializer = serializerForVsn(url.searchParams.get('vsn'));
  if (serializer === null) return { ok: false, status: 403, reason: 'vsn' };
  const params: Params = parseParams(appParams(url.searchParams), TRANSPORT_PARAMS);
  const info: ConnectInfo = {
    transport,
    // Read on demand: asking a TCP socket for its peer makes it keep the address for its whole life.
    get peer() {
      return { address: req.socket.remoteAddress ?? '', port: req.socket.remotePort ?? 0 };
    },
    uri: url,
    origin,
    userAgent: req.headers['user-agent'],
    xHeaders: xHeadersOf(req),
    authToken,
  };
  const options = mount.socket.options;
  const result = options.connect ? await options.connect(params, info) : ACCEPT_WITHOUT_ASSIGNS;
  if (!result.ok) return { ok: false, status: result.status, reason: 'connect' };
  const id = options.id ? options.id(result.assigns) : null;
  if (id !== null && typeof id !== 'string') return { ok: false, status: 403, reason: 'id' };
  return { ok: true, serializer, assigns: result.assigns, id };
}

/**
 * The query without LongPoll's session token. phoenix.js appends the session `token` after the
 * app's params, so an app param also named `token` (the guide's `params: {token: userToken}`)
 * comes first and the session's last: the app keeps the first.
 */
function appParams(search: URLSearchParams): URLSearchParams {
  const tokens = search.getAll('token');
  if (tokens.length < 2) return search;
  const copy = new URLSearchParams(search);
  copy.set('token', tokens[0]!);
  return copy;
}

/** The LongPoll session token of a request: the last `token` param (see {@link appParams}). */
export function sessionTokenParam(search: URLSearchParams): string | null {
  return search.getAll('token').at(-1) ?? null;
}

/** Applies the mount's `checkOrigin` to a request (§7.1). */
export function originAllowed(mount: MountedSocket, req: IncomingMessage): boolean {
  const encrypted = (req.socket as { encrypted?: boolean }).encrypted === true;
  const context: OriginContext = {
    requestHost: req.headers.host,
    requestScheme: encrypted ? 'https' : 'http',
    configuredHost: mount.configuredHost,
  };
  return mount.originAllowed(req.headers.origin, context);
}

function xHeadersOf(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (name.startsWith('x-') && typeof value === 'string') headers[name] = value;
  }
  return headers;
}
