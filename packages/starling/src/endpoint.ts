/**
 * @module endpoint
 * The endpoint mounts sockets at path prefixes on a `node:http` server and owns what they share:
 * the PubSub, Presence, the token signer and shutdown. `/socket` mounted here serves
 * `/socket/websocket` and `/socket/longpoll`.
 *
 * @example
 * import { Endpoint } from 'starling-channels';
 *
 * const endpoint = new Endpoint({ secretKeyBase: process.env.SECRET_KEY_BASE });
 * endpoint.socket('/socket', userSocket);
 * const server = await endpoint.listen({ port: 4000, host: '127.0.0.1' });
 * endpoint.broadcast('rooms:lobby', 'new_msg', { body: 'from anywhere' });
 * await endpoint.close(); // drains sockets with close code 1012
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { OutPayload } from './channel.ts';
import { clientAddress, TrustedProxies } from './client-address.ts';
import { consoleLogger, type Logger } from './logger.ts';
import { Presence } from './presence/presence.ts';
import type { PresenceClusterOptions } from './presence/presence-cluster.ts';
import { CloseCodes } from './protocol.ts';
import { PubSub, type Subscriber } from './pubsub/pubsub.ts';
import type { HistoryOptions } from './pubsub/stream.ts';
import type { Clock } from './clock.ts';
import { realClock } from './runtime/clock.ts';
import { createEndpointStats, type EndpointStats } from './endpoint-stats.ts';
import { resolveInputLimits } from './runtime/limits.ts';
import { registerMount } from './runtime/mounts.ts';
import type { RateLimitOptions } from './rate-limit.ts';
import { resolveRateLimit } from './runtime/rate-limiter.ts';
import type { Mount, Services } from './runtime/services.ts';
import type { Socket } from './socket.ts';
import { TokenSigner } from './token/token.ts';
import { ConnectionsPerIp } from './transport/connections-per-ip.ts';
import { LongPollTransport } from './transport/long-poll/long-poll-transport.ts';
import type { LongPollOptions, WebSocketOptions } from './transport/options.ts';
import { compileOriginCheck, describeOriginCheck, type CheckOrigin } from './transport/origin.ts';
import type { LiveConnection, Transport } from './transport/transport.ts';
import { WebSocketTransport } from './transport/websocket/websocket-transport.ts';

/** Options of an {@link Endpoint}. */
export interface EndpointOptions {
  /**
   * Secret for signed tokens: at least 64 characters (shorter throws), the same on every node.
   * Default: random per process (tokens do not survive a restart).
   */
  secretKeyBase?: string | undefined;
  /** The PubSub; default: in-process. Pass one with a Redis adapter to run several nodes. */
  pubsub?: PubSub | undefined;
  /**
   * Topics that keep history so clients can rejoin without a gap (docs/recovery.md), for the
   * default in-process PubSub. With your own `pubsub`, give `history` to it instead (both throw).
   */
  history?: HistoryOptions | undefined;
  /**
   * Origin check for every socket (§7.1). Default `true`: the origin's scheme, host and port must
   * equal {@link url}, or without it the request's own (its scheme and `Host`). Behind a proxy that
   * terminates TLS, set `url` or list the origins: `["https://chat.example.com"]`.
   */
  checkOrigin?: CheckOrigin | undefined;
  /** The public URL of the site (`https://chat.example.com`) whose pages may open sockets under `checkOrigin: true`. */
  url?: string | undefined;
  /**
   * The public host name compared by `checkOrigin: true` instead of the request's (scheme and port
   * stay the request's). Prefer {@link url}, which fixes all three.
   */
  host?: string | undefined;
  /**
   * Where the endpoint logs (a pino logger fits as it is). Default: {@link consoleLogger} at
   * `"warn"` — crashes, malformed frames and limits that fire, on stderr.
   */
  logger?: Logger | undefined;
  /** Presence replication timing (heartbeat, how long a silent node stays listed). */
  presence?: PresenceClusterOptions | undefined;
  /**
   * The reverse proxies in front of the server: addresses and CIDR ranges (`["127.0.0.1",
   * "10.0.0.0/8"]` or `"127.0.0.1,10.0.0.0/8"`), or a {@link TrustedProxies} (to read `Forwarded`
   * instead of `X-Forwarded-For`). A request whose TCP peer is listed is attributed to the client
   * address its proxy forwarded: `maxConnectionsPerIp`, `ConnectInfo.clientAddress` and
   * {@link Endpoint.clientAddress} use it. Default: none (every request is its TCP peer's, and
   * forwarding headers are ignored).
   */
  trustedProxies?: string | readonly string[] | TrustedProxies | undefined;
  /**
   * The time source of this endpoint's sockets: rate limits, join timeouts, delayed `sendInfo`,
   * the WebSocket idle sweep, LongPoll session expiry and the shutdown drain's batches. Default:
   * the real clock. Tests over real sockets pass a `ManualClock` from `starling-channels/testing`
   * to move that time forward instead of sleeping.
   */
  clock?: Clock | undefined;
}

