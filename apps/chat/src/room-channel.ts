/**
 * The chat's room channel. `rooms:lobby` is open to everyone; `rooms:<id>` is a private room that
 * only its members may join (membership is checked in the store), anyone else gets
 * `{reason: "unauthorized"}`. The join reply carries the room's last 50 messages (oldest first).
 *
 * Events: `new_msg {body}` stores the message, then broadcasts `new_msg {id, body, author,
 * inserted_at}` to everyone on the topic, sender included (no reply: the broadcast is the
 * acknowledgement); `history {before}` replies with the page before that id; `ping` replies with
 * its payload. Join params `{user: NAME}` track presence under NAME and announce `user_joined`,
 * which is intercepted so that sockets that joined with `{ignore: NAME}` do not hear about NAME.
 */
import { error, noreply, ok, reply, type Channel, type InferPayloads, type PresenceList, type ReplyResult } from 'starling';
import { z } from 'zod';
import { StoreError, type MessageStore, type StoredMessage } from './store/index.ts';

/** Per-channel state of a room. */
export interface RoomAssigns extends Record<string, unknown> {
  /** The user id from the socket's token, or null for a guest. */
  userId: string | null;
  /** Display name from the join params. */
  user?: string | null;
  /** A name whose `user_joined` this socket does not want. */
  ignore?: string | null;
}

const LOBBY = 'lobby';
const AFTER_JOIN = 'after_join';
const MAX_BODY = 2000;
const MAX_NAME = 32;

/** A string trimmed, then 1..max characters (code points). */
function text(max: number) {
  return z
    .string()
    .trim()
    .refine((value) => [...value].length >= 1 && [...value].length <= max, { message: `must be 1 to ${max} characters once trimmed` });
}

/** What a client may push, checked before `handleIn` runs (a failure is answered `{reason: "invalid payload", issues}`). */
export const roomSchemas = {
  new_msg: z.object({ body: text(MAX_BODY) }),
  history: z.object({ before: z.number().int().optional() }),
  ping: z.record(z.string(), z.unknown()),
};

/** The join params: an optional display name, and a name whose `user_joined` to ignore (anything else is ignored). */
const joinParams = z.object({ user: text(MAX_NAME).optional(), ignore: z.string().optional().catch(undefined) });

/** A message as clients receive it. */
export interface WireMessage {
  id: number;
  body: string;
  author: string;
  inserted_at: string;
}

/** A page of history: the join reply and the reply to `history`. */
export interface HistoryPage {
  messages: WireMessage[];
  more: boolean;
}

/** The room channel's events (shared with the page, which types its client by them). */
export type RoomEvents = {
  in: InferPayloads<typeof roomSchemas>;
  out: { new_msg: WireMessage; user_joined: { user: string }; presence_state: PresenceList };
  replies: { history: HistoryPage; ping: Record<string, unknown> };
};

/** The wire form of a stored message. */
function wire(message: StoredMessage): WireMessage {
  return { id: message.id, body: message.body, author: message.author, inserted_at: message.insertedAt };
}

function storeFailure(err: unknown): ReplyResult<'error', { reason: string }> {
  // A store outage is an error reply, never a channel crash: the client may retry.
  if (err instanceof StoreError) return reply('error', { reason: 'unavailable' });
  throw err;
}

/** Creates the room channel over `store`. */
export function createRoomChannel(store: MessageStore): Channel<RoomAssigns, RoomEvents> {
  async function page(room: string, before?: number): Promise<HistoryPage> {
    const limit = 50;
    const messages = await store.history(room, before === undefined ? { limit } : { before, limit });
    return { messages: messages.map(wire), more: messages.length === limit };
  }

  return {
    schemas: roomSchemas,

    async join(topic, params, socket) {
      const room = topic.slice('rooms:'.length);
      const parsed = joinParams.safeParse(typeof params === 'object' && params !== null ? params : {});
      if (!parsed.success) return error({ reason: 'invalid name' });
      const user = parsed.data.user ?? null;
      try {
        if (room !== LOBBY) {
          const userId = socket.assigns.userId;
          if (!userId || !(await store.isMember(room, userId))) return error({ reason: 'unauthorized' });
        }
        const history = await page(room);
        socket.assign({ user, ignore: parsed.data.ignore ?? null });
        socket.sendInfo(AFTER_JOIN);
        return ok(history);
      } catch (err) {
        if (err instanceof StoreError) return error({ reason: 'unavailable' });
        throw err;
      }
    },

    handleInfo(message, socket) {
      if (message !== AFTER_JOIN) return noreply();
      // State first, then our own join arrives as a diff; the client de-duplicates by phx_ref.
      socket.push('presence_state', socket.listPresence());
      const user = socket.assigns.user;
      if (user) {
        socket.track(user, { online_at: String(Date.now()) });
        socket.broadcast('user_joined', { user });
      }
      return noreply();
    },

    async handleIn(event, payload, socket) {
      const room = socket.topic.slice('rooms:'.length);
      switch (event) {
        case 'new_msg': {
          try {
            // Stored before it is broadcast: whatever a client has seen survives a restart.
            const stored = await store.append(room, socket.assigns.user ?? 'guest', payload.body);
            socket.broadcast('new_msg', wire(stored));
            return noreply();
          } catch (err) {
            return storeFailure(err);
          }
        }
        case 'history': {
          try {
            return reply('ok', await page(room, payload.before));
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
