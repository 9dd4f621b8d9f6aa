/**
 * @module supabase/realtime-channel
 * Internal: the channel behind every `realtime:<name>` topic of a Supabase-Realtime-compatible
 * socket — what `@supabase/realtime-js` expects of the server (docs/supabase.md):
 *
 * - join `{config: {broadcast: {self, ack}, presence: {key, enabled}, postgres_changes, postgres_changes_options, private}, access_token?}`,
 *   answered `{}`, or `{postgres_changes: [...bindings with ids]}` when it asked for changes (see
 *   supabase/postgres-changes; without a change source such a join is refused); a private one
 *   needs `read` of broadcast or presence (supabase/channel-access), and gets only what it may read;
 * - once its change bindings are live, `system` `{extension: "postgres_changes", status: "ok",
 *   message: "Subscribed to PostgreSQL", channel}`, then `postgres_changes` `{ids, data}` pushes;
 *   with `postgres_changes_options: {wait: true, timeout?}` the join reply waits for that;
 * - `broadcast` `{type: "broadcast", event, payload}` to everyone on the topic, the sender included
 *   only with `self`, answered `ok` only with `ack`; private topics need `write` of broadcast;
 *   `persist` stores it and `broadcast.replay` at join replays stored ones (supabase/broadcast-store);
 * - client-driven presence: `presence` `{type: "presence", event: "track" | "untrack", payload}`,
 *   answered `ok` (private topics need `write` of presence); `presence_state` after every join
 *   when presence is enabled, then `presence_diff` (only to clients with presence enabled);
 * - the connection's limits (supabase/connection-limits), told as Supabase tells them: a join past
 *   the channels it may have is refused `ChannelRateLimitReached: …`; a broadcast past its rate
 *   closes the channel with a `system` error `Too many messages per second`; a payload too large
 *   is an error reply; presence calls past theirs an error reply `presence rate limited`;
 * - `access_token` `{access_token}` replaces the channel's token; a token that fails or expires,
 *   or that no longer grants a `read` the join was granted on a private channel, ends the channel
 *   with a `system` error push and `phx_close`; writes are asked again.
 *
 * A private channel and the public channel of the same name are different topics, as in Supabase
 * Realtime: a private join is wired to the PubSub topic `realtime-private:<name>` (see
 * {@link pubsubTopicOf}), so no broadcast, presence or REST message crosses between them.
 */
import { randomUUID } from 'node:crypto';
import { error, noreply, ok, reply, stop, type Channel, type ChannelSocket, type JoinResult } from '../channel.ts';
import type { JwtClaims, Verified } from './auth.ts';
import { msUntilExpiry } from './auth.ts';
import type { ChangeListener, PostgresChanges } from './postgres-changes.ts';
import type { ChangePayload } from './change-payload.ts';
import { EXTENSIONS, type AccessCheck, type Extension, type Permissions } from './channel-access.ts';
import type { Logger } from '../logger.ts';
import { isSafePresenceKey } from '../presence/presence-state.ts';
import type { BroadcastStore, StoredBroadcast } from './broadcast-store.ts';
import { createPersistence } from './persistence.ts';
import {
  newConnectionBudget,
  payloadTooLarge,
  releaseChannel,
  reserveChannel,
  takeBroadcast,
  takePresenceCall,
  type ConnectionBudget,
  type ConnectionLimits,
} from './connection-limits.ts';

export type { AuthorizationRequest, Authorize } from './channel-access.ts';

/** The socket-level assigns of a realtime socket: the API key's claims, and what its channels share. */
export interface RealtimeSocketAssigns extends Record<string, unknown> {
  claims: JwtClaims;
  /** The client's address (for the log of refused joins). */
  address?: string | undefined;
  /** What the connection has spent of its limits: one object, shared by its channels. */
  budget?: ConnectionBudget | undefined;
}

/** Per-channel state, from the join's config. */
interface RealtimeChannelAssigns extends RealtimeSocketAssigns {
  self: boolean;
  ack: boolean;
  private: boolean;
  presenceKey: string;
  presenceEnabled: boolean;
  /** Whether this channel tracks its key: another channel tracking the same key is not this one. */
  tracked: boolean;
  /** What this channel may read of a private topic, asked at join and at every refresh. */
  read: Permissions;
  /** What it may write, per extension: asked at the first write of each, once per token. */
  write: Partial<Record<Extension, boolean>>;
  /** Bumped by every token change, so that an older token's expiry timer is ignored. */
  tokenGeneration: number;
  /** Stored broadcasts to replay right after the join reply (`broadcast.replay`), then null. */
  replay: StoredBroadcast[] | null;
  /** This channel's postgres_changes registration, if it asked for changes. */
  changes: ChangeListener | null;
}