/** Options of one mounted socket. */
export interface SocketMountOptions {
  /** WebSocket transport options, or false to disable it. */
  websocket?: boolean | WebSocketOptions | undefined;
  /** LongPoll transport options, or false to disable it. */
  longpoll?: boolean | LongPollOptions | undefined;
  /** Overrides the endpoint's `checkOrigin` for this socket. */
  checkOrigin?: CheckOrigin | undefined;
  /** Channels per socket (§7.4). Default 100. */
  maxChannels?: number | undefined;
  /** Join time bound; a slower join is answered `{reason: "join timeout"}`. Default 10 s. */
  joinTimeoutMs?: number | undefined;
  /**
   * Per-socket inbound rate limit (a token bucket; heartbeats are never limited). A message over
   * budget is answered `{reason: "rate limited"}` and not handled; a socket over budget
   * continuously for `closeAfterMs` is closed with 1008. Default `{messagesPerSecond: 100,
   * burst: 200, closeAfterMs: 5000}`; `false` disables it.
   */
  rateLimit?: RateLimitOptions | false | undefined;
  /**
   * Open connections (WebSocket and LongPoll sessions together) per client IP address; more are
   * refused (WebSocket HTTP 429, LongPoll `{"status":403}`). Default {@link DEFAULT_MAX_CONNECTIONS_PER_IP};
   * `Infinity` turns it off. The address is the client's (see {@link EndpointOptions.trustedProxies}):
   * behind a reverse proxy that is not listed there, every client shares the proxy's.
   */
  maxConnectionsPerIp?: number | undefined;
  /** Longest topic in UTF-8 bytes; longer is answered `{reason: "topic too long"}`. Default 255. */
  maxTopicLength?: number | undefined;
  /** Longest event name in UTF-8 bytes; longer is answered `{reason: "event too long"}`. Default 255. */
  maxEventLength?: number | undefined;
  /** Largest join payload as JSON bytes; larger is refused `{reason: "join params too large"}`. Default 64 KiB. */
  maxJoinParamsBytes?: number | undefined;
  /** Deepest nesting of a payload; a deeper frame is malformed (close 1007). Default 32. */
  maxPayloadDepth?: number | undefined;
}

/** Options of {@link Endpoint.close}. */
export interface DrainOptions {
  /** Sockets closed per batch. Default 10,000. */
  batchSize?: number | undefined;
  /** Pause between batches. Default 2,000 ms. */
  intervalMs?: number | undefined;
}

/** Options of {@link Endpoint.listen}. */
export interface ListenOptions {
  port?: number | undefined;
  host?: string | undefined;
  /** Handles every request that is not a socket's (pages, `/health`); default 404. */
  fallback?: RequestListener | undefined;
}

/** Default of `maxConnectionsPerIp`: a household or an office behind one address fits, a flood from one does not. */
export const DEFAULT_MAX_CONNECTIONS_PER_IP = 100;

/** The shortest `secretKeyBase` accepted, as Phoenix asks for (`mix phx.gen.secret` makes 64). */
export const MIN_SECRET_KEY_BASE_LENGTH = 64;

function perIpCounter(max: number | undefined): ConnectionsPerIp | null {
  const resolved = max ?? DEFAULT_MAX_CONNECTIONS_PER_IP;
  return resolved === Number.POSITIVE_INFINITY ? null : new ConnectionsPerIp(resolved);
}

function trustedProxiesOf(option: EndpointOptions['trustedProxies']): TrustedProxies | null {
  if (option === undefined) return null;
  const proxies = option instanceof TrustedProxies ? option : new TrustedProxies(option);
  return proxies.entries.length === 0 ? null : proxies;
}

