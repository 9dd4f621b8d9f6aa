/**
 * @module supabase/realtime-channel
 * Internal: the channel behind every `realtime:<name>` topic of a Supabase-Realtime-compatible
 * socket — what `@supabase/realtime-js` expects of the server (docs/supabase.md):
 *
 * - join `{config: {broadcast: {self, ack}, presence: {key, enabled}, postgres_changes, postgres_changes_options, private}, access_token?}`,
 *   answered `{}`, or `{postgres_changes: [...bindings with ids]}` when it asked for changes (see
 *   supabase/postgres-changes; without a change source such a join is refused); a private one
 *   needs the app's `authorize` to allow `read`;
 * - once its change bindings are live, `system` `{extension: "postgres_changes", status: "ok",
 *   message: "Subscribed to PostgreSQL", channel}`, then `postgres_changes` `{ids, data}` pushes;
 *   with `postgres_changes_options: {wait: true, timeout?}` the join reply waits for that;
 * - `broadcast` `{type: "broadcast", event, payload}` to everyone on the topic, the sender included
 *   only with `self`, answered `ok` only with `ack`; private topics need `write`;
 * - client-driven presence: `presence` `{type: "presence", event: "track" | "untrack", payload}`,
 *   answered `ok`; `presence_state` after every join when presence is enabled, then
 *   `presence_diff` (only to clients with presence enabled);
 * - `access_token` `{access_token}` replaces the channel's token; a token that fails or expires,
 *   or that no longer grants `read` on a private channel, ends the channel with a `system` error
 *   push and `phx_close`.
 *
 * A private channel and the public channel of the same name are different topics, as in Supabase
 * Realtime: a private join is wired to the PubSub topic `realtime-private:<name>` (see
 * {@link pubsubTopicOf}), so no broadcast, presence or REST message crosses between them.
 */
import { randomUUID } from 'node:crypto';
import { error, noreply, ok, reply, stop, type Channel, type ChannelSocket } from '../channel.ts';
import type { JwtClaims, Verified } from './auth.ts';
import { msUntilExpiry } from './auth.ts';
import type { ChangeListener, ChangePayload, PostgresChanges } from './postgres-changes.ts';

/** What `authorize` is asked: may the token's holder read (join) or write (broadcast, track) `topic`? */
export interface AuthorizationRequest {
  /** The topic without its `realtime:` prefix, as the client named the channel. */
  readonly topic: string;
  readonly claims: JwtClaims;
  readonly access: 'read' | 'write';
}

/** The app's policy for private channels (the role Supabase gives to row-level-security policies). */
export type Authorize = (request: AuthorizationRequest) => boolean | Promise<boolean>;

/** The socket-level assigns of a realtime socket: the API key's claims. */
export interface RealtimeSocketAssigns extends Record<string, unknown> {
  claims: JwtClaims;
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
  /** Write permission on a private topic, asked once per token. */
  canWrite: boolean | null;
  /** Bumped by every token change, so that an older token's expiry timer is ignored. */
  tokenGeneration: number;
  /** Start of the current one-second presence window, and the track/untrack calls in it. */
  presenceWindow: number;
  presenceCalls: number;
  /** This channel's postgres_changes registration, if it asked for changes. */
  changes: ChangeListener | null;
}

