/**
 * @module supabase/rest
 * Internal: Supabase Realtime's REST broadcast endpoints, which realtime-js uses when it is not
 * subscribed (`channel.send` before the join) and for `channel.httpSend`:
 *
 * - `POST <mount>/api/broadcast` with `{"messages": [{topic, event, payload, private?}]}`;
 * - `POST <mount>/api/broadcast/<topic>/events/<event>[?private=true]` with a JSON or
 *   `application/octet-stream` body (the payload itself).
 *
 * Both are answered 202 once broadcast. The `apikey` header must be a valid key; an
 * `Authorization: Bearer <jwt>` token, when present, is whose claims `authorize` sees for private
 * topics (else the key's). A message reaches the private channel only when it asks for it
 * (`private: true`, `?private=true`) and `write` of broadcast is allowed (by `authorize` or the policies); otherwise it reaches
 * the public channel of that name, never the private one. Bodies are bounded, and each payload by
 * `maxPayloadBytes` (413); a malformed body is a 400 with a JSON reason. Every request is charged to its client address's and its key's rate
 * and byte budgets first (`rest-budget.ts`): over either, it is answered 429 with `Retry-After`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError, readBody } from '../transport/http-body.ts';
import { isBinaryPayload } from '../protocol.ts';
import type { Verified } from './auth.ts';
import type { AccessCheck } from './channel-access.ts';
import type { BroadcastStore } from './broadcast-store.ts';
import { payloadTooLarge } from './connection-limits.ts';
import { NO_STORE } from './persistence.ts';
import { TooManyRequests, type RestBudgets, type RestCharge } from './rest-budget.ts';

/**
 * A broadcast the REST API accepted: sent as `broadcast` to channel `topic` — the private one when
 * `isPrivate`, else the public one (they are different topics).
 */
export type PublishBroadcast = (topic: string, isPrivate: boolean, message: { type: 'broadcast'; event: string; payload: unknown }) => void;

const MAX_MESSAGES = 100;

function send(res: ServerResponse, status: number, body?: object, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  if (body === undefined) res.writeHead(status, { 'access-control-allow-origin': '*', ...headers }).end();
  else res.writeHead(status, { 'content-type': 'application/json', 'access-control-allow-origin': '*', ...headers }).end(JSON.stringify(body));
}

/** The `Content-Length` of a request, or null without one (a chunked body). */
function declaredLength(req: IncomingMessage): number | null {
  const value = Number(req.headers['content-length']);
  return req.headers['content-length'] === undefined || !Number.isSafeInteger(value) ? null : value;
}

/** Whose budget a verified request spends: the bearer token's subject, else the API key's. */
function keyOf(apikey: unknown, user: Verified): string {
  const sub = user.ok ? user.claims.sub : undefined;
  return typeof sub === 'string' ? `sub:${sub}` : `key:${String(apikey)}`;
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    throw new HttpError(400, 'body is not valid JSON');
  }
}

/** Options of {@link createBroadcastApi}. */
export interface BroadcastApiOptions {
  /** The socket's mount path, e.g. `/realtime/v1`: the API lives at `<path>/api/broadcast`. */
  readonly path: string;
  readonly verify: (token: unknown) => Promise<Verified>;
  /** Who may write private channels (`broadcast` is asked). */
  readonly access: AccessCheck;
  /** Where `?persist=true` messages are kept (null: refused, saying why). */
  readonly store: BroadcastStore | null;
  readonly publish: PublishBroadcast;
  /** Largest accepted body. */
  readonly maxBodyBytes: number;
  /** Largest payload of one message (its JSON in UTF-8 bytes; binary: its bytes). */
  readonly maxPayloadBytes: number;
  /** The rate and byte budgets every request is charged to (429 with `Retry-After` when over). */
  readonly budgets: RestBudgets;
  /** The client's address of a request (behind a trusted proxy, the forwarded one). */
  readonly clientAddress: (req: IncomingMessage) => string;
}