/** What the realtime channel is built on. */
export interface RealtimeChannelOptions {
  readonly verify: (token: unknown) => Promise<Verified>;
  /** Who may read and write private channels. */
  readonly access: AccessCheck;
  /** What each connection may spend, all its channels together. */
  readonly limits: ConnectionLimits;
  readonly changes: PostgresChanges | null;
  /**
   * Whether every `broadcast` goes through `handleOut`: so that a private channel admitted without
   * `read` of broadcast (presence only) does not get them. (A join's replayed broadcasts need no
   * such detour: they are pushed by the after-join message, which runs in the tick of the join
   * reply, before any live broadcast can reach the channel.)
   */
  readonly filterBroadcasts: boolean;
  /** Where `persist: true` broadcasts are kept and `broadcast.replay` reads them (null: refused, saying why). */
  readonly store: BroadcastStore | null;
  /** Refuse public channels (Supabase's "private channels only"). */
  readonly privateOnly: boolean;
  readonly logger: Logger;
}

type RealtimeSocket = ChannelSocket<RealtimeChannelAssigns>;

const TOPIC_PREFIX = 'realtime:';
const PRIVATE_PREFIX = 'realtime-private:';

/**
 * The PubSub topic of channel `name` (the client topic without `realtime:`): `realtime:<name>`
 * when public, `realtime-private:<name>` when private. Server code broadcasts to a channel with
 * `endpoint.broadcast(pubsubTopicOf(name, isPrivate), 'broadcast', message)`.
 */
export function pubsubTopicOf(name: string, isPrivate: boolean): string {
  return `${isPrivate ? PRIVATE_PREFIX : TOPIC_PREFIX}${name}`;
}
const AFTER_JOIN = 'after_join';
/** Its postgres_changes bindings are live: tell the client. */
const CHANGES_LIVE = 'changes_live';
/** How long a join with `postgres_changes_options.wait` waits by default (realtime-js's own default). */
const DEFAULT_WAIT_MS = 15_000;

interface ChangeInfo {
  readonly kind: 'postgres_changes';
  readonly payload: ChangePayload;
}

function timeout(ms: number): Promise<'timeout'> {
  return new Promise((resolve) => setTimeout(() => resolve('timeout'), ms).unref());
}
/** Timers longer than this overflow setTimeout; a token valid for longer is re-checked then. */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface TokenExpiry {
  readonly kind: 'token_expiry';
  readonly generation: number;
}

function unauthorizedRead(name: string): string {
  return `Unauthorized: You do not have permissions to read from this Channel topic: ${name}`;
}

