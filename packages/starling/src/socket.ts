/**
 * @module socket
 * A socket definition: how a connection is authenticated (`connect`), how it is identified
 * (`id`), and which channel handles which topics. One definition serves every connection mounted
 * at its path; per-connection state is the assigns `connect` returns.
 *
 * `connect` receives untrusted query params: verify tokens there, not in channels.
 *
 * @example
 * import { Socket, accept, refuse } from 'starling-channels';
 *
 * const userSocket = new Socket({
 *   connect(params) {
 *     const user = endpoint.tokens.verify('user socket', params.token, { maxAge: 86400 });
 *     return user.ok ? accept({ userId: user.data }) : refuse();
 *   },
 *   id: (assigns) => `users_socket:${assigns.userId}`,
 * }).channel('rooms:*', RoomChannel);
 */
import type { Assigns, Channel, ChannelEvents, UntypedEvents } from './channel.ts';
import { TopicPattern } from './topic.ts';

/** Query params as the client sent them, brackets decoded (`user[id]=7` → `{user: {id: "7"}}`). */
export interface Params {
  readonly [key: string]: string | Params | readonly (string | Params)[];
}

/** Facts about the connection offered to `connect`. Nothing here is trusted except `peer` and `clientAddress`. */
export interface ConnectInfo {
  /** `"websocket"` or `"longpoll"`. */
  readonly transport: string;
  /** The TCP peer's address and port (behind a reverse proxy: the proxy's). */
  readonly peer: { readonly address: string; readonly port: number };
  /**
   * The client's address: the peer's, or, when the peer is one of the endpoint's
   * `trustedProxies`, the address that proxy forwarded. Key per-address rules by this one.
   */
  readonly clientAddress: string;
  /** The request URI. */
  readonly uri: URL;
  /** The `Origin` header, if any (already checked against `checkOrigin`). */
  readonly origin: string | undefined;
  readonly userAgent: string | undefined;
  /** Every `x-*` request header. */
  readonly xHeaders: Readonly<Record<string, string>>;
  /** The token from the `base64url.bearer.phx.` subprotocol or the `X-Phoenix-AuthToken` header. */
  readonly authToken: string | undefined;
}

/** The outcome of `connect`. */
export type ConnectResult<A extends Assigns> = { readonly ok: true; readonly assigns: A } | { readonly ok: false; readonly status: number };

/** Accepts a connection with `assigns`, which every channel of the socket inherits. */
export function accept<A extends Assigns>(assigns: A): ConnectResult<A> {
  return { ok: true, assigns };
}

/** Refuses a connection: HTTP `status` (default 403) for WebSocket, `{"status":403}` for LongPoll. */
export function refuse(status = 403): ConnectResult<never> {
  return { ok: false, status };
}

/** Callbacks of a socket definition. */
export interface SocketOptions<A extends Assigns> {
  /** Authenticates a connection. Default: accept everyone with empty assigns. */
  connect?(params: Params, info: ConnectInfo): ConnectResult<A> | Promise<ConnectResult<A>>;
  /**
   * Identifies the connection's user, e.g. `"users_socket:42"`, or null. Broadcasting
   * `"disconnect"` on that topic closes every socket with the id.
   */
  id?(assigns: A): string | null;
  /**
   * The framing of the socket's clients. `"phoenix"` (default): the official `phoenix` client and
   * Phoenix's binary kinds 0–2. `"supabase"`: `@supabase/realtime-js`, whose V2 binary frames are
   * user broadcasts (kinds 3 and 4, docs/supabase.md) and which must never receive kinds 0–2.
   * Sockets of either framing share topics: JSON broadcasts are the same text frames for both.
   */
  framing?: SocketFraming | undefined;
}

/** The wire framings a socket can speak (see {@link SocketOptions.framing}). */
export type SocketFraming = 'phoenix' | 'supabase';

/** A topic pattern routed to a channel, with optional extra assigns. */
export interface Route {
  readonly pattern: TopicPattern;
  readonly channel: Channel;
  readonly assigns: Assigns | undefined;
}

/** A socket definition: connect, id and topic routes. */
export class Socket<A extends Assigns = Assigns> {
  readonly #routes: Route[] = [];

  readonly options: SocketOptions<A>;
  constructor(options: SocketOptions<A> = {}) {
    this.options = options;
  }

  /**
   * Routes topics matching `pattern` (`"rooms:*"` or an exact topic) to `channel`. The first
   * declared match wins. `assigns` are merged into the channel's assigns.
   */
  channel<C extends A, E extends ChannelEvents = UntypedEvents>(pattern: string, channel: Channel<C, E>, assigns?: Partial<C>): this {
    this.#routes.push({ pattern: TopicPattern.parse(pattern), channel: channel as unknown as Channel, assigns });
    return this;
  }

  /** The route for `topic`, or null when no pattern matches. */
  route(topic: string): Route | null {
    for (const route of this.#routes) if (route.pattern.matches(topic)) return route;
    return null;
  }
}
