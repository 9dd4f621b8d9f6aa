/**
 * @module transport/long-poll/long-poll-transport
 * Internal: the LongPoll transport at `<mount>/longpoll` (§6), for clients that cannot keep a WebSocket.
 * A session holds one {@link Connection}; the client polls with `GET` (answered as soon as frames
 * are buffered, or with 204 after `windowMs`) and publishes with `POST` (ndjson batches of at most
 * 100 frames). Every answer is HTTP 200 with the logical status in the JSON body, CORS-enabled and
 * `cache-control: no-store`. A session not polled for 1.5 × `windowMs` ends. A request that
 * reaches a node other than the session's owner is forwarded there over the PubSub, so several
 * nodes need no sticky sessions.
 *
 * Server → client binary frames cannot travel over LongPoll; they are skipped (§6.10).
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MalformedFrameError } from '../../errors.ts';
import { CountedErrors } from '../../runtime/endpoint-stats.ts';
import type { Mount } from '../../runtime/services.ts';
import { HttpError, readBody } from '../http-body.ts';
import { clientAddressOf, handshake, logRefusal, openConnection, originAllowed, peerOf, sessionTokenParam } from '../handshake.ts';
import type { LongPollOptions } from '../options.ts';
import type { Transport } from '../transport.ts';
import { LongPollForwarder } from './long-poll-forwarding.ts';
import { LongPollSession, type LongPollBody, type PollResponder, type SessionShared } from './long-poll-session.ts';

const SESSION_SALT = 'starling longpoll session';
const SESSION_MAX_AGE_S = 14 * 24 * 3600;
/** Phoenix processes at most this many ndjson lines of one POST (§6.5). */
const MAX_LINES_PER_POST = 100;

const noop = (): void => {};

/**
 * A browser's same-origin GET carries no `Origin` header, its POST does. So when a deployment's
 * origin setting is wrong (a proxy in front, `url` unset), every poll opens a session, every
 * publish is refused, and phoenix.js — whose backoff restarts at each opened session — retries
 * hot. A refused request therefore gets this cookie, and a session is not opened for a request
 * that carries it without an `Origin`: the client's reconnects then back off as for any refused
 * connect. It names no one and lasts {@link ORIGIN_COOLDOWN_S}; being per browser, one client's
 * refusal never touches another's sessions.
 */
const ORIGIN_REFUSED_COOKIE = 'starling_origin_refused';
const ORIGIN_COOLDOWN_S = 30;

const HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'access-control-allow-origin': '*',
  // The token may travel in a header, so every session shares one URL: never cache (§6.2).
  'cache-control': 'no-store',
} as const;

function respond(res: ServerResponse, body: LongPollBody): void {
  if (res.headersSent) return;
  // A malformed publish forwarded from another node comes back as status 400: a real 400 here too.
  if (body.status === 400) res.writeHead(400).end();
  else res.writeHead(200, HEADERS).end(JSON.stringify(body));
}

/** A poll held by an HTTP request on this node. */
function httpResponder(res: ServerResponse): PollResponder {
  return {
    respond: (body) => respond(res, body),
    onGone: (callback) => res.on('close', callback),
  };
}

/** Where a request's session lives: here, on another node, or nowhere. */
type Lookup =
  | { readonly where: 'here'; readonly session: LongPollSession }
  | { readonly where: 'remote'; readonly owner: string; readonly sid: string; readonly token: string }
  | { readonly where: 'none' };

/**
 * The LongPoll transport of one mounted socket. It is also what every one of its sessions shares
 * (mount, window, buffer bound): one object, referenced by each session.
 */
export class LongPollTransport implements Transport, SessionShared {
  readonly name = 'longpoll';
  readonly mount: Mount;
  readonly windowMs: number;
  readonly maxQueuedBytes: number;
  readonly #sessions = new Map<string, LongPollSession>();
  readonly #maxBodyBytes: number;
  readonly #maxSessions: number;
  readonly #forwarder: LongPollForwarder;