/** Limits of the realtime channel. */
export interface RealtimeLimits {
  /** Presence `track`/`untrack` calls per channel per second; more are answered `{reason: "presence rate limited"}`. */
  readonly presenceCallsPerSecond: number;
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

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** Creates the realtime channel over a token verifier and the app's policy. */
export function createRealtimeChannel(
  verify: (token: unknown) => Promise<Verified>,
  authorize: Authorize,
  limits: RealtimeLimits,
  changes: PostgresChanges | null = null,
): Channel<RealtimeChannelAssigns> {
  function scheduleExpiry(socket: RealtimeSocket): void {
    const ms = msUntilExpiry(socket.assigns.claims);
    if (ms === Number.POSITIVE_INFINITY) return;
    const message: TokenExpiry = { kind: 'token_expiry', generation: socket.assigns.tokenGeneration };
    socket.sendInfo(message, Math.max(0, Math.min(ms, MAX_TIMER_MS)));
  }

  function endForToken(socket: RealtimeSocket, message: string): ReturnType<typeof stop> {
    socket.push('system', { extension: 'system', status: 'error', message, channel: socket.topic.slice(TOPIC_PREFIX.length) });
    return stop({ shutdown: 'token' });
  }

  /** Every track is a presence diff to every member: a client may not announce itself without bound. */
  function withinPresenceBudget(assigns: RealtimeChannelAssigns): boolean {
    const now = Date.now();
    if (now - assigns.presenceWindow >= 1000) {
      assigns.presenceWindow = now;
      assigns.presenceCalls = 0;
    }
    return ++assigns.presenceCalls <= limits.presenceCallsPerSecond;
  }

  function mayRead(name: string, claims: JwtClaims): boolean | Promise<boolean> {
    return authorize({ topic: name, claims, access: 'read' });
  }

  async function mayWrite(socket: RealtimeSocket): Promise<boolean> {
    const assigns = socket.assigns;
    if (!assigns.private) return true;
    assigns.canWrite ??= await authorize({ topic: socket.topic.slice(TOPIC_PREFIX.length), claims: assigns.claims, access: 'write' });
    return assigns.canWrite;
  }

  return {
    intercept: ['presence_diff'],
    // presence_state goes only to clients that enabled presence, right after their join.
    syncPresence: false,

    async join(topic, params, socket) {
      const name = topic.slice(TOPIC_PREFIX.length);
      const config = record(record(params).config);
      const broadcast = record(config.broadcast);
      const presence = record(config.presence);
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
      if (isPrivate && !(await mayRead(name, claims))) return error({ reason: unauthorizedRead(name) });
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
        const options = record(config.postgres_changes_options);
        if (options.wait === true) {
          const ms = typeof options.timeout === 'number' && options.timeout > 0 ? options.timeout : DEFAULT_WAIT_MS;
          const outcome = await Promise.race([changes.live.then(() => 'live' as const), timeout(ms)]).catch(() => 'failed' as const);
          if (outcome !== 'live') {
            changes.unregister(listener);
            return error({ reason: `postgres_changes: not subscribed to PostgreSQL within ${ms} ms` });
          }
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
        canWrite: null,
        tokenGeneration: 0,
        presenceWindow: 0,
        presenceCalls: 0,
        changes: listener,
      });
      socket.sendInfo(AFTER_JOIN);
      return ok(response, { pubsubTopic: pubsubTopicOf(name, isPrivate) });
    },

    async handleIn(event, payload, socket) {
      const body = record(payload);
      switch (event) {
        case 'broadcast': {
          if (body.type !== 'broadcast' || typeof body.event !== 'string')
            return reply('error', { reason: 'a broadcast needs {type: "broadcast", event, payload}' });
          if (!(await mayWrite(socket))) return reply('error', { reason: 'Unauthorized: you may not broadcast on this Channel topic' });
          const message =
            body.meta === undefined
              ? { type: 'broadcast', event: body.event, payload: body.payload }
              : { type: 'broadcast', event: body.event, payload: body.payload, meta: body.meta };
          if (socket.assigns.self) socket.broadcast('broadcast', message);
          else socket.broadcastFrom('broadcast', message);
          return socket.assigns.ack ? reply('ok', {}) : noreply();
        }
        case 'presence': {
          if (!withinPresenceBudget(socket.assigns)) return reply('error', { reason: 'presence rate limited' });
          if (!(await mayWrite(socket))) return reply('error', { reason: 'Unauthorized: you may not track presence on this Channel topic' });
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
          if (socket.assigns.private && !(await mayRead(name, verified.claims))) return endForToken(socket, unauthorizedRead(name));
          socket.assign({ claims: verified.claims, canWrite: null, tokenGeneration: socket.assigns.tokenGeneration + 1 });
          // Row-level security follows the new token from the next change on.
          if (socket.assigns.changes !== null) socket.assigns.changes.claims = verified.claims;
          scheduleExpiry(socket);
          return noreply();
        }
        default:
          return reply('error', { reason: `unknown event ${event}` });
      }
    },

    terminate(_reason, socket) {
      if (socket.assigns.changes !== null) changes?.unregister(socket.assigns.changes);
    },

    handleOut(event, payload, socket) {
      // presence_diff is the only intercepted event: clients that did not enable presence do not get it.
      if (socket.assigns.presenceEnabled) socket.push(event, record(payload));
      return noreply();
    },

    handleInfo(message, socket) {
      if (message === AFTER_JOIN) {
        if (socket.assigns.presenceEnabled) socket.push('presence_state', socket.listPresence());
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
