/**
 * The chat's HTTP side: the page and its assets (with a Content-Security-Policy that forbids
 * inline script), `/health`, `/metrics` (Prometheus text format), and a small JSON API
 * authenticated by the user token (`Authorization: Bearer …`; bearer tokens, not cookies, so there
 * is no CSRF to defend against):
 *
 * - `POST /api/identity {token?}` → `{userId, token, mark}`: renews a valid token within its session's
 *   absolute lifetime, or issues a new user (budgeted per IP address)
 * - `GET /api/rooms?limit=N&after=ID` → `{rooms: [{id, name}], next}`: the user's private rooms, a
 *   page at a time (`next` is the `after` of the next page, or null)
 * - `POST /api/identity/revoke` → `{userId, token, mark}`: ends every session of the user (all their
 *   tokens, their open sockets) and starts a new one for the caller
 * - `POST /api/rooms {name}` → `{room, invite, inviteId}`: creates a private room and an invite link
 * - `POST /api/rooms/:id/invites {maxUses?}` → `{invite, inviteId, maxUses, expiresAt}`: another
 *   invite link (the room's owner only)
 * - `GET /api/rooms/:id/members` → `{members: [{userId, name, owner}]}`: a private room's members,
 *   shown as `name#mark` (members only)
 * - `DELETE /api/invites/:id` → 204: revokes an invite (its creator only)
 * - `POST /api/invites/accept {invite}` → `{room}`: makes the user a member, if the invite is neither
 *   expired, used up nor revoked
 * - `DELETE /api/rooms/:id/members/:userId` → 204: the room's owner removes a member, whose open
 *   sockets are closed
 * - `GET /api/unread` → `{rooms: [{id, lastRead, count, mentions}]}`: the user's unread messages
 *   (and how many of them mention the user) in the lobby and each of their rooms, counted from their last-read position (kept on the server, so every
 *   device shows the same; `count` stops at 100)
 *
 * The page and its assets are served compressed (brotli or gzip, as `Accept-Encoding` allows) with
 * an `ETag`, and `If-None-Match` is answered 304 (see `assets.ts`).
 *
 * Links are built from the configured public URL, never from the request's `Host`. Over budget is
 * HTTP 429 `{error}`. `/metrics` answers a bearer `metricsToken` when one is set, otherwise only
 * loopback clients. Per-address budgets and the loopback rule use the client's address: behind a
 * trusted proxy (`trustedProxies`), the one it forwards.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { clientAddress, type TrustedProxies } from 'starling-channels';
import type { Metrics } from 'starling-channels/metrics';
import type { Readiness } from './readiness.ts';
import { serveAsset, type Asset } from './assets.ts';
import { displayName, markOf, type Identity } from './identity.ts';
import type { BudgetedAction, Budgets } from './limits.ts';
import { StoreError, StoreErrorCodes, type ChatStore, type Room } from './store/index.ts';
import { nameText } from './text.ts';

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  // Invite tokens travel in the page URL: never leak them to other sites.
  'referrer-policy': 'no-referrer',
} as const;

const MAX_API_BODY = 16 * 1024;
const ROOMS_PAGE_DEFAULT = 50;
const ROOMS_PAGE_MAX = 200;
const MAX_ROOM_NAME = 64;

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...SECURITY_HEADERS });
  res.end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_API_BODY) throw new HttpError(413, 'body too large');
    chunks.push(chunk);
  }
  if (size === 0) return {};
  try {
    const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new HttpError(400, 'body must be a JSON object');
}

function publicRoom(room: Room): { id: string; name: string } {
  return { id: room.id, name: room.name };
}

/** Everything the HTTP handler serves from. */
export interface ChatHttpOptions {
  readonly assets: Map<string, Asset>;
  /** The text `/metrics` serves: this process's, or under `WORKERS` the cluster's. */
  readonly renderMetrics: () => Promise<string>;
  /** What `/ready` reports: the dependencies down at the last check. */
  readonly readiness: Pick<Readiness, 'down'>;
  readonly identity: Identity;
  /** Rooms, invites, session revocations and unread counts: the API never reads message text (the room channel does). */
  readonly store: Pick<ChatStore, 'rooms' | 'users' | 'reads'>;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly budgets: Budgets;
  /** The reverse proxies whose forwarded client address is believed (`TRUSTED_PROXIES`), or null. */
  readonly trustedProxies: TrustedProxies | null;
  /** The chat's public origin (`https://chat.example.com`): invite links start with it. */
  readonly publicUrl: string;
  /** Bearer token `/metrics` requires; without one only loopback peers may read it. */
  readonly metricsToken?: string | undefined;
  /** Users an invite admits unless its creator asks for fewer or more (1..1000). */
  readonly inviteMaxUses: number;
  /** Closes every open socket of a user (removed from a room, sessions revoked). */
  readonly disconnectUser: (userId: string) => void;
}

const MAX_INVITE_USES = 1000;