/** Why an access check could not be answered, for the client: a failing policy is a refusal, anything else the database's trouble. */
function checkFailure(err: unknown, name: string): string {
  return typeof (err as { code?: unknown }).code === 'string' ? unauthorizedRead(name) : 'Realtime was unable to connect to the project database';
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** Creates the realtime channel over a token verifier and the policy of private channels. */
export function createRealtimeChannel(options: RealtimeChannelOptions): Channel<RealtimeChannelAssigns> {
  const { verify, access, limits, changes, logger } = options;
  const persistence = createPersistence(options.store, logger, unauthorizedRead);

  function scheduleExpiry(socket: RealtimeSocket): void {
    const ms = msUntilExpiry(socket.assigns.claims);
    if (ms === Number.POSITIVE_INFINITY) return;
    const message: TokenExpiry = { kind: 'token_expiry', generation: socket.assigns.tokenGeneration };
    socket.sendInfo(message, Math.max(0, Math.min(ms, MAX_TIMER_MS)));
  }

  function endForToken(socket: RealtimeSocket, message: string): ReturnType<typeof stop> {
    return endWith(socket, message, 'token');
  }

  /** Ends the channel as Supabase ends one: a `system` error push, then `phx_close`. */
  function endWith(socket: RealtimeSocket, message: string, shutdown: string): ReturnType<typeof stop> {
    socket.push('system', { extension: 'system', status: 'error', message, channel: socket.topic.slice(TOPIC_PREFIX.length) });
    return stop({ shutdown });
  }

  function payloadTooLargeReason(): string {
    return `Payload size exceeded: at most ${limits.maxPayloadBytes} bytes`;
  }

  /** The connection's budget (made at connect; a socket made without one gets its own here). */
  function budgetOf(assigns: RealtimeSocketAssigns): ConnectionBudget {
    return (assigns.budget ??= newConnectionBudget(limits, Date.now()));
  }

  /** What `claims` may read of private channel `name`: a reason string when nothing, or when the check fails. */
  async function readable(name: string, claims: JwtClaims): Promise<Permissions | string> {
    let read: Permissions;
    try {
      read = await access(name, claims, 'read', EXTENSIONS);
    } catch (err) {
      logger.warn({ err, topic: name, role: claims.role }, 'realtime: the read check of a private channel failed');
      return checkFailure(err, name);
    }
    return read.broadcast === true || read.presence === true ? read : unauthorizedRead(name);
  }

  /** May this channel write `extension`? Asked once per token; a failing check is a no, logged. */
  async function mayWrite(socket: RealtimeSocket, extension: Extension): Promise<boolean> {
    const assigns = socket.assigns;
    if (!assigns.private) return true;
    const known = assigns.write[extension];
    if (known !== undefined) return known;
    const generation = assigns.tokenGeneration;
    const name = socket.topic.slice(TOPIC_PREFIX.length);
    let allowed: boolean;
    try {
      allowed = (await access(name, assigns.claims, 'write', [extension]))[extension] === true;
    } catch (err) {
      logger.warn({ err, topic: name, role: assigns.claims.role }, 'realtime: the write check of a private channel failed');
      return false;
    }
    // A refresh that arrived meanwhile asks again rather than keep an older token's answer.
    if (generation === assigns.tokenGeneration) assigns.write[extension] = allowed;
    return allowed;
  }

  /** The join itself; {@link Channel.join} below logs its refusals. */
  async function join(topic: string, params: unknown, socket: RealtimeSocket): Promise<JoinResult> {
    const name = topic.slice(TOPIC_PREFIX.length);
    const config = record(record(params).config);
    if (options.privateOnly && config.private !== true) return error({ reason: 'PrivateOnly: This project only allows private channels' });
    const broadcast = record(config.broadcast);
    const presence = record(config.presence);
    // Keys phoenix-style clients keep on plain objects; tracking one would throw (and crash the channel at every rejoin).
    if (typeof presence.key === 'string' && presence.key !== '' && !isSafePresenceKey(presence.key)) {
      return error({ reason: `presence key ${JSON.stringify(presence.key)} is not allowed` });
    }
    const requested = Array.isArray(config.postgres_changes) ? (config.postgres_changes as unknown[]) : [];
    if (requested.length > 0 && changes === null) {
      return error({ reason: 'postgres_changes is not available on this server: no change source is configured' });
    }
    let claims = socket.assigns.claims;
    const accessToken = record(params).access_token;
    if (accessToken !== undefined) {
      const verified = await verify(accessToken);
      if (!verified.ok) return error({ reason: `access_token refused: ${verified.reason}` });
      claims = verified.claims;
    }
    const isPrivate = config.private === true;
    let read: Permissions = { broadcast: true, presence: true };
    if (isPrivate) {
      const answer = await readable(name, claims);
      if (typeof answer === 'string') return error({ reason: answer });
      read = answer;
    }
    const replay = await persistence.replayFor(name, isPrivate, read.broadcast === true, broadcast.replay);
    if (typeof replay === 'string') return error({ reason: replay });
    let listener: ChangeListener | null = null;
    let response: Record<string, unknown> = {};
    if (requested.length > 0 && changes !== null) {
      listener = { claims, deliver: (payload) => socket.sendInfo({ kind: 'postgres_changes', payload } satisfies ChangeInfo) };
      let registered: Awaited<ReturnType<PostgresChanges['register']>>;
      try {
        registered = await changes.register(listener, requested);
      } catch {
        return error({ reason: 'postgres_changes: the database is unavailable' });
      }
      if (!registered.ok) return error({ reason: registered.reason });
      // Released however the channel ends — a refused join below, a leave, a crash — and at once
      // if the join has outlived its timeout meanwhile.
      const registration = listener;
      socket.onExit(() => changes.unregister(registration));
      const options = record(config.postgres_changes_options);
      if (options.wait === true) {
        const ms = typeof options.timeout === 'number' && options.timeout > 0 ? options.timeout : DEFAULT_WAIT_MS;
        const outcome = await Promise.race([changes.live.then(() => 'live' as const), timeout(ms)]).catch(() => 'failed' as const);
        if (outcome !== 'live') return error({ reason: `postgres_changes: not subscribed to PostgreSQL within ${ms} ms` });
      }
      response = { postgres_changes: registered.bindings };
    }
    const key = typeof presence.key === 'string' && presence.key !== '' ? presence.key : randomUUID();
    socket.assign({
      claims,
      self: broadcast.self === true,
      ack: broadcast.ack === true,
      private: isPrivate,
      presenceKey: key,
      presenceEnabled: presence.enabled === true,
      tracked: false,
      read,
      write: {},
      tokenGeneration: 0,
      replay,
      changes: listener,
    });
    socket.sendInfo(AFTER_JOIN);
    return ok(response, { pubsubTopic: pubsubTopicOf(name, isPrivate) });
  }

  return {
    intercept: options.filterBroadcasts ? ['presence_diff', 'broadcast'] : ['presence_diff'],
    // presence_state goes only to clients that enabled presence, right after their join.
    syncPresence: false,

    async join(topic, params, socket) {
      const budget = budgetOf(socket.assigns);
      let result: JoinResult;
      // Counted from the start, so that joins sent at once cannot all pass the count.
      if (!reserveChannel(budget, limits, topic)) {
        result = error({ reason: `ChannelRateLimitReached: Too many channels (at most ${limits.channels} on a connection)` });
      } else {
        // The place is given back however the channel ends: refused, left, closed, or crashed.
        socket.onExit(() => releaseChannel(budget, topic));
        result = await join(topic, params, socket);
      }
      // Logged without the token: the reason, the topic, and whose join it was.
      if (result.kind === 'error') logger.info({ topic, reason: record(result.response).reason, client: socket.assigns.address }, 'realtime: join refused');
      return result;
    },

    async handleIn(event, payload, socket) {
      const body = record(payload);
      switch (event) {
        case 'broadcast': {
          if (body.type !== 'broadcast' || typeof body.event !== 'string')
            return reply('error', { reason: 'a broadcast needs {type: "broadcast", event, payload}' });
          // Past its rate the channel ends, as Supabase ends it: realtime-js does not wait for a reply without ack.
          if (!takeBroadcast(budgetOf(socket.assigns), limits, Date.now())) return endWith(socket, 'Too many messages per second', 'rate_limited');
          if (payloadTooLarge(body.payload, limits.maxPayloadBytes)) return reply('error', { reason: payloadTooLargeReason() });
          if (!(await mayWrite(socket, 'broadcast'))) return reply('error', { reason: 'Unauthorized: you may not broadcast on this Channel topic' });
          // realtime-js marks a broadcast to keep as `meta.persist` (V2 binary frames) or `persist` (text).
          const { persist: metaPersist, ...meta } = record(body.meta);
          const persist = metaPersist ?? body.persist ?? false;
          if (persist !== false) {
            const refused = await persistence.persist(socket.topic.slice(TOPIC_PREFIX.length), socket.assigns.private, body.event, body.payload, persist);
            if (refused !== null) return reply('error', { reason: refused, error: refused });
          }
          const message =
            Object.keys(meta).length === 0
              ? { type: 'broadcast', event: body.event, payload: body.payload }
              : { type: 'broadcast', event: body.event, payload: body.payload, meta };
          if (socket.assigns.self) socket.broadcast('broadcast', message);
          else socket.broadcastFrom('broadcast', message);
          return socket.assigns.ack ? reply('ok', {}) : noreply();
        }
        case 'presence': {
          // Every track is a presence diff to every member: a client may not announce itself without bound.
          if (!takePresenceCall(budgetOf(socket.assigns), limits, Date.now())) return reply('error', { reason: 'presence rate limited' });
          if (payloadTooLarge(body.payload, limits.maxPayloadBytes)) return reply('error', { reason: payloadTooLargeReason() });
          if (!(await mayWrite(socket, 'presence'))) return reply('error', { reason: 'Unauthorized: you may not track presence on this Channel topic' });
          const key = socket.assigns.presenceKey;
          // Several channels may track one key (a user's two tabs, or anyone naming the same key):
          // each holds its own meta under it, and each untrack or leave removes only its own.
          if (body.event === 'track') {
            const meta = record(body.payload);
            if (socket.assigns.tracked) socket.updatePresence(key, meta);
            else socket.track(key, meta);
            socket.assigns.tracked = true;
            return reply('ok', {});
          }
          if (body.event === 'untrack') {
            socket.untrack(key);
            socket.assigns.tracked = false;
            return reply('ok', {});
          }
          return reply('error', { reason: 'presence events are track and untrack' });
        }
        case 'access_token': {
          const verified = await verify(body.access_token);
          if (!verified.ok) return endForToken(socket, `access_token refused: ${verified.reason}`);
          // A refresh must still grant what the join was granted: reading, on a private channel.
          const name = socket.topic.slice(TOPIC_PREFIX.length);
          let read = socket.assigns.read;
          if (socket.assigns.private) {
            const answer = await readable(name, verified.claims);
            if (typeof answer === 'string') return endForToken(socket, answer);
            const before = socket.assigns.read;
            if ((before.broadcast === true && answer.broadcast !== true) || (before.presence === true && answer.presence !== true)) {
              return endForToken(socket, unauthorizedRead(name));
            }
            read = answer;
          }
          socket.assign({ claims: verified.claims, read, write: {}, tokenGeneration: socket.assigns.tokenGeneration + 1 });
          // Row-level security follows the new token from the next change on.
          if (socket.assigns.changes !== null) socket.assigns.changes.claims = verified.claims;
          scheduleExpiry(socket);
          return noreply();
        }
        default:
          return reply('error', { reason: `unknown event ${event}` });
      }
    },

    handleOut(event, payload, socket) {
      // broadcast is intercepted only where a private channel may be admitted for presence alone.
      if (event === 'broadcast') {
        if (socket.assigns.read.broadcast === true) socket.push(event, record(payload));
        return noreply();
      }
      // presence_diff: clients that did not enable presence, or may not read it, do not get it.
      if (socket.assigns.presenceEnabled && socket.assigns.read.presence === true) socket.push(event, record(payload));
      return noreply();
    },

    handleInfo(message, socket) {
      if (message === AFTER_JOIN) {
        // Replayed broadcasts come first: this message runs in the tick that wrote the join reply and
        // subscribed the channel, so no live broadcast can be written before them.
        for (const stored of socket.assigns.replay ?? []) {
          socket.push('broadcast', { type: 'broadcast', event: stored.event, payload: stored.payload, meta: { replayed: true, id: stored.id } });
        }
        socket.assigns.replay = null;
        if (socket.assigns.presenceEnabled && socket.assigns.read.presence === true) socket.push('presence_state', socket.listPresence());
        scheduleExpiry(socket);
        if (socket.assigns.changes !== null && changes !== null) {
          changes.live.then(
            () => socket.sendInfo(CHANGES_LIVE),
            () => undefined, // the source failed to start: reported where it was started
          );
        }
        return noreply();
      }
      if (message === CHANGES_LIVE) {
        socket.push('system', {
          extension: 'postgres_changes',
          status: 'ok',
          message: 'Subscribed to PostgreSQL',
          channel: socket.topic.slice(TOPIC_PREFIX.length),
        });
        return noreply();
      }
      const change = message as Partial<ChangeInfo>;
      if (change.kind === 'postgres_changes' && change.payload !== undefined) {
        socket.push('postgres_changes', change.payload as unknown as Record<string, unknown>);
        return noreply();
      }
      const expiry = message as Partial<TokenExpiry>;
      if (expiry.kind === 'token_expiry' && expiry.generation === socket.assigns.tokenGeneration) {
        if (msUntilExpiry(socket.assigns.claims) > 0) {
          scheduleExpiry(socket); // a token beyond the longest timer
          return noreply();
        }
        return endForToken(socket, 'Token has expired');
      }
      return noreply();
    },
  };
}