/** A request handler for the REST API: returns false for any request that is not its own. */
export function createBroadcastApi(options: BroadcastApiOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const base = `${options.path.replace(/\/+$/, '')}/api/broadcast`;
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== base && !url.pathname.startsWith(`${base}/`)) return false;
    if (req.method === 'OPTIONS') {
      res
        .writeHead(204, {
          'access-control-allow-origin': '*',
          'access-control-allow-methods': 'POST, OPTIONS',
          'access-control-allow-headers': 'apikey, authorization, content-type, x-client-info',
        })
        .end();
      return true;
    }
    const refused = (err: unknown): void => {
      req.resume();
      if (err instanceof TooManyRequests) send(res, 429, { error: err.message }, { 'retry-after': String(err.retryAfterSeconds) });
      else if (err instanceof HttpError) send(res, err.status, { error: err.message });
      else send(res, 500, { error: 'internal error' });
    };
    let charge: RestCharge;
    try {
      // First, before any token is verified or any byte read: a flood costs a lookup per request.
      charge = options.budgets.charge(options.clientAddress(req), declaredLength(req));
    } catch (err) {
      refused(err);
      return true;
    }
    handle(req, url, base, options, charge).then(() => send(res, 202), refused);
    return true;
  };
}

async function handle(req: IncomingMessage, url: URL, base: string, options: BroadcastApiOptions, charge: RestCharge): Promise<void> {
  if (req.method !== 'POST') throw new HttpError(405, 'use POST');
  const key = await options.verify(req.headers.apikey);
  if (!key.ok) throw new HttpError(401, `apikey refused: ${key.reason}`);
  const bearer = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
  const user = bearer === undefined ? key : await options.verify(bearer);
  if (!user.ok) throw new HttpError(401, `access token refused: ${user.reason}`);
  charge.key(keyOf(req.headers.apikey, user));
  const body = await readBody(req, options.maxBodyBytes);
  charge.body(body.length);
  const messages: Array<{ topic: string; event: string; payload: unknown; private: boolean; persist?: boolean; ttlMs?: number | null }> = [];
  if (url.pathname === base) {
    const list = (parseJson(body) as { messages?: unknown } | null)?.messages;
    if (!Array.isArray(list) || list.length > MAX_MESSAGES) throw new HttpError(400, `messages must be an array of at most ${MAX_MESSAGES}`);
    for (const item of list as unknown[]) {
      const { topic, event, payload } = (item ?? {}) as Record<string, unknown>;
      if (typeof topic !== 'string' || typeof event !== 'string') throw new HttpError(400, 'each message needs a topic and an event');
      messages.push({ topic, event, payload, private: (item as Record<string, unknown>).private === true });
    }
  } else {
    const match = /^\/([^/]+)\/events\/([^/]+)$/.exec(url.pathname.slice(base.length));
    if (match === null) throw new HttpError(404, 'expected /api/broadcast/<topic>/events/<event>');
    const binary = (req.headers['content-type'] ?? '').startsWith('application/octet-stream');
    messages.push({
      topic: decodeURIComponent(match[1]!),
      event: decodeURIComponent(match[2]!),
      payload: binary ? { binary: body } : parseJson(body),
      private: url.searchParams.get('private') === 'true',
      // httpSend's `persist`: `persist=true`, or `persist[ttl]=<seconds>`.
      persist: url.searchParams.get('persist') === 'true' || url.searchParams.has('persist[ttl]'),
      ttlMs: ttlOf(url.searchParams.get('persist[ttl]')),
    });
  }
  for (const message of messages) {
    if (payloadTooLarge(message.payload, options.maxPayloadBytes)) {
      throw new HttpError(413, `Payload size exceeded: at most ${options.maxPayloadBytes} bytes`);
    }
  }
  for (const message of messages) {
    if (!message.private) continue;
    let allowed: boolean;
    try {
      allowed = (await options.access(message.topic, user.claims, 'write', ['broadcast'])).broadcast === true;
    } catch {
      allowed = false; // a policy that raises refuses
    }
    if (!allowed) throw new HttpError(403, `Unauthorized: you may not broadcast on ${message.topic}`);
  }
  for (const message of messages) {
    if (message.persist !== true) continue;
    if (!message.private) throw new HttpError(400, 'only broadcasts of private channels can be stored');
    if (options.store === null) throw new HttpError(400, NO_STORE);
    if (isBinaryPayload(message.payload)) throw new HttpError(400, 'binary broadcasts cannot be stored');
    await options.store.persist(message.topic, message.event, message.payload, message.ttlMs ?? null).catch((err: unknown) => {
      void err; // the store's words stay in the server: they may name its schema
      throw new HttpError(503, 'the broadcast could not be stored');
    });
  }
  for (const message of messages) options.publish(message.topic, message.private, { type: 'broadcast', event: message.event, payload: message.payload });
}

/** `persist[ttl]`'s seconds as ms, or null (none, or not a positive number). */
function ttlOf(value: string | null): number | null {
  const seconds = Number(value);
  return value !== null && Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : null;
}