function isLoopback(address: string | undefined): boolean {
  return address !== undefined && (address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.'));
}

/**
 * Whether `req` is from a loopback client: its forwarded address when it came through a trusted
 * proxy. A request that carries a forwarding header from a peer that is not a trusted proxy was
 * forwarded by a proxy nobody listed (on this machine, its peer is loopback): never loopback.
 */
function fromLoopback(req: IncomingMessage, proxies: TrustedProxies | null): boolean {
  const forwarded = req.headers['x-forwarded-for'] !== undefined || req.headers.forwarded !== undefined;
  if (forwarded && !(proxies?.includes(clientAddress(req)) ?? false)) return false;
  return isLoopback(clientAddress(req, proxies));
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function pageSize(value: string | null): number {
  if (value === null) return ROOMS_PAGE_DEFAULT;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > ROOMS_PAGE_MAX) throw new HttpError(400, `limit must be an integer from 1 to ${ROOMS_PAGE_MAX}`);
  return parsed;
}

/** The request listener for everything that is not a socket. */
export function createHttpHandler(options: ChatHttpOptions): RequestListener {
  const { assets, identity, store, logger, metrics, budgets, publicUrl, metricsToken, trustedProxies } = options;
  function spend(action: BudgetedAction, req: IncomingMessage, userId: string | null): void {
    const over = budgets.take(action, clientAddress(req, trustedProxies), userId);
    if (over !== null) throw new HttpError(429, `too many requests: this ${over === 'ip' ? 'address' : 'user'} is over its ${action} budget; try again later`);
  }

  function metricsAllowed(req: IncomingMessage): boolean {
    if (metricsToken === undefined) return fromLoopback(req, trustedProxies);
    const header = req.headers.authorization ?? '';
    return header.startsWith('Bearer ') && sameSecret(header.slice('Bearer '.length), metricsToken);
  }

  async function userOf(req: IncomingMessage): Promise<string> {
    const header = req.headers.authorization ?? '';
    const session = header.startsWith('Bearer ') ? await identity.verify(header.slice('Bearer '.length)) : null;
    if (session === null) throw new HttpError(401, 'a valid user token is required');
    return session.userId;
  }

  /** Stores an invite and makes its link; the caller has spent the invite budget. */
  async function issueInvite(roomId: string, userId: string, maxUses: number) {
    const invite = await store.rooms.createInvite(roomId, userId, { maxUses, expiresAt: identity.inviteExpiry() });
    const link = `${publicUrl}/?invite=${encodeURIComponent(identity.inviteToken(invite.id))}`;
    return { invite: link, inviteId: invite.id, maxUses: invite.maxUses, expiresAt: invite.expiresAt };
  }

  /** Routes with an id in the path: `/api/rooms/:id/invites`, `/api/invites/:id`, `/api/rooms/:id/members/:userId`. */
  async function pathRoute(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    let parts: string[];
    try {
      parts = url.pathname
        .split('/')
        .slice(2)
        .map((part) => decodeURIComponent(part));
    } catch {
      throw new HttpError(400, 'malformed path');
    }
    if (req.method === 'POST' && parts.length === 3 && parts[0] === 'rooms' && parts[2] === 'invites') {
      const userId = await userOf(req);
      const room = await store.rooms.getRoom(parts[1]!);
      if (room === null || room.ownerId !== userId) throw new HttpError(403, 'only the room’s owner may invite');
      const { maxUses } = await readJson(req);
      const uses = maxUses === undefined ? options.inviteMaxUses : maxUses;
      if (typeof uses !== 'number' || !Number.isInteger(uses) || uses < 1 || uses > MAX_INVITE_USES)
        throw new HttpError(400, `maxUses must be an integer from 1 to ${MAX_INVITE_USES}`);
      spend('invite', req, userId);
      json(res, 201, await issueInvite(room.id, userId, uses));
      return true;
    }
    if (req.method === 'GET' && parts.length === 3 && parts[0] === 'rooms' && parts[2] === 'members') {
      const userId = await userOf(req);
      const room = await store.rooms.getRoom(parts[1]!);
      if (room === null || !(await store.rooms.isMember(room.id, userId))) throw new HttpError(403, 'only members may list the members');
      const members = (await store.rooms.membersOf(room.id)).map((member) => ({
        userId: member.userId,
        name: displayName(member.name ?? 'anonymous', member.userId),
        owner: member.userId === room.ownerId,
      }));
      json(res, 200, { members });
      return true;
    }
    if (req.method === 'DELETE' && parts.length === 2 && parts[0] === 'invites') {
      const userId = await userOf(req);
      if (!(await store.rooms.revokeInvite(parts[1]!, userId))) throw new HttpError(404, 'no invite of yours has this id');
      res.writeHead(204, SECURITY_HEADERS).end();
      return true;
    }
    if (req.method === 'DELETE' && parts.length === 4 && parts[0] === 'rooms' && parts[2] === 'members') {
      const userId = await userOf(req);
      const room = await store.rooms.getRoom(parts[1]!);
      if (room === null || room.ownerId !== userId) throw new HttpError(403, 'only the room’s owner may remove members');
      if (!(await store.rooms.removeMember(room.id, parts[3]!))) throw new HttpError(404, 'not a member (the owner cannot be removed)');
      options.disconnectUser(parts[3]!);
      res.writeHead(204, SECURITY_HEADERS).end();
      return true;
    }
    return false;
  }

  async function api(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const route = `${req.method} ${url.pathname}`;
    switch (route) {
      case 'POST /api/identity': {
        const { token } = await readJson(req);
        const session = await identity.verify(token);
        const renewed = session === null ? null : identity.renew(session);
        if (session !== null && renewed !== null) return json(res, 200, { userId: session.userId, token: renewed, mark: markOf(session.userId) });
        spend('identity', req, null);
        const user = identity.newUser();
        return json(res, 200, { ...user, mark: markOf(user.userId) });
      }
      case 'POST /api/identity/revoke': {
        const userId = await userOf(req);
        await store.users.revokeSessions(userId, identity.nowMs());
        options.disconnectUser(userId);
        return json(res, 200, { ...identity.newSession(userId), mark: markOf(userId) });
      }
      case 'GET /api/rooms': {
        const limit = pageSize(url.searchParams.get('limit'));
        const after = url.searchParams.get('after');
        const rooms = await store.rooms.roomsOf(await userOf(req));
        const position = after === null ? -1 : rooms.findIndex((room) => room.id === after);
        if (after !== null && position < 0) throw new HttpError(400, 'after must be the id of one of your rooms (the previous page’s next)');
        const start = position + 1;
        const page = rooms.slice(start, start + limit);
        const next = start + limit < rooms.length ? (page.at(-1)?.id ?? null) : null;
        return json(res, 200, { rooms: page.map(publicRoom), next });
      }
      case 'GET /api/unread': {
        const userId = await userOf(req);
        const rooms = ['lobby', ...(await store.rooms.roomsOf(userId)).map((room) => room.id)];
        const unread = await store.reads.unread(userId, rooms);
        return json(res, 200, { rooms: unread.map(({ room, lastRead, count, mentions }) => ({ id: room, lastRead, count, mentions })) });
      }
      case 'POST /api/rooms': {
        const userId = await userOf(req);
        const { name } = await readJson(req);
        const roomName = nameText(name, MAX_ROOM_NAME);
        if (roomName === null) throw new HttpError(400, `room name must be 1 to ${MAX_ROOM_NAME} characters, without control characters`);
        spend('room', req, userId);
        spend('invite', req, userId);
        const room = await store.rooms.createRoom(userId, roomName);
        const { invite, inviteId } = await issueInvite(room.id, userId, options.inviteMaxUses);
        return json(res, 201, { room: publicRoom(room), invite, inviteId });
      }
      case 'POST /api/invites/accept': {
        const userId = await userOf(req);
        const { invite } = await readJson(req);
        const inviteId = identity.inviteOf(invite);
        const room = inviteId === null ? null : await store.rooms.redeemInvite(inviteId, userId);
        if (room === null) throw new HttpError(400, 'this invite is invalid, revoked, used up or has expired');
        return json(res, 200, { room: publicRoom(room) });
      }
      default:
        if (await pathRoute(req, res, url)) return;
        throw new HttpError(404, 'not found');
    }
  }

  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (path === '/health') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    if (path === '/ready') {
      const down = options.readiness.down;
      const body = JSON.stringify(down.length === 0 ? { ready: true } : { ready: false, down });
      res.writeHead(down.length === 0 ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(body);
      return;
    }
    if (path === '/metrics' && req.method === 'GET') {
      if (!metricsAllowed(req)) {
        res.writeHead(404, { 'content-type': 'text/plain', ...SECURITY_HEADERS }).end('not found');
        return;
      }
      options.renderMetrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' }).end(text),
        (err: unknown) => {
          logger.error({ err }, 'metrics failed');
          res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics failed');
        },
      );
      return;
    }
    if (path.startsWith('/api/')) {
      api(req, res, url).catch((err: unknown) => {
        if (err instanceof HttpError) return json(res, err.status, { error: err.message });
        if (err instanceof StoreError && err.code === StoreErrorCodes.invalidText)
          return json(res, 400, { error: 'text must be well-formed Unicode without U+0000' });
        if (err instanceof StoreError) return json(res, 503, { error: 'storage unavailable' });
        logger.error({ err }, 'api request failed');
        json(res, 500, { error: 'internal error' });
      });
      return;
    }
    const asset = req.method === 'GET' || req.method === 'HEAD' ? assets.get(path) : undefined;
    if (asset === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain', ...SECURITY_HEADERS }).end('not found');
      return;
    }
    serveAsset(req, res, asset, SECURITY_HEADERS);
  };
}
