/**
 * The chat's HTTP side: the page and its assets (with a Content-Security-Policy that forbids
 * inline script), `/health`, `/metrics` (Prometheus text format), and a small JSON API
 * authenticated by the user token (`Authorization: Bearer …`; bearer tokens, not cookies, so there
 * is no CSRF to defend against):
 *
 * - `POST /api/identity {token?}` → `{userId, token}`: renews a valid token, or issues a new user
 * - `GET /api/rooms` → `{rooms: [{id, name}]}`: the user's private rooms
 * - `POST /api/rooms {name}` → `{room, invite}`: creates a private room and an invite link
 * - `POST /api/invites/accept {invite}` → `{room}`: makes the user a member
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Metrics } from 'starling/metrics';
import type { Asset } from './assets.ts';
import type { Identity } from './identity.ts';
import { StoreError, type MessageStore, type Room } from './store/index.ts';

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  // Invite tokens travel in the page URL: never leak them to other sites.
  'referrer-policy': 'no-referrer',
} as const;

const MAX_API_BODY = 16 * 1024;

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
  readonly identity: Identity;
  readonly store: MessageStore;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/** The request listener for everything that is not a socket. */
export function createHttpHandler({ assets, identity, store, logger, metrics }: ChatHttpOptions): RequestListener {
  function userOf(req: IncomingMessage): string {
    const header = req.headers.authorization ?? '';
    const userId = header.startsWith('Bearer ') ? identity.userOf(header.slice('Bearer '.length)) : null;
    if (userId === null) throw new HttpError(401, 'a valid user token is required');
    return userId;
  }

  async function api(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const route = `${req.method} ${path}`;
    switch (route) {
      case 'POST /api/identity': {
        const { token } = await readJson(req);
        const userId = identity.userOf(token);
        return json(res, 200, userId === null ? identity.newUser() : { userId, token: identity.userToken(userId) });
      }
      case 'GET /api/rooms': {
        const rooms = await store.roomsOf(userOf(req));
        return json(res, 200, { rooms: rooms.map(publicRoom) });
      }
      case 'POST /api/rooms': {
        const userId = userOf(req);
        const { name } = await readJson(req);
        const trimmed = typeof name === 'string' ? name.trim() : '';
        if (trimmed.length < 1 || trimmed.length > 64) throw new HttpError(400, 'room name must be 1 to 64 characters');
        const room = await store.createRoom(userId, trimmed);
        const origin = `http://${req.headers.host ?? 'localhost'}`;
        return json(res, 201, { room: publicRoom(room), invite: `${origin}/?invite=${encodeURIComponent(identity.inviteToken(room.id))}` });
      }
      case 'POST /api/invites/accept': {
        const userId = userOf(req);
        const { invite } = await readJson(req);
        const roomId = identity.roomOfInvite(invite);
        const room = roomId === null ? null : await store.getRoom(roomId);
        if (room === null) throw new HttpError(400, 'this invite is invalid or has expired');
        await store.addMember(room.id, userId);
        return json(res, 200, { room: publicRoom(room) });
      }
      default:
        throw new HttpError(404, 'not found');
    }
  }

  return (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === '/health') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    if (path === '/metrics' && req.method === 'GET') {
      metrics.render().then(
        (text) => res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' }).end(text),
        (err: unknown) => {
          logger.error({ err }, 'metrics failed');
          res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics failed');
        },
      );
      return;
    }
    if (path.startsWith('/api/')) {
      api(req, res, path).catch((err: unknown) => {
        if (err instanceof HttpError) return json(res, err.status, { error: err.message });
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
    res.writeHead(200, { 'content-type': asset.contentType, 'content-length': asset.body.length, ...SECURITY_HEADERS });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  };
}
