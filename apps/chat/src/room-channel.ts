/**
 * The chat's room channel. `rooms:lobby` is open to everyone; `rooms:<id>` is a private room that
 * only its members may join (membership is checked in the store), anyone else gets
 * `{reason: "unauthorized"}`. The join reply carries the room's last messages (oldest first, at
 * most 50 and at most `historyPageBytes` of JSON).
 *
 * Who is who comes from the socket's verified token (`socket.assigns.userId`), never from the
 * client: a user joins with `{name: NAME}`, which becomes their profile's name (kept in the store;
 * a join without a name uses the profile's), and is shown, in presence, announcements and the
 * messages they store, as `NAME#mark` (see `identity.ts`). Guests (no token) may read the lobby
 * but not post: `new_msg` from a guest is answered `{reason: "sign in to post"}`.
 *
 * Payloads are checked by `roomSchemas` before `handleIn` runs; a payload that fails is answered
 * `{reason: "invalid payload", issues}` (a bad name at join: `{reason: "invalid name"}`, also for a
 * name with a format character such as a bidi override, see `text.ts`).
 *
 * Events: `new_msg {body}` stores the message, then broadcasts `new_msg {id, body, author,
 * inserted_at}` to everyone on the topic, sender included (no reply: the broadcast is the
 * acknowledgement); `mentions` (marks, see `mentions.ts`) is added when the body mentions people who
 * are online in the room or members of it. `edit_msg {id, body}` and `delete_msg {id}` change a
 * message of the sender's own — the store checks the author's user id, anyone else is answered
 * `{reason: "not found"}` — and broadcast `msg_edited` (the message with `edited_at`) or
 * `msg_deleted` (a tombstone: `deleted: true`, empty body); both are stored, so pages read later
 * show them, and both are publications of the room like `new_msg`, so a reconnect replays them.
 * `history {before}` replies with the page before that id (without `before`: the latest page);
 * `read {id}` moves the user's last-read position (the join reply of a user carries it as
 * `last_read`; `GET /api/unread` counts from it); `ping` replies with its payload.
 *
 * Typing: `typing {}` tells the others in the room `typing {user}`. It is ephemeral: never stored
 * and never a publication of the room's topic (whose stream a reconnect replays) — it goes to
 * `typing:<room>`, a topic without history, to which every room channel subscribes, and each
 * channel drops its own user's notices (a `broadcastFrom` by user). The page throttles it and
 * hides it after a few seconds or when that person's message arrives.
 *
 * Reconnects (the framework's history topics, {@link roomHistory}): room topics keep their recent
 * publications in memory, so every broadcast frame carries its position as `ref`. A rejoin that
 * sends the last position it saw as `recover` is answered `{}` — no page is read from the store —
 * and then gets every publication it missed, once and in order, and `phx_stream {position,
 * recovered: true}`; when the server no longer has them (`recovered: false`: too long away, or the
 * server restarted, or what it missed weighs more than `replayBytes`) the client asks `history {}`
 * for the latest page. A rejoin with `recover` spends from the join budgets like any join, and
 * its replay is capped like the page it replaces. The store stays the durable
 * record; the in-memory stream only spares it the reads of every page reconnecting at once. Every
 * page read from the store is counted in `/metrics` as `chat_history_pages_total{request}`. A user's join tracks presence under their user id (meta `{name}`) and announces
 * `user_joined {user: NAME#mark}` at most once a minute per room; it is intercepted so that sockets
 * that joined with `{ignore: NAME#mark}` do not hear about that user. Budgets (messages, joins,
 * `history` requests: per user, per address, and tighter for an address's guests together) are
 * answered `{reason: "slow down"}`.
 */
import { Counter, type Registry } from 'prom-client';
import {
  error,
  noreply,
  ok,
  reply,
  type Channel,
  type HistoryOptions,
  type InferPayloads,
  type PresenceList,
  type PubSub,
  type ReplyResult,
} from 'starling-channels';
import { z } from 'zod';
import { displayName } from './identity.ts';
import type { Budgets, ChatLimits } from './limits.ts';
import { resolveMentions } from './mentions.ts';
import { markOf } from './identity.ts';
import { StoreError, type ChatStore, type StoredMessage } from './store/index.ts';
import { displayNameText, messageBody } from './text.ts';