function secretOf(configured: string | undefined): string {
  if (configured === undefined) return randomBytes(48).toString('base64'); // 64 characters
  if (typeof configured !== 'string' || configured.length < MIN_SECRET_KEY_BASE_LENGTH) {
    throw new TypeError(
      `secretKeyBase must be at least ${MIN_SECRET_KEY_BASE_LENGTH} characters (got ${typeof configured === 'string' ? configured.length : typeof configured}); generate one with \`openssl rand -base64 48\``,
    );
  }
  return configured;
}

function publicUrlOf(url: string | undefined): URL | undefined {
  if (url === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`url must be an absolute URL such as "https://chat.example.com" (got ${JSON.stringify(url)})`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new TypeError('url must start with http:// or https://');
  return parsed;
}

/** Mounts sockets and owns PubSub, Presence, tokens and shutdown. */
export class Endpoint {
  /** The PubSub every channel broadcasts through. */
  readonly pubsub: PubSub;
  /** Presence tracking for every topic. */
  readonly presence: Presence;
  /** Signs and verifies Phoenix.Token-format tokens with the endpoint's secret. */
  readonly tokens: TokenSigner;
  /** The endpoint's logger. */
  readonly logger: Logger;
  /** Counters of the protective limits: slow readers closed, messages rate limited, … */
  readonly stats: EndpointStats = createEndpointStats();
  readonly #options: EndpointOptions;
  readonly #publicUrl: URL | undefined;
  readonly #routes = new Map<string, Transport>();
  readonly #services: Services;
  readonly #live = new Set<LiveConnection>();
  #server: Server | null = null;
  #accepting = true;
  #started: Promise<void> | null = null;

  constructor(options: EndpointOptions = {}) {
    this.#options = options;
    this.#publicUrl = publicUrlOf(options.url);
    this.logger = options.logger ?? consoleLogger();
    if (options.pubsub !== undefined && options.history !== undefined) {
      throw new TypeError('history is an option of the PubSub you pass: new PubSub({ adapter, history })');
    }
    this.pubsub = options.pubsub ?? new PubSub({ history: options.history });
    this.presence = new Presence(this.pubsub, options.presence);
    this.tokens = new TokenSigner(secretOf(options.secretKeyBase));
    this.#services = {
      endpoint: this,
      pubsub: this.pubsub,
      presence: this.presence,
      logger: this.logger,
      tokens: this.tokens,
      live: this.#live,
      stats: this.stats,
      clock: options.clock ?? realClock,
      trustedProxies: trustedProxiesOf(options.trustedProxies),
    };
  }

  /** Mounts `socket` at `path` (e.g. `/socket`), serving `<path>/websocket` and `<path>/longpoll`. */
  socket(path: string, socket: Socket, options: SocketMountOptions = {}): this {
    const prefix = path.replace(/\/+$/, '');
    const mount: Mount = {
      path: prefix,
      socket,
      services: this.#services,
      limits: {
        maxChannels: options.maxChannels ?? 100,
        joinTimeoutMs: options.joinTimeoutMs ?? 10_000,
        rateLimit: resolveRateLimit(options.rateLimit),
        ...resolveInputLimits(options),
      },
      connectionsPerIp: perIpCounter(options.maxConnectionsPerIp),
      originAllowed: compileOriginCheck(options.checkOrigin ?? this.#options.checkOrigin ?? true),
      expectedOrigins: describeOriginCheck(options.checkOrigin ?? this.#options.checkOrigin ?? true),
      configuredHost: this.#options.host,
      configuredUrl: this.#publicUrl,
    };
    registerMount(this, mount);
    if (options.websocket !== false) {
      const wsOptions = typeof options.websocket === 'object' ? options.websocket : {};
      this.#routes.set(`${prefix}/websocket`, new WebSocketTransport(mount, wsOptions));
    }
    if (options.longpoll !== false) {
      const lpOptions = typeof options.longpoll === 'object' ? options.longpoll : {};
      this.#routes.set(`${prefix}/longpoll`, new LongPollTransport(mount, lpOptions));
    }
    return this;
  }

  /**
   * The address of the client behind `req`, for an app's own per-address rules (HTTP routes,
   * budgets): the TCP peer's, or behind a listed proxy the forwarded one (see
   * {@link EndpointOptions.trustedProxies}).
   */
  clientAddress(req: IncomingMessage): string {
    return clientAddress(req, this.#services.trustedProxies);
  }

  /** Number of open socket connections (WebSocket and LongPoll). */
  get connectionCount(): number {
    return this.#live.size;
  }

  /** Number of channels joined on this node's open sockets; counted on each call (for metrics, not hot paths). */
  get channelCount(): number {
    let count = 0;
    for (const { connection } of this.#live) count += connection.channelCount;
    return count;
  }

  /**
   * Handles `req` if it targets a mounted transport.
   * @returns false when the request is not a socket's, so the caller can serve it
   */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean {
    const url = this.#url(req);
    const transport = this.#routes.get(url.pathname);
    if (transport === undefined) return false;
    if (!this.#accepting) {
      res.writeHead(503).end();
      return true;
    }
    transport.handleRequest(req, res, url);
    return true;
  }

  /** Handles a WebSocket upgrade; returns false when no mounted socket serves its path. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = this.#url(req);
    const transport = this.#routes.get(url.pathname);
    if (transport?.handleUpgrade === undefined || !this.#accepting) return false;
    transport.handleUpgrade(req, socket, head, url);
    return true;
  }

  /**
   * Connects the PubSub and joins the presence cluster. `listen` calls it; call it yourself
   * before serving when you `attach` to your own server. Idempotent.
   */
  start(): Promise<void> {
    this.#started ??= this.pubsub.start().then(async () => {
      await this.presence.start();
      for (const transport of this.#routes.values()) await transport.start?.();
    });
    return this.#started;
  }

  /** Serves the endpoint's sockets on an existing HTTP server (its other requests stay the caller's). */
  attach(server: Server): void {
    this.#server = server;
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (!this.handleUpgrade(req, socket, head)) {
        socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      }
    });
  }

  /** Creates an HTTP server, attaches the endpoint and listens. Resolves once sockets are accepted. */
  async listen(options: ListenOptions = {}): Promise<Server> {
    await this.start();
    const fallback: RequestListener = options.fallback ?? ((_req, res) => void res.writeHead(404).end());
    const server = createServer((req, res) => {
      if (!this.handleRequest(req, res)) fallback(req, res);
    });
    this.attach(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 4000, options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return server;
  }

  /** Broadcasts `event` to every subscriber of `topic` on every node (not tied to a channel). */
  broadcast(topic: string, event: string, payload: OutPayload): void {
    this.pubsub.broadcast(topic, event, payload);
  }

  /** Broadcasts to the subscribers of `topic` on this node only. */
  localBroadcast(topic: string, event: string, payload: OutPayload): void {
    this.pubsub.localBroadcast(topic, event, payload);
  }

  /**
   * Subscribes a function to `topic` (exact match), e.g. for app-level listeners.
   * @returns a function that unsubscribes
   */
  subscribe(topic: string, handler: (event: string, payload: unknown) => void): () => void {
    const subscriber: Subscriber = { deliver: (message) => handler(message.event, message.payload) };
    void this.pubsub.subscribe(topic, subscriber);
    return () => this.pubsub.unsubscribe(topic, subscriber);
  }

  /**
   * Shuts down: stops accepting sockets, closes open sockets with 1012 in batches (Phoenix's
   * drainer, §1.7) so that clients reconnect — ideally elsewhere — without a thundering herd,
   * then closes the HTTP server and the PubSub.
   */
  async close(options: DrainOptions = {}): Promise<void> {
    this.#accepting = false;
    const batchSize = options.batchSize ?? 10_000;
    const intervalMs = options.intervalMs ?? 2_000;
    const live = [...this.#live];
    for (let start = 0; start < live.length; start += batchSize) {
      if (start > 0) await new Promise<void>((resolve) => this.#services.clock.setTimeout(resolve, intervalMs));
      for (const { connection, transport } of live.slice(start, start + batchSize)) {
        connection.close({ shutdown: 'draining' });
        transport.close(CloseCodes.serviceRestart, 'server shutting down');
      }
    }
    for (const transport of this.#routes.values()) transport.close?.();
    this.presence.stop();
    const server = this.#server;
    if (server !== null) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
    await this.pubsub.close();
  }

  #url(req: IncomingMessage): URL {
    return new URL(req.url ?? '/', 'http://localhost');
  }
}
