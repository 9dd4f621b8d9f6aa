/**
 * @module transport/handshake
 * Internal: the connect pipeline both transports run before a client gets a connection, in
 * Phoenix's order (§1.3) so that a refused client sees the same status on each: origin check →
 * serializer from `vsn` → the socket's `connect` → its `id`. Also what transports log about a
 * request (peer, refusals) and the one quirk of phoenix.js's query params (`token` twice).
 */
import type { IncomingMessage } from 'node:http';
import type { Assigns } from '../channel.ts';
import { clientAddress } from '../client-address.ts';
import { Connection } from '../runtime/connection.ts';
import type { Mount } from '../runtime/services.ts';
import type { Serializer } from '../serializer/serializer.ts';
import { serializerForVsn } from '../serializer/index.ts';
import type { ConnectInfo, Params } from '../socket.ts';
import type { OriginContext } from './origin.ts';
import { parseParams } from './params.ts';
import type { TransportHandle } from './transport.ts';

/** The outcome of the connect pipeline. */
export type HandshakeResult =
  | { readonly ok: true; readonly serializer: Serializer; readonly assigns: Assigns; readonly id: string | null }
  | { readonly ok: false; readonly status: number; readonly reason: RefusalReason };

/** A handshake that accepted the client. */
export type AcceptedHandshake = Extract<HandshakeResult, { ok: true }>;

/** Which step refused a client: origin check, `vsn`, `connect`, `id`, or the per-IP cap before them. */
export type RefusalReason = 'origin' | 'vsn' | 'connect' | 'id' | 'per-ip' | 'max-sessions';

/** The TCP peer of a request, as logged. */
export function peerOf(req: IncomingMessage): string {
  return `${req.socket.remoteAddress ?? ''}:${req.socket.remotePort ?? 0}`;
}

/** The client's address of a request to `mount`: the TCP peer's, or the one a trusted proxy forwarded. */
export function clientAddressOf(mount: Mount, req: IncomingMessage): string {
  return clientAddress(req, mount.services.trustedProxies);
}

/** Logs a refused connect at info (an expected outcome, but one an operator wants to see). */
export function logRefusal(mount: Mount, req: IncomingMessage, transport: string, code: number, reason: RefusalReason, client?: string): void {
  // Behind a proxy the peer is the proxy: the client's address says who was refused.
  const fields = { code, reason, transport, peer: peerOf(req), client: client ?? clientAddressOf(mount, req) };
  if (reason !== 'origin') return mount.services.logger.info(fields, 'connect refused');
  // Loud: most refused origins are a deployment mistake (a proxy in front, `url` not set), and the
  // operator needs both origins to fix it.
  const expected = mount.expectedOrigins(originContext(mount, req));
  mount.services.logger.warn({ ...fields, origin: req.headers.origin, expected }, 'connect refused: origin not allowed');
}

// Without a `connect`, every socket shares one empty assigns object; channels copy before writing.
const ACCEPT_WITHOUT_ASSIGNS = Object.freeze({ ok: true as const, assigns: Object.freeze({}) });

// Params the transports consume themselves; the app's connect never sees them.
const TRANSPORT_PARAMS = new Set(['vsn', '_csrf_token']);

/** Creates the connection of an accepted handshake over `transport`. */
export function openConnection(mount: Mount, accepted: AcceptedHandshake, transport: TransportHandle): Connection {
  return new Connection(mount, accepted.serializer, transport, accepted.assigns, accepted.id);
}

const REFUSED_ORIGIN: HandshakeResult = Object.freeze({ ok: false, status: 403, reason: 'origin' });
const REFUSED_VSN: HandshakeResult = Object.freeze({ ok: false, status: 403, reason: 'vsn' });
const REFUSED_ID: HandshakeResult = Object.freeze({ ok: false, status: 403, reason: 'id' });

/**
 * Runs origin check, serializer negotiation, `connect` and `id`, in Phoenix's order (§1.3).
 * Synchronous when the socket has no `connect` (nothing to wait for): then neither the params
 * nor the connect info are built, since nothing would read them.
 * @throws whatever `checkOrigin` or `id` throws (a `connect` that throws rejects the promise)
 */
export function handshake(
  mount: Mount,
  req: IncomingMessage,
  url: URL,
  transport: string,
  authToken: string | undefined,
): HandshakeResult | Promise<HandshakeResult> {
  const origin = req.headers.origin;
  if (!originAllowed(mount, req)) return REFUSED_ORIGIN;
  const serializer = serializerForVsn(url.searchParams.get('vsn'), mount.socket.options.framing);
  if (serializer === null) return REFUSED_VSN;
  if (mount.socket.options.connect === undefined) return accepted(mount, serializer, ACCEPT_WITHOUT_ASSIGNS.assigns);
  const params: Params = parseParams(appParams(url.searchParams), TRANSPORT_PARAMS);
  const info: ConnectInfo = {
    transport,
    // Read on demand: asking a TCP socket for its peer makes it keep the address for its whole life.
    get peer() {
      return { address: req.socket.remoteAddress ?? '', port: req.socket.remotePort ?? 0 };
    },
    get clientAddress() {
      return clientAddressOf(mount, req);
    },
    uri: url,
    origin,
    userAgent: req.headers['user-agent'],
    xHeaders: xHeadersOf(req),
    authToken,
  };
  return connectSocket(mount, serializer, params, info);
}

/**
 * The last two steps of the pipeline: the socket's `connect`, then its `id`. `starling-channels/testing`
 * enters the pipeline here, with params and connect info of its own.
 */
export async function connectSocket(mount: Mount, serializer: Serializer, params: Params, info: ConnectInfo): Promise<HandshakeResult> {
  const options = mount.socket.options;
  const result = options.connect ? await options.connect(params, info) : ACCEPT_WITHOUT_ASSIGNS;
  if (!result.ok) return { ok: false, status: result.status, reason: 'connect' };
  return accepted(mount, serializer, result.assigns);
}

/** The `id` step, after `connect` accepted with `assigns`. */
function accepted(mount: Mount, serializer: Serializer, assigns: Assigns): HandshakeResult {
  const { id: idOf } = mount.socket.options;
  const id = idOf ? idOf(assigns) : null;
  if (id !== null && typeof id !== 'string') return REFUSED_ID;
  return { ok: true, serializer, assigns, id };
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

function originContext(mount: Mount, req: IncomingMessage): OriginContext {
  const encrypted = (req.socket as { encrypted?: boolean }).encrypted === true;
  return {
    requestHost: req.headers.host,
    requestScheme: encrypted ? 'https' : 'http',
    configuredHost: mount.configuredHost,
    configuredUrl: mount.configuredUrl,
  };
}

/** Applies the mount's `checkOrigin` to a request (§7.1). */
export function originAllowed(mount: Mount, req: IncomingMessage): boolean {
  return mount.originAllowed(req.headers.origin, originContext(mount, req));
}

function xHeadersOf(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (name.startsWith('x-') && typeof value === 'string') headers[name] = value;
  }
  return headers;
}