  constructor(mount: Mount, options: LongPollOptions = {}) {
    this.mount = mount;
    this.windowMs = options.windowMs ?? 10_000;
    this.maxQueuedBytes = options.maxQueuedBytes ?? 1024 * 1024;
    this.#maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
    this.#maxSessions = options.maxSessions ?? 10_000;
    this.#forwarder = new LongPollForwarder(
      mount.services.pubsub,
      mount.path,
      {
        poll: (sid, responder) => {
          const session = this.#local(sid);
          if (session === undefined) return false;
          session.poll(responder);
          return true;
        },
        publish: async (sid, lines, ndjson) => {
          const session = this.#local(sid);
          return session === undefined ? null : this.#process(session, lines, ndjson);
        },
      },
      options.pubsubTimeoutMs,
    );
  }

  /** Starts serving requests forwarded by other nodes. */
  start(): Promise<void> {
    return this.#forwarder.start();
  }

  handleRequest(req: IncomingMessage, res: ServerResponse, url: URL): void {
    if (req.method === 'OPTIONS') return this.#preflight(req, res);
    if (req.method !== 'GET' && req.method !== 'POST') {
      res.writeHead(400).end();
      return;
    }
    if (!originAllowed(this.mount, req)) return this.#refuseOrigin(req, res);
    const found = this.#lookup(req, url);
    if (req.method === 'GET') {
      if (found.where === 'here') return found.session.poll(httpResponder(res));
      if (found.where === 'none') return void this.#open(req, res, url);
      const responder = httpResponder(res);
      void this.#forwarder.forwardPoll(found.owner, found.sid, found.token, responder, this.windowMs).then((taken) => {
        if (!taken) void this.#open(req, res, url);
      });
      return;
    }
    if (found.where === 'none') {
      req.resume();
      return respond(res, { status: 410 });
    }
    this.#publish(req, res, found).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (!(err instanceof HttpError)) this.mount.services.logger.error({ err }, 'longpoll publish failed');
      if (!res.headersSent) res.writeHead(status, status === 413 ? { connection: 'close' } : {}).end();
    });
  }

  /** Ends every session and stops serving forwarded requests. */
  close(): void {
    for (const session of [...this.#sessions.values()]) session.end({ shutdown: 'closed' });
    this.#forwarder.stop();
  }

  #preflight(req: IncomingMessage, res: ServerResponse): void {
    res
      .writeHead(200, {
        'access-control-allow-origin': '*',
        'access-control-allow-headers': req.headers['access-control-request-headers'] ?? '',
        'access-control-allow-methods': 'get, post, options',
        'access-control-max-age': '3600',
        'cache-control': 'no-store',
      })
      .end();
  }

  #lookup(req: IncomingMessage, url: URL): Lookup {
    // The header (Phoenix ≥ 1.9 clients) wins over the query parameter (every released phoenix.js).
    const header = req.headers['x-phoenix-longpoll-token'];
    const token = (typeof header === 'string' && header !== '' ? header : null) ?? sessionTokenParam(url.searchParams);
    if (!token) return { where: 'none' };
    const verified = this.mount.services.tokens.verify(SESSION_SALT, token, { maxAge: SESSION_MAX_AGE_S });
    if (!verified.ok || typeof verified.data !== 'string') return { where: 'none' };
    const sid = verified.data;
    const owner = sid.slice(0, sid.indexOf('.'));
    if (owner !== this.mount.services.pubsub.nodeId) return { where: 'remote', owner, sid, token };
    const session = this.#local(sid);
    return session === undefined ? { where: 'none' } : { where: 'here', session };
  }

  #local(sid: string): LongPollSession | undefined {
    const session = this.#sessions.get(sid);
    return session?.ended ? undefined : session;
  }

  #refuseOrigin(req: IncomingMessage, res: ServerResponse): void {
    req.resume();
    logRefusal(this.mount, req, this.name, 403, 'origin');
    if (res.headersSent) return;
    const cookie = `${ORIGIN_REFUSED_COOKIE}=1; Path=${this.mount.path}/${this.name}; Max-Age=${ORIGIN_COOLDOWN_S}; HttpOnly; SameSite=Strict`;
    res.writeHead(200, { ...HEADERS, 'set-cookie': cookie }).end(JSON.stringify({ status: 403 }));
  }

  /** A request without `Origin` from a browser that was refused for its origin moments ago. */
  #coolingDown(req: IncomingMessage): boolean {
    if (req.headers.origin !== undefined) return false;
    return (req.headers.cookie ?? '').split(';').some((pair) => pair.trim().startsWith(`${ORIGIN_REFUSED_COOKIE}=`));
  }

  async #open(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (this.#coolingDown(req)) return respond(res, { status: 403 });
    // Every GET without a session token opens one: bounded for the whole mount, before any work.
    if (this.#sessions.size >= this.#maxSessions) {
      this.mount.services.stats.longpollSessionsRefused++;
      logRefusal(this.mount, req, this.name, 403, 'max-sessions');
      return respond(res, { status: 403 });
    }
    // LongPoll has no 429 in phoenix.js's vocabulary: a client over its IP's budget gets 403.
    const client = clientAddressOf(this.mount, req);
    const release = this.#acquireIpSlot(client);
    if (release === null) {
      logRefusal(this.mount, req, this.name, 403, 'per-ip', client);
      return respond(res, { status: 403 });
    }
    const header = req.headers['x-phoenix-authtoken'];
    const authToken = typeof header === 'string' ? header : undefined;
    let result;
    try {
      result = await handshake(this.mount, req, url, this.name, authToken);
    } catch (err) {
      release();
      this.mount.services.stats.errors[CountedErrors.connectCrash]++;
      this.mount.services.logger.error({ err, code: CountedErrors.connectCrash, peer: peerOf(req) }, 'connect crashed');
      return respond(res, { status: 500 });
    }
    if (!result.ok) {
      release();
      logRefusal(this.mount, req, this.name, 403, result.reason);
      return respond(res, { status: 403 });
    }
    const peer = peerOf(req);
    const id = `${this.mount.services.pubsub.nodeId}.${randomBytes(12).toString('base64url')}`;
    const token = this.mount.services.tokens.sign(SESSION_SALT, id);
    const session = new LongPollSession(id, token, this, (ended) => {
      this.mount.services.logger.debug({ socketId: result.id, transport: this.name, peer }, 'session ended');
      this.#sessions.delete(ended.id);
      this.mount.services.live.delete(ended);
      release();
    });
    session.connection = openConnection(this.mount, result, session);
    this.mount.services.live.add(session);
    this.#sessions.set(id, session);
    this.mount.services.logger.debug({ socketId: result.id, transport: this.name, peer }, 'session opened');
    respond(res, { status: 410, token, messages: [] });
  }

  /** A slot of `maxConnectionsPerIp` for a new session (a no-op release when unlimited), or null when refused. */
  #acquireIpSlot(client: string): (() => void) | null {
    if (this.mount.connectionsPerIp === null) return noop;
    const release = this.mount.connectionsPerIp.acquire(client);
    if (release === null) this.mount.services.stats.connectionsPerIpRefused++;
    return release;
  }

  async #publish(req: IncomingMessage, res: ServerResponse, found: Exclude<Lookup, { where: 'none' }>): Promise<void> {
    const body = await readBody(req, this.#maxBodyBytes);
    const ndjson = (req.headers['content-type'] ?? '').split(';')[0]!.trim() === 'application/x-ndjson';
    const lines = ndjson
      ? body
          .toString('utf8')
          .split(/\r?\n/)
          .filter((line) => line !== '')
          .slice(0, MAX_LINES_PER_POST)
      : [body.toString('utf8')];
    if (found.where === 'here') return respond(res, await this.#process(found.session, lines, ndjson));
    const answer = await this.#forwarder.forwardPublish(found.owner, found.sid, lines, ndjson, this.windowMs);
    respond(res, answer ?? { status: 410 });
  }

  /** Hands published lines to the session's connection in order (status 400: malformed, session ended). */
  async #process(session: LongPollSession, lines: readonly string[], ndjson: boolean): Promise<LongPollBody> {
    const held: Promise<void>[] = [];
    try {
      for (const line of lines) {
        // ndjson: a line starting with "[" is a text frame, anything else base64 of a binary frame.
        const binary = ndjson && !line.startsWith('[');
        const data = binary ? Buffer.from(line, 'base64') : Buffer.from(line, 'utf8');
        const handled = session.connection.handleFrame(data, binary);
        if (handled !== undefined) held.push(handled);
      }
    } catch (err) {
      if (!(err instanceof MalformedFrameError)) throw err;
      // As a WebSocket is closed on a malformed frame, the session ends (the client reconnects).
      this.mount.services.stats.errors[CountedErrors.malformedFrame]++;
      this.mount.services.logger.warn({ err: err.message, code: err.code, socketId: session.connection.socketId }, 'malformed longpoll frame; ending session');
      session.end({ shutdown: 'closed' });
      return { status: 400 };
    }
    if (held.length === 0) return { status: 200 };
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), this.windowMs)));
    const outcome = await Promise.race([Promise.all(held), timedOut]);
    clearTimeout(timer);
    return { status: outcome === 'timeout' ? 408 : 200 };
  }
}