/** Per-channel state of a room. */
export interface RoomAssigns extends Record<string, unknown> {
  /** The user id from the socket's token, or null for a guest. */
  userId: string | null;
  /** The connection's IP address, for per-IP budgets. */
  ip: string;
  /** How this user is shown (`name#mark`), or null for a guest. */
  user?: string | null;
  /** A display name whose `user_joined` this socket does not want. */
  ignore?: string | null;
}

const LOBBY = 'lobby';
const AFTER_JOIN = 'after_join';
const MAX_BODY = 2000;
const MAX_NAME = 32;
const PAGE_MESSAGES = 50;
const SLOW_DOWN = { reason: 'slow down' } as const;
const SIGN_IN = { reason: 'sign in to post' } as const;
const NOT_FOUND = { reason: 'not found' } as const;

/** User text as `text.ts` accepts it (trimmed, bounded, no control characters), as a schema. */
function userText(accept: (value: unknown, max: number) => string | null, max: number, what: string, refused = 'control characters') {
  return z.string().transform((value, context) => {
    const accepted = accept(value, max);
    if (accepted === null) {
      context.addIssue({ code: 'custom', message: `${what} must be 1 to ${max} characters once trimmed, without ${refused}` });
      return z.NEVER;
    }
    return accepted;
  });
}

/** What a client may push, checked before `handleIn` runs (a failure is answered `{reason: "invalid payload", issues}`). */
export const roomSchemas = {
  new_msg: z.object({ body: userText(messageBody, MAX_BODY, 'a message') }),
  edit_msg: z.object({ id: z.number().int().positive(), body: userText(messageBody, MAX_BODY, 'a message') }),
  delete_msg: z.object({ id: z.number().int().positive() }),
  typing: z.object({}),
  read: z.object({ id: z.number().int().nonnegative() }),
  history: z.object({ before: z.number().int().optional() }),
  ping: z.record(z.string(), z.unknown()),
};

/**
 * The join params: an optional display name (`name`, or `user` from pages before `name`) and a
 * shown name whose `user_joined` to ignore; anything else is ignored here (`recover`, a stream
 * position, is the framework's: see the module doc).
 */
const joinParams = z.object({
  name: userText(displayNameText, MAX_NAME, 'a name', 'control or format characters').optional(),
  user: userText(displayNameText, MAX_NAME, 'a name', 'control or format characters').optional(),
  ignore: z.string().optional().catch(undefined),
});

/** A message as clients receive it. */
export interface WireMessage {
  id: number;
  /** Empty when deleted. */
  body: string;
  author: string;
  inserted_at: string;
  /** When its author last edited it; absent if never. */
  edited_at?: string;
  /** Present (true) once its author deleted it. */
  deleted?: true;
  /** The marks of the people it mentions; absent when none. */
  mentions?: string[];
}

/** A page of history: the join reply and the reply to `history`. */
export interface HistoryPage {
  messages: WireMessage[];
  more: boolean;
  /** In a signed-in user's join reply: the id of the last message they read here (0 if never). */
  last_read?: number;
}

/**
 * The join reply: the latest page of history, or `{}` for a rejoin that resumes with `recover` on
 * a server whose rooms keep history (what it missed follows as replay, see the module doc).
 */
export type JoinReply = HistoryPage | Record<string, never>;

/** The room channel's events (shared with the page, which types its client by them). */
export type RoomEvents = {
  in: InferPayloads<typeof roomSchemas>;
  out: {
    new_msg: WireMessage;
    msg_edited: WireMessage;
    msg_deleted: WireMessage;
    typing: { user: string };
    user_joined: { user: string };
    presence_state: PresenceList;
  };
  replies: { history: HistoryPage; read: Record<string, never>; ping: Record<string, unknown>; new_msg: { live: false } };
};

/** Which topics keep history for reconnects, and how much: every room, within `limits`' replay bounds. */
export function roomHistory(limits: Pick<ChatLimits, 'replayMessages' | 'replaySeconds' | 'replayRooms' | 'replayBytes'>): HistoryOptions {
  return {
    topics: ['rooms:*'],
    size: limits.replayMessages,
    ttlMs: limits.replaySeconds * 1000,
    maxTopics: limits.replayRooms,
    maxReplayBytes: limits.replayBytes,
  };
}

/** What the room channel needs besides the store and the budgets. */
export interface RoomChannelOptions {
  /** The endpoint's PubSub: a rejoin with `recover` skips the page only on a topic that keeps history. */
  readonly pubsub: Pick<PubSub, 'hasHistory' | 'connected'>;
  /** Where `chat_history_pages_total` is registered. */
  readonly registry: Registry;
}

/** The wire form of a stored message. */
function wire(message: StoredMessage): WireMessage {
  const sent: WireMessage = { id: message.id, body: message.body, author: message.author, inserted_at: message.insertedAt };
  if (message.editedAt !== null) sent.edited_at = message.editedAt;
  if (message.deleted) sent.deleted = true;
  if (message.mentions.length > 0) sent.mentions = message.mentions.map(markOf);
  return sent;
}

/** The topic of a room's typing notices: not a `rooms:` topic, so it keeps no history. */
const typingTopic = (room: string): string => `typing:${room}`;

/** A typing notice as it arrives in `handleInfo` from the typing topic. */
const typingNotice = z.object({ kind: z.literal('broadcast'), event: z.literal('typing'), payload: z.object({ user: z.string() }) });

function storeFailure(err: unknown): ReplyResult<'error', { reason: string }> {
  // A store outage is an error reply, never a channel crash: the client may retry.
  if (err instanceof StoreError) return reply('error', { reason: 'unavailable' });
  throw err;
}

/** Creates the room channel over `store`, spending from `budgets`. */
export function createRoomChannel(store: ChatStore, budgets: Budgets, options: RoomChannelOptions): Channel<RoomAssigns, RoomEvents> {
  const pages = new Counter({
    name: 'chat_history_pages_total',
    help: 'Pages of history read from the message store, by request: "join" (a first join, or a rejoin without a position) or "history" (older messages, or a reload after a reconnect that could not resume).',
    labelNames: ['request'],
    registers: [options.registry],
  });

  /** The newest messages before `before` that fit the page's byte cap (always at least one). */
  async function page(room: string, request: 'join' | 'history', before?: number): Promise<HistoryPage> {
    pages.inc({ request });
    const stored = await store.messages.history(room, before === undefined ? { limit: PAGE_MESSAGES } : { before, limit: PAGE_MESSAGES });
    const messages: WireMessage[] = [];
    let bytes = 0;
    for (let i = stored.length - 1; i >= 0; i--) {
      const message = wire(stored[i]!);
      bytes += Buffer.byteLength(JSON.stringify(message));
      if (messages.length > 0 && bytes > budgets.limits.historyPageBytes) break;
      messages.unshift(message);
    }
    return { messages, more: messages.length < stored.length || stored.length === PAGE_MESSAGES };
  }

  /** The user ids `body` mentions among those online in the room and, in a private room, its members. */
  async function mentioned(room: string, body: string, online: PresenceList): Promise<string[]> {
    if (!body.includes('@')) return [];
    const candidates = new Set(Object.keys(online));
    if (room !== LOBBY) for (const member of await store.rooms.membersOf(room)) candidates.add(member.userId);
    return resolveMentions(body, candidates);
  }

  return {
    schemas: roomSchemas,

    async join(topic, params, socket) {
      const room = topic.slice('rooms:'.length);
      const { userId, ip } = socket.assigns;
      const given: object = typeof params === 'object' && params !== null ? params : {};
      const parsed = joinParams.safeParse(given);
      if (!parsed.success) return error({ reason: 'invalid name' });
      // Either way it is only a chosen name: who the user is comes from the token.
      const name = parsed.data.name ?? parsed.data.user ?? null;
      if (budgets.take('join', ip, userId) !== null) return error(SLOW_DOWN);
      try {
        if (room !== LOBBY && (!userId || !(await store.rooms.isMember(room, userId)))) return error({ reason: 'unauthorized' });
        // The name is the user's server-side profile: a join that names one updates it.
        let user: string | null = null;
        if (userId !== null) {
          if (name !== null) await store.users.setProfileName(userId, name);
          user = displayName(name ?? (await store.users.profileName(userId)) ?? 'anonymous', userId);
        }
        // A rejoin that resumes from a position gets what it missed from the topic's stream: no page.
        const resuming = Object.hasOwn(given, 'recover') && options.pubsub.hasHistory(topic);
        const history: JoinReply = resuming ? {} : await page(room, 'join');
        if (!resuming && userId !== null) {
          const [state] = await store.reads.unread(userId, [room]);
          (history as HistoryPage).last_read = state?.lastRead ?? 0;
        }
        socket.assign({ user, ignore: parsed.data.ignore ?? null });
        socket.sendInfo(AFTER_JOIN);
        return ok(history);
      } catch (err) {
        if (err instanceof StoreError) return error({ reason: 'unavailable' });
        throw err;
      }
    },

    handleInfo(message, socket) {
      // After every join: checked first, so that no join pays for a failed parse (an error object) below.
      if (message !== AFTER_JOIN) {
        const notice = typingNotice.safeParse(message);
        // Everyone's notices come here, the sender's own too: only the others hear them.
        if (notice.success && notice.data.payload.user !== socket.assigns.user) socket.push('typing', notice.data.payload);
        return noreply();
      }
      socket.subscribe(typingTopic(socket.topic.slice('rooms:'.length)));
      // State first, then our own join arrives as a diff; the client de-duplicates by phx_ref.
      socket.push('presence_state', socket.listPresence());
      const { userId, user } = socket.assigns;
      if (userId && user) {
        socket.track(userId, { name: user, online_at: String(Date.now()) });
        // A re-join is tracked (the page needs it) but announced at most once per window.
        if (budgets.announce(socket.topic, userId)) socket.broadcast('user_joined', { user });
      }
      return noreply();
    },

    async handleIn(event, payload, socket) {
      const room = socket.topic.slice('rooms:'.length);
      switch (event) {
        case 'new_msg': {
          const { userId, user, ip } = socket.assigns;
          if (userId === null || !user) return reply('error', SIGN_IN);
          if (budgets.take('message', ip, userId) !== null) return reply('error', SLOW_DOWN);
          try {
            const mentions = await mentioned(room, payload.body, socket.listPresence());
            // Stored before it is broadcast: whatever a client has seen survives a restart.
            const stored = await store.messages.append(room, user, payload.body, { authorId: userId, mentions });
            socket.broadcast('new_msg', wire(stored));
            // Stored, but the PubSub cannot carry it now: say so. Every page of the room is told to
            // reload (phx_stream recovered: false) — here at once, on other nodes once it is back.
            if (!options.pubsub.connected) return reply('ok', { live: false as const });
            return noreply();
          } catch (err) {
            return storeFailure(err);
          }
        }
        case 'edit_msg':
        case 'delete_msg': {
          const { userId, ip } = socket.assigns;
          if (userId === null) return reply('error', SIGN_IN);
          if (budgets.take('edit', ip, userId) !== null) return reply('error', SLOW_DOWN);
          try {
            // The store checks the author by user id in the same statement as the write.
            const changed =
              event === 'edit_msg'
                ? await store.messages.edit(room, payload.id, userId, payload.body, await mentioned(room, payload.body, socket.listPresence()))
                : await store.messages.remove(room, payload.id, userId);
            if (changed === null) return reply('error', NOT_FOUND);
            // A publication of the room like new_msg: it is in the replay of a page that reconnects.
            socket.broadcast(event === 'edit_msg' ? 'msg_edited' : 'msg_deleted', wire(changed));
            return noreply();
          } catch (err) {
            return storeFailure(err);
          }
        }
        case 'typing': {
          const { userId, user, ip } = socket.assigns;
          if (userId === null || !user) return reply('error', SIGN_IN);
          if (budgets.take('typing', ip, userId) !== null) return reply('error', SLOW_DOWN);
          socket.endpoint.broadcast(typingTopic(room), 'typing', { user });
          return noreply();
        }
        case 'read': {
          const { userId, ip } = socket.assigns;
          if (userId === null) return reply('error', SIGN_IN);
          if (budgets.take('read', ip, userId) !== null) return reply('error', SLOW_DOWN);
          try {
            await store.reads.markRead(userId, room, payload.id);
            return reply('ok', {});
          } catch (err) {
            return storeFailure(err);
          }
        }
        case 'history': {
          const { userId, ip } = socket.assigns;
          // Each page is a store read of up to historyPageBytes: budgeted per user and per address.
          if (budgets.take('history', ip, userId) !== null) return reply('error', SLOW_DOWN);
          try {
            return reply('ok', await page(room, 'history', payload.before));
          } catch (err) {
            return storeFailure(err);
          }
        }
        case 'ping':
          return reply('ok', payload);
      }
    },

    intercept: ['user_joined'],

    handleOut(event, payload, socket) {
      if (event !== 'user_joined' || payload.user === socket.assigns.ignore) return noreply();
      socket.push(event, payload);
      return noreply();
    },
  };
}
